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
echo "== empirical NTK: lmech vs PyTorch Jacobians (784-1024-1024-1024-1 ReLU NTP, 256 images, f64)"
T=$(mktemp -d)
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/torch_entk.py "$T" 1024
"$BUILD/bench/bench_entk" "$T" 1024
echo "== empirical NTK at W = 4096 (lmech only; a Jacobian would need ~75 GB), within 2 GiB"
"$BUILD/bench/bench_entk" "$T" 4096 2G
rm -rf "$T"
echo "== the full eos experiment: lmech vs PyTorch + warm-started eigsh"
bash bench/eos.sh "$BUILD/lmech"
echo "== 32 small runs: lmech exp --jobs 2 vs a PyTorch loop"
bash bench/sweep.sh "$BUILD/lmech"
echo "== scaling-law fit: 4,500-start grid + 1,000 bootstrap resamples on 250 points, lmech vs scipy L-BFGS-B"
bash bench/fit.sh "$BUILD"
