"""The peer imputers of ``bench_impute_tables.py``: hyperimpute's on mixed-type tables.

Run with the python of the hyperimpute venv (see ``bench_impute_peers.py``),
never the project's::

    bash ../shared/scripts/peer-venv.sh /tmp/venv-hyper hyperimpute==0.1.17 \\
        "scikit-learn==1.7.2" "pandas==2.3.3"
    OMP_NUM_THREADS=1 /tmp/venv-hyper/bin/python benchmarks/bench_impute_tables_peers.py

The tables, masks and scores are those of ``bench_impute_tables.py``: its
functions make them, so both scripts remove and score the very same
entries. The peers (``bench_impute_peers.make_imputer``: missForest, MIWAE at
the paper's sizes, and the HyperImpute ensemble, each seeded with the mask's
seed) take the table as scikit-learn's imputers there do: numeric columns
standardised, each categorical column as its category codes (NaN where
missing), every imputed code rounded to the nearest category. HyperImpute
and missForest read a column with few distinct values as categorical and
fit classifiers to it; MIWAE treats the codes as numbers.

Writes ``impute_tables_peers.csv`` and ``.md`` (one row per fit; with a
suffix naming the peers and mechanisms for a subset), which
``bench_impute_tables.py`` merges into its table. ``--quick`` checks the
plumbing; without hyperimpute (CI) it runs ``SimpleImputer`` in place of
the peers, so its figures mean nothing.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_impute_tables as bench  # noqa: E402
from _data import add_output_options, output_dir, write_table  # noqa: E402
from bench_impute_peers import PEERS, check_not_mean_fill, make_imputer  # noqa: E402


def run(names, mechanisms, seeds, peers, quick, data_dir):
    rows = []
    for table in names:
        frame, location, scale = bench.prepared(table, quick, data_dir)
        for mechanism in mechanisms:
            for seed in seeds:
                removed = bench.removed_entries(frame, mechanism, seed)
                holes = bench.with_holes(frame, removed)
                X_missing = bench.as_codes(holes, location, scale)
                for name in peers:
                    impute = make_imputer(name, seed, X_missing.shape[1], quick)
                    start = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        filled = impute(X_missing)
                    seconds = time.perf_counter() - start
                    if not quick:
                        check_not_mean_fill(name, filled, X_missing, removed)
                    rows.append(bench.scored(
                        bench.from_codes(filled, holes, location, scale), frame, removed, scale,
                        seconds, table=table, mechanism=mechanism, seed=seed, imputer=name))
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=list(bench.TABLES))
    parser.add_argument("--mechanisms", nargs="+", default=list(bench.MECHANISMS),
                        choices=list(bench.MECHANISMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--imputers", nargs="+", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--data-dir", default=None, help="folder with the wheels")
    add_output_options(parser)
    args = parser.parse_args()
    names = ["quick"] if args.quick else args.tables
    seeds = args.seeds[:1] if args.quick else args.seeds
    mechanisms = args.mechanisms[:1] if args.quick else args.mechanisms
    runs = run(names, mechanisms, seeds, args.imputers, args.quick, args.data_dir)
    command = (
        "OMP_NUM_THREADS=1 /tmp/venv-hyper/bin/python benchmarks/bench_impute_tables_peers.py "
        f"--tables {' '.join(names)} --mechanisms {' '.join(mechanisms)} "
        f"--seeds {' '.join(map(str, seeds))} --imputers {' '.join(args.imputers)}"
    )
    name = "impute_tables_peers"
    if args.imputers != list(PEERS) or args.mechanisms != list(bench.MECHANISMS):
        name += "_" + "-".join(args.imputers + args.mechanisms)
    write_table(
        runs,
        name,
        "Peer imputers (hyperimpute 0.1.17) on mixed-type tables, per mask",
        notes=[f"Command: `{command}`"
               + (" QUICK SMOKE RUN: the figures mean nothing." if args.quick else "")],
        digits=4,
        out_dir=output_dir(args),
    )


if __name__ == "__main__":
    main()
