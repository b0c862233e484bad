"""Imputation error on standardised load_breast_cancer: VAEImputer against scikit-learn's.

``load_breast_cancer`` (569 rows, 30 features) is standardised, and a share
of its values is removed completely at random (MCAR), with three masks per
rate (mask seeds 0, 1, 2). Each imputer is fitted on the incomplete data and
fills it in; the table gives the mean squared error over the removed
entries (in units of each feature's variance; lower is better), averaged
over the masks, with its spread. Every imputer runs with its defaults
(``IterativeImputer`` with ``max_iter=10`` and the mask's seed,
``VAEImputer`` with the mask's seed and one thread). None of their
settings were chosen on this data set: ``VAEImputer``'s defaults were set
on ``load_wine`` and ``load_digits``.

Usage (from the project root)::

    PYTHONPATH=. python benchmarks/bench_impute.py
    PYTHONPATH=. python benchmarks/bench_impute.py --quick --out-dir /tmp/q  # smoke run
"""

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from _data import add_output_options, output_dir, write_table
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.preprocessing import StandardScaler

from skvae import VAEImputer


def imputers(seed, quick):
    vae = {"max_iter": 5} if quick else {}
    return {
        "VAEImputer": VAEImputer(random_state=seed, n_threads=1, **vae),
        "SimpleImputer(mean)": SimpleImputer(),
        "KNNImputer": KNNImputer(),
        "IterativeImputer": IterativeImputer(max_iter=10, random_state=seed),
    }


def run(rates, seeds, quick):
    X = StandardScaler().fit_transform(load_breast_cancer().data)
    if quick:
        X = X[:100]
    rows = []
    for rate in rates:
        for seed in seeds:
            mask = np.random.RandomState(seed).uniform(size=X.shape) < rate
            X_missing = np.where(mask, np.nan, X)
            for name, imputer in imputers(seed, quick).items():
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    filled = imputer.fit_transform(X_missing)
                seconds = time.perf_counter() - start
                error = float(((filled - X)[mask] ** 2).mean())
                rows.append(dict(rate=rate, seed=seed, imputer=name, mse=error, seconds=seconds))
                print(f"rate {rate} mask {seed} {name}: MSE {error:.4f} ({seconds:.1f} s)")
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.2, 0.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    add_output_options(parser)
    args = parser.parse_args()
    seeds = args.seeds[:1] if args.quick else args.seeds
    runs = run(args.rates, seeds, args.quick)
    table = (
        runs.groupby(["rate", "imputer"], sort=False)
        .agg(mse=("mse", "mean"), mse_std=("mse", "std"), seconds=("seconds", "mean"))
        .reset_index()
    )
    table["missing"] = [f"{rate:.0%}" for rate in table["rate"]]
    table = table[["missing", "imputer", "mse", "mse_std", "seconds"]]
    write_table(
        table,
        "impute_breast_cancer",
        "Imputation error on standardised load_breast_cancer (MCAR)",
        notes=[
            f"Mean squared error over the removed entries, mean and standard deviation "
            f"over {len(seeds)} masks (seeds {', '.join(map(str, seeds))}); seconds per fit "
            "and transform on one CPU thread.",
            "Command: `PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_impute.py`",
        ],
        digits=4,
        out_dir=output_dir(args),
    )


if __name__ == "__main__":
    main()
