"""The VAE objective: analytic KL, per-sample ELBO, importance-weighted bound.

All functions take raw (unstandardised) data ``x`` of shape (batch, n_features)
and return one value per row, in nats, as a density of the raw data.
Plain PyTorch: no numpy, no scikit-learn.
"""

import math

import torch
from torch.nn import functional as F

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_kl(mean, log_var):
    """KL(N(mean, diag(exp(log_var))) || N(0, I)) per row: (batch, d) -> (batch,).

    Closed form from Kingma & Welling (2013), appendix B.
    """
    return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(-1)


def _whiten(draws):
    """Rescale the rows of ``draws`` so that their mean outer product is the identity."""
    second_moment = draws.T @ draws / draws.shape[0]  # (d, d)
    cholesky = torch.linalg.cholesky(second_moment)
    return torch.linalg.solve_triangular(cholesky, draws.T, upper=False).T


def common_random_numbers(n_samples, latent_dim, seed=0, dtype=torch.float32, device="cpu"):
    """A fixed set of standard-normal-like draws shared by every row: (n_samples, 1, d).

    The set is built from seeded normal draws so that its low moments match
    those of N(0, I) exactly, which removes the fixed error that a handful of
    raw draws puts on every row:

    * ``n_samples >= 2 * latent_dim``: antithetic pairs (e, -e) (plus one zero
      draw when ``n_samples`` is odd), whitened so that the mean of ``e e^T``
      is exactly the identity. Every odd moment is zero, so an average over
      the set is exact for any polynomial in z of degree at most 3.
    * ``latent_dim < n_samples < 2 * latent_dim``: draws centred and whitened
      (mean exactly 0, mean outer product exactly I): exact up to degree 2.
    * fewer draws: antithetic pairs, each dimension rescaled to a mean square
      of one (the cross moments cannot all be matched).

    Degree 2 covers the reconstruction term of a linear Gaussian decoder, so
    with at least ``latent_dim + 1`` draws the Monte Carlo ELBO of such a
    model equals its closed form. The set is deterministic and shared by
    every row, so scores do not depend on the order or subset of rows.

    Parameters
    ----------
    n_samples : int
        Number of draws.
    latent_dim : int
        Dimension of each draw.
    seed : int, default=0
        Seed of the generator the draws are made from.
    dtype, device
        Of the returned tensor (the draws are built in float64 on the CPU).

    Returns
    -------
    draws : Tensor of shape (n_samples, 1, latent_dim)
    """
    generator = torch.Generator().manual_seed(seed)
    n_pairs = n_samples // 2
    if n_samples <= latent_dim or n_pairs >= latent_dim:
        half = torch.randn(n_pairs, latent_dim, generator=generator, dtype=torch.float64)
        if n_pairs >= latent_dim:
            half = _whiten(half)
        elif n_pairs > 0:
            half = half / half.pow(2).mean(0).sqrt().clamp_min(1e-12)
        # With a zero draw added, the pairs carry the whole second moment.
        half = half * math.sqrt(n_samples / max(2 * n_pairs, 1))
        zero = torch.zeros(n_samples % 2, latent_dim, dtype=torch.float64)
        draws = torch.cat([half, -half, zero])
    else:
        draws = torch.randn(n_samples, latent_dim, generator=generator, dtype=torch.float64)
        draws = _whiten(draws - draws.mean(0))
    return draws.to(dtype=dtype, device=device).unsqueeze(1)


_PRIME = 2_147_483_647  # 2^31 - 1: products of two values below it fit in int64


def _hash31(values):
    """Mix int64 values in [0, 2^31 - 1) into that range: LCG and xorshift rounds."""
    for multiplier in (48_271, 69_621, 16_807):
        values = (values * multiplier + 12_345) % _PRIME
        values = values ^ (values >> 13)
    return values


def row_seeds(x):
    """One integer per row, a hash of the row's float32 values: (batch, n) -> (batch,).

    Equal rows get equal seeds, whatever the other rows, their order or the
    batch they come in.
    """
    bits = x.detach().to(torch.float32).contiguous().view(torch.int32).to(torch.int64)
    position = torch.arange(x.shape[-1], device=x.device) * 7_919
    per_feature = _hash31((bits + position) % _PRIME)  # (batch, n_features)
    return _hash31(per_feature.sum(-1) % _PRIME)


def row_keyed_normal_draws(x, n_draws, latent_dim, seed=0):
    """Standard normal draws of each row's own: (n_draws, batch, latent_dim).

    The draws for a row come from a generator seeded by a hash of that row
    (and ``seed``), so they are deterministic and do not depend on the other
    rows, yet differ between distinct rows: the Monte Carlo error of a
    per-row estimate built on them is independent across rows and averages
    out in a mean over many rows, unlike with draws shared by every row.
    """
    seeds = row_seeds(x).tolist()
    draws = torch.empty((n_draws, len(seeds), latent_dim), dtype=x.dtype, device=x.device)
    for row, row_seed in enumerate(seeds):
        generator = torch.Generator(x.device).manual_seed(row_seed * 1_000_003 + seed)
        draws[:, row] = torch.randn(
            (n_draws, latent_dim), generator=generator, dtype=x.dtype, device=x.device
        )
    return draws


