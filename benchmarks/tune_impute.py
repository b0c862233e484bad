"""VAEImputer's levers (issue 26) on validation masks outside the report of ``bench_impute.py``.

Each variant changes one or two of ``VAEImputer``'s settings and is scored
by the mean squared error over the removed entries (standardised units, the
protocol of ``_impute_data.py``) on validation masks only:

* ``load_wine`` at 50% MCAR, mask seeds 100 and 101 (a set the defaults
  were first chosen on);
* ``load_breast_cancer`` at 50% MCAR, mask seeds 100 and 101: held-out
  masks, not the report's (seeds 0 to 4).

The settings chosen here become ``VAEImputer``'s defaults, which
``bench_impute.py`` then reports on its own masks. One CPU thread per fit.

The committed ``results/impute_tuning.md`` came from five calls, run two at
a time (the second and third rounds added after reading the first):
``--variants`` with the even-numbered and then the odd-numbered variants of
the first round (``--name impute_tuning_a`` and ``_b``), the second round in
two calls (``_c``: ``'K=5, 500 epochs, no early stopping' 'K=5, tanh' 'K=1,
500 epochs, no early stopping'``; ``_d``: the other three), and the third
round (``_e``), which was stopped for time after 8 of its 12 fits (its runs
file was transcribed from its log), the fourth round in two calls (``_f``:
no weight averaging and hidden (128, 128); ``_g``: no warm-up), then
``--from-runs`` over the seven runs files. ``masks`` in the table says how
many masks a variant ran on. The fourth round changed nothing: its best
(hidden (128, 128): 0.621 and 0.306) is within the spread between masks of
the chosen defaults (0.626 and 0.308).

``--mechanism mnar`` scores ``MNAR_VARIANTS`` instead (the self-masking
model of missingness, ``missing_mechanism="self_masking"``) under the
missing-not-at-random mask, on mask seeds 100 and 101 of ``load_wine``,
``load_breast_cancer`` and ``load_diabetes`` (``MNAR_VALIDATION``); its
table, ``impute_tuning_mnar.md``, chose that mechanism's activation.

Usage (from the project root; about 20 minutes on one core, the MNAR
table about 5)::

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/tune_impute.py
    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/tune_impute.py --mechanism mnar \
        --name impute_tuning_mnar
    PYTHONPATH=. python benchmarks/tune_impute.py --quick --out-dir /tmp/q  # smoke run

Writes ``<out-dir>/impute_tuning.md`` and ``.csv``.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _impute_data as data  # noqa: E402
from _data import add_output_options, output_dir, write_table  # noqa: E402

from skvae import VAEImputer  # noqa: E402

VALIDATION = [("wine", 100), ("wine", 101), ("breast_cancer", 100), ("breast_cancer", 101)]

MNAR_VALIDATION = [(name, seed) for name in ("wine", "breast_cancer", "diabetes")
                   for seed in (100, 101)]

VARIANTS = {
    "defaults of main (K=1)": {},
    "train K=5": {"n_train_importance_samples": 5},
    "train K=20": {"n_train_importance_samples": 20},
    "K=20, latent 4": {"n_train_importance_samples": 20, "latent_dim": 4},
    "K=20, latent 16": {"n_train_importance_samples": 20, "latent_dim": 16},
    "K=20, hidden (128, 128)": {
        "n_train_importance_samples": 20, "hidden_layer_sizes": (128, 128)
    },
    "K=20, hidden (256, 128)": {
        "n_train_importance_samples": 20, "hidden_layer_sizes": (256, 128)
    },
    "K=20, tanh": {"n_train_importance_samples": 20, "activation": "tanh"},
    "K=20, learning rate 3e-3": {"n_train_importance_samples": 20, "learning_rate": 3e-3},
    "K=20, weight decay 1e-2": {"n_train_importance_samples": 20, "weight_decay": 1e-2},
    "K=20, patience 30": {"n_train_importance_samples": 20, "n_iter_no_change": 30},
    "K=20, impute K=1000": {"n_train_importance_samples": 20, "n_importance_samples": 1000},
    # second round, after the first showed early stopping cut some K=20 fits at ~100 epochs
    "K=1, 500 epochs, no early stopping": {"early_stopping": False, "max_iter": 500},
    "K=5, 500 epochs, no early stopping": {
        "n_train_importance_samples": 5, "early_stopping": False, "max_iter": 500
    },
    "K=20, 500 epochs, no early stopping": {
        "n_train_importance_samples": 20, "early_stopping": False, "max_iter": 500
    },
    "K=5, tanh": {"n_train_importance_samples": 5, "activation": "tanh"},
    "K=5, learning rate 3e-3": {"n_train_importance_samples": 5, "learning_rate": 3e-3},
    "K=5, latent 16": {"n_train_importance_samples": 5, "latent_dim": 16},
    # third round, around the best of the second (K=5, 500 epochs, no early stopping)
    "K=5, 1000 epochs, no early stopping": {
        "n_train_importance_samples": 5, "early_stopping": False, "max_iter": 1000
    },
    "K=5, 500 epochs, no early stopping, batch 64": {
        "n_train_importance_samples": 5, "early_stopping": False, "max_iter": 500,
        "batch_size": 64,
    },
    "K=5, 500 epochs, no early stopping, latent 16": {
        "n_train_importance_samples": 5, "early_stopping": False, "max_iter": 500,
        "latent_dim": 16,
    },
    # fourth round: the differences left between VAEImputer and MIWAE's network
    "K=5, 500 epochs, no early stopping, no weight averaging": {
        "n_train_importance_samples": 5, "early_stopping": False, "max_iter": 500,
        "weight_averaging": 0.0,
    },
    "K=5, 500 epochs, no early stopping, hidden (128, 128)": {
        "n_train_importance_samples": 5, "early_stopping": False, "max_iter": 500,
        "hidden_layer_sizes": (128, 128),
    },
    "K=5, 500 epochs, no early stopping, no warm-up": {
        "n_train_importance_samples": 5, "early_stopping": False, "max_iter": 500,
        "warmup_epochs": 0,
    },
}

# Under MNAR: the ignorable model (the defaults) against the self-masking one,
# whose activation="auto" is the choice made here.
MNAR_VARIANTS = {
    "ignorable (defaults)": {},
    "self-masking, tanh": {"missing_mechanism": "self_masking", "activation": "tanh"},
    "self-masking, ReLU": {"missing_mechanism": "self_masking", "activation": "relu"},
}
TITLES = {"mcar50": "50% MCAR", "mnar": "MNAR: half the columns lose every value above the mean"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=None,
                        help="names from VARIANTS (or MNAR_VARIANTS)")
    parser.add_argument("--mechanism", choices=sorted(TITLES), default="mcar50",
                        help="missingness of the validation masks (default: mcar50)")
    parser.add_argument("--name", default="impute_tuning", help="table name")
    parser.add_argument(
        "--from-runs", nargs="+", default=None,
        help="runs CSVs of earlier calls (e.g. two halves of the variants run side by side): "
        "write their table, fit nothing",
    )
    add_output_options(parser)
    args = parser.parse_args()
    out_dir = output_dir(args)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    if args.from_runs:
        runs = pd.concat([pd.read_csv(path) for path in args.from_runs], ignore_index=True)
        validation = list(dict.fromkeys(zip(runs["data"], runs["seed"])))
        mechanism = runs["mechanism"].iloc[0] if "mechanism" in runs else "mcar50"
        command = " --from-runs " + " ".join(args.from_runs)
    else:
        runs, validation = fit_variants(args)
        mechanism = args.mechanism
        command = (f" --variants {' '.join(repr(v) for v in args.variants)}"
                   if args.variants else "")
        if mechanism != "mcar50":
            command = f" --mechanism {mechanism}" + command
        runs.to_csv(Path(out_dir) / f"{args.name}_runs.csv", index=False)
    write_summary(runs, validation, args.name, command, out_dir, mechanism)


def fit_variants(args):
    """Fit every variant on every validation mask: one row per fit, and the masks."""
    mnar = args.mechanism == "mnar"
    choices = MNAR_VARIANTS if mnar else VARIANTS
    variants = {k: choices[k] for k in (args.variants or choices)}
    validation = MNAR_VALIDATION if mnar else VALIDATION
    validation = validation[:1] if args.quick else validation
    if args.quick:
        variants = dict(list(variants.items())[:2])
    rows = []
    for (name, seed) in validation:
        X = data.load(name)
        if args.quick:
            X = X[:80]
        removed = data.mask(X, args.mechanism, seed)
        for variant, settings in variants.items():
            settings = {**settings, "max_iter": 3} if args.quick else settings
            imputer = VAEImputer(random_state=seed, n_threads=1, **settings)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                filled = imputer.fit_transform(data.with_holes(X, removed))
            seconds = time.perf_counter() - start
            error = data.mse(filled, X, removed)
            rows.append(dict(data=name, seed=seed, mechanism=args.mechanism,
                             variant=variant, mse=error,
                             epochs=imputer.n_iter_, seconds=seconds))
            print(f"{name} mask {seed} {variant}: MSE {error:.4f} "
                  f"({imputer.n_iter_} epochs, {seconds:.1f} s)", flush=True)
    return pd.DataFrame(rows), validation


def write_summary(runs, validation, name, command, out_dir, mechanism="mcar50"):
    table = runs.pivot_table(index="variant", columns="data", values="mse", sort=False)
    table.columns = [f"mse {c}" for c in table.columns]
    table["masks"] = runs.groupby("variant", sort=False)["mse"].size()
    table["mean epochs"] = runs.groupby("variant", sort=False)["epochs"].mean()
    table["mean seconds"] = runs.groupby("variant", sort=False)["seconds"].mean()
    table = table.reset_index()
    write_table(
        table,
        name,
        f"VAEImputer's levers on validation masks ({TITLES[mechanism]})",
        notes=[
            "Mean squared error over the removed entries of standardised data, mean over "
            "mask seeds " + ", ".join(f"{n} {s}" for n, s in validation)
            + " (none of them a report mask of bench_impute.py); one CPU thread per fit, but "
            "up to four jobs shared two cores, so the seconds are rough.",
            f"Command: `PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/tune_impute.py"
            f"{command} --name {name}`",
        ],
        digits=4,
        out_dir=out_dir,
    )


if __name__ == "__main__":
    main()
