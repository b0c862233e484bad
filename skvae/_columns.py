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
"""

import numpy as np

from . import _inference
from ._likelihoods import BernoulliLikelihood, CompositeLikelihood, GaussianLikelihood

# The largest value, in training standard deviations from the training mean,
# that the model scores: beyond it the squares in its float32 arithmetic could
# overflow. Data outside are refused with a ValueError (see check_representable).
MAX_STANDARDIZED = 1e12
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def column_mean_std(X):
    """Per-column mean and (population) standard deviation, in float64.

    Two passes over chunks of rows, so the float64 temporaries stay at about
    ``_inference.CHUNK_ELEMENTS`` values instead of a float64 copy of the
    whole of ``X`` (which ``X.std(axis=0, dtype=np.float64)`` would make).
    """
    chunk_rows = max(1, _inference.CHUNK_ELEMENTS // max(1, X.shape[1]))
    chunks = [slice(start, start + chunk_rows) for start in range(0, X.shape[0], chunk_rows)]
    mean = sum(X[rows].sum(axis=0, dtype=np.float64) for rows in chunks) / X.shape[0]
    squares = sum(np.square(X[rows] - mean).sum(axis=0) for rows in chunks)
    return mean, np.sqrt(squares / X.shape[0])


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

    def hint(self, X):
        """A sentence suggesting a better likelihood for these training values, or None."""
        return None

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
        if values.size and (values.min() < 0 or values.max() > 1):
            row, column = np.argwhere((values < 0) | (values > 1))[0]
            column = self.columns[column]
            raise ValueError(
                "likelihood='bernoulli' needs every value of X in [0, 1]; "
                f"X[{row}, {column}] = {float(X[row, column])!r} is outside it (values "
                f"range over [{float(values.min())!r}, {float(values.max())!r}]). Scale the "
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


BLOCKS = {block.name: block for block in (GaussianColumns, BernoulliColumns)}


class ColumnDescription:
    """The data's columns as blocks, each with its likelihood.

    Parameters
    ----------
    blocks : list of ColumnBlock
        Together they cover columns ``0 .. n_columns - 1`` once each.
    n_columns : int

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

    def __init__(self, blocks, n_columns):
        self.blocks = list(blocks)
        self.n_columns = int(n_columns)

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

    def hints(self, X):
        """Each block's suggestion of a better likelihood for the training rows ``X``."""
        return [hint for hint in (block.hint(X) for block in self.blocks) if hint is not None]

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
        closer gives finite results.
        """
        shift, scale = self.location_scale()
        low = np.maximum(shift - MAX_STANDARDIZED * scale, -_FLOAT32_MAX)
        high = np.minimum(shift + MAX_STANDARDIZED * scale, _FLOAT32_MAX)
        if X.shape[0] and (np.any(X.min(axis=0) < low) or np.any(X.max(axis=0) > high)):
            row, column = np.argwhere((X < low) | (X > high))[0]
            raise ValueError(
                f"X[{row}, {column}] = {float(X[row, column])!r} is beyond what the model "
                f"can represent: column {column} accepts values in [{low[column]:.6g}, "
                f"{high[column]:.6g}] ({MAX_STANDARDIZED:g} training standard deviations "
                "from its training mean, within float32's range)."
            )

    # ------------------------------------------------ fit and build
    def fit(self, X):
        """Fit every block's statistics on the training rows ``X``."""
        for block in self.blocks:
            block.fit(X[:, block.columns])
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
        return {"n_columns": self.n_columns, "blocks": [b.to_json() for b in self.blocks]}

    @classmethod
    def from_json(cls, document):
        blocks = [BLOCKS[b["likelihood"]].from_json(b) for b in document["blocks"]]
        return cls(blocks, document["n_columns"])
