"""Thread handling: n_jobs semantics, the global setting restored, no oversubscription."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

import skvae._base
from skvae import VAETransformer
from skvae._threads import available_cores, resolve_n_threads, torch_threads

FAST = dict(hidden_layer_sizes=(8,), max_iter=2, batch_size=32, early_stopping=False, random_state=0)


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


def test_auto_threads_follow_the_network_size(monkeypatch):
    monkeypatch.setattr("skvae._threads.cpu_count", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert resolve_n_threads("auto", n_parameters=31_000) == 1  # a tabular MLP
    assert resolve_n_threads("auto", n_parameters=1_100_000) == 8  # a 784-512-256 MLP
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # inside a joblib or Dask worker
    assert resolve_n_threads("auto", n_parameters=1_100_000) == 2


def test_fitted_thread_count_is_recorded(monkeypatch):
    monkeypatch.setattr("skvae._threads.cpu_count", lambda: 4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    X = np.random.RandomState(0).normal(size=(40, 3))
    small = VAETransformer(**{**FAST, "max_iter": 1}).fit(X)
    wide = VAETransformer(**{**FAST, "max_iter": 1, "hidden_layer_sizes": (512, 512)}).fit(X)
    assert small.n_threads_ == 1
    assert wide.n_threads_ == 4


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
    original_run_epoch = skvae._base.run_epoch

    def recording_run_epoch(*args):
        seen.append(torch.get_num_threads())
        return original_run_epoch(*args)

    monkeypatch.setattr(skvae._base, "run_epoch", recording_run_epoch)
    X = np.random.RandomState(0).normal(size=(60, 3))
    torch.set_num_threads(2)
    vae = VAETransformer(**FAST).fit(X)
    assert seen == [1, 1]  # one call per epoch
    assert torch.get_num_threads() == 2

    network = vae.network_
    original_encode = network.encode

    def recording_encode(*args):
        seen.append(torch.get_num_threads())
        return original_encode(*args)

    monkeypatch.setattr(network, "encode", recording_encode)
    vae.transform(X)
    assert seen[2:] and set(seen[2:]) == {1}
    assert torch.get_num_threads() == 2


class ThreadRecordingVAE(VAETransformer):
    """Records PyTorch's thread count while fit trains."""

    def _fit_epochs(self, *args, **kwargs):
        self.threads_seen_ = torch.get_num_threads()
        return super()._fit_epochs(*args, **kwargs)


def _threads_seen(estimator, X, y=None):
    return estimator.threads_seen_


def test_grid_search_with_two_jobs_does_not_oversubscribe():
    X = np.random.RandomState(0).normal(size=(40, 3))
    search = GridSearchCV(
        ThreadRecordingVAE(**FAST),
        {"n_threads": [None, -1, "auto"]},
        scoring=_threads_seen,
        cv=2,
        n_jobs=2,
    ).fit(X)
    per_worker = max(1, available_cores() // 2)
    threads = search.cv_results_["mean_test_score"]
    assert threads[0] == 1  # the default: one thread per fit
    assert 1 <= threads[1] <= per_worker  # -1: the worker's share of the cores
    assert threads[2] == 1  # "auto" for a small network
