"""Inference in bounded chunks, without gradients, the same as in one chunk."""

import numpy as np
import pytest
import torch

import skvae._base
import skvae._inference
from skvae import VAETransformer


@pytest.fixture(scope="module")
def fitted():
    X = np.random.RandomState(0).normal(size=(300, 5))
    vae = VAETransformer(
        latent_dim=2, hidden_layer_sizes=(16,), max_iter=3, n_mc_samples=4, random_state=0
    ).fit(X)
    return vae, X


def _outputs(vae, X):
    Z = vae.transform(X)
    return {
        "transform": Z,
        "inverse_transform": vae.inverse_transform(Z),
        "score_samples": vae.score_samples(X),
        "log_likelihood": vae.log_likelihood(X, n_importance_samples=5),
    }


def test_chunk_rows_bounds_the_widest_intermediate(fitted, monkeypatch):
    vae, _ = fitted
    monkeypatch.setattr(skvae._inference, "CHUNK_ELEMENTS", 1000)
    assert vae._chunk_rows() == 1000 // 16
    assert vae._chunk_rows(n_draws=4) == 1000 // (4 * 16)
    assert vae._chunk_rows(n_draws=10**6) == 1  # never zero rows


def test_small_chunks_give_the_same_result_as_one_chunk(fitted, monkeypatch):
    vae, X = fitted
    monkeypatch.setattr(skvae._inference, "CHUNK_ELEMENTS", 10**9)  # everything in one chunk
    whole = _outputs(vae, X)
    chunk_sizes = []
    original_map_rows = skvae._base.BaseVAE._map_rows

    def recording_map_rows(self, X, compute, chunk_rows):
        chunk_sizes.append(chunk_rows)
        return original_map_rows(self, X, compute, chunk_rows)

    monkeypatch.setattr(skvae._base.BaseVAE, "_map_rows", recording_map_rows)
    monkeypatch.setattr(skvae._inference, "CHUNK_ELEMENTS", 7 * 16 * 4)  # a handful of rows
    chunked = _outputs(vae, X)
    # Calls in the order of _outputs. transform, score_samples and
    # log_likelihood map whole blocks of _ROW_BLOCK rows (so a row's result
    # does not depend on its neighbours); their chunk is one block, and 300
    # rows still make several chunks.
    transform, inverse, score, log_likelihood = chunk_sizes
    assert transform == score == log_likelihood == skvae._inference.ROW_BLOCK
    assert X.shape[0] > 4 * score
    assert 1 <= inverse < 30
    for name in whole:
        np.testing.assert_allclose(chunked[name], whole[name], rtol=1e-5, atol=1e-5)
    for name in ("transform", "score_samples", "log_likelihood"):
        np.testing.assert_array_equal(chunked[name], whole[name])


def test_map_rows_never_passes_more_than_chunk_rows(fitted):
    vae, X = fitted
    sizes = []

    def compute(batch):
        sizes.append(batch.n_rows)
        return batch.values[:, :1] * 2

    out = vae._map_rows(X, compute, chunk_rows=64)
    assert sizes == [64, 64, 64, 64, 44]
    np.testing.assert_allclose(out, X[:, :1] * 2, rtol=1e-6)
    assert out.dtype == X.dtype


def test_inference_builds_no_autograd_graph(fitted, monkeypatch):
    vae, X = fitted
    states = []
    network = vae.network_
    original_encode, original_decode = network.encode, network.decode

    def encode(*args):
        states.append(torch.is_grad_enabled())
        return original_encode(*args)

    def decode(z):
        states.append(torch.is_grad_enabled())
        return original_decode(z)

    monkeypatch.setattr(network, "encode", encode)
    monkeypatch.setattr(network, "decode", decode)
    vae.transform(X)
    vae.inverse_transform(np.zeros((3, 2)))
    vae.sample(3, random_state=0)
    assert states and not any(states)
    assert all(p.grad is None for p in network.parameters())
    assert not network.training


def test_output_dtype_follows_input(fitted):
    vae, X = fitted
    Z64 = vae.transform(X)
    Z32 = vae.transform(X.astype(np.float32))
    assert Z64.dtype == np.float64 and Z32.dtype == np.float32
    np.testing.assert_allclose(Z32, Z64, rtol=1e-5, atol=1e-6)
