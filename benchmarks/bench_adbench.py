"""Unsupervised outlier detection on the ADBench classical data sets.

Protocol (ADBench's unsupervised setting, Han et al. 2022): for every data set
and seed, a stratified 70/30 train/test split; each detector is fitted on the
training part *without labels* (it still contains the anomalies) and ranks the
test part. We report ROC-AUC and average precision on the test part, and the
fit time. Data sets larger than ``--max-train / 0.7`` rows are first reduced to
that many rows by a stratified random subsample (seeded by the seed), so that
at most ``--max-train`` rows are used for fitting; a class left with fewer
than 5 rows is topped up to 5 (this only happens to smtp's anomalies).

Every detector runs on one CPU thread. Per-run results are appended to
``benchmarks/results/adbench_runs.csv``; ``--resume`` skips the runs already
there, so an interrupted run can go on and a changed detector can be re-run
alone (delete its rows, or pass ``--detectors``). The summary table (data sets
x detectors, the mean and the average rank) is printed and written to
``benchmarks/results/adbench.md`` and ``adbench.csv``.

Usage, from the project root::

    PYTHONPATH=. python benchmarks/bench_adbench.py --seeds 0 1 2 --max-train 3000

Data: ``--data-dir`` or the ``SKVAE_DATA_DIR`` environment variable (the
shared ``data`` folder, holding ``adbench/*.npz``); by default
``../shared/data`` relative to the project root. Needs ``pyod`` and ``tqdm``
(``pip install pyod tqdm``) for the PyOD detectors.
"""

import argparse
import json
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neighbors import LocalOutlierFactor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import OneClassSVM  # noqa: E402

from skvae import VAEOutlierDetector  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MIN_CLASS_ROWS = 5
COMMAND = "PYTHONPATH=. python benchmarks/bench_adbench.py --seeds 0 1 2 --max-train 3000"


def _sklearn(make):
    """Anomaly score = -score_samples (sklearn: higher score_samples = more normal)."""

    def run(X_train, X_test, seed):
        model = make(seed)
        start = time.perf_counter()
        model.fit(X_train)
        fit_time = time.perf_counter() - start
        return -model.score_samples(X_test), fit_time

    return run


def _pyod(name):
    """Anomaly score = PyOD's decision_function (higher = more abnormal)."""

    def run(X_train, X_test, seed):
        if name == "vae":
            from pyod.models.vae import VAE as Model
        else:
            from pyod.models.auto_encoder import AutoEncoder as Model
        model = Model(random_state=seed, device="cpu", verbose=0)  # defaults otherwise
        start = time.perf_counter()
        model.fit(X_train)
        fit_time = time.perf_counter() - start
        return model.decision_function(X_test), fit_time

    return run


DETECTORS = {
    "skvae": _sklearn(lambda seed: VAEOutlierDetector(random_state=seed)),
    "IForest": _sklearn(lambda seed: IsolationForest(random_state=seed)),
    "LOF": _sklearn(lambda seed: LocalOutlierFactor(novelty=True)),
    # Probabilistic PCA log-likelihood on standardised data, 95 % of the variance.
    "PCA": _sklearn(
        lambda seed: make_pipeline(
            StandardScaler(), PCA(n_components=0.95, svd_solver="full", random_state=seed)
        )
    ),
    "OCSVM": _sklearn(lambda seed: make_pipeline(StandardScaler(), OneClassSVM())),
    "PyOD-VAE": _pyod("vae"),
    "PyOD-AE": _pyod("ae"),
}


def data_dir(option):
    if option is not None:
        return Path(option)
    if os.environ.get("SKVAE_DATA_DIR"):
        return Path(os.environ["SKVAE_DATA_DIR"])
    return ROOT.parent / "shared" / "data"


def list_datasets(directory):
    files = sorted((directory / "adbench").glob("*.npz"), key=lambda p: int(p.stem.split("_")[0]))
    if not files:
        raise SystemExit(f"No ADBench .npz files under {directory / 'adbench'}.")
    return files


def split(X, y, seed, max_train):
    """Stratified subsample to max_train / 0.7 rows if larger, then a 70/30 split."""
    max_rows = int(np.ceil(max_train / 0.7))
    if X.shape[0] > max_rows:
        kept, rest = train_test_split(
            np.arange(X.shape[0]), train_size=max_rows, stratify=y, random_state=seed
        )
        # A class left with fewer than MIN_CLASS_ROWS rows (only smtp's 30
        # anomalies in 95,156 rows) is topped up from the rows left out, so
        # that the 70/30 split can still be stratified.
        for label in np.unique(y):
            missing = MIN_CLASS_ROWS - np.sum(y[kept] == label)
            if missing > 0:
                kept = np.r_[kept, rest[y[rest] == label][:missing]]
        X, y = X[kept], y[kept]
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)


