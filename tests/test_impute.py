"""VAEImputer: imputation quality against scikit-learn's imputers, multiple
imputation by sampling importance resampling, and the imputer conventions."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from _untrained import trained
import skvae
from skvae import VAEImputer

# Every setting the semantic tests depend on is explicit, so that a change of
# the defaults cannot weaken them (see scripts/check_untrained.py).
IMPUTER = dict(
    latent_dim=8,
    hidden_layer_sizes=(128, 64),
    max_iter=400,
    batch_size=128,
    n_importance_samples=100,
    n_train_importance_samples=1,
    early_stopping=True,
    n_threads=1,
    random_state=0,
)
SMALL = {"hidden_layer_sizes": (16,), "latent_dim": 2, "max_iter": 20, "random_state": 0}


def _mcar(X, rate, seed=0):
    """X with a share ``rate`` of its values missing completely at random, and the mask."""
    mask = np.random.RandomState(seed).uniform(size=X.shape) < rate
    return np.where(mask, np.nan, X), mask


@pytest.fixture(scope="module")
def cancer():
    return StandardScaler().fit_transform(load_breast_cancer().data)


@pytest.fixture(scope="module")
def fitted(cancer):
    X_missing, _ = _mcar(cancer, 0.3)
    return VAEImputer(**SMALL).fit(X_missing), X_missing


def _mse(filled, X, mask):
    return float(((filled - X)[mask] ** 2).mean())


# ------------------------------------------------------------- semantics
@pytest.fixture(scope="module")
def cancer_imputer(cancer):
    """The imputer of the semantic tests, fitted on cancer with 30% missing."""
    X_missing, mask = _mcar(cancer, 0.3)
    return VAEImputer(**trained(**IMPUTER)).fit(X_missing), X_missing, mask


def test_imputation_beats_the_mean_and_the_nearest_neighbours(cancer, cancer_imputer):
    imputer, X_missing, mask = cancer_imputer
    vae = _mse(imputer.transform(X_missing), cancer, mask)
    mean = _mse(SimpleImputer().fit_transform(X_missing), cancer, mask)
    knn = _mse(KNNImputer().fit_transform(X_missing), cancer, mask)
    # Measured: 0.30 against 0.42 (KNNImputer) and 1.01 (the mean); an
    # untrained model imputes about as the mean does (1.01).
    assert vae < 0.85 * knn
    assert vae < 0.5 * mean


def test_sampled_imputations_scatter_around_the_conditional_mean(cancer, cancer_imputer):
    imputer, X_missing, mask = cancer_imputer
    mean = imputer.transform(X_missing)
    draws = np.stack(imputer.sample_imputations(X_missing, n_imputations=50, random_state=0))
    spread = draws.std(axis=0)[mask]
    assert np.all(draws[:, ~mask] == cancer[~mask])  # observed values stay as they are
    assert np.all(spread > 0)
    # The draws average to the single imputation (the same K draws per row
    # estimate both), well within their spread...
    standard_error = spread / np.sqrt(draws.shape[0])
    assert np.median(np.abs(draws.mean(axis=0)[mask] - mean[mask]) / standard_error) < 2.0
    # ...their spread is the model's uncertainty given the observed values,
    # well below the data's own (the features are standardised; measured:
    # median 0.54, and 0.98 for an untrained model)...
    assert np.median(spread) < 0.75
    # ...and it is calibrated: the draws' variance matches the squared error
    # of the conditional mean (measured: 0.33 and 0.30).
    assert 0.5 < np.mean(spread**2) / _mse(mean, cancer, mask) < 2.0


def test_imputer_in_a_pipeline_before_a_classifier_and_in_a_grid_search(cancer):
    y = load_breast_cancer().target
    X_missing, _ = _mcar(cancer, 0.3, seed=1)
    pipeline = make_pipeline(
        VAEImputer(**{**SMALL, "max_iter": 50}), LogisticRegression(max_iter=1000)
    )
    search = GridSearchCV(
        pipeline,
        {"vaeimputer__latent_dim": [2, 8]},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    )
    search.fit(X_missing, y)
    assert search.best_params_["vaeimputer__latent_dim"] in (2, 8)
    assert search.best_score_ > 0.9


# ------------------------------------------------------ multiple imputation
def test_draws_differ_by_seed_and_repeat_for_a_fixed_one(fitted):
    imputer, X_missing = fitted
    holes = np.isnan(X_missing)
    first = imputer.sample_imputations(X_missing, 3, random_state=0)
    again = imputer.sample_imputations(X_missing, 3, random_state=0)
    other = imputer.sample_imputations(X_missing, 1, random_state=1)[0]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])  # independent draws within a call
    assert np.all(first[0][holes] != other[holes])
    np.testing.assert_array_equal(first[0][~holes], X_missing[~holes])
    # transform with sample_posterior=True: seeded by random_state.
    sampler = VAEImputer(**{**SMALL, "random_state": 3}, sample_posterior=True).fit(X_missing)
    np.testing.assert_array_equal(sampler.transform(X_missing), sampler.transform(X_missing))
    reseeded = VAEImputer(**{**SMALL, "random_state": 4}, sample_posterior=True).fit(X_missing)
    assert not np.array_equal(sampler.transform(X_missing), reseeded.transform(X_missing))
    with pytest.raises(ValueError, match="n_imputations"):
        imputer.sample_imputations(X_missing, 0)


# -------------------------------------------------------------- conventions
def test_observed_values_and_complete_rows_come_back_unchanged(fitted):
    imputer, X_missing = fitted
    filled = imputer.transform(X_missing)
    observed = ~np.isnan(X_missing)
    np.testing.assert_array_equal(filled[observed], X_missing[observed])
    assert np.isfinite(filled).all()
    # A row's imputation does not depend on the other rows.
    np.testing.assert_array_equal(imputer.transform(X_missing[5:9]), filled[5:9])
    np.testing.assert_array_equal(imputer.transform(X_missing[::-1]), filled[::-1])
    assert imputer.transform(X_missing.astype(np.float32)).dtype == np.float32


def test_a_row_with_nothing_observed_gets_the_models_mean(fitted, cancer):
    imputer, _ = fitted
    filled = imputer.transform(np.full((1, cancer.shape[1]), np.nan))
    assert np.isfinite(filled).all()
    assert np.abs(filled).mean() < 0.5  # near the (standardised) training means, 0


def test_empty_features_are_dropped_or_kept_with_zeros():
    X = np.random.RandomState(0).normal(size=(60, 4))
    X[:, 1] = np.nan
    X[::3, 2] = np.nan
    names = ["a", "b", "c", "d"]
    frame = pd.DataFrame(X, columns=names)
    with pytest.warns(UserWarning, match="no observed value"):
        dropped = VAEImputer(**SMALL).fit(frame)
    assert dropped.transform(frame).shape == (60, 3)
    assert list(dropped.get_feature_names_out()) == ["a", "c", "d"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        kept = VAEImputer(**SMALL, keep_empty_features=True, add_indicator=True).fit(frame)
    out = kept.transform(frame)
    assert out.shape == (60, 4 + 2)  # every feature, then the indicator of b and c
    assert np.all(out[:, 1] == 0)
    np.testing.assert_array_equal(out[:, 4:], np.isnan(X[:, [1, 2]]))
    assert list(kept.get_feature_names_out()) == [
        *names,
        "missingindicator_b",
        "missingindicator_c",
    ]
    assert list(kept.set_output(transform="pandas").transform(frame).columns) == list(
        kept.get_feature_names_out()
    )


def test_a_number_can_mark_the_missing_values():
    X = np.random.RandomState(0).normal(size=(60, 3))
    X_marked, X_nan = X.copy(), X.copy()
    X_marked[::4, 0] = -999.0
    X_nan[::4, 0] = np.nan
    marked = VAEImputer(**SMALL, missing_values=-999.0).fit(X_marked)
    plain = VAEImputer(**SMALL).fit(X_nan)
    np.testing.assert_array_equal(marked.transform(X_marked), plain.transform(X_nan))
    assert not marked.__sklearn_tags__().input_tags.allow_nan
    with pytest.raises(ValueError, match="NaN"):
        marked.transform(X_nan)


def test_an_imputer_fitted_on_complete_rows_fills_holes(cancer):
    imputer = VAEImputer(**SMALL).fit(cancer[:400])
    assert not imputer.network_.encode_mask  # the network of a complete fit
    X_missing, mask = _mcar(cancer[400:], 0.2)
    filled = imputer.transform(X_missing)
    assert _mse(filled, cancer[400:], mask) < _mse(np.zeros_like(filled), cancer[400:], mask)


def test_bernoulli_imputes_probabilities_and_draws_binary_values():
    rng = np.random.RandomState(0)
    X = (rng.uniform(size=(100, 6)) < 0.5).astype(float)
    X_missing, mask = _mcar(X, 0.3)
    imputer = VAEImputer(**SMALL, likelihood="bernoulli").fit(X_missing)
    filled = imputer.transform(X_missing)
    assert np.all((filled[mask] > 0) & (filled[mask] < 1))
    draw = imputer.sample_imputations(X_missing, 1, random_state=0)[0]
    assert set(np.unique(draw[mask])) <= {0.0, 1.0}


def test_categorical_columns_are_imputed_with_the_most_probable_category():
    # Three columns of category codes, copies of one another up to 10% noise: a missing
    # code is best filled from the row's other two, with a code (not an average of codes).
    rng = np.random.RandomState(0)
    code = rng.randint(3, size=600)
    X = np.column_stack([np.where(rng.uniform(size=600) < 0.1, rng.randint(3, size=600), code)
                         for _ in range(3)]).astype(float)
    X_missing, mask = _mcar(X, 0.2)
    params = trained(**{**SMALL, "max_iter": 100}, likelihood="categorical")
    imputer = VAEImputer(**params).fit(X_missing)
    filled = imputer.transform(X_missing)
    assert set(np.unique(filled[mask])) <= {0.0, 1.0, 2.0}
    # accuracy on the removed codes, far above a guess's 1/3 (measured: 0.86; untrained 0.34)
    assert (filled[mask] == X[mask]).mean() > 0.75


def test_a_dataframe_with_categories_comes_back_filled_in_with_its_dtypes():
    rng = np.random.RandomState(0)
    x = rng.normal(size=800)
    colour = np.where(x > 0.5, "red", np.where(x < -0.5, "blue", "green"))
    table = pd.DataFrame({
        "x": x, "y": x + 0.2 * rng.normal(size=800), "colour": pd.Categorical(colour),
        "visits": rng.poisson(np.exp(x)),
    })
    holes = table.copy()
    hidden = rng.uniform(size=800) < 0.3
    holes.loc[hidden, "colour"] = np.nan
    holes.loc[rng.uniform(size=800) < 0.2, "x"] = np.nan
    imputer = VAEImputer(**trained(likelihood="auto", random_state=0)).fit(holes)
    filled = imputer.transform(holes)
    assert isinstance(filled, pd.DataFrame)
    assert filled.dtypes.tolist() == table.dtypes.tolist()  # categories, ints and floats
    assert not filled.isna().any().any()
    observed = ~hidden
    assert (filled.loc[observed, "colour"] == table.loc[observed, "colour"]).all()
    # the hidden colours come back from x and y (measured: 0.95; the most frequent
    # colour is 0.40 of the rows)
    assert (filled.loc[hidden, "colour"] == table.loc[hidden, "colour"]).mean() > 0.8
    # an all-float frame still gives an array, as scikit-learn's imputers do
    floats = VAEImputer(**SMALL).fit(holes[["x", "y"]])
    assert isinstance(floats.transform(holes[["x", "y"]]), np.ndarray)


def test_save_and_load_give_the_same_imputations(fitted, tmp_path):
    imputer, X_missing = fitted
    path = tmp_path / "imputer.safetensors"
    skvae.save(imputer, path)
    loaded = skvae.load(path)
    assert isinstance(loaded, VAEImputer)
    np.testing.assert_array_equal(loaded.transform(X_missing), imputer.transform(X_missing))


def test_training_on_the_importance_weighted_bound(cancer):
    X_missing, _ = _mcar(cancer[:200], 0.3)
    settings = {**SMALL, "max_iter": 5}
    one = VAEImputer(n_train_importance_samples=1, **settings).fit(X_missing)
    many = VAEImputer(n_train_importance_samples=5, **settings).fit(X_missing)
    filled = many.transform(X_missing)
    assert not np.isnan(filled).any()
    # The bound with K = 5 is at least the ELBO, so the training loss differs and is lower
    # from the same start (same seed, same first weights).
    assert many.loss_curve_[0] < one.loss_curve_[0]
    with pytest.raises(ValueError, match="n_train_importance_samples"):
        VAEImputer(n_train_importance_samples=0).fit(X_missing)


# ------------------------------------------------- missing not at random
def _missing_above_the_mean(seed=0, n_rows=500, n_features=12):
    """Low-rank standardised rows, and the same with every value above 0 missing in 6 columns."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n_rows, 3) @ rng.randn(3, n_features) + 0.3 * rng.randn(n_rows, n_features)
    X = (X - X.mean(0)) / X.std(0)
    mask = np.zeros(X.shape, dtype=bool)
    mask[:, :6] = X[:, :6] > 0
    return X, np.where(mask, np.nan, X), mask


