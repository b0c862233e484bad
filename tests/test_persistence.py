"""skvae.save / skvae.load: data-only model files, versioned and checksummed."""

import copy
import json
import os
import pickle
import struct

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LinearRegression

import skvae
import skvae._base
from skvae import VAEOutlierDetector, VAETransformer
from skvae._persistence import FORMAT_VERSION, _checksum

DATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return rng.normal(size=(150, 5)) @ rng.normal(size=(5, 5))


@pytest.fixture(scope="module")
def fitted(data):
    return VAETransformer(
        latent_dim=2, hidden_layer_sizes=(16, 8), max_iter=5, random_state=0
    ).fit(data)


def _outputs(estimator, X):
    out = {
        "score_samples": estimator.score_samples(X),
        "log_likelihood": estimator.log_likelihood(X, n_importance_samples=4),
    }
    if hasattr(estimator, "transform"):
        Z = estimator.transform(X)
        out.update(
            transform=Z,
            inverse_transform=estimator.inverse_transform(Z),
            sample=estimator.sample(5, random_state=0),
        )
    if hasattr(estimator, "predict"):
        out.update(predict=estimator.predict(X), decision=estimator.decision_function(X))
    return out


def _assert_same_model(loaded, original, X):
    assert type(loaded) is type(original)
    assert loaded.get_params() == original.get_params()
    for name, value in vars(original).items():
        if name.endswith("_") and name != "network_":
            np.testing.assert_equal(getattr(loaded, name), value, err_msg=name)
    a, b = _outputs(loaded, X), _outputs(original, X)
    for name in b:
        assert a[name].dtype == b[name].dtype, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _rewrite(path, change):
    """Edit the JSON document of a model file, re-signing it as the saver would."""
    data = open(path, "rb").read()
    (size,) = struct.unpack("<Q", data[:8])
    document = json.loads(json.loads(data[8 : 8 + size])["__metadata__"]["skvae"])
    tensors = load_tensors(data)
    change(document)
    document["sha256"] = _checksum(document, tensors)
    with open(path, "wb") as file:
        file.write(save_tensors(tensors, metadata={"skvae": json.dumps(document)}))


def _written_before(path, fitted, keys):
    """The model saved at ``path`` as a file and a pickle from before ``keys`` existed.

    The file loses the keys of its first column block; the pickle's first
    likelihood part and block lose the attributes that have a class default
    (what an older pickle, which never set them, reads).
    """
    def as_old(document):
        for key in keys:
            document["columns"]["blocks"][0].pop(key)

    _rewrite(path, as_old)
    old_pickle = pickle.loads(pickle.dumps(fitted))
    for old in (old_pickle.network_.likelihood.parts[0], old_pickle._columns.blocks[0]):
        for key in keys:
            if hasattr(type(old), key):
                delattr(old, key)
    return skvae.load(path), old_pickle


