"""Imputation error, MIWAE's protocol: VAEImputer against scikit-learn's and hyperimpute's.

The protocol of MIWAE (Mattei & Frellsen, 2019) and not-MIWAE (Ipsen et
al., 2021), as ``_impute_data.py`` implements it: each data set is
standardised, entries are removed, each imputer is fitted on the incomplete
data and fills it in, and the score is the mean squared error over the
removed entries in standardised units (lower is better), mean and spread
over five masks (seeds 0 to 4) per mechanism, on scikit-learn's
``load_breast_cancer``, ``load_wine`` and ``load_diabetes`` (its X) and on
ADBench's yeast (``../shared/data/adbench``, ``--data-dir``):

* ``MCAR 50%``, ``MCAR 20%``: entries removed completely at random;
* ``MNAR``: in half of the columns (chosen by the seed) every value above
  the column mean is missing (not-MIWAE's self-masking mechanism).

This script runs ``VAEImputer`` (the mask's seed, one thread), the same
with ``missing_mechanism="self_masking"`` (the model for values missing not
at random; its row is ``VAEImputer(self_masking)``, under every mechanism,
so that what it costs when values are missing at random shows too), and
scikit-learn's ``SimpleImputer``, ``KNNImputer`` and ``IterativeImputer``
(``max_iter=10``, the mask's seed), all with their defaults. The peers
missForest, MIWAE and HyperImpute (hyperimpute 0.1.17) need their own venv;
``bench_impute_peers.py`` runs them on the same masks and writes
``results/impute_peers_<data>.csv``, which this script merges into its
table when present (the ``run by`` column says which script produced each
row).

Where the settings come from: ``VAEImputer``'s defaults were set on
``load_wine`` and ``load_digits``, and its training objective (the
importance-weighted bound, ``n_train_importance_samples``) was chosen by
``tune_impute.py`` on validation masks of ``load_wine`` and of
``load_breast_cancer`` with other seeds (100, 101) than the report's. So
``load_wine``'s table is not out of sample for ``VAEImputer``;
``load_breast_cancer`` (report masks 0 to 4) is, as far as its masks go.

On the data sets with a target (breast cancer and wine: a class; diabetes:
a number), the tables also give the downstream score of each imputer's
filled-in data: the 5-fold cross-validated accuracy of a logistic
regression, or the R^2 of a ridge regression (``_impute_data.downstream``),
beside the same score on the complete data.

Over the data sets, table ``impute_ranks`` gives each imputer's rank per
data set and mechanism and their mean, ``impute_ranks_each`` the mean rank
of each VAEImputer variant ranked alone against the peers (the two variants
take two places in every cell of ``impute_ranks``), and ``impute_means``
each imputer's MSE per mechanism averaged over the data sets.

For ``VAEImputer`` at 50% MCAR the script also measures the coverage of
its multiple imputations: the share of the removed true values inside the
central 90% prediction interval of 20 draws of ``sample_imputations``
(table ``impute_coverage``; :func:`interval` says how its ends are placed
so that the nominal level is the true one). ``--coverage-only`` refits
only ``VAEImputer`` at 50% MCAR and writes only that table.

Usage (from the project root; about 20 minutes on one core)::

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_impute.py
    # after more peer results: merge them into the tables without fitting again
    PYTHONPATH=. python benchmarks/bench_impute.py --from-runs benchmarks/results
    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_impute.py --coverage-only
    PYTHONPATH=. python benchmarks/bench_impute.py --quick --out-dir /tmp/q  # smoke run
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _impute_data as data  # noqa: E402
from _data import (  # noqa: E402
    RESULTS_DIR,
    add_output_options,
    output_dir,
    table_commands,
    write_table,
)

from skvae import VAEImputer  # noqa: E402

DATASETS = ("breast_cancer", "wine", "diabetes", "yeast")
MECHANISM_NAMES = {"mcar50": "MCAR 50%", "mcar20": "MCAR 20%", "mnar": "MNAR"}
SELF_MASKING = "VAEImputer(self_masking)"  # missing_mechanism="self_masking", for MNAR data
N_DRAWS = 20  # multiple imputations for the coverage
LEVEL = 0.9


def imputers(seed, quick):
    vae = {"max_iter": 5} if quick else {}
    return {
        "VAEImputer": VAEImputer(random_state=seed, n_threads=1, **vae),
        SELF_MASKING: VAEImputer(missing_mechanism="self_masking", random_state=seed,
                                 n_threads=1, **vae),
        "SimpleImputer(mean)": SimpleImputer(),
        "KNNImputer": KNNImputer(),
        "IterativeImputer": IterativeImputer(max_iter=10, random_state=seed),
    }


def interval(draws, level=LEVEL, method="weibull"):
    """Central ``level`` prediction interval per entry from M draws (axis 0).

    ``method="weibull"`` puts the p-quantile at order statistic p (M + 1),
    so that a true value exchangeable with the M draws falls inside with
    probability ``level``: exactly where p (M + 1) is a whole number (19 or
    39 draws at 90%), and within a few tenths of a percent between, as
    interpolation then depends on the draws' distribution a little.
    numpy's default, ``"linear"``, puts it at 1 + p (M - 1), which gives such
    a value a probability of about ``level (M - 1) / (M + 1)`` only (exactly
    so for uniform draws): 81% for 20 draws at 90%. Needs
    M >= 2 / (1 - level) - 1.
    """
    return np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0, method=method)


def coverage(imputer, X_missing, X, removed, seed):
    """Coverage and width of the LEVEL intervals of N_DRAWS draws, over the removed entries.

    Returns the share of removed true values inside :func:`interval` and its
    mean width, then the share inside numpy's default (linear) quantiles of
    the same draws, which this table reported before (a narrower interval).
    """
    draws = np.stack(imputer.sample_imputations(X_missing, N_DRAWS, random_state=seed))
    shares, widths = [], []
    for method in ("weibull", "linear"):
        low, high = interval(draws, LEVEL, method)
        shares.append(float(((low <= X) & (X <= high))[removed].mean()))
        widths.append(float((high - low)[removed].mean()))
    return shares[0], widths[0], shares[1]


def run(name, mechanisms, seeds, quick, data_dir, only=None):
    """Fit every imputer (or those named in ``only``) on every mask of ``name``."""
    X = data.load(name, data_dir)
    if quick:
        X = X[:100]
    rows, covered = [], []
    for mechanism in mechanisms:
        for seed in seeds:
            removed = data.mask(X, mechanism, seed)
            X_missing = data.with_holes(X, removed)
            for imputer_name, imputer in imputers(seed, quick).items():
                if only is not None and imputer_name not in only:
                    continue
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    filled = imputer.fit_transform(X_missing)
                seconds = time.perf_counter() - start
                error = data.mse(filled, X, removed)
                score = data.downstream(filled, name, len(X))
                rows.append(dict(data=name, mechanism=mechanism, seed=seed,
                                 imputer=imputer_name, mse=error, downstream=score,
                                 seconds=seconds))
                print(f"{name} {mechanism} mask {seed} {imputer_name}: MSE {error:.4f}, "
                      f"downstream {score} ({seconds:.1f} s)", flush=True)
                if imputer_name == "VAEImputer" and mechanism == "mcar50":
                    share, width, linear = coverage(imputer, X_missing, X, removed, seed)
                    covered.append(dict(data=name, seed=seed, coverage=share, width=width,
                                        coverage_linear=linear))
    return pd.DataFrame(rows), pd.DataFrame(covered)


def peer_runs(name, mechanisms, seeds, peers_dir):
    """The rows of ``bench_impute_peers.py`` for these masks, and the commands that made them.

    Read from every ``impute_peers_<name>.csv`` and
    ``impute_peers_<name>_<imputers>-<mechanisms>.csv`` in ``peers_dir``.
    """
    frames, commands = [], []
    for path in sorted(Path(peers_dir).glob(f"impute_peers_{name}*.csv")):
        if not (path.stem == f"impute_peers_{name}" or path.stem.startswith(
                f"impute_peers_{name}_")):
            continue
        runs = pd.read_csv(path)
        frames.append(runs[runs["mechanism"].isin(mechanisms) & runs["seed"].isin(seeds)])
        commands += table_commands(path)
    runs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return runs, commands


def summary(runs, mechanisms):
    table = (
        runs.groupby(["mechanism", "imputer", "run by"], sort=False)
        .agg(mse=("mse", "mean"), mse_std=("mse", "std"), masks=("mse", "size"),
             downstream=("downstream", "mean"), seconds=("seconds", "mean"))
        .reset_index()
    )
    table["order"] = table["mechanism"].map({m: i for i, m in enumerate(mechanisms)})
    table = table.sort_values(["order", "mse"], kind="stable")
    table["rank"] = table.groupby("mechanism")["mse"].rank(method="min").astype(int)
    table["missing"] = table["mechanism"].map(MECHANISM_NAMES)
    columns = ["missing", "rank", "imputer", "mse", "mse_std", "masks", "downstream", "seconds",
               "run by"]
    if table["downstream"].isna().all():  # a data set without a target
        columns.remove("downstream")
    return table[columns]


def _pivoted(tables, values, columns):
    """One table of ``values`` over every data set: imputers by ``columns`` (a list)."""
    return pd.concat(
        [table.assign(data=name) for name, table in tables.items()], ignore_index=True
    ).pivot_table(index="imputer", columns=columns, values=values, sort=False)


def mean_ranks(tables):
    """Each imputer's rank per (data set, mechanism), and their mean over the cells it ran in."""
    ranks = _pivoted(tables, "rank", ["data", "missing"])
    ranks.columns = [f"{data} {missing}" for data, missing in ranks.columns]
    cells = ranks.notna().sum(axis=1)
    complete = ranks.loc[:, ranks.notna().all(axis=0)]  # the cells every imputer ran in
    table = ranks.assign(**{
        "mean rank": ranks.mean(axis=1),
        "cells": cells,
        "mean rank where all ran": complete.mean(axis=1) if complete.shape[1] else np.nan,
        "cells where all ran": complete.shape[1],
    })
    return table.sort_values(["mean rank where all ran", "mean rank"]).reset_index()


