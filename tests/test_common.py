"""scikit-learn's estimator checks, and the documented parameters, of every public estimator."""

import inspect
import re

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skvae import VAEImputer, VAEOutlierDetector, VAETransformer

# Small and quick: the checks fit hundreds of times.
FAST = dict(hidden_layer_sizes=(8,), max_iter=5, batch_size=32, n_mc_samples=4)

ESTIMATORS = [
    VAETransformer(**FAST),
    VAETransformer(**FAST, gaussian_variance="row"),
    VAEOutlierDetector(**FAST),
    VAEImputer(**FAST, n_importance_samples=8),
    VAEImputer(**FAST, n_importance_samples=8, missing_mechanism="self_masking"),
]


def _expected_failed_checks(estimator):
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("Estimator", [VAETransformer, VAEOutlierDetector, VAEImputer])
def test_every_parameter_is_documented_in_order(Estimator):
    """Each ``__init__`` parameter has an entry in the class docstring, in order."""
    documented = re.findall(r"^    (\w+) : ", Estimator.__doc__.split("Attributes\n")[0], re.M)
    assert documented == list(inspect.signature(Estimator).parameters)
