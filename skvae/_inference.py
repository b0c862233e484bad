"""Chunked inference: one helper maps a batch of rows through the model.

Every method that maps rows (transform, scoring, decoding) goes through
:func:`map_rows`, and sampling and the validation score walk the same
:func:`chunks`, so memory is bounded by one setting, ``CHUNK_ELEMENTS``,
whatever the number of rows. Scores are computed on whole blocks of
``ROW_BLOCK`` rows (:func:`padded`): float32 matrix kernels may round a row
differently depending on how many rows share the call, and padding makes
every row's result independent of the others.
"""

import numpy as np

from ._batch import as_batch

# Inference works on chunks of rows holding about this many float values in
# the widest intermediate tensor, so memory does not grow with the rows.
CHUNK_ELEMENTS = 2**22
# Rows are scored in blocks of this many (the last one padded).
ROW_BLOCK = 64


def chunks(n_rows, chunk_rows):
    """Consecutive ``(start, stop)`` ranges of at most ``chunk_rows`` rows."""
    for start in range(0, n_rows, chunk_rows):
        yield start, min(start + chunk_rows, n_rows)


def chunk_rows(elements_per_row):
    """Rows per chunk when each row needs ``elements_per_row`` values: at least 1."""
    return max(1, CHUNK_ELEMENTS // max(1, elements_per_row))


def whole_blocks(rows):
    """``rows`` rounded down to whole ``ROW_BLOCK`` blocks, and at least one block."""
    return max(ROW_BLOCK, rows // ROW_BLOCK * ROW_BLOCK)


def padded(compute):
    """Wrap ``compute`` (batch -> one result per row) to run on whole row blocks."""

    def run(batch):
        n_rows = batch.n_rows
        return compute(batch.padded(n_rows + (-n_rows % ROW_BLOCK)))[:n_rows]

    return run


def map_rows(data, compute, chunk_rows, device, dtype):
    """Apply ``compute`` (tensor batch -> tensor) to chunks of ``data``; numpy out.

    ``data`` is a :class:`~skvae._batch.Batch` of numpy arrays (or one
    array, its values); each chunk is converted to float32 tensors on
    ``device`` on its own, so no copy of the whole input is made. The result
    has ``dtype``. Every result is checked to be finite: a value the
    model's arithmetic cannot carry raises a ValueError naming the row
    instead of passing on an inf or NaN.
    """
    batch = as_batch(data)
    out = None
    for start, stop in chunks(batch.n_rows, chunk_rows):
        result = compute(batch.rows(start, stop).to_tensors(device))
        if out is None:
            out = np.empty((batch.n_rows, *result.shape[1:]), dtype=dtype)
        out[start:stop] = result.cpu().numpy()
    if out is not None and not np.isfinite(out).all():
        row = np.argwhere(~np.isfinite(out.reshape(out.shape[0], -1)))[0, 0]
        raise ValueError(
            f"Row {row} of X gives a non-finite result in the model's float32 "
            "arithmetic: it lies beyond what this model can represent."
        )
    return out
