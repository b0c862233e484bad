"""The numpy-side description of the data's columns, one block per likelihood.

Each block knows, for its columns, what the torch likelihood cannot: which
values it supports (and the error that names the first one outside), how
far the outlier detector may clip, the colour range a picture uses, and the
statistics it fits on the training rows (the Gaussian's standardisation).
The description is looked up by name once, when a model is built; after
that nothing tests a likelihood's name. It is JSON-able, and saved with the
model.

A new kind of column (categorical, counts) is one more block class here and
one more likelihood in ``_likelihoods``.

NaN marks a missing value: the statistics and checks leave it out, and
:meth:`ColumnDescription.as_batch` turns rows with holes into finite values
and a mask, the form in which the network reads them.
"""

import warnings

import numpy as np

from . import _inference
from ._batch import Batch
from ._likelihoods import (
    BernoulliLikelihood,
    CategoricalLikelihood,
    CompositeLikelihood,
    GaussianLikelihood,
    LogNormalLikelihood,
    NegativeBinomialLikelihood,
    PoissonLikelihood,
)

# The largest value, in training standard deviations from the training mean,
# that the model scores: beyond it the squares in its float32 arithmetic could
# overflow. Data outside are refused with a ValueError (see check_representable).
MAX_STANDARDIZED = 1e12
# What the encoder of a (non-linear) model reads of a standardised Gaussian or
# log-normal value x in a near-constant column (interquartile range 0 in
# training: one value in over half the rows, such as a mostly blank pixel):
# ENCODER_INPUT_BOUND * tanh(x / ENCODER_INPUT_BOUND). Such a column has a tiny
# standard deviation, so that an ordinary value there (the pixel lit)
# standardises to hundreds; unbounded, the encoder maps it to a code far
# outside the prior, which decodes to values far outside the data (digits/16
# with salt-and-pepper noise: |z| up to 170, "denoised" pixels from -27 to
# 41). Other columns are read as they are: bounding every column cost
# heavy-tailed ones their tails. The likelihood still scores the value
# itself; only the encoder's view is bounded. Chosen in
# benchmarks/tune_encoder_bound.py.
ENCODER_INPUT_BOUND = 3.0
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)
# The largest count the count likelihoods score: float32 holds integers
# exactly only up to 2**24, and log-gamma loses all precision long before.
MAX_COUNT = 1e15
# Added to each category's training count before taking log-frequencies, so
# that a category of the dtype never seen in training keeps a finite logit.
_CATEGORY_SMOOTHING = 0.5


def column_label(column, names=None):
    """How an error names a column: ``column 'colour'`` or ``column 3``."""
    if names is not None:
        return f"column {names[column]!r}"
    return f"column {column}"


def _standardisation(values):
    """Per-column (shift, scale) of ``values`` as the Gaussian fits them (see GaussianColumns)."""
    shift, scale = column_mean_std(values)
    tiny = 10 * np.finfo(np.float32).eps * np.maximum(1.0, np.abs(shift))
    # Constant features: shift only, in units of 1, or of the float32
    # resolution of the value where that is coarser (|value| > 8e5),
    # so that the value itself is representable after the shift.
    constant = scale < tiny
    scale[constant] = np.maximum(1.0, tiny[constant])
    # Kept as the float32 values the network computes with, so that the
    # numpy-side checks and the torch side agree exactly.
    return shift.astype(np.float32).astype(np.float64), scale.astype(np.float32).astype(np.float64)


def _near_constant(values):
    """Columns with one value in over half their observed rows: interquartile range 0."""
    low, high = observed_percentiles(values, [25, 75], axis=0)
    return high - low == 0


def _constant(values):
    """Columns that take one value in every observed row (not those with none observed)."""
    low, high = observed_min_max(values, axis=0)
    return low == high


def _first_outside(X, columns, outside):
    """(row, column) of X's first value where ``outside`` (of X[:, columns]) holds."""
    row, j = np.argwhere(outside)[0]
    return int(row), columns[j]


