"""Save and load fitted estimators as data: safetensors weights plus JSON, no pickle.

A saved model is one safetensors file. Its tensors are the network's state
dict (on the CPU); its metadata holds one JSON document under the key
``"skvae"`` with the format version, the skvae version that wrote it, the
estimator's class name, its parameters, its fitted attributes (everything
public that ends with an underscore, except the network) and a SHA-256
checksum of all of this and of the weights, and the column description
(``_columns``: each block of columns with its likelihood and fitted
statistics, and for a table its column names, dtypes, categories and
training ranges, so that a loaded model gives back DataFrames of the same
dtypes). Fitted numeric arrays of more
than ``_INLINE_ELEMENTS`` values (the detector's training rows for its
neighbour term) are stored as tensors named ``fitted.<attribute>``, not as
JSON text: safetensors caps its metadata at 100 MB, and binary is exact
and compact. Loading parses JSON and raw
tensor bytes only: it never runs code from the file, unlike ``pickle`` or
``joblib.load``, so a model file from an untrusted source cannot execute
anything. The class is looked up in a fixed list of skvae's estimators and
the network is rebuilt from the parameters, then filled with
``load_state_dict(strict=True)``.

Not saved: the optimiser's state (a loaded model is for inference; calling
``fit`` on it starts afresh) and a ``random_state`` given as a
``RandomState`` instance (saved as None, with a warning).
"""

import hashlib
import json
import os
import struct
import tempfile
from numbers import Integral, Real

import numpy as np
import torch
from safetensors.torch import load as _load_tensors
from safetensors.torch import save as _save_tensors
from sklearn.utils.validation import check_is_fitted

from ._columns import ColumnDescription
from ._threads import resolve_n_threads
from ._warnings import warn

FORMAT = "skvae"
# 2: large fitted arrays as tensors (files of version 1 hold every array as JSON).
# 3: the column description in the document, and the standardisation in the
#    likelihood's buffers (versions 1 and 2 kept it in the VAE's input_shift
#    and input_scale; they are rebuilt on load, see _upgrade_weights).
# 4: tables: blocks of the new likelihoods (categorical, counts, lognormal),
#    the training table's names, dtypes, categories and ranges in the column
#    description, and a dict-valued likelihood parameter. A version 3 file
#    reads as before (no table facts: its outputs are arrays).
FORMAT_VERSION = 4
# Format versions this code reads; older ones would be upgraded here.
_OLDEST_READABLE_VERSION = 1
# Not written: the network (its weights are the tensors) and the thread count,
# which belongs to the machine that loads the model and is derived again there.
_NOT_SAVED = frozenset({"network_", "n_threads_"})
# Fitted arrays with more values than this are written as tensors (see above).
_INLINE_ELEMENTS = 1024
_ARRAY_TENSOR_PREFIX = "fitted."
_TENSOR_DTYPES = frozenset({"f4", "f8", "i4", "i8"})  # numpy kinds+sizes torch reads back


def _estimator_classes():
    from ._estimator import VAETransformer
    from ._impute import VAEImputer
    from ._outlier import VAEOutlierDetector

    return {cls.__name__: cls for cls in (VAETransformer, VAEOutlierDetector, VAEImputer)}


