"""Priors p(z) over the latent space: the fourth part of the VAE.

A prior gives ``log_prob(z)`` summed over the latent dimensions, ``kl`` (the
closed-form KL divergence from a diagonal Gaussian posterior, or None where
there is none) and, for a prior that factorises over the dimensions,
``kl_per_dimension``, ``sample``, the marginal ``quantile`` of each dimension (for
the manifold picture), and ``reset_parameters(generator)``, as scvi-tools
keeps its priors as classes (``module/base/_priors.py``). N(0, I) is the only
prior today; a mixture prior is one more class here. Plain PyTorch: no
numpy, no scikit-learn.
"""

import math

import torch
from torch import nn

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_kl_per_dimension(mean, log_var):
    """KL(N(mean, diag(exp(log_var))) || N(0, I)) per row and dimension: (batch, d).

    Closed form from Kingma & Welling (2013), appendix B; N(0, I) factorises,
    so the KL is the sum of one term per latent dimension.
    """
    return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var)


def gaussian_kl(mean, log_var):
    """KL(N(mean, diag(exp(log_var))) || N(0, I)) per row: (batch, d) -> (batch,)."""
    return gaussian_kl_per_dimension(mean, log_var).sum(-1)


class StandardNormalPrior(nn.Module):
    """p(z) = N(0, I) over ``latent_dim`` dimensions; no parameters.

    Examples
    --------
    >>> import torch
    >>> prior = StandardNormalPrior(2)
    >>> round(prior.log_prob(torch.zeros(2)).item(), 4)  # -log(2 pi) at the origin
    -1.8379
    >>> prior.quantile(torch.tensor([0.5], dtype=torch.float64)).tolist()
    [0.0]
    """

    def __init__(self, latent_dim):
        super().__init__()
        self.latent_dim = latent_dim

    def reset_parameters(self, generator=None):
        """Nothing to initialise: N(0, I) has no parameters."""

    def log_prob(self, z):
        """log p(z), summed over the latent dimensions: (..., latent_dim) -> (...,)."""
        return -0.5 * (z.pow(2) + _LOG_2PI).sum(-1)

    def kl(self, mean, log_var):
        """KL(q || p) in closed form for q = N(mean, diag(exp(log_var))): (batch,)."""
        return gaussian_kl(mean, log_var)

    def kl_per_dimension(self, mean, log_var):
        """The closed-form KL split over the latent dimensions: (batch, latent_dim)."""
        return gaussian_kl_per_dimension(mean, log_var)

    def sample(self, n_samples, generator, device="cpu", dtype=torch.float32):
        """``n_samples`` draws z ~ p(z): (n_samples, latent_dim)."""
        return torch.randn(
            (n_samples, self.latent_dim), generator=generator, device=device, dtype=dtype
        )

    def quantile(self, probabilities):
        """The marginal quantile function of every latent dimension at ``probabilities``."""
        return torch.special.ndtri(probabilities)
