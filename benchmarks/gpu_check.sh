#!/usr/bin/env bash
# The GPU check, for a lent machine (a few minutes): installs what is missing from the repo, runs
# the penalty benchmark on CUDA, one ResNet-20 epoch with bf16 + channels_last, with and without
# torch.compile, and the measured slice of notebook 04's paper profile with its projected GPU-hours
# (written to results/gpu_paper_slice.json). `--dry-run` checks the imports and shapes on the CPU, so it is known to work first.
#   bash benchmarks/gpu_check.sh [--dry-run]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! $PY -c "import pnlib, pandas, seaborn, tqdm, scipy" 2>/dev/null; then
  $PY -m pip install --quiet -e . || $PY -m pip install --quiet --no-deps -e . pandas seaborn tqdm scipy
fi
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