def _row_chunks(X):
    chunk_rows = max(1, _inference.CHUNK_ELEMENTS // max(1, X.shape[1]))
    return [slice(start, start + chunk_rows) for start in range(0, X.shape[0], chunk_rows)]


def observed_counts(X):
    """Per-column number of observed (not NaN) values: (n_columns,) int64, chunk by chunk."""
    counts = np.zeros(X.shape[1], dtype=np.int64)
    for rows in _row_chunks(X):
        counts += (~np.isnan(X[rows])).sum(axis=0)
    return counts


def column_mean_std(X):
    """Per-column mean and (population) standard deviation of the observed values, float64.

    Two passes over chunks of rows, so the float64 temporaries stay at about
    ``_inference.CHUNK_ELEMENTS`` values instead of a float64 copy of the
    whole of ``X`` (which ``X.std(axis=0, dtype=np.float64)`` would make).
    NaN marks a missing value: each column's statistics are those of its
    observed values, and a column with none has mean 0 and deviation 0.
    """
    chunks = _row_chunks(X)
    counts = observed_counts(X)
    if counts.min(initial=X.shape[0]) == X.shape[0]:  # nothing missing
        mean = sum(X[rows].sum(axis=0, dtype=np.float64) for rows in chunks) / X.shape[0]
        squares = sum(np.square(X[rows] - mean).sum(axis=0) for rows in chunks)
        return mean, np.sqrt(squares / X.shape[0])
    total = sum(np.nansum(X[rows], axis=0, dtype=np.float64) for rows in chunks)
    mean = np.divide(total, counts, out=np.zeros(X.shape[1]), where=counts > 0)
    squares = sum(np.nansum(np.square(X[rows] - mean), axis=0) for rows in chunks)
    variance = np.divide(squares, counts, out=np.zeros(X.shape[1]), where=counts > 0)
    return mean, np.sqrt(variance)


def observed_min_max(X, axis=None):
    """Minimum and maximum of the values of ``X`` that are not NaN (NaN where there are none)."""
    return np.fmin.reduce(X, axis=axis), np.fmax.reduce(X, axis=axis)


def observed_percentiles(values, q, axis=None):
    """``np.percentile``, leaving NaN out where there is any (NaN where all are)."""
    if not np.isnan(values).any():
        return np.percentile(values, q, axis=axis)
    with warnings.catch_warnings():  # a feature or a set with nothing observed
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(values, q, axis=axis)


class ColumnBlock:
    """Columns that share one likelihood; subclasses fill the hooks.

    Parameters
    ----------
    columns : list of int
        Indices of the block's columns in the data.
    """

    name = None

    def __init__(self, columns):
        self.columns = [int(c) for c in columns]

    def check_support(self, X, names=None):
        """Raise a ValueError naming the first value of ``X`` outside the support.

        ``X`` holds every column of the data; ``names`` are the columns'
        names, for the message (None: by position).
        """

    def clip_bounds(self, low, high):
        """The block's clipping bounds ``(low, high)`` cut to its support."""
        return low, high

    def hint(self, X):
        """A sentence suggesting a better likelihood for these training values, or None."""
        return None

    def winsor_bounds(self, values, n_std):
        """Winsorising bounds of the block's columns ``values``: their range widened.

        The training range widened by ``n_std`` standard deviations on each
        side, cut to the support (``clip_bounds``); the outlier detector
        clips the rows it scores to them.
        """
        width = n_std * column_mean_std(values)[1]  # no float64 copy of the values
        smallest, largest = observed_min_max(values, axis=0)  # NaN (missing) left out
        empty = np.isnan(smallest)  # no observed value: the column is ignored
        low = np.where(empty, 0.0, smallest - width)
        high = np.where(empty, 0.0, largest + width)
        return self.clip_bounds(low, high)

    def representable_bounds(self):
        """Per-column (low, high) of the raw values the model can score in float32."""
        shift, scale = self.location_scale()
        low = np.maximum(shift - MAX_STANDARDIZED * scale, -_FLOAT32_MAX)
        high = np.minimum(shift + MAX_STANDARDIZED * scale, _FLOAT32_MAX)
        return low, high

    def display_range(self):
        """The fixed colour range of its values in a picture, or None (the data's own)."""
        return None

    def fit(self, X):
        """Fit the block's statistics on its columns of the training rows."""

    def build(self, min_variance):
        """The torch likelihood of the block, with its fitted statistics."""
        raise NotImplementedError

    def location_scale(self):
        """Per-column (shift, scale) from raw values to the network's space."""
        n = len(self.columns)
        return np.zeros(n), np.ones(n)

    def to_json(self):
        return {"likelihood": self.name, "columns": list(self.columns)}

    @classmethod
    def from_json(cls, document):
        return cls(document["columns"])


class GaussianColumns(ColumnBlock):
    """Real-valued columns, standardised with the training mean and standard deviation.

    ``variance`` is ``"column"`` (one learned variance per column) or
    ``"row"`` (a variance decoded from z for every row); see
    :class:`~skvae._likelihoods.GaussianLikelihood`. ``input_bound`` bounds
    what the encoder reads of the standardised values of the columns in
    ``bounded`` (positions in the block): ``ENCODER_INPUT_BOUND`` and the
    near-constant columns for models fitted since it exists; None,
    unbounded, for older files, for linear models and where no column is
    near-constant. ``constant`` (positions in the block) lists the columns
    that took one value in every training row, whose mean and variance the
    likelihood fixes in closed form; None for older files and where the
    model was started by ``partial_fit`` (see :meth:`set_constant`).
    """

    name = "gaussian"
    input_bound = bounded = constant = None  # also what pickles of older models read

    def __init__(
        self, columns, shift=None, scale=None, variance="column", input_bound=None, bounded=None,
        constant=None,
    ):
        super().__init__(columns)
        self.shift = None if shift is None else np.asarray(shift, dtype=np.float64)
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float64)
        self.variance = variance
        self.input_bound = None if input_bound is None else float(input_bound)
        self.bounded = None if bounded is None else [int(i) for i in bounded]
        self.constant = None if not constant else [int(i) for i in constant]

    def fit(self, X):
        self.shift, self.scale = _standardisation(X)
        self.near_constant = _near_constant(X)
        self.constant = np.flatnonzero(_constant(X)).tolist() or None

    def set_constant(self, fixed):
        """Fix the columns constant in training at their value (``fixed``), or learn them.

        Called right after :meth:`fit`, which lists them. ``fit`` sees every
        training row and fixes them; the first ``partial_fit`` sees one batch,
        in which a column can be constant by chance (a rare flag), so they
        are learnt.
        """
        if not fixed:
            self.constant = None

    def set_input_bound(self, bound):
        """Bound the encoder's view of the near-constant columns (None: of none).

        Known right after :meth:`fit` only; a block with no near-constant
        column stays unbounded.
        """
        near = getattr(self, "near_constant", None)
        if bound is None or near is None or not near.any():
            self.input_bound = self.bounded = None
        else:
            self.input_bound, self.bounded = float(bound), np.flatnonzero(near).tolist()

    def _likelihood_options(self):
        return dict(per_row=self.variance == "row", input_bound=self.input_bound,
                    bounded=self.bounded, constant=self.constant)

    def location_scale(self):
        if self.shift is None:
            return super().location_scale()
        return self.shift, self.scale

    def hint(self, X):
        values = X[:, self.columns]
        if np.any(values == 1) and np.all((values == 0) | (values == 1)):
            return (
                "X holds only the values 0 and 1: likelihood='bernoulli' models binary data, "
                "and its scores are log-probabilities. A Gaussian density on 0/1 values can "
                "grow without bound as its variance shrinks, so its ELBO (even positive) "
                "says little."
            )
        return None

    def build(self, min_variance):
        return GaussianLikelihood(len(self.columns), min_variance, **self._likelihood_options())

    def initialise(self, likelihood):
        """Copy the fitted standardisation into ``likelihood``'s buffers."""
        if self.shift is not None:
            likelihood.set_standardization(self.shift, self.scale)

    def to_json(self):
        document = super().to_json()
        if self.shift is not None:
            document.update(shift=self.shift.tolist(), scale=self.scale.tolist())
        if self.variance != "column":  # written only when set: older files read as before
            document["variance"] = self.variance
        if self.input_bound is not None:  # the same: older files read unbounded
            document.update(input_bound=self.input_bound, bounded=self.bounded)
        if self.constant is not None:  # the same: older files learn every column
            document["constant"] = self.constant
        return document

    @classmethod
    def from_json(cls, document):
        return cls(
            document["columns"],
            document.get("shift"),
            document.get("scale"),
            document.get("variance", "column"),
            document.get("input_bound"),
            document.get("bounded"),
            document.get("constant"),
        )


