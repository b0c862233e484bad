"""Missing values from a fitted VAE: p(x_missing | x_observed) by importance sampling.

For a row with a mask, the encoder gives q(z | x_observed) and K draws
z_k = mean + sigma * noise_k. Their self-normalised importance weights

    w_k = softmax_k( log p(x_observed | z_k) + log p(z_k) - log q(z_k | x_observed) )

(``_objective.log_weights``) make the draws a weighted sample of the
posterior p(z | x_observed), and through the decoder one of
p(x_missing | x_observed), as in MIWAE (Mattei & Frellsen, 2019):

* :func:`conditional_mean`: ``sum_k w_k E[x | z_k]``, the single imputation;
  consistent as K grows (for a categorical column, the most probable
  category under ``sum_k w_k p(x | z_k)`` instead);
* :func:`conditional_sample`: sampling importance resampling, one z_k per
  row drawn by its weight, then x ~ p(x | z_k): a draw from (an
  approximation of) p(x_missing | x_observed), for multiple imputation.

With a model of the mask (``vae.missingness``, for data missing not at
random) each draw also draws the missing values, and its weight includes
log p(s | x) (not-MIWAE, Ipsen, Mattei & Frellsen, 2021; see
``_objective.self_masking_log_weights``).

Both return every column, in the raw space; the caller keeps the observed
values. Plain PyTorch: no numpy, no scikit-learn.
"""

import torch

from ._objective import log_weights, self_masking_log_weights


def noise_width(vae):
    """Standard normal values per draw: z's, and the missing values' with a mask model."""
    if vae.missingness is None:
        return vae.latent_dim
    return vae.latent_dim + vae.n_features


def _weighted_draws(vae, batch, noise):
    """Decoder outputs of the K draws, (K, batch, n_outputs), and their normalised weights."""
    decoded, weights = log_weights(vae, batch, noise, return_decoded=True)
    return decoded, torch.softmax(weights, dim=0)


def _weighted_completions(vae, batch, noise):
    """With a mask model: the K completed rows (raw space) and their normalised weights."""
    completed, weights = self_masking_log_weights(vae, batch, noise)
    return vae.likelihood.inverse_transform(completed), torch.softmax(weights, dim=0)


def conditional_mean(vae, batch, noise):
    """Self-normalised importance-weighted E[x | x_observed]: (batch, n_columns).

    ``noise`` has shape (K, batch or 1, :func:`noise_width`). With a model
    of the mask (``vae.missingness``) the draws are of (z, x_missing) and the
    weights include p(s | x): the mean is that of p(x_missing | x_observed, s).
    """
    if vae.missingness is not None:
        completed, weights = _weighted_completions(vae, batch, noise)
        return (weights.unsqueeze(-1) * completed).sum(0)
    decoded, weights = _weighted_draws(vae, batch, noise)
    return vae.likelihood.weighted_mean(decoded, weights)


def conditional_sample(vae, batch, noise, generator):
    """One draw of x given x_observed per row, by sampling importance resampling.

    Each row picks one of its K latent draws with probability its
    normalised weight, and x is drawn from p(x | z) at it: (batch, n_columns).
    With a model of the mask, the K draws already hold missing values, and
    the chosen one is the draw.
    """
    if vae.missingness is not None:
        completed, weights = _weighted_completions(vae, batch, noise)
        chosen = torch.multinomial(weights.T, 1, generator=generator).squeeze(1)
        return completed[chosen, torch.arange(completed.shape[1], device=completed.device)]
    decoded, weights = _weighted_draws(vae, batch, noise)
    chosen = torch.multinomial(weights.T, 1, generator=generator).squeeze(1)  # (batch,)
    rows = torch.arange(decoded.shape[1], device=decoded.device)
    return vae.likelihood.sample(decoded[chosen, rows], generator)  # (batch, n_columns)
