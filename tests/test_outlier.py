"""Behaviour of VAEOutlierDetector: ranking quality, threshold, robustness."""

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvae import VAEOutlierDetector

# Most tests are about what the VAE learns, so they score by the ELBO alone
# (neighbor_weight=0); the local-density term has its own tests below.
FAST = dict(max_iter=30, random_state=0, neighbor_weight=0.0)
UNTRAINED = dict(learning_rate=1e-12, max_iter=1, random_state=0, neighbor_weight=0.0)


def _blobs_with_outliers(n_inliers=400, n_outliers=20, n_features=5, seed=0):
    rng = np.random.RandomState(seed)
    inliers = rng.normal(size=(n_inliers, n_features))
    magnitudes = rng.uniform(5, 8, size=(n_outliers, n_features))
    outliers = magnitudes * rng.choice([-1, 1], size=(n_outliers, n_features))
    X = np.vstack([inliers, outliers])
    y = np.r_[np.ones(n_inliers, int), -np.ones(n_outliers, int)]
    return X, y


# Inliers lie near a plane in 6-D; the planted outliers take each feature
# from a different inlier, so every feature is ordinary on its own and only
# the broken dependence between features gives them away. A score that does
# not learn that dependence (the sum of squared z-scores, or an untrained
# model) ranks them barely above chance.
_PLANE = np.random.RandomState(42).normal(size=(2, 6))


def _near_plane(n_rows, rng, noise=0.1):
    return rng.normal(size=(n_rows, 2)) @ _PLANE + noise * rng.normal(size=(n_rows, 6))


def _plane_with_outliers(n_inliers=400, n_outliers=20, seed=0):
    """Rows near the plane, then outliers: labels 0 (inlier) and 1 (outlier)."""
    rng = np.random.RandomState(seed)
    inliers = _near_plane(n_inliers, rng)
    donors = _near_plane(6 * n_outliers, rng)  # one donor row per outlier and feature
    outliers = np.column_stack(
        [donors[rng.permutation(len(donors))[:n_outliers], j] for j in range(6)]
    )
    labels = np.r_[np.zeros(n_inliers, int), np.ones(n_outliers, int)]
    return np.vstack([inliers, outliers]), labels


def _z_score(X_train, X):
    """The no-learning baseline: sum of squared z-scores (higher = more anomalous)."""
    mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 1e-12
    return np.square((X - mean) / std).sum(axis=1)


@pytest.fixture(scope="module")
def plane_split():
    X_train, _ = _plane_with_outliers(400, 20, seed=0)  # 5 % contamination, no labels used
    X_test, is_anomaly = _plane_with_outliers(200, 40, seed=1)
    return X_train, X_test, is_anomaly


def test_ranks_dependence_breaking_anomalies(plane_split):
    X_train, X_test, is_anomaly = plane_split
    baseline = roc_auc_score(is_anomaly, _z_score(X_train, X_test))
    untrained = VAEOutlierDetector(**UNTRAINED).fit(X_train)
    untrained_auc = roc_auc_score(is_anomaly, -untrained.score_samples(X_test))
    assert baseline < 0.7 and untrained_auc < 0.7  # the task needs learning
    detector = VAEOutlierDetector(**FAST).fit(X_train)
    auc = roc_auc_score(is_anomaly, -detector.score_samples(X_test))
    assert auc > 0.8
    assert auc > max(baseline, untrained_auc) + 0.15
    # decision_function ranks exactly as score_samples
    assert roc_auc_score(is_anomaly, -detector.decision_function(X_test)) == pytest.approx(auc)


def test_outlier_api_and_contamination():
    X, y = _plane_with_outliers()
    detector = VAEOutlierDetector(contamination=0.05, **FAST).fit(X)
    scores = detector.score_samples(X)
    decision = detector.decision_function(X)
    np.testing.assert_allclose(decision, scores - detector.offset_, rtol=1e-6)
    labels = detector.predict(X)
    np.testing.assert_array_equal(labels, np.where(decision < 0, -1, 1))
    # the contamination share of the training rows is flagged ...
    assert abs(np.mean(labels == -1) - 0.05) < 0.01
    # ... and many more of them are the planted outliers than without learning
    z_flagged = _z_score(X, X) > np.percentile(_z_score(X, X), 95)
    z_recall = np.mean(z_flagged[y == 1])
    assert np.mean(labels[y == 1] == -1) > z_recall + 0.25
    refit = VAEOutlierDetector(contamination=0.05, **FAST)
    np.testing.assert_array_equal(refit.fit_predict(X), labels)


