"""The bad-input matrix: every case's expected outcome, for both estimators.

Each case either raises a ValueError (or, for sparse input, scikit-learn's
TypeError) whose message names the problem and leaves a previous fit
untouched, or gives finite outputs of the documented shape and dtype. NaN is
a missing value, not bad input (see ``test_missing.py``); inf is an error.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from skvae import VAEOutlierDetector, VAETransformer

ESTIMATORS = [VAETransformer, VAEOutlierDetector]
SMALL = {"hidden_layer_sizes": (8,), "latent_dim": 2, "max_iter": 3, "random_state": 0}


def _data(n_rows=40, n_features=4, seed=0):
    return np.random.RandomState(seed).normal(size=(n_rows, n_features))


def _outputs(estimator, X):
    """Every method's output on X (rows) for a fitted estimator."""
    out = {
        "score_samples": estimator.score_samples(X),
        "log_likelihood": estimator.log_likelihood(X, n_importance_samples=3),
    }
    if isinstance(estimator, VAETransformer):
        Z = estimator.transform(X)
        out.update(
            transform=Z,
            inverse_transform=estimator.inverse_transform(Z),
            sample=estimator.sample(3, random_state=0),
        )
    else:
        out.update(
            decision_function=estimator.decision_function(X), predict=estimator.predict(X)
        )
    return out


def _assert_finite_outputs(estimator, X, dtype):
    n_rows = np.asarray(X).shape[0]
    for name, value in _outputs(estimator, X).items():
        assert np.all(np.isfinite(value)), name
        if name == "sample":
            assert value.shape == (3, estimator.n_features_in_)
        elif name == "transform":
            assert value.shape == (n_rows, estimator.latent_dim)
            assert value.dtype == dtype
        elif name == "inverse_transform":
            assert value.shape == (n_rows, estimator.n_features_in_)
        else:
            assert value.shape == (n_rows,), name
        if name in ("score_samples", "log_likelihood", "decision_function", "transform"):
            assert value.dtype == dtype, name


def _state(estimator):
    weights = {k: v.clone() for k, v in estimator.network_.state_dict().items()}
    return weights, {k: v for k, v in vars(estimator).items() if k != "network_"}


def _assert_state_unchanged(estimator, before):
    weights, attributes = _state(estimator)
    assert weights.keys() == before[0].keys()
    assert all(torch.equal(weights[k], before[0][k]) for k in weights)
    assert attributes.keys() == before[1].keys()
    for name in attributes:
        _assert_same(attributes[name], before[1][name], name)


def _assert_same(value, expected, name):
    """Equality that also walks the training state (tensors, dicts of tensors)."""
    if isinstance(value, torch.Tensor):
        assert torch.equal(value, expected), name
    elif isinstance(value, dict):
        assert value.keys() == expected.keys(), name
        for key in value:
            _assert_same(value[key], expected[key], f"{name}[{key!r}]")
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        assert len(value) == len(expected), name
        for item, other in zip(value, expected):
            _assert_same(item, other, name)
    else:
        np.testing.assert_equal(value, expected, err_msg=name)


@pytest.fixture(scope="module", params=ESTIMATORS, ids=lambda c: c.__name__)
def fitted(request):
    return request.param(**SMALL).fit(_data())


# ------------------------------------------------------------------ values
def _with(value, row=0, column=1, dtype=np.float64):
    X = _data().astype(dtype)
    X[row, column] = value
    return X


@pytest.mark.parametrize(
    "value, message",
    [(np.inf, "infinity"), (-np.inf, "infinity"), (1e39, "float32")],
    ids=["+inf", "-inf", "beyond-float32"],
)
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_fit_refuses_values_it_cannot_train_on(cls, value, message):
    estimator = cls(**SMALL).fit(_data(seed=1))
    before = _state(estimator)
    with pytest.raises(ValueError, match=message):
        estimator.fit(_with(value))
    _assert_state_unchanged(estimator, before)


@pytest.mark.parametrize("value", [1e30, -1e30, 1e-30], ids=["1e30", "-1e30", "1e-30"])
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_fit_on_extreme_but_representable_values_gives_finite_outputs(cls, value):
    X = _with(value)
    _assert_finite_outputs(cls(**SMALL).fit(X), X, np.float64)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_nan_is_a_missing_value_in_fit_and_gives_finite_outputs(cls):
    X = _with(np.nan)
    _assert_finite_outputs(cls(**SMALL).fit(X), X, np.float64)


def test_nan_is_a_missing_value_in_every_method(fitted):
    X = _with(np.nan)
    _assert_finite_outputs(fitted, X, np.float64)
    _assert_finite_outputs(fitted, X.astype(np.float32), np.float32)


@pytest.mark.parametrize("value, message", [(np.inf, "infinity"), (-np.inf, "infinity")])
def test_methods_refuse_inf(fitted, value, message):
    X = _with(value)
    for method in ("score_samples", "log_likelihood", "transform", "decision_function"):
        if hasattr(fitted, method):
            with pytest.raises(ValueError, match=message):
                getattr(fitted, method)(X)


