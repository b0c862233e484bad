"""Imputation of mixed-type tables: numeric error and categorical accuracy (issue 26).

Real DataFrames with category and numeric columns, read offline from the
wheels of ``_synthetic_tables.py`` (``scripts/fetch_bench_data.sh``
downloads them once): palmerpenguins and ISLP's Credit and Carseats, their
complete rows. Yes/No columns become two-category ``category`` columns, so
that every imputer sees the same categorical columns. Entries are removed
completely at random (20% and 50% of all entries, five masks each: seeds 0
to 4, and no row left empty), and each imputer fills in the table:

* numeric columns are scored by the mean squared error over the removed
  entries, in units of each column's standard deviation (the complete
  table's), as in MIWAE's protocol;
* categorical columns by the error rate: the share of removed entries whose
  imputed category is not the true one.

Imputers (each fitted on the table with holes, seeded by the mask's seed):

* ``VAEImputer(likelihood="auto")``: the DataFrame as it is, categories and
  all (a categorical likelihood per categorical column); everything else at
  its defaults;
* ``SimpleImputer``: the mean of a numeric column, the most frequent
  category of a categorical one;
* ``IterativeImputer`` (BayesianRidge, ``max_iter=10``) and ``KNNImputer``
  (5 neighbours), and missForest's set-up of MIWAE's code,
  ``IterativeImputer(ExtraTreesRegressor(n_estimators=100, max_depth=8))``:
  scikit-learn's imputers take numbers only, so each categorical column is
  given as its category codes (NaN where missing) and each imputed code is
  rounded to the nearest category, numeric columns standardised first (for
  KNN's distances), the usual way to use them on such a table;
* hyperimpute's missForest, MIWAE and HyperImpute, given the table as
  scikit-learn's imputers are: ``bench_impute_tables_peers.py`` runs them in
  hyperimpute's own venv, on the same masks, and writes
  ``impute_tables_peers*.csv``, which this script merges into its table
  (the ``run by`` column says which script produced each row).

Usage (from the project root; a few minutes on one core)::

    bash scripts/fetch_bench_data.sh    # once
    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_impute_tables.py
    # after more peer results: merge them into the table without fitting again
    PYTHONPATH=. python benchmarks/bench_impute_tables.py --from-runs benchmarks/results
    PYTHONPATH=. python benchmarks/bench_impute_tables.py --quick --out-dir /tmp/q  # smoke run

Writes ``impute_tables.md`` and ``.csv`` (means per table, mechanism and
imputer), ``impute_tables_ranks.md`` (each imputer's mean rank over those
cells) and ``impute_tables_runs.csv`` (one row per fit).
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _impute_data as data  # noqa: E402
import _synthetic_tables as tables  # noqa: E402
from _data import (  # noqa: E402
    RESULTS_DIR,
    add_output_options,
    output_dir,
    table_commands,
    write_table,
)

TABLES = ("penguins", "credit", "carseats")
MECHANISMS = ("mcar20", "mcar50")  # the MCAR masks of _impute_data.mask
IMPUTERS = ("VAEImputer", "SimpleImputer", "IterativeImputer", "KNNImputer",
            "IterativeImputer(ExtraTrees)")


def categorical(frame):
    """The table with its boolean columns as two-category columns (False, True)."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_bool_dtype(out[column]):
            out[column] = pd.Categorical(out[column].map({False: "No", True: "Yes"}),
                                         categories=["No", "Yes"])
    return out


def quick_table(n=120, seed=0):
    """A tiny mixed table built in code, for --quick (no data files)."""
    rng = np.random.RandomState(seed)
    size = rng.normal(size=n)
    return pd.DataFrame({
        "kind": pd.Categorical(np.where(size > 0, "big", "small")),
        "height": 170 + 10 * size + rng.normal(size=n),
        "weight": 70 + 8 * size + rng.normal(size=n),
    })


def with_holes(frame, removed):
    holes = frame.copy()
    for j, column in enumerate(frame.columns):
        holes.loc[removed[:, j], column] = np.nan
    return holes


def as_codes(frame, location, scale):
    """Numbers for scikit-learn's imputers: category codes, standardised numeric columns."""
    values = {}
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            codes = frame[column].cat.codes.astype(float)
            values[column] = codes.where(codes >= 0, np.nan)
        else:
            values[column] = (frame[column].astype(float) - location[column]) / scale[column]
    return pd.DataFrame(values).to_numpy()