def test_auto_threshold_flags_outliers_and_few_inliers():
    X, y = _plane_with_outliers()
    untrained = VAEOutlierDetector(**UNTRAINED).fit(X)
    untrained_recall = np.mean(untrained.predict(X)[y == 1] == -1)
    detector = VAEOutlierDetector(**FAST).fit(X)
    labels = detector.predict(X)
    assert np.mean(labels[y == 1] == -1) > untrained_recall + 0.2
    assert np.mean(labels[y == 0] == -1) < 0.1
    scores = detector.score_samples(X)
    q1, q3 = np.percentile(scores, [25, 75])
    assert detector.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1))


def test_trimming_beats_plain_training_on_contaminated_data():
    # 13 % of the training rows form a tight cluster off the plane. Fitted to
    # every row, the VAE learns the cluster as a second mode; trimmed, it
    # leaves it out and still calls the cluster anomalous.
    rng = np.random.RandomState(0)
    centre = np.array([2.0, -2.0, 2.0, -2.0, 2.0, -2.0])
    X_train = np.vstack([_near_plane(400, rng), centre + 0.1 * rng.normal(size=(60, 6))])
    X_test = np.vstack([_near_plane(200, rng), centre + 0.1 * rng.normal(size=(20, 6))])
    is_anomaly = np.r_[np.zeros(200), np.ones(20)]
    aucs = {
        trim: roc_auc_score(
            is_anomaly,
            -VAEOutlierDetector(trim_fraction=trim, **FAST).fit(X_train).score_samples(X_test),
        )
        for trim in (0.0, 0.2)
    }
    assert aucs[0.2] > 0.97
    assert aucs[0.2] > aucs[0.0] + 0.04


def test_score_features_points_at_the_anomalous_feature():
    rng = np.random.RandomState(0)
    X_train = _near_plane(400, rng)
    detector = VAEOutlierDetector(**FAST).fit(X_train)
    X_test = _near_plane(200, rng)
    culprit = rng.randint(6, size=len(X_test))
    shifted = X_test.copy()
    rows = np.arange(len(X_test))
    # 2 standard deviations: often inside the feature's range, but off the plane
    shifted[rows, culprit] += 2 * X_train.std(axis=0)[culprit] * rng.choice([-1, 1], len(X_test))
    contributions = detector.score_features(shifted)
    assert contributions.shape == shifted.shape
    hit_rate = np.mean(contributions.argmax(axis=1) == culprit)
    # without learning: the largest squared z-score, or an untrained model's split
    z_squared = np.square((shifted - X_train.mean(axis=0)) / X_train.std(axis=0))
    untrained = VAEOutlierDetector(**UNTRAINED).fit(X_train)
    baselines = [
        np.mean(z_squared.argmax(axis=1) == culprit),
        np.mean(untrained.score_features(shifted).argmax(axis=1) == culprit),
    ]
    assert hit_rate > 0.85
    assert hit_rate > max(baselines) + 0.08
    # typical rows are near 0 on every feature, far below the culprit's share
    typical = np.abs(detector.score_features(X_test)).mean()
    assert contributions[rows, culprit].mean() > 5 * typical
    # the documented relation to score_samples
    np.testing.assert_allclose(
        contributions.sum(axis=1),
        detector.feature_offsets_.sum() - detector.score_samples(shifted),
        rtol=1e-5,
        atol=1e-3,
    )
    assert detector.score_features(shifted.astype(np.float32)).dtype == np.float32


def test_constant_training_feature_keeps_scores_bounded(plane_split):
    # Feature 0 never varies in training; at test time it does, wildly.
    X_train, X_test, is_anomaly = plane_split
    X_train = np.column_stack([np.full(len(X_train), 3.0), X_train])
    detector = VAEOutlierDetector(**FAST).fit(X_train)
    train_scores = detector.score_samples(X_train)
    rng = np.random.RandomState(1)
    X_test = np.column_stack([3.0 + rng.normal(scale=1e3, size=len(X_test)), X_test])
    test_scores = detector.score_samples(X_test)
    assert np.all(np.isfinite(test_scores))
    # no score beyond the range of training scores by more than that range
    spread = train_scores.max() - train_scores.min()
    assert test_scores.min() > train_scores.min() - spread
    # the deviation on the constant feature does not swamp the real outliers,
    # which are still found far better than without learning
    baseline = roc_auc_score(is_anomaly, _z_score(X_train[:, 1:], X_test[:, 1:]))
    assert roc_auc_score(is_anomaly, -test_scores) > baseline + 0.15


