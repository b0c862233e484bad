"""DataFrames in and out: a table's columns as the numbers the model reads, and back.

scikit-learn's ``validate_data`` needs numbers. A table of string,
category, boolean and integer columns is turned into them here, on the
numpy side, *before* validation: a categorical column becomes its
categories' codes 0 .. K - 1, a boolean one 0/1, the others floats. A pandas
or polars table comes back as a frame of the same column labels, so that
scikit-learn's feature-name checks (``feature_names_in_``) work as for any
numeric frame; ``n_features_in_`` is the number of original columns.
Anything the conversion cannot read raises a ValueError that names the
column. Input that needs no conversion (numeric arrays and numeric frames
without categorical columns) is passed on untouched, so today's models
are built from exactly today's arrays.

Outputs go the other way (:func:`from_numeric`): decoded or sampled rows of
a model fitted on a DataFrame come back as a DataFrame of the training
columns, dtypes and category sets.

Which likelihood a column gets (:func:`describe`) follows the
``likelihood`` parameter: one name for every column, a dict from column
(name or position) to name, or ``"auto"``, which reads the dtypes as
scikit-learn's ``HistGradientBoostingClassifier(categorical_features=
"from_dtype")`` reads category columns, with one rule per kind of column
(``AUTO_RULES``): strings and objects are categorical too, and booleans,
integers and floats each get a likelihood of their own.
pandas and polars are imported only when the input is one of theirs.
"""

import numpy as np

from ._columns import BLOCKS, CategoricalColumns, ColumnDescription, column_label

# "auto": the likelihood of each kind of column. Integers are counts when
# they are all non-negative in training (negative_binomial), else gaussian;
# so are non-negative integers that are clearly underdispersed (see
# _underdispersed): a year or a number of cylinders, whose variance is far
# below its mean, which a negative binomial (variance at least the mean)
# cannot fit.
AUTO_RULES = {
    "float": "gaussian",
    "bool": "bernoulli",
    "int": "negative_binomial",
    "category": "categorical",
    "string": "categorical",
    "object": "categorical",
}
_NUMERIC_KINDS = ("float", "int", "bool")


# ------------------------------------------------------------ reading tables
def _library(X):
    """"pandas" or "polars" for one of their DataFrames, else None."""
    module = type(X).__module__.split(".")[0]
    if module in ("pandas", "polars") and hasattr(X, "columns") and hasattr(X, "shape"):
        return module
    return None


def _pandas_kind(dtype):
    import pandas as pd

    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_object_dtype(dtype):
        return "object"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_string_dtype(dtype):
        return "string"
    return "other"


def _polars_kind(dtype):
    import polars as pl

    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    if isinstance(dtype, pl.Enum):
        return "category"
    if dtype in (pl.String, pl.Categorical):
        return "string"
    if dtype == pl.Object:
        return "object"
    return "other"


def _numpy_kind(dtype):
    return {"b": "bool", "i": "int", "u": "int", "f": "float", "O": "object", "U": "string",
            "S": "string"}.get(dtype.kind, "other")