class BernoulliColumns(ColumnBlock):
    """Columns of values in [0, 1] (binary, or probabilities), used as they are."""

    name = "bernoulli"

    def check_support(self, X, names=None):
        values = X[:, self.columns]
        if not values.size:
            return
        low, high = observed_min_max(values.ravel())  # NaN (missing) is left out
        if low < 0 or high > 1:
            row, column = _first_outside(X, self.columns, (values < 0) | (values > 1))
            where = "X" if names is None else column_label(column, names)
            raise ValueError(
                f"likelihood='bernoulli' needs every value of {where} in [0, 1]; "
                f"X[{row}, {column}] = {float(X[row, column])!r} is outside it (values "
                f"range over [{float(low)!r}, {float(high)!r}]). Scale the "
                "data (e.g. MinMaxScaler) or use likelihood='gaussian'."
            )

    def clip_bounds(self, low, high):
        return np.maximum(low, 0.0), np.minimum(high, 1.0)

    def hint(self, X):
        values = X[:, self.columns]
        if values.size and np.mean((values > 0) & (values < 1)) > 0.5:
            return (
                "Most values of X lie strictly between 0 and 1: with likelihood='bernoulli' "
                "they are scored by the cross-entropy, which is not a normalised density "
                "on [0, 1], so score_samples does not compare with other density models. "
                "likelihood='gaussian' models continuous values."
            )
        return None

    def display_range(self):
        return (0.0, 1.0)

    def build(self, min_variance):
        return BernoulliLikelihood(len(self.columns))

    def initialise(self, likelihood):
        """Nothing fitted to copy."""


