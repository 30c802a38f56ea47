#!/usr/bin/env bash
# Runs every benchmark against PyTorch in one session: bash bench/run.sh BUILD_DIR
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
echo "== training throughput (lmech vs PyTorch, same run)"
/usr/bin/python3 bench/train.py "$BUILD"
