"""Real tables: string, category, bool, count and amount columns, in and out.

The interface tests pass on any model (dtypes, categories, errors, round
trips); ``test_a_mixed_table_is_learnt_column_by_column`` is semantic: it
must fail on an untrained model (``scripts/check_untrained.py``).
"""

import json
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

import skvae
from skvae import VAEOutlierDetector, VAETransformer
from skvae import _tables
from tests._untrained import trained, untrained

ESTIMATORS = [VAETransformer, VAEOutlierDetector]
SMALL = {"hidden_layer_sizes": (8,), "latent_dim": 2, "max_iter": 3, "random_state": 0}


def _table(n_rows=120, seed=0):
    """A customer table of every kind of column the tables support."""
    rng = np.random.RandomState(seed)
    return pd.DataFrame(
        {
            "colour": rng.choice(["blue", "green", "red"], n_rows),  # str dtype
            "size": pd.Categorical(
                rng.choice(["S", "M", "L"], n_rows), categories=["S", "M", "L", "XL"],
                ordered=True,
            ),
            "member": rng.rand(n_rows) < 0.3,
            "visits": rng.poisson(1.0, n_rows),
            "height": rng.normal(170.0, 10.0, n_rows),
            "spend": np.exp(rng.normal(3.0, 1.0, n_rows)).astype(np.float32),
        }
    )


