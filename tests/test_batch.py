"""The batch record and the chunked inference that maps over it."""

import numpy as np
import torch

from skvae._batch import Batch
from skvae._inference import ROW_BLOCK, chunks, map_rows, padded, whole_blocks


def _batch():
    values = np.arange(20.0).reshape(10, 2)
    return Batch(values, mask=values % 3 != 0, condition=np.arange(10.0)[:, None])


def test_selecting_rows_selects_every_field():
    batch = _batch()
    part = batch.rows(2, 5)
    np.testing.assert_array_equal(part.values, batch.values[2:5])
    np.testing.assert_array_equal(part.mask, batch.mask[2:5])
    np.testing.assert_array_equal(part.condition, batch.condition[2:5])
    tensors = batch.to_tensors("cpu")
    index = torch.tensor([7, 1])
    chosen = tensors.select(index)
    assert torch.equal(chosen.values, tensors.values[[7, 1]])
    assert torch.equal(chosen.mask, tensors.mask[[7, 1]])
    assert torch.equal(chosen.condition, tensors.condition[[7, 1]])
    assert Batch(np.zeros((3, 2))).rows(0, 2).mask is None  # unset fields stay unset


def test_padding_repeats_the_last_row_in_every_field():
    tensors = _batch().to_tensors("cpu")
    padded_batch = tensors.padded(13)
    assert padded_batch.n_rows == 13
    assert torch.equal(padded_batch.values[10:], tensors.values[-1:].expand(3, -1))
    assert torch.equal(padded_batch.mask[10:], tensors.mask[-1:].expand(3, -1))


def test_map_rows_converts_one_chunk_at_a_time_and_pads_to_whole_blocks():
    seen = []

    def compute(batch):
        seen.append(batch.n_rows)
        assert isinstance(batch.values, torch.Tensor) and batch.mask is not None
        return batch.values.sum(-1) * batch.mask.sum(-1)

    out = map_rows(_batch(), padded(compute), 4, "cpu", np.float64)
    expected = _batch().values.sum(-1) * _batch().mask.sum(-1)
    np.testing.assert_array_equal(out, expected)
    assert seen == [ROW_BLOCK] * 3  # chunks of 4, 4 and 2 rows, each padded to a block
    assert list(chunks(10, 4)) == [(0, 4), (4, 8), (8, 10)]
    assert whole_blocks(3 * ROW_BLOCK + 5) == 3 * ROW_BLOCK and whole_blocks(1) == ROW_BLOCK