def from_codes(filled, like, location, scale):
    """The imputed numbers back as a table like ``like``: codes rounded to categories."""
    out = {}
    for j, column in enumerate(like.columns):
        if isinstance(like[column].dtype, pd.CategoricalDtype):
            categories = like[column].cat.categories
            codes = np.clip(np.rint(filled[:, j]), 0, len(categories) - 1).astype(int)
            out[column] = pd.Categorical(categories[codes], categories=categories)
        else:
            out[column] = filled[:, j] * scale[column] + location[column]
    return pd.DataFrame(out)


def prepared(table, quick, data_dir):
    """The table (categories for its Yes/No columns) and its numeric columns' means and stds."""
    frame = quick_table() if quick else categorical(tables.load(table, data_dir))
    numeric = [c for c in frame.columns if not isinstance(frame[c].dtype, pd.CategoricalDtype)]
    location = frame[numeric].astype(float).mean()
    scale = frame[numeric].astype(float).std(ddof=0)
    return frame, location, scale


def removed_entries(frame, mechanism, seed):
    """The mask: MCAR draws depend on the table's shape alone, those of bench_impute.py."""
    return data.mask(np.empty(frame.shape), mechanism, seed)


def impute(name, holes, seed, location, scale, quick):
    if name == "VAEImputer":
        from skvae import VAEImputer  # here: bench_impute_tables_peers.py runs without skvae

        return VAEImputer(likelihood="auto", random_state=seed, n_threads=1,
                          **({"max_iter": 5} if quick else {})).fit_transform(holes)
    if name == "SimpleImputer":
        out = holes.copy()
        for column in out.columns:
            kind = "most_frequent" if isinstance(out[column].dtype, pd.CategoricalDtype) \
                else "mean"
            fill = SimpleImputer(strategy=kind).fit_transform(out[[column]].astype(object)
                                                              if kind == "most_frequent"
                                                              else out[[column]])
            out[column] = fill[:, 0] if kind == "mean" else pd.Categorical(
                fill[:, 0], categories=out[column].cat.categories)
        return out
    models = {
        "IterativeImputer": lambda: IterativeImputer(max_iter=10, random_state=seed),
        "KNNImputer": lambda: KNNImputer(),
        "IterativeImputer(ExtraTrees)": lambda: IterativeImputer(
            ExtraTreesRegressor(n_estimators=10 if quick else 100, max_depth=8,
                                random_state=seed),
            max_iter=10, random_state=seed),
    }
    filled = models[name]().fit_transform(as_codes(holes, location, scale))
    return from_codes(filled, holes, location, scale)


def scores(filled, frame, removed, scale):
    """(numeric MSE in standard deviations, categorical error rate) over the removed entries."""
    squared, wrong = [], []
    for j, column in enumerate(frame.columns):
        rows = removed[:, j]
        if not rows.any():
            continue
        truth, guess = frame[column][rows], filled[column][rows]
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            wrong.append((truth.astype(str).to_numpy() != guess.astype(str).to_numpy()))
        else:
            error = (guess.astype(float).to_numpy() - truth.astype(float).to_numpy())
            squared.append((error / scale[column]) ** 2)
    mse = float(np.concatenate(squared).mean()) if squared else np.nan
    error_rate = float(np.concatenate(wrong).mean()) if wrong else np.nan
    return mse, error_rate


def run(names, mechanisms, seeds, quick, data_dir):
    rows = []
    for table in names:
        frame, location, scale = prepared(table, quick, data_dir)
        for mechanism in mechanisms:
            for seed in seeds:
                removed = removed_entries(frame, mechanism, seed)
                holes = with_holes(frame, removed)
                for name in IMPUTERS:
                    start = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        filled = impute(name, holes, seed, location, scale, quick)
                    seconds = time.perf_counter() - start
                    rows.append(scored(filled, frame, removed, scale, seconds,
                                       table=table, mechanism=mechanism, seed=seed,
                                       imputer=name))
    return pd.DataFrame(rows)


