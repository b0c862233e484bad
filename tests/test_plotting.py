"""The Displays: each is rendered to a PNG with Agg, and what it drew is checked."""

import ast
import copy
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.stats import norm  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

import skvae  # noqa: E402
from skvae import (  # noqa: E402
    InterpolationDisplay,
    LatentSpaceDisplay,
    ManifoldDisplay,
    ReconstructionDisplay,
    SamplesDisplay,
    TrainingCurvesDisplay,
    VAEOutlierDetector,
    VAETransformer,
)
from skvae._plotting import resolve_image_shape  # noqa: E402

TINY = dict(hidden_layer_sizes=(16,), max_iter=5, likelihood="bernoulli", random_state=0)
CELL = 8 + 1  # an 8 x 8 digit and the 1-pixel gap after it


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


@pytest.fixture(scope="module")
def vae(digits):
    return VAETransformer(latent_dim=2, early_stopping=True, **TINY).fit(digits[0])


@pytest.fixture(scope="module")
def vae3(digits):
    return VAETransformer(latent_dim=3, **TINY).fit(digits[0])


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _render(display, tmp_path):
    """Save the display's figure as a PNG and read it back: (height, width, 4) pixels."""
    path = tmp_path / "figure.png"
    display.figure_.savefig(path, dpi=50)
    pixels = plt.imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 20
    assert pixels[..., :3].std() > 0.05  # not a blank canvas
    return pixels


def test_no_skvae_module_imports_matplotlib_when_it_is_imported():
    # matplotlib is imported inside the Displays' plot methods only: no
    # module-level import anywhere in the package.
    for path in Path(skvae.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "matplotlib" for n in names), path.name


# ------------------------------------------------------------ latent space
def test_latent_space_shows_the_latent_means_coloured_by_label(vae, digits, tmp_path):
    X, y = digits
    display = LatentSpaceDisplay.from_estimator(vae, X, y)
    _render(display, tmp_path)
    np.testing.assert_allclose(display.scatter_.get_offsets(), vae.transform(X), rtol=1e-6)
    assert [t.get_text() for t in display.colorbar_.ax.get_yticklabels()] == [
        str(k) for k in range(10)
    ]
    assert display.ax_.get_xlabel() == "$z_{1}$" and display.ax_.get_ylabel() == "$z_{2}$"
    assert len(display.figure_.axes) == 2  # the scatter and its colour bar
    assert display.figure_ is display.ax_.figure


def test_latent_space_with_string_labels_and_without_labels(vae, digits, tmp_path):
    X, y = digits
    names = np.array(["even", "odd"])[y % 2]
    display = LatentSpaceDisplay.from_estimator(vae, X[:200], names[:200])
    _render(display, tmp_path)
    assert [t.get_text() for t in display.colorbar_.ax.get_yticklabels()] == ["even", "odd"]
    plain = LatentSpaceDisplay.from_estimator(vae, X[:200])
    assert plain.colorbar_ is None and len(plain.figure_.axes) == 1


def test_latent_space_of_a_larger_latent_space_is_documented_2d_view(vae3, digits, tmp_path):
    X, y = digits
    display = LatentSpaceDisplay.from_estimator(vae3, X, y)
    _render(display, tmp_path)
    Z = vae3.transform(X)
    # Principal components: uncorrelated, the first with the larger spread, and
    # together they keep at least two thirds of the latent variance.
    shown = display.latent
    assert abs(np.corrcoef(shown.T)[0, 1]) < 1e-6
    assert shown[:, 0].var() >= shown[:, 1].var()
    assert shown.var(axis=0).sum() > 2 / 3 * Z.var(axis=0).sum()
    assert "principal component 1" in display.ax_.get_xlabel()
    chosen = LatentSpaceDisplay.from_estimator(vae3, X, y, dims=(2, 0))
    np.testing.assert_allclose(chosen.latent, Z[:, [2, 0]])
    assert chosen.ax_.get_xlabel() == "$z_{3}$"


@pytest.mark.parametrize("dims", [(0, 0), (0, 3), (1,), "tsne"])
def test_latent_space_rejects_bad_dims(vae3, digits, dims):
    with pytest.raises(ValueError, match="dims"):
        LatentSpaceDisplay.from_estimator(vae3, digits[0][:50], dims=dims)