@pytest.mark.parametrize("value", [1e3, 1e4, 1e5, 1e8, -1e11])
def test_far_rows_score_finite_far_lower_and_in_order(fitted, value):
    X = _data()[:5]
    far = X.copy()
    far[:, 1] = value
    farther = X.copy()
    farther[:, 1] = 10 * value
    _assert_finite_outputs(fitted, far, np.float64)
    typical = fitted.score_samples(X)
    scores, farther_scores = fitted.score_samples(far), fitted.score_samples(farther)
    assert np.all(scores < typical.min() - 100)
    assert np.all(farther_scores < scores)
    if isinstance(fitted, VAETransformer):
        log_likelihood = fitted.log_likelihood(far, n_importance_samples=3)
        assert np.all(log_likelihood < fitted.log_likelihood(X, 3).min() - 100)
    # (The detector's ELBO winsorises to the training range; its neighbour
    # distance, of the row as given, keeps growing.)


@pytest.mark.parametrize("value", [1e13, 1e30, -1e30, 1e39, 1e300])
def test_values_beyond_what_the_model_represents(fitted, value):
    X = _with(value, row=2)
    if isinstance(fitted, VAETransformer):
        for method in ("transform", "score_samples", "log_likelihood"):
            with pytest.raises(ValueError, match=r"X\[2, 1\] = .* beyond what the model"):
                getattr(fitted, method)(X)
    else:  # winsorised to the training range first: finite
        _assert_finite_outputs(fitted, X, np.float64)


def test_tiny_values_are_ordinary(fitted):
    X = _with(1e-30)
    _assert_finite_outputs(fitted, X, np.float64)
    _assert_finite_outputs(fitted, X.astype(np.float32), np.float32)


def test_inverse_transform_refuses_latent_codes_beyond_range():
    vae = VAETransformer(**SMALL).fit(_data())
    assert np.all(np.isfinite(vae.inverse_transform(np.full((2, 2), 1e6))))
    with pytest.raises(ValueError, match=r"X\[0, 0\] = 1e\+30 .*latent codes"):
        vae.inverse_transform(np.full((2, 2), 1e30))


# ------------------------------------------------------------------ columns
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_constant_column(cls):
    X = _data()
    X[:, 2] = 3.0
    estimator = cls(**SMALL).fit(X)
    _assert_finite_outputs(estimator, X, np.float64)
    moved = X[:5].copy()
    moved[:, 2] = 1000.0  # a training-constant feature far from its value
    _assert_finite_outputs(estimator, moved, np.float64)
    # Moved far from its one training value, a constant feature marks the row
    # (for the detector, through the neighbour distance of the row as given).
    assert np.all(estimator.score_samples(moved) < estimator.score_samples(X[:5]).min())


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_column_constant_except_one_row(cls):
    X = _data()
    X[:, 0] = 0.0
    X[7, 0] = 5.0
    _assert_finite_outputs(cls(**SMALL).fit(X), X, np.float64)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_all_zero_data(cls):
    X = np.zeros((20, 3))
    estimator = cls(**SMALL).fit(X)
    _assert_finite_outputs(estimator, X, np.float64)
    _assert_finite_outputs(estimator, np.ones((2, 3)), np.float64)


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize(
    "n_rows, n_features", [(1, 4), (2, 4), (5, 30), (20, 10_000)], ids=str
)
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_small_and_wide_shapes_fit(cls, n_rows, n_features):
    X = _data(n_rows, n_features)
    # One row cannot be split for early stopping (refused: the test below).
    estimator = cls(**SMALL, early_stopping=n_rows > 1).fit(X)
    _assert_finite_outputs(estimator, _data(3, n_features, seed=1), np.float64)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_one_row_with_early_stopping_is_refused(cls):
    with pytest.raises(ValueError, match="at least 2 samples"):
        cls(**SMALL, early_stopping=True).fit(_data(1))


@pytest.mark.parametrize(
    "X, message",
    [
        (np.arange(5.0), "Expected 2D array"),
        (np.zeros((2, 3, 4)), "dim 3"),
        (np.zeros((0, 4)), "0 sample"),
        (np.zeros((4, 0)), "0 feature"),
    ],
    ids=["1-D", "3-D", "no rows", "no columns"],
)
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_wrong_dimensions(cls, X, message):
    with pytest.raises(ValueError, match=message):
        cls(**SMALL).fit(X)


def test_wrong_dimensions_after_fit(fitted):
    for X, message in [
        (np.arange(4.0), "Expected 2D array"),
        (np.zeros((2, 4, 1)), "dim 3"),
        (_data(3, 5), "5 features, but .* expecting 4"),
        (_data(3, 3), "3 features, but .* expecting 4"),
    ]:
        with pytest.raises(ValueError, match=message):
            fitted.score_samples(X)


