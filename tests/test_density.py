"""Density estimates of the fitted estimator against exact references.

A VAE with a linear encoder and decoder and a Gaussian decoder with
per-feature variance is factor analysis: at the optimum its ELBO equals the
maximum likelihood of ``FactorAnalysis`` (the exact posterior of a suitably
rotated factor model has a diagonal covariance). The scoring estimators are
checked on real data against that reference and against closed forms.
"""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.decomposition import FactorAnalysis
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from _untrained import trained
from skvae import VAETransformer
from skvae._objective import closed_form_log_likelihood, monte_carlo_log_likelihood


def best_factor_analysis_score(X, n_components, n_starts=3, tol=1e-8):
    """``FactorAnalysis.score`` at its maximum likelihood, converged tightly.

    scikit-learn's defaults (randomised SVD, ``tol=1e-2``) can stop far from
    the optimum (9% low on wine with 2 components) and the default start can
    end in a worse local optimum, so take the best of a few tightly converged
    starts with exact SVD. A constant feature starts at a variance of 1e-6
    (EM cannot leave a start of 0: its log is -inf).
    """
    rng = np.random.RandomState(0)
    scores = []
    variances = X.var(axis=0)
    variances = np.where(variances > 0, variances, 1e-6)
    for _ in range(n_starts):
        init = rng.uniform(0.1, 1.0, X.shape[1]) * variances
        fa = FactorAnalysis(
            n_components, tol=tol, max_iter=100_000, svd_method="lapack", noise_variance_init=init
        ).fit(X)
        scores.append(fa.score(X))
    return max(scores)


def linear_vae(latent_dim, n_rows, max_iter, **params):
    """A linear VAE trained full-batch to convergence (one Adam step per epoch)."""
    return VAETransformer(
        latent_dim,
        hidden_layer_sizes=(),
        batch_size=n_rows,
        learning_rate=3e-2,
        max_iter=max_iter,
        warmup_epochs=0,
        early_stopping=False,
        tol=0.0,
        n_iter_no_change=max_iter,
        n_threads=1,
        random_state=0,
        **params,
    )


def assert_reaches_factor_analysis(X, latent_dim, max_iter, label):
    """The linear VAE's mean training ELBO is within 0.1% of FA's maximum, not above.

    Prints the gap (run pytest with ``-s`` to see it). Measured: 0.009% to
    0.014% on wine and the digits subset, 0.033% (0.015 nats) on the full
    digits; 0.1% leaves room for other BLAS builds and platforms, and an
    untrained model misses by far more.
    """
    reference = best_factor_analysis_score(X, latent_dim)
    vae = linear_vae(latent_dim, len(X), max_iter)
    score = vae.set_params(**trained(**vae.get_params())).fit(X).score(X)
    gap = reference - score
    print(
        f"\n{label}, latent_dim={latent_dim}: FactorAnalysis {reference:.4f}, "
        f"linear VAE {score:.4f} nats/sample; gap {gap:.4f} nats = "
        f"{100 * gap / abs(reference):.4f}% of |FA|"
    )
    assert abs(gap) <= 1e-3 * abs(reference)  # within 0.1%
    assert score <= reference + 1e-5 * abs(reference)  # and not above the maximum


def dequantized_digits(seed=0):
    X, _ = load_digits(return_X_y=True)
    return (X + np.random.RandomState(seed).uniform(size=X.shape)) / 17.0


@pytest.mark.parametrize("latent_dim", [2, 3])
def test_linear_vae_reaches_factor_analysis_on_wine(latent_dim):
    X = load_wine().data  # 178 x 13, real measurements on very different scales
    assert_reaches_factor_analysis(X, latent_dim, max_iter=600, label="wine (178 x 13)")


def test_linear_vae_reaches_factor_analysis_on_digits_subset():
    X = dequantized_digits()[:400]  # 400 x 64: the cheap digits case
    assert_reaches_factor_analysis(X, 5, max_iter=600, label="digits, first 400 rows")


@pytest.mark.slow
def test_linear_vae_reaches_factor_analysis_on_digits():
    X = dequantized_digits()  # 1797 x 64
    assert_reaches_factor_analysis(X, 10, max_iter=3000, label="digits (1797 x 64)")


