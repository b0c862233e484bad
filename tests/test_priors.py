"""The prior p(z) = N(0, I) against scipy, and the places that ask it."""

import numpy as np
import pytest
import torch
from scipy import stats

from skvae import VAETransformer
from skvae._priors import StandardNormalPrior, gaussian_kl


def test_standard_normal_prior_matches_scipy():
    prior = StandardNormalPrior(3)
    z = torch.from_numpy(np.random.RandomState(0).normal(size=(5, 3)))
    np.testing.assert_allclose(prior.log_prob(z).numpy(), stats.norm.logpdf(z).sum(-1), rtol=1e-12)
    p = torch.tensor([0.05, 0.5, 0.975], dtype=torch.float64)
    np.testing.assert_allclose(prior.quantile(p).numpy(), stats.norm.ppf(p.numpy()), rtol=1e-12)
    draws = prior.sample(20_000, torch.Generator().manual_seed(0))
    assert draws.shape == (20_000, 3)
    np.testing.assert_allclose(draws.mean(0).numpy(), 0.0, atol=0.03)
    np.testing.assert_allclose(draws.std(0).numpy(), 1.0, atol=0.03)
    mean, log_var = torch.randn(4, 3), torch.randn(4, 3)
    assert torch.equal(prior.kl(mean, log_var), gaussian_kl(mean, log_var))


def test_the_model_samples_from_its_prior(monkeypatch):
    X = np.random.RandomState(0).normal(size=(100, 3))
    with pytest.warns(Warning):
        vae = VAETransformer(latent_dim=2, max_iter=2, random_state=0).fit(X)
    calls = []
    prior = vae.network_.prior
    original = prior.sample

    def recording(n_samples, generator, device="cpu", dtype=torch.float32):
        calls.append(n_samples)
        return original(n_samples, generator, device, dtype)

    monkeypatch.setattr(prior, "sample", recording)
    vae.sample(7, random_state=0)
    assert calls == [7]
    np.testing.assert_allclose(vae._latent_quantiles([0.5, 0.975]), [0.0, 1.959964], atol=1e-6)