# ------------------------------------------------------------ JSON values
def _encode(value, name):
    """A JSON-ready form of ``value``; tuples, arrays and dtypes keep their type."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, np.dtype):
        return {"__dtype__": value.str}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            if not all(isinstance(item, str) for item in value.flat):
                raise TypeError(f"Cannot save {name}: an object array of non-strings.")
            return {"__ndarray__": value.tolist(), "dtype": "object"}
        if value.dtype.kind not in "biuf":
            raise TypeError(f"Cannot save {name}: arrays of dtype {value.dtype} are not supported.")
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(item, name) for item in value]}
    if isinstance(value, list):
        return [_encode(item, name) for item in value]
    if isinstance(value, dict):  # likelihood={column: name}; keys are names or positions
        items = []
        for key, item in value.items():
            if isinstance(key, np.integer):
                key = int(key)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TypeError(f"Cannot save {name}: a dict key {key!r} is not a str or int.")
            items.append([key, _encode(item, name)])
        return {"__dict__": items}
    raise TypeError(
        f"Cannot save {name} of type {type(value).__name__}: only numbers, strings, "
        "None, lists, tuples, dicts, numpy arrays and dtypes go into a model file."
    )


def _decode(value, arrays):
    """The value that ``_encode`` wrote; ``arrays`` holds the fitted arrays stored as tensors."""
    if isinstance(value, list):
        return [_decode(item, arrays) for item in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_decode(item, arrays) for item in value["__tuple__"])
        if "__dict__" in value:
            return {key: _decode(item, arrays) for key, item in value["__dict__"]}
        if "__tensor__" in value:
            tensor = arrays.get(value["__tensor__"])
            if tensor is None:
                raise ValueError(f"The model file lacks the tensor {value['__tensor__']!r}.")
            return tensor.numpy().astype(np.dtype(value["dtype"]), copy=True)
        if "__dtype__" in value:
            return np.dtype(value["__dtype__"])
        if "__ndarray__" in value:
            dtype = object if value["dtype"] == "object" else np.dtype(value["dtype"])
            return np.array(value["__ndarray__"], dtype=dtype)
        raise ValueError(f"Unknown value in the model file: {value!r}.")
    return value


def _saved_params(estimator):
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if isinstance(value, np.random.RandomState):
            warn(
                f"{name} is a RandomState instance, which is not saved: the loaded "
                f"model has {name}=None (pass an integer to keep it).",
                UserWarning,
            )
            value = None
        params[name] = _encode(value, name)
    return params


def _saved_attributes(estimator, tensors):
    """The fitted attributes as JSON values; large numeric arrays go into ``tensors``."""
    saved = {}
    for name, value in sorted(vars(estimator).items()):
        if not name.endswith("_") or name.startswith("_") or name in _NOT_SAVED:
            continue
        if (
            isinstance(value, np.ndarray)
            and value.size > _INLINE_ELEMENTS
            and f"{value.dtype.kind}{value.dtype.itemsize}" in _TENSOR_DTYPES
        ):
            key = _ARRAY_TENSOR_PREFIX + name
            native = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("="))
            tensors[key] = torch.from_numpy(native.copy())
            saved[name] = {"__tensor__": key, "dtype": value.dtype.str}
        else:
            saved[name] = _encode(value, name)
    return saved


def _checksum(document, tensors):
    """SHA-256 of the JSON document (without its checksum) and of every tensor."""
    digest = hashlib.sha256()
    body = {key: value for key, value in document.items() if key != "sha256"}
    digest.update(json.dumps(body, sort_keys=True).encode())
    for name in sorted(tensors):
        tensor = tensors[name]
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# ------------------------------------------------------------------ save
def save(estimator, path):
    """Save a fitted skvae estimator to ``path``, as data only (no pickle).

    The file is a safetensors file: the network's weights, plus the
    parameters and fitted attributes as JSON in its metadata, with a format
    version and a SHA-256 checksum. :func:`load` reads it back without
    running any code from it. Weights are stored on the CPU, so a model
    trained on a GPU loads on a machine without one. The optimiser's state is
    not saved: the loaded model is for inference (``fit`` starts afresh).
    The file is written to a temporary name first and then renamed, so an
    interrupted save never leaves a truncated file at ``path``.

    Parameters
    ----------
    estimator : VAETransformer, VAEOutlierDetector or VAEImputer
        A fitted estimator.
    path : str or os.PathLike
        Where to write; ``.safetensors`` is a good suffix.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import skvae
    >>> X = np.random.RandomState(0).normal(size=(100, 4))
    >>> vae = skvae.VAETransformer(max_iter=5, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> skvae.save(vae, path)
    >>> loaded = skvae.load(path)
    >>> bool(np.array_equal(loaded.transform(X), vae.transform(X)))
    True
    """
    classes = _estimator_classes()
    if type(estimator).__name__ not in classes or type(estimator) is not classes.get(
        type(estimator).__name__
    ):
        raise TypeError(
            f"skvae.save saves skvae's estimators ({', '.join(sorted(classes))}); "
            f"got {type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    from . import __version__

    tensors = {
        name: tensor.detach().to("cpu").contiguous()
        for name, tensor in estimator.network_.state_dict().items()
    }
    fitted = _saved_attributes(estimator, tensors)
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skvae_version": __version__,
        "class": type(estimator).__name__,
        "params": _saved_params(estimator),
        "fitted": fitted,
        "columns": estimator._columns.to_json(),
    }
    document["sha256"] = _checksum(document, tensors)
    data = _save_tensors(tensors, metadata={FORMAT: json.dumps(document)})
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".skvae-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600 -> an ordinary file's mode
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------ load
def _read(path):
    """The JSON document and the tensors of a model file; ValueError if unreadable."""
    with open(path, "rb") as file:
        data = file.read()
    problem = None
    try:
        (header_size,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + header_size])
        document = json.loads(header["__metadata__"][FORMAT])
        tensors = _load_tensors(data)
    except Exception as error:  # any parse failure means a damaged or foreign file
        problem = error
    if problem is not None:
        raise ValueError(
            f"{path!s} is not a readable skvae model file (truncated, corrupt or not "
            f"written by skvae.save): {type(problem).__name__}: {problem}"
        ) from problem
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{path!s} is not a skvae model file.")
    return document, tensors


def _check_version(document, path):
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"{path!s} has no valid format version: {version!r}.")
    writer = document.get("skvae_version", "unknown")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path!s} uses skvae model format version {version} (written by skvae "
            f"{writer}); this skvae reads versions {_OLDEST_READABLE_VERSION} to "
            f"{FORMAT_VERSION}. Upgrade skvae to load it."
        )
    if version < _OLDEST_READABLE_VERSION:
        raise ValueError(
            f"{path!s} uses skvae model format version {version} (written by skvae "
            f"{writer}); this skvae reads versions {_OLDEST_READABLE_VERSION} to "
            f"{FORMAT_VERSION}. Load it with the skvae that wrote it and save it again."
        )


def load(path, *, device="cpu"):
    """Load an estimator saved by :func:`save`, without unpickling anything.

    The file is checked before anything is built from it: its format and
    version, its SHA-256 checksum (any change to the weights or the JSON is
    detected), and the class name, which must be one of skvae's estimators.
    The network is rebuilt from the saved parameters and its weights loaded
    with ``load_state_dict(strict=True)``.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.
    device : str or torch.device, default="cpu"
        Where to put the network. The default works on any machine, whatever
        device the model was trained on.

    Returns
    -------
    estimator : VAETransformer, VAEOutlierDetector or VAEImputer
        The fitted estimator, ready for inference.

    Raises
    ------
    ValueError
        If the file is truncated, corrupt, tampered with, not a skvae model,
        or of a format version this skvae cannot read (the message names the
        version).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import skvae
    >>> X = np.random.RandomState(0).normal(size=(100, 4))
    >>> vae = skvae.VAETransformer(max_iter=5, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> skvae.save(vae, path)
    >>> loaded = skvae.load(path)
    >>> bool(np.array_equal(loaded.score_samples(X), vae.score_samples(X)))
    True
    """
    document, tensors = _read(path)
    _check_version(document, path)
    if document.get("sha256") != _checksum(document, tensors):
        raise ValueError(
            f"{path!s} fails its SHA-256 checksum: the weights or the metadata were "
            "changed after it was saved. Refusing to load it."
        )
    classes = _estimator_classes()
    class_name = document.get("class")
    if class_name not in classes:
        raise ValueError(
            f"{path!s} names class {class_name!r}; only {sorted(classes)} can be loaded."
        )
    cls = classes[class_name]
    arrays = {name: t for name, t in tensors.items() if name.startswith(_ARRAY_TENSOR_PREFIX)}
    weights = {name: t for name, t in tensors.items() if name not in arrays}
    params = {name: _decode(value, {}) for name, value in document["params"].items()}
    unknown = sorted(set(params) - set(cls().get_params()))
    if unknown:
        raise ValueError(
            f"{path!s} has parameters {unknown} that this skvae's {class_name} does not "
            f"know (written by skvae {document.get('skvae_version')}). Upgrade skvae."
        )
    estimator = cls(**params)
    for name, value in document["fitted"].items():
        if not name.endswith("_") or name.startswith("_") or name in _NOT_SAVED:
            raise ValueError(f"{path!s} holds an unexpected attribute {name!r}.")
        setattr(estimator, name, _decode(value, arrays))
    if document["format_version"] >= 3:
        columns = ColumnDescription.from_json(document["columns"])
    else:
        columns = estimator._column_description(estimator.n_features_in_)
    network = estimator._empty_network(
        estimator.n_features_in_,
        estimator._check_hidden_layer_sizes(),
        estimator._check_image_shape(estimator.n_features_in_),
        columns,
    )
    if document["format_version"] < 3:
        weights = _upgrade_weights(weights, columns, network)
    try:
        network.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        raise ValueError(
            f"The weights in {path!s} do not fit the network its parameters describe: {error}"
        ) from error
    estimator._columns = columns
    estimator.network_ = network.eval().to(device)
    estimator.n_threads_ = resolve_n_threads(
        estimator.n_threads, n_parameters=sum(p.numel() for p in network.parameters())
    )
    return estimator


def _upgrade_weights(weights, columns, network):
    """The weights of a version 1 or 2 file, in today's layout; fills ``columns``' statistics.

    Those files hold one likelihood over every column, the standardisation
    as the VAE's ``input_shift`` and ``input_scale``, and the likelihood's
    parameters under ``likelihood.``. Today the likelihood is a composite of
    one block that owns its standardisation (``likelihood.parts.0.shift``
    and ``.scale``, for a Gaussian), and the column description keeps it
    too; the values are the same, so the model scores as it did.
    """
    weights = dict(weights)
    shift, scale = weights.pop("input_shift", None), weights.pop("input_scale", None)
    upgraded = {}
    for name, tensor in weights.items():
        if name.startswith("likelihood."):
            name = "likelihood.parts.0." + name[len("likelihood.") :]
        upgraded[name] = tensor
    expected = network.state_dict()
    if "likelihood.parts.0.shift" in expected and shift is not None:
        upgraded["likelihood.parts.0.shift"] = shift
        upgraded["likelihood.parts.0.scale"] = scale
        (block,) = columns.blocks
        block.shift = shift.double().numpy()
        block.scale = scale.double().numpy()
    return upgraded
