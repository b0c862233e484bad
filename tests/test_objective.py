"""The objective against exact references: the KL against Monte Carlo, and the
ELBO and importance-weighted bound of a linear Gaussian VAE against its exact
marginal likelihood (the factor-analysis density)."""

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy import stats

from skvae._objective import (
    ImportanceWeightedObjective,
    closed_form_log_likelihood,
    closed_form_log_likelihood_per_feature,
    common_random_numbers,
    elbo,
    expected_log_likelihood,
    expected_log_likelihood_per_feature,
    importance_weighted_bound,
    log_weights,
    monte_carlo_log_likelihood,
    monte_carlo_log_likelihood_per_feature,
    row_keyed_normal_draws,
)
from skvae._priors import gaussian_kl

from _linear_vae import LATENT_DIM, N_FEATURES
from _linear_vae import linear_vae as _linear_vae


def test_gaussian_kl_matches_monte_carlo():
    rng = np.random.RandomState(0)
    mean = rng.normal(size=(4, 3))
    log_var = rng.normal(scale=0.7, size=(4, 3))
    closed = gaussian_kl(torch.from_numpy(mean), torch.from_numpy(log_var)).numpy()
    sigma = np.exp(0.5 * log_var)
    z = mean + sigma * rng.normal(size=(200_000, 4, 3))  # z ~ q
    log_ratio = (
        stats.norm.logpdf(z, loc=mean, scale=sigma).sum(-1) - stats.norm.logpdf(z).sum(-1)
    )
    estimate = log_ratio.mean(0)
    standard_error = log_ratio.std(0) / np.sqrt(log_ratio.shape[0])
    assert np.all(np.abs(estimate - closed) < 5 * standard_error)
    assert_allclose(estimate, closed, atol=0.02)


def test_gaussian_kl_is_zero_at_the_prior():
    assert_allclose(gaussian_kl(torch.zeros(2, 5), torch.zeros(2, 5)).numpy(), 0.0)


@pytest.mark.parametrize(
    "n_samples, latent_dim, exact_degree",
    [(16, 2, 3), (17, 3, 3), (16, 10, 2), (12, 11, 2), (16, 50, 0)],
)
def test_common_random_numbers_match_the_normal_moments(n_samples, latent_dim, exact_degree):
    draws = common_random_numbers(n_samples, latent_dim, dtype=torch.float64)
    assert draws.shape == (n_samples, 1, latent_dim)
    e = draws[:, 0].numpy()
    assert_allclose(e.mean(0), 0.0, atol=1e-12)
    assert_allclose((e**2).mean(0), 1.0, rtol=1e-10)  # always: unit mean square
    second_moment_error = np.abs(e.T @ e / n_samples - np.eye(latent_dim)).max()
    third_moment_error = np.abs((e**3).mean(0)).max()
    if exact_degree >= 2:
        assert second_moment_error < 1e-10
    else:  # too few draws to match the cross moments: the fallback is visible
        assert second_moment_error > 0.1
    if exact_degree >= 3:
        assert third_moment_error < 1e-10
    # Same arguments, same draws: scores built on them are deterministic.
    assert torch.equal(draws, common_random_numbers(n_samples, latent_dim, dtype=torch.float64))


def _exact_log_likelihood(vae, x):
    """log p(x) of a linear Gaussian VAE: x_std ~ N(b, W W^T + Psi), plus the Jacobian."""
    weight = vae.affine_weight().detach().numpy()
    gaussian = vae.likelihood.parts[0]
    covariance = weight @ weight.T + np.diag(gaussian.variance().detach().numpy())
    x_standardized = gaussian.transform(x).detach().numpy()
    log_density = stats.multivariate_normal(
        vae.decode(torch.zeros(LATENT_DIM, dtype=torch.float64)).detach().numpy(), covariance
    ).logpdf(x_standardized)
    return log_density - gaussian.scale.log().sum().item()  # with the Jacobian