# ------------------------------------------------------------------ dtypes
@pytest.mark.parametrize(
    "dtype, out",
    [(np.int64, np.float64), (np.int8, np.float64), (bool, np.float64),
     (np.float16, np.float64), (np.float32, np.float32)],
    ids=str,
)
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_numeric_dtypes_are_accepted(cls, dtype, out):
    X = (_data() * 3).astype(dtype) if dtype is not bool else _data() > 0
    estimator = cls(**SMALL).fit(X)
    assert estimator.training_dtype_ == out
    _assert_finite_outputs(estimator, X, out)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_object_arrays(cls):
    numbers_as_text = _data().astype(str).astype(object)  # parsed as numbers
    estimator = cls(**SMALL).fit(numbers_as_text)
    _assert_finite_outputs(estimator, numbers_as_text, np.float64)
    words = np.array([["a", "b"], ["c", "d"]], dtype=object)
    with pytest.raises(ValueError, match="could not convert string to float: 'a'"):
        cls(**SMALL).fit(words)
    with pytest.raises(ValueError, match="could not convert string to float"):
        estimator.score_samples(np.array([["1", "x", "2", "3"]], dtype=object))


# ------------------------------------------------------------------ frames
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_dataframes(cls):
    frame = pd.DataFrame(_data(), columns=["a", "b", "c", "d"])
    estimator = cls(**SMALL).fit(frame)
    np.testing.assert_array_equal(estimator.feature_names_in_, ["a", "b", "c", "d"])
    _assert_finite_outputs(estimator, frame, np.float64)
    # The same data without names: scikit-learn's warning, same results.
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        unnamed = estimator.score_samples(frame.to_numpy())
    np.testing.assert_array_equal(unnamed, estimator.score_samples(frame))
    with pytest.raises(ValueError, match="feature names should match"):
        estimator.score_samples(frame[["b", "a", "c", "d"]])
    # Fitted without names: no names, a frame with names warns.
    plain = cls(**SMALL).fit(frame.to_numpy())
    assert not hasattr(plain, "feature_names_in_")
    with pytest.warns(UserWarning, match="fitted without feature names"):
        plain.score_samples(frame)


# ------------------------------------------------------------------ sparse
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_sparse_input_is_refused_clearly(cls):
    estimator = cls(**SMALL).fit(_data())
    with pytest.raises(TypeError, match=r"Sparse data was passed.*\.toarray\(\)"):
        cls(**SMALL).fit(sp.csr_matrix(_data()))
    with pytest.raises(TypeError, match="Sparse data was passed"):
        estimator.score_samples(sp.csr_matrix(_data()))


# ------------------------------------------------------------------ Bernoulli
@pytest.mark.parametrize("value", [1.0000001, -1e-9, 2.0, -3.0])
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_bernoulli_values_outside_unit_interval(cls, value):
    X = (_data() > 0).astype(float)
    estimator = cls(**SMALL, likelihood="bernoulli")
    if cls is VAETransformer:  # the detector's own Bernoulli rules are its own
        before = _state(estimator.fit(X))
        bad = X.copy()
        bad[3, 2] = value
        with pytest.raises(ValueError, match=rf"X\[3, 2\] = {value!r} is outside"):
            estimator.fit(bad)
        with pytest.raises(ValueError, match=rf"X\[3, 2\] = {value!r} is outside"):
            estimator.score_samples(bad)
        _assert_state_unchanged(estimator, before)


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_latent_dim_above_n_features_and_batch_above_rows(cls):
    X = _data(10, 3)
    estimator = cls(**{**SMALL, "latent_dim": 6}, batch_size=1000).fit(X)
    _assert_finite_outputs(estimator, X, np.float64)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_max_iter_zero_is_refused(cls):
    with pytest.raises(ValueError, match="'max_iter' parameter .* range \\[1, inf\\)"):
        cls(max_iter=0).fit(_data())


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_huge_learning_rate_diverges_with_a_clear_error(cls):
    estimator = cls(**SMALL).fit(_data())
    before = _state(estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="learning_rate"):
            estimator.set_params(learning_rate=1e6, max_iter=30).fit(_data())
    estimator.set_params(learning_rate=SMALL.get("learning_rate", 1e-3), max_iter=3)
    _assert_state_unchanged(estimator, before)


# ------------------------------------------------------------------ arguments
def test_sample_and_importance_arguments():
    vae = VAETransformer(**SMALL).fit(_data())
    for bad in (True, False, 0, -1, 2.0, "3", None):
        with pytest.raises(ValueError, match="n_samples must be a positive integer"):
            vae.sample(bad)
        with pytest.raises(ValueError, match="n_importance_samples must be a positive"):
            vae.log_likelihood(_data(), n_importance_samples=bad)
    assert vae.sample(np.int64(2)).shape == (2, 4)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("value", [1e30, -3e20, 1e6])
def test_a_huge_constant_column_is_scored_where_it_was_trained(cls, value):
    # Found by hypothesis: a constant column at 1e30 used to be refused on its
    # own training value, the allowed band being finer than float32 there.
    X = np.column_stack([_data(20, 2), np.full(20, value)])
    estimator = cls(**SMALL, early_stopping=False).fit(X)
    _assert_finite_outputs(estimator, X, np.float64)
