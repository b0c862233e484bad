"""Checks of the parameters and data that scikit-learn's validation does not cover.

Each raises a ValueError that names the problem, before anything is fitted.
"""

import math
from numbers import Integral

import numpy as np

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_hidden_layer_sizes(hidden_layer_sizes):
    """``hidden_layer_sizes`` (an int or a sequence of them) as a tuple of positive ints."""
    sizes = hidden_layer_sizes
    sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
    if not all(isinstance(s, Integral) and s >= 1 for s in sizes):
        raise ValueError(
            "hidden_layer_sizes must be a sequence of positive integers, "
            f"got {hidden_layer_sizes!r}."
        )
    return tuple(int(s) for s in sizes)


def check_image_shape(image_shape, n_features):
    """``image_shape`` as a tuple of 3 ints whose product is ``n_features``, or None."""
    if image_shape is None:
        return None
    shape = tuple(image_shape)
    if len(shape) != 3 or not all(
        isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in shape
    ):
        raise ValueError(
            "image_shape must be None or (channels, height, width), three positive "
            f"integers; got {image_shape!r}."
        )
    shape = tuple(int(s) for s in shape)
    if math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape={shape} describes images of {math.prod(shape)} values, but X "
            f"has {n_features} features; they must be equal."
        )
    return shape


def largest_magnitude(X):
    """The largest absolute value of ``X`` that is not NaN (NaN if there is none), no copy."""
    return max(np.fmax.reduce(X, axis=None), -np.fmin.reduce(X, axis=None))


def check_float32_range(X):
    """Refuse float64 values that float32, the training precision, cannot hold (NaN passes)."""
    if X.dtype == np.float64 and X.size and largest_magnitude(X) > _FLOAT32_MAX:
        row, column = np.argwhere(np.abs(X) > _FLOAT32_MAX)[0]
        raise ValueError(
            f"X[{row}, {column}] = {float(X[row, column])!r} is beyond float32's largest "
            f"value ({_FLOAT32_MAX:g}); skvae trains and scores in float32. Rescale "
            "this column."
        )


def check_observed(X):
    """Refuse training data with no observed value: every entry NaN (missing)."""
    if X.size and np.isnan(np.fmax.reduce(X, axis=None)):
        raise ValueError(
            "Every entry of X is NaN (missing): there is nothing to fit. A NaN marks a "
            "missing value; at least one value must be observed."
        )


def split_rows(n_rows, validation_fraction, rng):
    """Sorted training and validation row indices, ``validation_fraction`` held out."""
    n_validation = int(math.ceil(validation_fraction * n_rows))
    if n_rows - n_validation < 1:
        raise ValueError(
            f"early_stopping needs at least 2 samples to hold out a validation "
            f"set; got n_samples={n_rows}. Pass early_stopping=False to fit on "
            "fewer rows."
        )
    order = rng.permutation(n_rows)
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])
