"""Smoke and consistency tests of benchmarks/bench_time_to_quality.py.

Only the digits set is used: it needs no data files.
"""

import importlib
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("bench_time_to_quality")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def digits(bench):
    return bench.DATASETS["digits"].loader(None)


def test_quick_run_writes_the_table(bench, tmp_path):
    frame = bench.main(["--quick", "--datasets", "digits", "--out-dir", str(tmp_path)])
    assert list(frame["dataset"]) == ["digits"]
    row = frame.iloc[0]
    # The shared evaluator and skvae's own score estimate the same ELBO.
    assert abs(row["skvae ELBO"] - row["skvae score()"]) < 0.5
    assert 1 <= row["plain epochs"] <= 3 and row["skvae epochs"] == 3
    assert row["speed-up"] == pytest.approx(row["plain s"] / row["skvae s"])
    table = (tmp_path / "time_to_quality.md").read_text()
    assert "| digits | 400 x 64 |" in table and "Median speed-up" in table
    curves = pd.read_csv(tmp_path / "time_to_quality_curves.csv")
    assert list(curves["epoch"]) == [1, 2, 3]
    assert curves["train_seconds"].is_monotonic_increasing
    assert pd.read_csv(tmp_path / "time_to_quality.csv").shape[0] == 1


def test_evaluator_matches_closed_form_on_linear_skvae(bench, digits):
    """On a linear Gaussian VAE skvae's score is exact; the Monte Carlo evaluator must agree."""
    from skvae import VAETransformer

    X_train, X_heldout = digits
    vae = VAETransformer(5, hidden_layer_sizes=(), max_iter=20, random_state=0).fit(X_train)
    noise = torch.randn((16, X_heldout.shape[0], 5), generator=torch.Generator().manual_seed(0))
    estimate = bench.skvae_elbo(vae, X_heldout, noise)
    assert estimate == pytest.approx(vae.score(X_heldout), abs=0.1)


def test_plain_elbo_is_a_density_of_the_raw_data(bench, digits):
    """Scaling the data by c shifts the raw-space ELBO by exactly -n_features * log(c)."""
    X_train, X_heldout = digits
    spec = bench.DATASETS["digits"]
    noise = torch.randn((4, 200, spec.latent), generator=torch.Generator().manual_seed(0))
    args = dict(seed=0, noise=noise, max_epochs=3, patience=10, log=False)
    curve = bench.run_plain(spec, X_train[:300], X_heldout[:200], **args)
    scaled = bench.run_plain(spec, 10 * X_train[:300], 10 * X_heldout[:200], **args)
    shift = -X_train.shape[1] * math.log(10.0)
    np.testing.assert_allclose(scaled["elbo"] - curve["elbo"], shift, atol=0.05)


def test_time_to_quality_is_the_first_epoch_within_tolerance(bench):
    curve = pd.DataFrame(
        dict(epoch=[1, 2, 3, 4, 5], train_seconds=[1.0, 2, 3, 4, 5], elbo=[-9, -5.5, -5.05, -5, -6])
    )
    best, best_epoch, epochs, seconds = bench.time_to_quality(curve, 0.1)
    assert (best, best_epoch, epochs, seconds) == (-5, 4, 3, 3.0)


def test_table_and_tuning_sets_are_kept_apart(bench):
    assert set(bench.TABLE).isdisjoint(bench.TUNING) and len(bench.TUNING) >= 4
    assert len(bench.TABLE) >= 5
    with pytest.raises(SystemExit):
        bench.parse_args(["--datasets", "digits", "tune-wilt"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--datasets", "no-such-set"])
    assert bench.parse_args(["--datasets", "tuning"]).datasets == bench.TUNING
