"""Torch modules: the MLP encoder and decoder and the VAE that joins them.

The VAE works on raw data: it standardises its input with fixed buffers
(``input_shift``, ``input_scale``) set from the training data, and all
densities it reports are densities of the raw data (the log-Jacobian of the
standardisation is included). Plain PyTorch: no numpy, no scikit-learn.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._likelihoods import GaussianLikelihood, make_likelihood

# Bounds of the posterior log-variance, approached smoothly over the last
# LOG_VAR_MARGIN (see ``bound_log_var``): the identity on [-20, 5].
LOG_VAR_MIN = -30.0
LOG_VAR_MAX = 15.0
LOG_VAR_MARGIN = 10.0

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU}


def _mlp(sizes, activation):
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` after each."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), _ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """q(z | x) = N(mean(x), diag(exp(log_var(x))))."""

    def __init__(self, n_features, hidden_layer_sizes, latent_dim, activation):
        super().__init__()
        sizes = (n_features, *hidden_layer_sizes)
        self.body = _mlp(sizes, activation)
        self.mean = nn.Linear(sizes[-1], latent_dim)
        self.log_var = nn.Linear(sizes[-1], latent_dim)

    def forward(self, x):
        hidden = self.body(x)  # (batch, hidden_layer_sizes[-1] or n_features)
        return self.mean(hidden), self.log_var(hidden)  # 2 x (batch, latent_dim)


class Decoder(nn.Module):
    """The decoder network: z -> raw parameters of p(x | z), one per feature."""

    def __init__(self, latent_dim, hidden_layer_sizes, n_features, activation):
        super().__init__()
        sizes = (latent_dim, *reversed(hidden_layer_sizes))
        self.body = _mlp(sizes, activation)
        self.output = nn.Linear(sizes[-1], n_features)

    @property
    def is_affine(self):
        """True when the decoder is a single linear layer (no hidden layers)."""
        return len(self.body) == 0

    def forward(self, z):
        return self.output(self.body(z))  # (batch, n_features)


class VAE(nn.Module):
    """A variational autoencoder on raw (unstandardised) data.

    Parameters
    ----------
    n_features, latent_dim : int
    hidden_layer_sizes : tuple of int
        Encoder hidden widths; the decoder mirrors them. ``()`` is linear.
    activation : {"relu", "tanh", "elu", "gelu"}
    likelihood : {"gaussian", "bernoulli"}
    min_variance : float
        Floor of the Gaussian decoder variance, in standardised units.
    """

    def __init__(
        self, n_features, latent_dim, hidden_layer_sizes, activation, likelihood, min_variance
    ):
        super().__init__()
        self.encoder = Encoder(n_features, hidden_layer_sizes, latent_dim, activation)
        self.decoder = Decoder(latent_dim, hidden_layer_sizes, n_features, activation)
        self.likelihood = make_likelihood(likelihood, n_features, min_variance)
        self.register_buffer("input_shift", torch.zeros(n_features))
        self.register_buffer("input_scale", torch.ones(n_features))

    @property
    def latent_dim(self):
        return self.encoder.mean.out_features

    @property
    def hidden_widths(self):
        """Widths of the encoder's hidden layers (empty for a linear VAE)."""
        return tuple(m.out_features for m in self.encoder.body if isinstance(m, nn.Linear))

    @property
    def has_closed_form_reconstruction(self):
        """E_q[log p(x|z)] is exact for an affine decoder with Gaussian noise."""
        return self.decoder.is_affine and isinstance(self.likelihood, GaussianLikelihood)

    def standardize(self, x):
        return (x - self.input_shift) / self.input_scale

    def log_jacobian(self):
        """log |d x_standardised / d x|, added to every density of raw x."""
        return -self.input_scale.log().sum()

    def encode(self, x):
        """Posterior mean and log-variance for raw ``x``: 2 x (batch, latent_dim).

        The log-variance is bounded smoothly to (LOG_VAR_MIN, LOG_VAR_MAX)
        (``bound_log_var``; unchanged on [-20, 5]), so that a row far from
        the training data cannot give exp(log_var) = inf and, from it, an
        infinite or NaN score.
        """
        mean, log_var = self.encoder(self.standardize(x))
        return mean, bound_log_var(log_var)

    @staticmethod
    def reparameterize(mean, log_var, noise):
        """z = mean + sigma * noise; ``noise`` broadcasts against ``mean``."""
        return mean + (0.5 * log_var).exp() * noise

    def decode(self, z):
        """Decoder output (standardised space) for latent codes ``z``."""
        return self.decoder(z)

    def decode_mean(self, z):
        """E[x | z] in the raw data space."""
        return self.likelihood.mean(self.decode(z)) * self.input_scale + self.input_shift

    def decode_sample(self, z, generator):
        """One draw x ~ p(x | z) in the raw data space."""
        sample = self.likelihood.sample(self.decode(z), generator)
        return sample * self.input_scale + self.input_shift


def bound_log_var(log_var, low=LOG_VAR_MIN, high=LOG_VAR_MAX, margin=LOG_VAR_MARGIN):
    """Smooth clamp of ``log_var`` to (low, high): the identity inside ``margin`` of them.

    Within [low + margin, high - margin] the value is returned unchanged
    (bit for bit); beyond, it bends towards the bound along a tanh that
    meets the identity with equal value, slope and curvature. exp(log_var)
    then stays finite in float32 for any input, however far from the
    training data, and the gradient never vanishes abruptly.
    """
    upper, lower = high - margin, low + margin
    above = upper + margin * torch.tanh((log_var - upper) / margin)
    below = lower + margin * torch.tanh((log_var - lower) / margin)
    return torch.where(log_var > upper, above, torch.where(log_var < lower, below, log_var))


def reset_parameters(module, generator):
    """Initialise every Linear layer as PyTorch does, but from ``generator``.

    Uses the same scheme as ``nn.Linear.reset_parameters`` (Kaiming-uniform
    weights, uniform biases) so that a seeded generator, not the global RNG,
    decides the initial weights.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            bound = 1.0 / math.sqrt(layer.in_features)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
        elif isinstance(layer, GaussianLikelihood):
            nn.init.zeros_(layer.log_excess_variance)
