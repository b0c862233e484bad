"""count_size_factor="total": each row's count means scaled by its observed total.

The likelihood side against scipy.stats, the estimator's save / load /
pickle round trip, the refusals, and one behaviour test (listed in
``scripts/check_untrained.py``): on counts whose rows differ in depth, a
trained model with the size factor scores held-out rows far above an
untrained one and above the same model without a size factor.
"""

import pickle
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from sklearn.exceptions import ConvergenceWarning

import skvae
from skvae import VAEOutlierDetector, VAETransformer
from skvae._likelihoods import NegativeBinomialLikelihood, PoissonLikelihood

from _untrained import trained, untrained


def _counts(cls, n_columns, seed=0):
    likelihood = cls(n_columns, size_factor=True).double()
    rng = np.random.RandomState(seed)
    likelihood.set_statistics(
        rng.normal(size=n_columns),
        rng.uniform(0.5, 2.0, n_columns),
        rng.normal(size=n_columns),
        [np.log(12.0), 0.4],
    )
    return likelihood


def _rows(seed=0):
    x = np.random.RandomState(seed).poisson(4.0, size=(6, 3)).astype(np.float64)
    x[0] = 0.0  # a row with no count: its library is that of a total of 1
    return x


def _relative_log_library(x, likelihood):
    return np.log(np.maximum(x.sum(1, keepdims=True), 1.0)) - likelihood.log_library[0].item()


def test_poisson_log_prob_with_a_size_factor_matches_scipy():
    likelihood = _counts(PoissonLikelihood, 3)
    x = _rows()
    decoded = np.random.RandomState(1).normal(size=(2, 6, 3))  # (draws, rows, columns)
    rate = np.exp(decoded + likelihood.log_offset.numpy() + _relative_log_library(x, likelihood))
    got = likelihood.log_prob(torch.from_numpy(x), torch.from_numpy(decoded)).numpy()
    assert got.shape == (2, 6, 3)
    assert_allclose(got, stats.poisson.logpmf(x, rate), rtol=1e-10)
    # Without a row, the mean is that of the typical library (log L at its training mean).
    typical = np.exp(decoded + likelihood.log_offset.numpy())
    assert_allclose(likelihood.mean(torch.from_numpy(decoded)).numpy(), typical, rtol=1e-12)


@pytest.mark.parametrize("log_theta", [-2.0, 0.0, 3.0])
def test_negative_binomial_log_prob_with_a_size_factor_matches_scipy(log_theta):
    likelihood = _counts(NegativeBinomialLikelihood, 3)
    x = _rows(2)
    log_mean = np.random.RandomState(3).normal(size=(6, 3))
    decoded = np.concatenate([log_mean, np.full((6, 3), log_theta)], -1)
    mu = np.exp(log_mean + likelihood.log_offset.numpy() + _relative_log_library(x, likelihood))
    theta = np.exp(log_theta)
    got = likelihood.log_prob(torch.from_numpy(x), torch.from_numpy(decoded)).numpy()
    assert_allclose(got, stats.nbinom.logpmf(x, theta, theta / (theta + mu)), rtol=1e-8)


@pytest.mark.parametrize("cls", [PoissonLikelihood, NegativeBinomialLikelihood])
def test_generated_rows_draw_their_library_from_the_training_fit(cls):
    likelihood = cls(4, size_factor=True).double()
    likelihood.reset_parameters()
    log_library = [np.log(50.0), 0.5]
    likelihood.set_statistics(np.zeros(4), np.ones(4), np.log(np.full(4, 50.0 / 4)), log_library)
    decoded = torch.zeros(20_000, likelihood.n_outputs, dtype=torch.float64)
    decoded[:, 4:] = 8.0  # the negative binomial close to its Poisson limit
    totals = likelihood.sample(decoded, torch.Generator().manual_seed(0)).sum(1).numpy()
    # log(total) ~ N(log 50, 0.5^2) widened a little by the Poisson noise.
    assert abs(np.log(totals.clip(1)).mean() - np.log(50.0)) < 0.03
    assert 0.5 < np.log(totals.clip(1)).std() < 0.56


def test_without_a_size_factor_the_state_dict_is_unchanged():
    assert set(PoissonLikelihood(3).state_dict()) == {"shift", "scale", "log_offset"}
    assert "log_library" in PoissonLikelihood(3, size_factor=True).state_dict()