def test_fitted_state_and_one_validation(monkeypatch):
    import skvae._base

    X, _ = _plane_with_outliers()
    calls = []

    def counting(*args, _original=skvae._base.validate_data, **kwargs):
        calls.append(kwargs)
        return _original(*args, **kwargs)

    # The detector validates through the base class (_validate_training_data).
    monkeypatch.setattr(skvae._base, "validate_data", counting)
    detector = VAEOutlierDetector(max_iter=2, random_state=0).fit(X)
    assert len(calls) == 1  # X is checked once in fit
    width = X.std(axis=0)
    np.testing.assert_allclose(detector.clip_low_, X.min(axis=0) - width)
    np.testing.assert_allclose(detector.clip_high_, X.max(axis=0) + width)
    assert detector.feature_offsets_.shape == (X.shape[1],)


def test_bernoulli_detector_scores_values_outside_the_unit_interval():
    rng = np.random.RandomState(0)
    X = (rng.uniform(size=(200, 5)) < 0.3).astype(float)
    detector = VAEOutlierDetector(likelihood="bernoulli", max_iter=5, random_state=0).fit(X)
    beyond = X[:10].copy()
    beyond[:, 0] = 5.0
    beyond[:, 1] = -3.0
    at_bounds = beyond.copy()
    at_bounds[:, 0], at_bounds[:, 1] = 1.0, 0.0
    # Scored, not refused: the ELBO of the nearest value of the support, less
    # the neighbour distance of the value itself, which lies farther away.
    scores = detector.score_samples(beyond)
    assert np.all(np.isfinite(scores))
    assert np.all(scores < detector.score_samples(at_bounds))
    assert detector.predict(beyond).shape == (10,)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        VAEOutlierDetector(likelihood="bernoulli").fit(X - 1.0)  # training data still checked


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
    # the ELBO alone, given 100 epochs to learn the curve
    elbo = VAEOutlierDetector(max_iter=100, neighbor_weight=0.0, random_state=0).fit(X_train)
    assert roc_auc_score(is_anomaly, -elbo.score_samples(X_test)) > 0.95
    # the defaults: 8 epochs leave the code collapsed, the neighbour term sees the gap
    detector = VAEOutlierDetector(random_state=0).fit(X_train)
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


@pytest.mark.slow  # six fits: about 25 s
def test_pipeline_and_grid_search_with_roc_auc():
    X, y = _plane_with_outliers(n_inliers=300, n_outliers=30)
    y = np.where(y == 1, -1, 1)  # +1 inlier, -1 outlier; higher decision = inlier
    pipeline = make_pipeline(StandardScaler(), VAEOutlierDetector(max_iter=30, random_state=0))
    search = GridSearchCV(
        pipeline,
        {"vaeoutlierdetector__latent_dim": [1, 4]},
        scoring="roc_auc",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    baseline = roc_auc_score(y == -1, _z_score(X, X))
    assert search.best_score_ > baseline + 0.15
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
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        detector.decision_function(bad)
    np.testing.assert_array_equal(detector.score_samples(X), before)


# Four tight clusters at the corners of a square; the anomalies sit between
# them (midpoints of the sides, the centre), inside the range of every feature.
_CORNERS = np.array([[0, 0, 0, 0], [4, 0, 0, 0], [0, 4, 0, 0], [4, 4, 0, 0]], float)
_GAPS = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [4, 2, 0, 0], [2, 4, 0, 0], [2, 2, 0, 0]], float)


def _corners_and_gaps(n_normal, n_gap, rng):
    normal = _CORNERS[rng.randint(4, size=n_normal)] + 0.4 * rng.normal(size=(n_normal, 4))
    gaps = _GAPS[rng.randint(5, size=n_gap)] + 0.2 * rng.normal(size=(n_gap, 4))
    return np.vstack([normal, gaps]), np.r_[np.zeros(n_normal, int), np.ones(n_gap, int)]


