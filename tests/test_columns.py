"""The numpy-side column description: support, clipping, display range, statistics, JSON."""

import json

import numpy as np
import pytest
import torch

from skvae._columns import (
    MAX_COUNT,
    BernoulliColumns,
    CategoricalColumns,
    ColumnDescription,
    GaussianColumns,
    LogNormalColumns,
    NegativeBinomialColumns,
    column_mean_std,
)
from skvae._likelihoods import (
    BernoulliLikelihood,
    CategoricalLikelihood,
    GaussianLikelihood,
    NegativeBinomialLikelihood,
)


def _mixed():
    """Columns 0 and 2 Gaussian, 1 Bernoulli."""
    return ColumnDescription([GaussianColumns([0, 2]), BernoulliColumns([1])], 3)


def test_support_errors_name_the_column_of_the_data():
    X = np.array([[5.0, 0.0, -3.0], [7.0, 1.5, 2.0]])
    with pytest.raises(ValueError, match=r"X\[1, 1\] = 1.5 is outside it"):
        _mixed().check_support(X)
    _mixed().check_support(np.array([[5.0, 1.0, -3.0]]))  # Gaussian columns take anything


def test_clip_bounds_and_display_range_follow_each_block():
    low, high = _mixed().clip_bounds(np.array([-9.0, -0.5, -9.0]), np.array([9.0, 1.5, 9.0]))
    np.testing.assert_array_equal(low, [-9.0, 0.0, -9.0])
    np.testing.assert_array_equal(high, [9.0, 1.0, 9.0])
    assert _mixed().display_range() is None  # no range shared by every column
    assert ColumnDescription.from_likelihood("bernoulli", 2).display_range() == (0.0, 1.0)
    assert ColumnDescription.from_likelihood("gaussian", 2).display_range() is None


def test_gaussian_statistics_are_fitted_and_reach_the_likelihood():
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.normal(3, 2, 500), rng.binomial(1, 0.3, 500), np.full(500, 7.0)])
    columns = _mixed().fit(X)
    shift, scale = columns.location_scale()
    np.testing.assert_allclose(shift[[0, 2]], [X[:, 0].mean(), 7.0], rtol=1e-6)
    # A constant column is shifted only, in units of 1.
    np.testing.assert_allclose(scale[[0, 2]], [X[:, 0].std(), 1.0], rtol=1e-6)
    assert (shift[1], scale[1]) == (0.0, 1.0)  # the Bernoulli column is used as it is
    likelihood = columns.build_likelihood(1e-3)
    likelihood.reset_parameters(torch.Generator().manual_seed(0))
    columns.initialise(likelihood)
    gaussian, bernoulli = likelihood.parts
    assert isinstance(gaussian, GaussianLikelihood) and isinstance(bernoulli, BernoulliLikelihood)
    assert torch.equal(gaussian.shift.double(), torch.from_numpy(shift[[0, 2]]))
    assert torch.equal(gaussian.scale.double(), torch.from_numpy(scale[[0, 2]]))


def test_representable_range_is_1e12_standard_deviations():
    X = np.array([[0.0, 0.0], [2.0, 4.0]])
    columns = ColumnDescription.from_likelihood("gaussian", 2).fit(X)
    columns.check_representable(np.array([[1e11, 1e11]]))
    message = r"X\[0, 1\] = 3000000000000.0 .*accepts values in \[-2e\+12, 2e\+12\]"
    with pytest.raises(ValueError, match=message):
        columns.check_representable(np.array([[0.0, 3e12]]))


def test_the_description_round_trips_through_json():
    rng = np.random.RandomState(1)
    X = np.column_stack([rng.normal(size=9), rng.binomial(1, 0.5, 9), rng.normal(size=9)])
    columns = _mixed().fit(X)
    again = ColumnDescription.from_json(json.loads(json.dumps(columns.to_json())))
    assert [type(b) for b in again.blocks] == [GaussianColumns, BernoulliColumns]
    assert [b.columns for b in again.blocks] == [[0, 2], [1]]
    for got, expected in zip(again.location_scale(), columns.location_scale()):
        np.testing.assert_array_equal(got, expected)