def test_linear_vae_reaches_factor_analysis_on_raw_digits_with_constant_pixels():
    # Raw load_digits has three pixels that are 0 in every image. Factor
    # analysis gives them a noise variance of 1e-12 (its floor), +12.9 nats
    # each. With the floor relaxed to the same 1e-12, the linear VAE fixes
    # them in closed form (mean 0, variance at the floor) and learns the
    # rest. Before, their variance was learnt and stalled near 3e-5: 30%
    # (26 nats) below FA after 3,000 epochs. Measured: 0.04% above FA's EM,
    # which stops in a slightly worse optimum (its own maximum from other
    # starts is the same); the VAE's ELBO stays below the exact likelihood of
    # its own linear-Gaussian model, as a bound must.
    X = load_digits().data.astype(np.float64)  # 1797 x 64, values 0..16
    assert np.flatnonzero(X.var(axis=0) == 0).tolist() == [0, 32, 39]
    reference = best_factor_analysis_score(X, 8, n_starts=2)
    vae = linear_vae(8, len(X), 600, min_variance=1e-12)
    vae = vae.set_params(**trained(**vae.get_params())).fit(X)
    score = vae.score(X)
    gap = (reference - score) / abs(reference)
    print(f"\nraw digits, latent_dim=8: FactorAnalysis {reference:.4f}, linear VAE "
          f"{score:.4f} nats/sample; {100 * gap:.3f}% of |FA| below")
    assert abs(gap) < 0.01
    assert score <= _exact_log_likelihood(vae, X) + 1e-6 * abs(score)


def _exact_log_likelihood(vae, X):
    """Mean exact log-likelihood of ``X`` under a fitted linear VAE's decoder, by FA's formula.

    The decoder ``W z + b`` with noise variances ``psi`` is a factor model;
    ``FactorAnalysis.score`` computes its marginal likelihood.
    """
    network = vae.network_
    likelihood = network.likelihood.parts[0]
    scale, shift = likelihood.scale.double().numpy(), likelihood.shift.double().numpy()
    with torch.no_grad():
        weight = network.affine_weight().double().numpy()
        bias = network.decode(torch.zeros(1, vae.latent_dim)).double().numpy()[0]
        location = likelihood.location(torch.as_tensor(bias)).numpy()
        weight[likelihood.constant or []] = 0.0  # fixed: the decoder's outputs are not read
        variance = likelihood.variance().double().numpy()
    model = FactorAnalysis(vae.latent_dim).fit(X[: 2 * vae.latent_dim])
    model.components_ = (weight * scale[:, None]).T
    model.mean_ = location * scale + shift
    model.noise_variance_ = variance * scale**2
    return model.score(X)


@pytest.mark.slow
def test_linear_vae_reaches_factor_analysis_on_collinear_data_by_default_stopping():
    # Standardised breast-cancer measurements: radius, perimeter and area are
    # nearly functions of each other, and factor analysis's maximum puts a
    # noise variance below 1e-5 (a floor of 1e-3 held the VAE 1.0% short).
    # Unlike the tests above, the stopping rule is the default one (tol,
    # n_iter_no_change, the adaptive schedule): it must not end the fit on
    # the slow stretch before the last descent. Full batches at 1e-2 as in
    # the report; early_stopping=False because the reference is a training
    # likelihood. Measured: 0.52% below, stopping by itself after about
    # 1,990 of the allowed 20,000 epochs; the old rule (10 steps of
    # patience) and floor ended 1.9% below.
    X = StandardScaler().fit_transform(load_breast_cancer().data)  # 569 x 30
    reference = best_factor_analysis_score(X, 4, n_starts=2, tol=1e-4)
    params = dict(
        latent_dim=4,
        hidden_layer_sizes=(),
        batch_size=len(X),
        learning_rate=1e-2,
        max_iter=20_000,
        early_stopping=False,
        n_threads=1,
        random_state=0,
    )
    vae = VAETransformer(**trained(**params)).fit(X)
    gap = (reference - vae.score(X)) / abs(reference)
    print(
        f"\nbreast cancer (569 x 30, standardised), latent_dim=4: FactorAnalysis "
        f"{reference:.4f}, linear VAE {vae.score(X):.4f} nats/sample; "
        f"{100 * gap:.3f}% of |FA| below, stopped after {vae.n_iter_} epochs"
    )
    assert vae.n_iter_ < 20_000  # stopped by the rule
    assert 0 <= gap < 0.01