def test_latent_space_rejects_labels_of_the_wrong_length(vae, digits):
    with pytest.raises(ValueError, match="y has 10 labels for 50 rows"):
        LatentSpaceDisplay.from_estimator(vae, digits[0][:50], digits[1][:10])


# --------------------------------------------------------------- manifold
def test_manifold_decodes_a_grid_at_the_prior_quantiles(vae, tmp_path):
    display = ManifoldDisplay.from_estimator(vae, n_images_per_side=15)
    _render(display, tmp_path)
    assert display.images.shape == (15, 15, 64)
    # 15 x 15 cells of 8 x 8 pixels with 1-pixel gaps, drawn as one image.
    assert display.image_.get_array().shape == (15 * CELL - 1, 15 * CELL - 1)
    values = norm.ppf(np.linspace(0.05, 0.95, 15))
    np.testing.assert_allclose(display.grid[0], values)
    # The top-right cell is (z1, z2) = (high, high), the bottom-left (low, low),
    # the centre the prior's mean.
    for (row, col), z in [((0, 14), [values[-1], values[-1]]),
                          ((14, 0), [values[0], values[0]]),
                          ((7, 7), [0.0, 0.0])]:
        expected = vae.inverse_transform(np.array([z], dtype=np.float32))[0]
        np.testing.assert_allclose(display.images[row, col], expected, rtol=1e-5, atol=1e-6)
    assert display.ax_.get_xlabel() == "$z_{1}$"
    assert [t.get_text() for t in display.ax_.get_xticklabels()] == [
        "-1.64", "-0.50", "0.00", "0.50", "1.64"]
    # Neighbouring cells differ less than cells far apart: the grid varies smoothly.
    images = display.images
    near = np.abs(images[:, 1:] - images[:, :-1]).mean()
    far = np.abs(images[:, -1] - images[:, 0]).mean()
    assert near < far


