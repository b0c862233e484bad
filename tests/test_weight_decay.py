"""weight_decay="auto": the decay chosen on early stopping's validation rows, as RidgeCV does."""

import os
import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import skvae
from skvae import VAEImputer, VAEOutlierDetector, VAETransformer
from skvae._weight_decay import WEIGHT_DECAYS

SMALL = dict(hidden_layer_sizes=(16,), max_iter=8, batch_size=32, n_threads=1, random_state=0)


@pytest.fixture(scope="module")
def X():
    rng = np.random.RandomState(0)
    return rng.normal(size=(160, 3)) @ rng.normal(size=(3, 6)) + 0.1 * rng.normal(size=(160, 6))


def _fit(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X)


def test_auto_keeps_the_candidate_with_the_best_validation_elbo(X):
    auto = _fit(VAETransformer(weight_decay="auto", **SMALL), X)
    scores = auto.weight_decay_scores_
    assert scores.shape == (len(WEIGHT_DECAYS),) and np.isfinite(scores).all()
    assert auto.weight_decay_ == WEIGHT_DECAYS[int(np.argmax(scores))]
    assert auto.best_validation_score_ == pytest.approx(scores.max())
    assert auto.weight_decay == "auto"  # the parameter is left as given
    # The model kept is the one a fit with that decay and the same seed gives.
    for decay, score in zip(WEIGHT_DECAYS, scores):
        single = _fit(VAETransformer(weight_decay=decay, **SMALL), X)
        assert single.best_validation_score_ == pytest.approx(score)
        if decay == auto.weight_decay_:
            np.testing.assert_array_equal(single.transform(X), auto.transform(X))
            assert single.n_iter_ == auto.n_iter_
            assert single.loss_curve_ == auto.loss_curve_


def test_auto_refuses_fits_without_a_validation_split_and_keeps_the_fitted_state(X):
    with pytest.raises(ValueError, match="early_stopping=True"):
        VAETransformer(weight_decay="auto", early_stopping=False, **SMALL).fit(X)
    with pytest.raises(ValueError, match="partial_fit holds no rows out"):
        VAETransformer(weight_decay="auto", **SMALL).partial_fit(X)
    with pytest.raises(ValueError, match="early_stopping=True"):
        VAEImputer(weight_decay="auto", **SMALL).fit(X)  # the imputer's default: no split
    fitted = _fit(VAETransformer(**SMALL), X)
    before = fitted.transform(X)
    with pytest.raises(ValueError, match="early_stopping=True"):
        fitted.set_params(weight_decay="auto", early_stopping=False).fit(X)
    np.testing.assert_array_equal(fitted.transform(X), before)
    assert not hasattr(fitted, "weight_decay_")
    # A model fitted with a number has no chosen decay to continue with.
    fitted.set_params(early_stopping=True, warm_start=True)
    with pytest.raises(ValueError, match="fitted with weight_decay set to a number"):
        fitted.fit(X)
    with pytest.raises(ValueError, match="fitted with weight_decay set to a number"):
        fitted.partial_fit(X)
    np.testing.assert_array_equal(fitted.transform(X), before)


def test_auto_continues_with_the_chosen_decay_and_survives_saving(X, tmp_path):
    auto = _fit(VAETransformer(weight_decay="auto", **SMALL), X)
    chosen = auto.weight_decay_
    for copy in (skvae.load(_saved(auto, tmp_path)), pickle.loads(pickle.dumps(auto))):
        assert copy.weight_decay == "auto" and copy.weight_decay_ == chosen
        np.testing.assert_array_equal(copy.weight_decay_scores_, auto.weight_decay_scores_)
        np.testing.assert_allclose(copy.transform(X), auto.transform(X), rtol=1e-6)
    epochs = auto.n_iter_
    auto.set_params(warm_start=True, max_iter=2)
    _fit(auto, X)
    assert auto.n_iter_ == epochs + 2 and auto.weight_decay_ == chosen
    auto.partial_fit(X)  # continues, with the chosen decay
    assert auto.n_iter_ == epochs + 3


def test_auto_in_the_outlier_detector(X):
    detector = _fit(VAEOutlierDetector(weight_decay="auto", early_stopping=True, **SMALL), X)
    assert detector.weight_decay_ in WEIGHT_DECAYS
    assert np.isfinite(detector.score_samples(X)).all()
    assert detector.predict(X).shape == (X.shape[0],)


def _saved(estimator, folder):
    path = os.path.join(folder, "model.safetensors")
    skvae.save(estimator, path)
    return path