def _data(vae, n_rows=200, seed=1):
    """Rows drawn from the model itself, in the raw space."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n_rows, LATENT_DIM, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        return vae.decode_sample(z, generator)


def test_elbo_and_iwae_equal_log_likelihood_for_the_exact_posterior():
    vae = _linear_vae(posterior_matched=True)
    x = _data(vae)
    exact = _exact_log_likelihood(vae, x)
    with torch.no_grad():
        assert_allclose(elbo(vae, x, noise=None).numpy(), exact, rtol=1e-10)
        # Every importance weight equals p(x): the bound is exact for any K.
        noise = torch.randn(7, 1, LATENT_DIM, generator=torch.Generator().manual_seed(0))
        iwae = importance_weighted_bound(vae, x, noise.double(), chunk_size=3)
    assert_allclose(iwae.numpy(), exact, rtol=1e-10)


def test_importance_weighted_training_objective_is_the_bound_with_its_kl_weight():
    vae = _linear_vae()
    x = _data(vae, n_rows=6)
    noise = torch.randn(5, 6, LATENT_DIM, generator=torch.Generator().manual_seed(0)).double()
    objective = ImportanceWeightedObjective(5)
    assert objective.n_draws == 5  # the training loop draws this many per row
    with torch.no_grad():
        assert_allclose(
            objective(vae, x, noise).numpy(), importance_weighted_bound(vae, x, noise).numpy()
        )
        # With one draw, and during KL warm-up, it is the one-draw ELBO's estimate.
        one = ImportanceWeightedObjective(1)(vae, x, noise[:1], kl_weight=0.3).numpy()
        assert_allclose(one, log_weights(vae, x, noise[:1], kl_weight=0.3)[0].numpy())


def test_closed_form_reconstruction_matches_monte_carlo_in_expectation():
    vae = _linear_vae()
    x = _data(vae, n_rows=5)
    with torch.no_grad():
        x_transformed = vae.likelihood.transform(x)
        mean, log_var = vae.encode_transformed(x_transformed)
        closed = closed_form_log_likelihood(vae, x_transformed, mean, log_var).numpy()
        noise = torch.randn(
            200_000, 1, LATENT_DIM, generator=torch.Generator().manual_seed(0), dtype=torch.float64
        )
        z = vae.reparameterize(mean, log_var, noise)
        terms = vae.likelihood.log_prob(x_transformed, vae.decode(z)).sum(-1)  # (draws, rows)
        terms = terms.numpy()
    standard_error = terms.std(0) / np.sqrt(terms.shape[0])
    assert np.all(np.abs(terms.mean(0) - closed) < 5 * standard_error)


@pytest.mark.parametrize("n_draws", [4, 16])
def test_common_random_numbers_make_the_monte_carlo_elbo_exact_for_linear_decoders(n_draws):
    # Any set of >= latent_dim + 1 common random numbers integrates the
    # quadratic reconstruction term exactly; raw draws would not.
    vae = _linear_vae(seed=2)
    x = _data(vae, seed=3)
    noise = common_random_numbers(n_draws, LATENT_DIM, dtype=torch.float64)
    with torch.no_grad():
        x_transformed = vae.likelihood.transform(x)
        mean, log_var = vae.encode_transformed(x_transformed)
        closed = closed_form_log_likelihood(vae, x_transformed, mean, log_var)
        estimate = monte_carlo_log_likelihood(vae, x_transformed, mean, log_var, noise)
        assert torch.equal(
            expected_log_likelihood(vae, x_transformed, mean, log_var, noise), closed
        )
    assert_allclose(estimate.numpy(), closed.numpy(), rtol=1e-10)


def test_reconstruction_per_feature_is_exact_feature_by_feature():
    # The per-feature term (where a mask or an explanation plugs in) is exact
    # for each feature on its own, and the row terms are its sums.
    vae = _linear_vae(seed=7)
    x = _data(vae, n_rows=30, seed=8)
    noise = common_random_numbers(16, LATENT_DIM, dtype=torch.float64)
    with torch.no_grad():
        x_transformed = vae.likelihood.transform(x)
        mean, log_var = vae.encode_transformed(x_transformed)
        closed = closed_form_log_likelihood_per_feature(vae, x_transformed, mean, log_var)
        estimate = monte_carlo_log_likelihood_per_feature(
            vae, x_transformed, mean, log_var, noise
        )
        terms = expected_log_likelihood_per_feature(vae, x_transformed, mean, log_var, noise)
        rows = expected_log_likelihood(vae, x_transformed, mean, log_var, noise)
    assert closed.shape == estimate.shape == (30, N_FEATURES)
    assert_allclose(estimate.numpy(), closed.numpy(), rtol=1e-10)
    assert torch.equal(terms, closed)
    assert_allclose(rows.numpy(), closed.sum(-1).numpy(), rtol=1e-12)


def test_iwae_is_a_bound_that_rises_towards_log_likelihood():
    vae = _linear_vae(seed=4)
    x = _data(vae, n_rows=100, seed=5)
    exact = _exact_log_likelihood(vae, x)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(20_000, 1, LATENT_DIM, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        closed_elbo = elbo(vae, x, noise=None).numpy()
        bounds = {k: importance_weighted_bound(vae, x, noise[:k]).numpy() for k in (1, 10, 100)}
        bounds[20_000] = importance_weighted_bound(vae, x, noise, chunk_size=4096).numpy()
    means = [bounds[k].mean() for k in sorted(bounds)]
    assert np.all(np.diff(means) > 0)  # rises with K on average
    assert closed_elbo.mean() < means[1]  # K = 10 already beats the ELBO
    assert np.all(closed_elbo <= exact + 1e-10)  # the ELBO is a bound, row by row
    gap = exact.mean() - closed_elbo.mean()
    assert gap > 0.5  # this random encoder is far from the posterior...
    # ...yet K = 20,000 closes the gap to within 2% of it, from below.
    assert -0.01 * gap < exact.mean() - means[-1] < 0.02 * gap


def test_iwae_with_one_draw_is_the_single_sample_elbo():
    vae = _linear_vae(seed=6)
    x = _data(vae, n_rows=20)
    noise = torch.randn(1, 1, LATENT_DIM, generator=torch.Generator().manual_seed(1)).double()
    with torch.no_grad():
        iwae = importance_weighted_bound(vae, x, noise)
        x_transformed = vae.likelihood.transform(x)
        mean, log_var = vae.encode_transformed(x_transformed)
        single = (
            monte_carlo_log_likelihood(vae, x_transformed, mean, log_var, noise)
            - gaussian_kl(mean, log_var)
        )
    # Equal in expectation; for one draw they differ by the KL's sampling error,
    # log q(z|x) - log p(z) - KL, which is computed here independently.
    z = vae.reparameterize(mean, log_var, noise)[0]
    sigma = (0.5 * log_var).exp()
    log_ratio = stats.norm.logpdf(z, mean, sigma).sum(-1) - stats.norm.logpdf(z).sum(-1)
    kl = gaussian_kl(mean, log_var).numpy()
    assert_allclose(iwae.numpy(), single.numpy() - (log_ratio - kl), rtol=1e-10)
    assert math.isfinite(float(iwae.sum()))


def test_row_keyed_draws_depend_on_the_row_alone():
    x = torch.from_numpy(np.random.RandomState(0).normal(size=(50, 4)))
    draws = row_keyed_normal_draws(x, 30, 2)
    assert draws.shape == (30, 50, 2)
    order = torch.from_numpy(np.random.RandomState(1).permutation(50))
    assert torch.equal(row_keyed_normal_draws(x[order], 30, 2), draws[:, order])
    assert torch.equal(row_keyed_normal_draws(x[:3], 30, 2), draws[:, :3])
    twice = torch.cat([x[:1], x[:1]])
    same = row_keyed_normal_draws(twice, 30, 2)
    assert torch.equal(same[:, 0], same[:, 1])
    # Rows that differ in one bit of one value get unrelated draws.
    nudged = x[:1].clone()
    nudged[0, 3] = torch.nextafter(nudged[0, 3].float(), torch.tensor(np.inf)).double()
    other = row_keyed_normal_draws(nudged, 30, 2)
    assert abs(np.corrcoef(other.flatten(), draws[:, 0].flatten())[0, 1]) < 0.5
    assert not torch.equal(row_keyed_normal_draws(x, 30, 2, seed=1), draws)


def test_row_keyed_draws_are_standard_normal_and_independent_across_rows():
    x = torch.from_numpy(np.random.RandomState(0).normal(size=(2000, 3)))
    draws = row_keyed_normal_draws(x, 50, 2).numpy()
    flat = draws.reshape(-1)
    assert stats.kstest(flat, "norm").pvalue > 1e-3
    # Per-row means over the 50 draws are independent: their spread is 1/sqrt(50).
    row_means = draws.mean(0)[:, 0]
    assert_allclose(row_means.std(), 1 / np.sqrt(50), rtol=0.1)
    assert abs(np.corrcoef(row_means[:-1], row_means[1:])[0, 1]) < 0.1
