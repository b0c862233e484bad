"""Scaling out: streaming from disk, dask-ml, Dask-backed searches, polars output.

The streaming and Dask tests carry the ``slow`` marker: ``python3 -m pytest
-m slow`` runs them (CI does, see ``scripts/test.sh``).
"""

import os
import tracemalloc

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skvae import VAETransformer

SMALL = dict(hidden_layer_sizes=(32,), batch_size=64, random_state=0)


def _low_rank(n_rows, n_features=20, latent=3, seed=0):
    """Rows from one fixed non-linear low-rank model; ``seed`` draws other rows of it."""
    mixing = np.random.RandomState(0).normal(size=(latent, n_features))
    rng = np.random.RandomState(1000 + seed)
    Z = rng.normal(size=(n_rows, latent))
    return (np.tanh(Z) @ mixing + 0.2 * rng.normal(size=(n_rows, n_features))).astype(np.float32)


def test_set_output_polars():
    pl = pytest.importorskip("polars")
    X = _low_rank(200, n_features=5)
    vae = VAETransformer(latent_dim=2, max_iter=2, **SMALL).set_output(transform="polars")
    Z = vae.fit(X).transform(X)
    assert isinstance(Z, pl.DataFrame)
    assert Z.columns == ["vaetransformer0", "vaetransformer1"]
    np.testing.assert_array_equal(Z.to_numpy(), vae.set_output(transform="default").transform(X))


@pytest.mark.slow
def test_streaming_a_memory_mapped_file_matches_an_in_memory_fit(tmp_path):
    """partial_fit over chunks of a memory-mapped .npy reaches the in-memory score.

    Tolerance: the streamed model's held-out ELBO must be within 0.5 nats per
    row (about 2% here) of the in-memory fit with the same number of epochs;
    the in-memory fits of two seeds differ by about as much, so the stream
    loses nothing beyond the seed-to-seed spread. Both must beat the
    untrained model by far.
    """
    X = _low_rank(30_000)
    X_heldout = _low_rank(3_000, seed=1)
    path = tmp_path / "data.npy"
    np.save(path, X)
    n_epochs, chunk_rows = 6, 2_000
    options = dict(latent_dim=3, warmup_epochs=2, **SMALL)

    streamed = VAETransformer(**options)
    on_disk = np.load(path, mmap_mode="r")
    streamed.partial_fit(on_disk[:chunk_rows])  # first call: imports and set-up, not data
    tracemalloc.start()
    for epoch in range(n_epochs):
        for start in range(chunk_rows if epoch == 0 else 0, on_disk.shape[0], chunk_rows):
            streamed.partial_fit(on_disk[start : start + chunk_rows])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    chunk_bytes = chunk_rows * X.shape[1] * X.itemsize
    assert peak < min(8 * chunk_bytes, X.nbytes / 3)  # never the whole file in memory

    in_memory = VAETransformer(
        **options, max_iter=n_epochs, early_stopping=False, learning_rate_schedule="constant"
    )
    with pytest.warns(Warning):  # max_iter reached
        in_memory.fit(X)
    untrained = VAETransformer(**options).partial_fit(X[:64])
    streamed_score, memory_score = streamed.score(X_heldout), in_memory.score(X_heldout)
    assert streamed.n_iter_ == n_epochs * 15
    assert abs(streamed_score - memory_score) < 0.5, (streamed_score, memory_score)
    assert streamed_score > untrained.score(X_heldout) + 10


@pytest.mark.slow
def test_dask_ml_incremental_over_a_dask_array():
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X = _low_rank(6_000)
    X_heldout = _low_rank(1_000, seed=1)
    chunks = da.from_array(X, chunks=(1_000, X.shape[1]))
    untrained_score = VAETransformer(latent_dim=3, **SMALL).partial_fit(X[:64]).score(X_heldout)
    incremental = wrappers.Incremental(VAETransformer(latent_dim=3, **SMALL))
    for _ in range(3):  # each fit is one pass over the blocks
        incremental.partial_fit(chunks)
    vae = incremental.estimator_
    assert vae.n_iter_ == 3 * 6  # one partial_fit per block
    assert vae.score(X_heldout) > untrained_score + 5
    Z = incremental.transform(chunks)
    np.testing.assert_allclose(Z.compute(), vae.transform(X), rtol=1e-6, atol=1e-6)


def _threads_used(estimator, X, y=None):
    return estimator.n_threads_


@pytest.mark.slow
def test_grid_search_on_a_dask_cluster_matches_the_serial_search():
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_config

    X = _low_rank(600, n_features=8, latent=2)
    grid = {"latent_dim": [1, 2, 4], "beta": [0.5, 1.0]}
    options = dict(hidden_layer_sizes=(16,), max_iter=15, batch_size=32, random_state=0)
    serial = GridSearchCV(VAETransformer(**options), grid, cv=2).fit(X)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        # Dask's workers run with OMP_NUM_THREADS=1: n_threads=-1 must respect it.
        assert set(client.run(lambda: os.environ.get("OMP_NUM_THREADS")).values()) == {"1"}
        with parallel_config(backend="dask"):
            on_dask = GridSearchCV(VAETransformer(**options), grid, cv=2, n_jobs=-1).fit(X)
            threads = GridSearchCV(
                VAETransformer(**options, n_threads=-1),
                {"latent_dim": [1, 2]},
                cv=2,
                scoring=_threads_used,
                n_jobs=-1,
            ).fit(X)
    assert on_dask.best_params_ == serial.best_params_
    np.testing.assert_allclose(
        on_dask.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"], rtol=1e-6
    )
    assert set(threads.cv_results_["mean_test_score"]) == {1.0}  # one thread per task
