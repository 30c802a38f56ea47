#!/usr/bin/env bash
# The main job: train a 784-256-256-10 ReLU network on all of Fashion-MNIST (60000 training,
# 10000 test images), record the run in demo/lmech.db and print its summary; a small CNN
# (examples/cnn_fmnist.json, a model.layers network) and a small transformer
# (examples/gpt_text.json, model.arch gpt on the bytes of a text); then the quick
# variant of every built-in experiment and of the example experiment files (claims with verdicts),
# and the HTML report in demo/report/index.html.
set -euo pipefail
LM=${1:-build/lmech}
mkdir -p demo
echo "== lmech demo: Fashion-MNIST, 784-256-256-10 ReLU, SGD+momentum, 5 epochs, float32"
"$LM" train examples/fmnist_mlp.json --db demo/lmech.db
echo
"$LM" ls --db demo/lmech.db | tail -n 3
echo
echo "== lmech demo: a small CNN (model.layers) on Fashion-MNIST, float32"
"$LM" train examples/cnn_fmnist.json --db demo/lmech.db
echo
echo "== lmech demo: a small transformer (model.arch gpt) on the bytes of the GPL, float32"
"$LM" train examples/gpt_text.json --db demo/lmech.db
echo
for e in eos aeos catapult central-flow curvature-check ntk-convergence ntk-dynamics lazy-rich \
    mup-coordcheck mup-transfer mup-coordcheck-gpt mup-transfer-gpt batch-size \
    deep-linear-modes deep-linear-depth saddle-to-saddle \
    matrix-completion learning-curves spectral-bias fit-recovery scaling-exponents \
    exponent-prediction cka-invariance cka-seeds knn-alignment cka-width neural-collapse \
    weight-spectra grokking four-layers eos-cnn cka-architectures grokking-gpt eos-gpt \
    examples/experiments/lr-seed-sweep.json \
    examples/experiments/eos-question.json; do
    echo "== lmech exp $e --quick"
    "$LM" exp "$e" --quick --db demo/lmech.db
    echo
done
echo "== every invocation's verdicts (pass fail inconclusive reported)"
"$LM" ls --db demo/lmech.db --experiments
echo
"$LM" report --db demo/lmech.db --out demo/report