class Table:
    """The columns of a 2-D input before validation: names, dtypes, values.

    ``library`` is "pandas", "polars" or None (an array); ``dtypes`` holds
    one JSON-able descriptor per column, ``{"kind": ..., "dtype": ...}``
    (with ``"ordered"`` for a pandas category); ``plain`` is True when
    scikit-learn's own conversion reads every column as it should (numpy
    numeric dtypes).
    """

    def __init__(self, X, library):
        self.X, self.library = X, library
        if library == "pandas":
            dtypes = list(X.dtypes)
            kinds = [_pandas_kind(d) for d in dtypes]
            self.plain = all(
                isinstance(d, np.dtype) and k in _NUMERIC_KINDS for d, k in zip(dtypes, kinds)
            )
        elif library == "polars":
            dtypes = list(X.dtypes)
            kinds = [_polars_kind(d) for d in dtypes]
            self.plain = all(k in ("float", "int") for k in kinds) and not any(
                X.null_count().row(0)
            )
        else:
            dtypes = [X.dtype] * X.shape[1]
            kinds = [_numpy_kind(X.dtype)] * X.shape[1]
            self.plain = kinds[0] in _NUMERIC_KINDS
        self.kinds, self._dtypes = kinds, dtypes
        self.dtypes = []
        for dtype, kind in zip(dtypes, kinds):
            descriptor = {"kind": kind, "dtype": str(dtype)}
            if library == "pandas" and kind == "category":
                descriptor["ordered"] = bool(dtype.ordered)
            self.dtypes.append(descriptor)
        labels = list(X.columns) if library else None
        # Names as scikit-learn keeps them: only when every label is a string.
        self.names = labels if labels and all(isinstance(c, str) for c in labels) else None
        self.n_columns = len(kinds)

    def label(self, column):
        return column_label(column, self.names)

    def values(self, column):
        """Column ``column`` as a 1-D numpy array (numbers, or objects)."""
        if self.library == "pandas":
            series = self.X.iloc[:, column]
            kind = self.kinds[column]
            if kind in _NUMERIC_KINDS and not isinstance(series.dtype, np.dtype):
                # nullable Int64 / boolean / Float64: missing values as NaN
                return series.to_numpy(dtype=np.float64, na_value=np.nan)
            return series.to_numpy()
        if self.library == "polars":
            return self.X.to_series(column).to_numpy()
        return self.X[:, column]

    def categories(self, column):
        """A categorical column's categories: the dtype's own, else its sorted distinct values."""
        if self.kinds[column] == "category":  # pandas' category, polars' Enum
            return list(self._dtypes[column].categories.to_list())
        values = self.values(column)
        values = values[~_missing(values)]  # a missing value is no category
        if values.size == 0:
            raise ValueError(
                f"{self.label(column)} has no observed value: a categorical column needs at "
                "least one category in fit."
            )
        if values.dtype.kind in "biuf":
            return np.unique(values).tolist()
        distinct = set(values.tolist())
        try:
            return sorted(distinct)
        except TypeError as error:
            raise ValueError(
                f"{self.label(column)} mixes values of different types that cannot be "
                f"sorted into categories ({error}); convert it to strings first."
            ) from None


def read_table(X):
    """A :class:`Table` of ``X``, or None when ``X`` is not a readable 2-D table.

    None leaves ``X`` to ``validate_data``, which says what is wrong with it
    (sparse, 1-D, ragged, ...).
    """
    library = _library(X)
    if library is not None:
        return Table(X, library) if len(X.shape) == 2 and min(X.shape) > 0 else None
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):  # sparse: scikit-learn's error
        return None
    try:
        array = np.asarray(X)
    except (ValueError, TypeError):
        return None
    if array.ndim != 2 or min(array.shape) == 0:
        return None
    return Table(array, None)


def _missing(values):
    if values.dtype.kind in "fc":
        return np.isnan(values)
    if values.dtype == object:
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is there whenever a frame is
            return np.array([v is None or v != v for v in values.tolist()], dtype=bool)
        return np.asarray(pd.isna(values), dtype=bool)  # None, NaN, pd.NA, NaT
    return np.zeros(values.shape, dtype=bool)


# ------------------------------------------------------------ likelihoods
def _auto(table, column):
    kind = table.kinds[column]
    if kind not in AUTO_RULES:
        raise ValueError(
            f"{table.label(column)} has dtype {table.dtypes[column]['dtype']}, which "
            "likelihood='auto' cannot model; convert it to numbers or strings, or name "
            "its likelihood in a dict."
        )
    name = AUTO_RULES[kind]
    if kind == "int":
        values = table.values(column)
        if values.size and (np.nanmin(values) < 0 or _underdispersed(values)):
            name = "gaussian"
    return name


# The false-alarm rate of the dispersion test below on Poisson counts.
UNDERDISPERSION_LEVEL = 1e-3


