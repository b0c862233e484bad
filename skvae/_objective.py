"""The VAE objective: analytic KL, per-sample ELBO, importance-weighted bound.

All functions take raw (unstandardised) data ``x`` of shape (batch, n_features)
and return one value per row, in nats, as a density of the raw data.
Plain PyTorch: no numpy, no scikit-learn.
"""

import math

import torch

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_kl(mean, log_var):
    """KL(N(mean, diag(exp(log_var))) || N(0, I)) per row: (batch, d) -> (batch,).

    Closed form from Kingma & Welling (2013), appendix B.
    """
    return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(-1)


def common_random_numbers(n_samples, latent_dim, seed=0, dtype=torch.float32, device="cpu"):
    """A fixed set of standard-normal draws shared by every row: (n_samples, 1, d).

    The draws come in antithetic pairs (e, -e), so their mean is exactly zero,
    and each dimension is rescaled to a mean square of exactly one. A Monte
    Carlo expectation over them is deterministic, independent of the order and
    subset of rows, and exact for any reconstruction term that is quadratic
    in z (as for a linear Gaussian decoder).
    """
    generator = torch.Generator().manual_seed(seed)
    half = torch.randn((n_samples + 1) // 2, latent_dim, generator=generator, dtype=torch.float64)
    draws = torch.cat([half, -half])[:n_samples]
    draws = draws / draws.pow(2).mean(0).sqrt().clamp_min(1e-12)
    return draws.to(dtype=dtype, device=device).unsqueeze(1)


def expected_log_likelihood(vae, x_standardized, mean, log_var, noise):
    """E_q[log p(x|z)] per row, in the standardised space: (batch,).

    Exact for an affine decoder with Gaussian noise; otherwise the average
    over the latent draws ``mean + sigma * noise`` with ``noise`` of shape
    (n_draws, batch or 1, latent_dim).
    """
    if vae.has_closed_form_reconstruction:
        weight = vae.decoder.output.weight  # (n_features, latent_dim)
        decoded_mean = vae.decode(mean)  # (batch, n_features)
        decoded_variance = log_var.exp() @ weight.pow(2).T  # (batch, n_features)
        return vae.likelihood.expected_log_prob(x_standardized, decoded_mean, decoded_variance)
    z = vae.reparameterize(mean, log_var, noise)  # (n_draws, batch, latent_dim)
    return vae.likelihood.log_prob(x_standardized, vae.decode(z)).mean(0)


def elbo(vae, x, noise, kl_weight=1.0):
    """Per-row evidence lower bound E_q[log p(x|z)] - kl_weight * KL: (batch,)."""
    x_standardized = vae.standardize(x)
    mean, log_var = vae.encoder(x_standardized)
    reconstruction = expected_log_likelihood(vae, x_standardized, mean, log_var, noise)
    return reconstruction - kl_weight * gaussian_kl(mean, log_var) + vae.log_jacobian()


def importance_weighted_bound(vae, x, noise, chunk_size=64):
    """Importance-weighted bound of Burda et al. (2016) per row: (batch,).

    log (1/K) sum_k p(x, z_k) / q(z_k | x) with z_k = mean + sigma * noise_k,
    for ``noise`` of shape (K, 1 or batch, latent_dim). It equals the ELBO's
    Monte Carlo estimate for K = 1 and rises towards log p(x) as K grows. The
    K draws are processed ``chunk_size`` at a time with a running logsumexp.
    """
    x_standardized = vae.standardize(x)
    mean, log_var = vae.encoder(x_standardized)
    total = None
    for start in range(0, noise.shape[0], chunk_size):
        eps = noise[start : start + chunk_size]  # (k, 1 or batch, latent_dim)
        z = vae.reparameterize(mean, log_var, eps)  # (k, batch, latent_dim)
        log_likelihood = vae.likelihood.log_prob(x_standardized, vae.decode(z))
        log_prior = -0.5 * (z.pow(2) + _LOG_2PI).sum(-1)
        log_posterior = -0.5 * (eps.pow(2) + _LOG_2PI + log_var).sum(-1)
        chunk = torch.logsumexp(log_likelihood + log_prior - log_posterior, dim=0)
        total = chunk if total is None else torch.logaddexp(total, chunk)
    return total - math.log(noise.shape[0]) + vae.log_jacobian()
