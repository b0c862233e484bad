"""The VAE objective: per-draw log-weights, the ELBO and the importance-weighted bound.

All functions take a batch of raw data (a :class:`~skvae._batch.Batch`, or a
tensor of its values) of shape (batch, n_features), and return one value per
row (or per row and feature), in nats, as a density of the raw data. Only the
parts' methods are called: the likelihood's ``transform``, ``log_prob`` and
``expected_log_prob``, the prior's ``log_prob`` and ``kl``, and the VAE's
``encode``, ``reparameterize`` and ``decode``. A mask in the batch (0 where a
value is missing) leaves those entries out of every term. Plain PyTorch: no
numpy, no scikit-learn.

The core is :func:`log_weights`, per draw z_k = mean + sigma * noise_k::

    log p(x | z_k) + kl_weight * (log p(z_k) - log q(z_k | x))

The importance-weighted bound is its log-mean-exp over the draws. The ELBO
is its mean, with two exact shortcuts where the parts offer them: the
prior's closed-form KL, and the closed-form reconstruction term of an affine
decoder with a Gaussian likelihood.
"""

import math

import torch

from ._batch import as_batch

_LOG_2PI = math.log(2.0 * math.pi)


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


_MASK32 = 0xFFFFFFFF


def _hash32(values):
    """Mix 32-bit values held in int64: ``lowbias32`` (C. Wellons' hash prospector).

    A bijection on [0, 2^32) with good avalanche. Every product stays below
    2^63 (the second multiplier is split into 16-bit halves), so int64
    arithmetic never overflows, on any device. Works in place on ``values``.
    """
    values.bitwise_xor_(values >> 16)
    values.mul_(0x7FEB352D).bitwise_and_(_MASK32)
    values.bitwise_xor_(values >> 15)
    high = (values * 0x846C).bitwise_and_(0xFFFF).bitwise_left_shift_(16)
    values.mul_(0xA68B).add_(high).bitwise_and_(_MASK32)
    values.bitwise_xor_(values >> 16)
    return values


def row_seeds(x, seed=0):
    """One 32-bit key per row, a hash of the row's float32 values: (batch, n) -> (batch,).

    Equal rows get equal keys, whatever the other rows, their order or the
    batch they come in; changing any value changes the key.
    """
    bits = x.detach().to(torch.float32).contiguous().view(torch.int32).to(torch.int64)
    position = _hash32(torch.arange(x.shape[-1], device=x.device, dtype=torch.int64) + seed)
    per_feature = _hash32(bits.bitwise_and_(_MASK32).bitwise_xor_(position))  # (batch, n)
    return _hash32(per_feature.sum(-1).bitwise_and_(_MASK32))


def row_keyed_normal_draws(x, n_draws, latent_dim, seed=0):
    """Standard normal draws of each row's own: (n_draws, batch, latent_dim).

    A counter-based generator, vectorised over rows and draws: value number
    ``i`` of a row is built from two uniforms, hashes of (the row's key,
    ``2i``) and (key, ``2i + 1``), by Box-Muller (both its cosine and sine
    outputs are used). The row's key is a hash of its values and ``seed``
    (``row_seeds``). The draws are therefore deterministic and do not depend
    on the other rows, their order or the batch, bit for bit, yet differ
    between distinct rows: the Monte Carlo error of a per-row estimate built
    on them is independent across rows and averages out in a mean over many
    rows, unlike with draws shared by every row.
    """
    n_values = n_draws * latent_dim
    n_pairs = (n_values + 1) // 2
    counters = _hash32(torch.arange(2 * n_pairs, device=x.device, dtype=torch.int64))
    keys = row_seeds(x, seed)  # (batch,)
    bits = _hash32(keys[:, None] ^ counters)  # (batch, 2 * n_pairs)
    uniforms = bits.to(torch.float64).add_(0.5).mul_(2.0**-32)  # in (0, 1)
    radius = uniforms[:, 0::2].log().mul_(-2.0).sqrt_()  # (batch, n_pairs)
    angle = uniforms[:, 1::2].mul(2.0 * math.pi)
    normal = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], -1)
    normal = normal.reshape(x.shape[0], 2 * n_pairs)[:, :n_values].to(x.dtype)
    return normal.reshape(x.shape[0], n_draws, latent_dim).transpose(0, 1)


def _encoded(vae, data):
    """The batch, its transformed values and the posterior: (batch, x_t, mean, log_var)."""
    batch = as_batch(data)
    x_t = vae.likelihood.transform(batch.values)
    mean, log_var = vae.encode_transformed(x_t, batch.mask)
    return batch, x_t, mean, log_var