SELF_MASKING = dict(
    missing_mechanism="self_masking",
    activation="tanh",
    latent_dim=8,
    hidden_layer_sizes=(128, 64),
    max_iter=100,
    n_train_importance_samples=5,
    n_threads=1,
    random_state=0,
)


def test_the_self_masking_model_imputes_values_missing_above_their_mean():
    """The ignorable model has never seen the high values and fills in too low."""
    X, X_missing, mask = _missing_above_the_mean()
    self_masking = VAEImputer(**trained(**SELF_MASKING)).fit(X_missing)
    ignorable = VAEImputer(**{**SELF_MASKING, "missing_mechanism": "ignorable"}).fit(X_missing)
    ours = _mse(self_masking.transform(X_missing), X, mask)
    mar = _mse(ignorable.transform(X_missing), X, mask)
    mean = _mse(SimpleImputer().fit_transform(X_missing), X, mask)
    # Measured: 0.43 against 1.25 (the ignorable model, same networks) and 2.89 (the mean);
    # an untrained model imputes about as the mean does (2.91).
    assert ours < 0.5 * mar
    assert ours < 0.25 * mean
    # It learnt that large values go missing, in the masked columns only (measured: slopes
    # 0.39 to 0.43 there, below 0.005 in absolute value elsewhere).
    weight = self_masking.network_.missingness.weight.detach().numpy()
    assert (weight[:6] > 0.3).all()
    assert np.abs(weight[6:]).max() < 0.05


