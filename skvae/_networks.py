"""Torch modules: encoders and decoders (MLP and convolutional) and the VAE.

The VAE composes four parts with a small contract:

* an **encoder**, ``forward(encoder_input) -> (mean, log_var)``, each of shape
  ``(..., latent_dim)``;
* a **decoder**, ``forward(z) -> (..., n_outputs)``, the raw parameters of
  p(x | z), and ``affine_weight()``, the matrix W of ``W z + b`` when the
  decoder is affine (else None);
* a **likelihood** (see ``_likelihoods``): it owns the transform of the raw
  data into the encoder's input (the Gaussian's standardisation), gives
  per-column log-probabilities of the raw data, and declares the widths
  ``n_inputs`` and ``n_outputs`` that the encoder and decoder are built with;
* a **prior** p(z) (see ``_priors``).

Encoder and decoder carry ``n_features`` (their input and output widths) and
``latent_dim`` and report ``activation_elements_per_row()``, the widest
intermediate tensor per row, so that inference can bound its memory. Each
part initialises every parameter it owns with ``reset_parameters(generator)``;
the VAE refuses any parameter none of them owns, so a network built on the
meta device and moved with ``to_empty`` never keeps uninitialised memory.
All densities the VAE reports are densities of the raw data. Plain PyTorch:
no numpy, no scikit-learn.
"""

import math

import torch
from torch import nn

from ._likelihoods import CompositeLikelihood, make_likelihood
from ._priors import StandardNormalPrior

# Bounds of the posterior log-variance, approached smoothly over the last
# LOG_VAR_MARGIN (see ``bound_log_var``): the identity on [-20, 5].
LOG_VAR_MIN = -30.0
LOG_VAR_MAX = 15.0
LOG_VAR_MARGIN = 10.0

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU}
# Layers whose own reset_parameters scheme init_parameters reproduces.
_INITIALISABLE = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
# Output channels of the strided convolutions of ConvEncoder; ConvDecoder
# mirrors them (as in the Keras MNIST VAE example).
CONV_CHANNELS = (32, 64)


def init_parameters(module, generator):
    """Initialise every parameter of ``module`` as PyTorch does, but from ``generator``.

    Linear and convolution layers (plain or transposed) get the scheme of
    their own ``reset_parameters`` (Kaiming-uniform weights, uniform biases
    of bound ``1 / sqrt(fan_in)``), in the order the layers were registered,
    so that a seeded generator, not the global RNG, decides the weights. Any
    other layer that holds parameters is refused: it would otherwise keep
    whatever memory it was allocated with.
    """
    for name, layer in module.named_modules():
        if next(layer.parameters(recurse=False), None) is None:
            continue
        if not isinstance(layer, _INITIALISABLE):
            raise TypeError(
                f"init_parameters does not know how to initialise "
                f"{type(layer).__name__} layer {name!r} of {type(module).__name__}; "
                "give the module a reset_parameters(generator) of its own."
            )
        weight = layer.weight
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
        if layer.bias is not None:
            fan_in = weight.shape[1] * math.prod(weight.shape[2:])
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


