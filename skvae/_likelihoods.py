"""Decoder distributions p(x | z): one interface, a class per likelihood.

A likelihood covers ``n_columns`` columns of the raw data and reads
``n_outputs`` decoder outputs; the decoder's width comes from there. It owns
the transform of its columns into the space the network works in (the
Gaussian standardises; the Bernoulli keeps the values), so that the VAE and
the objective never touch its statistics:

* ``transform(x)``: raw values -> the working space, ``(..., n_columns)``;
* ``encoder_input(x_t, mask=None)``: what the encoder sees, ``(..., n_inputs)``;
* ``log_prob(x_t, decoded, mask=None)``: per-column log-probability of the
  *raw* data whose transform is ``x_t`` (the log-Jacobian of the transform
  included), ``(..., n_columns)``, 0 where ``mask`` is 0 (missing);
* ``expected_log_prob(x_t, decoded_mean, decoded_variance, mask=None)``: the
  same, in expectation over a Gaussian decoder output, where a closed form
  exists (``has_expected_log_prob``);
* ``mean(decoded)`` and ``sample(decoded, generator)``, in the raw space;
* ``reset_parameters(generator)``.

Log-probabilities are per column: the objective sums them once, which is
where a mask or a per-feature explanation of a score plugs in. A
:class:`CompositeLikelihood` (blocks of columns, each with a likelihood of
its own) is itself a likelihood; the estimators always build one. The
numpy-side facts about the columns (support, clipping, display range, the
fitted standardisation) live in ``_columns``. Plain PyTorch: no numpy, no
scikit-learn.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

_LOG_2PI = math.log(2.0 * math.pi)


def _masked(log_prob, mask):
    """``log_prob`` with 0 where ``mask`` is 0; ``mask`` broadcasts against it."""
    if mask is None:
        return log_prob
    return log_prob.masked_fill(mask == 0, 0.0)


class GaussianLikelihood(nn.Module):
    """Diagonal Gaussian with a learned per-column variance and a floor.

    The columns are standardised with fixed buffers ``shift`` and ``scale``
    (set from the training data by ``_columns``; the identity until then),
    and the variance in the standardised space is ``min_variance +
    exp(log_excess_variance)``, so it never drops below ``min_variance``
    however hard the optimiser pushes: this keeps the density finite on
    columns that are (nearly) constant in training. Densities are of the raw
    data: each column's log-density includes ``-log(scale)``.
    """

    has_expected_log_prob = True

    def __init__(self, n_columns, min_variance):
        super().__init__()
        self.n_columns = self.n_outputs = self.n_inputs = n_columns
        self.min_variance = float(min_variance)
        self.log_excess_variance = nn.Parameter(torch.zeros(n_columns))
        self.register_buffer("shift", torch.zeros(n_columns))
        self.register_buffer("scale", torch.ones(n_columns))

    def reset_parameters(self, generator=None):
        """Variance ``min_variance + 1`` for every column, identity standardisation."""
        with torch.no_grad():
            self.log_excess_variance.zero_()
            self.shift.zero_()
            self.scale.fill_(1.0)

    def set_standardization(self, shift, scale):
        """Standardise the columns as ``(x - shift) / scale`` from now on."""
        with torch.no_grad():
            self.shift.copy_(torch.as_tensor(shift))
            self.scale.copy_(torch.as_tensor(scale))

    def transform(self, x):
        return (x - self.shift) / self.scale

    def encoder_input(self, x_t, mask=None):
        """The standardised values; a missing one is given as 0, the training mean."""
        return _masked(x_t, mask)

    def variance(self):
        """Per-column observation variance in the standardised space: ``(n_columns,)``."""
        return self.min_variance + self.log_excess_variance.exp()

    def _log_normaliser(self, variance):
        """Per-column log(2 pi variance) + 2 log(scale): (n_columns,)."""
        return variance.log() + _LOG_2PI + 2.0 * self.scale.log()

    def log_prob(self, x_t, decoded, mask=None):
        """Per-column log-density of the raw data: ``(..., n_columns)``, broadcast."""
        variance = self.variance()
        squared_error = (x_t - decoded).pow(2)
        return _masked(-0.5 * (squared_error / variance + self._log_normaliser(variance)), mask)

    def expected_log_prob(self, x_t, decoded_mean, decoded_variance, mask=None):
        """Per-column E_q[log p(x|z)] for a decoder affine in z: ``(..., n_columns)``.

        If the decoder output is ``W z + b`` and ``z ~ N(m, diag(s2))``, the
        output has mean ``W m + b`` and per-column variance ``W^2 s2``, and
        E[(x - W z - b)^2] = (x - W m - b)^2 + W^2 s2, which gives the
        expectation in closed form with no sampling error.
        """
        variance = self.variance()
        squared_error = (x_t - decoded_mean).pow(2) + decoded_variance
        return _masked(-0.5 * (squared_error / variance + self._log_normaliser(variance)), mask)

    def mean(self, decoded):
        """The mean of p(x|z), in the raw space."""
        return decoded * self.scale + self.shift

    def sample(self, decoded, generator):
        """One draw from p(x|z), in the raw space."""
        noise = torch.randn(
            decoded.shape, generator=generator, device=decoded.device, dtype=decoded.dtype
        )
        return (decoded + noise * self.variance().sqrt()) * self.scale + self.shift


class BernoulliLikelihood(nn.Module):
    """Independent Bernoulli per column; the decoder outputs logits.

    For values strictly between 0 and 1 this is the usual cross-entropy
    reconstruction term (not a normalised density on [0, 1]). The values
    are used as they are: no transform.
    """

    has_expected_log_prob = False

    def __init__(self, n_columns=None):
        super().__init__()
        self.n_columns = self.n_outputs = self.n_inputs = n_columns

    def reset_parameters(self, generator=None):
        """Nothing to initialise: the Bernoulli likelihood has no parameters."""

    def transform(self, x):
        return x

    def encoder_input(self, x_t, mask=None):
        return _masked(x_t, mask)

    def log_prob(self, x, decoded, mask=None):
        """Per-column log-probability: ``(..., n_columns)``."""
        logits, x = torch.broadcast_tensors(decoded, x)
        return _masked(-F.binary_cross_entropy_with_logits(logits, x, reduction="none"), mask)

    def mean(self, decoded):
        """The mean of p(x|z): the success probabilities."""
        return torch.sigmoid(decoded)

    def sample(self, decoded, generator):
        """One draw from p(x|z), values in {0, 1}."""
        return torch.bernoulli(torch.sigmoid(decoded), generator=generator)


_LIKELIHOODS = {"gaussian": GaussianLikelihood, "bernoulli": BernoulliLikelihood}


def make_likelihood(name, n_features, min_variance):
    """Build the decoder distribution called ``name`` over ``n_features`` columns."""
    if name == "gaussian":
        return GaussianLikelihood(n_features, min_variance)
    if name == "bernoulli":
        return BernoulliLikelihood(n_features)
    raise ValueError(f"Unknown likelihood {name!r}; expected one of {sorted(_LIKELIHOODS)}.")


class CompositeLikelihood(nn.Module):
    """Blocks of columns, each with a likelihood of its own: itself a likelihood.

    Parameters
    ----------
    blocks : list of (columns, likelihood)
        ``columns`` are the raw column indices a block covers; together the
        blocks cover every column once. The working space and the decoder
        outputs are laid out block after block; per-column results come back
        in the raw column order.

    Examples
    --------
    >>> import torch
    >>> composite = CompositeLikelihood(
    ...     [([0, 2], GaussianLikelihood(2, 1e-3)), ([1], BernoulliLikelihood(1))]
    ... )
    >>> composite.n_columns, composite.n_outputs
    (3, 3)
    >>> x = torch.tensor([[0.5, 1.0, -0.5]])
    >>> composite.log_prob(composite.transform(x), torch.zeros(1, 3)).shape
    torch.Size([1, 3])
    """

    def __init__(self, blocks):
        super().__init__()
        columns = [list(map(int, cols)) for cols, _ in blocks]
        order = [c for cols in columns for c in cols]
        if sorted(order) != list(range(len(order))):
            raise ValueError(f"The blocks must cover columns 0..n-1 once each, got {columns}.")
        self.parts = nn.ModuleList([likelihood for _, likelihood in blocks])
        for cols, part in zip(columns, self.parts):
            if part.n_columns != len(cols):
                raise ValueError(
                    f"A {type(part).__name__} of {part.n_columns} columns was given "
                    f"{len(cols)} columns."
                )
        self.columns = columns
        self.n_columns = len(order)
        self.n_outputs = sum(part.n_outputs for part in self.parts)
        self.n_inputs = sum(part.n_inputs for part in self.parts)
        self.has_expected_log_prob = all(part.has_expected_log_prob for part in self.parts)
        # One block over every column in order: results pass straight through.
        self._identity = len(self.parts) == 1 and order == list(range(self.n_columns))
        self._order = order
        self._inverse = sorted(range(len(order)), key=order.__getitem__)
        self._slices = {
            name: _consecutive_slices([getattr(part, name) for part in self.parts])
            for name in ("n_columns", "n_outputs", "n_inputs")
        }

    def reset_parameters(self, generator):
        for part in self.parts:
            part.reset_parameters(generator)

    def _take(self, tensor, index):
        return tensor.index_select(-1, torch.as_tensor(index, device=tensor.device))

    def _split(self, tensor, width):
        """``tensor``'s last axis (laid out block after block) cut into the blocks."""
        return [tensor[..., piece] for piece in self._slices[width]]

    def _raw_columns(self, tensor):
        """One tensor per block, from a tensor whose last axis is in raw column order."""
        return [self._take(tensor, cols) for cols in self.columns]

    def _to_raw_order(self, pieces):
        return self._take(torch.cat(pieces, -1), self._inverse)

    def transform(self, x):
        """Raw values -> the working space, laid out block after block."""
        if self._identity:
            return self.parts[0].transform(x)
        return torch.cat([p.transform(v) for p, v in zip(self.parts, self._raw_columns(x))], -1)

    def _block_masks(self, mask):
        if mask is None:
            return [None] * len(self.parts)
        return self._raw_columns(mask)

    def encoder_input(self, x_t, mask=None):
        if self._identity:
            return self.parts[0].encoder_input(x_t, mask)
        pieces = zip(self.parts, self._split(x_t, "n_columns"), self._block_masks(mask))
        return torch.cat([p.encoder_input(v, m) for p, v, m in pieces], -1)

    def log_prob(self, x_t, decoded, mask=None):
        """Per-column log-probability of the raw data, in the raw column order."""
        if self._identity:
            return self.parts[0].log_prob(x_t, decoded, mask)
        pieces = zip(
            self.parts,
            self._split(x_t, "n_columns"),
            self._split(decoded, "n_outputs"),
            self._block_masks(mask),
        )
        return self._to_raw_order([p.log_prob(v, d, m) for p, v, d, m in pieces])

    def expected_log_prob(self, x_t, decoded_mean, decoded_variance, mask=None):
        if self._identity:
            return self.parts[0].expected_log_prob(x_t, decoded_mean, decoded_variance, mask)
        pieces = zip(
            self.parts,
            self._split(x_t, "n_columns"),
            self._split(decoded_mean, "n_outputs"),
            self._split(decoded_variance, "n_outputs"),
            self._block_masks(mask),
        )
        return self._to_raw_order([p.expected_log_prob(*args) for p, *args in pieces])

    def mean(self, decoded):
        if self._identity:
            return self.parts[0].mean(decoded)
        outputs = self._split(decoded, "n_outputs")
        return self._to_raw_order([p.mean(d) for p, d in zip(self.parts, outputs)])

    def sample(self, decoded, generator):
        if self._identity:
            return self.parts[0].sample(decoded, generator)
        outputs = self._split(decoded, "n_outputs")
        return self._to_raw_order([p.sample(d, generator) for p, d in zip(self.parts, outputs)])


def _consecutive_slices(widths):
    """Slices of consecutive ranges of the given widths: [2, 3] -> [0:2, 2:5]."""
    ends = [sum(widths[: i + 1]) for i in range(len(widths))]
    return [slice(end - width, end) for end, width in zip(ends, widths)]
