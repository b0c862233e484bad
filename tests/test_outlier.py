"""Behaviour of VAEOutlierDetector: ranking quality, threshold, robustness."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvae import VAEOutlierDetector

FAST = dict(max_iter=30, random_state=0)


def _blobs_with_outliers(n_inliers=400, n_outliers=20, n_features=5, seed=0):
    rng = np.random.RandomState(seed)
    inliers = rng.normal(size=(n_inliers, n_features))
    magnitudes = rng.uniform(5, 8, size=(n_outliers, n_features))
    outliers = magnitudes * rng.choice([-1, 1], size=(n_outliers, n_features))
    X = np.vstack([inliers, outliers])
    y = np.r_[np.ones(n_inliers, int), -np.ones(n_outliers, int)]
    return X, y


@pytest.fixture(scope="module")
def breast_cancer_split():
    """Benign tumours as inliers, a few malignant ones as contamination."""
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.RandomState(0)
    benign = rng.permutation(np.flatnonzero(y == 1))
    malignant = rng.permutation(np.flatnonzero(y == 0))[:40]
    train = np.r_[benign[:250], malignant[:10]]  # 4 % contamination, no labels used
    test = np.r_[benign[250:], malignant[10:]]
    return X[train], X[test], (y[test] == 0).astype(int)


def test_ranks_breast_cancer_anomalies(breast_cancer_split):
    X_train, X_test, is_anomaly = breast_cancer_split
    detector = VAEOutlierDetector(**FAST).fit(X_train)
    auc = roc_auc_score(is_anomaly, -detector.score_samples(X_test))
    assert auc > 0.9
    # decision_function ranks exactly as score_samples
    assert roc_auc_score(is_anomaly, -detector.decision_function(X_test)) == pytest.approx(auc)


def test_outlier_api_and_contamination():
    X, y = _blobs_with_outliers()
    detector = VAEOutlierDetector(contamination=0.05, **FAST).fit(X)
    scores = detector.score_samples(X)
    decision = detector.decision_function(X)
    np.testing.assert_allclose(decision, scores - detector.offset_, rtol=1e-6)
    labels = detector.predict(X)
    np.testing.assert_array_equal(labels, np.where(decision < 0, -1, 1))
    # the contamination share of the training rows is flagged ...
    assert abs(np.mean(labels == -1) - 0.05) < 0.01
    # ... and they are the planted outliers
    assert np.mean(labels[y == -1] == -1) > 0.9
    refit = VAEOutlierDetector(contamination=0.05, **FAST)
    np.testing.assert_array_equal(refit.fit_predict(X), labels)


def test_auto_threshold_flags_far_outliers_and_few_inliers():
    X, y = _blobs_with_outliers()
    detector = VAEOutlierDetector(**FAST).fit(X)
    labels = detector.predict(X)
    assert np.all(labels[y == -1] == -1)
    assert np.mean(labels[y == 1] == -1) < 0.05
    scores = detector.score_samples(X)
    q1, q3 = np.percentile(scores, [25, 75])
    assert detector.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1))


def test_constant_training_feature_keeps_scores_bounded():
    # Feature 0 never varies in training; at test time it does, wildly.
    X, y = _blobs_with_outliers()
    X = np.column_stack([np.full(len(X), 3.0), X])
    detector = VAEOutlierDetector(**FAST).fit(X)
    train_scores = detector.score_samples(X)
    rng = np.random.RandomState(1)
    X_test, y_test = _blobs_with_outliers(seed=2)
    X_test = np.column_stack([3.0 + rng.normal(scale=1e3, size=len(X_test)), X_test])
    test_scores = detector.score_samples(X_test)
    assert np.all(np.isfinite(test_scores))
    # no score beyond the range of training scores by more than that range
    spread = train_scores.max() - train_scores.min()
    assert test_scores.min() > train_scores.min() - spread
    # the deviation on the constant feature does not swamp the real outliers
    assert roc_auc_score(y_test == -1, -test_scores) > 0.99


def test_log_likelihood_winsorises_like_score_samples():
    # Feature 0 is constant in training; feature 1 goes far beyond its range.
    X, _ = _blobs_with_outliers()
    X = np.column_stack([np.full(len(X), 3.0), X])
    detector = VAEOutlierDetector(**FAST).fit(X)
    far, farther = X[:50].copy(), X[:50].copy()
    far[:, 1] += 1e3
    farther[:, 1] += 1e6
    farther[:, 0] -= 1e6
    for score in (detector.score_samples, lambda x: detector.log_likelihood(x, 8)):
        # both rows are clipped to the same bound, the constant feature is ignored
        np.testing.assert_array_equal(score(far), score(farther))
        assert np.all(np.isfinite(score(farther)))
        assert np.all(score(far) < score(X[:50]))


def _closed_curve(theta, rng, noise=0.05):
    """A closed curve in 6-D: the first three harmonics of the angle."""
    X = np.column_stack([f(k * theta) for k in (1, 2, 3) for f in (np.cos, np.sin)])
    return X + rng.normal(scale=noise, size=X.shape)


def test_score_is_not_distance_to_the_mean():
    # Training rows lie on a closed curve whose centre is the mean of the
    # data. The anomalies sit at that centre: a score that is only a distance
    # from the mean (a collapsed posterior) would call them the most normal.
    rng = np.random.RandomState(0)
    X_train = _closed_curve(rng.uniform(0, 2 * np.pi, 600), rng)
    X_test = np.vstack(
        [_closed_curve(rng.uniform(0, 2 * np.pi, 100), rng), rng.normal(scale=0.1, size=(20, 6))]
    )
    is_anomaly = np.r_[np.zeros(100), np.ones(20)]
    distance = np.linalg.norm(X_test - X_train.mean(axis=0), axis=1)
    assert roc_auc_score(is_anomaly, distance) < 0.05  # the mean-distance score fails
    detector = VAEOutlierDetector(random_state=0).fit(X_train)  # the defaults
    assert roc_auc_score(is_anomaly, -detector.score_samples(X_test)) > 0.95


def test_scores_are_deterministic_and_rowwise():
    X, _ = _blobs_with_outliers()
    detector = VAEOutlierDetector(**FAST).fit(X)
    first = detector.score_samples(X)
    np.testing.assert_array_equal(detector.score_samples(X), first)
    order = np.random.RandomState(0).permutation(len(X))[:37]
    np.testing.assert_array_equal(detector.score_samples(X[order]), first[order])
    np.testing.assert_array_equal(detector.score_samples(X[order[:1]]), first[order[:1]])
    refit = VAEOutlierDetector(**FAST).fit(X)
    np.testing.assert_array_equal(refit.score_samples(X), first)
    assert refit.offset_ == detector.offset_


def test_dtype_follows_input():
    X, _ = _blobs_with_outliers()
    detector = VAEOutlierDetector(**FAST).fit(X)
    assert detector.score_samples(X.astype(np.float32)).dtype == np.float32
    assert detector.decision_function(X.astype(np.float32)).dtype == np.float32
    assert detector.decision_function(X).dtype == np.float64


def test_pipeline_and_grid_search_with_roc_auc():
    X, y = _blobs_with_outliers(n_inliers=300, n_outliers=30)
    pipeline = make_pipeline(StandardScaler(), VAEOutlierDetector(max_iter=15, random_state=0))
    search = GridSearchCV(
        pipeline,
        {"vaeoutlierdetector__latent_dim": [1, 4]},
        scoring="roc_auc",  # y: +1 inlier, -1 outlier; higher decision = inlier
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    assert search.best_score_ > 0.95
    assert set(search.best_estimator_.predict(X)) <= {-1, 1}


def test_bad_input():
    X, _ = _blobs_with_outliers()
    with pytest.raises(NotFittedError):
        VAEOutlierDetector().predict(X)
    with pytest.raises(ValueError, match="contamination"):
        VAEOutlierDetector(contamination=0.8).fit(X)
    with pytest.raises(ValueError, match="trim_fraction"):
        VAEOutlierDetector(trim_fraction=0.5).fit(X)
    detector = VAEOutlierDetector(**FAST).fit(X)
    before = detector.score_samples(X)
    with pytest.raises(ValueError, match="features"):
        detector.predict(X[:, :3])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        detector.decision_function(bad)
    np.testing.assert_array_equal(detector.score_samples(X), before)