def run_all(files, seeds, detectors, max_train, runs_path, resume):
    done = set()
    if resume and runs_path.exists():
        old = pd.read_csv(runs_path)
        old = old[old["max_train"] == max_train]
        done = set(zip(old["dataset"], old["seed"], old["detector"]))
    for path in files:
        data = np.load(path)
        X_all, y_all = data["X"].astype(np.float64), data["y"].astype(int)
        for seed in seeds:
            X_train, X_test, _, y_test = split(X_all, y_all, seed, max_train)
            for name in detectors:
                if (path.stem, seed, name) in done:
                    continue
                torch.set_num_threads(1)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    scores, fit_time = DETECTORS[name](X_train, X_test, seed)
                scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0)
                row = dict(
                    dataset=path.stem,
                    seed=seed,
                    detector=name,
                    max_train=max_train,
                    n_train=X_train.shape[0],
                    roc_auc=roc_auc_score(y_test, scores),
                    average_precision=average_precision_score(y_test, scores),
                    fit_time=fit_time,
                )
                print(
                    f"{row['dataset']:>18} seed={seed} {name:>9}: ROC-AUC {row['roc_auc']:.3f} "
                    f"AP {row['average_precision']:.3f} fit {fit_time:.2f}s",
                    flush=True,
                )
                pd.DataFrame([row]).to_csv(
                    runs_path, mode="a", header=not runs_path.exists(), index=False
                )


def summarise(runs, detectors):
    """Data sets x detectors mean ROC-AUC, with mean, average rank, AP and fit time rows."""
    runs = runs[runs["detector"].isin(detectors)]
    auc = runs.pivot_table(index="dataset", columns="detector", values="roc_auc", aggfunc="mean")
    auc = auc[[d for d in detectors if d in auc.columns]].dropna()
    auc = auc.loc[sorted(auc.index, key=lambda s: int(s.split("_")[0]))]
    ranks = auc.rank(axis=1, ascending=False).mean()
    kept = runs[runs["dataset"].isin(auc.index)]
    ap = kept.groupby("detector")["average_precision"].mean()
    fit = kept.groupby("detector")["fit_time"].mean()
    table = auc.copy()
    table.loc["mean ROC-AUC"] = auc.mean()
    table.loc["average rank"] = ranks
    table.loc["mean AP"] = ap
    table.loc["mean fit time (s)"] = fit
    return table, auc


def to_markdown(table):
    """A pipe table, three decimals (no tabulate dependency)."""
    lines = ["| dataset | " + " | ".join(table.columns) + " |"]
    lines.append("|---|" + "---:|" * len(table.columns))
    for name, row in table.iterrows():
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None, help="folder holding adbench/*.npz")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=None, help="name parts, e.g. cardio")
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS), choices=DETECTORS)
    parser.add_argument("--max-train", type=int, default=3000, help="cap on training rows")
    parser.add_argument("--resume", action="store_true", help="skip runs already saved")
    parser.add_argument("--runs", default=str(RESULTS / "adbench_runs.csv"))
    parser.add_argument("--no-table", action="store_true", help="do not write adbench.md/csv")
    parser.add_argument(
        "--skvae-params",
        type=json.loads,
        default={},
        help='JSON of VAEOutlierDetector parameters to try instead of the defaults, e.g. '
        '\'{"min_variance": 0.05}\'; use with its own --runs file and --no-table',
    )
    args = parser.parse_args()
    if args.skvae_params:
        params = args.skvae_params
        DETECTORS["skvae"] = _sklearn(
            lambda seed: VAEOutlierDetector(random_state=seed, **params)
        )

    files = list_datasets(data_dir(args.data_dir))
    if args.datasets:
        files = [p for p in files if any(part.lower() in p.stem.lower() for part in args.datasets)]
    runs_path = Path(args.runs)
    runs_path.parent.mkdir(parents=True, exist_ok=True)
    run_all(files, args.seeds, args.detectors, args.max_train, runs_path, args.resume)

    runs = pd.read_csv(runs_path)
    runs = runs[
        (runs["max_train"] == args.max_train)
        & runs["seed"].isin(args.seeds)
        & runs["dataset"].isin([p.stem for p in files])
    ]
    table, auc = summarise(runs, list(DETECTORS))
    pd.set_option("display.width", 200)
    print(table.round(3).to_string())
    extra = ""
    if "skvae" in auc and "PyOD-VAE" in auc:
        wins = int((auc["skvae"] > auc["PyOD-VAE"]).sum())
        extra = f"\nskvae beats PyOD-VAE on {wins} of {len(auc)} data sets (mean ROC-AUC).\n"
        print(extra.strip())
    if not args.no_table:
        table.to_csv(RESULTS / "adbench.csv", float_format="%.4f")
        header = (
            f"ROC-AUC on the test part, mean over seeds {args.seeds}, at most "
            f"{args.max_train} training rows (stratified subsample), "
            f"{len(auc)} data sets. Rows: data sets; the last rows: mean ROC-AUC, "
            "average rank (1 = best), mean average precision, mean fit time "
            f"(wall-clock seconds, one CPU thread).\n\nCommand: `{COMMAND}`\n\n"
        )
        (RESULTS / "adbench.md").write_text(header + to_markdown(table) + extra)


if __name__ == "__main__":
    main()