# ------------------------------------------------------------- round trips
@pytest.mark.parametrize(
    "params",
    [
        {"hidden_layer_sizes": (16, 8)},
        {"hidden_layer_sizes": (), "latent_dim": 3},
        {"hidden_layer_sizes": [12], "likelihood": "bernoulli", "early_stopping": True},
        {"hidden_layer_sizes": (16, 8), "gaussian_variance": "row"},
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_gives_the_same_estimator_bit_for_bit(tmp_path, data, params, dtype):
    X = data.astype(dtype)
    if params.get("likelihood") == "bernoulli":
        X = (X > 0).astype(dtype)
    original = VAETransformer(max_iter=4, random_state=0, **params).fit(X)
    path = tmp_path / "model.safetensors"
    skvae.save(original, path)
    loaded = skvae.load(path)
    _assert_same_model(loaded, original, X)
    assert loaded.training_dtype_ == np.dtype(dtype)
    assert isinstance(loaded.get_params()["hidden_layer_sizes"], type(params["hidden_layer_sizes"]))
    assert list(tmp_path.iterdir()) == [path]  # written atomically: no temporary left


def test_a_per_row_variance_table_model_round_trips(tmp_path):
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({
        "height": rng.normal(170, 10, 120),
        "spend": np.exp(rng.normal(3, 1, 120)),
        "kind": pd.Categorical(rng.choice(["a", "b"], 120)),
    })
    likelihood = {"spend": "lognormal"}
    original = VAETransformer(
        hidden_layer_sizes=(8,), max_iter=3, likelihood=likelihood, gaussian_variance="row",
        random_state=0,
    ).fit(frame)
    assert original.network_.likelihood.n_outputs == 2 + 2 + 2  # mean and variance, 2 logits
    blocks = original._columns.to_json()["blocks"]
    assert {b["likelihood"]: b.get("variance") for b in blocks} == {
        "gaussian": "row", "lognormal": "row", "categorical": None}
    path = tmp_path / "model.safetensors"
    skvae.save(original, path)
    loaded = skvae.load(path)
    assert loaded.gaussian_variance == "row"
    for copy_ in (loaded, pickle.loads(pickle.dumps(original))):
        np.testing.assert_array_equal(copy_.score_samples(frame), original.score_samples(frame))
        pd.testing.assert_frame_equal(
            copy_.sample(4, random_state=0), original.sample(4, random_state=0))


def test_a_per_column_model_writes_no_variance_key(fitted):
    assert all("variance" not in block for block in fitted._columns.to_json()["blocks"])


def test_the_encoder_input_bound_is_saved_and_older_models_read_unbounded(tmp_path, data):
    # Column 2 is near-constant (one value in most rows): its encoder input is
    # bounded, the others' are not.
    X = data.copy()
    X[:, 2] = np.where(np.arange(len(X)) % 10 == 0, 1.0, 0.0)
    fitted = VAETransformer(
        latent_dim=2, hidden_layer_sizes=(16, 8), max_iter=5, random_state=0
    ).fit(X)
    block = fitted._columns.to_json()["blocks"][0]
    assert (block["input_bound"], block["bounded"]) == (3.0, [2])
    path = tmp_path / "m.safetensors"
    skvae.save(fitted, path)
    loaded = skvae.load(path)
    assert loaded.network_.likelihood.parts[0].bounded == [2]
    far = X.copy()
    far[:, 2] = 1e3
    far_codes = np.abs(fitted.transform(far)).max()
    np.testing.assert_array_equal(loaded.transform(far), fitted.transform(far))
    # Files and pickles written before the bound existed have no such keys or
    # attributes: they keep reading the standardised values unbounded.
    old_file, old_pickle = _written_before(path, fitted, ("input_bound", "bounded"))
    for old in (old_file, old_pickle):
        assert old.network_.likelihood.parts[0].input_bound is None
        assert np.abs(old.transform(far)).max() > 10 * far_codes
    for method in ("transform", "score_samples"):
        np.testing.assert_array_equal(getattr(old_file, method)(X), getattr(old_pickle, method)(X))


def test_the_constant_columns_are_saved_and_older_models_learn_them(tmp_path, data):
    X = data.copy()
    X[:, 3] = 7.5  # one value in every training row: fixed at it, at the variance floor
    fitted = VAETransformer(
        latent_dim=2, hidden_layer_sizes=(16, 8), max_iter=5, random_state=0
    ).fit(X)
    assert fitted._columns.to_json()["blocks"][0]["constant"] == [3]
    path = tmp_path / "m.safetensors"
    skvae.save(fitted, path)
    loaded = skvae.load(path)
    assert loaded.network_.likelihood.parts[0].constant == [3]
    _assert_same_model(loaded, fitted, X)
    # Files and pickles written before had no such key or attribute: the
    # column's mean and variance are the decoder's and the learnt ones.
    old_file, old_pickle = _written_before(path, fitted, ("constant",))
    for old in (old_file, old_pickle):
        assert old.network_.likelihood.parts[0].constant is None
        assert np.all(old.inverse_transform(old.transform(X))[:, 3] != 7.5)
    for method in ("transform", "score_samples"):
        np.testing.assert_array_equal(getattr(old_file, method)(X), getattr(old_pickle, method)(X))


def test_feature_names_survive(tmp_path, data):
    frame = pd.DataFrame(data, columns=[f"f{i}" for i in range(5)])
    original = VAETransformer(max_iter=3, random_state=0).fit(frame)
    skvae.save(original, tmp_path / "m.safetensors")
    loaded = skvae.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(loaded.feature_names_in_, original.feature_names_in_)
    assert loaded.feature_names_in_.dtype == object
    np.testing.assert_array_equal(loaded.transform(frame), original.transform(frame))
    with pytest.raises(ValueError, match="feature names"):
        loaded.transform(frame[frame.columns[::-1]])


def test_loaded_model_can_be_refitted(tmp_path, fitted, data):
    skvae.save(fitted, tmp_path / "m.safetensors")
    loaded = skvae.load(tmp_path / "m.safetensors")
    refit = loaded.fit(data)
    assert refit.n_iter_ == fitted.n_iter_  # the same parameters, the same fit
    np.testing.assert_array_equal(refit.transform(data), fitted.transform(data))


def test_loaded_model_continues_training_with_partial_fit(tmp_path, fitted, data):
    skvae.save(fitted, tmp_path / "m.safetensors")
    loaded = skvae.load(tmp_path / "m.safetensors")
    before = loaded.score(data)
    for _ in range(3):
        loaded.partial_fit(data)  # a fresh Adam, the saved weights
    assert loaded.n_iter_ == fitted.n_iter_ + 3
    assert np.isfinite(loaded.score(data)) and abs(loaded.score(data) - before) < abs(before)


def test_detector_round_trip(tmp_path, data):
    detector = VAEOutlierDetector(max_iter=4, random_state=0).fit(data)
    skvae.save(detector, tmp_path / "d.safetensors")
    _assert_same_model(skvae.load(tmp_path / "d.safetensors"), detector, data * 3)



def test_large_fitted_arrays_are_stored_as_tensors_not_json(tmp_path):
    # The detector keeps its training rows for the neighbour term: 3,000 values
    # here, 100 MB of JSON for a few hundred thousand rows (over safetensors'
    # cap on metadata), so they go into the file as a tensor.
    X = np.random.RandomState(0).normal(size=(600, 5))
    detector = VAEOutlierDetector(max_iter=2, random_state=0).fit(X)
    path = tmp_path / "d.safetensors"
    skvae.save(detector, path)
    raw = open(path, "rb").read()
    header = json.loads(raw[8 : 8 + struct.unpack("<Q", raw[:8])[0]])
    fitted = json.loads(header["__metadata__"]["skvae"])["fitted"]
    assert fitted["neighbor_rows_"] == {"__tensor__": "fitted.neighbor_rows_", "dtype": "<f8"}
    assert "fitted.neighbor_rows_" in header and len(header["__metadata__"]["skvae"]) < 20_000
    loaded = skvae.load(path)
    assert loaded.neighbor_rows_.dtype == np.float64
    _assert_same_model(loaded, detector, X * 3)
    # A big-endian array comes back with its byte order and values.
    detector.neighbor_rows_ = detector.neighbor_rows_.astype(">f8")
    skvae.save(detector, path)
    back = skvae.load(path).neighbor_rows_
    assert back.dtype == np.dtype(">f8")
    np.testing.assert_array_equal(back, detector.neighbor_rows_)


def test_a_version_1_file_still_loads():
    # The committed MNIST model was written in format version 1 (every fitted
    # array as JSON).
    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "results",
                        "binarized_mnist_vae.safetensors")
    raw = open(path, "rb").read()
    header = json.loads(raw[8 : 8 + struct.unpack("<Q", raw[:8])[0]])
    assert json.loads(header["__metadata__"]["skvae"])["format_version"] == 1
    vae = skvae.load(path)
    X = np.random.RandomState(0).binomial(1, 0.2, size=(3, 784)).astype(np.float64)
    assert vae.transform(X).shape == (3, 50) and np.all(np.isfinite(vae.score_samples(X)))
    # It scores as the skvae that wrote it did: outputs recorded with the code of
    # format 2 (before the likelihood owned its standardisation). To float32
    # rounding, not bit for bit: another CPU sums a matrix product in another
    # order (one ulp of a 784-pixel score differs between two of our machines).
    recorded = np.load(os.path.join(DATA, "mnist_format1_outputs.npz"))
    np.testing.assert_allclose(vae.score_samples(X), recorded["score_samples"], rtol=1e-6)
    np.testing.assert_allclose(vae.transform(X), recorded["transform"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vae.log_likelihood(X, 8), recorded["log_likelihood"], rtol=1e-6)


def test_a_version_2_gaussian_file_loads_and_scores_as_before():
    # Files of format 2 kept the standardisation as the VAE's input_shift and
    # input_scale; they load into the likelihood that owns it now. Written,
    # with the outputs, by the code of format 2 on the raw wine features.
    X = load_wine().data
    recorded = np.load(os.path.join(DATA, "wine_format2_outputs.npz"))
    vae = skvae.load(os.path.join(DATA, "wine_vae_format2.safetensors"))
    detector = skvae.load(os.path.join(DATA, "wine_detector_format2.safetensors"))
    # Up to float32 rounding, which differs between CPUs (as for version 1).
    np.testing.assert_allclose(vae.transform(X), recorded["transform"], rtol=1e-5, atol=1e-6)
    # The Jacobian of the standardisation is now added per column instead of
    # once per row: the same sum, rounded differently in float32.
    for got, name in [
        (vae.score_samples(X), "score_samples"),
        (vae.log_likelihood(X, 8), "log_likelihood"),
        (detector.score_samples(X), "detector_scores"),
        (detector.score_features(X), "detector_features"),
    ]:
        np.testing.assert_allclose(got, recorded[name], rtol=1e-6, atol=1e-4, err_msg=name)
    # The column description and the likelihood hold the same standardisation.
    shift, scale = vae._columns.location_scale()
    gaussian = vae.network_.likelihood.parts[0]
    np.testing.assert_array_equal(shift, gaussian.shift.double().numpy())
    np.testing.assert_array_equal(scale, gaussian.scale.double().numpy())
    assert scale.min() < 0.2 and scale.max() > 100  # the raw wine features' spread


def test_a_resaved_old_file_is_of_todays_format_and_reads_back_the_same(tmp_path):
    X = load_wine().data
    old = skvae.load(os.path.join(DATA, "wine_vae_format2.safetensors"))
    skvae.save(old, tmp_path / "again.safetensors")
    raw = open(tmp_path / "again.safetensors", "rb").read()
    header = json.loads(raw[8 : 8 + struct.unpack("<Q", raw[:8])[0]])
    document = json.loads(header["__metadata__"]["skvae"])
    assert document["format_version"] == FORMAT_VERSION == 4
    assert [block["likelihood"] for block in document["columns"]["blocks"]] == ["gaussian"]
    again = skvae.load(tmp_path / "again.safetensors")
    for method in ("transform", "score_samples"):
        np.testing.assert_array_equal(getattr(again, method)(X), getattr(old, method)(X))

def test_a_version_3_file_without_table_facts_still_loads(tmp_path, fitted, data):
    # Format 3 described the columns by their blocks alone: no names, dtypes
    # or training ranges (and no dict-valued likelihood).
    path = tmp_path / "m.safetensors"
    skvae.save(fitted, path)

    def as_version_3(document):
        document["format_version"] = 3
        for key in ("names", "library", "dtypes", "minimum", "maximum"):
            document["columns"].pop(key, None)

    _rewrite(path, as_version_3)
    loaded = skvae.load(path)
    for name, value in _outputs(loaded, data).items():
        np.testing.assert_array_equal(value, _outputs(fitted, data)[name], err_msg=name)


# ------------------------------------------------------ no code is unpickled
def test_load_never_unpickles(tmp_path, fitted, data, monkeypatch):
    path = tmp_path / "m.safetensors"
    skvae.save(fitted, path)

    def forbidden(*args, **kwargs):
        raise AssertionError("load must not unpickle")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    loaded = skvae.load(path)
    np.testing.assert_array_equal(loaded.transform(data), fitted.transform(data))
    # The file is a safetensors file: a JSON header, then raw tensor bytes.
    raw = open(path, "rb").read()
    header = json.loads(raw[8 : 8 + struct.unpack("<Q", raw[:8])[0]])
    assert json.loads(header["__metadata__"]["skvae"])["format_version"] == FORMAT_VERSION


def test_pickle_and_joblib_still_work(tmp_path, fitted, data):
    joblib.dump(fitted, tmp_path / "m.joblib")
    again = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(again.score_samples(data), fitted.score_samples(data))
    assert pickle.loads(pickle.dumps(fitted)).n_iter_ == fitted.n_iter_


# ------------------------------------------------------ devices
def test_model_trained_for_cuda_loads_on_a_cpu_only_machine(tmp_path, fitted, data, monkeypatch):
    # A model fitted with device="cuda": its parameter says so; save() maps
    # every tensor to the CPU, and load() builds the network on the CPU.
    on_gpu = VAETransformer(**{**fitted.get_params(), "device": "cuda"})
    fitted_state = {k: v for k, v in vars(fitted).items() if k.endswith("_") or k == "_columns"}
    on_gpu.__dict__.update(fitted_state)
    skvae.save(on_gpu, tmp_path / "gpu.safetensors")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = skvae.load(tmp_path / "gpu.safetensors")
    assert loaded.device == "cuda"
    assert all(t.device.type == "cpu" for t in loaded.network_.state_dict().values())
    np.testing.assert_array_equal(loaded.score_samples(data), fitted.score_samples(data))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fit_saves_and_loads_on_cpu(tmp_path, data):
    vae = VAETransformer(max_iter=3, device="cuda", random_state=0).fit(data)
    skvae.save(vae, tmp_path / "gpu.safetensors")
    loaded = skvae.load(tmp_path / "gpu.safetensors")
    assert loaded._device().type == "cpu"
    np.testing.assert_allclose(loaded.transform(data), vae.transform(data), rtol=1e-4, atol=1e-5)
    assert skvae.load(tmp_path / "gpu.safetensors", device="cuda")._device().type == "cuda"


def _all_on_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.device.type == "cpu"
    if isinstance(value, dict):
        return all(_all_on_cpu(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return all(_all_on_cpu(item) for item in value)
    return True


def _warm_started(model, X, epochs=2):
    model = copy.deepcopy(model).set_params(warm_start=True, max_iter=epochs)
    with pytest.warns(ConvergenceWarning):
        return model.fit(X)


def test_a_pickled_gpu_model_continues_training_on_the_cpu(data, monkeypatch):
    # What pickling does with a model on a GPU, shown on the CPU: pretend the
    # network is elsewhere, so __getstate__ takes its GPU path. The training
    # state (Adam's moments, best and last-iterate weights) goes to the CPU
    # with the weights; the GPU generator's state, which a CPU generator
    # cannot take, becomes a seed derived from it.
    model = VAETransformer(
        latent_dim=2, hidden_layer_sizes=(16, 8), max_iter=5, early_stopping=True, random_state=0
    )
    with pytest.warns(ConvergenceWarning):
        model.fit(data)
    state = model._training_state
    assert state.best_state is not None and state.training_weights is not None
    monkeypatch.setattr(skvae._base, "_on_cpu", lambda network: False)
    restored = pickle.loads(pickle.dumps(model))
    monkeypatch.undo()
    restored_state = restored._training_state
    assert restored_state.generator_state is None
    assert isinstance(restored_state.fallback_seed, int)
    for name in ("optimizer_state", "best_state", "training_weights"):
        assert _all_on_cpu(getattr(restored_state, name)), name
    np.testing.assert_array_equal(restored.transform(data), model.transform(data))
    first, second = _warm_started(restored, data), _warm_started(restored, data)
    assert first.n_iter_ == model.n_iter_ + 2
    np.testing.assert_array_equal(first.transform(data), second.transform(data))  # reproducible
    assert not np.array_equal(first.transform(data), model.transform(data))  # it trained on
    # Adam went on from its saved moments, not from scratch: a fresh optimiser
    # on the same weights takes different steps.
    fresh = copy.deepcopy(restored)
    fresh._training_state.optimizer_state = None
    assert not np.array_equal(_warm_started(fresh, data).transform(data), first.transform(data))


def test_warm_start_uses_the_current_n_threads(data):
    vae = VAETransformer(latent_dim=2, max_iter=2, n_threads=1, random_state=0)
    with pytest.warns(ConvergenceWarning):
        vae.fit(data)
    assert vae.n_threads_ == 1
    with pytest.warns(ConvergenceWarning):
        vae.set_params(warm_start=True, n_threads=2).fit(data)
    assert vae.n_threads_ == 2


# --------------------------------------------------- damaged or foreign files
@pytest.mark.parametrize("keep", [0, 5, 8, 100, 0.5, -1])
def test_truncated_file_fails_clearly(tmp_path, fitted, keep):
    path = tmp_path / "m.safetensors"
    skvae.save(fitted, path)
    data = open(path, "rb").read()
    cut = int(keep * len(data)) if isinstance(keep, float) else keep % len(data)
    path.write_bytes(data[:cut])
    with pytest.raises(ValueError, match="not a readable skvae model file"):
        skvae.load(path)


def test_changed_weights_fail_the_checksum(tmp_path, fitted):
    path = tmp_path / "m.safetensors"
    skvae.save(fitted, path)
    data = bytearray(open(path, "rb").read())
    data[-3] ^= 0x01  # one bit of one weight
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        skvae.load(path)


def test_changed_metadata_fails_the_checksum(tmp_path, fitted):
    path = tmp_path / "m.safetensors"
    skvae.save(fitted, path)
    data = open(path, "rb").read()
    tampered = data.replace(b'\\"n_iter_\\": 5', b'\\"n_iter_\\": 6')
    assert tampered != data
    path.write_bytes(tampered)
    with pytest.raises(ValueError, match="checksum"):
        skvae.load(path)


def test_only_skvae_classes_are_loaded(tmp_path, fitted):
    path = tmp_path / "m.safetensors"
    skvae.save(fitted, path)
    _rewrite(path, lambda document: document.update({"class": "os.system"}))
    with pytest.raises(ValueError, match="names class 'os.system'"):
        skvae.load(path)


def test_unexpected_attribute_is_refused(tmp_path, fitted):
    path = tmp_path / "m.safetensors"
    skvae.save(fitted, path)
    _rewrite(path, lambda document: document["fitted"].update({"__class__": 1}))
    with pytest.raises(ValueError, match="unexpected attribute"):
        skvae.load(path)


def test_a_newer_format_says_which_version_it_needs(tmp_path, fitted):
    path = tmp_path / "m.safetensors"
    skvae.save(fitted, path)
    _rewrite(path, lambda document: document.update({"format_version": FORMAT_VERSION + 1}))
    with pytest.raises(ValueError, match=f"version {FORMAT_VERSION + 1}.*Upgrade skvae"):
        skvae.load(path)


def test_an_older_format_says_which_versions_are_read(tmp_path, fitted):
    path = tmp_path / "m.safetensors"
    skvae.save(fitted, path)
    _rewrite(path, lambda document: document.update({"format_version": 0}))
    with pytest.raises(ValueError, match=f"version 0 .*reads versions 1 to {FORMAT_VERSION}"):
        skvae.load(path)


def test_a_parameter_from_a_newer_skvae_is_named(tmp_path, fitted):
    path = tmp_path / "m.safetensors"
    skvae.save(fitted, path)
    _rewrite(path, lambda document: document["params"].update({"future_option": 1}))
    with pytest.raises(ValueError, match="future_option"):
        skvae.load(path)


def test_a_file_that_is_not_a_model(tmp_path):
    path = tmp_path / "other.safetensors"
    path.write_bytes(save_tensors({"w": torch.zeros(2)}))
    with pytest.raises(ValueError, match="not a readable skvae model file"):
        skvae.load(path)
    path.write_bytes(b"hello world, this is not a model file at all")
    with pytest.raises(ValueError, match="not a readable skvae model file"):
        skvae.load(path)


# ------------------------------------------------------ what save refuses
def test_save_needs_a_fitted_skvae_estimator(tmp_path, data):
    with pytest.raises(NotFittedError):
        skvae.save(VAETransformer(), tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match="skvae's estimators"):
        skvae.save(LinearRegression().fit(data, data[:, 0]), tmp_path / "m.safetensors")
    assert not os.listdir(tmp_path)


def test_random_state_instance_is_saved_as_none(tmp_path, data):
    vae = VAETransformer(max_iter=2, random_state=np.random.RandomState(0)).fit(data)
    with pytest.warns(UserWarning, match="RandomState"):
        skvae.save(vae, tmp_path / "m.safetensors")
    assert skvae.load(tmp_path / "m.safetensors").random_state is None


def test_thread_count_is_the_loading_machines(tmp_path, fitted, data, monkeypatch):
    path = tmp_path / "m.safetensors"
    skvae.save(copy.deepcopy(fitted).set_params(n_threads=-1), path)
    monkeypatch.setattr("skvae._threads.cpu_count", lambda: 3)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    loaded = skvae.load(path)
    assert loaded.n_threads_ == 3  # resolved here, not copied from the saving machine
    assert np.isfinite(loaded.score(data))
