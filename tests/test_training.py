"""The training loop: batches, noise, optimiser, loss bookkeeping, no copies."""

import math

import numpy as np
import pytest
import torch

import skvae._base
import skvae._training
from skvae import VAETransformer
from skvae._base import _as_tensor
from skvae._networks import build_vae
from skvae._training import FlatAdam, epoch_mean, make_optimizer, train, trimmed_mean


def _network(n_features=3, latent_dim=2, seed=0):
    network = build_vae(n_features, latent_dim, (8,), "relu", "gaussian", 1e-3)
    network.reset_parameters(torch.Generator().manual_seed(seed))
    return network


def _train(network, X, **kwargs):
    options = dict(
        beta=1.0, warmup_epochs=0, max_iter=2, batch_size=4, learning_rate=1e-3,
        tol=0.0, n_iter_no_change=10, generator=torch.Generator().manual_seed(0),
    )
    return train(network, X, **{**options, **kwargs})


def test_as_tensor_does_not_copy_float32():
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    tensor = _as_tensor(X, torch.device("cpu"))
    assert tensor.dtype == torch.float32
    assert tensor.data_ptr() == X.ctypes.data
    X[0, 0] = 42.0  # the same memory
    assert tensor[0, 0].item() == 42.0


def test_as_tensor_converts_float64_and_non_contiguous():
    X = np.arange(24, dtype=np.float64).reshape(4, 6)[:, ::2]
    tensor = _as_tensor(X, torch.device("cpu"))
    assert tensor.dtype == torch.float32
    np.testing.assert_array_equal(tensor.numpy(), X.astype(np.float32))


def test_fit_trains_on_float32_input_without_a_copy(monkeypatch):
    seen = {}
    original_train = skvae._base.train

    def recording_train(network, X, **kwargs):
        seen["pointer"], seen["dtype"] = X.data_ptr(), X.dtype
        return original_train(network, X, **kwargs)

    monkeypatch.setattr(skvae._base, "train", recording_train)
    X = np.random.RandomState(0).normal(size=(50, 3)).astype(np.float32)
    VAETransformer(hidden_layer_sizes=(8,), max_iter=1, random_state=0).fit(X)
    assert seen == {"pointer": X.ctypes.data, "dtype": torch.float32}
    VAETransformer(hidden_layer_sizes=(8,), max_iter=1, random_state=0).fit(X.astype(np.float64))
    assert seen["dtype"] == torch.float32  # float32 training whatever the input dtype


def test_epoch_mean_weights_the_short_last_batch():
    losses = [torch.tensor(1.0), torch.tensor(2.0), torch.tensor(4.0)]
    assert epoch_mean(losses, n_rows=7, batch_size=3) == pytest.approx((3 + 6 + 4) / 7)


def test_make_optimizer_is_adam_with_the_fused_kernel():
    optimizer = make_optimizer(_network().parameters(), 0.01)
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.defaults["lr"] == 0.01
    assert optimizer.defaults["fused"] is True  # CPU has a fused Adam since torch 2.4


def test_each_epoch_visits_every_row_once_with_fresh_noise(monkeypatch):
    calls = []
    original_elbo = skvae._training.elbo

    def recording_elbo(vae, x, noise, kl_weight=1.0):
        calls.append((x.clone(), noise.clone()))
        return original_elbo(vae, x, noise, kl_weight)

    monkeypatch.setattr(skvae._training, "elbo", recording_elbo)
    monkeypatch.setattr(skvae._training, "NOISE_BLOCK_BATCHES", 2)  # several noise blocks
    X = torch.arange(30, dtype=torch.float32).reshape(10, 3)
    _train(_network(), X, max_iter=2, batch_size=4)
    assert [len(x) for x, _ in calls] == [4, 4, 2] * 2  # ceil(10 / 4) steps per epoch
    for epoch in range(2):
        rows = torch.cat([x for x, _ in calls[3 * epoch : 3 * epoch + 3]])
        assert sorted(rows[:, 0].tolist()) == X[:, 0].tolist()  # a permutation of X
    for x, noise in calls:
        assert noise.shape == (1, len(x), 2)
    all_noise = torch.cat([noise[0] for _, noise in calls])
    assert torch.unique(all_noise[:, 0]).numel() == all_noise.shape[0]  # no draw reused