def test_manifold_of_a_larger_latent_space_is_a_slice(vae3, tmp_path):
    display = ManifoldDisplay.from_estimator(vae3, n_images_per_side=5, dims=(2, 0))
    _render(display, tmp_path)
    values = norm.ppf(np.linspace(0.05, 0.95, 5))
    z = np.zeros((1, 3), dtype=np.float32)
    z[0, 2], z[0, 0] = values[1], values[-1]  # row 0 is the top: z1 at its highest
    np.testing.assert_allclose(display.images[0, 1], vae3.inverse_transform(z)[0], rtol=1e-5,
                               atol=1e-6)
    assert display.ax_.get_xlabel() == "$z_{3}$" and display.ax_.get_ylabel() == "$z_{1}$"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_images_per_side=1), "n_images_per_side"),
        (dict(dims=(0, 0)), "dims"),
        (dict(quantile_range=(0.0, 0.9)), "quantile_range"),
        (dict(image_shape=(1, 4, 4)), "holds 16 values"),
    ],
)
def test_manifold_rejects_bad_arguments(vae, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ManifoldDisplay.from_estimator(vae, **kwargs)


def test_manifold_needs_two_latent_dimensions(digits):
    vae1 = VAETransformer(latent_dim=1, **TINY).fit(digits[0][:100])
    with pytest.raises(ValueError, match="latent_dim >= 2"):
        ManifoldDisplay.from_estimator(vae1)


# --------------------------------------------------------- image shapes
def test_image_shape_comes_from_the_estimator_then_the_argument_then_a_square():
    assert resolve_image_shape(SimpleNamespace(), None, 784) == (1, 28, 28)
    assert resolve_image_shape(SimpleNamespace(), (4, 16), 64) == (1, 4, 16)
    assert resolve_image_shape(SimpleNamespace(image_shape=(3, 4, 4)), None, 48) == (3, 4, 4)
    assert resolve_image_shape(SimpleNamespace(image_shape=None), (2, 32), 64) == (1, 2, 32)
    with pytest.raises(ValueError, match="not a perfect square"):
        resolve_image_shape(SimpleNamespace(), None, 30)
    with pytest.raises(ValueError, match="disagrees"):
        resolve_image_shape(SimpleNamespace(image_shape=(1, 8, 8)), (1, 4, 16), 64)
    with pytest.raises(ValueError, match="1 \\(grey\\) or 3 \\(RGB\\)"):
        resolve_image_shape(SimpleNamespace(), (2, 4, 8), 64)


def test_image_shape_of_the_estimator_is_used(vae, tmp_path):
    wide = copy.copy(vae)
    wide.image_shape = (1, 4, 16)
    display = SamplesDisplay.from_estimator(wide, n_samples=6, n_cols=3, random_state=0)
    _render(display, tmp_path)
    assert display.image_.get_array().shape == (2 * 5 - 1, 3 * 17 - 1)


def test_rgb_images_are_drawn_in_colour(tmp_path):
    rng = np.random.RandomState(0)
    display = SamplesDisplay(rng.uniform(size=(6, 48)), image_shape=(3, 4, 4), n_cols=3).plot()
    _render(display, tmp_path)
    assert display.image_.get_array().shape == (2 * 5 - 1, 3 * 5 - 1, 3)


# ------------------------------------------------------ reconstructions
def test_reconstructions_sit_under_their_originals(vae, digits, tmp_path):
    X = digits[0]
    display = ReconstructionDisplay.from_estimator(vae, X, n_images=20, n_cols=10)
    _render(display, tmp_path)
    assert display.row_labels_ == ["original", "reconstruction"] * 2
    assert [t.get_text() for t in display.ax_.get_yticklabels()] == display.row_labels_
    assert display.image_.get_array().shape == (4 * CELL - 1, 10 * CELL - 1)
    expected = vae.inverse_transform(vae.transform(X[:20]))
    np.testing.assert_allclose(display.reconstructions, expected, rtol=1e-5)
    # Row 1 of cells (the first reconstructions) shows reconstruction 0 in its first cell.
    mosaic = display.image_.get_array()
    first = display.reconstructions[0].reshape(8, 8)
    np.testing.assert_allclose(mosaic[CELL : CELL + 8, :8], first, rtol=1e-5)


def test_denoising_picture_has_three_rows(vae, digits, tmp_path):
    X = digits[0][:10]
    noisy = np.clip(X + 0.3, 0, 1)
    display = ReconstructionDisplay.from_estimator(vae, noisy, X_clean=X)
    _render(display, tmp_path)
    assert display.row_labels_ == ["clean", "noisy input", "denoised"]
    assert display.image_.get_array().shape == (3 * CELL - 1, 10 * CELL - 1)
    with pytest.raises(ValueError, match="X_clean must match X"):
        ReconstructionDisplay.from_estimator(vae, noisy, X_clean=X[:5])


def test_the_colour_scale_is_the_clean_images_not_a_wild_reconstruction(digits, tmp_path):
    X = digits[0][:10].astype(np.float64)
    gaussian = VAETransformer(latent_dim=2, max_iter=2, random_state=0).fit(digits[0])
    assert gaussian._columns.display_range() is None  # no range of its own: the data's
    real = gaussian.inverse_transform
    gaussian.inverse_transform = lambda Z: np.where(np.arange(64) == 5, 40.0, real(Z))
    noisy = np.clip(X + 0.3, 0, 1)
    display = ReconstructionDisplay.from_estimator(gaussian, noisy, X_clean=X)
    _render(display, tmp_path)
    assert display.value_range == (X.min(), X.max())
    # The clean cells keep their contrast: a lit pixel is drawn white, not the
    # grey of 1 on a scale up to 40.
    clean_cell = display.image_.get_array()[:8, :8]
    np.testing.assert_allclose(clean_cell, X[0].reshape(8, 8) / X.max(), rtol=1e-6)
    # Without clean images, the inputs' range.
    plain = ReconstructionDisplay.from_estimator(gaussian, noisy)
    assert plain.value_range == (noisy.min(), noisy.max())


# ---------------------------------------------------------------- samples
def test_samples_grid(vae, tmp_path):
    display = SamplesDisplay.from_estimator(vae, n_samples=25, n_cols=10, random_state=0)
    _render(display, tmp_path)
    assert display.samples.shape == (25, 64)
    np.testing.assert_array_equal(display.samples,
                                  vae.sample(25, random_state=0, return_mean=True))
    mosaic = display.image_.get_array()
    assert mosaic.shape == (3 * CELL - 1, 10 * CELL - 1)
    assert mosaic.mask[-8:, 5 * CELL :].all()  # the last row holds 5 images, then blanks
    assert not mosaic.mask[-8:, :8].any()


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_a_model_fitted_on_a_dataframe_draws_its_pictures(digits, tmp_path):
    # Its inverse_transform, sample and interpolate give DataFrames (the
    # displays read rows as arrays, hence scikit-learn's warning on names).
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(digits[0][:300], columns=[f"pixel{k}" for k in range(64)])
    model = VAETransformer(latent_dim=2, **TINY).fit(X)
    for display in (
        ManifoldDisplay.from_estimator(model, n_images_per_side=3),
        ReconstructionDisplay.from_estimator(model, X.iloc[:4]),
        SamplesDisplay.from_estimator(model, n_samples=4, random_state=0),
    ):
        _render(display, tmp_path)
    display = InterpolationDisplay.from_estimator(model, X.iloc[[0]], X.iloc[[1]], n_steps=3)
    assert display.paths.shape == (1, 3, 64)


# ---------------------------------------------------------- interpolation
def test_interpolation_rows_run_from_start_to_end(vae, digits, tmp_path):
    X = digits[0]
    display = InterpolationDisplay.from_estimator(vae, X[:3], X[3:6], n_steps=8)
    _render(display, tmp_path)
    assert display.paths.shape == (3, 8, 64)
    n_cols = 8 + 4  # start, blank, 8 steps, blank, end
    assert display.image_.get_array().shape == (3 * CELL - 1, n_cols * CELL - 1)
    assert [t.get_text() for t in display.ax_.get_xticklabels()] == [
        "start", "t = 0", "t = 1", "end"]
    np.testing.assert_allclose(display.paths[1], vae.interpolate(X[1], X[4], n_steps=8))
    single = InterpolationDisplay.from_estimator(vae, X[0], X[1], n_steps=4)
    assert single.paths.shape == (1, 4, 64)
    with pytest.raises(ValueError, match="same shape"):
        InterpolationDisplay.from_estimator(vae, X[:3], X[:2])


# -------------------------------------------------------- training curves
def test_training_curves_with_validation(vae, tmp_path):
    display = TrainingCurvesDisplay.from_estimator(vae)
    _render(display, tmp_path)
    training, validation = display.lines_
    np.testing.assert_allclose(training.get_ydata(), -np.asarray(vae.loss_curve_))
    np.testing.assert_allclose(validation.get_ydata(), vae.validation_scores_)
    assert list(training.get_xdata()) == list(range(1, vae.n_iter_ + 1))
    assert display.ax_.get_xlabel() == "epoch"
    assert "ELBO" in display.ax_.get_ylabel()
    labels = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert "KL warm-up" in labels and "validation ELBO" in labels


def test_training_curves_without_validation(digits, tmp_path):
    model = VAETransformer(latent_dim=2, warmup_epochs=0, early_stopping=False, **TINY)
    model.fit(digits[0][:300])
    assert model.validation_scores_ is None
    display = TrainingCurvesDisplay.from_estimator(model)
    _render(display, tmp_path)
    assert len(display.lines_) == 1
    # The outlier detector has the same training history.
    detector = VAEOutlierDetector(**TINY).fit(digits[0][:300])
    expected = 1 if detector.validation_scores_ is None else 2
    assert len(TrainingCurvesDisplay.from_estimator(detector).lines_) == expected


# ----------------------------------------------------------- bad estimators
def test_displays_need_a_fitted_vae_transformer(digits):
    X = digits[0][:100]
    with pytest.raises(NotFittedError):
        ManifoldDisplay.from_estimator(VAETransformer())
    detector = VAEOutlierDetector(**TINY).fit(X)
    with pytest.raises(ValueError, match="needs an estimator with transform"):
        LatentSpaceDisplay.from_estimator(detector, X)
    with pytest.raises(ValueError, match="needs an estimator with inverse_transform"):
        ManifoldDisplay.from_estimator(detector)


def test_plot_draws_on_the_given_axes(vae, digits):
    figure, axes = plt.subplots(1, 3)
    displays = [
        SamplesDisplay.from_estimator(vae, n_samples=10, ax=axes[0]),
        ManifoldDisplay.from_estimator(vae, n_images_per_side=4, ax=axes[1]),
        LatentSpaceDisplay.from_estimator(vae, digits[0][:100], ax=axes[2]),
    ]
    assert [d.ax_ for d in displays] == list(axes)
    assert all(d.figure_ is figure for d in displays)
