"""The SDV half of ``bench_synthetic.py``: fit SDV's synthesizers, and SDMetrics' scores.

Runs in its own virtual environment (SDV is not a dependency of skvae)::

    bash ../shared/scripts/peer-venv.sh /tmp/venv-sdv "sdv==2.0.0"   # brings sdmetrics 0.32
    for s in 0 1 2; do OMP_NUM_THREADS=1 /tmp/venv-sdv/bin/python \\
        benchmarks/bench_synthetic_peers.py --work-dir /tmp/synth-work/seed$s --seed $s; done

Two jobs:

* default: for every table of ``_synthetic_tables.REPORT_TABLES``, load and
  split it exactly as ``bench_synthetic.py`` does (same seed, same caps),
  fit ``GaussianCopulaSynthesizer``, ``TVAESynthesizer`` and
  ``CTGANSynthesizer`` at SDV 2.0's defaults (300 epochs for TVAE and
  CTGAN, ``enforce_min_max_values=True``, ``enforce_rounding=True``) on one
  thread, draw as many rows as the training table has, and write them to
  ``<work-dir>/<table>/<method>.csv`` with the fit and sample seconds in
  ``<method>.json``. ``--epochs-tvae`` / ``--epochs-ctgan`` add runs at other
  epoch counts (as methods ``TVAE(e=N)``/``CTGAN(e=N)``).
* ``--score-quality``: SDMetrics' ``QualityReport`` (overall score, Column
  Shapes, Column Pair Trends) of every sample CSV found under
  ``<work-dir>`` (SDV's and skvae's, which ``bench_synthetic.py`` writes
  there) against the real training rows, with metadata detected from the
  training rows; written to ``<work-dir>/quality.csv``. The held-out real
  rows are scored the same way (method ``real held-out``), as a ceiling.

SDV's known traps are avoided: metadata is detected with
``infer_keys=None`` (a unique numeric column would otherwise become a
primary key and be generated as an ID, not modelled), and category columns
are handed over as plain strings (RDT fails on unused categories), and
everything runs on one core (see ``LOKY_MAX_CPU_COUNT`` below). ``--seed``
seeds Python's, numpy's and torch's generators before each fit. SDV also
writes its logging configuration under the home directory
(``~/.local/share/sdv/sdv_logger_config.yml``, log file ``sdv_logs.csv``
there when enabled); nothing of it is used here.
"""

import argparse
import json
import os
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

# CTGAN's and TVAE's data transformer runs joblib.Parallel(n_jobs=-1) on tables of 500 rows or
# more; one CPU for loky, and the sequential backend below, keep everything on one core, so that
# the CPU seconds measured in this process are all there are.
os.environ.setdefault("LOKY_MAX_CPU_COUNT", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _synthetic_tables as tables  # noqa: E402

TABLE = "table"


def as_sdv_frame(frame):
    """``frame`` with its category columns as plain object (string) columns."""
    return frame.astype(
        {c: object for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}
    )


def metadata_for(train):
    from sdv.metadata import Metadata

    return Metadata.detect_from_dataframes({TABLE: as_sdv_frame(train)}, infer_keys=None)


def synthesizers(epochs_tvae, epochs_ctgan):
    from sdv.single_table import (
        CTGANSynthesizer,
        GaussianCopulaSynthesizer,
        TVAESynthesizer,
    )

    methods = {
        "GaussianCopula": (GaussianCopulaSynthesizer, {}),
        "TVAE": (TVAESynthesizer, {}),
        "CTGAN": (CTGANSynthesizer, {}),
    }
    for epochs in epochs_tvae:
        methods[f"TVAE(e={epochs})"] = (TVAESynthesizer, {"epochs": epochs})
    for epochs in epochs_ctgan:
        methods[f"CTGAN(e={epochs})"] = (CTGANSynthesizer, {"epochs": epochs})
    return methods


def fit_peers(args):
    import joblib
    import sdv
    import torch

    torch.set_num_threads(1)
    work = Path(args.work_dir)
    methods = synthesizers(args.epochs_tvae, args.epochs_ctgan)
    if args.methods:
        methods = {name: methods[name] for name in args.methods}
    for name in args.tables:
        train, _ = tables.split(tables.load(name, args.data_dir))
        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        metadata = metadata_for(train)
        for method, (cls, kwargs) in methods.items():
            if (folder / f"{method}.json").exists() and not args.force:
                print(f"{name} {method}: already there, skipped", flush=True)
                continue
            random.seed(args.seed)
            np.random.seed(args.seed)
            torch.manual_seed(args.seed)
            synthesizer = cls(metadata, **kwargs)
            with warnings.catch_warnings(), joblib.parallel_config(backend="sequential"):
                warnings.simplefilter("ignore")
                start, cpu = time.perf_counter(), time.process_time()
                synthesizer.fit({TABLE: as_sdv_frame(train)})
                fit_s, fit_cpu_s = time.perf_counter() - start, time.process_time() - cpu
                start, cpu = time.perf_counter(), time.process_time()
                sample = synthesizer.sample(len(train))[TABLE]
                sample_s, sample_cpu_s = time.perf_counter() - start, time.process_time() - cpu
            sample.to_csv(folder / f"{method}.csv", index=False)
            info = {"fit_s": fit_s, "sample_s": sample_s, "fit_cpu_s": fit_cpu_s,
                    "sample_cpu_s": sample_cpu_s, "n_train": len(train),
                    "params": {k: v for k, v in synthesizer.get_parameters().items()
                               if isinstance(v, (int, float, str, bool))},
                    "sdv": sdv.__version__}
            (folder / f"{method}.json").write_text(json.dumps(info, indent=1))
            print(f"{name} {method}: fit {fit_s:.1f} s ({fit_cpu_s:.1f} s CPU), "
                  f"sample {sample_s:.2f} s", flush=True)


def score_quality(args):
    import sdmetrics
    from sdmetrics.reports.single_table import QualityReport

    work = Path(args.work_dir)
    rows = []
    for name in args.tables:
        folder = work / name
        if not folder.exists():
            continue
        train, held = tables.split(tables.load(name, args.data_dir))
        metadata = metadata_for(train).to_dict()["tables"][TABLE]
        real = as_sdv_frame(train)
        samples = [(path.stem, tables.restore_dtypes(pd.read_csv(path), train))
                   for path in sorted(folder.glob("*.csv"))]
        for method, sample in samples + [("real held-out", held)]:
            sample = as_sdv_frame(sample)
            report = QualityReport()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                report.generate(real, sample, metadata, verbose=False)
            properties = report.get_properties().set_index("Property")["Score"]
            rows.append({
                "table": name, "method": method,
                "quality": report.get_score(),
                "column_shapes": properties["Column Shapes"],
                "column_pair_trends": properties["Column Pair Trends"],
            })
            print(f"{name} {method}: quality {rows[-1]['quality']:.3f}", flush=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(work / args.quality_file, index=False)
    (work / "quality_versions.json").write_text(json.dumps({"sdmetrics": sdmetrics.__version__}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--tables", nargs="+", default=list(tables.REPORT_TABLES))
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--epochs-tvae", nargs="*", type=int, default=[])
    parser.add_argument("--epochs-ctgan", nargs="*", type=int, default=[])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="refit what is already there")
    parser.add_argument("--score-quality", action="store_true")
    parser.add_argument("--quality-file", default="quality.csv", help="under --work-dir")
    args = parser.parse_args()
    if args.score_quality:
        score_quality(args)
    else:
        fit_peers(args)


if __name__ == "__main__":
    main()
