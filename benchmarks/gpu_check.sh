#!/usr/bin/env bash
# The GPU check, for a lent machine (about 3 minutes on an H200): runs
# the penalty benchmark on CUDA, one ResNet-20 epoch with bf16 + channels_last, with and without
# torch.compile, and the measured slice of notebook 04's paper profile with its projected GPU-hours
# (written to results/gpu_paper_slice.json). `--dry-run` checks the imports and shapes on the CPU, so it is known to work first.
#   bash benchmarks/gpu_check.sh [--dry-run]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# pnlib from this checkout (a lent machine is offline, so nothing is installed); its libraries
# must be there already (a GPU image has them), else say which is missing
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
$PY -c "import torch, torchvision, pandas, seaborn, tqdm, scipy, filelock" || {
  echo "a library pnlib needs is missing (above): pip install -e . where there is a network" >&2; exit 1; }
if [ "${1:-}" = "--dry-run" ]; then
  timeout 300 $PY benchmarks/gpu_epoch.py --dry-run
  timeout 300 $PY benchmarks/gpu_paper_slice.py --dry-run | grep RESULT
  timeout 300 $PY benchmarks/bench_penalty.py --device cpu --rounds 1 --quick | tail -1
  echo "dry run ok"
  exit 0
fi
$PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
timeout 180 $PY benchmarks/bench_penalty.py --device cuda
timeout 300 $PY benchmarks/gpu_epoch.py
timeout 540 $PY benchmarks/gpu_paper_slice.py
