"""The numpy-side column description: support, clipping, display range, statistics, JSON."""

import json

import numpy as np
import pytest
import torch

from skvae._columns import (
    BernoulliColumns,
    ColumnDescription,
    GaussianColumns,
    column_mean_std,
)
from skvae._likelihoods import BernoulliLikelihood, GaussianLikelihood


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
