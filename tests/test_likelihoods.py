"""The decoder distributions against scipy.stats and numerical integration.

Log-probabilities are per feature, shape (..., n_features): the objective sums them.
"""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy import integrate, stats

from skvae._likelihoods import BernoulliLikelihood, GaussianLikelihood, make_likelihood


def _gaussian(n_features, min_variance=1e-3, seed=0):
    likelihood = GaussianLikelihood(n_features, min_variance).double()
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed)
        likelihood.log_excess_variance.copy_(
            torch.randn(n_features, generator=generator, dtype=torch.float64)
        )
    return likelihood


def test_gaussian_log_prob_matches_scipy():
    rng = np.random.RandomState(0)
    likelihood = _gaussian(5)
    x, decoded = rng.normal(size=(7, 5)), rng.normal(size=(7, 5))
    variance = likelihood.variance().detach().numpy()
    expected = stats.norm.logpdf(x, loc=decoded, scale=np.sqrt(variance))  # (7, 5)
    got = likelihood.log_prob(torch.from_numpy(x), torch.from_numpy(decoded))
    assert got.shape == (7, 5)
    assert_allclose(got.detach().numpy(), expected, rtol=1e-12)


def test_gaussian_log_prob_broadcasts_over_draws():
    rng = np.random.RandomState(1)
    likelihood = _gaussian(3)
    x, decoded = rng.normal(size=(4, 3)), rng.normal(size=(6, 4, 3))
    variance = likelihood.variance().detach().numpy()
    expected = stats.norm.logpdf(x, loc=decoded, scale=np.sqrt(variance))
    got = likelihood.log_prob(torch.from_numpy(x), torch.from_numpy(decoded))
    assert got.shape == (6, 4, 3)
    assert_allclose(got.detach().numpy(), expected, rtol=1e-12)


def test_gaussian_expected_log_prob_matches_numerical_integration():
    # E over decoded ~ N(m, s2) of log N(x; decoded, v), integrated by quadrature.
    likelihood = _gaussian(2, seed=3)
    variance = likelihood.variance().detach().numpy()
    x, mean, spread = np.array([0.3, -1.2]), np.array([-0.4, 0.5]), np.array([0.7, 0.2])
    expected = [
        integrate.quad(
            lambda d: stats.norm.pdf(d, mean[j], spread[j])
            * stats.norm.logpdf(x[j], d, np.sqrt(variance[j])),
            -np.inf,
            np.inf,
        )[0]
        for j in range(2)
    ]
    got = likelihood.expected_log_prob(
        torch.from_numpy(x), torch.from_numpy(mean), torch.from_numpy(spread**2)
    )
    assert got.shape == (2,)
    assert_allclose(got.detach().numpy(), expected, rtol=1e-8)


def test_gaussian_variance_floor_holds_however_small_the_parameter():
    likelihood = GaussianLikelihood(3, min_variance=1e-3).double()
    with torch.no_grad():
        likelihood.log_excess_variance.fill_(-1e4)  # exp underflows to 0
    assert_allclose(likelihood.variance().detach().numpy(), 1e-3, rtol=1e-12)
    x = torch.zeros(1, 3, dtype=torch.float64)
    # A perfect reconstruction has a finite density: log N(0; 0, 1e-3) per feature.
    expected = stats.norm.logpdf(0.0, scale=np.sqrt(1e-3))
    assert_allclose(likelihood.log_prob(x, x).detach().numpy(), [[expected] * 3], rtol=1e-12)


def test_gaussian_sample_has_the_model_variance():
    likelihood = _gaussian(2, seed=4)
    decoded = torch.tensor([[1.0, -2.0]], dtype=torch.float64).expand(200_000, 2)
    draws = likelihood.sample(decoded, torch.Generator().manual_seed(0)).detach().numpy()
    variance = likelihood.variance().detach().numpy()
    assert_allclose(draws.mean(0), [1.0, -2.0], atol=5 * np.sqrt(variance.max() / 200_000))
    assert_allclose(draws.var(0), variance, rtol=0.02)


@pytest.mark.parametrize("x_value", [0.0, 1.0])
def test_bernoulli_log_prob_matches_scipy(x_value):
    rng = np.random.RandomState(0)
    logits = rng.normal(scale=4.0, size=(5, 6))
    x = np.full((5, 6), x_value)
    probability = 1.0 / (1.0 + np.exp(-logits))
    expected = stats.bernoulli.logpmf(x, probability)  # (5, 6)
    got = BernoulliLikelihood().log_prob(torch.from_numpy(x), torch.from_numpy(logits))
    assert got.shape == (5, 6)
    assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_bernoulli_log_prob_is_stable_for_large_logits():
    # log sigmoid(-40) = -40 - log1p(exp(-40)) must not round to log(0).
    logits = torch.tensor([[40.0, -40.0]], dtype=torch.float64)
    x = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    got = BernoulliLikelihood().log_prob(x, logits).numpy()
    assert_allclose(got, [[-40.0 - np.log1p(np.exp(-40.0))] * 2], rtol=1e-12)


def test_bernoulli_mean_and_sample():
    logits = torch.tensor([[-1.0, 0.0, 2.0]], dtype=torch.float64)
    likelihood = BernoulliLikelihood()
    probability = 1.0 / (1.0 + np.exp(-logits.numpy()))
    assert_allclose(likelihood.mean(logits).numpy(), probability, rtol=1e-12)
    draws = likelihood.sample(logits.expand(100_000, 3), torch.Generator().manual_seed(0))
    assert set(np.unique(draws.numpy())) <= {0.0, 1.0}
    assert_allclose(draws.numpy().mean(0), probability[0], atol=0.01)


def test_make_likelihood_by_name():
    assert isinstance(make_likelihood("gaussian", 3, 1e-3), GaussianLikelihood)
    assert isinstance(make_likelihood("bernoulli", 3, 1e-3), BernoulliLikelihood)
    with pytest.raises(ValueError, match="Unknown likelihood"):
        make_likelihood("poisson", 3, 1e-3)