@pytest.mark.parametrize("latent_dim, n_mc_samples", [(2, 16), (5, 16), (10, 16), (10, 11)])
def test_score_samples_monte_carlo_is_unbiased_for_a_linear_decoder(latent_dim, n_mc_samples):
    # For a linear Gaussian decoder E_q[log p(x|z)] has a closed form; the
    # fixed draws that score_samples averages over must reproduce it.
    X = dequantized_digits()
    vae = linear_vae(latent_dim, 512, max_iter=30, n_mc_samples=n_mc_samples).fit(X)
    network = vae.network_
    noise = vae._scoring_noise(torch.device("cpu"))
    with torch.no_grad():
        x_transformed = network.likelihood.transform(torch.as_tensor(X, dtype=torch.float32))
        mean, log_var = network.encode_transformed(x_transformed)
        exact = closed_form_log_likelihood(network, x_transformed, mean, log_var)
        estimate = monte_carlo_log_likelihood(network, x_transformed, mean, log_var, noise)
    assert abs((estimate - exact).double().mean().item()) < 0.01
    # Raw normal draws of the same number miss by far more than that.
    raw = torch.randn(noise.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        raw_estimate = monte_carlo_log_likelihood(network, x_transformed, mean, log_var, raw)
    assert abs((raw_estimate - exact).double().mean().item()) > 0.01


@pytest.fixture(scope="module")
def digits_mlp():
    X = dequantized_digits()
    params = dict(
        latent_dim=5,
        hidden_layer_sizes=(32,),
        max_iter=30,
        batch_size=64,
        learning_rate=1e-3,
        warmup_epochs=10,
        early_stopping=False,
        n_threads=1,
        random_state=0,
    )
    vae = VAETransformer(**trained(**params)).fit(X[:1200])
    return vae, X[1200:]


@pytest.fixture(scope="module")
def independent_gaussians_held_out():
    """Held-out score of a diagonal Gaussian fitted on the same 1200 rows: 31.0 nats."""
    X = dequantized_digits()
    return GaussianMixture(1, covariance_type="diag").fit(X[:1200]).score(X[1200:])


def test_log_likelihood_is_above_the_elbo_and_rises_with_k(
    digits_mlp, independent_gaussians_held_out
):
    vae, X = digits_mlp
    elbo = vae.score_samples(X)
    means = [vae.log_likelihood(X, n_importance_samples=k).mean() for k in (1, 10, 100, 1000)]
    assert np.all(np.diff(means) > 0)
    assert means[1] > elbo.mean()  # K=10 is already tighter than the ELBO
    assert means[-1] > elbo.mean() + 0.5  # and the gain is material here
    # The bound rises with K for any weights (an initial model gains 1.7
    # nats); what it estimates must be a density worth having: 42.5 nats
    # here against 31.0 for independent Gaussians (initial model: 30.1).
    assert means[-1] > independent_gaussians_held_out + 7.0


def test_held_out_elbo_beats_independent_gaussians_on_digits(
    digits_mlp, independent_gaussians_held_out
):
    # Measured: 41.8 nats against 31.0; an initial model scores 28.4, and a
    # full-covariance Gaussian 49.1 (30 epochs of a small network do not
    # reach that: this test asks for learning, bench_digits_density.py for
    # quality).
    vae, X = digits_mlp
    assert vae.score(X) > independent_gaussians_held_out + 7.0


@pytest.mark.slow
def test_weight_decay_narrows_the_generalisation_gap_on_dequantised_digits():
    # The network of bench_digits_density.py overfits 1,257 training images
    # (training ELBO about 11 nats above held-out). Measured (seed 0, 64
    # scoring draws): held-out ELBO 59.5 nats without decay, 61.4 with
    # weight_decay=0.5. A decay that did nothing would miss the 1-nat bar;
    # an untrained model scores far below both.
    X_train, X_test = train_test_split(dequantized_digits(0), test_size=0.3, random_state=0)
    params = dict(
        latent_dim=16, hidden_layer_sizes=(256, 128), batch_size=64, max_iter=1000,
        n_iter_no_change=30, n_threads=1, random_state=0,
    )
    plain = VAETransformer(**trained(**params)).fit(X_train)
    decayed = VAETransformer(**trained(**params, weight_decay=0.5)).fit(X_train)
    plain_score, decayed_score = plain.score(X_test), decayed.score(X_test)
    print(f"\nheld-out ELBO: {plain_score:.2f} without decay, {decayed_score:.2f} with 0.5")
    assert decayed_score > plain_score + 1.0
    assert decayed_score > 58.0  # a trained model: an untrained one is far below


def test_scores_are_deterministic_and_row_independent(digits_mlp):
    vae, X = digits_mlp
    order = np.random.RandomState(0).permutation(len(X))
    for method in (vae.score_samples, lambda X: vae.log_likelihood(X, 50)):
        full = method(X)
        assert_allclose(method(X), full, rtol=0)  # same call, same numbers
        assert_allclose(method(X[order]), full[order], rtol=1e-5, atol=1e-4)
        assert_allclose(method(X[:7]), full[:7], rtol=1e-5, atol=1e-4)


def test_constant_feature_gives_finite_bounded_density():
    X = dequantized_digits()[:600]
    X_constant = np.hstack([X, np.full((len(X), 1), 3.0)])
    params = dict(latent_dim=3, hidden_layer_sizes=(16,), max_iter=20, random_state=0)
    with_constant = VAETransformer(**params).fit(X_constant)
    scores = with_constant.score_samples(X_constant)
    assert np.all(np.isfinite(scores))
    assert np.all(np.isfinite(with_constant.log_likelihood(X_constant, 20)))
    # The constant column can add at most the density of the variance floor,
    # -0.5 * log(2 pi min_variance) ~ 2.5 nats, not an unbounded amount.
    without = VAETransformer(**params).fit(X).score(X)
    ceiling = -0.5 * np.log(2 * np.pi * with_constant.min_variance)
    assert with_constant.score(X_constant) <= without + ceiling + 1.0


def test_a_constant_column_is_fixed_at_its_value_and_the_floor():
    X = dequantized_digits()[:600]
    X_constant = np.hstack([X[:, :10], np.full((len(X), 1), 3.0), X[:, 10:]])
    vae = VAETransformer(3, hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    vae.fit(X_constant)
    likelihood = vae.network_.likelihood.parts[0]
    assert likelihood.constant == [10]
    assert likelihood.variance()[10].item() == pytest.approx(vae.min_variance, rel=1e-6)
    # Its mean is the value exactly, whatever the code; its draws scatter
    # by the floor's standard deviation (1e-2 at the default 1e-4).
    codes = np.random.RandomState(0).normal(size=(50, 3)) * 3
    assert np.all(vae.inverse_transform(codes)[:, 10] == 3.0)
    drawn = vae.sample(2000, random_state=0)[:, 10]
    assert np.std(drawn) == pytest.approx(np.sqrt(vae.min_variance), rel=0.1)
    # It scores exactly the floor's density at its value in every row.
    scores = vae.score_samples(X_constant)
    X_moved = X_constant.copy()
    X_moved[:, 10] = 3.0 + np.sqrt(vae.min_variance)  # one floor standard deviation off
    # Half a nat less (up to float32 rounding of scores near 60, and the
    # encoder reading a value moved by 0.01).
    assert_allclose(scores - vae.score_samples(X_moved), 0.5, atol=0.01)


def test_partial_fit_learns_a_column_that_its_first_batch_shows_constant():
    # The first batch need not show every value of a column (a rare flag):
    # started by partial_fit, the model learns every column.
    X = dequantized_digits()[:600]
    flag = (np.arange(len(X)) % 50 == 49).astype(float)
    X_flag = np.hstack([X, flag[:, None]])
    vae = VAETransformer(3, hidden_layer_sizes=(16,), random_state=0)
    vae.partial_fit(X_flag[:40])
    assert vae.network_.likelihood.parts[0].constant is None
    for _ in range(3):
        vae.partial_fit(X_flag)
    assert np.all(np.isfinite(vae.score_samples(X_flag)))
    # fit sees every row: the flag varies, nothing is fixed.
    assert VAETransformer(3, max_iter=1).fit(X_flag).network_.likelihood.parts[0].constant is None


def test_bernoulli_constant_pixel_is_finite():
    X = (dequantized_digits()[:400] > 0.5).astype(np.float64)
    assert np.all(X[:, 0] == 0)  # the corner pixel of every digit is blank
    vae = VAETransformer(3, hidden_layer_sizes=(16,), likelihood="bernoulli", max_iter=10)
    scores = vae.set_params(random_state=0).fit(X).score_samples(X)
    assert np.all(np.isfinite(scores)) and np.all(scores < 0)  # probabilities of binary data


def test_mlp_trains_stably_on_raw_features_of_very_different_scales():
    # Breast-cancer features range from 1e-3 to 1e3: the model standardises
    # inside, and its density of the raw data must beat independent Gaussians.
    X = load_breast_cancer().data
    params = dict(
        latent_dim=4,
        hidden_layer_sizes=(32,),
        max_iter=40,
        batch_size=128,
        learning_rate=1e-3,
        early_stopping=False,
        n_threads=1,
        random_state=0,
    )
    vae = VAETransformer(**trained(**params)).fit(X)
    assert np.all(np.isfinite(vae.loss_curve_))
    # Measured: 4.4 nats against -2.8 (an initial model: -4.5).
    independent = GaussianMixture(1, covariance_type="diag").fit(X).score(X)
    assert vae.score(X) > independent + 5.0
    assert vae.log_likelihood(X, 100).mean() > vae.score(X)