class LogNormalColumns(GaussianColumns):
    """Positive columns (amounts, prices, durations), modelled on the log scale.

    The standardisation is fitted to ``log x``; values must be positive.
    """

    name = "lognormal"

    def check_support(self, X, names=None):
        values = X[:, self.columns]
        bad = values <= 0  # NaN (missing) is not checked
        if values.size and bad.any():
            row, column = _first_outside(X, self.columns, bad)
            raise ValueError(
                f"likelihood='lognormal' needs positive values, but {column_label(column, names)}"
                f" has X[{row}, {column}] = {float(X[row, column])!r}. Use "
                "likelihood='gaussian' for that column, or shift it."
            )

    def fit(self, X):
        super().fit(np.log(X))

    def hint(self, X):
        return None  # positive amounts: not the Gaussian's 0/1 case

    def clip_bounds(self, low, high):
        return np.maximum(low, _FLOAT32_TINY), high

    def winsor_bounds(self, values, n_std):
        """The training range widened by ``n_std`` standard deviations of ``log x``."""
        logs = np.log(values)
        width = n_std * column_mean_std(logs)[1]
        low = np.exp(logs.min(axis=0) - width)
        return self.clip_bounds(low, np.exp(logs.max(axis=0) + width))

    def representable_bounds(self):
        n = len(self.columns)
        return np.full(n, _FLOAT32_TINY), np.full(n, _FLOAT32_MAX)

    def build(self, min_variance):
        return LogNormalLikelihood(len(self.columns), min_variance, **self._likelihood_options())