def posterior_log_prob(noise, log_var):
    """log q(z | x) at z = mean + sigma * noise, from the standard draw ``noise``: (...,)."""
    return -0.5 * (noise.pow(2) + _LOG_2PI + log_var).sum(-1)


def draw_log_weights(vae, x_t, mean, log_var, noise, kl_weight=1.0, mask=None):
    """Per-draw log-weights for transformed values ``x_t``: (n_draws, batch).

    ``log p(x | z_k)`` summed over the observed columns, plus ``kl_weight``
    times ``log p(z_k) - log q(z_k | x)``, for z_k = mean + sigma * noise_k
    and ``noise`` of shape (n_draws, batch or 1, latent_dim).
    """
    return _decoded_log_weights(vae, x_t, mean, log_var, noise, kl_weight, mask)[1]


def _decoded_log_weights(vae, x_t, mean, log_var, noise, kl_weight, mask):
    """The decoder outputs of the draws, and their log-weights (see :func:`draw_log_weights`)."""
    z = vae.reparameterize(mean, log_var, noise)  # (n_draws, batch, latent_dim)
    decoded = vae.decode(z)  # (n_draws, batch, n_outputs)
    log_likelihood = vae.likelihood.log_prob(x_t, decoded, mask).sum(-1)
    log_prior = vae.prior.log_prob(z)
    log_posterior = posterior_log_prob(noise, log_var)
    return decoded, log_likelihood + kl_weight * log_prior - kl_weight * log_posterior


def log_weights(vae, data, noise, kl_weight=1.0, return_decoded=False):
    """Per-draw log-weights log p(x, z_k)/q(z_k|x) (KL part times ``kl_weight``): (K, batch).

    The importance weights of the K draws ``mean + sigma * noise`` for each
    row, for callers that resample by them (an imputer's sampling
    importance resampling) or average them in their own way. With a mask
    in the batch, p(x, z_k) is the joint of the observed values only. With
    ``return_decoded``, returns ``(decoded, log_weights)``: the decoder's
    outputs for the K draws, (K, batch, n_outputs), come with them.
    """
    batch, x_t, mean, log_var = _encoded(vae, data)
    decoded, weights = _decoded_log_weights(
        vae, x_t, mean, log_var, noise, kl_weight, batch.mask
    )
    return (decoded, weights) if return_decoded else weights


def self_masking_log_weights(vae, data, noise, kl_weight=1.0):
    """Per-draw log-weights with the mask modelled, and the completed rows (not-MIWAE).

    For a VAE with a model of the mask, ``vae.missingness`` (p(s | x), see
    ``_missingness``), each draw k takes z_k from q(z | x_observed) and the
    missing values x_m,k from p(x_m | z_k), and weighs the pair by

        log p(x_observed | z_k) + log p(s | x_observed, x_m,k)
        + kl_weight * (log p(z_k) - log q(z_k | x_observed)),

    the importance weight of not-MIWAE (Ipsen, Mattei & Frellsen, 2021),
    whose log-mean-exp is a lower bound on log p(x_observed, s): the
    likelihood of the observed values and of which values are missing.
    ``noise`` has shape (K, batch or 1, latent_dim + n_columns): the first
    ``latent_dim`` values of each draw give z, the others the
    missing values (reparameterised: the decoder learns from the mask
    model's term too). Noise of ``latent_dim`` values per draw only (the
    fixed scoring draws of validation) puts the missing values at their
    decoded means. Returns ``(completed, log_weights)``: the rows with
    their missing values drawn, (K, batch, n_columns) in the likelihood's
    working space, and (K, batch).
    """
    batch, x_t, mean, log_var = _encoded(vae, data)
    z_noise, value_noise = noise[..., : vae.latent_dim], noise[..., vae.latent_dim :]
    if value_noise.shape[-1] == 0:
        value_noise = torch.zeros((), dtype=noise.dtype, device=noise.device)
    decoded, weights = _decoded_log_weights(
        vae, x_t, mean, log_var, z_noise, kl_weight, batch.mask
    )
    drawn = vae.likelihood.draw_transformed(decoded, value_noise)
    mask = torch.ones_like(x_t) if batch.mask is None else batch.mask  # None: all observed
    completed = torch.where(mask != 0, x_t, drawn)
    return completed, weights + vae.missingness.log_prob(completed, mask)


