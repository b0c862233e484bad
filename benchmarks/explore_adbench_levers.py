"""The levers of issue 11 measured on the ADBench splits of ``bench_adbench.py``.

``bench_adbench.py`` chooses among the shipped detector's own settings; this
script asks whether anything beyond them moves the figures: each lever is
applied to the shipped neighbour setting (8 epochs, ``neighbor_weight=4``,
``n_neighbors=20`` unsupervised, 1 semi-supervised, as the cross-validation
chose) and scored on the same splits (seed 0, at most 1,000 training rows):

* ``seeds x3``: the mean score of three detectors with different seeds;
* ``latent 4+8+16``: the mean score over three latent sizes; ``latent 4``,
  ``latent 16`` alone;
* ``quantile input``: the rows mapped to normal scores by
  :class:`~sklearn.preprocessing.QuantileTransformer` first;
* ``beta 2``, ``beta 4``: a heavier KL term, so a small cluster of anomalies
  is harder to encode;
* ``worst feature`` and ``tail sum``: per-feature scores in the manner of
  ECOD, the largest of a row's :meth:`score_features` or the sum of its
  positive ones;
* ``k 40``, ``k 60``: farther neighbours (unsupervised only);
* ``ELBO only``: ``neighbor_weight=0``, for reference.

Per variant: mean ROC-AUC over the 35 sets, the worst per-set gap to
IsolationForest and the number of sets more than 0.10 below it (IsolationForest
read from the runs file of ``bench_adbench.py``, same splits). Then ``CV over
all``: the 5-fold cross-validation over data sets of ``bench_adbench.py``,
choosing among every variant here, a generous bound on what these levers
could give under the protocol.

Usage, from the project root (about 10 minutes per setting on one core)::

    PYTHONPATH=. python benchmarks/explore_adbench_levers.py --setting unsupervised
    PYTHONPATH=. python benchmarks/explore_adbench_levers.py --setting semi

Writes ``<out-dir>/adbench_levers_<setting>_1000.md`` (by default
``benchmarks/results``); ``--quick`` is a smoke test on three small sets.
"""

import argparse
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import QuantileTransformer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_adbench as bench  # noqa: E402

from skvae import VAEOutlierDetector  # noqa: E402

MAX_TRAIN = 1000


def anomaly_scores(X_train, X_test, setting):
    """Variant name -> anomaly scores of the test rows (higher = more anomalous)."""
    k = 20 if setting == "unsupervised" else 1
    shipped = dict(max_iter=8, neighbor_weight=4.0, n_neighbors=k)

    def make(**changes):
        return VAEOutlierDetector(**{**shipped, "random_state": 0, **changes})

    def fit(**changes):
        return make(**changes).fit(X_train)

    base = fit()
    scores = {"shipped": -base.score_samples(X_test)}
    seeds = [base] + [fit(random_state=seed) for seed in (1, 2)]
    scores["seeds x3"] = -np.mean([m.score_samples(X_test) for m in seeds], axis=0)
    by_latent = {size: fit(latent_dim=size) for size in (4, 16)}
    by_latent[8] = base
    latent_scores = [m.score_samples(X_test) for m in by_latent.values()]
    scores["latent 4+8+16"] = -np.mean(latent_scores, axis=0)
    scores["latent 4"] = -by_latent[4].score_samples(X_test)
    scores["latent 16"] = -by_latent[16].score_samples(X_test)
    quantile = QuantileTransformer(
        output_distribution="normal", n_quantiles=min(1000, X_train.shape[0])
    )
    pipeline = make_pipeline(quantile, make()).fit(X_train)
    scores["quantile input"] = -pipeline.score_samples(X_test)
    scores["beta 2"] = -fit(beta=2.0).score_samples(X_test)
    scores["beta 4"] = -fit(beta=4.0).score_samples(X_test)
    per_feature = base.score_features(X_test)
    scores["worst feature"] = per_feature.max(axis=1)
    scores["tail sum"] = np.clip(per_feature, 0, None).sum(axis=1)
    if setting == "unsupervised":
        scores["k 40"] = -fit(n_neighbors=40).score_samples(X_test)
        scores["k 60"] = -fit(n_neighbors=60).score_samples(X_test)
    scores["ELBO only"] = -fit(neighbor_weight=0.0).score_samples(X_test)
    return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=["unsupervised", "semi"], default="unsupervised")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out-dir", default=str(bench.RESULTS))
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: three small sets (figures mean nothing)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out_dir)
    # IsolationForest on the same splits, from the runs file of bench_adbench.py
    runs = pd.read_csv(bench.RESULTS / f"adbench_runs_{args.setting}_{MAX_TRAIN}.csv")
    runs = runs[(runs["detector"] == bench.REFERENCE) & (runs["seed"] == 0)]
    forest = runs.set_index("dataset")["roc_auc"]
    auc = {}
    files = bench.list_datasets(bench.data_dir(args.data_dir))
    if args.quick:
        files = [f for f in files if f.stem in ("14_glass", "42_WBC", "45_wine")]
    for path in files:
        data = np.load(path)
        X, y = data["X"].astype(np.float64), data["y"].astype(int)
        X_train, X_test, y_train, y_test = bench.split(X, y, 0, MAX_TRAIN)
        if args.setting == "semi":
            X_train = X_train[y_train == 0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = anomaly_scores(X_train, X_test, args.setting)
        for name, values in scores.items():
            if not np.all(np.isfinite(values)):
                raise ValueError(f"{name} gave non-finite scores on {path.stem}")
        auc[path.stem] = {name: roc_auc_score(y_test, values) for name, values in scores.items()}
        print(path.stem, " ".join(f"{n}={a:.3f}" for n, a in auc[path.stem].items()), flush=True)
    auc = pd.DataFrame(auc).T
    gap = auc.sub(forest.loc[auc.index], axis=0)
    table = pd.DataFrame(
        {
            "mean ROC-AUC": auc.mean(),
            "minus shipped": auc.mean() - auc["shipped"].mean(),
            "worst gap to IForest": gap.min(),
            "worst set": gap.idxmin(),
            "sets > 0.10 below IForest": (gap < -0.10).sum(),
        }
    )
    table.index.name = "variant"
    chosen, cv = [], pd.Series(index=auc.index, dtype=float)
    for _, best, held_out in bench.choose_per_fold(auc, 5):
        chosen.append(best)
        cv[held_out] = auc.loc[held_out, best]
    cv_gap = cv - forest.loc[cv.index]
    lines = [
        f"# ADBench levers, {args.setting} setting",
        "",
        f"Seed 0, at most {MAX_TRAIN} training rows, the splits of `bench_adbench.py`. "
        "Command: `PYTHONPATH=. python benchmarks/explore_adbench_levers.py "
        f"--setting {args.setting}`.",
        "",
        bench.to_markdown(table.round(3)),
        "",
        f"IsolationForest: mean ROC-AUC {forest.loc[auc.index].mean():.3f}.",
        "",
        f"CV over all variants above (5 folds of data sets): mean ROC-AUC {cv.mean():.3f}, "
        f"worst gap to IsolationForest {cv_gap.min():.3f} ({cv_gap.idxmin()}), "
        f"{int((cv_gap < -0.10).sum())} sets more than 0.10 below it; chosen per fold: "
        + ", ".join(chosen)
        + ".",
        "",
    ]
    path = out / f"adbench_levers_{args.setting}_{MAX_TRAIN}.md"
    path.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
