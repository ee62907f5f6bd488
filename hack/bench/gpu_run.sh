#!/usr/bin/env bash
# Runs on the lent accelerator, over the working tree with .gpu/ carried (hack/bench/gpu_prepare.sh
# made it): installs the carried wheels beside the device image's torch and accelerate, then
# bench_gpu.py, writing its figures to $OUT/gpu.json (where the device tool sends them back).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .gpu/whl/*.whl
export PYTHONPATH="/tmp/site:$PWD/operator:$PWD/trainer-image:$PWD/evaluator-image:$PWD/hack"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 hack/bench/bench_gpu.py --model-dir .gpu/model --json "${OUT:-/tmp}/gpu.json" "$@"
