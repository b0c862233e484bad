"""Missing values (NaN) in every estimator: the masked objective, the network, the edge cases.

The maths is checked against closed forms for a linear Gaussian VAE: the
masked ELBO is the ELBO of the model restricted to the observed columns, and
the masked importance-weighted bound approaches the exact marginal density of
the observed entries. The rest checks the interface: NaN is a missing value
everywhere, inf stays an error, a model fitted without missing values is the
network it always was, and rows or columns with nothing observed behave as
documented.
"""

import json
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy import stats

import skvae
from skvae import VAEImputer, VAEOutlierDetector, VAETransformer
from skvae._batch import Batch
from skvae._columns import ColumnDescription, column_mean_std
from skvae._objective import elbo, elbo_per_feature, importance_weighted_bound

from _linear_vae import LATENT_DIM, N_FEATURES
from _linear_vae import linear_vae as _linear_vae

SMALL = {"hidden_layer_sizes": (8,), "latent_dim": 2, "max_iter": 3, "random_state": 0}


# ------------------------------------------------------------ the objective
def _data_and_mask(vae, n_rows=40, seed=1):
    rng = np.random.RandomState(seed)
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n_rows, LATENT_DIM, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        x = vae.decode_sample(z, generator)
    mask = (rng.uniform(size=(n_rows, N_FEATURES)) > 0.4).astype(np.float64)
    mask[0] = 1.0  # a complete row
    mask[1] = 0.0  # a row with nothing observed
    mask[2] = 0.0
    mask[2, 3] = 1.0  # a row with one value
    return x, torch.from_numpy(mask)


def _restricted_elbo(vae, x, mean, log_var, observed):
    """Closed-form ELBO of the model restricted to the ``observed`` columns, by hand.

    The decoder keeps the rows of W and b of those columns, the likelihood
    their variances and standardisation; q(z) is the one given.
    """
    weight = vae.affine_weight().detach().numpy()[observed]  # (m, d)
    bias = vae.decoder.output.bias.detach().numpy()[observed]  # (m,)
    gaussian = vae.likelihood.parts[0]
    variance = gaussian.variance().detach().numpy()[observed]
    shift = gaussian.shift.numpy()[observed]
    scale = gaussian.scale.numpy()[observed]
    x_std = (x[observed] - shift) / scale
    q_variance = np.exp(log_var)
    squared = (x_std - weight @ mean - bias) ** 2 + (weight**2) @ q_variance
    reconstruction = np.sum(-0.5 * (squared / variance + np.log(2 * np.pi * variance)))
    reconstruction -= np.log(scale).sum()  # the Jacobian of the standardisation
    kl = 0.5 * np.sum(q_variance + mean**2 - 1.0 - log_var)
    return reconstruction - kl


def test_masked_elbo_is_the_elbo_of_the_model_restricted_to_the_observed_columns():
    vae = _linear_vae()
    x, mask = _data_and_mask(vae)
    x_with_holes = torch.where(mask == 1, x, torch.nan)
    batch = Batch(torch.where(mask == 1, x, 0.0), mask)  # finite values, as the estimators pass
    with torch.no_grad():
        masked = elbo(vae, batch, noise=None).numpy()
        mean, log_var = vae.encode(batch.values, mask)
        per_feature = elbo_per_feature(vae, batch, noise=None).numpy()
    expected = [
        _restricted_elbo(vae, row, m, v, observed)
        for row, m, v, observed in zip(
            x.numpy(), mean.numpy(), log_var.numpy(), mask.numpy().astype(bool)
        )
    ]
    assert_allclose(masked, expected, rtol=1e-10, atol=1e-12)
    assert masked[1] <= 0  # nothing observed: -KL, a bound on log 1
    # The values at missing entries are never read, whatever they are.
    with torch.no_grad():
        other = Batch(torch.where(mask == 1, x, 1e3), mask)
        assert torch.equal(elbo(vae, other, noise=None), torch.from_numpy(masked))
    assert torch.isnan(x_with_holes).any()
    # The per-feature split is 0 at missing entries and sums to the ELBO.
    assert np.all(per_feature[mask.numpy() == 0] == 0)
    observed_rows = mask.numpy().sum(1) > 0
    assert_allclose(per_feature.sum(1)[observed_rows], masked[observed_rows], rtol=1e-10)


def _exact_observed_log_likelihood(vae, x, observed):
    """log p(x_observed) of a linear Gaussian VAE: the marginal of the observed columns."""
    weight = vae.affine_weight().detach().numpy()
    gaussian = vae.likelihood.parts[0]
    covariance = weight @ weight.T + np.diag(gaussian.variance().detach().numpy())
    bias = vae.decoder.output.bias.detach().numpy()
    x_std = gaussian.transform(x).detach().numpy()
    scale = gaussian.scale.numpy()
    values = []
    for row, keep in zip(x_std, observed):
        if not keep.any():
            values.append(0.0)
            continue
        density = stats.multivariate_normal(bias[keep], covariance[np.ix_(keep, keep)])
        values.append(density.logpdf(row[keep]) - np.log(scale[keep]).sum())
    return np.array(values)