def test_neighbor_term_flags_anomalies_between_clusters():
    # The short-trained VAE gives the gaps between the clusters high density
    # (they lie near the mean), so the ELBO ranks them as the most normal rows;
    # the distance to the nearest training row sees that they have none. The
    # training rows are all normal, as in ADBench's semi-supervised setting,
    # where the cross-validation chose n_neighbors=1.
    rng = np.random.RandomState(0)
    X_train, _ = _corners_and_gaps(500, 0, rng)
    X_test, is_anomaly = _corners_and_gaps(200, 30, rng)
    aucs = {
        weight: roc_auc_score(
            is_anomaly,
            -VAEOutlierDetector(neighbor_weight=weight, n_neighbors=1, random_state=0)
            .fit(X_train)
            .score_samples(X_test),
        )
        for weight in (0.0, 4.0)
    }
    assert aucs[0.0] < 0.2
    assert aucs[4.0] > 0.8
    assert aucs[4.0] > aucs[0.0] + 0.5


def test_novelty_measures_the_nearest_training_row():
    rng = np.random.RandomState(0)
    X_train, _ = _corners_and_gaps(500, 0, rng)
    X_test, is_anomaly = _corners_and_gaps(200, 30, rng)
    default = VAEOutlierDetector(random_state=0).fit(X_train)
    novelty = VAEOutlierDetector(novelty=True, random_state=0).fit(X_train)
    nearest = VAEOutlierDetector(n_neighbors=1, random_state=0).fit(X_train)
    assert (default.n_neighbors_, novelty.n_neighbors_, nearest.n_neighbors_) == (20, 1, 1)
    np.testing.assert_array_equal(novelty.score_samples(X_test), nearest.score_samples(X_test))
    # An integer is kept as given, novelty or not.
    given = VAEOutlierDetector(n_neighbors=7, novelty=True, max_iter=1).fit(X_train)
    assert given.n_neighbors_ == 7
    auc = {
        name: roc_auc_score(is_anomaly, -model.score_samples(X_test))
        for name, model in [("default", default), ("novelty", novelty)]
    }
    # Measured 0.87 against 0.32: the gaps between the clusters are near
    # their 20th training neighbour, not their first.
    assert auc["novelty"] > 0.8 and auc["novelty"] > auc["default"] + 0.3


def _sparse_rows(n_rows, n_active, rng):
    """5 dense normal features and 20 sparse ones, ``n_active`` of them on per row."""
    sparse = np.zeros((n_rows, 20))
    for row in sparse:
        on = rng.choice(20, n_active, replace=False)
        row[on] = rng.normal(3.0, 1.0, n_active)
    return np.hstack([rng.normal(size=(n_rows, 5)), sparse])


def test_neighbor_distance_weighs_mostly_zero_features():
    # Every sparse feature is 0 in 90% of the training rows, so its
    # interquartile range is 0. Scaled by its range instead (the earlier
    # fallback, 4.2 times 1.349 standard deviations here), such a feature
    # counted about a quarter as much as a dense one, and rows with twice
    # the usual number of active features stayed close to their neighbours;
    # scaled by 1.349 standard deviations, as a normal feature's IQR would
    # be, the distance sees them.
    rng = np.random.RandomState(0)
    X_train = _sparse_rows(500, 2, rng)
    X_test = np.vstack([_sparse_rows(200, 2, rng), _sparse_rows(20, 4, rng)])
    is_anomaly = np.r_[np.zeros(200), np.ones(20)]
    detector = VAEOutlierDetector(random_state=0).fit(X_train)
    np.testing.assert_allclose(detector.neighbor_scale_[5:], 1.349 * X_train[:, 5:].std(axis=0))

    def distance_auc(scale):
        k = detector.n_neighbors_
        fitted = NearestNeighbors(n_neighbors=k).fit(X_train / scale)
        return roc_auc_score(is_anomaly, fitted.kneighbors(X_test / scale)[0][:, k - 1])

    by_range = detector.neighbor_scale_.copy()
    by_range[5:] = np.ptp(X_train[:, 5:], axis=0)
    assert distance_auc(detector.neighbor_scale_) > 0.83
    assert distance_auc(detector.neighbor_scale_) > distance_auc(by_range) + 0.15
    elbo_only = VAEOutlierDetector(random_state=0, neighbor_weight=0.0).fit(X_train)
    combined_auc = roc_auc_score(is_anomaly, -detector.score_samples(X_test))
    assert combined_auc > roc_auc_score(is_anomaly, -elbo_only.score_samples(X_test)) + 0.02


