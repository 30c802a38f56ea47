#!/usr/bin/env bash
# Runs every benchmark against PyTorch in one session: bash bench/run.sh BUILD_DIR
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
echo "== training throughput (lmech vs PyTorch, same run)"
/usr/bin/python3 bench/train.py "$BUILD"
echo "== Hessian-vector product cost in gradient evaluations (lmech)"
"$BUILD/bench/bench_hvp" 7
echo "== top Hessian eigenvalue: lmech Lanczos (1e-6) vs PyTorch + eigsh (1e-4)"
bash bench/hessian.sh "$BUILD/lmech"
