#!/usr/bin/env bash
# Install skvae with its test and docs dependencies into the current Python.
#
# PyTorch comes first: where pip can see a local CPU build of torch (these
# development machines keep one in the pip find-links folder), install that
# exact file, so that the floating `torch` requirement below is already met
# and pip does not download the multi-GB CUDA build. Anywhere else this step
# is skipped and pip resolves `torch` as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c "import torch" 2>/dev/null; then
    for folder in ${PIP_FIND_LINKS:-} $("$PYTHON" -m pip config get global.find-links 2>/dev/null || true); do
        wheel=$(ls "$folder"/torch-*+cpu-*.whl 2>/dev/null | sort -V | tail -n 1 || true)
        if [ -n "$wheel" ]; then
            version=$(basename "$wheel" | cut -d- -f2)
            echo "Installing the local CPU build of PyTorch: torch==$version"
            "$PYTHON" -m pip install "torch==$version"
            break
        fi
    done
fi
"$PYTHON" -m pip install -e ".[test,docs]"
