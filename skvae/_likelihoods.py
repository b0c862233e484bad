"""Decoder distributions p(x | z): one interface, a class per likelihood.

A likelihood covers ``n_columns`` columns of the raw data and reads
``n_outputs`` decoder outputs; the decoder's width comes from there. It owns
the transform of its columns into the space the network works in (the
Gaussian standardises; the Bernoulli keeps the values), so that the VAE and
the objective never touch its statistics. The likelihoods:

* ``GaussianLikelihood``: real values, a learned variance per column (or,
  ``per_row=True``, decoded from z: two decoder outputs per column);
* ``BernoulliLikelihood``: values in [0, 1], a logit per column;
* ``LogNormalLikelihood``: positive amounts, Gaussian on the log scale;
* ``PoissonLikelihood``: counts, a log-rate per column;
* ``NegativeBinomialLikelihood``: overdispersed counts, a log-mean and a
  log inverse dispersion per column (two decoder outputs);
* ``CategoricalLikelihood``: a column of K categories (its codes), read
  one-hot by the encoder (K inputs) and given K logits by the decoder.

Every one of them matches ``scipy.stats`` (``tests/test_likelihoods.py``).
The interface:

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
_FLOAT32_MAX = torch.finfo(torch.float32).max
# Bounds of a count likelihood's log-mean: exp stays finite in float32 and
# Poisson's x * log(rate) - rate cannot overflow for counts up to 1e15.
_LOG_RATE_BOUNDS = (-30.0, 35.0)
# Bounds of the negative binomial's log inverse dispersion: theta from 4.5e-5
# (wildly overdispersed) to 3.3e6 (a Poisson, to within 1e-6 of the variance
# at mean 1).
LOG_THETA_MIN = -10.0
LOG_THETA_MAX = 15.0
_CLAMP_MARGIN = 5.0
# Bounds of a per-row Gaussian's decoded log excess variance (standardised space): the
# variance stays between min_variance and min_variance + 2.2e4, finite in float32.
LOG_EXCESS_VARIANCE_BOUNDS = (-20.0, 10.0)


def _masked(log_prob, mask):
    """``log_prob`` with 0 where ``mask`` is 0; ``mask`` broadcasts against it."""
    if mask is None:
        return log_prob
    return log_prob.masked_fill(mask == 0, 0.0)


def _soft_clamp(value, low, high, margin=_CLAMP_MARGIN):
    """Smooth clamp of ``value`` to (low, high): the identity within ``margin`` of them.

    As ``_networks.bound_log_var``: beyond the band the value bends towards
    the bound along a tanh that meets the identity with equal value and
    slope, so the gradient never vanishes abruptly.
    """
    nearest = value.clamp(low + margin, high - margin)
    return nearest + margin * torch.tanh((value - nearest) / margin)


class GaussianLikelihood(nn.Module):
    """Diagonal Gaussian with a learned variance (per column, or per row) and a floor.

    The columns are standardised with fixed buffers ``shift`` and ``scale``
    (set from the training data by ``_columns``; the identity until then),
    and the variance in the standardised space is ``min_variance +
    exp(log_excess_variance)``, so it never drops below ``min_variance``
    however hard the optimiser pushes: this keeps the density finite on
    columns that are (nearly) constant in training. Densities are of the raw
    data: each column's log-density includes ``-log(scale)``.

    With ``per_row=False`` (the default) ``log_excess_variance`` is one
    parameter per column, the same for every row. With ``per_row=True`` it
    is decoded from z (heteroscedastic noise, as TVAE's decoder): the
    decoder gives two outputs per column, ``n_columns`` means followed by
    ``n_columns`` log excess variances, each bounded smoothly to
    ``LOG_EXCESS_VARIANCE_BOUNDS`` so that the variance stays finite in
    float32. The closed-form ``expected_log_prob`` then does not exist (the
    variance is not constant in z).

    ``constant`` lists the columns (positions) that took one value in every
    training row. Their maximum-likelihood fit is known in closed form: the
    mean is that value (0 in the standardised space) and the variance is as
    small as allowed, the floor ``min_variance``. Both are fixed, whatever
    the decoder outputs there, rather than learnt: Adam, whose steps keep a
    size of about the learning rate, leaves the decoded mean jittering
    around the value, and the learnt variance stops where the jitter's
    square is, far above the floor (on raw digits 3e-5 after 3,000 epochs,
    for FactorAnalysis's 1e-12), so that a linear model fell 30% short of
    factor analysis's likelihood.
    """

    has_expected_log_prob = True
    # What pickles of models fitted before the bound or the constant columns existed read.
    input_bound = constant = None

    def __init__(
        self, n_columns, min_variance, per_row=False, input_bound=None, bounded=None,
        constant=None,
    ):
        super().__init__()
        self.n_columns = self.n_inputs = n_columns
        self.per_row = bool(per_row)
        self.input_bound = None if input_bound is None else float(input_bound)
        # Positions of the columns whose encoder input is bounded: a list, not
        # a buffer (the column description saves it; the network's buffers are
        # allocated empty before loading).
        self.bounded = None
        if self.input_bound is not None:
            self.bounded = list(range(n_columns)) if bounded is None else [int(i) for i in bounded]
        self.n_outputs = 2 * n_columns if self.per_row else n_columns
        self.min_variance = float(min_variance)
        # A list, not a buffer, for the same reason as ``bounded``.
        self.constant = None if not constant else [int(i) for i in constant]
        if self.per_row:
            self.has_expected_log_prob = False
        else:
            self.log_excess_variance = nn.Parameter(torch.zeros(n_columns))
        self.register_buffer("shift", torch.zeros(n_columns))
        self.register_buffer("scale", torch.ones(n_columns))

    def reset_parameters(self, generator=None):
        """Variance ``min_variance + 1`` for every column, identity standardisation.

        Per row, the variance starts at ``min_variance + exp(output)`` for the
        decoder's initial outputs (near 0: about ``min_variance + 1`` too).
        """
        with torch.no_grad():
            if not self.per_row:
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
        """The standardised values, bounded; a missing one is given as 0, the training mean.

        With ``input_bound`` ``b``, the encoder reads ``b tanh(x / b)`` of the
        columns in ``bounded`` (the near-constant ones): close to ``x``
        within a standard deviation or so of the training mean, and never
        beyond ``b``. A column that was nearly constant in training has a
        tiny scale, so an ordinary value there standardises to hundreds;
        unbounded, such an input sends the code far outside the prior (see
        ``ENCODER_INPUT_BOUND`` in ``_columns``). The likelihood still scores
        the value itself: only what the encoder reads is bounded.
        """
        x_t = _masked(x_t, mask)
        if self.input_bound is None:
            return x_t
        bound = self.input_bound
        return torch.where(self._bounded_mask(x_t.device), bound * torch.tanh(x_t / bound), x_t)

    def _bounded_mask(self, device):
        """``bounded`` as a boolean mask over the columns, on ``device`` (cached)."""
        mask = getattr(self, "_mask", None)
        if mask is None or mask.device != device:
            self._mask = mask = self._column_mask(self.bounded, device)
        return mask

    def _constant_mask(self, device):
        """``constant`` as a boolean mask over the columns, on ``device`` (cached)."""
        mask = getattr(self, "_constant_columns", None)
        if mask is None or mask.device != device:
            self._constant_columns = mask = self._column_mask(self.constant, device)
        return mask

    def _column_mask(self, positions, device):
        mask = torch.zeros(self.n_columns, dtype=torch.bool, device=device)
        mask[positions] = True
        return mask

    def _fix_constant(self, values, value):
        """``values`` (``(..., n_columns)``) with ``value`` in the constant columns."""
        if self.constant is None:
            return values
        return values.masked_fill(self._constant_mask(values.device), value)

    def location(self, decoded):
        """The mean of p(x|z) in the standardised space: ``(..., n_columns)``.

        0, the training value, in the ``constant`` columns.
        """
        return self._fix_constant(decoded[..., : self.n_columns] if self.per_row else decoded, 0.0)

    def variance(self, decoded=None):
        """Observation variance in the standardised space.

        ``(n_columns,)`` per column (``decoded`` is not read); per row,
        ``(..., n_columns)`` from the decoder outputs ``decoded``. The floor
        ``min_variance`` in the ``constant`` columns.
        """
        if not self.per_row:
            variance = self.min_variance + self.log_excess_variance.exp()
        else:
            log_excess = _soft_clamp(decoded[..., self.n_columns :], *LOG_EXCESS_VARIANCE_BOUNDS)
            variance = self.min_variance + log_excess.exp()
        return self._fix_constant(variance, self.min_variance)

    def _log_normaliser(self, variance):
        """Per-column log(2 pi variance) + 2 log(scale), broadcast against ``variance``."""
        return variance.log() + _LOG_2PI + 2.0 * self.scale.log()

    def log_prob(self, x_t, decoded, mask=None):
        """Per-column log-density of the raw data: ``(..., n_columns)``, broadcast."""
        variance = self.variance(decoded)
        squared_error = (x_t - self.location(decoded)).pow(2)
        return _masked(-0.5 * (squared_error / variance + self._log_normaliser(variance)), mask)

    def expected_log_prob(self, x_t, decoded_mean, decoded_variance, mask=None):
        """Per-column E_q[log p(x|z)] for a decoder affine in z: ``(..., n_columns)``.

        If the decoder output is ``W z + b`` and ``z ~ N(m, diag(s2))``, the
        output has mean ``W m + b`` and per-column variance ``W^2 s2``, and
        E[(x - W z - b)^2] = (x - W m - b)^2 + W^2 s2, which gives the
        expectation in closed form with no sampling error. Per-column
        variance only: with a decoded variance there is no closed form.
        """
        if self.per_row:
            raise NotImplementedError("No closed form with a variance decoded per row.")
        variance = self.variance()
        # The constant columns' mean is fixed: it does not vary with z.
        decoded_variance = self._fix_constant(decoded_variance, 0.0)
        squared_error = (x_t - self.location(decoded_mean)).pow(2) + decoded_variance
        return _masked(-0.5 * (squared_error / variance + self._log_normaliser(variance)), mask)

    def mean(self, decoded):
        """The mean of p(x|z), in the raw space."""
        return self.location(decoded) * self.scale + self.shift

    def _draw(self, decoded, generator):
        """One draw in the standardised space: ``(..., n_columns)``."""
        location = self.location(decoded)
        noise = torch.randn(
            location.shape, generator=generator, device=location.device, dtype=location.dtype
        )
        return location + noise * self.variance(decoded).sqrt()

    def sample(self, decoded, generator):
        """One draw from p(x|z), in the raw space."""
        return self._draw(decoded, generator) * self.scale + self.shift

    def draw_transformed(self, decoded, noise):
        """The draw ``location + noise * sd`` of p(x|z), in the standardised space.

        ``noise`` holds standard normal values of the draw's shape; the draw
        is reparameterised (differentiable in the decoder's outputs).
        """
        return self.location(decoded) + noise * self.variance(decoded).sqrt()

    def inverse_transform(self, x_t):
        """Standardised values back in the raw space."""
        return x_t * self.scale + self.shift


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


class LogNormalLikelihood(GaussianLikelihood):
    """Positive amounts whose logarithm is Gaussian: skewed, multiplicative data.

    The working space is the standardised logarithm, ``(log x - shift) /
    scale``, with the Gaussian's learned per-column variance and floor
    there. Densities are of the raw values: each column's log-density
    includes ``-log(scale) - log(x)``, the Jacobian of ``x -> log x`` and of
    the standardisation, so that scores compare with a Gaussian model of the
    same column.
    """

    has_expected_log_prob = True

    def transform(self, x):
        return (x.log() - self.shift) / self.scale

    def _log_x(self, x_t):
        return x_t * self.scale + self.shift

    def log_prob(self, x_t, decoded, mask=None):
        """Per-column log-density of the raw (positive) data: ``(..., n_columns)``."""
        log_prob = super().log_prob(x_t, decoded) - self._log_x(x_t)
        return _masked(log_prob, mask)

    def expected_log_prob(self, x_t, decoded_mean, decoded_variance, mask=None):
        log_prob = super().expected_log_prob(x_t, decoded_mean, decoded_variance)
        return _masked(log_prob - self._log_x(x_t), mask)

    def mean(self, decoded):
        """E[x | z] = exp(mu + sigma^2 / 2), in the raw space (at most float32's largest)."""
        variance = self.variance(decoded)
        log_mean = self._log_x(self.location(decoded)) + 0.5 * variance * self.scale.pow(2)
        return log_mean.exp().clamp_max(_FLOAT32_MAX)

    def sample(self, decoded, generator):
        """One draw from p(x|z): exp of a Gaussian draw in the log space."""
        return self._log_x(self._draw(decoded, generator)).exp().clamp_max(_FLOAT32_MAX)


class _CountLikelihood(nn.Module):
    """What the count likelihoods share: raw counts in, log1p-standardised encoder input.

    The working space is the raw counts themselves (``transform`` is the
    identity; the log-probabilities need the counts). The encoder sees
    ``(log1p(x) - shift) / scale``, stable however large the counts. The
    decoder's log-mean is relative to ``log_offset``, the log of the
    column's training mean, so that an untrained model starts at the
    marginal mean; it is bounded smoothly to (``LOG_RATE_MIN``,
    ``LOG_RATE_MAX``) so that ``exp`` stays finite in float32.

    With ``size_factor=True`` each row's mean is also scaled by its size
    factor, as scVI scales by library size: the log-mean gains
    ``log(L) - log_library[0]``, where ``L`` is the row's total over the
    block's columns (at least 1) and ``log_library`` holds the mean and
    standard deviation of ``log(L)`` over the training rows. So the decoder
    models composition and the observed total gives the depth. Where no row
    is given, the library is set for it: :meth:`mean` uses the typical one
    (``log(L)`` at its training mean, i.e. the geometric mean of the
    training totals), and :meth:`sample` draws ``log(L)`` from the normal
    fitted to the training rows, as scVI's generative model does.
    """

    has_expected_log_prob = False
    outputs_per_column = 1

    def __init__(self, n_columns, size_factor=False):
        super().__init__()
        self.n_columns = self.n_inputs = n_columns
        self.n_outputs = self.outputs_per_column * n_columns
        self.size_factor = bool(size_factor)
        self.register_buffer("shift", torch.zeros(n_columns))
        self.register_buffer("scale", torch.ones(n_columns))
        self.register_buffer("log_offset", torch.zeros(n_columns))
        if self.size_factor:  # only then, so that other models keep their state dict
            self.register_buffer("log_library", torch.tensor([0.0, 1.0]))

    def reset_parameters(self, generator=None):
        """Identity standardisation and a mean of 1 until fitted statistics are set."""
        with torch.no_grad():
            self.shift.zero_()
            self.scale.fill_(1.0)
            self.log_offset.zero_()
            if self.size_factor:
                self.log_library.copy_(torch.tensor([0.0, 1.0]))

    def set_statistics(self, shift, scale, log_offset, log_library=None):
        """The encoder input's standardisation of log1p(x), the log of the mean, the library."""
        with torch.no_grad():
            self.shift.copy_(torch.as_tensor(shift))
            self.scale.copy_(torch.as_tensor(scale))
            self.log_offset.copy_(torch.as_tensor(log_offset))
            if self.size_factor and log_library is not None:
                self.log_library.copy_(torch.as_tensor(log_library))

    def transform(self, x):
        return x

    def encoder_input(self, x_t, mask=None):
        return _masked((x_t.clamp_min(0.0).log1p() - self.shift) / self.scale, mask)

    def relative_log_library(self, x):
        """log(L) - (its training mean) per row of counts ``x``: ``(..., 1)``."""
        total = x.sum(-1, keepdim=True).clamp_min(1.0)
        return total.log() - self.log_library[0]

    def log_mean(self, decoded, log_library=None):
        """log E[x | z] per column, bounded: ``(..., n_columns)``.

        ``log_library`` is the row's log size factor relative to the
        training mean (see :meth:`relative_log_library`), or None for the
        typical row (and for a model without a size factor).
        """
        log_mean = decoded[..., : self.n_columns] + self.log_offset
        if log_library is not None:
            log_mean = log_mean + log_library
        return _soft_clamp(log_mean, *_LOG_RATE_BOUNDS)

    def _observed_log_mean(self, x, decoded):
        """The log-mean that scores the observed counts ``x`` (their own size factor)."""
        log_library = self.relative_log_library(x) if self.size_factor else None
        return self.log_mean(decoded, log_library)

    def _drawn_log_mean(self, decoded, generator):
        """The log-mean of a generated row: its library drawn from the training fit."""
        if not self.size_factor:
            return self.log_mean(decoded)
        noise = torch.randn(
            (*decoded.shape[:-1], 1), generator=generator, device=decoded.device,
            dtype=decoded.dtype,
        )
        return self.log_mean(decoded, noise * self.log_library[1])

    def mean(self, decoded):
        """E[x | z], in the raw space (not rounded); at the typical library with a size factor."""
        return self.log_mean(decoded).exp()


class PoissonLikelihood(_CountLikelihood):
    """Independent Poisson counts; the decoder outputs the log-rate (one output per column)."""

    def log_prob(self, x, decoded, mask=None):
        """Per-column log-mass ``x log(rate) - rate - log(x!)``: ``(..., n_columns)``."""
        x = torch.where(torch.isnan(x), 0.0, x) if mask is not None else x
        log_rate = self._observed_log_mean(x, decoded)
        log_prob = x * log_rate - log_rate.exp() - torch.lgamma(x + 1.0)
        return _masked(log_prob, mask)

    def sample(self, decoded, generator):
        """One draw from p(x|z): non-negative integers, as floats."""
        rate = self._drawn_log_mean(decoded, generator).exp()
        return torch.poisson(rate, generator=generator)


class NegativeBinomialLikelihood(_CountLikelihood):
    """Overdispersed counts: two decoder outputs per column, the log-mean and log-dispersion.

    The decoder's outputs are laid out as ``n_columns`` log-means (relative
    to ``log_offset``) followed by ``n_columns`` values of log(theta), the
    inverse dispersion, so that both depend on z (scVI's "gene-cell"
    dispersion). With mean ``mu`` the variance is ``mu + mu^2 / theta``;
    theta -> inf gives the Poisson. log(theta) is bounded smoothly to
    (``LOG_THETA_MIN``, ``LOG_THETA_MAX``). The mass is that of
    ``scipy.stats.nbinom(n=theta, p=theta / (theta + mu))``; its log-gamma
    terms are computed in float64, where their difference keeps its
    precision for large theta.
    """

    outputs_per_column = 2

    def log_theta(self, decoded):
        return _soft_clamp(decoded[..., self.n_columns :], LOG_THETA_MIN, LOG_THETA_MAX)

    def log_prob(self, x, decoded, mask=None):
        """Per-column log-mass: ``(..., n_columns)``."""
        x = torch.where(torch.isnan(x), 0.0, x) if mask is not None else x
        log_mu, log_theta = self._observed_log_mean(x, decoded), self.log_theta(decoded)
        theta = log_theta.exp()
        wide = x.double()
        log_gammas = (
            torch.lgamma(wide + theta.double())
            - torch.lgamma(theta.double())
            - torch.lgamma(wide + 1.0)
        ).to(log_mu.dtype)
        # theta log(theta / (theta + mu)) + x log(mu / (theta + mu)), each log as a
        # softplus, which keeps its precision when theta >> mu or mu >> theta.
        log_prob = (
            -theta * F.softplus(log_mu - log_theta)
            - x * F.softplus(log_theta - log_mu)
            + log_gammas
        )
        return _masked(log_prob, mask)

    def sample(self, decoded, generator):
        """One draw from p(x|z) as a Gamma-Poisson mixture: non-negative integers, as floats."""
        mu = self._drawn_log_mean(decoded, generator).exp()
        theta = self.log_theta(decoded).exp()
        rate = standard_gamma(theta, generator) * (mu / theta)
        return torch.poisson(rate.clamp_max(_FLOAT32_MAX), generator=generator)


class CategoricalLikelihood(nn.Module):
    """One categorical variable per column, with a logit per category.

    Parameters
    ----------
    n_categories : list of int
        K_j, the number of categories of each column. A column holds the
        category's code, 0 .. K_j - 1 (as a float); the encoder sees it
        one-hot (K_j inputs) and the decoder gives K_j logits, laid out
        column after column. The logits are relative to ``log_frequency``,
        the log of each category's (smoothed) training frequency, so that an
        untrained model starts at the marginal frequencies.

    ``mean`` gives the most probable code, not an average of codes (which
    would name no category): it is what ``inverse_transform`` shows.
    """

    has_expected_log_prob = False

    def __init__(self, n_categories):
        super().__init__()
        self.n_categories = [int(k) for k in n_categories]
        self.n_columns = len(self.n_categories)
        self.n_inputs = self.n_outputs = sum(self.n_categories)
        self._slices = _consecutive_slices(self.n_categories)
        self.register_buffer("log_frequency", torch.zeros(self.n_outputs))

    def reset_parameters(self, generator=None):
        """Equal frequencies until the fitted ones are set."""
        with torch.no_grad():
            self.log_frequency.zero_()

    def set_log_frequency(self, log_frequency):
        with torch.no_grad():
            self.log_frequency.copy_(torch.as_tensor(log_frequency))

    def transform(self, x):
        return x

    def _codes(self, x, mask):
        """Integer codes, 0 where ``mask`` is 0 (a missing value may be anything there)."""
        if mask is not None:
            x = torch.where(mask == 0, 0.0, x)
        return x.long()

    def encoder_input(self, x_t, mask=None):
        """Each column one-hot, ``(..., sum(K))``; all zeros where the value is missing."""
        codes = self._codes(x_t, mask)
        pieces = [F.one_hot(codes[..., j], k) for j, k in enumerate(self.n_categories)]
        one_hot = torch.cat(pieces, -1).to(x_t.dtype)
        if mask is None:
            return one_hot
        widths = torch.tensor(self.n_categories, device=x_t.device)
        return one_hot * mask.repeat_interleave(widths, dim=-1)

    def weighted_mean(self, decoded, weights):
        """The most probable code under the mixture ``sum_k weights_k p(x | z_k)``.

        ``decoded``: (K, ..., n_outputs), ``weights``: (K, ...) summing to 1
        over K. The categories' probabilities are averaged over the draws
        first, then the most probable is taken, so that the result is a
        category code (not an average of codes): ``(..., n_columns)``.
        """
        probabilities = [log_p.exp() for log_p in self.log_softmax(decoded)]
        w = weights.unsqueeze(-1)
        return torch.stack(
            [(w * p).sum(0).argmax(-1) for p in probabilities], -1
        ).to(decoded.dtype)

    def log_softmax(self, decoded):
        """Per-column log-probabilities of every category, one tensor per column."""
        logits = decoded + self.log_frequency
        return [F.log_softmax(logits[..., piece], -1) for piece in self._slices]

    def log_prob(self, x, decoded, mask=None):
        """Per-column log-mass of the observed category: ``(..., n_columns)``, broadcast."""
        codes = self._codes(x, mask)
        columns = []
        for j, log_p in enumerate(self.log_softmax(decoded)):
            index = codes[..., j : j + 1].expand(*log_p.shape[:-1], 1)
            columns.append(log_p.gather(-1, index))
        return _masked(torch.cat(columns, -1), mask)

    def mean(self, decoded):
        """The most probable code of each column (as a float): ``(..., n_columns)``."""
        logits = decoded + self.log_frequency
        return torch.stack(
            [logits[..., piece].argmax(-1) for piece in self._slices], -1
        ).to(decoded.dtype)

    def sample(self, decoded, generator):
        """One draw from p(x|z): a code per column (as a float)."""
        draws = []
        for log_p in self.log_softmax(decoded):
            flat = log_p.exp().reshape(-1, log_p.shape[-1])
            draw = torch.multinomial(flat, 1, generator=generator)
            draws.append(draw.reshape(log_p.shape[:-1]))
        return torch.stack(draws, -1).to(decoded.dtype)


def standard_gamma(shape, generator):
    """Gamma(shape, 1) draws from ``generator`` (Marsaglia & Tsang, 2000), vectorised.

    ``torch.distributions.Gamma`` takes no generator; this does, so that
    ``sample(random_state=...)`` is reproducible. Shapes below 1 are drawn
    at shape + 1 and scaled by U^(1 / shape). Each round accepts more than
    95 % of the outstanding draws.
    """
    flat = shape.reshape(-1)
    boost = flat < 1.0
    a = torch.where(boost, flat + 1.0, flat)
    d = a - 1.0 / 3.0
    c = 1.0 / (9.0 * d).sqrt()
    out = torch.empty_like(flat)
    todo = torch.arange(flat.numel(), device=flat.device)
    while todo.numel():
        normal = torch.randn(todo.shape, generator=generator, device=flat.device, dtype=flat.dtype)
        uniform = torch.rand(todo.shape, generator=generator, device=flat.device, dtype=flat.dtype)
        v = (1.0 + c[todo] * normal).pow(3)
        safe_v = v.clamp_min(torch.finfo(v.dtype).tiny)
        accept = (v > 0) & (
            uniform.log() < 0.5 * normal.pow(2) + d[todo] - d[todo] * v + d[todo] * safe_v.log()
        )
        out[todo[accept]] = (d[todo] * v)[accept]
        todo = todo[~accept]
    uniform = torch.rand(flat.shape, generator=generator, device=flat.device, dtype=flat.dtype)
    out = torch.where(boost, out * uniform.pow(1.0 / flat), out)
    return out.reshape(shape.shape)


_LIKELIHOODS = {
    "gaussian": GaussianLikelihood,
    "bernoulli": BernoulliLikelihood,
    "lognormal": LogNormalLikelihood,
    "poisson": PoissonLikelihood,
    "negative_binomial": NegativeBinomialLikelihood,
}


def make_likelihood(name, n_features, min_variance, per_row=False):
    """Build the decoder distribution called ``name`` over ``n_features`` columns.

    The categorical likelihood needs its numbers of categories: build a
    :class:`CategoricalLikelihood` directly (the column description does).
    """
    if name in ("gaussian", "lognormal"):
        return _LIKELIHOODS[name](n_features, min_variance, per_row)
    if name in _LIKELIHOODS:
        return _LIKELIHOODS[name](n_features)
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

    def weighted_mean(self, decoded, weights):
        """Per column, the point estimate under ``sum_k weights_k p(x | z_k)``.

        ``decoded``: (K, ..., n_outputs), ``weights``: (K, ...) summing to 1
        over K. Each part's ``weighted_mean`` where it has one (the
        categorical's most probable category), else the weighted average of
        its means: the mixture's mean. ``(..., n_columns)``.
        """
        pieces = []
        for part, piece in zip(self.parts, self._split(decoded, "n_outputs")):
            if hasattr(part, "weighted_mean"):
                pieces.append(part.weighted_mean(piece, weights))
            else:
                pieces.append((weights.unsqueeze(-1) * part.mean(piece)).sum(0))
        if self._identity:
            return pieces[0]
        return self._to_raw_order(pieces)

    @property
    def reparameterizable(self):
        """Whether :meth:`draw_transformed` exists: one Gaussian block over every column."""
        return self._identity and type(self.parts[0]) is GaussianLikelihood

    def _gaussian_block(self):
        """The one Gaussian block over every column (see :attr:`reparameterizable`)."""
        if not self.reparameterizable:
            raise NotImplementedError(
                "Reparameterised draws and their inverse need one Gaussian block."
            )
        return self.parts[0]

    def draw_transformed(self, decoded, noise):
        """A reparameterised draw in the working space (see :attr:`reparameterizable`)."""
        return self._gaussian_block().draw_transformed(decoded, noise)

    def inverse_transform(self, x_t):
        """Working-space values back in the raw space (see :attr:`reparameterizable`)."""
        return self._gaussian_block().inverse_transform(x_t)

    def sample(self, decoded, generator):
        if self._identity:
            return self.parts[0].sample(decoded, generator)
        outputs = self._split(decoded, "n_outputs")
        return self._to_raw_order([p.sample(d, generator) for p, d in zip(self.parts, outputs)])


def _consecutive_slices(widths):
    """Slices of consecutive ranges of the given widths: [2, 3] -> [0:2, 2:5]."""
    ends = [sum(widths[: i + 1]) for i in range(len(widths))]
    return [slice(end - width, end) for end, width in zip(ends, widths)]
