"""Smoke runs of the benchmark scripts, so that none can break silently.

Each script runs as a subprocess in its ``--quick`` mode (a tiny subset, in
seconds; its figures mean nothing and are never quoted) with ``--out-dir``
pointing at a temporary folder, and must write its tables there and leave
``benchmarks/results`` untouched. To add a script, add a ``Smoke`` entry to
``SCRIPTS``; an entry whose script does not exist yet, or does not take
``--quick`` yet, is skipped with that reason.
"""

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"
SHARED_DATA = Path(os.environ.get("SKVAE_DATA_DIR", ROOT.parent / "shared" / "data"))


@dataclass
class Smoke:
    script: str
    outputs: list  # files the quick run must write into --out-dir
    args: list = field(default_factory=list)
    data: str = None  # sub-folder of the data directory it needs, if any
    then: list = field(default_factory=list)  # further runs (argument lists), same --out-dir


SCRIPTS = [
    Smoke("bench_digits_density.py", ["digits_density.md", "digits_density_per_seed.csv"]),
    Smoke(
        "bench_binarized_mnist.py",
        ["binarized_mnist.md", "binarized_mnist_vae.json"],
        data="binarized_mnist",
        then=[["--eval-only"]],  # reload the quick model: the --eval-only path
    ),
    Smoke(
        "bench_binarized_mnist.py",
        ["binarized_mnist_conv.md", "binarized_mnist_conv_vae.json"],
        args=["--conv"],
        data="binarized_mnist",
        then=[["--conv", "--eval-only"]],
    ),
    Smoke("bench_speed.py", ["speed.md", "speed.json"], args=["--no-pyod"]),
    Smoke("bench_counts.py", ["counts_pbmc68k.md", "counts_pbmc68k.csv"]),
    Smoke("bench_counts.py", ["counts_pbmc68k_tuning.md"], args=["--tune"]),
    Smoke("bench_impute.py", ["impute_breast_cancer.md", "impute_coverage.md"],
          then=[["--coverage-only"]]),
    Smoke("bench_impute_peers.py", ["impute_peers_breast_cancer.md"]),  # no hyperimpute: stand-in
    Smoke("tune_impute.py",
          ["impute_tuning.md", "impute_tuning_runs.csv", "impute_tuning_mnar.md"],
          then=[["--mechanism", "mnar", "--name", "impute_tuning_mnar"]]),
    Smoke("bench_impute_tables.py", ["impute_tables.md", "impute_tables_runs.csv"]),
    Smoke("bench_impute_tables_peers.py", ["impute_tables_peers.md"]),  # stand-in as above
    Smoke(
        "tune_encoder_bound.py", ["encoder_bound_tuning.md", "encoder_bound_tuning_runs.csv"],
        data="adbench",
    ),
    Smoke(
        "bench_synthetic.py",
        ["synthetic.md", "synthetic.csv", "synthetic_means.csv", "synthetic_marginals.png"],
    ),
    Smoke("bench_adbench.py", ["adbench_cv_unsupervised_150.md"], data="adbench"),
    Smoke("explore_adbench_levers.py", ["adbench_levers_unsupervised_1000.md"], data="adbench"),
    Smoke(
        "bench_time_to_quality.py",
        ["time_to_quality.md", "time_to_quality.csv"],
        args=["--datasets", "digits"],
    ),
    Smoke(
        "tune_time_to_quality.py",
        ["time_to_quality_tuning.md"],
        args=["--datasets", "tune-wilt"],
        data="adbench",
    ),
]


def _results_fingerprint():
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(RESULTS.iterdir())
        if path.is_file()
    }


def _run(script, args, out_dir):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, str(BENCHMARKS / script), "--quick", "--out-dir", str(out_dir)]
    done = subprocess.run(
        command + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{' '.join(command + args)} failed:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.parametrize("smoke", SCRIPTS, ids=[" ".join([s.script, *s.args]) for s in SCRIPTS])
def test_benchmark_quick_mode_runs(smoke, tmp_path):
    path = BENCHMARKS / smoke.script
    if not path.exists():
        pytest.skip(f"{smoke.script} does not exist on this branch")
    if "--quick" not in path.read_text():
        pytest.skip(f"{smoke.script} has no --quick mode yet")
    if smoke.data and not (SHARED_DATA / smoke.data).exists():
        pytest.skip(f"needs {SHARED_DATA / smoke.data} (set SKVAE_DATA_DIR)")
    before = _results_fingerprint()
    stdout = _run(smoke.script, smoke.args, tmp_path)
    for args in smoke.then:
        stdout += _run(smoke.script, smoke.args + args, tmp_path)
    for name in smoke.outputs:
        assert (tmp_path / name).stat().st_size > 0, f"{name} not written"
    assert _results_fingerprint() == before, "a quick run changed benchmarks/results"
    assert stdout.strip()