class _CountColumns(ColumnBlock):
    """Non-negative integer counts; the encoder reads them as standardised log1p.

    ``size_factor="total"`` scales each row's means by the row's total over
    the block's columns (see ``_likelihoods._CountLikelihood``); ``fit``
    then also keeps the mean and standard deviation of the training rows'
    log totals, ``log_library``, which generated rows draw their library
    from. None (the default) models the counts without one.
    """

    likelihood_class = None
    # Class defaults, for pickles of blocks made before the size factor.
    size_factor = None
    log_library = None

    def __init__(
        self, columns, shift=None, scale=None, log_offset=None, size_factor=None,
        log_library=None,
    ):
        super().__init__(columns)
        self.shift = None if shift is None else np.asarray(shift, dtype=np.float64)
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float64)
        self.log_offset = None if log_offset is None else np.asarray(log_offset, np.float64)
        self.size_factor = size_factor
        self.log_library = None if log_library is None else np.asarray(log_library, np.float64)

    def check_support(self, X, names=None):
        values = X[:, self.columns]
        bad = (values < 0) | (values > MAX_COUNT) | (values != np.round(values))
        bad &= ~np.isnan(values)  # NaN (missing) is not checked
        if values.size and bad.any():
            row, column = _first_outside(X, self.columns, bad)
            raise ValueError(
                f"likelihood={self.name!r} needs counts (integers from 0 to {MAX_COUNT:g}), "
                f"but {column_label(column, names)} has X[{row}, {column}] = "
                f"{float(X[row, column])!r}. Use likelihood='gaussian' for that column."
            )

    def fit(self, X):
        self.shift, self.scale = _standardisation(np.log1p(X))  # NaN (missing) left out
        holes = np.isnan(X)
        # the observed values' mean with holes; X.mean, as before, without
        mean = column_mean_std(X)[0] if holes.any() else X.mean(axis=0, dtype=np.float64)
        self.log_offset = np.log(np.maximum(mean, 1e-6)).astype(np.float32).astype(np.float64)
        if self.size_factor is not None:
            # As the torch side computes it: the row's observed total, at least 1.
            totals = np.where(holes, 0.0, X).sum(axis=1, dtype=np.float64)
            logs = np.log(np.maximum(totals, 1.0))
            statistics = np.array([logs.mean(), logs.std()]) if logs.size else np.array([0, 1])
            self.log_library = statistics.astype(np.float32).astype(np.float64)

    def clip_bounds(self, low, high):
        return np.maximum(np.ceil(low), 0.0), np.minimum(np.floor(high), MAX_COUNT)

    def representable_bounds(self):
        n = len(self.columns)
        return np.zeros(n), np.full(n, MAX_COUNT)

    def build(self, min_variance):
        return self.likelihood_class(len(self.columns), size_factor=self.size_factor is not None)

    def initialise(self, likelihood):
        if self.shift is not None:
            likelihood.set_statistics(
                self.shift, self.scale, self.log_offset, self.log_library
            )

    def to_json(self):
        document = super().to_json()
        if self.size_factor is not None:  # written only when set: other models unchanged
            document["size_factor"] = self.size_factor
        if self.shift is not None:
            document.update(
                shift=self.shift.tolist(),
                scale=self.scale.tolist(),
                log_offset=self.log_offset.tolist(),
            )
            if self.log_library is not None:
                document["log_library"] = self.log_library.tolist()
        return document

    @classmethod
    def from_json(cls, document):
        return cls(
            document["columns"],
            document.get("shift"),
            document.get("scale"),
            document.get("log_offset"),
            document.get("size_factor"),
            document.get("log_library"),
        )


class PoissonColumns(_CountColumns):
    """Counts with variance equal to their mean."""

    name = "poisson"
    likelihood_class = PoissonLikelihood


class NegativeBinomialColumns(_CountColumns):
    """Overdispersed counts: a mean and a dispersion per column, both decoded from z."""

    name = "negative_binomial"
    likelihood_class = NegativeBinomialLikelihood


class CategoricalColumns(ColumnBlock):
    """Columns of categories, each held as its category's code 0 .. K - 1.

    Parameters
    ----------
    columns : list of int
    categories : list of list, default=None
        Each column's categories, in code order (a category dtype's own
        order; sorted distinct values otherwise). Set from the raw data by
        :meth:`fit_categories` before the codes exist.
    log_frequency : array-like, default=None
        The log of each category's smoothed training frequency, column
        after column (fitted by :meth:`fit`).
    """

    name = "categorical"

    def __init__(self, columns, categories=None, log_frequency=None):
        super().__init__(columns)
        self.categories = None if categories is None else [list(c) for c in categories]
        self.log_frequency = (
            None if log_frequency is None else np.asarray(log_frequency, dtype=np.float64)
        )

    def fit_categories(self, categories):
        """Set each column's categories (a list per column, in code order)."""
        self.categories = [list(c) for c in categories]
        return self

    @property
    def n_categories(self):
        return [len(c) for c in self.categories]

    def check_support(self, X, names=None):
        values = X[:, self.columns]
        high = np.array(self.n_categories, dtype=np.float64) - 1
        bad = (values < 0) | (values > high) | (values != np.round(values))
        bad &= ~np.isnan(values)  # NaN (missing) is not checked
        if values.size and bad.any():
            row, column = _first_outside(X, self.columns, bad)
            raise ValueError(
                f"{column_label(column, names)} is categorical: its values are category codes "
                f"0 to {int(high[self.columns.index(column)])}, but X[{row}, {column}] = "
                f"{float(X[row, column])!r}."
            )

    def fit(self, X):
        pieces = []
        for j, k in enumerate(self.n_categories):
            codes = X[:, j]
            codes = codes[~np.isnan(codes)]  # NaN (missing) left out
            counts = np.bincount(codes.astype(np.int64), minlength=k)[:k]
            frequency = (counts + _CATEGORY_SMOOTHING) / (counts.sum() + _CATEGORY_SMOOTHING * k)
            pieces.append(np.log(frequency))
        self.log_frequency = np.concatenate(pieces).astype(np.float32).astype(np.float64)

    def clip_bounds(self, low, high):
        """Every code is in the support: the bounds are the codes 0 .. K - 1."""
        return np.zeros(len(self.columns)), np.array(self.n_categories, dtype=np.float64) - 1

    def winsor_bounds(self, values, n_std):
        return self.clip_bounds(None, None)

    def representable_bounds(self):
        return self.clip_bounds(None, None)

    def build(self, min_variance):
        return CategoricalLikelihood(self.n_categories)

    def initialise(self, likelihood):
        if self.log_frequency is not None:
            likelihood.set_log_frequency(self.log_frequency)

    def to_json(self):
        document = super().to_json()
        document["categories"] = [
            [_json_category(value, column) for value in values]
            for column, values in zip(self.columns, self.categories)
        ]
        if self.log_frequency is not None:
            document["log_frequency"] = self.log_frequency.tolist()
        return document

    @classmethod
    def from_json(cls, document):
        return cls(document["columns"], document["categories"], document.get("log_frequency"))


