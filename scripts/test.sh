#!/usr/bin/env bash
# The whole test suite, as CI runs it (after scripts/setup.sh):
#   1. the fast tests and every docstring example, on the installed scikit-learn;
#   2. the slow tests: statistical checks, streaming from disk, Dask clusters;
#   3. the fast tests again on the oldest scikit-learn that pyproject.toml
#      allows (skvae uses private scikit-learn helpers, so both ends of the
#      supported range are tested), in .venv-oldest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -m pytest -q -p no:cacheprovider
"$PYTHON" -m pytest -q -p no:cacheprovider -m slow
bash scripts/test_oldest_sklearn.sh