def _fit(cls=VAETransformer, table=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(**{**SMALL, "likelihood": "auto", **params}).fit(
            _table() if table is None else table
        )


def _likelihoods(estimator):
    return dict(zip(estimator.feature_names_in_, estimator._columns.likelihood_names()))


# ------------------------------------------------------------ which likelihood
def test_auto_follows_the_dtypes():
    vae = _fit()
    assert _likelihoods(vae) == {
        "colour": "categorical",
        "size": "categorical",
        "member": "bernoulli",
        "visits": "negative_binomial",
        "height": "gaussian",
        "spend": "gaussian",
    }
    assert vae.n_features_in_ == 6
    assert list(vae.feature_names_in_) == list(_table().columns)
    # Integers with negative values are not counts.
    signed = pd.DataFrame({"delta": np.arange(-5, 5), "x": np.linspace(0.0, 1.0, 10)})
    assert _likelihoods(_fit(table=signed))["delta"] == "gaussian"


def test_auto_gives_underdispersed_integers_a_gaussian():
    # A negative binomial's variance is at least its mean: years (mean 2008,
    # variance 0.67) and numbers of cylinders are not such counts.
    rng = np.random.RandomState(0)
    table = pd.DataFrame({
        "year": rng.choice([2007, 2008, 2009], 300),
        "cylinders": rng.choice([4, 6, 8], 300, p=[0.5, 0.2, 0.3]),
        "visits": rng.poisson(1.0, 300),
        "claims": rng.negative_binomial(2, 0.2, 300),
        "x": rng.normal(size=300),
    })
    assert _likelihoods(_fit(table=table)) == {
        "year": "gaussian", "cylinders": "gaussian", "visits": "negative_binomial",
        "claims": "negative_binomial", "x": "gaussian",
    }
    # Poisson columns are taken for underdispersed about once in a thousand
    # (the test's level), whatever their mean and length.
    flagged = [
        _tables._underdispersed(rng.poisson(mean, n))
        for mean in (0.3, 1.0, 5.0, 50.0) for n in (20, 120, 1000) for _ in range(50)
    ]
    assert sum(flagged) <= 3  # of 600; expected 0.6
    # Binary, constant and empty integer columns.
    assert _tables._underdispersed(np.array([0, 1] * 50))
    assert not _tables._underdispersed(np.zeros(10))
    assert not _tables._underdispersed(np.array([3.0, np.nan]))


def test_a_dict_names_columns_and_the_rest_follow_auto():
    vae = _fit(likelihood={"visits": "poisson", 5: "lognormal", "colour": "categorical"})
    likelihoods = _likelihoods(vae)
    assert likelihoods["visits"] == "poisson" and likelihoods["spend"] == "lognormal"
    assert likelihoods["member"] == "bernoulli" and likelihoods["height"] == "gaussian"


@pytest.mark.parametrize(
    "likelihood, match",
    [
        ({"age": "gaussian"}, r"names column 'age', but its columns are \['colour'"),
        ({9: "gaussian"}, "names column 9, but X has 6 columns"),
        ({"height": "student"}, r"likelihood\['height'\] = 'student' is not a likelihood"),
        ({"height": "gaussian", 4: "lognormal"}, "names column 'height' twice"),
        ({1.5: "gaussian"}, "keys of likelihood must be column names or positions"),
    ],
)
def test_a_bad_dict_is_refused_clearly(likelihood, match):
    with pytest.raises(ValueError, match=match):
        _fit(likelihood=likelihood)


def test_a_column_name_needs_a_table():
    with pytest.raises(ValueError, match="X has no column names"):
        VAETransformer(likelihood={"a": "poisson"}, **SMALL).fit(np.ones((10, 2)))


def test_auto_and_numpy_input_give_todays_model_bit_for_bit():
    # "auto" on floats is one Gaussian block over every column: today's model.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 4))
    frame = pd.DataFrame(X, columns=list("abcd"))
    default = VAETransformer(**SMALL).fit(X)
    for data in (X, frame):
        auto = VAETransformer(**{**SMALL, "likelihood": "auto"}).fit(data)
        np.testing.assert_array_equal(auto.transform(data), default.transform(X))
        np.testing.assert_array_equal(auto.score_samples(data), default.score_samples(X))
    # A numeric frame fitted by default still decodes to numbers of its dtype.
    assert isinstance(default.sample(2, random_state=0), np.ndarray)


# ------------------------------------------------------------ errors name the column
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_a_string_column_under_a_numeric_likelihood_names_the_column(cls):
    table = _table()
    with pytest.raises(ValueError, match=r"column 'colour' holds string values .*'blue'"):
        cls(**SMALL).fit(table)
    with pytest.raises(ValueError, match=r"column 'size' holds category values"):
        cls(**SMALL).fit(table.drop(columns="colour"))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_an_unseen_category_names_the_column_and_the_category(cls):
    model = _fit(cls)
    rows = _table(5, seed=1)
    rows.loc[3, "colour"] = "purple"
    with pytest.raises(ValueError, match=r"column 'colour' has category 'purple' \(row 3\)"):
        model.score_samples(rows)
    if cls is VAETransformer:
        with pytest.raises(ValueError, match="not seen in fit"):
            model.transform(rows)
    with pytest.raises(ValueError, match="handle_unknown='missing' treats such values"):
        model.score_samples(rows)


def test_handle_unknown_missing_scores_an_unseen_category_as_a_missing_value():
    model = _fit(VAETransformer, handle_unknown="missing")
    unseen, missing = _table(5, seed=1), _table(5, seed=1)
    unseen.loc[3, "colour"] = "purple"
    missing.loc[3, "colour"] = None
    scores = model.score_samples(unseen)
    assert np.isfinite(scores).all()
    np.testing.assert_array_equal(scores, model.score_samples(missing))
    np.testing.assert_array_equal(model.transform(unseen), model.transform(missing))
    # the other rows are as they were; the row with the hole scores differently
    complete = model.score_samples(_table(5, seed=1))
    np.testing.assert_array_equal(np.delete(scores, 3), np.delete(complete, 3))
    assert scores[3] != complete[3]
    with pytest.raises(ValueError, match="not seen in fit"):  # the default
        _fit(VAETransformer).score_samples(unseen)


@pytest.mark.parametrize(
    "column, value, match",
    [
        ("visits", -1, r"needs counts .* column 'visits' has X\[4, 3\] = -1.0"),
        ("visits", 2.5, r"column 'visits' has X\[4, 3\] = 2.5"),
        ("spend", 0.0, r"'lognormal' needs positive values, but column 'spend'"),
        ("member", 3.0, r"'bernoulli' needs every value of column 'member' in \[0, 1\]"),
    ],
)
def test_values_outside_a_columns_support_name_it(column, value, match):
    table = _table()
    table[column] = table[column].astype(np.float64)
    table.loc[4, column] = value
    likelihood = {"visits": "poisson", "spend": "lognormal", "member": "bernoulli"}
    with pytest.raises(ValueError, match=match):
        VAETransformer(likelihood=likelihood, **SMALL).fit(table)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_missing_values_in_every_kind_of_column_are_modelled(cls):
    table = _table()
    table["visits"] = table["visits"].astype("Int64")
    table.loc[7, "visits"] = pd.NA  # a nullable count
    table.loc[[1, 5], "colour"] = None  # a string category
    table.loc[2, "size"] = np.nan  # a pandas category
    table.loc[3, "spend"] = np.nan  # log-normal
    model = _fit(cls, table=table, likelihood={"spend": "lognormal"})
    scores = model.score_samples(table)
    assert np.isfinite(scores).all()
    complete = model.score_samples(_table())
    holes = [1, 2, 3, 5, 7]
    np.testing.assert_array_equal(np.delete(scores, holes), np.delete(complete, holes))
    # the fitted statistics leave the holes out
    assert all(np.isfinite(block.to_json().get("log_offset", [0.0])).all()
               for block in model._columns.blocks)


# ------------------------------------------------------------ dtypes out
def _assert_like_training(frame, table):
    assert list(frame.columns) == list(table.columns)
    assert frame.dtypes.tolist() == table.dtypes.tolist()
    for column in table.columns:
        if isinstance(table[column].dtype, pd.CategoricalDtype):
            assert frame[column].cat.categories.tolist() == table[column].cat.categories.tolist()
            assert frame[column].cat.ordered == table[column].cat.ordered
    assert set(frame["colour"]) <= set(table["colour"])
    assert (frame["visits"] >= 0).all()


def test_sample_and_inverse_transform_give_the_training_columns_and_dtypes():
    table = _table()
    table["nullable"] = pd.array(np.arange(len(table)) % 4, dtype="Int64")
    table["flag"] = pd.array(np.arange(len(table)) % 3 == 0, dtype="boolean")
    vae = _fit(table=table)
    drawn = vae.sample(50, random_state=0)
    _assert_like_training(drawn, table)
    assert drawn.index.tolist() == list(range(50))
    assert vae.sample(50, random_state=0).equals(drawn)  # seeded
    means = vae.sample(5, random_state=0, return_mean=True)
    _assert_like_training(means, table)
    rows = table.iloc[10:15]
    decoded = vae.inverse_transform(pd.DataFrame(vae.transform(rows), index=rows.index))
    _assert_like_training(decoded, table)
    assert decoded.index.tolist() == rows.index.tolist()
    path = vae.interpolate(table.iloc[[0]], table.iloc[[1]], n_steps=3)
    _assert_like_training(path, table)


def test_the_issues_table_samples_integers_booleans_and_normals():
    # One boolean, one Poisson(1) count and one normal column: no negative
    # or fractional counts, no booleans outside {False, True}.
    rng = np.random.RandomState(0)
    table = pd.DataFrame(
        {"flag": rng.rand(300) < 0.4, "count": rng.poisson(1.0, 300), "x": rng.normal(size=300)}
    )
    for likelihood in ("auto", {"count": "poisson"}):
        drawn = _fit(table=table, likelihood=likelihood).sample(1000, random_state=0)
        assert drawn.dtypes.tolist() == [np.dtype(bool), np.dtype(np.int64), np.dtype(float)]
        assert drawn["count"].min() >= 0


def test_clip_to_training_range_keeps_every_column_within_it():
    table = _table()
    vae = _fit(table=table, likelihood={"height": "gaussian"})
    drawn = vae.sample(2000, random_state=0, clip_to_training_range=True)
    for column in ("visits", "height", "spend"):
        assert drawn[column].min() >= table[column].min()
        assert drawn[column].max() <= table[column].max()
    unclipped = vae.sample(2000, random_state=0)
    assert unclipped["height"].max() > table["height"].max()  # the Gaussian's tails


def test_an_array_model_gives_its_categories_back():
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.choice([3.0, 7.0, 9.0], 100), rng.normal(size=100)])
    vae = VAETransformer(likelihood={0: "categorical"}, **SMALL).fit(X)
    drawn = vae.sample(200, random_state=0)
    assert isinstance(drawn, np.ndarray) and drawn.dtype == np.float64
    assert set(drawn[:, 0]) <= {3.0, 7.0, 9.0}
    decoded = vae.inverse_transform(vae.transform(X[:5]))
    assert set(decoded[:, 0]) <= {3.0, 7.0, 9.0}
    with pytest.raises(ValueError, match=r"column 0 has category 5.0 \(row 0\)"):
        vae.transform(np.array([[5.0, 0.0]]))