def _underdispersed(values):
    """Whether non-negative integers are far less variable than counts are.

    The index-of-dispersion test: for Poisson counts, ``(n - 1) s^2 / mean``
    follows a chi-squared law with ``n - 1`` degrees of freedom, and the
    column is underdispersed when the statistic falls below its
    ``UNDERDISPERSION_LEVEL`` quantile. On palmerpenguins' ``year`` (2007 to
    2009: mean 2008, variance 0.67) the statistic is about 1e-4 of its
    expectation; Poisson columns are taken for underdispersed once in a
    thousand.
    """
    from scipy.stats import chi2

    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    n, mean = values.size, values.mean() if values.size else 0.0
    if n < 2 or mean <= 0:
        return False
    statistic = (n - 1) * values.var(ddof=1) / mean
    return bool(statistic < chi2.ppf(UNDERDISPERSION_LEVEL, n - 1))


def _resolve(likelihood, table):
    """The likelihood name of each column, from the ``likelihood`` parameter."""
    n = table.n_columns
    if isinstance(likelihood, str):
        if likelihood == "auto":
            return [_auto(table, column) for column in range(n)]
        return [likelihood] * n
    chosen = {}
    for key, name in likelihood.items():
        if isinstance(key, str):
            if table.names is None or key not in table.names:
                known = "X has no column names" if table.names is None else (
                    f"its columns are {table.names}"
                )
                raise ValueError(f"likelihood names column {key!r}, but {known}.")
            column = table.names.index(key)
        elif isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
            if not 0 <= key < n:
                raise ValueError(
                    f"likelihood names column {key}, but X has {n} columns (0 to {n - 1})."
                )
            column = int(key)
        else:
            raise ValueError(
                f"The keys of likelihood must be column names or positions, got {key!r}."
            )
        if name not in BLOCKS:
            raise ValueError(
                f"likelihood[{key!r}] = {name!r} is not a likelihood; expected one of "
                f"{sorted(BLOCKS)}."
            )
        if column in chosen:
            raise ValueError(f"likelihood names {table.label(column)} twice.")
        chosen[column] = name
    return [chosen[c] if c in chosen else _auto(table, c) for c in range(n)]


def describe(X, likelihood):
    """The column description ``likelihood`` gives the raw training input ``X``.

    The blocks follow ``BLOCKS``' order, each holding its columns in
    ascending order; categorical blocks have their categories, read from
    the raw values. Statistics are fitted later, on the numbers
    (:meth:`ColumnDescription.fit`). Returns None when ``X`` is not a
    readable 2-D table (see :func:`read_table`): ``validate_data`` then says
    what is wrong with it.
    """
    table = read_table(X)
    if table is None:
        return None
    names = _resolve(likelihood, table)
    blocks = []
    for name, block_class in BLOCKS.items():
        columns = [c for c in range(table.n_columns) if names[c] == name]
        if not columns:
            continue
        block = block_class(columns)
        if isinstance(block, CategoricalColumns):
            block.fit_categories([table.categories(c) for c in columns])
        blocks.append(block)
    library = table.library
    dtypes = table.dtypes if library is not None else None
    return ColumnDescription(blocks, table.n_columns, table.names, library, dtypes)


# ------------------------------------------------------------ to numbers
def encode_categories(values, categories, label, handle_unknown="error"):
    """The codes of ``values`` among ``categories``: float64, (n_rows,).

    A missing value (NaN or None) becomes NaN, a missing code. A value
    outside ``categories`` raises a ValueError naming the column and the
    value, as ``OneHotEncoder(handle_unknown="error")`` does, or with
    ``handle_unknown="missing"`` becomes NaN too, so that the model treats
    it as missing.
    """
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is there whenever a frame is
        lookup = {category: code for code, category in enumerate(categories)}
        codes = np.array([lookup.get(v, -1) for v in values.tolist()], dtype=np.int64)
    else:
        codes = pd.Index(categories, dtype=object).get_indexer(np.asarray(values, dtype=object))
    codes = codes.astype(np.float64)
    codes[_missing(np.asarray(values, dtype=object))] = np.nan
    unknown = codes < 0
    if unknown.any() and handle_unknown == "missing":
        codes[unknown] = np.nan
    elif unknown.any():
        row = int(np.argmax(unknown))
        value = values[row]
        value = value.item() if isinstance(value, np.generic) else value
        shown = categories if len(categories) <= 20 else [*categories[:20], "..."]
        raise ValueError(
            f"{label} has category {value!r} (row {row}), which was not seen in fit; "
            f"its categories are {shown}; handle_unknown='missing' treats such values as "
            "missing."
        )
    return codes


