"""The scvi-tools side of ``bench_counts.py``: SCVI on pbmc68k_reduced's UMI counts.

Run with the python of a separate venv that has scvi-tools and scanpy (they
never go into skvae's environment)::

    bash /work/shared/scripts/peer-venv.sh /tmp/venv-scvi "scvi-tools==1.4.2" scanpy
    /tmp/venv-scvi/bin/python benchmarks/peer_scvi_counts.py --prepare --data-dir DIR
    OMP_NUM_THREADS=1 /tmp/venv-scvi/bin/python benchmarks/peer_scvi_counts.py --data-dir DIR

``--prepare`` writes the data set that both libraries read,
``DIR/pbmc68k_reduced/pbmc68k_counts.npz``: scanpy's bundled
``pbmc68k_reduced`` (700 cells x 765 genes, shipped inside the scanpy wheel,
no download) turned back into integer UMI counts as
``round(expm1(adata.raw.X) * adata.obs["n_counts"][:, None] / 1e4)`` (the
largest distance of the unrounded values from an integer is printed), with
the cell split: a permutation of the 700 cells by ``RandomState(0)``, the
first 560 for training and the last 140 held out.

Then, for each seed (``scvi.settings.seed``; 0, 1 and 2) and each
``gene_likelihood`` in zinb, nb and poisson, ``SCVI(n_latent=10)``
with scvi-tools' other defaults (one hidden layer of 128, dropout 0.1,
gene-level dispersion, observed library size, KL warm-up over 400 epochs)
is trained for 200 epochs on the 560 training cells with
``train_size=1.0`` (no validation split of its own: every training cell
is used), on one thread (``torch.set_num_threads(1)``), after an untimed
one-epoch warm-up fit. On the 140 held-out cells it reports the
ELBO per cell (``get_elbo``; higher is better) and the importance-sampled
marginal log-likelihood per cell (``get_marginal_ll(n_mc_samples=200)``,
per cell and averaged here; "not the negative log-likelihood, so higher is
better", as its docstring says). Both are log p(x) of the integer counts
with their log-factorial terms (scVI's NB, ZINB and Poisson log-masses
include lgamma(x + 1)), as skvae's are. The table goes to ``--out``.
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np

N_TRAIN = 560
NPZ = Path("pbmc68k_reduced") / "pbmc68k_counts.npz"


def prepare(data_dir):
    """Write the counts and the split as ``data_dir/pbmc68k_reduced/pbmc68k_counts.npz``."""
    import scanpy as sc

    adata = sc.datasets.pbmc68k_reduced()
    raw = adata.raw.X.toarray() if hasattr(adata.raw.X, "toarray") else np.asarray(adata.raw.X)
    scaled = np.expm1(raw.astype(np.float64)) * adata.obs["n_counts"].to_numpy()[:, None] / 1e4
    counts = np.round(scaled)
    print(
        f"pbmc68k_reduced: {counts.shape[0]} cells x {counts.shape[1]} genes; largest distance "
        f"of the unrounded counts from an integer {np.abs(scaled - counts).max():.4f}; "
        f"total counts per cell {counts.sum(1).min():.0f} to {counts.sum(1).max():.0f}"
    )
    order = np.random.RandomState(0).permutation(counts.shape[0])
    path = Path(data_dir) / NPZ
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        counts=counts.astype(np.int64),
        train=np.sort(order[:N_TRAIN]),
        test=np.sort(order[N_TRAIN:]),
        genes=np.asarray(adata.raw.var_names, dtype=str),
    )
    print(f"wrote {path}")


def run(data_dir, likelihoods, epochs, n_mc_samples, seeds):
    import anndata
    import pandas as pd
    import scvi
    import torch

    torch.set_num_threads(1)
    scvi.settings.seed = 0
    scvi.settings.dl_num_workers = 0
    data = np.load(Path(data_dir) / NPZ)
    counts = data["counts"].astype(np.float32)
    train = anndata.AnnData(counts[data["train"]])
    test = anndata.AnnData(counts[data["test"]])
    rows = []
    # One-time start-up costs (lightning, data loaders) kept out of the timings.
    scvi.model.SCVI.setup_anndata(train)
    scvi.model.SCVI(train, n_latent=10).train(
        max_epochs=1, train_size=1.0, accelerator="cpu", devices=1, enable_progress_bar=False
    )
    for seed, likelihood in ((s, lik) for s in seeds for lik in likelihoods):
        scvi.settings.seed = seed  # seeds torch, numpy and python's random
        scvi.model.SCVI.setup_anndata(train)
        model = scvi.model.SCVI(train, n_latent=10, gene_likelihood=likelihood)
        load = os.getloadavg()[0]  # the machine is shared: how busy it was
        start = time.perf_counter()
        model.train(
            max_epochs=epochs, train_size=1.0, accelerator="cpu", devices=1,
            enable_progress_bar=False,
        )
        seconds = time.perf_counter() - start
        elbo = float(model.get_elbo(test))
        marginal = model.get_marginal_ll(test, n_mc_samples=n_mc_samples, return_mean=False)
        marginal = float(np.mean(np.asarray(marginal, dtype=np.float64)))
        train_marginal = model.get_marginal_ll(train, n_mc_samples=n_mc_samples, return_mean=False)
        train_marginal = float(np.mean(np.asarray(train_marginal, dtype=np.float64)))
        rows.append(
            dict(
                library="scvi-tools 1.4.2", model=f"SCVI gene_likelihood={likelihood!r}",
                seed=seed, epochs=epochs, fit_seconds=seconds, load_1min=load, test_elbo=elbo,
                test_log_likelihood=marginal, train_log_likelihood=train_marginal,
            )
        )
        print(
            f"SCVI {likelihood} seed {seed}: fit {seconds:.1f} s, held-out ELBO {elbo:.2f}, "
            f"held-out marginal LL {marginal:.2f} (train {train_marginal:.2f}) per cell"
        )
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", required=True, help="holds pbmc68k_reduced/ (see --prepare)"
    )
    parser.add_argument(
        "--prepare", action="store_true", help="write the npz from scanpy, then stop"
    )
    parser.add_argument("--likelihoods", nargs="+", default=["zinb", "nb", "poisson"])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--n-mc-samples", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    results = Path(__file__).resolve().parent / "results"
    parser.add_argument("--out", default=str(results / "counts_pbmc68k_scvi.csv"))
    args = parser.parse_args()
    if args.prepare:
        prepare(args.data_dir)
        return
    table = run(args.data_dir, args.likelihoods, args.epochs, args.n_mc_samples, args.seeds)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