def scored(filled, frame, removed, scale, seconds, **where):
    """One run's row (``where``: table, mechanism, seed, imputer) with its scores, printed."""
    mse, error_rate = scores(filled, frame, removed, scale)
    print(f"{where['table']} {where['mechanism']} mask {where['seed']} {where['imputer']}: "
          f"numeric MSE {mse:.4f}, categorical error {error_rate:.4f} ({seconds:.1f} s)",
          flush=True)
    return dict(where, numeric_mse=mse, categorical_error=error_rate, seconds=seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=list(TABLES))
    parser.add_argument("--mechanisms", nargs="+", default=list(MECHANISMS),
                        choices=list(MECHANISMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--data-dir", default=None, help="folder with the wheels")
    parser.add_argument("--peers-dir", default=str(RESULTS_DIR),
                        help="folder with impute_tables_peers*.csv (not read with --quick)")
    parser.add_argument("--from-runs", default=None, metavar="DIR",
                        help="read this script's impute_tables_runs.csv from DIR instead of "
                        "fitting (to merge peer results that came later)")
    add_output_options(parser)
    args = parser.parse_args()
    names = ["quick"] if args.quick else args.tables
    seeds = args.seeds[:1] if args.quick else args.seeds
    mechanisms = args.mechanisms[:1] if args.quick else args.mechanisms
    out_dir = output_dir(args)
    command = "PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_impute_tables.py"
    if args.from_runs:
        runs = pd.read_csv(Path(args.from_runs) / "impute_tables_runs.csv")
        if "run by" in runs:  # runs written before the peers had none: all this script's
            runs = runs[runs["run by"] == "bench_impute_tables.py"]
        runs = runs.assign(**{"run by": "bench_impute_tables.py"})
    else:
        runs = run(names, mechanisms, seeds, args.quick, args.data_dir)
        runs["run by"] = "bench_impute_tables.py"
    notes = [f"Command: `{command}` (rows run by bench_impute_tables.py)"
             + (" QUICK SMOKE RUN: a tiny table built in code; the figures mean nothing."
                if args.quick else "")]
    if args.from_runs:
        notes.append(f"Table rebuilt from those rows with `PYTHONPATH=. python "
                     f"benchmarks/bench_impute_tables.py --from-runs {args.from_runs}`.")
    if not args.quick:
        peers, peer_notes = peer_runs(names, mechanisms, seeds, args.peers_dir)
        if len(peers):
            runs = pd.concat([runs, peers.assign(**{"run by": "bench_impute_tables_peers.py"})],
                             ignore_index=True)
            notes += peer_notes
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    runs.to_csv(Path(out_dir) / "impute_tables_runs.csv", index=False)
    table = (
        runs.groupby(["table", "mechanism", "imputer", "run by"], sort=False)
        .agg(numeric_mse=("numeric_mse", "mean"), numeric_mse_std=("numeric_mse", "std"),
             categorical_error=("categorical_error", "mean"),
             categorical_error_std=("categorical_error", "std"),
             masks=("numeric_mse", "size"), seconds=("seconds", "mean"))
        .reset_index()
    )
    write_table(
        table,
        "impute_tables",
        "Imputation of mixed-type tables: numeric MSE and categorical error rate",
        notes=[
            "Complete rows of each table; entries removed completely at random (MCAR 20% "
            "and 50%), mean and standard deviation over the masks (seeds "
            f"{', '.join(map(str, seeds))}). numeric_mse: mean squared error over the removed "
            "numeric entries, in units of each column's standard deviation; "
            "categorical_error: share of the removed categorical entries imputed as another "
            "category (lower is better for both). scikit-learn's imputers get category "
            "codes, rounded back to the nearest category; seconds per fit and transform on "
            "one CPU thread (wall time on a shared machine: rough).",
            *notes,
        ],
        digits=4,
        out_dir=out_dir,
    )
    write_table(
        mean_ranks(table),
        "impute_tables_ranks",
        "Imputers' mean ranks on the mixed-type tables",
        notes=["Rank of each imputer's mean numeric MSE and mean categorical error within each "
               "table and mechanism (1 = lowest), averaged over the cells, from "
               "impute_tables.md.", *notes],
        digits=2,
        out_dir=out_dir,
    )


def mean_ranks(table):
    """Each imputer's mean rank over the (table, mechanism) cells, by each error."""
    cells = table.groupby(["table", "mechanism"])
    ranks = pd.DataFrame({
        "imputer": table["imputer"],
        "numeric_rank": cells["numeric_mse"].rank(method="min"),
        "categorical_rank": cells["categorical_error"].rank(method="min"),
    })
    means = ranks.groupby("imputer").mean().assign(cells=ranks.groupby("imputer").size())
    return means.sort_values("numeric_rank").reset_index()


def peer_runs(names, mechanisms, seeds, peers_dir):
    """The rows of ``bench_impute_tables_peers.py`` for these masks, and notes naming them."""
    frames, notes = [], []
    for path in sorted(Path(peers_dir).glob("impute_tables_peers*.csv")):
        runs = pd.read_csv(path)
        frames.append(runs[runs["table"].isin(names) & runs["mechanism"].isin(mechanisms)
                           & runs["seed"].isin(seeds)])
        notes += [f"Command: {command} (rows run by bench_impute_tables_peers.py, read from "
                  f"{path.name})." for command in table_commands(path)]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), notes


if __name__ == "__main__":
    main()