def _as_float(table, column):
    values = table.values(column)
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError) as error:
        name = table.names[column] if table.names is not None else column
        raise ValueError(
            f"{table.label(column)} holds {table.kinds[column]} values that are not numbers "
            f"({error}); model it with likelihood={{{name!r}: 'categorical'}} or "
            "likelihood='auto'."
        ) from None
    return numbers  # NaN: a missing value


def to_numeric(X, columns, handle_unknown="error"):
    """``X`` as numbers ``validate_data`` reads, by the column description ``columns``.

    Categorical columns become codes and every other column floats, in a
    frame of the same labels (and index) for a DataFrame, an array
    otherwise. ``X`` itself is returned when it needs nothing of that (or
    when it does not match ``columns``, which ``validate_data`` then
    reports: other names, another number of columns).
    """
    if columns is None:
        return X
    categorical = {
        column: (block, j)
        for block in columns.categorical_blocks()
        for j, column in enumerate(block.columns)
    }
    if not categorical and _library(X) is None:
        return X  # arrays without categorical columns: scikit-learn converts them
    table = read_table(X)
    if table is None or table.n_columns != columns.n_columns:
        return X
    if columns.names is not None and table.names is not None and table.names != columns.names:
        return X
    if not categorical and table.plain:
        return X
    arrays = []
    for column in range(table.n_columns):
        if column in categorical:
            block, j = categorical[column]
            arrays.append(
                encode_categories(
                    table.values(column), block.categories[j], table.label(column),
                    handle_unknown,
                )
            )
        else:
            arrays.append(_as_float(table, column))
    numeric = [
        table.dtypes[c]["dtype"] for c in range(table.n_columns) if c not in categorical
    ]
    dtype = np.float32 if numeric and all(d in ("float32", "Float32") for d in numeric) else (
        np.float64
    )
    arrays = [a.astype(dtype, copy=False) for a in arrays]
    if table.library == "pandas":
        import pandas as pd

        frame = pd.DataFrame(dict(enumerate(arrays)), index=X.index)
        frame.columns = X.columns
        return frame
    if table.library == "polars":
        import polars as pl

        return pl.DataFrame({name: a for name, a in zip(X.columns, arrays)})
    return np.column_stack(arrays) if arrays else np.empty((X.shape[0], 0), dtype)


# ------------------------------------------------------------ back to tables
def _clipped(values, columns):
    """``values`` with each non-categorical column clipped to its training range."""
    if columns.minimum is None:
        return values
    low, high = columns.minimum.copy(), columns.maximum.copy()
    for block in columns.categorical_blocks():
        low[block.columns], high[block.columns] = -np.inf, np.inf
    return np.clip(values, low.astype(values.dtype), high.astype(values.dtype))


def _category_values(codes, categories):
    """The categories at ``codes`` as an object array."""
    listed = np.empty(len(categories), dtype=object)
    listed[:] = categories
    return listed[codes.astype(np.int64)]