def test_masked_bounds_approach_the_exact_marginal_of_the_observed_entries():
    vae = _linear_vae(seed=4)
    with torch.no_grad():  # an encoder near enough for 20,000 draws to close the gap
        vae.encoder.mean.weight.mul_(0.2)
        vae.encoder.log_var.weight.mul_(0.2)
    x, mask = _data_and_mask(vae, n_rows=30, seed=4)
    batch = Batch(torch.where(mask == 1, x, 0.0), mask)
    exact = _exact_observed_log_likelihood(vae, x, mask.numpy().astype(bool))
    noise = torch.randn(
        20_000, 1, LATENT_DIM, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    with torch.no_grad():
        lower = elbo(vae, batch, noise=None).numpy()
        iwae = importance_weighted_bound(vae, batch, noise, chunk_size=4096).numpy()
    assert np.all(lower <= exact + 1e-10)  # the masked ELBO bounds log p(x_observed)
    gap = exact - lower
    assert gap.mean() > 1.0  # the random encoder is far from the posterior...
    assert np.all(np.abs(exact - iwae) < 0.05 * gap + 1e-3)  # ...which K = 20,000 closes
    assert abs(np.mean(exact - iwae)) < 0.01 * gap.mean()


# ----------------------------------------------------------- the network
def _with_holes(X, rate=0.2, seed=0):
    rng = np.random.RandomState(seed)
    return np.where(rng.uniform(size=X.shape) < rate, np.nan, X)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    latent = rng.normal(size=(200, 2))
    return latent @ rng.normal(size=(2, 5)) + 0.3 * rng.normal(size=(200, 5))


@pytest.mark.parametrize("cls", [VAETransformer, VAEOutlierDetector, VAEImputer])
def test_the_encoder_reads_the_mask_only_when_the_training_data_have_holes(cls, data):
    complete = cls(**SMALL).fit(data)
    assert complete.network_.encoder.body[0].in_features == 5
    assert not complete.network_.encode_mask
    assert "encode_mask" not in complete._columns.to_json()  # the document it always wrote
    holes = cls(**SMALL).fit(_with_holes(data))
    assert holes.network_.encoder.body[0].in_features == 10  # values and mask
    assert holes._columns.to_json()["encode_mask"] is True


def test_a_complete_fit_is_unchanged_by_holes_in_the_rows_it_scores(data):
    vae = VAETransformer(**SMALL).fit(data)
    X = _with_holes(data)
    complete_rows = ~np.isnan(X).any(axis=1)
    # Rows without holes score as they do on their own, to float32 rounding: a
    # batch of other rows can make the CPU's matrix product round in another
    # order (one ulp of 4 of 64 scores on an AMD EPYC), never more.
    np.testing.assert_allclose(
        vae.score_samples(X)[complete_rows], vae.score_samples(data[complete_rows]), rtol=1e-6
    )
    np.testing.assert_allclose(
        vae.transform(X)[complete_rows], vae.transform(data)[complete_rows], rtol=1e-6,
        atol=1e-7,
    )


def test_missing_values_are_left_out_of_the_column_statistics():
    X = np.array([[1.0, np.nan], [3.0, 4.0], [np.nan, 8.0], [5.0, np.nan]])
    mean, std = column_mean_std(X)
    assert_allclose(mean, [3.0, 6.0])
    assert_allclose(std, [np.std([1.0, 3.0, 5.0]), 2.0])
    columns = ColumnDescription.from_likelihood("gaussian", 2).fit(X)
    assert_allclose(columns.location_scale()[0], [3.0, 6.0])
    batch = columns.as_batch(X)
    np.testing.assert_array_equal(batch.mask, ~np.isnan(X))
    np.testing.assert_array_equal(batch.values, [[1, 6], [3, 4], [3, 8], [5, 6]])  # the means
    again = ColumnDescription.from_json(json.loads(json.dumps(columns.to_json())))
    assert again.encode_mask and again.empty_columns == []


def test_bernoulli_support_is_checked_on_the_observed_values():
    X = np.array([[np.nan, 0.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match=r"X\[1, 0\] = 2.0 is outside it"):
        VAETransformer(likelihood="bernoulli").fit(X)


def test_values_beyond_float32_are_found_behind_a_nan():
    X = np.array([[np.nan, 0.0], [1e39, 1.0], [0.0, 2.0]])
    with pytest.raises(ValueError, match="float32"):
        VAETransformer(**SMALL).fit(X)


@pytest.mark.parametrize("cls", [VAETransformer, VAEOutlierDetector, VAEImputer])
def test_inf_is_an_error_and_nothing_observed_cannot_be_fitted(cls, data):
    X = data.copy()
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        cls(**SMALL).fit(X)
    with pytest.raises(ValueError, match="Every entry of X is NaN"):
        cls(**SMALL).fit(np.full((5, 3), np.nan))


def test_fit_and_partial_fit_train_on_rows_with_holes(data):
    X = _with_holes(data, rate=0.3)
    vae = VAETransformer(**{**SMALL, "max_iter": 20}).fit(X)
    weights = [p.detach() for p in vae.network_.parameters()]
    assert all(torch.isfinite(w).all() for w in weights)  # no NaN reached a gradient
    assert np.all(np.isfinite(vae.loss_curve_))
    online = VAETransformer(**SMALL)
    for chunk in np.array_split(X, 4):
        online.partial_fit(chunk)
    assert online.n_iter_ == 4 and np.isfinite(online.score(X))


# ------------------------------------------------------- rows and columns
def test_a_row_with_nothing_observed(data):
    vae = VAETransformer(**SMALL).fit(_with_holes(data))
    empty = np.full((1, 5), np.nan)
    score = vae.score_samples(empty)[0]
    assert np.isfinite(score) and score <= 0  # -KL: a bound on log 1
    assert np.isfinite(vae.transform(empty)).all()
    assert np.isfinite(vae.log_likelihood(empty, 10)).all()


def test_a_column_with_nothing_observed_in_training_is_ignored(data):
    X = _with_holes(data)
    X[:, 2] = np.nan
    with pytest.warns(UserWarning, match=r"Features \[2\] have no observed value"):
        vae = VAETransformer(**SMALL).fit(X)
    assert vae._columns.empty_columns == [2]
    filled = data[:5].copy()
    other = filled.copy()
    other[:, 2] = 1e6  # whatever it holds, the column is left out
    np.testing.assert_array_equal(vae.score_samples(filled), vae.score_samples(other))
    np.testing.assert_array_equal(vae.transform(filled), vae.transform(other))


def test_a_model_with_holes_saves_and_loads_bit_for_bit(data, tmp_path):
    X = _with_holes(data)
    X[:, 4] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        vae = VAETransformer(**SMALL).fit(X)
    path = tmp_path / "holes.safetensors"
    skvae.save(vae, path)
    loaded = skvae.load(path)
    assert loaded._columns.encode_mask and loaded._columns.empty_columns == [4]
    np.testing.assert_array_equal(loaded.score_samples(X), vae.score_samples(X))
    np.testing.assert_array_equal(loaded.transform(X), vae.transform(X))


def test_score_per_observed_entry_ranks_rows_with_different_holes(data):
    # Hiding values raises the plain bound (fewer terms) but barely moves it
    # per observed entry; the detector ranks on that scale.
    vae = VAETransformer(**{**SMALL, "max_iter": 50}).fit(data)
    X = data[:50].copy()
    holes = X.copy()
    holes[:, :3] = np.nan
    per_entry_full = vae.score_samples(X) / 5
    per_entry_holes = vae.score_samples(holes) / 2
    assert np.mean(vae.score_samples(holes)) > np.mean(vae.score_samples(X))
    assert abs(np.mean(per_entry_holes) - np.mean(per_entry_full)) < abs(
        np.mean(vae.score_samples(holes)) - np.mean(vae.score_samples(X))
    )


# ------------------------------------------------------------ the detector
@pytest.fixture(scope="module")
def detector(data):
    return VAEOutlierDetector(**{**SMALL, "max_iter": 30}).fit(_with_holes(data))


def test_detector_scores_rows_with_holes_on_the_scale_of_complete_rows(detector, data):
    X = data[:40]
    holes = X.copy()
    holes[:, [0, 3]] = np.nan
    observed = ~np.isnan(holes)
    elbo = VAETransformer.score_samples(detector, holes)  # the plain bound of the observed part
    penalty = detector._neighbor_penalty(detector._neighbor_distance(holes), 40)
    assert_allclose(detector.score_samples(holes), elbo * 5 / 3 - penalty, rtol=1e-6)
    # An obvious outlier is still flagged with holes in it.
    far = np.array([[8.0, np.nan, -8.0, np.nan, 8.0]])
    assert detector.predict(far)[0] == -1
    # The contributions sum to the shifted score over the observed features.
    contributions = detector.score_features(holes)
    assert np.all(contributions[~observed] == 0)
    expected = (observed * detector.feature_offsets_).sum(1) - detector.score_samples(holes)
    assert_allclose(contributions.sum(1), expected, rtol=1e-5, atol=1e-4)


def test_detector_gives_a_row_with_nothing_observed_the_threshold(detector):
    empty = np.full((2, 5), np.nan)
    assert np.all(detector.score_samples(empty) == np.float64(detector.offset_))
    assert np.all(detector.decision_function(empty) == 0)
    assert np.all(detector.predict(empty) == 1)
    assert np.all(detector.score_features(empty) == 0)


def test_a_detector_with_holes_saves_and_loads_bit_for_bit(detector, data, tmp_path):
    X = _with_holes(data, seed=5)
    path = tmp_path / "detector.safetensors"
    skvae.save(detector, path)  # its training rows, with their NaN, go into the file
    loaded = skvae.load(path)
    np.testing.assert_array_equal(loaded.score_samples(X), detector.score_samples(X))
    np.testing.assert_array_equal(loaded.score_features(X), detector.score_features(X))