def test_auto_activation_is_relu_for_the_ignorable_model_and_tanh_for_the_self_masking_one():
    X, X_missing, _ = _missing_above_the_mean(n_rows=100)
    auto = VAEImputer(**SMALL).fit(X_missing)
    relu = VAEImputer(**SMALL, activation="relu").fit(X_missing)
    np.testing.assert_array_equal(auto.transform(X_missing), relu.transform(X_missing))
    settings = {**SMALL, "missing_mechanism": "self_masking"}
    auto = VAEImputer(**settings).fit(X_missing)
    tanh = VAEImputer(**settings, activation="tanh").fit(X_missing)
    np.testing.assert_array_equal(auto.transform(X_missing), tanh.transform(X_missing))
    assert auto.network_.missingness is not None and relu.network_.missingness is None


def test_the_self_masking_model_needs_gaussian_columns():
    X, X_missing, _ = _missing_above_the_mean(n_rows=60)
    frame = pd.DataFrame(X_missing[:, :3], columns=["a", "b", "c"])
    frame["colour"] = pd.Categorical(np.where(X[:, 3] > 0, "red", "blue"))
    imputer = VAEImputer(**SMALL, likelihood="auto", missing_mechanism="self_masking")
    with pytest.raises(ValueError, match="'colour' has likelihood 'categorical'"):
        imputer.fit(frame)
    assert not hasattr(imputer, "network_")


