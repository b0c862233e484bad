"""Behaviour of VAETransformer: each method's semantics, numbers not shapes."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from _untrained import trained, untrained
from skvae import VAETransformer

# Every setting the semantic tests depend on is explicit, so that a change of
# the defaults cannot weaken them. Each semantic test asserts a margin over a
# no-learning reference (the same model at its initial weights, or a closed
# form); scripts/check_untrained.py checks that each of them fails when the
# model under test is that reference (SKVAE_UNTRAINED=1).
DIGITS_VAE = dict(
    latent_dim=8,
    hidden_layer_sizes=(128, 64),
    max_iter=60,
    batch_size=128,
    learning_rate=1e-3,
    warmup_epochs=10,
    early_stopping=False,
    learning_rate_schedule="constant",
    n_threads=1,
    random_state=0,
)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def fitted(digits):
    return VAETransformer(**trained(**DIGITS_VAE)).fit(digits[0])


@pytest.fixture(scope="module")
def initial(digits):
    """The same model at its initial weights: the no-learning reference."""
    return VAETransformer(**untrained(**DIGITS_VAE)).fit(digits[0])


def _factor_data(n_rows=600, n_factors=3, n_features=10, noise=0.3, seed=0):
    rng = np.random.RandomState(seed)
    loadings = rng.randn(n_factors, n_features)
    return rng.randn(n_rows, n_factors) @ loadings + noise * rng.randn(n_rows, n_features)


def _shuffle_columns(X, seed=0):
    """Each column permuted on its own: the same marginals, no correlations."""
    rng = np.random.RandomState(seed)
    return np.column_stack([rng.permutation(column) for column in X.T])


def _correlation_error(samples, X):
    """Mean absolute gap between the off-diagonal correlations of two data sets."""
    a, b = np.corrcoef(samples, rowvar=False), np.corrcoef(X, rowvar=False)
    upper = np.triu_indices_from(a, k=1)
    return np.abs(a - b)[upper].mean()


def _weights(estimator):
    return {k: v.clone() for k, v in estimator.network_.state_dict().items()}


def _same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- semantics
def test_far_and_off_manifold_rows_score_lower(fitted, initial, digits):
    X_test = digits[1]
    typical = fitted.score_samples(X_test)
    far = fitted.score_samples(X_test + 8.0)
    assert np.all(far < typical.min())
    assert far.mean() < typical.mean() - 100  # nats
    # Rows with the same per-pixel marginals but no digit structure. A model
    # that only knows each pixel's mean and spread (the initial one: 0.005
    # nats apart, 61% of them above the median typical row) cannot tell them
    # from digits; the trained one puts them 33 nats lower, all below the
    # median typical row.
    shuffled = _shuffle_columns(X_test)
    gap = typical.mean() - fitted.score_samples(shuffled).mean()
    initial_gap = initial.score_samples(X_test).mean() - initial.score_samples(shuffled).mean()
    assert gap > initial_gap + 15.0
    assert np.mean(fitted.score_samples(shuffled) < np.median(typical)) > 0.95


def test_reconstruction_beats_the_mean_by_far(fitted, digits):
    X_train = digits[0]
    reconstruction = fitted.inverse_transform(fitted.transform(X_train))
    error = ((reconstruction - X_train) ** 2).mean()
    baseline = ((X_train - X_train.mean(axis=0)) ** 2).mean()
    assert error < 0.4 * baseline


def _salt_and_pepper(images, share=0.25, seed=0):
    rng = np.random.default_rng(seed)
    noisy = images.copy()
    hit = rng.random(images.shape) < share
    noisy[hit] = rng.integers(0, 2, hit.sum())
    return noisy


def test_gaussian_denoising_stays_near_the_data_where_training_was_near_constant():
    # digits / 16 has pixels that are almost always blank: their training
    # standard deviation is tiny, so a lit pixel standardises to hundreds.
    # Unbounded, the encoder sent such images to |z| of about 150 and the
    # "denoised" pixels ranged from -17 to 14 (MSE 4.4 against 0.10 noisy);
    # with the bounded encoder input they stay within [-0.7, 1.6] at |z| < 7,
    # and the error falls below the mean image's (0.051 against 0.073).
    X = load_digits().data / 16
    train, test = train_test_split(X, random_state=0)
    noisy = _salt_and_pepper(test)
    vae = VAETransformer(**trained(**DIGITS_VAE)).fit(train)
    codes = vae.transform(noisy)
    denoised = vae.inverse_transform(codes)
    assert np.abs(codes).max() < 20
    assert -1.0 < denoised.min() and denoised.max() < 2.0
    error = np.mean((denoised - test) ** 2)
    assert error < np.mean((noisy - test) ** 2)
    assert error < 0.85 * np.mean((train.mean(axis=0) - test) ** 2)  # untrained: about the mean
    assert vae.network_.likelihood.parts[0].input_bound == 3.0


def test_a_linear_model_reads_its_inputs_unbounded(digits):
    # A linear VAE is factor analysis: its encoder stays linear in x.
    linear = VAETransformer(hidden_layer_sizes=(), latent_dim=2, max_iter=2).fit(digits[0])
    assert linear.network_.likelihood.parts[0].input_bound is None
    assert "input_bound" not in linear._columns.to_json()["blocks"][0]


def test_samples_have_the_training_mean_and_spread(fitted, digits):
    X_train = digits[0]
    samples = fitted.sample(4000, random_state=0)
    assert samples.shape == (4000, 64)
    varying = X_train.std(axis=0) > 0.5
    mean_gap = np.abs(samples.mean(axis=0) - X_train.mean(axis=0))[varying]
    assert np.all(mean_gap < 0.5 * X_train.std(axis=0)[varying])
    spread_ratio = samples.std(axis=0)[varying] / X_train.std(axis=0)[varying]
    assert 0.9 < np.median(spread_ratio) < 1.1
    assert np.all((spread_ratio > 0.7) & (spread_ratio < 1.4))
    # Mean and spread alone the initial model reproduces (median ratio 1.00):
    # the learnt part is the dependence between pixels. Independent features
    # miss the correlations by 0.154 on average (the initial model: 0.155);
    # trained samples by about 0.06.
    independent = np.abs(np.corrcoef(X_train[:, varying], rowvar=False))[
        np.triu_indices(varying.sum(), k=1)
    ].mean()
    assert _correlation_error(samples[:, varying], X_train[:, varying]) < 0.6 * independent


def test_sample_is_reproducible_and_mean_option_is_noise_free(fitted, digits):
    a = fitted.sample(50, random_state=3)
    assert np.array_equal(a, fitted.sample(50, random_state=3))
    assert not np.array_equal(a, fitted.sample(50, random_state=4))
    means = fitted.sample(2000, random_state=3, return_mean=True)
    draws = fitted.sample(2000, random_state=3)
    # Same latent draws; the observation noise is what separates the two.
    assert means.std(axis=0).mean() < draws.std(axis=0).mean()
    # The decoder means carry the digits' variation (about half of each
    # pixel's variance; the initial model's means are nearly constant, 0.5%).
    X_train = digits[0]
    varying = X_train.std(axis=0) > 0.5
    explained = means.var(axis=0)[varying] / X_train.var(axis=0)[varying]
    assert np.median(explained) > 0.25
    z = np.random.RandomState(0).randn(5, fitted.latent_dim)
    decoded = fitted.inverse_transform(z)
    assert decoded.shape == (5, 64) and np.isfinite(decoded).all()


def test_score_is_mean_of_score_samples_and_ignores_beta(fitted, digits):
    X_test = digits[1]
    score = fitted.score(X_test)
    assert score == pytest.approx(fitted.score_samples(X_test).mean(), rel=1e-6)
    changed = pickle.loads(pickle.dumps(fitted)).set_params(beta=10.0)
    assert changed.score(X_test) == score


def test_transform_is_deterministic_latent_mean(fitted, digits):
    X_test = digits[1]
    Z = fitted.transform(X_test)
    assert np.array_equal(Z, fitted.transform(X_test))
    assert np.allclose(Z[::-1], fitted.transform(X_test[::-1]), rtol=1e-5, atol=1e-6)
    assert np.array_equal(fitted.fit_transform(digits[0]), fitted.transform(digits[0]))


def test_log_likelihood_is_above_the_elbo(fitted, initial, digits):
    X_test = digits[1][:200]
    elbo = fitted.score_samples(X_test)
    iwae = fitted.log_likelihood(X_test, n_importance_samples=200)
    assert np.array_equal(iwae, fitted.log_likelihood(X_test, n_importance_samples=200))
    # With a posterior worth importance-weighting the bound tightens by about
    # 1.2 nats (the initial model: 0.3), and the held-out estimate is about
    # 30 nats above the initial model's.
    assert iwae.mean() > elbo.mean() + 0.6
    assert iwae.mean() > initial.log_likelihood(X_test, n_importance_samples=200).mean() + 15.0


# ------------------------------------------------------- model selection
def test_pipeline_on_digits_classifies_well(digits):
    X_train, X_test, y_train, y_test = digits
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("vae", VAETransformer(**trained(**{**DIGITS_VAE, "latent_dim": 10}))),
            ("classify", LogisticRegression(max_iter=2000)),
        ]
    )
    pipeline.fit(X_train, y_train)
    assert pipeline.score(X_test, y_test) > 0.85


def test_grid_search_picks_the_true_latent_dimension():
    X = _factor_data()
    params = dict(
        hidden_layer_sizes=(), max_iter=150, batch_size=128, learning_rate=1e-3, random_state=0
    )
    search = GridSearchCV(
        VAETransformer(**trained(**params)),
        {"latent_dim": [1, 3], "beta": [1.0, 4.0]},
        cv=3,
        n_jobs=2,
    ).fit(X)
    assert search.best_params_ == {"latent_dim": 3, "beta": 1.0}
    scores = np.sort(search.cv_results_["mean_test_score"])
    assert np.all(np.isfinite(scores))
    # Untrained, beta cannot matter (a tie) and every score is about 24 nats
    # down; trained, the winner leads by about 1.5 nats and sits 6 above.
    assert scores[-1] > scores[-2] + 0.5
    initial = VAETransformer(**untrained(**params), latent_dim=3)
    assert search.best_score_ > np.mean(
        [initial.fit(X[train]).score(X[test]) for train, test in KFold(3).split(X)]
    ) + 3.0


# -------------------------------------------------------------- dtypes etc.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_follow_the_input_dtype(fitted, digits, dtype):
    X = digits[1][:20].astype(dtype)
    assert fitted.transform(X).dtype == dtype
    assert fitted.score_samples(X).dtype == dtype
    assert fitted.log_likelihood(X, n_importance_samples=4).dtype == dtype
    assert fitted.inverse_transform(fitted.transform(X)).dtype == dtype


def test_float32_and_float64_give_the_same_numbers(fitted, digits):
    X = digits[1][:50]
    np.testing.assert_allclose(
        fitted.score_samples(X.astype(np.float32)), fitted.score_samples(X), rtol=1e-5
    )


def test_dataframe_input_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(_factor_data(n_rows=100), columns=[f"f{i}" for i in range(10)])
    vae = VAETransformer(latent_dim=3, max_iter=5, random_state=0).fit(X)
    assert list(vae.feature_names_in_) == list(X.columns)
    assert list(vae.get_feature_names_out()) == ["vaetransformer0", "vaetransformer1", "vaetransformer2"]
    vae.set_output(transform="pandas")
    out = vae.transform(X)
    assert list(out.columns) == ["vaetransformer0", "vaetransformer1", "vaetransformer2"]


def test_same_seed_same_model_other_seed_other_model():
    X = _factor_data(n_rows=200)
    a = VAETransformer(max_iter=5, random_state=7).fit(X)
    b = VAETransformer(max_iter=5, random_state=7).fit(X)
    c = VAETransformer(max_iter=5, random_state=8).fit(X)
    assert _same_weights(_weights(a), _weights(b))
    assert np.array_equal(a.transform(X), b.transform(X))
    assert not np.array_equal(a.transform(X), c.transform(X))


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_round_trip_gives_identical_outputs(fitted, digits, tmp_path, dump):
    X = digits[1]
    if dump == "pickle":
        loaded = pickle.loads(pickle.dumps(fitted))
    else:
        joblib.dump(fitted, tmp_path / "vae.joblib")
        loaded = joblib.load(tmp_path / "vae.joblib")
    assert np.array_equal(loaded.transform(X), fitted.transform(X))
    assert np.array_equal(loaded.score_samples(X), fitted.score_samples(X))
    assert np.array_equal(loaded.sample(10, random_state=0), fitted.sample(10, random_state=0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_model_pickles_to_cpu(digits):
    vae = VAETransformer(max_iter=3, device="cuda", random_state=0).fit(digits[0])
    state = pickle.loads(pickle.dumps(vae)).network_.state_dict()
    assert all(t.device.type == "cpu" for t in state.values())
    assert next(vae.network_.parameters()).device.type == "cuda"


# ---------------------------------------------- a variance decoded for each row
# Two groups of rows: one tight (sd 0.05), one loose (sd 2 and 1.5). One variance per
# column must cover both; a variance decoded from z can be small for the tight group.
HETERO_VAE = dict(
    latent_dim=2,
    hidden_layer_sizes=(32, 16),
    max_iter=300,
    early_stopping=True,
    learning_rate_schedule="adaptive",
    n_threads=1,
    random_state=0,
)


def _two_spreads(n_rows=600, seed=0):
    rng = np.random.RandomState(seed)
    group = rng.randint(2, size=n_rows)
    tight = rng.normal(0.0, 0.05, size=(n_rows, 2))
    loose = rng.normal([3.0, -2.0], [2.0, 1.5], size=(n_rows, 2))
    return np.where(group[:, None] == 0, tight, loose)


def test_a_per_row_variance_fits_two_spreads_far_better():
    X = _two_spreads()
    train, held = X[:400], X[400:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        per_row = VAETransformer(**trained(**HETERO_VAE, gaussian_variance="row")).fit(train)
        per_column = VAETransformer(**trained(**HETERO_VAE)).fit(train)
    assert not per_row.network_.has_closed_form_reconstruction
    # Measured: -1.57 against -3.63 nats per row.
    assert per_row.score(held) > per_column.score(held) + 1.0
    # Sampled rows keep the tight group tight: 0.51 of the real rows lie within 0.2 of
    # (0, 0); measured 0.29 of the per-row model's samples, 0.0075 of the per-column one's.
    near_zero = np.all(np.abs(per_row.sample(2000, random_state=0)) < 0.2, axis=1).mean()
    assert near_zero > 0.15


def test_the_closed_form_is_used_for_a_per_column_variance_only():
    X = _factor_data(n_rows=100)
    linear = dict(hidden_layer_sizes=(), max_iter=2, random_state=0, n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        column = VAETransformer(**linear).fit(X)
        row = VAETransformer(**linear, gaussian_variance="row").fit(X)
    assert column.network_.has_closed_form_reconstruction
    assert not row.network_.has_closed_form_reconstruction  # Monte Carlo over z instead
    assert row.network_.likelihood.n_outputs == 2 * X.shape[1]
    assert np.isfinite(row.score_samples(X)).all()
    # More draws, a more precise Monte-Carlo ELBO; the closed form has no such error.
    few, many = (row.set_params(n_mc_samples=k).score_samples(X[:5]) for k in (1, 256))
    assert not np.allclose(few, many)


def test_a_per_row_variance_needs_a_fully_connected_decoder():
    X = np.random.RandomState(0).rand(20, 16)
    with pytest.raises(ValueError, match="gaussian_variance='row'"):
        VAETransformer(image_shape=(1, 4, 4), gaussian_variance="row", max_iter=1).fit(X)


def test_warm_start_refuses_a_changed_gaussian_variance():
    X = _factor_data(n_rows=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vae = VAETransformer(hidden_layer_sizes=(8,), max_iter=1, warm_start=True).fit(X)
    with pytest.raises(ValueError, match=r"gaussian_variance must not change"):
        vae.set_params(gaussian_variance="row").fit(X)


# ---------------------------------------------------------------- training
def test_early_stopping_keeps_the_best_validation_weights():
    X = _factor_data(n_rows=400)
    params = dict(
        latent_dim=3,
        early_stopping=True,
        n_iter_no_change=3,
        tol=1e-2,  # the averaged weights improve smoothly: a coarser tol stops sooner
        max_iter=300,
        batch_size=128,
        learning_rate=1e-3,
        random_state=0,
    )
    vae = VAETransformer(**trained(**params)).fit(X)
    assert len(vae.validation_scores_) == vae.n_iter_ < 300
    assert vae.best_validation_score_ == max(vae.validation_scores_)
    assert len(vae.loss_curve_) == vae.n_iter_
    assert vae.loss_curve_[-1] < vae.loss_curve_[0] - 1.0
    assert vae.best_validation_score_ > vae.validation_scores_[0] + 1.0


def test_hitting_max_iter_warns():
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        VAETransformer(max_iter=2, random_state=0).fit(_factor_data(n_rows=50))


def test_diverging_training_raises_and_keeps_the_previous_model():
    X = _factor_data(n_rows=200)
    vae = VAETransformer(max_iter=3, random_state=0).fit(X)
    before = _weights(vae)
    vae.set_params(learning_rate=1e12, max_iter=20)
    with pytest.raises(ValueError, match="training loss became"):
        vae.fit(X)
    assert _same_weights(before, _weights(vae))
    assert vae.n_iter_ == 3


def test_thread_setting_is_restored():
    previous = torch.get_num_threads()
    vae = VAETransformer(max_iter=2, n_threads=1, random_state=0).fit(_factor_data(n_rows=50))
    assert torch.get_num_threads() == previous
    vae.transform(_factor_data(n_rows=10))
    assert torch.get_num_threads() == previous


# --------------------------------------------------------------- bad input
@pytest.fixture
def small_fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return VAETransformer(max_iter=2, random_state=0).fit(_factor_data(n_rows=60))


def _bad_inputs():
    good = _factor_data(n_rows=20)
    with_inf, all_nan = good.copy(), np.full_like(good, np.nan)  # NaN alone: a missing value
    with_inf[0, 0] = np.inf
    text = good.astype(object)
    text[1, 1] = "abc"
    return {
        "all nan": (all_nan, "Every entry of X is NaN"),
        "inf": (with_inf, "infinity"),
        "empty": (np.empty((0, 10)), "0 sample"),
        "text": (text, "could not convert|Unable to convert"),
    }


@pytest.mark.parametrize("case", ["all nan", "inf", "empty", "text"])
@pytest.mark.parametrize("method", ["fit", "transform", "score_samples"])
def test_bad_input_raises_and_leaves_fitted_state(small_fitted, case, method):
    if case == "all nan" and method != "fit":
        pytest.skip("a fitted model encodes and scores rows with nothing observed")
    X, message = _bad_inputs()[case]
    before_weights, before_attrs = _weights(small_fitted), dict(vars(small_fitted))
    with pytest.raises(ValueError, match=message):
        getattr(small_fitted, method)(X)
    assert _same_weights(before_weights, _weights(small_fitted))
    assert vars(small_fitted).keys() == before_attrs.keys()
    assert small_fitted.n_features_in_ == 10 and small_fitted.n_iter_ == 2


def test_wrong_number_of_features_raises(small_fitted):
    with pytest.raises(ValueError, match="X has 4 features, but VAETransformer is expecting 10"):
        small_fitted.transform(np.ones((5, 4)))
    with pytest.raises(ValueError, match="latent_dim=2"):
        small_fitted.inverse_transform(np.ones((5, 3)))


def test_bernoulli_needs_values_in_unit_interval(small_fitted):
    X = np.random.RandomState(0).rand(40, 10)
    vae = VAETransformer(likelihood="bernoulli", max_iter=2, random_state=0).fit(X)
    before = _weights(vae)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        vae.fit(X * 3)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        vae.score_samples(X - 0.5)
    assert _same_weights(before, _weights(vae))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes"),
        ({"likelihood": "poisson"}, "likelihood"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"device": "tpu"}, "device"),
        ({"n_threads": 0}, "n_threads"),
        ({"gaussian_variance": "diagonal"}, "gaussian_variance"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        VAETransformer(**params).fit(_factor_data(n_rows=20))


def test_methods_need_a_fitted_model():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        VAETransformer().sample(3)


def test_float32_scores_do_not_depend_on_the_other_rows(fitted, digits):
    X = digits[1][:150].astype(np.float32)
    together = fitted.score_samples(X)
    alone = np.array([fitted.score_samples(X[i : i + 1])[0] for i in (0, 70, 149)])
    assert np.array_equal(alone, together[[0, 70, 149]])
    assert np.array_equal(fitted.score_samples(X[::-1])[::-1], together)
