"""VAETransformer on images: interpolation between two inputs, and denoising."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split

from skvae import VAETransformer
from skvae._demo import salt_and_pepper


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def vae(digits):
    """Trained well enough to reconstruct digits (about 2 s on one core)."""
    return VAETransformer(
        latent_dim=8, hidden_layer_sizes=(128,), likelihood="bernoulli", max_iter=60,
        learning_rate=2e-3, early_stopping=False, random_state=0,
    ).fit(digits[0])


# ------------------------------------------------------------ interpolate
def test_interpolate_decodes_a_straight_latent_path(vae, digits):
    X = digits[1]
    path = vae.interpolate(X[0], X[1], n_steps=5)
    assert path.shape == (5, 64) and path.dtype == np.float32
    z = vae.transform(X[:2]).astype(np.float64)
    expected = vae.inverse_transform(
        np.stack([(1 - t) * z[0] + t * z[1] for t in np.linspace(0, 1, 5)]).astype(np.float32)
    )
    np.testing.assert_allclose(path, expected, rtol=1e-5, atol=1e-6)
    # Both ends are the reconstructions of the inputs.
    reconstruction = vae.inverse_transform(vae.transform(X[:2]))
    np.testing.assert_allclose(path[[0, -1]], reconstruction, rtol=1e-5, atol=1e-6)
    # The path moves from one digit to the other: each step is closer to the
    # end and further from the start than the one before.
    to_end = ((path - reconstruction[1]) ** 2).sum(axis=1)
    to_start = ((path - reconstruction[0]) ** 2).sum(axis=1)
    assert np.all(np.diff(to_end) < 0) and np.all(np.diff(to_start) > 0)


def test_interpolate_accepts_rows_and_keeps_the_dtype(vae, digits):
    X = digits[1]
    one_row = vae.interpolate(X[:1], X[1:2], n_steps=3)
    np.testing.assert_allclose(one_row, vae.interpolate(X[0], X[1], n_steps=3))
    assert vae.interpolate(X[0].astype(np.float64), X[1].astype(np.float64)).dtype == np.float64
    assert vae.interpolate(X[0], X[1]).shape == (10, 64)  # n_steps=10 by default


def test_interpolate_accepts_a_dataframe_row(digits):
    X = pd.DataFrame(digits[0][:300], columns=[f"pixel{k}" for k in range(64)])
    model = VAETransformer(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X)
    assert model.interpolate(X.iloc[[0]], X.iloc[[1]], n_steps=4).shape == (4, 64)


@pytest.mark.parametrize(
    "args, match",
    [
        ((slice(0, 2), 2), "x_start must be one sample, got an array of 2 rows"),
        ((0, slice(1, 3)), "x_end must be one sample"),
    ],
)
def test_interpolate_rejects_more_than_one_row(vae, digits, args, match):
    X = digits[1]
    with pytest.raises(ValueError, match=match):
        vae.interpolate(X[args[0]], X[args[1]])


def test_interpolate_validates_like_transform(vae, digits):
    X = digits[1]
    weights = {k: v.clone() for k, v in vae.network_.state_dict().items()}
    with pytest.raises(ValueError, match="n_steps must be an integer of at least 2"):
        vae.interpolate(X[0], X[1], n_steps=1)
    with pytest.raises(ValueError, match="n_steps"):
        vae.interpolate(X[0], X[1], n_steps=2.5)
    with pytest.raises(ValueError, match="expecting 64 features"):
        vae.interpolate(X[0, :10], X[1, :10])
    bad = X[0].copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        vae.interpolate(bad, X[1])
    with pytest.raises(NotFittedError):
        VAETransformer().interpolate(X[0], X[1])
    assert all(vae.network_.state_dict()[k].equal(v) for k, v in weights.items())


# -------------------------------------------------------------- denoising
@pytest.mark.parametrize("noise", ["salt and pepper", "gaussian"])
def test_decoding_the_latent_mean_of_a_noisy_digit_removes_noise(vae, digits, noise):
    X_clean = digits[1]  # held-out digits
    if noise == "salt and pepper":
        X_noisy = salt_and_pepper(X_clean, 0.25, random_state=0)
    else:
        rng = np.random.RandomState(0)
        X_noisy = np.clip(X_clean + rng.normal(scale=0.5, size=X_clean.shape), 0, 1)
        X_noisy = X_noisy.astype(np.float32)
    denoised = vae.inverse_transform(vae.transform(X_noisy))
    noisy_error = ((X_noisy - X_clean) ** 2).mean(axis=1)
    denoised_error = ((denoised - X_clean) ** 2).mean(axis=1)
    # Closer to the clean image than the noisy input was: on average by far,
    # and for almost every image. An untrained decoder (grey images) is
    # further from the clean digits than the noisy inputs are.
    assert denoised_error.mean() < 0.6 * noisy_error.mean()
    assert np.mean(denoised_error < noisy_error) > 0.9
    untrained = VAETransformer(latent_dim=8, hidden_layer_sizes=(128,), likelihood="bernoulli",
                               max_iter=1, warmup_epochs=0, random_state=0).fit(X_clean[:10])
    blank = untrained.inverse_transform(untrained.transform(X_noisy))
    assert ((blank - X_clean) ** 2).mean() > noisy_error.mean()
