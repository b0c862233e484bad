"""The network contract (encoder, decoder, likelihood, prior), MLP and convolutional.

Fits of the convolutional estimators are in test_images.py.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

import skvae._inference
from skvae import VAETransformer
from skvae._likelihoods import BernoulliLikelihood
from skvae._networks import VAE, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder, build_vae
from skvae._objective import (
    elbo,
    expected_log_likelihood,
    expected_log_likelihood_per_feature,
)
from skvae._priors import gaussian_kl

IMAGE_SHAPES = [(1, 8, 8), (1, 28, 28), (3, 7, 5), (2, 1, 9), (1, 1, 1)]


def _built(n_features=6, latent_dim=3, hidden=(8,), likelihood="gaussian", image_shape=None):
    """A VAE built as the estimators build it: on the meta device, then initialised."""
    with torch.device("meta"):
        vae = build_vae(n_features, latent_dim, hidden, "relu", likelihood, 1e-3, image_shape)
    return vae


def _initialised(*args, seed=0, **kwargs):
    vae = _built(*args, **kwargs).to_empty(device="cpu")
    vae.reset_parameters(torch.Generator().manual_seed(seed))
    return vae


# ------------------------------------------------------------ the contract
def test_a_vae_pickled_before_the_mask_model_unpickles_as_ignorable():
    import pickle

    vae = _initialised()
    del vae.missingness  # as a VAE pickled before the attribute existed
    restored = pickle.loads(pickle.dumps(vae))
    assert restored.missingness is None
    assert set(restored._parts()) == {"encoder", "decoder", "likelihood", "prior"}


def test_a_parameter_no_part_owns_is_refused():
    vae = _built()
    with torch.device("meta"):
        vae.probe = nn.Conv2d(1, 4, 3)  # not in the encoder, decoder or likelihood
    vae = vae.to_empty(device="cpu")
    with pytest.raises(RuntimeError, match=r"probe\.weight.*belong to none"):
        vae.reset_parameters(torch.Generator().manual_seed(0))


def test_a_layer_a_part_cannot_initialise_is_refused():
    vae = _built()
    with torch.device("meta"):
        vae.encoder.norm = nn.LayerNorm(8)
    vae = vae.to_empty(device="cpu")
    with pytest.raises(TypeError, match="LayerNorm layer 'norm' of MLPEncoder"):
        vae.reset_parameters(torch.Generator().manual_seed(0))


def test_a_part_that_skips_a_parameter_is_caught():
    class LazyEncoder(MLPEncoder):
        def reset_parameters(self, generator):
            pass  # forgets every parameter

    encoder = LazyEncoder(4, (), 2, "relu")
    vae = VAE(encoder, MLPDecoder(2, (), 4, "relu"), BernoulliLikelihood())
    with pytest.raises(RuntimeError, match=r"left \['encoder\.mean\.weight'.*uninitialised"):
        vae.reset_parameters(torch.Generator().manual_seed(0))


def test_convolutions_added_to_a_part_are_initialised_from_the_generator():
    # The bug this contract fixes: a Conv2d added to a network built on the
    # meta device kept uninitialised memory. Inside a part it is now
    # initialised by PyTorch's scheme, from the generator.
    vae = _built()
    with torch.device("meta"):
        vae.encoder.probe = nn.Conv2d(3, 16, 5)
    vae = vae.to_empty(device="cpu")
    vae.reset_parameters(torch.Generator().manual_seed(0))
    weight, bias = vae.encoder.probe.weight, vae.encoder.probe.bias
    bound = 1 / math.sqrt(3 * 5 * 5)  # Kaiming-uniform with a = sqrt(5): U(-b, b)
    assert weight.abs().max() <= bound and bias.abs().max() <= bound
    assert abs(weight.std().item() - bound / math.sqrt(3)) < 0.1 * bound
    again = _built()
    with torch.device("meta"):
        again.encoder.probe = nn.Conv2d(3, 16, 5)
    again = again.to_empty(device="cpu")
    again.reset_parameters(torch.Generator().manual_seed(0))
    assert torch.equal(again.encoder.probe.weight, weight)


@pytest.mark.parametrize("image_shape", [None, (1, 8, 8)])
def test_same_seed_same_weights_other_seed_other_weights(image_shape):
    n = 64 if image_shape else 6
    first = _initialised(n, image_shape=image_shape, seed=1).state_dict()
    second = _initialised(n, image_shape=image_shape, seed=1).state_dict()
    third = _initialised(n, image_shape=image_shape, seed=2).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert all(t.isfinite().all() for t in first.values())
    weights = [k for k in first if k.endswith("weight")]
    assert all(not torch.equal(first[k], third[k]) for k in weights)
    layers = [type(m) for m in _built(n, image_shape=image_shape).modules()]
    assert (nn.ConvTranspose2d in layers) == (image_shape is not None)


def test_likelihood_terms_are_per_feature_and_the_elbo_sums_them():
    for likelihood, hidden in [("gaussian", ()), ("gaussian", (8,)), ("bernoulli", (8,))]:
        vae = _initialised(likelihood=likelihood, hidden=hidden)
        x = torch.rand(5, 6, generator=torch.Generator().manual_seed(0))
        noise = torch.randn(4, 1, 3, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            assert vae.likelihood.log_prob(x, vae.decode(noise)).shape == (4, 5, 6)
            x_transformed = vae.likelihood.transform(x)
            mean, log_var = vae.encode(x)
            terms = expected_log_likelihood_per_feature(vae, x_transformed, mean, log_var, noise)
            assert terms.shape == (5, 6)
            summed = expected_log_likelihood(vae, x_transformed, mean, log_var, noise)
            torch.testing.assert_close(summed, terms.sum(-1))
            expected = terms.sum(-1) - gaussian_kl(mean, log_var)
            torch.testing.assert_close(elbo(vae, x, noise), expected)


def test_affine_weight_and_the_closed_form():
    linear = _initialised(hidden=())
    weight = linear.affine_weight()
    assert weight.shape == (6, 3)
    jacobian = torch.autograd.functional.jacobian(linear.decode, torch.zeros(3))
    torch.testing.assert_close(jacobian, weight.detach())
    assert linear.has_closed_form_reconstruction
    assert not _initialised(hidden=(), likelihood="bernoulli").has_closed_form_reconstruction
    assert _initialised(hidden=(8,)).affine_weight() is None
    assert _initialised(64, hidden=(), image_shape=(1, 8, 8)).affine_weight() is None


def test_posterior_log_variance_passes_through_one_place(monkeypatch):
    vae = _initialised()
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(VAE, "_posterior_log_var", staticmethod(lambda v: torch.full_like(v, -3.0)))
    with torch.no_grad():
        mean, log_var = vae.encode(x)
        assert torch.equal(log_var, torch.full((4, 3), -3.0))
        kl = gaussian_kl(mean, log_var)
        # With one zero draw z = mean, so the ELBO sees the replaced variance only in the KL.
        got = elbo(vae, x, torch.zeros(1, 1, 3))
        decoded = vae.decode(mean)
        reconstruction = vae.likelihood.log_prob(vae.likelihood.transform(x), decoded).sum(-1)
    torch.testing.assert_close(got, reconstruction - kl)


def _widest_measured(vae, x):
    """The most elements per row of any layer's output, or of the input, in one pass."""
    widest = [x.shape[-1]]

    def record(module, inputs, output):
        for tensor in output if isinstance(output, tuple) else (output,):
            widest.append(tensor.numel() // x.shape[0])

    hooks = [m.register_forward_hook(record) for m in vae.modules() if not list(m.children())]
    with torch.no_grad():
        vae.decode(vae.encode(x)[0])
    for hook in hooks:
        hook.remove()
    return max(widest)


@pytest.mark.parametrize("image_shape", [None, *IMAGE_SHAPES])
def test_activation_elements_per_row_is_the_widest_tensor(image_shape):
    n_features = 6 if image_shape is None else math.prod(image_shape)
    vae = _initialised(n_features, hidden=(16,), image_shape=image_shape)
    x = torch.randn(3, n_features, generator=torch.Generator().manual_seed(0))
    assert vae.activation_elements_per_row() == _widest_measured(vae, x)


def test_mnist_sized_conv_reports_its_full_resolution_feature_map():
    vae = _built(784, 16, hidden=(), image_shape=(1, 28, 28))
    assert vae.activation_elements_per_row() == 32 * 28 * 28  # the decoder's last 32-channel map


def test_chunk_rows_asks_the_network(monkeypatch):
    X = np.random.RandomState(0).normal(size=(50, 4))
    vae = VAETransformer(2, hidden_layer_sizes=(3,), max_iter=1, random_state=0).fit(X)
    assert vae._chunk_rows() == skvae._inference.CHUNK_ELEMENTS // 4
    monkeypatch.setattr(vae.network_, "activation_elements_per_row", lambda: 1000)
    assert vae._chunk_rows() == skvae._inference.CHUNK_ELEMENTS // 1000
    assert vae._chunk_rows(n_draws=8) == skvae._inference.CHUNK_ELEMENTS // 8000


# ---------------------------------------------------- convolutional shapes
@pytest.mark.parametrize("image_shape", IMAGE_SHAPES)
def test_conv_networks_map_every_image_size_back_to_itself(image_shape):
    n_features = math.prod(image_shape)
    vae = _initialised(n_features, 5, hidden=(16,), image_shape=image_shape)
    assert isinstance(vae.encoder, ConvEncoder) and isinstance(vae.decoder, ConvDecoder)
    x = torch.randn(4, n_features, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mean, log_var = vae.encode(x)
        assert mean.shape == log_var.shape == (4, 5)
        assert vae.decode(mean).shape == (4, n_features)
        assert vae.decode(torch.zeros(7, 4, 5)).shape == (7, 4, n_features)  # draws x rows
        assert elbo(vae, x, torch.randn(3, 1, 5)).shape == (4,)
        images = vae.decoder.deconvs(torch.zeros(1, 64, *vae.decoder._grid[-1]))
    assert images.shape == (1, *image_shape)  # exact, no crop


def test_conv_reads_rows_as_c_order_images():
    # A pixel influences only the latent code through a local receptive
    # field: changing the last pixel of a 28 x 28 image leaves the first
    # conv layer's top-left output untouched.
    vae = _initialised(784, 4, hidden=(), image_shape=(1, 28, 28))
    x = torch.zeros(1, 784)
    bumped = x.clone()
    bumped[0, -1] = 10.0  # pixel (27, 27)
    with torch.no_grad():
        first = vae.encoder.convs[0]
        a = first(x.reshape(1, 1, 28, 28))
        b = first(bumped.reshape(1, 1, 28, 28))
    assert torch.equal(a[..., :13, :13], b[..., :13, :13])
    assert not torch.equal(a[..., 13, 13], b[..., 13, 13])


def test_the_log_variance_bound_is_the_identity_inside_and_smooth_and_finite_beyond():
    from skvae._networks import LOG_VAR_MARGIN, LOG_VAR_MAX, LOG_VAR_MIN, bound_log_var

    lower, upper = LOG_VAR_MIN + LOG_VAR_MARGIN, LOG_VAR_MAX - LOG_VAR_MARGIN
    inside = torch.linspace(lower, upper, 10_001)
    assert torch.equal(bound_log_var(inside), inside)  # bit for bit
    x = torch.linspace(-1e3, 1e3, 200_001, requires_grad=True)
    bounded = bound_log_var(x)
    bounded.sum().backward()
    assert bounded.min() >= LOG_VAR_MIN and bounded.max() <= LOG_VAR_MAX  # float32 saturates
    assert torch.all(bounded[1:] >= bounded[:-1])  # monotone
    outside = (x < lower) | (x > upper)
    assert torch.all(x.grad[~outside] == 1.0)
    assert torch.all((x.grad[outside] >= 0) & (x.grad[outside] <= 1.0))
    near = outside & (x > lower - LOG_VAR_MARGIN) & (x < upper + LOG_VAR_MARGIN)
    assert torch.all(x.grad[near] > 0.4)  # bends gently: no abrupt flat gradient
    # The slope is continuous at the edges: just beyond them it is still about 1.
    edges = torch.tensor([lower - 1e-3, upper + 1e-3], requires_grad=True)
    bound_log_var(edges).sum().backward()
    assert torch.allclose(edges.grad, torch.ones(2), atol=1e-5)
    infinite = bound_log_var(torch.tensor([-math.inf, math.inf]))
    assert torch.equal(infinite, torch.tensor([LOG_VAR_MIN, LOG_VAR_MAX]))
