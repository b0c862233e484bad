"""One batch of rows: the raw values, plus an optional mask and condition.

Every training, validation and inference loop takes a :class:`Batch`, and
selecting rows selects them in every field, as scvi-tools' ``tensors`` dict
and skorch's dict-valued ``X`` do. The fields are numpy arrays on the
scikit-learn side (so that the chunked inference converts one chunk at a
time) and tensors on the torch side; :meth:`Batch.to_tensors` turns the one
into the other.

* ``values``: the raw data, (n_rows, n_columns).
* ``mask``: 1 where a value is observed and 0 where it is missing, of the
  shape of ``values``; None when everything is observed.
* ``condition``: per-row covariates a conditional model is given,
  (n_rows, n_conditions); None for an unconditional model.
"""

import warnings
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import torch


def as_tensor(array, device, dtype=torch.float32):
    """Wrap a numpy array as a tensor; no copy for C-contiguous float32 on CPU."""
    if isinstance(array, torch.Tensor):
        return array.to(device=device, dtype=dtype)
    with warnings.catch_warnings():  # read-only input is never written to
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        tensor = torch.as_tensor(np.ascontiguousarray(array))
    return tensor.to(device=device, dtype=dtype)


@dataclass(frozen=True)
class Batch:
    """Rows of data as one record: ``values``, and optionally ``mask`` and ``condition``.

    Examples
    --------
    >>> import numpy as np
    >>> batch = Batch(np.arange(6.0).reshape(3, 2), mask=np.ones((3, 2)))
    >>> part = batch.rows(1, 3)
    >>> part.values.tolist(), part.mask.shape
    ([[2.0, 3.0], [4.0, 5.0]], (2, 2))
    >>> part.to_tensors("cpu").values.dtype
    torch.float32
    """

    values: Any
    mask: Any = None
    condition: Any = None

    def __len__(self):
        return self.values.shape[0]

    @property
    def n_rows(self):
        return self.values.shape[0]

    def _fields(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def _map(self, function):
        """A batch with ``function`` applied to every field that is set."""
        mapped = {name: None if v is None else function(v) for name, v in self._fields().items()}
        return replace(self, **mapped)

    def rows(self, start, stop):
        """Rows ``start:stop`` of every field (views, no copy)."""
        return self._map(lambda v: v[start:stop])

    def select(self, index):
        """The rows at ``index`` (a tensor of indices on the torch side, an array on numpy's)."""
        if isinstance(self.values, torch.Tensor):
            return self._map(lambda v: v.index_select(0, index))
        return self._map(lambda v: v[index])

    def padded(self, n_rows):
        """The batch with its last row repeated until it has ``n_rows`` rows (torch side)."""
        missing = n_rows - self.n_rows
        if missing <= 0:
            return self
        return self._map(lambda v: torch.cat([v, v[-1:].expand(missing, *v.shape[1:])]))

    def to_tensors(self, device, dtype=torch.float32):
        """Every field as a tensor of ``dtype`` on ``device``."""
        return self._map(lambda v: as_tensor(v, device, dtype))


def as_batch(data):
    """``data`` as a :class:`Batch`: a batch is returned as it is, an array becomes its values."""
    return data if isinstance(data, Batch) else Batch(data)
