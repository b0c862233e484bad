"""Thread handling: n_jobs semantics, the global setting restored, no oversubscription."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

import skvae._base
from skvae import VAETransformer
from skvae._threads import available_cores, resolve_n_threads, torch_threads

FAST = dict(hidden_layer_sizes=(8,), max_iter=2, batch_size=32, random_state=0)


@pytest.fixture
def restore_torch_threads():
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


def test_resolve_n_threads(monkeypatch):
    monkeypatch.setattr("skvae._threads.cpu_count", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert resolve_n_threads(None) == 1
    assert resolve_n_threads(3) == 3
    assert resolve_n_threads(-1) == 8
    assert resolve_n_threads(-2) == 7
    assert resolve_n_threads(-20) == 1
    with pytest.raises(ValueError, match="n_threads=0"):
        resolve_n_threads(0)


def test_negative_counts_respect_the_joblib_worker_share(monkeypatch):
    # joblib's workers run with OMP_NUM_THREADS = cores // n_jobs
    monkeypatch.setattr("skvae._threads.cpu_count", lambda: 8)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert available_cores() == 2
    assert resolve_n_threads(-1) == 2
    assert resolve_n_threads(4) == 4  # an explicit count is the user's choice


def test_torch_threads_restores_the_setting_even_on_error(restore_torch_threads):
    torch.set_num_threads(2)
    with torch_threads(None):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError
    assert torch.get_num_threads() == 2


def test_fit_and_inference_use_n_threads_and_restore(monkeypatch, restore_torch_threads):
    seen = []
    original_train = skvae._base.train

    def recording_train(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original_train(*args, **kwargs)

    monkeypatch.setattr(skvae._base, "train", recording_train)
    X = np.random.RandomState(0).normal(size=(60, 3))
    torch.set_num_threads(2)
    vae = VAETransformer(**FAST).fit(X)
    assert seen == [1]
    assert torch.get_num_threads() == 2

    network = vae.network_
    original_encode = network.encode

    def recording_encode(x):
        seen.append(torch.get_num_threads())
        return original_encode(x)

    monkeypatch.setattr(network, "encode", recording_encode)
    vae.transform(X)
    assert seen[1:] and set(seen[1:]) == {1}
    assert torch.get_num_threads() == 2


class ThreadRecordingVAE(VAETransformer):
    """Records PyTorch's thread count while fit builds the network."""

    def _build_network(self, *args, **kwargs):
        self.threads_seen_ = torch.get_num_threads()
        return super()._build_network(*args, **kwargs)


def _threads_seen(estimator, X, y=None):
    return estimator.threads_seen_


def test_grid_search_with_two_jobs_does_not_oversubscribe():
    X = np.random.RandomState(0).normal(size=(40, 3))
    search = GridSearchCV(
        ThreadRecordingVAE(**FAST),
        {"n_threads": [None, -1]},
        scoring=_threads_seen,
        cv=2,
        n_jobs=2,
    ).fit(X)
    per_worker = max(1, available_cores() // 2)
    threads = search.cv_results_["mean_test_score"]
    assert threads[0] == 1  # the default: one thread per fit
    assert 1 <= threads[1] <= per_worker  # -1: the worker's share of the cores
