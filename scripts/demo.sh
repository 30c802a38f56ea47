#!/usr/bin/env bash
# The main job: train a 784-256-256-10 ReLU network on all of Fashion-MNIST (60000 training,
# 10000 test images), record the run in demo/lmech.db and print its summary.
set -euo pipefail
LM=${1:-build/lmech}
mkdir -p demo
echo "== lmech demo: Fashion-MNIST, 784-256-256-10 ReLU, SGD+momentum, 5 epochs, float32"
"$LM" train examples/fmnist_mlp.json --db demo/lmech.db
echo
"$LM" ls --db demo/lmech.db | tail -n 3