def test_numeric_columns_modelled_as_categorical_keep_their_values_and_dtypes():
    rng = np.random.RandomState(0)
    table = pd.DataFrame({
        "price": rng.choice([1.99, 2.49, 2.99], 150),
        "flag": rng.randint(0, 2, 150),
        "amount": rng.normal(size=150),
    })
    vae = VAETransformer(likelihood={"price": "categorical", "flag": "categorical"}, **SMALL)
    drawn = vae.fit(table).sample(300, random_state=0)
    assert drawn.dtypes.to_dict() == table.dtypes.to_dict()
    assert set(drawn["price"]) <= {1.99, 2.49, 2.99} and set(drawn["flag"]) <= {0, 1}
    with pytest.raises(ValueError, match=r"column 'price' has category 3.49"):
        vae.transform(pd.DataFrame({"price": [3.49], "flag": [0], "amount": [0.0]}))


def test_polars_tables_come_back_as_polars():
    pl = pytest.importorskip("polars")
    table = _table()
    frame = pl.DataFrame(
        {
            "colour": table["colour"].tolist(),
            "size": pl.Series(table["size"].astype(str).tolist(), dtype=pl.Enum(["S", "M", "L"])),
            "member": table["member"].tolist(),
            "visits": table["visits"].tolist(),
            "height": table["height"].tolist(),
        }
    )
    vae = _fit(table=frame)
    # scikit-learn records a polars frame's column names from 1.7 on; skvae
    # does as scikit-learn does (1.6.1, the oldest supported, records none).
    from sklearn.preprocessing import StandardScaler

    if hasattr(StandardScaler().fit(frame.select("height")), "feature_names_in_"):
        assert list(vae.feature_names_in_) == frame.columns
    drawn = vae.sample(20, random_state=0)
    assert isinstance(drawn, pl.DataFrame)
    assert drawn.schema == frame.schema
    assert vae.transform(frame).shape == (len(frame), 2)


