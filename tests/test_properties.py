"""Property-based tests: whatever goes in, a documented error or finite outputs.

The documented errors are ValueErrors that name the problem: infinity in
X, training data with no observed value (NaN is a missing value, so every
entry NaN leaves nothing to fit), a value beyond float32's range or beyond
what the fitted model represents (1e12 training standard deviations), and Bernoulli data
outside [0, 1]. The models train on every row (``early_stopping=False``):
the property is about the arithmetic, and a held-out row may legitimately
lie beyond what the rows it was trained on let the model represent.
"""

import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skvae import VAEOutlierDetector, VAETransformer

DOCUMENTED = (
    r"Every entry of X is NaN|infinity|float32's largest value"
    r"|beyond what the model can represent"
    r"|needs every value of X in \[0, 1\]"
)
SMALL = {
    "hidden_layer_sizes": (6,),
    "latent_dim": 2,
    "max_iter": 2,
    "early_stopping": False,
    "random_state": 0,
}
PROPERTY_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,  # the same examples in every CI run
    suppress_health_check=[HealthCheck.too_slow],
)

# Ordinary values, huge and tiny ones, and the non-finite ones.
values = st.one_of(
    st.floats(-10, 10),
    st.sampled_from([0.0, 1.0, -1.0, 1e-30, -1e-30, 1e6, -1e6, 1e13, 1e30, -1e30]),
    st.sampled_from([1e39, -1e300, np.nan, np.inf, -np.inf]),
)


@st.composite
def matrices(draw, n_features=None):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n_rows = draw(st.integers(1, 12))
    n_features = n_features or draw(st.integers(1, 4))
    X = draw(arrays(np.float64, (n_rows, n_features), elements=values))
    with np.errstate(over="ignore"):
        return X.astype(dtype)


def _check_outputs(estimator, X):
    n_rows = X.shape[0]
    outputs = {
        "score_samples": estimator.score_samples(X),
        "log_likelihood": estimator.log_likelihood(X, n_importance_samples=2),
    }
    if isinstance(estimator, VAETransformer):
        outputs["transform"] = estimator.transform(X)
        assert outputs["transform"].shape == (n_rows, estimator.latent_dim)
        reconstruction = estimator.inverse_transform(outputs["transform"])
        assert reconstruction.shape == X.shape
        assert np.all(np.isfinite(reconstruction))
    else:
        outputs["decision_function"] = estimator.decision_function(X)
        assert set(np.unique(estimator.predict(X))) <= {-1, 1}
    for name, value in outputs.items():
        assert value.dtype == X.dtype, name
        assert np.all(np.isfinite(value)), name
        if name != "transform":
            assert value.shape == (n_rows,), name


@pytest.mark.parametrize("cls", [VAETransformer, VAEOutlierDetector], ids=lambda c: c.__name__)
@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
@PROPERTY_SETTINGS
@given(X=matrices())
def test_fit_on_anything_gives_a_documented_error_or_finite_outputs(cls, likelihood, X):
    estimator = cls(**SMALL, likelihood=likelihood)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X)
    except ValueError as error:
        assert re.search(DOCUMENTED, str(error)), str(error)
        return
    _check_outputs(estimator, X)


@pytest.fixture(scope="module")
def fitted_models():
    X = np.random.RandomState(0).normal(size=(60, 3))
    models = [cls(**SMALL).fit(X) for cls in (VAETransformer, VAEOutlierDetector)]
    models.append(VAETransformer(**{**SMALL, "hidden_layer_sizes": ()}).fit(X))
    return models


@PROPERTY_SETTINGS
@given(X=matrices(n_features=3))
def test_fitted_models_on_anything_give_a_documented_error_or_finite_outputs(fitted_models, X):
    for estimator in fitted_models:
        try:
            _check_outputs(estimator, X)
        except ValueError as error:
            assert re.search(DOCUMENTED, str(error)), str(error)
