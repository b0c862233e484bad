#!/usr/bin/env bash
# Run the test suite against the oldest scikit-learn that pyproject.toml
# allows (skvae uses private scikit-learn helpers, so both ends of the range
# are tested; the newest is whatever scripts/setup.sh installs).
#
# A separate virtual environment, .venv-oldest (git-ignored), holds
# scikit-learn==$OLDEST plus skvae and its test extras, installed by
# scripts/setup.sh (so PyTorch comes from the local CPU build where there is
# one, as in the main set-up). It is created on the first run and reused.
# Extra arguments go to pytest, e.g. `bash scripts/test_oldest_sklearn.sh -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
OLDEST=${SKVAE_OLDEST_SKLEARN:-1.6.1}
VENV=.venv-oldest
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
installed() {
    "$VENV/bin/python" -c "import sklearn, skvae, sys; sys.exit(sklearn.__version__ != '$OLDEST')"
}
if ! installed 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q "scikit-learn==$OLDEST"
    PYTHON="$VENV/bin/python" bash scripts/setup.sh
    "$VENV/bin/python" -m pip install -q "scikit-learn==$OLDEST"  # in case the extras moved it
fi
"$VENV/bin/python" -c "import sklearn; print('scikit-learn', sklearn.__version__)"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
