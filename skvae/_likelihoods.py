"""Decoder distributions p(x | z), chosen by name.

Each likelihood turns the decoder's raw output (one value per feature) into a
distribution over the data, in the standardised space the network works in.
Log-probabilities are returned per feature, shape ``(..., n_features)``: the
objective sums them once, which is where a feature mask or a per-feature
explanation of a score plugs in. Each likelihood initialises its own
parameters with ``reset_parameters(generator)``. Plain PyTorch: no numpy, no
scikit-learn.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

_LOG_2PI = math.log(2.0 * math.pi)


class GaussianLikelihood(nn.Module):
    """Diagonal Gaussian with a learned per-feature variance and a floor.

    The variance is ``min_variance + exp(log_excess_variance)``, so it never
    drops below ``min_variance`` however hard the optimiser pushes: this keeps
    the density finite on features that are (nearly) constant in training.
    For images given as flat rows, every pixel is a feature with its own
    variance.
    """

    def __init__(self, n_features, min_variance):
        super().__init__()
        self.min_variance = float(min_variance)
        self.log_excess_variance = nn.Parameter(torch.zeros(n_features))

    def reset_parameters(self, generator=None):
        """Start every feature at variance ``min_variance + 1`` (no randomness)."""
        with torch.no_grad():
            self.log_excess_variance.zero_()

    def variance(self):
        """Per-feature observation variance, shape ``(n_features,)``."""
        return self.min_variance + self.log_excess_variance.exp()

    def log_prob(self, x, decoded):
        """Per-feature log-density: ``(..., n_features)``, broadcast over ``x`` and ``decoded``."""
        variance = self.variance()
        return -0.5 * ((x - decoded).pow(2) / variance + variance.log() + _LOG_2PI)

    def expected_log_prob(self, x, decoded_mean, decoded_variance):
        """Per-feature E_q[log p(x|z)] for a decoder affine in z: ``(..., n_features)``.

        If the decoder output is ``W z + b`` and ``z ~ N(m, diag(s2))``, the
        output has mean ``W m + b`` and per-feature variance ``W^2 s2``, and
        E[(x - W z - b)^2] = (x - W m - b)^2 + W^2 s2, which gives the
        expectation in closed form with no sampling error.
        """
        variance = self.variance()
        squared_error = (x - decoded_mean).pow(2) + decoded_variance
        return -0.5 * (squared_error / variance + variance.log() + _LOG_2PI)

    def mean(self, decoded):
        """The mean of p(x|z)."""
        return decoded

    def sample(self, decoded, generator):
        """One draw from p(x|z)."""
        noise = torch.randn(
            decoded.shape, generator=generator, device=decoded.device, dtype=decoded.dtype
        )
        return decoded + noise * self.variance().sqrt()


class BernoulliLikelihood(nn.Module):
    """Independent Bernoulli per feature; the decoder outputs logits.

    For values strictly between 0 and 1 this is the usual cross-entropy
    reconstruction term (not a normalised density on [0, 1]).
    """

    def reset_parameters(self, generator=None):
        """Nothing to initialise: the Bernoulli likelihood has no parameters."""

    def log_prob(self, x, decoded):
        """Per-feature log-probability: ``(..., n_features)``."""
        logits, x = torch.broadcast_tensors(decoded, x)
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none")

    def mean(self, decoded):
        """The mean of p(x|z): the success probabilities."""
        return torch.sigmoid(decoded)

    def sample(self, decoded, generator):
        """One draw from p(x|z), values in {0, 1}."""
        return torch.bernoulli(torch.sigmoid(decoded), generator=generator)


def make_likelihood(name, n_features, min_variance):
    """Build the decoder distribution called ``name``."""
    if name == "gaussian":
        return GaussianLikelihood(n_features, min_variance)
    if name == "bernoulli":
        return BernoulliLikelihood()
    raise ValueError(f"Unknown likelihood {name!r}; expected 'gaussian' or 'bernoulli'.")
