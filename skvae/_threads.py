"""How many CPU threads PyTorch may use while an estimator works.

PyTorch's intra-op thread count is a setting of the whole process. Each
estimator sets it for the duration of ``fit`` and of every inference call,
from its ``n_threads`` parameter, and puts back whatever it was afterwards.

The default, ``"auto"``, chooses from the network's size. For the small
networks a tabular VAE uses, one thread is as fast as several on a quiet
machine (the work per operation is too small to split), and when other
processes keep the cores busy, extra threads make every step wait for the
slowest one and can run many times slower; wide networks (images) gain from
every core. Negative values count the cores this process may use: all of them,
or, inside a joblib worker, the share joblib gave it (joblib sets
``OMP_NUM_THREADS`` to ``cores // n_jobs`` in its workers), so that
``GridSearchCV(n_jobs=...)`` never runs more threads than there are cores.
"""

import os
from contextlib import contextmanager

import torch
from joblib import cpu_count

# n_threads="auto" uses every available core for networks with at least this
# many parameters (a 784-512-256-20 MLP has 1.1M; a tabular 50-128-64-8 one
# 31k; see benchmarks/results/speed.md for the per-thread timings).
AUTO_MIN_PARAMETERS = 200_000


def available_cores():
    """Cores this process may use: ``joblib.cpu_count()``, capped by ``OMP_NUM_THREADS``."""
    cores = cpu_count()
    limit = os.environ.get("OMP_NUM_THREADS", "").strip()
    if limit.isdigit() and int(limit) > 0:
        cores = min(cores, int(limit))
    return max(1, cores)


def resolve_n_threads(n_threads, n_parameters=0):
    """``n_jobs``-style count, or ``"auto"`` chosen from the network's size.

    None -> 1, k > 0 -> k, -1 -> every available core, -2 -> all but one.
    ``"auto"`` gives every available core to networks with at least
    ``AUTO_MIN_PARAMETERS`` parameters (their matrix products are large
    enough to split) and one thread to smaller ones (where splitting costs
    more than it saves). "Available" respects joblib's per-worker share, so
    a parallel grid search never runs more threads than there are cores.

    Examples
    --------
    >>> resolve_n_threads(None), resolve_n_threads(3), resolve_n_threads("auto", 1_000)
    (1, 3, 1)
    """
    if n_threads is None:
        return 1
    if n_threads == "auto":
        return available_cores() if n_parameters >= AUTO_MIN_PARAMETERS else 1
    if n_threads == 0:
        raise ValueError("n_threads=0 has no meaning; use None, a positive count or -1.")
    if n_threads < 0:
        return max(1, available_cores() + 1 + n_threads)
    return int(n_threads)


@contextmanager
def torch_threads(n_threads):
    """Set PyTorch's intra-op thread count for the block, then restore it.

    The setting is global to the process: estimators that run at the same
    time in threads of one process (joblib's threading backend) share it.
    """
    wanted = resolve_n_threads(n_threads)
    previous = torch.get_num_threads()
    if wanted != previous:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if wanted != previous:
            torch.set_num_threads(previous)