def ranks_one_variant_each(tables):
    """Each VAEImputer variant's mean rank among the peers, the other variants left out.

    In ``impute_ranks`` the two VAEImputer rows take two places in every
    cell, so that each pushes the peers and the other down. Here each variant
    is ranked alone against the peers (ranks by mean MSE within each data set
    and mechanism, over the cells every imputer ran in), beside the best peer
    of that ranking.
    """
    errors = _pivoted(tables, "mse", ["data", "missing"])
    errors = errors.loc[:, errors.notna().all(axis=0)]
    variants = [name for name in errors.index if name.startswith("VAEImputer")]
    peers = [name for name in errors.index if name not in variants]
    rows = []
    for variant in variants:
        ranks = errors.loc[[variant, *peers]].rank(method="min").mean(axis=1)
        best_peer = ranks[peers].idxmin()
        rows.append({"variant": variant, "mean rank": ranks[variant],
                     "best peer": best_peer, "best peer's mean rank": ranks[best_peer],
                     "imputers ranked": len(peers) + 1, "cells": errors.shape[1]})
    return pd.DataFrame(rows)


def mean_errors(tables):
    """Each imputer's MSE per mechanism averaged over the data sets (where it ran in all)."""
    errors = _pivoted(tables, "mse", ["missing", "data"])
    table = pd.DataFrame({
        f"mean mse {missing}": errors[missing].mean(axis=1, skipna=False)
        for missing in dict.fromkeys(errors.columns.get_level_values(0))
    })
    table["data sets"] = len(tables)
    return table.sort_values(list(table.columns[:1])).reset_index()