def test_number_of_adam_steps_and_reproducible_loss(monkeypatch):
    optimizers = []
    original_make_optimizer = skvae._training.make_optimizer

    def recording_make_optimizer(parameters, learning_rate):
        optimizers.append(original_make_optimizer(parameters, learning_rate))
        return optimizers[-1]

    monkeypatch.setattr(skvae._training, "make_optimizer", recording_make_optimizer)
    X = torch.randn(37, 3, generator=torch.Generator().manual_seed(1))
    first, second = _network(), _network()
    history = _train(first, X, max_iter=3, batch_size=8)
    again = _train(second, X, max_iter=3, batch_size=8)
    (stepped,) = optimizers[0].param_groups[0]["params"]  # the one flat tensor
    assert stepped.numel() == sum(p.numel() for p in first.parameters())
    assert optimizers[0].state[stepped]["step"].item() == 3 * math.ceil(37 / 8)
    assert history.n_iter == 3
    assert history.loss_curve == again.loss_curve  # same generator, same numbers
    for a, b in zip(first.parameters(), second.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_epoch_loss_is_the_mean_negative_elbo_of_the_steps(monkeypatch):
    step_losses = []
    original_elbo = skvae._training.elbo

    def recording_elbo(vae, x, noise, kl_weight=1.0):
        value = original_elbo(vae, x, noise, kl_weight)
        step_losses.append((len(x), -value.mean().item()))
        return value

    monkeypatch.setattr(skvae._training, "elbo", recording_elbo)
    X = torch.randn(10, 3, generator=torch.Generator().manual_seed(2))
    history = _train(_network(), X, max_iter=1, batch_size=4)
    expected = sum(n * loss for n, loss in step_losses) / 10
    assert history.loss_curve == [pytest.approx(expected, rel=1e-6)]


def test_column_mean_std_in_chunks_matches_numpy(monkeypatch):
    monkeypatch.setattr(skvae._base, "_CHUNK_ELEMENTS", 40)  # 13 rows per chunk
    X = np.random.RandomState(0).normal(3.0, 2.0, size=(100, 3)).astype(np.float32)
    mean, std = skvae._base._column_mean_std(X)
    assert mean.dtype == std.dtype == np.float64
    np.testing.assert_allclose(mean, X.mean(axis=0, dtype=np.float64), rtol=1e-12)
    np.testing.assert_allclose(std, X.std(axis=0, dtype=np.float64), rtol=1e-12)


def test_flat_adam_is_the_same_update_as_adam_per_parameter():
    X = torch.randn(64, 3, generator=torch.Generator().manual_seed(3))
    noise = torch.randn(1, 64, 2, generator=torch.Generator().manual_seed(4))
    flat_net, plain_net = _network(), _network()
    flat = FlatAdam(flat_net, 0.01)
    plain = torch.optim.Adam(plain_net.parameters(), lr=0.01)
    for _ in range(5):
        for network, optimizer in ((flat_net, flat), (plain_net, plain)):
            optimizer.zero_grad()
            (-skvae._training.elbo(network, X, noise).mean()).backward()
            optimizer.step()
    flat.close()
    for a, b in zip(flat_net.parameters(), plain_net.parameters()):
        torch.testing.assert_close(a, b)  # fused kernel vs for-loop: float rounding only
    assert not torch.equal(flat_net.encoder.mean.weight, _network().encoder.mean.weight)


def test_flat_adam_close_gives_each_parameter_its_own_storage():
    network = _network()
    optimizer = FlatAdam(network, 0.01)
    storages = {p.untyped_storage().data_ptr() for p in network.parameters()}
    assert len(storages) == 1  # views of the flat tensor while training
    optimizer.close()
    storages = {p.untyped_storage().data_ptr() for p in network.parameters()}
    assert len(storages) == len(list(network.parameters()))
    assert all(p.grad is None and p.is_leaf and p.requires_grad for p in network.parameters())


def test_flat_adam_steps_large_networks_tensor_by_tensor(monkeypatch):
    network = _network()
    monkeypatch.setattr(skvae._training, "FLAT_MAX_PARAMETERS", 10)
    optimizer = FlatAdam(network, 0.01)
    assert optimizer.flat is None
    assert optimizer.optimizer.param_groups[0]["params"] == list(network.parameters())
    assert optimizer.optimizer.defaults["fused"] is True


def test_trimmed_mean_leaves_out_the_lowest_values():
    values = torch.tensor([5.0, -100.0, 1.0, 2.0, -50.0, 3.0, 4.0, 0.0, 6.0, 7.0])
    assert trimmed_mean(values, 0.0).item() == pytest.approx(values.mean().item())
    assert trimmed_mean(values, 0.2).item() == pytest.approx(3.5)  # -100 and -50 left out
    assert trimmed_mean(values, 0.15).item() == pytest.approx((values.sum().item() + 100) / 9)
    assert trimmed_mean(values[:5], 0.1).item() == pytest.approx(values[:5].mean().item())


def test_trimmed_training_ignores_the_worst_rows():
    # Two rows in eight are far off; with half of every batch of 4 trimmed
    # they never pull on the fit, so how far off they are does not matter.
    X = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    results = {}
    for trim_fraction in (0.0, 0.5):
        for shift in (30.0, 60.0):
            data = X.clone()
            data[::4] += shift
            network = _network()
            _train(network, data, max_iter=3, batch_size=4, trim_fraction=trim_fraction)
            params = torch.cat([p.detach().reshape(-1) for p in network.parameters()])
            results[trim_fraction, shift] = params.numpy()
    np.testing.assert_allclose(results[0.5, 30.0], results[0.5, 60.0], rtol=1e-6, atol=1e-7)
    assert np.abs(results[0.0, 30.0] - results[0.0, 60.0]).max() > 1e-3