def from_numeric(values, columns, index=None, clip=False):
    """Decoded or sampled rows (numbers, codes) in the form the model was fitted on.

    A model fitted on a DataFrame gives a DataFrame of the training columns:
    integer columns rounded to integers, boolean ones thresholded at 1/2
    (the more probable value, for a mean), categorical ones the category of
    the code, each with its training dtype (a category dtype with its
    category set). A model fitted on an array gives an array of
    ``values``' dtype, with a categorical column's codes turned into its
    categories (an object array when they are not numbers). ``clip``
    clips every non-categorical column to its training range first.
    ``index`` is the pandas index of the rows, if any.
    """
    if clip:
        values = _clipped(values, columns)
    categorical = {
        column: block.categories[j]
        for block in columns.categorical_blocks()
        for j, column in enumerate(block.columns)
    }
    if columns.library is None:
        if not categorical:
            return values
        numbers = all(
            isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
            for categories in categorical.values()
            for v in categories
        )
        out = values.copy() if numbers else values.astype(object)
        for column, categories in categorical.items():
            picked = _category_values(values[:, column], categories)
            out[:, column] = picked.astype(values.dtype) if numbers else picked
        return out
    labels = columns.names if columns.names is not None else list(range(columns.n_columns))
    build = _pandas_column if columns.library == "pandas" else _polars_column
    pieces = [
        build(values[:, c], columns.dtypes[c], categorical.get(c), labels[c])
        for c in range(columns.n_columns)
    ]
    if columns.library == "pandas":
        import pandas as pd

        frame = pd.concat(pieces, axis=1) if pieces else pd.DataFrame(index=range(len(values)))
        frame.index = range(len(values)) if index is None else index
        return frame
    import polars as pl

    return pl.DataFrame(pieces)


def _rounded(numbers, dtype):
    """Round to integers within the range of the integer ``dtype`` (a numpy dtype)."""
    info = np.iinfo(dtype)
    return np.clip(np.rint(numbers), info.min, info.max)


def _pandas_column(numbers, descriptor, categories, label):
    import pandas as pd

    kind = descriptor["kind"]
    dtype = pd.api.types.pandas_dtype(
        descriptor["dtype"] if kind != "category" else "object"
    )
    if categories is not None:
        picked = _category_values(numbers, categories)
        if kind == "category":
            category_dtype = pd.CategoricalDtype(categories, ordered=descriptor["ordered"])
            codes = numbers.astype(np.int64)
            return pd.Series(pd.Categorical.from_codes(codes, dtype=category_dtype), name=label)
        return pd.Series(picked, name=label).astype(dtype)
    if kind == "bool":
        return pd.Series(numbers >= 0.5, name=label).astype(dtype)
    if kind == "int":
        numpy_dtype = dtype.numpy_dtype if hasattr(dtype, "numpy_dtype") else dtype
        return pd.Series(_rounded(numbers, numpy_dtype), name=label).astype(dtype)
    if kind == "float":
        return pd.Series(numbers, name=label).astype(dtype)
    return pd.Series(numbers, name=label)  # numbers read from text: floats


def _polars_column(numbers, descriptor, categories, label):
    import polars as pl

    kind, name = descriptor["kind"], descriptor["dtype"]
    if categories is not None:
        picked = _category_values(numbers, categories).tolist()
        if kind == "category":
            return pl.Series(label, picked, dtype=pl.Enum(categories))
        if name == "Categorical":
            return pl.Series(label, picked, dtype=pl.Categorical)
        return pl.Series(label, picked).cast(getattr(pl, name))
    dtype = getattr(pl, name, None)
    if kind == "bool":
        return pl.Series(label, numbers >= 0.5)
    if kind == "int":
        return pl.Series(label, _rounded(numbers, np.dtype(name.lower())).astype(name.lower()))
    if kind == "float" and dtype is not None:
        return pl.Series(label, numbers).cast(dtype)
    return pl.Series(label, numbers)


def pandas_index(X):
    """The index of a pandas DataFrame, else None."""
    return X.index if _library(X) == "pandas" else None


def like_input(values, X):
    """Per-row, per-column ``values`` as a frame like ``X`` (labels, index), if it is one."""
    library = _library(X)
    if library == "pandas":
        import pandas as pd

        return pd.DataFrame(values, index=X.index, columns=X.columns)
    if library == "polars":
        import polars as pl

        return pl.DataFrame(values, schema=list(X.columns), orient="row")
    return values
