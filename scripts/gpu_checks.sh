#!/usr/bin/env bash
# Everything issue 23 runs on a CUDA GPU, most valuable first, each step under its own time limit
# so that a slow step cannot starve the rest. Results and logs go to one folder (at most 8 files,
# for the device tool's $OUT). Test it small on the CPU first:
#   SKVAE_GPU_CHECKS_DEVICE=cpu SKVAE_GPU_CHECKS_QUICK=1 bash scripts/gpu_checks.sh /tmp/gpu-out
# On the GPU machine (its python3 holds a CUDA PyTorch; skvae runs from the tree, uninstalled),
# with the binarised MNIST files carried in .gpu-data/binarized_mnist/:
#   bash scripts/gpu_checks.sh "$OUT"
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: gpu_checks.sh OUT_DIR}
mkdir -p "$out"
device=${SKVAE_GPU_CHECKS_DEVICE:-cuda}
quick=${SKVAE_GPU_CHECKS_QUICK:-}
export PYTHONPATH=. PYTHONUNBUFFERED=1 SKVAE_DATA_DIR=${SKVAE_DATA_DIR:-.gpu-data}
work=$(mktemp -d)
log=$out/log.txt
say() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$log"; }

say "device $device${quick:+ (quick)}"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
  python3 -c "import torch, sklearn, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''); print('sklearn', sklearn.__version__, 'numpy', numpy.__version__)"
} >>"$log" 2>&1

# 1. The CUDA round trip (train on the device, save/load and pickle to the CPU, the same scores
#    there, warm_start on the CPU), the suite's other CUDA tests, and scikit-learn's checks with
#    device="cuda" (tests/test_cuda.py).
say "1. CUDA tests"
timeout 150 python3 -m pytest -q -p no:cacheprovider -o addopts="" -k "cuda or gpu" \
    tests/test_cuda.py tests/test_estimator.py tests/test_persistence.py >"$out/tests.txt" 2>&1
say "   exit $? ($(tail -n 1 "$out/tests.txt"))"

# 2. Time to quality on binarised MNIST (10,000 and 50,000 images): the defaults on both sides,
#    then the 50,000-image row with batches of 1,024 (learning rate scaled by sqrt(8)) and with
#    the plain loop's forward passes in bf16.
ttq() {
    local name=$1 limit=$2; shift 2
    say "2. time to quality: $name"
    timeout "$limit" python3 benchmarks/bench_time_to_quality.py --device "$device" \
        --out-dir "$work/$name" ${quick:+--quick} "$@" >>"$log" 2>&1
    say "   exit $?"
    cp "$work/$name/time_to_quality.md" "$out/ttq_$name.md" 2>/dev/null
}
ttq defaults 240 --datasets bmnist-10k bmnist-50k
ttq batch1024 120 --datasets bmnist-50k --plain-batch-size 1024 --plain-learning-rate 0.00283 \
    --skvae-params '{"batch_size": 1024, "learning_rate": 0.00283}'
ttq bf16 90 --datasets bmnist-50k --plain-autocast bf16
python3 - "$work" "$out/ttq.csv" <<'EOF'
import sys
from pathlib import Path
import pandas as pd
frames = [pd.read_csv(p).assign(run=p.parent.name) for p in Path(sys.argv[1]).glob("*/time_to_quality.csv")]
if frames:
    pd.concat(frames).to_csv(sys.argv[2], index=False)
EOF

# 3. The convolutional VAE's full evaluation: all 10,000 test images, K=1000 (the committed model).
say "3. conv evaluation"
conv_eval=(--n-test 10000 --k 1000)
[ -n "$quick" ] && conv_eval=(--n-test 20 --k 5)
timeout 240 python3 benchmarks/bench_binarized_mnist.py --conv --eval-only --device "$device" \
    --model benchmarks/results/binarized_mnist_conv_vae.safetensors "${conv_eval[@]}" \
    --out-dir "$work/conv_eval" >>"$log" 2>&1
say "   exit $?"
cp "$work/conv_eval/binarized_mnist_conv.md" "$out/conv_eval.md" 2>/dev/null

# 4. If time is left: a convolutional fit to convergence, timed by the script (1,000 test images).
say "4. conv fit"
conv_fit=(--max-iter 100 --n-test 1000 --k 100)
[ -n "$quick" ] && conv_fit=(--quick)
timeout 300 python3 benchmarks/bench_binarized_mnist.py --conv --device "$device" \
    "${conv_fit[@]}" --out-dir "$work/conv_fit" >>"$log" 2>&1
say "   exit $?"
cp "$work/conv_fit/binarized_mnist_conv.md" "$out/conv_fit.md" 2>/dev/null
say "done; files: $(ls "$out" | tr '\n' ' ')"
