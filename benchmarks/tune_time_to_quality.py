"""Choose VAETransformer's training defaults on the tuning data sets only.

Runs the plain loop of ``bench_time_to_quality.py`` once per tuning data set
(``tune-*``: never in the reported table), then skvae under each candidate
setting, and prints, per candidate, whether it reached the plain loop's best
held-out ELBO within the tolerance and how much faster it got there. Every
contender runs on one thread here, so that the comparison is about epochs
and per-epoch cost, not about how busy the other core is.

Usage (from the project root)::

    PYTHONPATH=. python benchmarks/tune_time_to_quality.py
    PYTHONPATH=. python benchmarks/tune_time_to_quality.py --candidates '{"a": {}, "b": {"tol": 1e-3}}'

Writes ``benchmarks/results/time_to_quality_tuning.{md,csv}`` (or ``--out-dir``).
"""

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd
import torch
from _data import RESULTS_DIR, data_dir, to_markdown
from bench_time_to_quality import (
    BATCH_SIZE,
    DATASETS,
    EVAL_SEED,
    MIN_PATIENCE,
    PATIENCE_STEPS,
    TUNING,
    run_plain,
    run_skvae,
    time_to_quality,
    warm_up,
)

# The defaults before the training-engine rework, and the candidates measured.
CANDIDATES = {
    "old defaults": dict(
        batch_size=128, early_stopping=False, learning_rate_schedule="constant"
    ),
    "new defaults": {},
    "patience 5": dict(n_iter_no_change=5),
    "patience 5, lr 2e-3": dict(n_iter_no_change=5, learning_rate=2e-3),
    "patience 3, lr 2e-3": dict(n_iter_no_change=3, learning_rate=2e-3),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=TUNING, choices=TUNING)
    parser.add_argument("--candidates", type=json.loads, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--quick", action="store_true", help="tiny subsets: a smoke test")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    candidates = args.candidates or CANDIDATES
    torch.set_num_threads(1)
    warm_up()
    folder = data_dir(args.data_dir)
    rows = []
    for dataset in args.datasets:
        spec = DATASETS[dataset]
        X_train, X_heldout = spec.loader(folder)
        if args.quick:
            X_train, X_heldout = X_train[:300], X_heldout[:100]
        noise = torch.randn(
            (16, X_heldout.shape[0], spec.latent),
            generator=torch.Generator().manual_seed(EVAL_SEED),
        )
        patience = max(MIN_PATIENCE, math.ceil(PATIENCE_STEPS / math.ceil(len(X_train) / BATCH_SIZE)))
        max_epochs = 3 if args.quick else spec.max_plain_epochs
        curve = run_plain(spec, X_train, X_heldout, args.seed, noise, max_epochs, patience, False)
        best, _, plain_epochs, plain_seconds = time_to_quality(curve, spec.tolerance)
        print(f"{dataset}: plain best {best:.3f}, {plain_epochs} epochs, {plain_seconds:.1f} s", flush=True)
        for name, params in candidates.items():
            params = {"n_threads": 1, **params, **({"max_iter": 3} if args.quick else {})}
            result = run_skvae(spec, X_train, X_heldout, args.seed, params, noise)
            gap = result["elbo"] - best
            rows.append(
                dict(
                    dataset=dataset,
                    candidate=name,
                    plain_best=round(best, 3),
                    plain_epochs=plain_epochs,
                    plain_seconds=round(plain_seconds, 2),
                    skvae_elbo=round(result["elbo"], 3),
                    skvae_epochs=result["epochs"],
                    skvae_seconds=round(result["seconds"], 2),
                    gap=round(gap, 3),
                    within=bool(gap >= -spec.tolerance),
                    speed_up=round(plain_seconds / result["seconds"], 2),
                )
            )
            print("  " + json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    summary = (
        table.groupby("candidate", sort=False)
        .agg(
            reached=("within", "sum"),
            median_speed_up=("speed_up", "median"),
            min_speed_up=("speed_up", "min"),
            mean_gap=("gap", "mean"),
        )
        .reset_index()
    )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out_dir / "time_to_quality_tuning.csv", index=False)
    command = "PYTHONPATH=. python benchmarks/tune_time_to_quality.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = (
        f"# Time to quality: choosing the defaults on the tuning sets\n\n`{command}`\n\n"
        "One thread for every contender. Tolerance: 1 nat for images, 0.1 nats for "
        "tabular sets. Speed-up: plain loop's seconds to within tolerance of its best / "
        "skvae's whole fit.\n\n"
        + to_markdown(summary)
        + "\n\n"
        + to_markdown(table)
        + "\n"
    )
    (args.out_dir / "time_to_quality_tuning.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
