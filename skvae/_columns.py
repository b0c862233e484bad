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

import numpy as np

from . import _inference
from ._batch import Batch
from ._likelihoods import BernoulliLikelihood, CompositeLikelihood, GaussianLikelihood

# The largest value, in training standard deviations from the training mean,
# that the model scores: beyond it the squares in its float32 arithmetic could
# overflow. Data outside are refused with a ValueError (see check_representable).
MAX_STANDARDIZED = 1e12
_FLOAT32_MAX = float(np.finfo(np.float32).max)


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

    def check_support(self, X):
        """Raise a ValueError naming the first value of ``X`` outside the support."""

    def clip_bounds(self, low, high):
        """The block's clipping bounds ``(low, high)`` cut to its support."""
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
    """Real-valued columns, standardised with the training mean and standard deviation."""

    name = "gaussian"

    def __init__(self, columns, shift=None, scale=None):
        super().__init__(columns)
        self.shift = None if shift is None else np.asarray(shift, dtype=np.float64)
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float64)

    def fit(self, X):
        shift, scale = column_mean_std(X)
        tiny = 10 * np.finfo(np.float32).eps * np.maximum(1.0, np.abs(shift))
        # Constant features: shift only, in units of 1, or of the float32
        # resolution of the value where that is coarser (|value| > 8e5),
        # so that the value itself is representable after the shift.
        constant = scale < tiny
        scale[constant] = np.maximum(1.0, tiny[constant])
        # Kept as the float32 values the network computes with, so that the
        # numpy-side checks and the torch side agree exactly.
        self.shift = shift.astype(np.float32).astype(np.float64)
        self.scale = scale.astype(np.float32).astype(np.float64)

    def location_scale(self):
        if self.shift is None:
            return super().location_scale()
        return self.shift, self.scale

    def build(self, min_variance):
        return GaussianLikelihood(len(self.columns), min_variance)

    def initialise(self, likelihood):
        """Copy the fitted standardisation into ``likelihood``'s buffers."""
        if self.shift is not None:
            likelihood.set_standardization(self.shift, self.scale)

    def to_json(self):
        document = super().to_json()
        if self.shift is not None:
            document.update(shift=self.shift.tolist(), scale=self.scale.tolist())
        return document

    @classmethod
    def from_json(cls, document):
        return cls(document["columns"], document.get("shift"), document.get("scale"))


class BernoulliColumns(ColumnBlock):
    """Columns of values in [0, 1] (binary, or probabilities), used as they are."""

    name = "bernoulli"

    def check_support(self, X):
        values = X[:, self.columns]
        if not values.size:
            return
        low, high = observed_min_max(values.ravel())  # NaN (missing) is left out
        if low < 0 or high > 1:
            row, column = np.argwhere((values < 0) | (values > 1))[0]
            column = self.columns[column]
            raise ValueError(
                "likelihood='bernoulli' needs every value of X in [0, 1]; "
                f"X[{row}, {column}] = {float(X[row, column])!r} is outside it (values "
                f"range over [{float(low)!r}, {float(high)!r}]). Scale the "
                "data (e.g. MinMaxScaler) or use likelihood='gaussian'."
            )

    def clip_bounds(self, low, high):
        return np.maximum(low, 0.0), np.minimum(high, 1.0)

    def display_range(self):
        return (0.0, 1.0)

    def build(self, min_variance):
        return BernoulliLikelihood(len(self.columns))

    def initialise(self, likelihood):
        """Nothing fitted to copy."""


BLOCKS = {block.name: block for block in (GaussianColumns, BernoulliColumns)}


class ColumnDescription:
    """The data's columns as blocks, each with its likelihood.

    Parameters
    ----------
    blocks : list of ColumnBlock
        Together they cover columns ``0 .. n_columns - 1`` once each.
    n_columns : int
    encode_mask : bool, default=False
        The training data had missing values (NaN): the encoder reads the
        mask besides the values. Set by :meth:`fit`.
    empty_columns : list of int, default=()
        Columns with no observed value in the training data; every score
        treats them as missing. Set by :meth:`fit`.

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

    def __init__(self, blocks, n_columns, encode_mask=False, empty_columns=()):
        self.blocks = list(blocks)
        self.n_columns = int(n_columns)
        self.encode_mask = bool(encode_mask)
        self.empty_columns = [int(c) for c in empty_columns]

    @classmethod
    def from_likelihood(cls, likelihood, n_columns):
        """One block of every column for the likelihood named ``likelihood``."""
        return cls([BLOCKS[likelihood](range(n_columns))], n_columns)

    # --------------------------------------------------------- checks
    def check_support(self, X):
        """Raise a ValueError naming the first value outside its column's support."""
        for block in self.blocks:
            block.check_support(X)

    def clip_bounds(self, low, high):
        """Per-column clipping bounds ``(low, high)``, cut to each column's support."""
        low, high = np.array(low, copy=True), np.array(high, copy=True)
        for block in self.blocks:
            low[block.columns], high[block.columns] = block.clip_bounds(
                low[block.columns], high[block.columns]
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

    def check_representable(self, X):
        """Refuse values the fitted model cannot score in float32 arithmetic.

        A value more than ``MAX_STANDARDIZED`` training standard deviations
        from its column's training mean (or beyond float32's range) raises a
        ValueError naming the row, the column and the value. Anything
        closer gives finite results. NaN (a missing value) is not checked.
        """
        shift, scale = self.location_scale()
        low = np.maximum(shift - MAX_STANDARDIZED * scale, -_FLOAT32_MAX)
        high = np.minimum(shift + MAX_STANDARDIZED * scale, _FLOAT32_MAX)
        if not X.shape[0]:
            return
        smallest, largest = observed_min_max(X, axis=0)  # NaN (missing) is left out
        if np.any(smallest < low) or np.any(largest > high):
            row, column = np.argwhere((X < low) | (X > high))[0]
            raise ValueError(
                f"X[{row}, {column}] = {float(X[row, column])!r} is beyond what the model "
                f"can represent: column {column} accepts values in [{low[column]:.6g}, "
                f"{high[column]:.6g}] ({MAX_STANDARDIZED:g} training standard deviations "
                "from its training mean, within float32's range)."
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
        return cls(
            blocks,
            document["n_columns"],
            document.get("encode_mask", False),
            document.get("empty_columns", ()),
        )
