#!/bin/sh
# hessian.sh: top Hessian eigenvalue of a 784-512-512-10 tanh network on 2000 Fashion-MNIST images
# (float64, mse), lmech (Lanczos, relative residual 1e-6) against PyTorch + scipy eigsh (tol 1e-4)
# on the same network (written by the PyTorch script). Usage: bench/hessian.sh path/to/lmech
set -eu
LM=${1:-build/lmech}
T=$(mktemp -d)
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 "$(dirname "$0")/torch_hessian.py" "$T/net"
"$LM" hessian "$T/net.json" --init "$T/net.safetensors" --top 1 --tol 1e-6 --json
rm -rf "$T"