def test_column_mean_std_is_float64_whatever_the_input():
    X = np.random.RandomState(0).normal(size=(50, 3)).astype(np.float32)
    mean, std = column_mean_std(X)
    assert mean.dtype == std.dtype == np.float64
    np.testing.assert_allclose(std, X.astype(np.float64).std(0), rtol=1e-12)


def test_hints_suggest_the_likelihood_that_fits_the_values():
    rng = np.random.RandomState(0)
    binary = (rng.uniform(size=(50, 3)) < 0.3).astype(float)
    assert "likelihood='bernoulli'" in " ".join(
        ColumnDescription.from_likelihood("gaussian", 3).hints(binary)
    )
    proportions = rng.uniform(size=(50, 3))
    assert "likelihood='gaussian'" in " ".join(
        ColumnDescription.from_likelihood("bernoulli", 3).hints(proportions)
    )
    # Grey-level images (mostly 0 or 1) are a usual Bernoulli input: no hint.
    grey = np.where(rng.uniform(size=(50, 3)) < 0.7, 0.0, rng.uniform(size=(50, 3)))
    assert ColumnDescription.from_likelihood("bernoulli", 3).hints(grey) == []
    assert ColumnDescription.from_likelihood("gaussian", 3).hints(proportions) == []


def test_fit_gives_the_hint_once_pointing_at_the_callers_line():
    import warnings

    from skvae import VAETransformer

    binary = (np.random.RandomState(0).uniform(size=(200, 4)) < 0.3).astype(float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vae = VAETransformer(max_iter=3, warm_start=True, random_state=0).fit(binary)
        vae.fit(binary)  # continuing the same model: no second hint
    hints = [w for w in caught if "only the values 0 and 1" in str(w.message)]
    assert len(hints) == 1 and hints[0].filename == __file__


# ------------------------------------------------------------ tables' blocks
def _table_description():
    """Columns: 0 counts, 1 categorical (3 categories), 2 lognormal, 3 Gaussian."""
    blocks = [
        GaussianColumns([3]),
        LogNormalColumns([2]),
        NegativeBinomialColumns([0]),
        CategoricalColumns([1], [["blue", "green", "red"]]),
    ]
    return ColumnDescription(blocks, 4, names=["visits", "colour", "spend", "height"])


def _table_rows(n=400, seed=0):
    rng = np.random.RandomState(seed)
    return np.column_stack([
        rng.poisson(2.0, n), rng.choice([0.0, 2.0], n, p=[0.7, 0.3]),
        np.exp(rng.normal(1.0, 0.5, n)), rng.normal(5.0, 2.0, n),
    ]).astype(float)


@pytest.mark.parametrize(
    "column, value, match",
    [
        (0, -1.0, r"'negative_binomial' needs counts .* column 'visits' has X\[2, 0\] = -1.0"),
        (0, 0.5, r"column 'visits' has X\[2, 0\] = 0.5"),
        (0, 2 * MAX_COUNT, "integers from 0 to 1e\\+15"),
        (1, 3.0, r"column 'colour' is categorical: its values are category codes 0 to 2"),
        (1, 1.5, r"X\[2, 1\] = 1.5"),
        (2, 0.0, r"'lognormal' needs positive values, but column 'spend' has X\[2, 2\] = 0.0"),
    ],
)
def test_the_tables_blocks_name_the_column_outside_its_support(column, value, match):
    X = _table_rows(5)
    X[2, column] = value
    with pytest.raises(ValueError, match=match):
        _table_description().check_support(X)
    _table_description().check_support(_table_rows(5))


def test_the_tables_blocks_fit_their_statistics_and_reach_the_likelihood():
    X = _table_rows()
    columns = _table_description().fit(X)
    counts, categorical = columns.blocks[2], columns.blocks[3]
    np.testing.assert_allclose(counts.shift, [np.log1p(X[:, 0]).mean()], rtol=1e-6)
    np.testing.assert_allclose(counts.log_offset, [np.log(X[:, 0].mean())], rtol=1e-6)
    lognormal = columns.blocks[1]
    np.testing.assert_allclose(lognormal.shift, [np.log(X[:, 2]).mean()], rtol=1e-6)
    # Smoothed log-frequencies: "green" (code 1) never occurs but keeps a finite logit.
    frequency = np.exp(categorical.log_frequency)
    np.testing.assert_allclose(frequency.sum(), 1.0, rtol=1e-6)
    assert 0 < frequency[1] < 0.01 and abs(frequency[0] - (X[:, 1] == 0).mean()) < 0.01
    likelihood = columns.build_likelihood(1e-3)
    likelihood.reset_parameters(torch.Generator().manual_seed(0))
    columns.initialise(likelihood)
    assert (likelihood.n_columns, likelihood.n_inputs, likelihood.n_outputs) == (4, 6, 7)
    parts = {type(p): p for p in likelihood.parts}
    assert torch.equal(
        parts[NegativeBinomialLikelihood].log_offset.double(), torch.from_numpy(counts.log_offset)
    )
    assert torch.equal(
        parts[CategoricalLikelihood].log_frequency.double(),
        torch.from_numpy(categorical.log_frequency),
    )


def test_winsor_bounds_keep_each_column_in_its_support():
    X = _table_rows()
    low, high = _table_description().winsor_bounds(X, 1.0)
    assert low[0] == 0.0 and high[0] == np.floor(X[:, 0].max() + X[:, 0].std())  # whole counts
    assert (low[1], high[1]) == (0.0, 2.0)  # every code, never another
    logs = np.log(X[:, 2])  # the lognormal column is widened on the log scale
    np.testing.assert_allclose([low[2], high[2]], np.exp([logs.min() - logs.std(),
                                                          logs.max() + logs.std()]))
    np.testing.assert_allclose(low[3], X[:, 3].min() - X[:, 3].std())


def test_representable_bounds_of_counts_categories_and_amounts():
    columns = _table_description().fit(_table_rows())
    low, high = columns.representable_bounds()
    assert (low[0], high[0]) == (0.0, MAX_COUNT)
    assert (low[1], high[1]) == (0.0, 2.0)
    assert 0 < low[2] < 1e-37
    with pytest.raises(ValueError, match=r"column 0 \('visits'\) accepts values in \[0, 1e\+15\]"):
        columns.check_representable(np.array([[1e16, 0.0, 1.0, 0.0]]))


def test_the_tables_description_round_trips_through_json():
    X = _table_rows()
    columns = _table_description().fit(X).fit_range(X)
    columns.library, columns.dtypes = "pandas", [{"kind": "int", "dtype": "int64"}] * 4
    again = ColumnDescription.from_json(json.loads(json.dumps(columns.to_json())))
    assert again.to_json() == columns.to_json()
    assert again.names == ["visits", "colour", "spend", "height"]
    assert again.blocks[3].categories == [["blue", "green", "red"]]
    np.testing.assert_array_equal(again.minimum, X.min(0))
    assert again.likelihood_names() == [
        "negative_binomial", "categorical", "lognormal", "gaussian"
    ]


def test_categories_that_json_cannot_hold_are_refused_by_name():
    block = CategoricalColumns([0], [[np.datetime64("2024-01-01")]])
    with pytest.raises(TypeError, match="Cannot save column 0's category"):
        block.to_json()


def test_an_old_pickled_description_gets_no_table_facts():
    columns = ColumnDescription.from_likelihood("gaussian", 2)
    state = {"blocks": columns.blocks, "n_columns": 2}  # as pickled before tables
    old = ColumnDescription.__new__(ColumnDescription)
    old.__setstate__(state)
    assert old.names is None and old.library is None and old.minimum is None
