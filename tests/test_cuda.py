"""A model trained on a device goes to the CPU whole: save and load, pickle, warm_start (issue 23).

Each test runs with ``device="cpu"`` everywhere and, where PyTorch sees a
CUDA GPU, with ``device="cuda"`` as well, so that the CPU runs of the suite
check the same path that ``scripts/gpu_checks.sh`` runs on a GPU.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.utils.estimator_checks import parametrize_with_checks

import skvae
from skvae import VAEImputer, VAEOutlierDetector, VAETransformer

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    ),
]
SMALL = dict(hidden_layer_sizes=(32,), max_iter=5, batch_size=64, n_threads=1, random_state=0)


@pytest.fixture(scope="module")
def X():
    return load_digits().data[:400] / 16


def _on(network, kind):
    return all(p.device.type == kind for p in network.parameters())


@pytest.mark.parametrize("device", DEVICES)
def test_a_device_fit_saves_loads_and_pickles_to_the_cpu(device, X, tmp_path):
    vae = VAETransformer(device=device, **SMALL).fit(X)
    assert _on(vae.network_, device)
    path = tmp_path / "model.safetensors"
    skvae.save(vae, path)
    loaded = skvae.load(path)  # device="cpu": the weights are mapped to the CPU
    pickled = pickle.loads(pickle.dumps(vae))
    assert _on(loaded.network_, "cpu") and _on(pickled.network_, "cpu")
    # On the CPU, the two copies are the same model: identical outputs.
    np.testing.assert_array_equal(loaded.score_samples(X), pickled.score_samples(X))
    np.testing.assert_array_equal(loaded.transform(X), pickled.transform(X))
    # Against the model on its device: the same up to the device's float rounding.
    np.testing.assert_allclose(loaded.score_samples(X), vae.score_samples(X), rtol=1e-4)
    np.testing.assert_allclose(loaded.transform(X), vae.transform(X), rtol=1e-4, atol=1e-4)
    # The pickled copy keeps its optimiser state: warm_start continues on the CPU.
    before = pickled.score(X)
    pickled.set_params(device="cpu", warm_start=True, max_iter=10).fit(X)
    assert pickled.n_iter_ > vae.n_iter_ and _on(pickled.network_, "cpu")
    assert pickled.score(X) > before  # five more epochs of training help this young model
    # The loaded copy continues too (afresh optimiser: the file keeps weights only).
    loaded.set_params(warm_start=True, max_iter=2).fit(X)
    assert np.isfinite(loaded.score_samples(X)).all()


@pytest.mark.parametrize("device", DEVICES)
def test_a_device_fit_of_each_estimator_scores_finitely(device, X):
    rng = np.random.RandomState(0)
    holes = np.where(rng.uniform(size=X.shape) < 0.2, np.nan, X)
    imputer = VAEImputer(device=device, n_importance_samples=8, **SMALL).fit(holes)
    filled = imputer.transform(holes)
    observed = ~np.isnan(holes)
    assert np.isfinite(filled).all() and np.array_equal(filled[observed], X[observed])
    detector = VAEOutlierDetector(device=device, **SMALL).fit(X)
    assert np.isfinite(detector.score_samples(X)).all()


CUDA_FAST = dict(hidden_layer_sizes=(8,), max_iter=5, batch_size=32, n_mc_samples=4,
                 device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@parametrize_with_checks([VAETransformer(**CUDA_FAST), VAEOutlierDetector(**CUDA_FAST)])
def test_sklearn_checks_on_cuda(estimator, check):
    check(estimator)