def test_self_masking_draws_saving_and_pickling(tmp_path):
    import pickle

    _, X_missing, _ = _missing_above_the_mean(n_rows=120)
    imputer = VAEImputer(**{**SMALL, "missing_mechanism": "self_masking"}).fit(X_missing)
    filled = imputer.transform(X_missing)
    assert not np.isnan(filled).any()
    first = imputer.sample_imputations(X_missing, 2, random_state=0)
    again = imputer.sample_imputations(X_missing, 2, random_state=0)
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], first[1])
    np.testing.assert_array_equal(first[0][~np.isnan(X_missing)], X_missing[~np.isnan(X_missing)])
    path = tmp_path / "imputer.safetensors"
    skvae.save(imputer, path)
    np.testing.assert_array_equal(skvae.load(path).transform(X_missing), filled)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(imputer)).transform(X_missing), filled)


def test_self_masking_scores_are_the_bound_on_the_observed_values_alone():
    """score_samples leaves the mask model out, so that it compares across mechanisms."""
    _, X_missing, _ = _missing_above_the_mean(n_rows=80)
    imputer = VAEImputer(**{**SMALL, "missing_mechanism": "self_masking"}).fit(X_missing)
    before = imputer.score_samples(X_missing)
    with torch.no_grad():
        imputer.network_.missingness.weight.add_(5.0)
        imputer.network_.missingness.bias.add_(-3.0)
    np.testing.assert_array_equal(imputer.score_samples(X_missing), before)
    assert imputer.score(X_missing) == pytest.approx(before.mean())
