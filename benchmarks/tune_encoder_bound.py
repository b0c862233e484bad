"""Choose ``ENCODER_INPUT_BOUND``: what the encoder reads of a near-constant Gaussian column.

Every non-linear model's encoder reads ``b * tanh(x / b)`` of a standardised
Gaussian or log-normal value ``x`` in a column that was near-constant in
training (interquartile range 0; ``skvae/_columns.py``). Unbounded, such a
column turns an ordinary value into an input of hundreds, and the code lands
far outside the prior (issue: Gaussian denoising of digits / 16 with
salt-and-pepper noise made the error 80 times worse). This script measures,
for candidate bounds ``b`` (and no bound):

* the held-out ELBO per row (nats, higher is better) of the default
  ``VAETransformer`` on numeric tables that no reported figure uses: ISLP
  0.4.0's Boston, Caravan, Weekly, Bikeshare and NYSE (read offline from the
  wheel, as ``_synthetic_tables.py`` does), and ADBench's cardio, letter,
  yeast and Ionosphere (no transformer figure uses them; ``--adbench-dir``),
  at most 2,000 training and 1,000 held-out rows, split by the fit seed;
* the issue's case: ``VAETransformer(latent_dim=8)`` on 75% of
  ``load_digits().data / 16``, 25% of the held-out pixels set to 0 or 1, and
  the mean squared error of ``inverse_transform(transform(noisy))`` against
  the clean images (the noisy images' own error is printed beside it), with
  the largest ``|z|``.

The rule, fixed before the run: the bound with the best mean held-out ELBO
over the tables (averaged over the seeds) among those that improve on the
noisy images' error in every seed.

The first version of this script bounded every Gaussian column, on the five
ISLP tables only (commit 0d6ad23): bounds 2, 3 and 5 cost 1.4, 1.1 and 0.9
nats per row on their mean against no bound (-27.36, -27.05, -26.84 against
-25.92), and later runs showed heavy-tailed columns losing their tails
(annthyroid's held-out ELBO 17.1 -> 11.5). Hence the bound on near-constant
columns only.

Usage (from the project root; about 6 minutes on one core)::

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/tune_encoder_bound.py
    PYTHONPATH=. python benchmarks/tune_encoder_bound.py --quick  # smoke run
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _synthetic_tables as tables  # noqa: E402
from _data import add_output_options, output_dir, write_table  # noqa: E402

import skvae  # noqa: E402
import skvae._columns as columns  # noqa: E402

TABLES = {
    "Boston": {},
    "Caravan": {"drop": ["Purchase"]},
    "Weekly": {"drop": ["Direction", "Year"]},
    "Bikeshare": {"drop": ["mnth", "hr", "weathersit", "day"]},
    "NYSE": {"drop": ["date", "day_of_week", "train"]},
}
ADBENCH = {"cardio": "6_cardio", "letter": "20_letter", "yeast": "47_yeast",
           "Ionosphere": "18_Ionosphere"}
BOUNDS = [None, 2.0, 3.0, 5.0]
DEFAULT_ADBENCH_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "adbench"


def load_table(name, directory):
    frame = tables._read(directory, "ISLP", f"ISLP/data/{name}.csv")
    frame = frame.drop(columns=[c for c in TABLES[name].get("drop", []) if c in frame])
    frame = frame.select_dtypes("number").dropna()
    return frame.to_numpy(dtype=np.float64)


def load_adbench(name, directory):
    path = Path(directory) / f"{ADBENCH[name]}.npz"
    if not path.exists():
        raise FileNotFoundError(f"No {path.name} under {path.parent}; pass --adbench-dir.")
    return np.load(path)["X"].astype(np.float64)


def digits_noise_case(seed, quick):
    X = load_digits().data / 16
    train, test = train_test_split(X, random_state=0)
    rng = np.random.default_rng(0)
    noisy = test.copy()
    hit = rng.random(test.shape) < 0.25
    noisy[hit] = rng.integers(0, 2, hit.sum())
    vae = skvae.VAETransformer(latent_dim=8, random_state=seed, max_iter=3 if quick else 400)
    vae.fit(train)
    codes = vae.transform(noisy)
    denoised = vae.inverse_transform(codes)
    return {
        "denoised MSE": float(np.mean((denoised - test) ** 2)),
        "noisy MSE": float(np.mean((noisy - test) ** 2)),
        "largest abs(z)": float(np.abs(codes).max()),
    }


def table_elbo(X, seed, quick):
    train, test = train_test_split(X, test_size=0.25, random_state=seed)
    train, test = train[:2000], test[:1000]
    vae = skvae.VAETransformer(random_state=seed, max_iter=3 if quick else 400).fit(train)
    return float(vae.score(test)), vae.n_iter_


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--data-dir", default=None, help="folder with the ISLP wheel")
    parser.add_argument("--adbench-dir", default=str(DEFAULT_ADBENCH_DIR),
                        help="folder with ADBench's .npz files")
    add_output_options(parser)
    args = parser.parse_args()
    directory = tables.data_dir(args.data_dir)
    seeds = args.seeds[:1] if args.quick else args.seeds
    names = list(TABLES)[:1] if args.quick else list(TABLES)
    data = {name: load_table(name, directory) for name in names}
    for name in list(ADBENCH)[:1] if args.quick else ADBENCH:
        data[name] = load_adbench(name, args.adbench_dir)
    names = list(data)
    warnings.filterwarnings("ignore", module="skvae")
    rows = []
    for bound in BOUNDS:
        columns.ENCODER_INPUT_BOUND = bound
        label = "none" if bound is None else f"{bound:g}"
        for seed in seeds:
            start = time.process_time()
            row = {"bound": label, "seed": seed}
            for name, X in data.items():
                row[name], row[f"{name} epochs"] = table_elbo(X, seed, args.quick)
            row.update(digits_noise_case(seed, args.quick))
            row["CPU s"] = time.process_time() - start
            rows.append(row)
            print(row, flush=True)
    runs = pd.DataFrame(rows)
    summary = runs.groupby("bound", sort=False)[names + ["denoised MSE", "largest abs(z)"]].mean()
    summary.insert(0, "mean held-out ELBO", summary[names].mean(axis=1))
    improves = runs.groupby("bound", sort=False).apply(
        lambda r: bool((r["denoised MSE"] < r["noisy MSE"]).all()), include_groups=False
    )
    summary["denoising improves (every seed)"] = improves
    eligible = summary[summary["denoising improves (every seed)"]]
    chosen = eligible["mean held-out ELBO"].idxmax() if len(eligible) else "none eligible"
    out = output_dir(args)
    write_table(
        summary.reset_index(),
        "encoder_bound_tuning",
        "Encoder input bound on near-constant columns: held-out ELBO per row on tables "
        "outside every report",
        notes=[
            f"Seeds {seeds}; noisy images' MSE {runs['noisy MSE'].iloc[0]:.4f}. "
            f"Chosen by the rule in the script's docstring: **{chosen}**.",
            "Command: `PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/tune_encoder_bound.py`",
        ],
        out_dir=out,
    )
    runs.to_csv(Path(out) / "encoder_bound_tuning_runs.csv", index=False)


if __name__ == "__main__":
    main()