def test_set_output_and_score_features_keep_the_frame():
    table = _table()
    vae = _fit(table=table).set_output(transform="pandas")
    codes = vae.transform(table.iloc[5:9])
    assert list(codes.index) == [5, 6, 7, 8]
    detector = _fit(VAEOutlierDetector, table=table)
    contributions = detector.score_features(table.iloc[5:9])
    assert isinstance(contributions, pd.DataFrame)
    assert list(contributions.columns) == list(table.columns)
    assert list(contributions.index) == [5, 6, 7, 8]
    np.testing.assert_allclose(
        contributions.to_numpy().sum(1),
        detector.feature_offsets_.sum() - detector.score_samples(table.iloc[5:9]),
        rtol=1e-5,
    )


# ------------------------------------------------------------ the detector
def test_the_detectors_clip_bounds_keep_categories_and_counts_whole():
    table = _table()
    detector = _fit(VAEOutlierDetector, table=table)
    bounds = dict(zip(table.columns, zip(detector.clip_low_, detector.clip_high_)))
    assert bounds["colour"] == (0.0, 2.0)  # codes 0 .. K - 1, never clipped
    assert bounds["size"] == (0.0, 3.0)  # "XL" is a category, unseen in training
    low, high = bounds["visits"]
    assert low == 0 and high == np.floor(high) and high > table["visits"].max()
    assert bounds["member"] == (0.0, 1.0)
    # A row of the unseen category "XL" is scored as itself, not as "L".
    rows = table.iloc[:3].copy()
    as_xl = rows.assign(size=pd.Categorical(["XL"] * 3, categories=rows["size"].cat.categories))
    assert not np.array_equal(detector.score_samples(as_xl), detector.score_samples(rows))
    assert set(detector.predict(table)) <= {-1, 1}


# ------------------------------------------------------------ round trips
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_save_load_and_pickle_keep_the_table(cls, tmp_path):
    table = _table()
    model = _fit(cls, table=table, likelihood={"visits": "poisson", "spend": "lognormal"})
    skvae.save(model, tmp_path / "m.safetensors")
    loaded = skvae.load(tmp_path / "m.safetensors")
    unpickled = pickle.loads(pickle.dumps(model))
    assert loaded.get_params() == model.get_params()  # the dict likelihood
    for copy in (loaded, unpickled):
        np.testing.assert_array_equal(copy.score_samples(table), model.score_samples(table))
        assert copy._columns.to_json() == model._columns.to_json()
        if cls is VAETransformer:
            drawn = copy.sample(30, random_state=0)
            assert drawn.equals(model.sample(30, random_state=0))
            _assert_like_training(drawn, table)
    document = json.loads(json.dumps(model._columns.to_json()))
    assert document["names"] == list(table.columns)
    categorical = [b for b in document["blocks"] if b["likelihood"] == "categorical"][0]
    assert categorical["categories"] == [["blue", "green", "red"], ["S", "M", "L", "XL"]]