class SelfMaskingObjective:
    """The importance-weighted bound on log p(x_observed, s) as a training objective.

    As :class:`ImportanceWeightedObjective`, with the weights of
    :func:`self_masking_log_weights`. ``draws_values`` tells the training
    loop that each draw needs ``n_columns`` more standard normal values,
    for the missing values, after its ``latent_dim`` for z.
    """

    draws_values = True

    def __init__(self, n_draws):
        self.n_draws = n_draws

    def __call__(self, vae, data, noise, kl_weight=1.0):
        weights = self_masking_log_weights(vae, data, noise, kl_weight)[1]  # (K, batch)
        return torch.logsumexp(weights, dim=0) - math.log(weights.shape[0])


def monte_carlo_log_likelihood_per_feature(vae, x_t, mean, log_var, noise, mask=None):
    """E_q[log p(x_j|z)] per row and feature, averaged over given draws: (batch, n_features).

    ``z = mean + sigma * noise`` with ``noise`` of shape
    (n_draws, batch or 1, latent_dim); the result is the mean of the
    per-feature ``log p(x_j | z)`` over the draws, for the transformed
    values ``x_t`` (``vae.likelihood.transform(x)``).
    """
    if noise.shape[0] == 1:  # one draw (a training step): stay 2-d, no average
        noise = noise[0]  # (batch or 1, latent_dim)
    z = vae.reparameterize(mean, log_var, noise)  # ([n_draws,] batch, latent_dim)
    log_likelihood = vae.likelihood.log_prob(x_t, vae.decode(z), mask)
    return log_likelihood if noise.dim() == 2 else log_likelihood.mean(0)


def closed_form_log_likelihood_per_feature(vae, x_t, mean, log_var, mask=None):
    """E_q[log p(x_j|z)] per row and feature, exactly, for an affine Gaussian decoder.

    If the decoder output is ``W z + b`` and ``z ~ N(m, diag(s2))``, it has
    mean ``W m + b`` and per-output variance ``W^2 s2``. Returns
    (batch, n_features).
    """
    weight = vae.affine_weight()  # (n_outputs, latent_dim)
    decoded_mean = vae.decode(mean)  # (batch, n_outputs)
    decoded_variance = log_var.exp() @ weight.pow(2).T  # (batch, n_outputs)
    return vae.likelihood.expected_log_prob(x_t, decoded_mean, decoded_variance, mask)


def expected_log_likelihood_per_feature(vae, x_t, mean, log_var, noise, mask=None):
    """The reconstruction term E_q[log p(x_j|z)] per row and feature: (batch, n_features).

    Exact for an affine decoder with Gaussian noise; otherwise the average
    over the latent draws ``mean + sigma * noise`` with ``noise`` of shape
    (n_draws, batch or 1, latent_dim). Its sum over features is the ELBO's
    reconstruction term; a per-feature explanation of the score works on it
    before that sum.
    """
    if vae.has_closed_form_reconstruction:
        return closed_form_log_likelihood_per_feature(vae, x_t, mean, log_var, mask)
    return monte_carlo_log_likelihood_per_feature(vae, x_t, mean, log_var, noise, mask)


def monte_carlo_log_likelihood(vae, x_t, mean, log_var, noise, mask=None):
    """:func:`monte_carlo_log_likelihood_per_feature` summed over features: (batch,)."""
    return monte_carlo_log_likelihood_per_feature(vae, x_t, mean, log_var, noise, mask).sum(-1)


def closed_form_log_likelihood(vae, x_t, mean, log_var, mask=None):
    """:func:`closed_form_log_likelihood_per_feature` summed over features: (batch,)."""
    return closed_form_log_likelihood_per_feature(vae, x_t, mean, log_var, mask).sum(-1)


def expected_log_likelihood(vae, x_t, mean, log_var, noise, mask=None):
    """E_q[log p(x|z)] per row: (batch,), the sum of the per-feature terms."""
    return expected_log_likelihood_per_feature(vae, x_t, mean, log_var, noise, mask).sum(-1)


def kl_term(vae, mean, log_var, noise):
    """KL(q(z|x) || p(z)) per row: the prior's closed form, else the average over the draws."""
    if callable(getattr(vae.prior, "kl", None)):
        return vae.prior.kl(mean, log_var)
    z = vae.reparameterize(mean, log_var, noise)  # (n_draws, batch, latent_dim)
    return (posterior_log_prob(noise, log_var) - vae.prior.log_prob(z)).mean(0)


def kl_term_per_dimension(vae, mean, log_var):
    """The KL per row and latent dimension, (batch, latent_dim), or None.

    None when the prior gives no closed form that factorises over the
    dimensions; the per-dimension KL is how much each dimension is used (an
    unused, "collapsed" one has a KL near 0).
    """
    split = getattr(vae.prior, "kl_per_dimension", None)
    return split(mean, log_var) if callable(split) else None