def _mlp(sizes, activation):
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` after each."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), _ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """q(z | x) = N(mean(x), diag(exp(log_var(x)))) from fully connected layers."""

    def __init__(self, n_features, hidden_layer_sizes, latent_dim, activation):
        super().__init__()
        self.n_features, self.latent_dim = n_features, latent_dim
        sizes = (n_features, *hidden_layer_sizes)
        self.body = _mlp(sizes, activation)
        self.mean = nn.Linear(sizes[-1], latent_dim)
        self.log_var = nn.Linear(sizes[-1], latent_dim)

    def reset_parameters(self, generator):
        init_parameters(self, generator)

    def activation_elements_per_row(self):
        widths = [m.out_features for m in self.body if isinstance(m, nn.Linear)]
        return max(self.n_features, self.latent_dim, *widths)

    def forward(self, x):
        hidden = self.body(x)  # (batch, hidden_layer_sizes[-1] or n_features)
        return self.mean(hidden), self.log_var(hidden)  # 2 x (batch, latent_dim)


class MLPDecoder(nn.Module):
    """z -> raw parameters of p(x | z), one per feature, from fully connected layers."""

    def __init__(self, latent_dim, hidden_layer_sizes, n_features, activation):
        super().__init__()
        self.n_features, self.latent_dim = n_features, latent_dim
        sizes = (latent_dim, *reversed(hidden_layer_sizes))
        self.body = _mlp(sizes, activation)
        self.output = nn.Linear(sizes[-1], n_features)

    def reset_parameters(self, generator):
        init_parameters(self, generator)

    def activation_elements_per_row(self):
        widths = [m.out_features for m in self.body if isinstance(m, nn.Linear)]
        return max(self.n_features, self.latent_dim, *widths)

    def affine_weight(self):
        """W of shape (n_features, latent_dim) if the decoder is ``W z + b``, else None."""
        return self.output.weight if len(self.body) == 0 else None

    def forward(self, z):
        return self.output(self.body(z))  # (batch, n_features)


def _halved(size):
    """Output size of a 3x3 convolution with stride 2 and padding 1: ceil(size / 2)."""
    return (size + 1) // 2


def _conv_grid(image_shape, n_layers):
    """Spatial sizes [(height, width), ...] from the image down through ``n_layers`` strides."""
    _, height, width = image_shape
    grid = [(height, width)]
    for _ in range(n_layers):
        grid.append((_halved(grid[-1][0]), _halved(grid[-1][1])))
    return grid


class ConvEncoder(nn.Module):
    """q(z | x) from strided convolutions over images given as flat rows.

    Each row is read as an image of ``image_shape = (channels, height,
    width)`` (C order, as ``images.reshape(n, -1)`` flattens it). Two 3x3
    convolutions of stride 2 (32 then 64 channels) halve the height and width
    twice, rounding up; the feature map is flattened and passes through
    fully connected layers of widths ``hidden_layer_sizes`` (none for ``()``)
    to the posterior mean and log-variance.
    """

    def __init__(self, image_shape, hidden_layer_sizes, latent_dim, activation):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.n_features, self.latent_dim = math.prod(image_shape), latent_dim
        self._grid = _conv_grid(image_shape, len(CONV_CHANNELS))
        layers = []
        for n_in, n_out in zip((image_shape[0], *CONV_CHANNELS[:-1]), CONV_CHANNELS):
            layers += [nn.Conv2d(n_in, n_out, 3, stride=2, padding=1), _ACTIVATIONS[activation]()]
        self.convs = nn.Sequential(*layers)
        sizes = (CONV_CHANNELS[-1] * math.prod(self._grid[-1]), *hidden_layer_sizes)
        self.body = _mlp(sizes, activation)
        self.mean = nn.Linear(sizes[-1], latent_dim)
        self.log_var = nn.Linear(sizes[-1], latent_dim)

    def reset_parameters(self, generator):
        init_parameters(self, generator)

    def activation_elements_per_row(self):
        maps = [c * math.prod(hw) for c, hw in zip(CONV_CHANNELS, self._grid[1:])]
        widths = [m.out_features for m in self.body if isinstance(m, nn.Linear)]
        return max(self.n_features, self.latent_dim, *maps, *widths)

    def forward(self, x):
        leading = x.shape[:-1]
        images = x.reshape(-1, *self.image_shape)  # (rows, channels, height, width)
        features = self.convs(images).flatten(1)  # (rows, 64 * height/4 * width/4)
        hidden = self.body(features)  # (rows, hidden_layer_sizes[-1] or the above)
        mean, log_var = self.mean(hidden), self.log_var(hidden)  # 2 x (rows, latent_dim)
        return mean.reshape(*leading, -1), log_var.reshape(*leading, -1)


class ConvDecoder(nn.Module):
    """z -> raw parameters of p(x | z) per pixel, from transposed convolutions.

    The mirror of :class:`ConvEncoder`, as in the Keras MNIST VAE: fully
    connected layers of widths ``reversed(hidden_layer_sizes)``, one more to
    a 64-channel map of a quarter of the height and width, two 3x3 transposed
    convolutions of stride 2 (64 then 32 channels) back to the full size,
    and a 3x3 transposed convolution of stride 1 to the image's channels.
    Each stride-2 layer's ``output_padding`` undoes the rounding of the
    matching encoder layer, so every image size comes back exactly
    (28 -> 14 -> 7 -> 14 -> 28, 7 -> 4 -> 2 -> 4 -> 7).
    """

    def __init__(self, latent_dim, hidden_layer_sizes, image_shape, activation):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.n_features, self.latent_dim = math.prod(image_shape), latent_dim
        self._grid = _conv_grid(image_shape, len(CONV_CHANNELS))
        self._start = (CONV_CHANNELS[-1], *self._grid[-1])  # (64, height/4, width/4)
        sizes = (latent_dim, *reversed(hidden_layer_sizes))
        self.body = _mlp((*sizes, math.prod(self._start)), activation)
        layers = []
        n_in = CONV_CHANNELS[-1]
        for n_out, (small, large) in zip(
            reversed(CONV_CHANNELS), zip(reversed(self._grid[1:]), reversed(self._grid[:-1]))
        ):
            # A stride-2 layer gives 2 * small - 1 + output_padding rows.
            padding = tuple(big - 2 * little + 1 for big, little in zip(large, small))
            layers += [
                nn.ConvTranspose2d(n_in, n_out, 3, stride=2, padding=1, output_padding=padding),
                _ACTIVATIONS[activation](),
            ]
            n_in = n_out
        layers.append(nn.ConvTranspose2d(n_in, image_shape[0], 3, stride=1, padding=1))
        self.deconvs = nn.Sequential(*layers)

    def reset_parameters(self, generator):
        init_parameters(self, generator)

    def activation_elements_per_row(self):
        maps = [c * math.prod(hw) for c, hw in zip(reversed(CONV_CHANNELS), self._grid[-2::-1])]
        widths = [m.out_features for m in self.body if isinstance(m, nn.Linear)]
        return max(self.n_features, self.latent_dim, *maps, *widths)

    def affine_weight(self):
        """None: a convolutional decoder is never affine in z."""
        return None

    def forward(self, z):
        leading = z.shape[:-1]
        hidden = self.body(z.reshape(-1, self.latent_dim))  # (rows, 64 * height/4 * width/4)
        images = self.deconvs(hidden.reshape(-1, *self._start))  # (rows, *image_shape)
        return images.reshape(*leading, self.n_features)  # (..., n_features)


class VAE(nn.Module):
    """A variational autoencoder on raw data, from four parts.

    Parameters
    ----------
    encoder : nn.Module
        ``forward(encoder_input) -> (mean, log_var)``; has ``n_features``
        (its input width), ``latent_dim``, ``reset_parameters(generator)``
        and ``activation_elements_per_row()``.
    decoder : nn.Module
        ``forward(z) -> (..., n_features)``, the raw parameters of p(x | z);
        has the same attributes as the encoder (``n_features`` is its output
        width) and ``affine_weight()``.
    likelihood : nn.Module
        The decoder distribution (see ``_likelihoods``): it turns raw values
        into the encoder's input and reads the decoder's outputs.
    prior : nn.Module, default=None
        p(z) (see ``_priors``); N(0, I) when None.
    encode_mask : bool, default=False
        The encoder reads the mask too: its input is the likelihood's
        encoder input (0 where a value is missing) followed by the mask, one
        value per data column (1 observed, 0 missing). The estimators set it
        when the training data have missing values, so that the encoder can
        tell a missing value from an observed one at the training mean.
    missingness : nn.Module or None, default=None
        A model of the mask, p(s | x) (see ``_missingness``), for data
        missing not at random: ``log_prob(x_t, mask)`` for complete rows in
        the likelihood's working space. None (the default) treats
        missingness as ignorable.
    """

    def __init__(
        self, encoder, decoder, likelihood, prior=None, encode_mask=False, missingness=None
    ):
        super().__init__()
        if encoder.latent_dim != decoder.latent_dim:
            raise ValueError(
                f"The encoder maps to {encoder.latent_dim} latent dimensions, but the "
                f"decoder maps from {decoder.latent_dim}."
            )
        n_inputs = getattr(likelihood, "n_inputs", None)
        n_outputs = getattr(likelihood, "n_outputs", None)
        if n_inputs is not None and encode_mask:
            n_inputs += likelihood.n_columns
        if n_inputs is not None and encoder.n_features != n_inputs:
            raise ValueError(
                f"The encoder reads {encoder.n_features} inputs, but the likelihood gives "
                f"{n_inputs}."
            )
        if n_outputs is not None and decoder.n_features != n_outputs:
            raise ValueError(
                f"The decoder gives {decoder.n_features} outputs, but the likelihood reads "
                f"{n_outputs}."
            )
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior = StandardNormalPrior(encoder.latent_dim) if prior is None else prior
        self.encode_mask = bool(encode_mask)
        self.missingness = missingness

    def __setstate__(self, state):
        super().__setstate__(state)
        if "missingness" not in self.__dict__ and "missingness" not in self._modules:
            self.missingness = None  # pickled before the mask model existed: ignorable

    @property
    def latent_dim(self):
        return self.encoder.latent_dim

    @property
    def n_features(self):
        """The number of raw data columns."""
        n_columns = getattr(self.likelihood, "n_columns", None)
        return self.encoder.n_features if n_columns is None else n_columns

    def _parts(self):
        parts = {
            "encoder": self.encoder,
            "decoder": self.decoder,
            "likelihood": self.likelihood,
            "prior": self.prior,
        }
        if self.missingness is not None:
            parts["missingness"] = self.missingness
        return parts

    def reset_parameters(self, generator):
        """Initialise every parameter from ``generator``; refuse any none of the parts owns.

        The encoder, the decoder, the likelihood and the prior each
        initialise their own parameters and buffers, in that order. A
        parameter outside the four, or one the four leave untouched, raises
        a RuntimeError instead of keeping whatever memory it was allocated
        with.
        """
        parts = self._parts()
        owned = {id(p) for part in parts.values() for p in part.parameters()}
        stray = [name for name, p in self.named_parameters() if id(p) not in owned]
        if stray:
            raise RuntimeError(
                f"Parameters {stray} belong to none of the VAE's encoder, decoder, "
                "likelihood and prior, so nothing would initialise them."
            )
        for name, part in parts.items():
            if not callable(getattr(part, "reset_parameters", None)):
                raise TypeError(f"The VAE's {name} {type(part).__name__} has no reset_parameters.")
        tensors = [
            (name, t)
            for name, t in [*self.named_parameters(), *self.named_buffers()]
            if t.is_floating_point()
        ]
        with torch.no_grad():
            for _, tensor in tensors:
                tensor.fill_(math.nan)  # a sentinel: whatever stays NaN was not initialised
            for part in parts.values():
                part.reset_parameters(generator)
        missed = [name for name, tensor in tensors if tensor.isnan().any()]
        if missed:
            raise RuntimeError(f"reset_parameters left {missed} uninitialised.")

    def activation_elements_per_row(self):
        """Elements of the widest intermediate tensor per row, for chunked inference."""
        return max(
            self.encoder.activation_elements_per_row(), self.decoder.activation_elements_per_row()
        )

    def affine_weight(self):
        """The decoder's W of shape (n_outputs, latent_dim) when it is affine, else None."""
        return self.decoder.affine_weight()

    @property
    def has_closed_form_reconstruction(self):
        """E_q[log p(x|z)] is exact for an affine decoder with a per-column Gaussian variance."""
        return bool(getattr(self.likelihood, "has_expected_log_prob", False)) and (
            self.affine_weight() is not None
        )

    def encode(self, x, mask=None):
        """Posterior mean and log-variance for raw ``x``: 2 x (batch, latent_dim).

        ``mask`` (1 observed, 0 missing; None when everything is observed)
        has the shape of ``x``; the values where it is 0 are not read.
        """
        x_t = self.likelihood.transform(x)
        return self.encode_transformed(x_t, mask)

    def encode_transformed(self, x_t, mask=None):
        """:meth:`encode` for values already passed through ``likelihood.transform``."""
        inputs = self.likelihood.encoder_input(x_t, mask)  # (batch, n_inputs)
        if self.encode_mask:
            if mask is None:
                mask = torch.ones(
                    (*inputs.shape[:-1], self.n_features), dtype=inputs.dtype, device=inputs.device
                )
            inputs = torch.cat([inputs, mask.to(inputs.dtype)], -1)  # (batch, n_inputs + n_cols)
        mean, log_var = self.encoder(inputs)
        return mean, self._posterior_log_var(log_var)

    @staticmethod
    def _posterior_log_var(log_var):
        """The one place the encoder's log-variance passes through: bounded.

        The log-variance is bounded smoothly to (LOG_VAR_MIN, LOG_VAR_MAX)
        (``bound_log_var``; unchanged on [-20, 5]), so that a row far from
        the training data cannot give exp(log_var) = inf and, from it, an
        infinite or NaN score.
        """
        return bound_log_var(log_var)

    @staticmethod
    def reparameterize(mean, log_var, noise):
        """z = mean + sigma * noise; ``noise`` broadcasts against ``mean``."""
        return mean + (0.5 * log_var).exp() * noise

    def decode(self, z):
        """Decoder output (the likelihood's parameters) for latent codes ``z``."""
        return self.decoder(z)

    def decode_mean(self, z):
        """E[x | z] in the raw data space."""
        return self.likelihood.mean(self.decode(z))

    def decode_sample(self, z, generator):
        """One draw x ~ p(x | z) in the raw data space."""
        return self.likelihood.sample(self.decode(z), generator)


def bound_log_var(log_var, low=LOG_VAR_MIN, high=LOG_VAR_MAX, margin=LOG_VAR_MARGIN):
    """Smooth clamp of ``log_var`` to (low, high): the identity inside ``margin`` of them.

    Within [low + margin, high - margin] the value is returned unchanged
    (bit for bit); beyond, it bends towards the bound along a tanh that
    meets the identity with equal value, slope and curvature. exp(log_var)
    then stays finite in float32 for any input, however far from the
    training data, and the gradient never vanishes abruptly.
    """
    # The nearest point of [lower, upper], plus the bent excess beyond it:
    # inside, the excess is 0 and the result is log_var itself. Few small ops
    # on purpose: this runs on every training step, where each small op costs
    # about as much as a small matrix product.
    nearest = log_var.clamp(low + margin, high - margin)
    return nearest + margin * torch.tanh((log_var - nearest) / margin)


def build_vae(
    n_features,
    latent_dim,
    hidden_layer_sizes,
    activation,
    likelihood,
    min_variance,
    image_shape=None,
    encode_mask=False,
    missingness=None,
):
    """The VAE the estimators fit: MLP networks, or convolutional ones for ``image_shape``.

    ``likelihood`` is a likelihood module (the estimators pass the composite
    their column description builds) or the name of one, which gives a
    composite of one block over every column; the encoder's and decoder's
    widths come from it. With ``encode_mask`` the encoder also reads the
    mask (see :class:`VAE`): one more input per column, or, for images, as
    many more channels; ``missingness`` is the model of the mask, if any
    (see :class:`VAE`). Parameters are not initialised: call
    ``reset_parameters(generator)`` (after ``to_empty`` when built on the
    meta device).

    Examples
    --------
    >>> import torch
    >>> vae = build_vae(784, 16, (), "relu", "bernoulli", 1e-3, image_shape=(1, 28, 28))
    >>> vae.reset_parameters(torch.Generator().manual_seed(0))
    >>> mean, log_var = vae.encode(torch.rand(5, 784))
    >>> mean.shape, vae.decode(mean).shape
    (torch.Size([5, 16]), torch.Size([5, 784]))
    >>> vae.activation_elements_per_row()  # the decoder's 32 x 28 x 28 feature map
    25088
    """
    if isinstance(likelihood, str):
        likelihood = CompositeLikelihood(
            [(range(n_features), make_likelihood(likelihood, n_features, min_variance))]
        )
    n_inputs, n_outputs = likelihood.n_inputs, likelihood.n_outputs
    n_mask_inputs = likelihood.n_columns if encode_mask else 0
    if image_shape is None:
        encoder = MLPEncoder(n_inputs + n_mask_inputs, hidden_layer_sizes, latent_dim, activation)
        decoder = MLPDecoder(latent_dim, hidden_layer_sizes, n_outputs, activation)
    else:
        if not math.prod(image_shape) == n_features == n_inputs == n_outputs:
            raise ValueError(
                f"image_shape={tuple(image_shape)} holds {math.prod(image_shape)} values, "
                f"but the rows have {n_features} features."
            )
        channels, height, width = image_shape
        encoder_shape = (2 * channels if encode_mask else channels, height, width)  # + the mask
        encoder = ConvEncoder(encoder_shape, hidden_layer_sizes, latent_dim, activation)
        decoder = ConvDecoder(latent_dim, hidden_layer_sizes, image_shape, activation)
    prior = StandardNormalPrior(latent_dim)
    return VAE(encoder, decoder, likelihood, prior, encode_mask, missingness)