def test_partial_fit_keeps_the_first_categories_and_refuses_new_ones():
    table = _table(200)
    vae = VAETransformer(likelihood="auto", **SMALL)
    for rows in np.array_split(np.arange(150), 3):
        vae.partial_fit(table.iloc[rows])
    assert vae.n_iter_ == 3
    assert vae._columns.maximum[4] == table["height"].iloc[:150].max()  # the range widens
    later = table.iloc[150:].copy()
    later.loc[later.index[0], "colour"] = "purple"
    with pytest.raises(ValueError, match="'purple'"):
        vae.partial_fit(later)
    assert vae.n_iter_ == 3


# ------------------------------------------------------------ what is learnt
def _dependent_table(n_rows, seed):
    """A colour, a count and a flag that each depend on a continuous x."""
    rng = np.random.RandomState(seed)
    x = rng.normal(size=n_rows)
    colour = np.where(
        x + 0.3 * rng.normal(size=n_rows) > 0.5,
        "red",
        np.where(x + 0.3 * rng.normal(size=n_rows) < -0.5, "green", "blue"),
    )
    return pd.DataFrame(
        {
            "x": x,
            "colour": pd.Categorical(colour, categories=["blue", "green", "red"]),
            "visits": rng.poisson(np.exp(0.8 * x)),
            "member": rng.rand(n_rows) < 1.0 / (1.0 + np.exp(-2.0 * x)),
        }
    )


def test_a_mixed_table_is_learnt_column_by_column():
    train, test = _dependent_table(2000, 0), _dependent_table(1000, 1)
    params = dict(likelihood="auto", hidden_layer_sizes=(32,), max_iter=200, random_state=0)
    vae = VAETransformer(**trained(**params)).fit(train)
    reference = VAETransformer(**untrained(**params)).fit(train)
    # Held out, the trained model beats the untrained one by more than a nat
    # per row (measured: -3.66 against -5.18 nats).
    assert vae.score(test) > reference.score(test) + 1.0
    drawn = vae.sample(4000, random_state=0)
    # The colour frequencies come back (within 0.05; measured 0.02 at most) ...
    frequencies = drawn["colour"].value_counts(normalize=True).sort_index()
    expected = train["colour"].value_counts(normalize=True).sort_index()
    np.testing.assert_allclose(frequencies.to_numpy(), expected.to_numpy(), atol=0.05)
    # ... and so does their dependence on x: red where x > 1 (measured 0.95;
    # 0.32 untrained), and more visits where x is larger (correlation
    # measured 0.58, against 0.61 in the training rows and 0.0 untrained).
    assert (drawn.loc[drawn["x"] > 1, "colour"] == "red").mean() > 0.8
    assert np.corrcoef(drawn["x"], drawn["visits"])[0, 1] > 0.4


def test_a_table_with_holes_in_its_discrete_columns_is_still_learnt():
    train, test = _dependent_table(2000, 0), _dependent_table(1000, 1)
    rng = np.random.RandomState(0)
    holes = train.copy()
    holes.loc[rng.uniform(size=len(train)) < 0.3, "colour"] = np.nan
    holes["visits"] = holes["visits"].astype(np.float64)
    holes.loc[rng.uniform(size=len(train)) < 0.3, "visits"] = np.nan
    params = dict(
        likelihood={"visits": "negative_binomial"}, hidden_layer_sizes=(32,), max_iter=200,
        random_state=0,
    )
    vae = VAETransformer(**trained(**params)).fit(holes)
    reference = VAETransformer(**untrained(**params)).fit(holes)
    assert vae._columns.encode_mask  # the encoder reads the mask
    test["visits"] = test["visits"].astype(np.float64)
    # held out on complete rows, more than a nat per row above the untrained model
    # (measured: -3.68 against -5.06 nats)
    assert vae.score(test) > reference.score(test) + 1.0
    drawn = vae.sample(4000, random_state=0)
    assert drawn["colour"].notna().all()  # samples have no holes
    # the colour's dependence on x is learnt from the observed entries (measured: red in
    # 0.96 of the rows where x > 1, 0.21 untrained; visits correlate with x at 0.60, -0.03
    # untrained)
    assert (drawn.loc[drawn["x"] > 1, "colour"] == "red").mean() > 0.8
    assert np.corrcoef(drawn["x"], drawn["visits"])[0, 1] > 0.4
