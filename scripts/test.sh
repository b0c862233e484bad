#!/usr/bin/env bash
# The whole test suite, as CI runs it (after scripts/setup.sh):
#   1. the fast tests and every docstring example, on the installed scikit-learn;
#   2. the slow tests: statistical checks, streaming from disk, Dask clusters;
#   3. the docs site, with every warning an error (the gallery's examples run);
#   4. the fast tests again on the oldest scikit-learn that pyproject.toml
#      allows (skvae uses private scikit-learn helpers, so both ends of the
#      supported range are tested), in .venv-oldest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -m pytest -q -p no:cacheprovider
"$PYTHON" -m pytest -q -p no:cacheprovider -m slow
OMP_NUM_THREADS=1 "$PYTHON" -m sphinx -W --keep-going -q -b html docs docs/_build/html
bash scripts/test_oldest_sklearn.sh