def elbo_terms(vae, data, noise, kl_weight=1.0):
    """The ELBO with its parts, per row: a dict of tensors.

    ``"objective"``: E_q[log p(x|z)] - kl_weight * KL, as :func:`elbo`
    (bit for bit); ``"reconstruction"``: E_q[log p(x|z)]; ``"kl"``: the KL
    (weight 1); ``"kl_per_dimension"``: the KL per latent dimension, or
    None (see :func:`kl_term_per_dimension`). The training loop records the
    parts as fitted curves when an objective returns such a dict.
    """
    batch, x_t, mean, log_var = _encoded(vae, data)
    reconstruction = expected_log_likelihood(vae, x_t, mean, log_var, noise, batch.mask)
    per_dimension = kl_term_per_dimension(vae, mean, log_var)
    kl = per_dimension.sum(-1) if per_dimension is not None else kl_term(vae, mean, log_var, noise)
    return {
        "objective": reconstruction - kl_weight * kl,
        "reconstruction": reconstruction,
        "kl": kl,
        "kl_per_dimension": per_dimension,
    }


def elbo(vae, data, noise, kl_weight=1.0):
    """Per-row evidence lower bound E_q[log p(x|z)] - kl_weight * KL: (batch,).

    The mean of :func:`log_weights` over the draws, with the closed forms of
    the KL and of the reconstruction term used where the parts have them.
    """
    batch, x_t, mean, log_var = _encoded(vae, data)
    reconstruction = expected_log_likelihood(vae, x_t, mean, log_var, noise, batch.mask)
    return reconstruction - kl_weight * kl_term(vae, mean, log_var, noise)


def elbo_per_feature(vae, data, noise):
    """The ELBO (KL weight 1) split over the features: (batch, n_features).

    Feature j gets its expected reconstruction term E_q[log p(x_j|z)] (with
    its share of the log-Jacobian of the likelihood's transform) and an
    equal share KL / n_features of the KL term, which belongs to no feature.
    With a mask, a missing feature gets 0 and the KL is shared among the
    observed ones. The row sums equal :func:`elbo`, up to rounding (but for
    a row with nothing observed, whose terms are all 0).
    """
    batch, x_t, mean, log_var = _encoded(vae, data)
    reconstruction = expected_log_likelihood_per_feature(
        vae, x_t, mean, log_var, noise, batch.mask
    )  # (batch, n_features)
    kl = kl_term(vae, mean, log_var, noise).unsqueeze(-1)  # (batch, 1)
    if batch.mask is None:
        return reconstruction - kl / reconstruction.shape[-1]
    n_observed = batch.mask.sum(-1, keepdim=True).clamp_min(1.0)  # (batch, 1)
    return reconstruction - batch.mask * (kl / n_observed)


def importance_weighted_bound(vae, data, noise, chunk_size=64):
    """Importance-weighted bound of Burda et al. (2016) per row: (batch,).

    log (1/K) sum_k p(x, z_k) / q(z_k | x), the log-mean-exp of
    :func:`log_weights`, for ``noise`` of shape (K, 1 or batch, latent_dim).
    It equals the ELBO's Monte Carlo estimate for K = 1 and rises towards
    log p(x) as K grows. The K draws are processed ``chunk_size`` at a time
    with a running logsumexp.
    """
    batch, x_t, mean, log_var = _encoded(vae, data)
    total = None
    for start in range(0, noise.shape[0], chunk_size):
        eps = noise[start : start + chunk_size]  # (k, 1 or batch, latent_dim)
        weights = draw_log_weights(vae, x_t, mean, log_var, eps, 1.0, batch.mask)  # (k, batch)
        chunk = torch.logsumexp(weights, dim=0)
        total = chunk if total is None else torch.logaddexp(total, chunk)
    return total - math.log(noise.shape[0])


class ImportanceWeightedObjective:
    """The importance-weighted bound as a training objective, with its K draws per row.

    Called as ``objective(vae, data, noise, kl_weight)`` with ``noise`` of
    shape (K, batch, latent_dim), it returns the log-mean-exp over the K
    draws of :func:`log_weights` (KL part times ``kl_weight``), per row:
    the bound that IWAE (Burda et al., 2016) and MIWAE (Mattei & Frellsen,
    2019, with K = 20) maximise. ``n_draws`` tells the training loop how
    many draws each row needs; with K = 1 it is the one-draw ELBO.
    """

    def __init__(self, n_draws):
        self.n_draws = n_draws

    def __call__(self, vae, data, noise, kl_weight=1.0):
        weights = log_weights(vae, data, noise, kl_weight)  # (K, batch)
        return torch.logsumexp(weights, dim=0) - math.log(weights.shape[0])
