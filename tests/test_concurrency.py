"""Inference from many threads at once agrees bit for bit with serial calls."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from skvae import VAEOutlierDetector, VAETransformer

N_THREADS = 8


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return rng.normal(size=(700, 6)) @ rng.normal(size=(6, 6))


def _calls(estimator, X):
    """(name, function) for every inference method, on overlapping slices of X."""
    calls = []
    for i, rows in enumerate([slice(0, 700), slice(3, 130), slice(64, 65), slice(100, 400)]):
        calls += [
            (f"score_samples{i}", lambda rows=rows: estimator.score_samples(X[rows])),
            (f"log_likelihood{i}", lambda rows=rows: estimator.log_likelihood(X[rows], 7)),
        ]
        if hasattr(estimator, "transform"):
            calls.append((f"transform{i}", lambda rows=rows: estimator.transform(X[rows])))
        else:
            calls.append((f"decision{i}", lambda rows=rows: estimator.decision_function(X[rows])))
    return calls


@pytest.mark.parametrize(
    "cls, params",
    [
        (VAETransformer, {}),
        (VAETransformer, {"hidden_layer_sizes": ()}),
        (VAETransformer, {"n_threads": 2}),
        (VAEOutlierDetector, {}),
    ],
    ids=["transformer", "linear", "two-torch-threads", "detector"],
)
def test_threads_agree_bit_for_bit_with_serial_calls(data, cls, params):
    estimator = cls(latent_dim=3, max_iter=3, random_state=0, **params).fit(data)
    calls = _calls(estimator, data)
    serial = {name: call() for name, call in calls}
    work = calls * 3  # every call three times, interleaved
    with ThreadPoolExecutor(max_workers=N_THREADS) as pool:
        futures = [(name, pool.submit(call)) for name, call in work]
        results = [(name, future.result()) for name, future in futures]
    for name, result in results:
        np.testing.assert_array_equal(result, serial[name], err_msg=name)
    # A row's result is the same in every slice it was computed in.
    if hasattr(estimator, "transform"):
        np.testing.assert_array_equal(serial["transform2"], serial["transform0"][64:65])
    np.testing.assert_array_equal(serial["log_likelihood1"], serial["log_likelihood0"][3:130])