def monte_carlo_log_likelihood(vae, x_standardized, mean, log_var, noise):
    """E_q[log p(x|z)] per row by averaging over given latent draws: (batch,).

    ``z = mean + sigma * noise`` with ``noise`` of shape
    (n_draws, batch or 1, latent_dim); the result is the mean of
    ``log p(x | z)`` over the draws, in the standardised space.
    """
    if noise.shape[0] == 1:  # one draw (a training step): stay 2-d, no average
        noise = noise[0]  # (batch or 1, latent_dim)
    z = vae.reparameterize(mean, log_var, noise)  # ([n_draws,] batch, latent_dim)
    log_likelihood = vae.likelihood.log_prob(x_standardized, vae.decode(z))
    return log_likelihood if noise.dim() == 2 else log_likelihood.mean(0)


def closed_form_log_likelihood(vae, x_standardized, mean, log_var):
    """E_q[log p(x|z)] per row, exactly, for an affine Gaussian decoder: (batch,).

    If the decoder output is ``W z + b`` and ``z ~ N(m, diag(s2))``, it has
    mean ``W m + b`` and per-feature variance ``W^2 s2``.
    """
    weight = vae.decoder.output.weight  # (n_features, latent_dim)
    decoded_mean = vae.decode(mean)  # (batch, n_features)
    decoded_variance = log_var.exp() @ weight.pow(2).T  # (batch, n_features)
    return vae.likelihood.expected_log_prob(x_standardized, decoded_mean, decoded_variance)


def expected_log_likelihood(vae, x_standardized, mean, log_var, noise):
    """E_q[log p(x|z)] per row, in the standardised space: (batch,).

    Exact for an affine decoder with Gaussian noise; otherwise the average
    over the latent draws ``mean + sigma * noise`` with ``noise`` of shape
    (n_draws, batch or 1, latent_dim).
    """
    if vae.has_closed_form_reconstruction:
        return closed_form_log_likelihood(vae, x_standardized, mean, log_var)
    return monte_carlo_log_likelihood(vae, x_standardized, mean, log_var, noise)


def elbo(vae, x, noise, kl_weight=1.0):
    """Per-row evidence lower bound E_q[log p(x|z)] - kl_weight * KL: (batch,)."""
    x_standardized = vae.standardize(x)
    mean, log_var = vae.encoder(x_standardized)
    reconstruction = expected_log_likelihood(vae, x_standardized, mean, log_var, noise)
    return reconstruction - kl_weight * gaussian_kl(mean, log_var) + vae.log_jacobian()


def _log_prob_per_feature(likelihood, x, decoded, decoded_variance=None):
    """log p(x_j | z) feature by feature: (..., n_features).

    ``decoded_variance`` (an affine decoder's output variance under q) turns it
    into the closed-form expectation, as in ``expected_log_prob``. Kept here
    until the likelihoods return per-feature terms themselves; the terms sum
    to ``likelihood.log_prob`` (or ``expected_log_prob``) over the last axis.
    """
    if hasattr(likelihood, "variance"):  # Gaussian
        variance = likelihood.variance()
        squared_error = (x - decoded).pow(2)
        if decoded_variance is not None:
            squared_error = squared_error + decoded_variance
        return -0.5 * (squared_error / variance + variance.log() + _LOG_2PI)
    logits, x = torch.broadcast_tensors(decoded, x)  # Bernoulli
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def elbo_per_feature(vae, x, noise):
    """The ELBO (KL weight 1) split over the features: (batch, n_features).

    Feature j gets its expected reconstruction term E_q[log p(x_j|z)], its
    share of the log-Jacobian, and an equal share KL / n_features of the KL
    term (which belongs to no feature). The row sums equal :func:`elbo`.
    """
    x_standardized = vae.standardize(x)
    mean, log_var = vae.encoder(x_standardized)
    if vae.has_closed_form_reconstruction:
        decoded_variance = log_var.exp() @ vae.decoder.output.weight.pow(2).T
        reconstruction = _log_prob_per_feature(
            vae.likelihood, x_standardized, vae.decode(mean), decoded_variance
        )  # (batch, n_features)
    else:
        z = vae.reparameterize(mean, log_var, noise)  # (n_draws, batch, latent_dim)
        reconstruction = _log_prob_per_feature(vae.likelihood, x_standardized, vae.decode(z))
        reconstruction = reconstruction.mean(0)  # (batch, n_features)
    kl_share = gaussian_kl(mean, log_var).unsqueeze(-1) / x.shape[-1]  # (batch, 1)
    return reconstruction - kl_share - vae.input_scale.log()


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