def write_summaries(tables, command, out_dir):
    """The tables over the data sets: impute_ranks, impute_ranks_each and impute_means."""
    summaries = [
        (mean_ranks, "impute_ranks", "Imputers' ranks by mean MSE, per data set and missingness",
         "Rank of each imputer by its mean MSE over the masks, within each data set and "
         "mechanism (1 = lowest error), from the tables impute_<data>.md; 'mean rank' "
         "averages an imputer's ranks over the cells it ran in ('cells'); a peer that did "
         "not run in a cell has no rank there, and the others' ranks there are among "
         "fewer imputers, so the fair comparison is 'mean rank where all ran', over the "
         "cells in which every imputer ran.", 2),
        (ranks_one_variant_each, "impute_ranks_each",
         "Each VAEImputer variant ranked alone against the peers",
         "As impute_ranks, with one VAEImputer variant at a time: the variant and every "
         "peer ranked by mean MSE within each data set and mechanism (1 = lowest error), "
         "over the cells in which every imputer ran, and averaged.", 2),
        (mean_errors, "impute_means", "Imputers' MSE per missingness, averaged over the data sets",
         "Each imputer's mean MSE over the masks (tables impute_<data>.md), averaged over "
         f"the {len(tables)} data sets ({', '.join(tables)}) with equal weight; empty "
         "where an imputer did not run on every data set. Sorted by the first column.", 3),
    ]
    for build, name, title, note, digits in summaries:
        write_table(build(tables), name, title, notes=[note, f"Command: `{command}`"],
                    digits=digits, out_dir=out_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--mechanisms", nargs="+", default=list(data.MECHANISMS),
                        choices=list(data.MECHANISMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--data-dir", default=None, help="folder with adbench/ (yeast)")
    parser.add_argument("--peers-dir", default=str(RESULTS_DIR),
                        help="folder with impute_peers_<data>.csv (not read with --quick)")
    parser.add_argument("--from-runs", default=None, metavar="DIR",
                        help="read this script's impute_<data>_runs.csv from DIR instead of "
                        "fitting (to merge peer results that came later); no coverage table")
    parser.add_argument("--coverage-only", action="store_true",
                        help="fit only VAEImputer at 50%% MCAR and write only the coverage "
                        "table (VAEImputer fitted as a full run fits it; the MSE tables stay "
                        "as they are)")
    add_output_options(parser)
    args = parser.parse_args()
    if args.coverage_only and args.from_runs:
        parser.error("--coverage-only fits VAEImputer; it cannot read --from-runs")
    seeds = args.seeds[:1] if args.quick else args.seeds
    datasets = args.datasets[:1] if args.quick else args.datasets
    out_dir = output_dir(args)
    command = "PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_impute.py"
    if args.datasets != list(DATASETS):
        command += " --datasets " + " ".join(args.datasets)
    coverages, tables = [], {}
    if args.coverage_only:
        command += " --coverage-only"
        for name in datasets:
            coverages.append(run(name, ["mcar50"], seeds, args.quick, args.data_dir,
                                 only=["VAEImputer"])[1])
        datasets = []
    for name in datasets:
        if args.from_runs:
            runs = pd.read_csv(Path(args.from_runs) / f"impute_{name}_runs.csv")
            runs = runs[(runs["run by"] == "bench_impute.py") & runs["mechanism"].isin(
                args.mechanisms) & runs["seed"].isin(seeds)]
        else:
            runs, covered = run(name, args.mechanisms, seeds, args.quick, args.data_dir)
            coverages.append(covered)
        runs["run by"] = "bench_impute.py"
        if "downstream" not in runs:  # runs written before the downstream score
            runs["downstream"] = np.nan
        notes = [f"Command: `{command}` (rows run by bench_impute.py)."]
        complete = data.downstream(data.load(name, args.data_dir)[: 100 if args.quick else None],
                                   name, 100 if args.quick else None)
        if complete is not None:
            kind = ("accuracy of LogisticRegression" if data.TARGETS[name] == "class"
                    else "R^2 of RidgeCV")
            notes.insert(0, f"downstream: 5-fold cross-validated {kind} on the filled-in data "
                            f"(mean over the masks); {complete:.4f} on the complete data.")
        if not args.quick:
            peers, peer_commands = peer_runs(name, args.mechanisms, seeds, args.peers_dir)
            if len(peers):
                peers["run by"] = "bench_impute_peers.py"
                runs = pd.concat([runs, peers], ignore_index=True)
                notes += [f"Command: {peer} (rows run by bench_impute_peers.py, read from "
                          f"impute_peers_{name}*.csv)." for peer in peer_commands]
                if complete is not None and ("downstream" not in peers
                                             or peers["downstream"].isna().any()):
                    notes.append("downstream is empty for peer rows run before the score "
                                 "existed.")
        if args.from_runs:
            notes.append(f"Table rebuilt from those rows (impute_{name}_runs.csv) with "
                         f"`PYTHONPATH=. python benchmarks/bench_impute.py --from-runs "
                         f"{args.from_runs}`, to merge peer rows that came later.")
        if name == "wine":
            notes.append("Not out of sample for VAEImputer: its defaults were set on load_wine "
                         "(and load_digits), and tune_impute.py chose its training objective "
                         "on load_wine masks with other seeds.")
        tables[name] = summary(runs, args.mechanisms)
        write_table(
            tables[name],
            f"impute_{name}",
            f"Imputation error on standardised {name} (MSE over the removed entries)",
            notes=[
                f"Mean squared error over the removed entries, in standardised units; mean and "
                f"standard deviation over {len(seeds)} masks (seeds "
                f"{', '.join(map(str, seeds))}) per mechanism; rank within the mechanism; "
                "seconds per fit and transform on one CPU thread (wall time, with up to four jobs "
                "sharing two cores: rough). MNAR: in half of the columns "
                "every value above the column mean is missing.",
                *notes,
            ],
            digits=4,
            out_dir=out_dir,
        )
        runs.to_csv(Path(out_dir) / f"impute_{name}_runs.csv", index=False)
    if len(tables) > 1:
        command += f" --from-runs {args.from_runs}" if args.from_runs else ""
        write_summaries(tables, command, out_dir)
    if not coverages:
        return
    covered = pd.concat(coverages, ignore_index=True)
    table = (
        covered.groupby("data", sort=False)
        .agg(coverage=("coverage", "mean"), coverage_std=("coverage", "std"),
             width=("width", "mean"), coverage_linear=("coverage_linear", "mean"),
             masks=("coverage", "size"))
        .reset_index()
    )
    write_table(
        table,
        "impute_coverage",
        f"Coverage of VAEImputer's multiple imputations (MCAR 50%, nominal {LEVEL:.0%})",
        notes=[
            f"coverage: share of the removed true values inside the central {LEVEL:.0%} "
            f"prediction interval of {N_DRAWS} draws of `sample_imputations`, and width: the "
            "mean width of that interval (standardised units); mean and standard deviation "
            f"over the masks (seeds {', '.join(map(str, seeds))}). The interval's ends are "
            f"the order statistics at p (M + 1) of the M = {N_DRAWS} draws "
            "(`np.quantile(..., method=\"weibull\")`), so that a true value drawn like the "
            f"draws falls inside with probability {LEVEL:.0%} (within a few tenths of a "
            "percent). coverage_linear: the same draws with numpy's default quantiles (at "
            "1 + p (M - 1)), the interval this table gave before; for draws from the true "
            f"distribution its expected coverage is about {LEVEL:.0%} x (M - 1) / (M + 1) = "
            f"{LEVEL * (N_DRAWS - 1) / (N_DRAWS + 1):.0%}, not the nominal level. Each draw "
            "comes from one fitted model, so the weights' uncertainty is not in it.",
            f"Command: `{command}`",
        ],
        digits=4,
        out_dir=out_dir,
    )


if __name__ == "__main__":
    main()
