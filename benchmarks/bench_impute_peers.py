"""The peer imputers of ``bench_impute.py``: hyperimpute's missForest, MIWAE and HyperImpute.

Run with the python of a separate venv that has hyperimpute (it pulls in
TensorFlow and pins its own scikit-learn), never the project's::

    bash ../shared/scripts/peer-venv.sh /tmp/venv-hyper hyperimpute==0.1.17 \\
        "scikit-learn==1.7.2" "pandas==2.3.3"
    OMP_NUM_THREADS=1 /tmp/venv-hyper/bin/python benchmarks/bench_impute_peers.py --tune
    OMP_NUM_THREADS=1 /tmp/venv-hyper/bin/python benchmarks/bench_impute_peers.py \\
        --datasets breast_cancer

The masks are those of ``bench_impute.py`` (``_impute_data.py``: the same
data set, mechanism and seed give the same removed entries), and so is the
score: the mean squared error over the removed entries in standardised
units, and the downstream score of ``_impute_data.downstream``. The
results go to ``benchmarks/results/impute_peers_<data>.csv`` (and ``.md``,
with the command; ``impute_peers_<data>_<imputers>-<mechanisms>`` for a
subset), which ``bench_impute.py`` merges into its table.

The peers, through ``hyperimpute.plugins.imputers.Imputers().get(name)``,
each seeded with the mask's seed and one torch thread:

* ``missforest``: hyperimpute's missForest (random forests, iterated), its
  defaults;
* ``hyperimpute``: HyperImpute's column-wise AutoML over its default
  learners, its defaults;
* ``miwae``: MIWAE (Mattei & Frellsen, 2019). The plugin's defaults are a
  trap (latent size 1, hidden width 1, and 10 importance draws per
  imputation), so it runs as in the paper: K = 20 importance draws in
  training, hidden width 128, 500 epochs (``VAEImputer`` stops after about
  300 to 500 on these sets), batch 128 (as ``VAEImputer``) and L = 1000
  draws per imputation (the paper uses 10,000); its latent size, 10 or
  p - 1, was chosen (10) by ``--tune`` on the validation masks of
  ``tune_impute.py`` (50% MCAR, seeds 100 and 101 of load_wine and of
  load_breast_cancer), not on the report masks.

``--quick`` checks the plumbing in seconds; when hyperimpute is not
installed (CI) it runs scikit-learn's ``SimpleImputer`` in place of the
plugins, so its figures mean nothing.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _impute_data as data  # noqa: E402
from _data import add_output_options, output_dir, write_table  # noqa: E402

PEERS = ("missforest", "miwae", "hyperimpute")
VALIDATION = [("wine", 100), ("wine", 101), ("breast_cancer", 100), ("breast_cancer", 101)]
MIWAE_LATENT = 10  # chosen by --tune (see impute_peers_tuning.md)
MIWAE_DRAWS = 1000  # L, importance draws per imputation


def miwae_settings(n_features, latent):
    return dict(n_epochs=500, batch_size=128, latent_size=latent, n_hidden=128, K=20)


def make_imputer(name, seed, n_features, quick, latent=None):
    """A fitted-on-call imputer: ``impute(X_missing) -> filled ndarray``."""
    try:
        from hyperimpute.plugins.imputers import Imputers
    except ImportError:
        if not quick:
            raise
        from sklearn.impute import SimpleImputer

        return lambda X: SimpleImputer().fit_transform(X)
    import torch

    torch.set_num_threads(1)
    if name == "miwae":
        latent = MIWAE_LATENT if latent is None else latent
        latent = n_features - 1 if latent == "p-1" else latent
        settings = miwae_settings(n_features, latent)
        if quick:
            settings["n_epochs"] = 3
        plugin = Imputers().get("miwae", random_state=seed, **settings)

        def impute(X):
            # the plugin's transform uses L = 10 draws; the paper imputes with many more
            plugin.fit(pd.DataFrame(X))
            values = torch.from_numpy(np.nan_to_num(X, nan=0.0)).float()
            observed = torch.from_numpy(~np.isnan(X))
            with torch.no_grad():
                filled = plugin._miwae_impute(iota_x=values, mask=observed, L=MIWAE_DRAWS)
            return np.where(np.isnan(X), filled.numpy().astype(np.float64), X)

        return impute
    settings = {"n_inner_iter": 2} if quick and name == "hyperimpute" else {}
    if quick and name == "missforest":
        settings = {"max_iter": 2}
    plugin = Imputers().get(name, random_state=seed, **settings)
    return lambda X: np.asarray(plugin.fit_transform(pd.DataFrame(X)), dtype=np.float64)


def score(name, X, mechanism, seed, quick, latent=None):
    removed = data.mask(X, mechanism, seed)
    X_missing = data.with_holes(X, removed)
    impute = make_imputer(name, seed, X.shape[1], quick, latent)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filled = impute(X_missing)
    seconds = time.perf_counter() - start
    error = data.mse(filled, X, removed)
    if not quick:
        check_not_mean_fill(name, filled, X_missing, removed)
    return error, seconds, filled


def check_not_mean_fill(name, filled, X_missing, removed):
    """Refuse a peer whose imputations are the column means: broken, not weak.

    hyperimpute's ``ice``, ``missforest`` and ``hyperimpute`` return the mean
    fill silently under pandas 3 (see the issue); such a run must not pass
    for a weak result.
    """
    means = np.broadcast_to(np.nanmean(X_missing, axis=0), X_missing.shape)
    if np.allclose(filled[removed], means[removed], atol=1e-6):
        raise RuntimeError(f"{name} returned the mean fill: the peer is broken in this venv.")


def tune(args, out_dir):
    """MIWAE's latent size on the validation masks; writes impute_peers_tuning.md."""
    rows = []
    for name, seed in VALIDATION[:1] if args.quick else VALIDATION:
        X = data.load(name, args.data_dir)
        X = X[:80] if args.quick else X
        for latent in (10, "p-1"):
            error, seconds, _ = score("miwae", X, "mcar50", seed, args.quick, latent)
            rows.append(dict(data=name, seed=seed, latent=str(latent), mse=error,
                             seconds=seconds))
            print(f"{name} mask {seed} miwae latent {latent}: MSE {error:.4f} "
                  f"({seconds:.1f} s)", flush=True)
    runs = pd.DataFrame(rows)
    table = runs.pivot_table(index="latent", columns="data", values="mse", sort=False)
    table.columns = [f"mse {c}" for c in table.columns]
    table = table.reset_index()
    write_table(
        table,
        "impute_peers_tuning",
        "MIWAE's (hyperimpute) latent size on validation masks (50% MCAR)",
        notes=[
            "Mean squared error over the removed entries, mean over mask seeds 100 and 101 of "
            "each data set (not report masks); K=20, hidden 128, 500 epochs, batch 128, "
            f"L={MIWAE_DRAWS} draws per imputation.",
            "Command: `OMP_NUM_THREADS=1 /tmp/venv-hyper/bin/python "
            "benchmarks/bench_impute_peers.py --tune`",
        ],
        digits=4,
        out_dir=out_dir,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["breast_cancer", "wine"])
    parser.add_argument("--mechanisms", nargs="+", default=list(data.MECHANISMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--imputers", nargs="+", default=list(PEERS))
    parser.add_argument("--tune", action="store_true", help="choose MIWAE's latent size")
    parser.add_argument("--data-dir", default=None, help="folder with adbench/ (yeast)")
    add_output_options(parser)
    args = parser.parse_args()
    out_dir = output_dir(args)
    if args.tune:
        return tune(args, out_dir)
    seeds = args.seeds[:1] if args.quick else args.seeds
    datasets = args.datasets[:1] if args.quick else args.datasets
    for name in datasets:
        X = data.load(name, args.data_dir)
        X = X[:80] if args.quick else X
        rows = []
        for mechanism in args.mechanisms:
            for seed in seeds:
                for imputer in args.imputers:
                    error, seconds, filled = score(imputer, X, mechanism, seed, args.quick)
                    downstream = data.downstream(filled, name, len(X))
                    rows.append(dict(data=name, mechanism=mechanism, seed=seed,
                                     imputer=imputer, mse=error, downstream=downstream,
                                     seconds=seconds))
                    print(f"{name} {mechanism} mask {seed} {imputer}: MSE {error:.4f}, "
                          f"downstream {downstream} ({seconds:.1f} s)", flush=True)
        command = (
            "OMP_NUM_THREADS=1 /tmp/venv-hyper/bin/python benchmarks/bench_impute_peers.py "
            f"--datasets {name} --mechanisms {' '.join(args.mechanisms)} "
            f"--seeds {' '.join(map(str, seeds))} --imputers {' '.join(args.imputers)}"
        )
        table_name = f"impute_peers_{name}"
        if args.imputers != list(PEERS) or args.mechanisms != list(data.MECHANISMS):
            table_name += "_" + "-".join(args.imputers + args.mechanisms)
        write_table(
            pd.DataFrame(rows),
            table_name,
            f"Peer imputers (hyperimpute 0.1.17) on standardised {name}, per mask",
            notes=[f"Command: `{command}`",
                   f"MIWAE: latent {MIWAE_LATENT}, hidden 128, K=20, 500 epochs, batch 128, "
                   f"L={MIWAE_DRAWS}."],
            digits=4,
            out_dir=out_dir,
        )


if __name__ == "__main__":
    main()