def test_neighbor_term_state_and_score_relations():
    X, _ = _blobs_with_outliers()
    plain = VAEOutlierDetector(**FAST).fit(X)
    assert plain.neighbor_rows_ is None and plain.neighbor_nats_ == 0.0
    combined = VAEOutlierDetector(**{**FAST, "neighbor_weight": 2.0}).fit(X)
    assert combined.neighbor_rows_.shape == X.shape and combined.neighbor_nats_ > 0
    # the same network (same seed, same training): the score is the ELBO less
    # neighbor_nats_ times the distance to the k-th neighbour beyond its median
    X_test = np.random.RandomState(1).normal(size=(50, X.shape[1])) * 3
    clipped = np.clip(X_test, combined.clip_low_, combined.clip_high_)
    scaled = combined.neighbor_rows_
    k = combined.n_neighbors_
    distance = (
        NearestNeighbors(n_neighbors=k)
        .fit(scaled)
        .kneighbors(clipped / combined.neighbor_scale_)[0][:, k - 1]
    )
    expected = plain.score_samples(X_test) - combined.neighbor_nats_ * (
        distance - combined.neighbor_offset_
    )
    np.testing.assert_allclose(combined.score_samples(X_test), expected, rtol=1e-6, atol=1e-6)
    # score_features keeps its documented relation to score_samples
    np.testing.assert_allclose(
        combined.score_features(X_test).sum(axis=1),
        combined.feature_offsets_.sum() - combined.score_samples(X_test),
        rtol=1e-5,
        atol=1e-3,
    )
    # deterministic, order and subset invariant, float32 in -> float32 out
    first = combined.score_samples(X)
    order = np.random.RandomState(0).permutation(len(X))[:37]
    np.testing.assert_array_equal(combined.score_samples(X[order]), first[order])
    np.testing.assert_array_equal(combined.score_samples(X[order[:1]]), first[order[:1]])
    assert combined.score_samples(X.astype(np.float32)).dtype == np.float32
    # the scale comes from distances to other training rows, so the term is
    # active even when the nearest neighbour (n_neighbors=1) is the row itself
    nearest = VAEOutlierDetector(**{**FAST, "neighbor_weight": 2.0, "n_neighbors": 1}).fit(X)
    assert nearest.neighbor_nats_ > 0 and nearest.neighbor_offset_ > 0
    np.testing.assert_array_equal(nearest.fit_predict(X), nearest.predict(X))


# ------------------------------------------------ anomalies at any distance
@pytest.fixture(scope="module")
def wine_detector():
    X = StandardScaler().fit_transform(load_wine().data)
    return VAEOutlierDetector(random_state=0).fit(X), X


def test_scores_keep_falling_as_a_feature_moves_away_at_any_distance(wine_detector):
    # Winsorising alone made every value beyond the clipping bound score the
    # same (-77.39 for 10, 1e3, 1e6 and 1e9): extreme anomalies tied.
    detector, X = wine_detector
    rows = np.repeat(X[:1], 5, axis=0)
    rows[:, 3] = [3.0, 10.0, 1e3, 1e6, 1e9]
    scores = detector.score_samples(rows)
    assert np.all(np.diff(scores) < 0), scores
    assert np.all(np.isfinite(scores))
    contributions = detector.score_features(rows)
    assert np.all(contributions.argmax(axis=1) == 3)  # the moved feature is blamed
    np.testing.assert_allclose(
        contributions.sum(axis=1), detector.feature_offsets_.sum() - scores, rtol=1e-6, atol=1e-3
    )


def test_a_feature_constant_in_training_and_moved_far_is_flagged(wine_detector):
    # It used to be clipped back to its one value, so such rows were flagged
    # at the contamination base rate (5%); IsolationForest flags 12.5%.
    _, X = wine_detector
    X_constant = np.column_stack([X, np.zeros(len(X))])
    detector = VAEOutlierDetector(random_state=0).fit(X_constant)
    moved = X_constant.copy()
    moved[:, -1] = 1000.0
    assert np.mean(detector.predict(moved) == -1) == 1.0
    assert np.mean(detector.predict(X_constant) == -1) < 0.15
    assert np.all(detector.score_features(moved).argmax(axis=1) == X_constant.shape[1] - 1)


def test_duplicated_training_rows_still_flag_a_row_far_from_them(wine_detector):
    # With every training row repeated, every neighbour distance was 0, so
    # the local-density term had no scale (neighbor_nats_ = 0) and a row
    # shifted by +10 in every feature scored like a normal one.
    _, X = wine_detector
    repeated = np.repeat(X[:30], 10, axis=0)
    detector = VAEOutlierDetector(random_state=0).fit(repeated)
    assert detector.neighbor_nats_ > 0
    assert np.all(detector.predict(X[:30] + 10.0) == -1)
    assert np.mean(detector.predict(X[:30]) == 1) > 0.9
