"""How many CPU threads PyTorch may use while an estimator works."""

from contextlib import contextmanager

import torch
from joblib import effective_n_jobs


def resolve_n_threads(n_threads):
    """``n_jobs``-style count: None -> 1, -1 -> every core, -2 -> all but one."""
    return max(1, effective_n_jobs(1 if n_threads is None else n_threads))


@contextmanager
def torch_threads(n_threads):
    """Set PyTorch's intra-op thread count for the block, then restore it."""
    wanted = resolve_n_threads(n_threads)
    previous = torch.get_num_threads()
    if wanted != previous:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if wanted != previous:
            torch.set_num_threads(previous)