# ------------------------------------------------------------ estimator
def _depth_data(n_rows, seed):
    """Counts of a 2-d composition at depths spread over a factor of 20."""
    rng = np.random.RandomState(seed)
    loadings = np.random.RandomState(100).normal(size=(2, 40))
    z = rng.normal(size=(n_rows, 2))
    composition = np.exp(0.8 * z @ loadings)
    composition /= composition.sum(1, keepdims=True)
    depth = np.exp(rng.uniform(np.log(50.0), np.log(1000.0), size=(n_rows, 1)))
    return rng.poisson(composition * depth).astype(np.float64)


SMALL = dict(latent_dim=2, hidden_layer_sizes=(32,), max_iter=30, random_state=0, n_threads=1)


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return VAETransformer(
            likelihood="negative_binomial", count_size_factor="total", **SMALL
        ).fit(_depth_data(200, 0))


def test_round_trip_keeps_the_size_factor(tmp_path, fitted):
    X = _depth_data(50, 1)
    path = tmp_path / "model.safetensors"
    skvae.save(fitted, path)
    for restored in (skvae.load(path), pickle.loads(pickle.dumps(fitted))):
        assert restored.count_size_factor == "total"
        (block,) = restored._columns.blocks
        assert block.size_factor == "total"
        assert_array_equal(block.log_library, fitted._columns.blocks[0].log_library)
        assert_array_equal(restored.score_samples(X), fitted.score_samples(X))
        assert_array_equal(restored.log_likelihood(X, 20), fitted.log_likelihood(X, 20))
        assert_array_equal(restored.transform(X), fitted.transform(X))
        assert_array_equal(
            restored.sample(30, random_state=0), fitted.sample(30, random_state=0)
        )


def test_the_library_statistics_are_the_training_rows_log_totals(fitted):
    X = _depth_data(200, 0)
    rows = X[np.sort(np.random.RandomState(0).permutation(200))]  # every row, any order
    (block,) = fitted._columns.blocks
    logs = np.log(rows.sum(1))
    # Fitted on the training part of the split (early stopping holds 10 % out).
    assert abs(block.log_library[0] - logs.mean()) < 0.15
    assert abs(block.log_library[1] - logs.std()) < 0.15
    assert_allclose(fitted.network_.likelihood.parts[0].log_library.numpy(), block.log_library)


def test_a_size_factor_needs_count_columns():
    with pytest.raises(ValueError, match="count_size_factor='total' scales the means of count"):
        VAETransformer(count_size_factor="total", **SMALL).fit(np.random.rand(20, 3))


def test_an_unknown_size_factor_is_refused():
    with pytest.raises(ValueError, match="count_size_factor"):
        VAETransformer(likelihood="poisson", count_size_factor="median").fit(np.ones((5, 2)))


def test_warm_start_refuses_a_changed_size_factor():
    X = _depth_data(60, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vae = VAETransformer(likelihood="poisson", warm_start=True, **{**SMALL, "max_iter": 2})
        vae.fit(X)
        vae.set_params(count_size_factor="total")
        with pytest.raises(ValueError, match=r"count_size_factor .*must not change"):
            vae.fit(X)


def test_the_detector_takes_the_size_factor_too():
    X = _depth_data(100, 3)
    detector = VAEOutlierDetector(
        likelihood="poisson", count_size_factor="total", latent_dim=2, random_state=0
    ).fit(X)
    assert detector.network_.likelihood.parts[0].size_factor
    assert np.isfinite(detector.score_samples(X)).all()


def test_the_size_factor_models_rows_of_different_depths():
    # Held-out rows: a trained model with the size factor scores them by far
    # better than its untrained self (the library alone already helps that
    # one), and better than the same trained model without a size factor,
    # which must spend its code on the depth.
    X_train, X_test = _depth_data(400, 0), _depth_data(200, 1)
    params = dict(likelihood="poisson", latent_dim=2, hidden_layer_sizes=(32,), random_state=0,
                  n_threads=1, max_iter=200)

    def held_out(**extra):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return VAETransformer(**{**params, **extra}).fit(X_train).score(X_test)

    with_size = held_out(**trained(count_size_factor="total"))
    reference = held_out(**untrained(count_size_factor="total"))
    without = held_out(**trained())
    assert with_size > reference + 100.0, (with_size, reference)
    assert with_size > without + 20.0, (with_size, without)