def _json_category(value, column):
    """A category as a JSON value (str, int, float or bool), or a TypeError naming it."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(
        f"Cannot save column {column}'s category {value!r} of type {type(value).__name__}: "
        "only strings, numbers and booleans go into a model file (pickle keeps any)."
    )


BLOCKS = {
    block.name: block
    for block in (
        GaussianColumns,
        BernoulliColumns,
        LogNormalColumns,
        PoissonColumns,
        NegativeBinomialColumns,
        CategoricalColumns,
    )
}


class ColumnDescription:
    """The data's columns as blocks, each with its likelihood, and the table they came from.

    Parameters
    ----------
    blocks : list of ColumnBlock
        Together they cover columns ``0 .. n_columns - 1`` once each.
    n_columns : int
    names : list of str, default=None
        The columns' names (a DataFrame's), for messages and output frames.
    library : {"pandas", "polars"} or None, default=None
        The kind of DataFrame the model was fitted on; None for arrays.
    dtypes : list of dict, default=None
        Each column's dtype in that DataFrame (see ``_tables``), so that
        outputs get the training dtypes back.
    encode_mask : bool, default=False
        The training data had missing values (NaN): the encoder reads the
        mask besides the values. Set by :meth:`fit`.
    empty_columns : list of int, default=()
        Columns with no observed value in the training data; every score
        treats them as missing. Set by :meth:`fit`.

    The training range of every column (``minimum``, ``maximum``, in the
    numeric space the model reads: category codes for categorical columns)
    is set by :meth:`fit_range`.

    Examples
    --------
    >>> import numpy as np
    >>> columns = ColumnDescription.from_likelihood("bernoulli", 3)
    >>> columns.check_support(np.array([[0.0, 1.0, 2.0]]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: likelihood='bernoulli' needs every value of X in [0, 1]; X[0, 2] = 2.0 ...
    >>> columns.display_range()
    (0.0, 1.0)
    """

    def __init__(
        self,
        blocks,
        n_columns,
        names=None,
        library=None,
        dtypes=None,
        encode_mask=False,
        empty_columns=(),
    ):
        self.blocks = list(blocks)
        self.n_columns = int(n_columns)
        self.names = None if names is None else [str(name) for name in names]
        self.library = library
        self.dtypes = None if dtypes is None else [dict(d) for d in dtypes]
        self.minimum = self.maximum = None
        self.encode_mask = bool(encode_mask)
        self.empty_columns = [int(c) for c in empty_columns]

    def __setstate__(self, state):
        # Pickles of models fitted before tables and missing values lack their facts.
        defaults = dict(
            names=None, library=None, dtypes=None, minimum=None, maximum=None,
            encode_mask=False, empty_columns=[],
        )
        self.__dict__.update({**defaults, **state})

    @classmethod
    def from_likelihood(cls, likelihood, n_columns):
        """One block of every column for the likelihood named ``likelihood``."""
        return cls([BLOCKS[likelihood](range(n_columns))], n_columns)

    def likelihood_names(self):
        """The likelihood of each column, by name: a list of ``n_columns`` strings."""
        names = [None] * self.n_columns
        for block in self.blocks:
            for column in block.columns:
                names[column] = block.name
        return names

    def count_blocks(self):
        return [block for block in self.blocks if isinstance(block, _CountColumns)]

    def set_count_size_factor(self, size_factor):
        """Give every count block the size factor ``size_factor`` (None or "total").

        Called on a fresh description, before :meth:`fit`. A size factor on
        data without count columns raises a ValueError.
        """
        blocks = self.count_blocks()
        if size_factor is not None and not blocks:
            raise ValueError(
                f"count_size_factor={size_factor!r} scales the means of count columns, but "
                "no column has likelihood 'poisson' or 'negative_binomial'."
            )
        for block in blocks:
            block.size_factor = size_factor
        return self

    def categorical_blocks(self):
        return [block for block in self.blocks if isinstance(block, CategoricalColumns)]

    # --------------------------------------------------------- checks
    def check_support(self, X):
        """Raise a ValueError naming the first value outside its column's support.

        A missing value (NaN) is accepted in a column of any likelihood: it
        is left out of the row's likelihood, and not checked.
        """
        for block in self.blocks:
            block.check_support(X, self.names)

    def clip_bounds(self, low, high):
        """Per-column clipping bounds ``(low, high)``, cut to each column's support."""
        low, high = np.array(low, copy=True), np.array(high, copy=True)
        for block in self.blocks:
            low[block.columns], high[block.columns] = block.clip_bounds(
                low[block.columns], high[block.columns]
            )
        return low, high

    def hints(self, X):
        """Each block's suggestion of a better likelihood for the training rows ``X``."""
        return [hint for hint in (block.hint(X) for block in self.blocks) if hint is not None]

    def winsor_bounds(self, X, n_std):
        """Per-column winsorising bounds from the training rows ``X`` (see the blocks)."""
        if len(self.blocks) == 1:  # every column at once, as the detector always did
            return self.blocks[0].winsor_bounds(X, n_std)
        low, high = np.empty(self.n_columns), np.empty(self.n_columns)
        for block in self.blocks:
            low[block.columns], high[block.columns] = block.winsor_bounds(
                X[:, block.columns], n_std
            )
        return low, high

    def display_range(self):
        """The colour range shared by every column in a picture, or None (the data's own)."""
        ranges = {block.display_range() for block in self.blocks}
        return ranges.pop() if len(ranges) == 1 else None

    def location_scale(self):
        """Per-column (shift, scale) from raw values to the network's space, in float64."""
        shift, scale = np.zeros(self.n_columns), np.ones(self.n_columns)
        for block in self.blocks:
            shift[block.columns], scale[block.columns] = block.location_scale()
        return shift, scale

    def representable_bounds(self):
        """Per-column (low, high) of the values the fitted model can score."""
        low, high = np.empty(self.n_columns), np.empty(self.n_columns)
        for block in self.blocks:
            low[block.columns], high[block.columns] = block.representable_bounds()
        return low, high

    def check_representable(self, X):
        """Refuse values the fitted model cannot score in float32 arithmetic.

        A value more than ``MAX_STANDARDIZED`` training standard deviations
        from its column's training mean (or beyond float32's range; beyond
        ``MAX_COUNT`` for counts) raises a ValueError naming the row, the
        column and the value. Anything closer gives finite results. NaN (a
        missing value) is not checked.
        """
        low, high = self.representable_bounds()
        if not X.shape[0]:
            return
        smallest, largest = observed_min_max(X, axis=0)  # NaN (missing) is left out
        if np.any(smallest < low) or np.any(largest > high):
            row, column = np.argwhere((X < low) | (X > high))[0]
            named = "" if self.names is None else f" ({self.names[column]!r})"
            raise ValueError(
                f"X[{row}, {column}] = {float(X[row, column])!r} is beyond what the model "
                f"can represent: column {column}{named} accepts values in "
                f"[{low[column]:.6g}, {high[column]:.6g}] ({MAX_STANDARDIZED:g} training "
                "standard deviations from its training mean, within float32's range)."
            )

    # ------------------------------------------------ fit and build
    def fit(self, X):
        """Fit every block's statistics on the training rows ``X``; NaN marks a missing value.

        The statistics are those of the observed values. When ``X`` has
        missing values the encoder is built to read the mask as well
        (``encode_mask``), and the columns with no observed value at all
        (``empty_columns``) are left out of every score from then on: the
        model learns nothing about them.
        """
        counts = observed_counts(X)
        self.encode_mask = bool(counts.sum() < X.size)
        self.empty_columns = np.flatnonzero(counts == 0).tolist() if X.shape[0] else []
        for block in self.blocks:
            block.fit(X[:, block.columns])
        return self

    def fit_range(self, X, widen=False):
        """Set each column's training range from ``X`` (``widen``: extend the one set)."""
        if X.shape[0] == 0:
            return self
        minimum, maximum = (v.astype(np.float64) for v in observed_min_max(X, axis=0))
        if widen and self.minimum is not None:
            minimum = np.fmin(minimum, self.minimum)
            maximum = np.fmax(maximum, self.maximum)
        self.minimum, self.maximum = minimum, maximum
        return self

    def observed(self, X):
        """Where ``X`` is observed (not NaN, in a column observed in training), or None if all."""
        observed = ~np.isnan(X)
        if self.empty_columns:
            observed[:, self.empty_columns] = False
        return None if observed.all() else observed

    def as_batch(self, X):
        """Rows ``X`` (NaN where missing) as a :class:`~skvae._batch.Batch` for the network.

        Without a missing value, and with every column observed in training,
        the batch is ``X`` itself, with no mask. Otherwise a missing value is
        replaced by its column's shift (the training mean of a Gaussian
        column, so that it is 0 in the network's space): a NaN would poison
        the gradients even where the mask leaves it out. The mask is 1 where
        a value is observed and 0 where it is missing or its column had no
        observed value in training.
        """
        observed = self.observed(X)
        if observed is None:
            return Batch(X)
        shift = self.location_scale()[0].astype(X.dtype)
        return Batch(np.where(observed, X, shift), mask=observed.astype(X.dtype))

    def set_gaussian_variance(self, variance):
        """Give every Gaussian and log-normal block ``variance`` ("column" or "row")."""
        for block in self.blocks:
            if isinstance(block, GaussianColumns):
                block.variance = variance
        return self

    def set_encoder_input_bound(self, bound):
        """Bound what the encoder reads of near-constant Gaussian and log-normal columns.

        None bounds none. Called right after :meth:`fit`.
        """
        for block in self.blocks:
            if isinstance(block, GaussianColumns):
                block.set_input_bound(bound)
        return self

    def set_constant_columns(self, fixed):
        """Fix (``fixed``) or learn the Gaussian and log-normal columns constant in training.

        Called right after :meth:`fit`.
        """
        for block in self.blocks:
            if isinstance(block, GaussianColumns):
                block.set_constant(fixed)
        return self

    def build_likelihood(self, min_variance):
        """The torch :class:`CompositeLikelihood`, uninitialised (see :meth:`initialise`)."""
        return CompositeLikelihood(
            [(block.columns, block.build(min_variance)) for block in self.blocks]
        )

    def initialise(self, likelihood):
        """Copy the fitted statistics into an initialised composite ``likelihood``."""
        for block, part in zip(self.blocks, likelihood.parts):
            block.initialise(part)

    # ------------------------------------------------------- JSON
    def to_json(self):
        document = {"n_columns": self.n_columns, "blocks": [b.to_json() for b in self.blocks]}
        if self.names is not None:
            document["names"] = list(self.names)
        if self.library is not None:
            document.update(library=self.library, dtypes=self.dtypes)
        if self.minimum is not None:
            document.update(minimum=self.minimum.tolist(), maximum=self.maximum.tolist())
        # Written only when set, so that a model fitted without missing values
        # writes the document it always did.
        if self.encode_mask:
            document["encode_mask"] = True
        if self.empty_columns:
            document["empty_columns"] = list(self.empty_columns)
        return document

    @classmethod
    def from_json(cls, document):
        blocks = [BLOCKS[b["likelihood"]].from_json(b) for b in document["blocks"]]
        columns = cls(
            blocks,
            document["n_columns"],
            document.get("names"),
            document.get("library"),
            document.get("dtypes"),
            document.get("encode_mask", False),
            document.get("empty_columns", ()),
        )
        if "minimum" in document:
            columns.minimum = np.asarray(document["minimum"], dtype=np.float64)
            columns.maximum = np.asarray(document["maximum"], dtype=np.float64)
        return columns
