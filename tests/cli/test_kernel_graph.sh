#!/usr/bin/env bash
# `lmech kernel` on model.layers networks (teacher data): --empirical gives the empirical NTK (a
# dense chain spelled as layers equals its model.widths spelling, per layer too; a residual MLP's
# and a small CNN's kernels and their --per-layer terms, one per linear or conv2d layer, are
# symmetric PSD and sum up; the same
# kernel in chunks under --max-memory; the values against finite differences are
# tests/kernel/test_empirical_graph.c's), while the analytic kernels of the config
# (`lmech kernel CONFIG.json`) refuse the layer graph by name; the model.widths config's analytic
# kernels equal the --depth/--activation call.
. "$(dirname "$0")/lib/common.bash" "$@"

DATA='"data": {"source": "teacher", "dim": 4, "outputs": 2, "teacher_width": 8,
 "train_size": 10, "test_size": 0}, "loss": "mse", "steps": 1, "seed": 3'
cat >"$T/res.json" <<EOF
{$DATA,
 "model": {"input_shape": [4], "layers": [{"type": "linear", "out": 6}, {"type": "tanh"},
   {"type": "residual", "body": [{"type": "linear", "out": 6}, {"type": "gelu"},
                                 {"type": "linear", "out": 6}]},
   {"type": "linear", "out": 2}]}}
EOF
cat >"$T/chain.json" <<EOF
{$DATA, "model": {"widths": [4, 7, 7, 2], "activation": "tanh", "sb2": 0.5}}
EOF
cat >"$T/chain_layers.json" <<EOF
{$DATA,
 "model": {"input_shape": [4], "layers": [{"type": "linear", "out": 7}, {"type": "tanh"},
   {"type": "linear", "out": 7}, {"type": "tanh"}, {"type": "linear", "out": 2}], "sb2": 0.5}}
EOF
cat >"$T/cnn.json" <<EOF
{"seed": 3, "data": {"source": "teacher", "dim": 16, "outputs": 2, "teacher_width": 8,
 "train_size": 10, "test_size": 0}, "loss": "mse", "steps": 1,
 "model": {"input_shape": [1, 4, 4], "layers": [{"type": "conv2d", "out": 4, "kernel": 3,
   "padding": 1}, {"type": "relu"}, {"type": "avgpool2d", "kernel": 2}, {"type": "flatten"},
   {"type": "linear", "out": 2}]}}
EOF
$PY -c "
import numpy as np
r = np.random.default_rng(2)
np.save('$T/x16.npy', r.standard_normal((3, 16)))
np.save('$T/x.npy', r.standard_normal((5, 4)))
np.save('$T/x5.npy', r.standard_normal((5, 5)))"

# the same network as model.widths (Gram path) and as model.layers (Jacobian blocks), both at the
# config's seeded initialisation (the same draws)
g=$("$LM" kernel --empirical "$T/chain_layers.json" --inputs "$T/x.npy" --per-layer --json \
    2>"$T/err")
w=$("$LM" kernel --empirical "$T/chain.json" --inputs "$T/x.npy" --per-layer --json 2>>"$T/err")
if $PY -c "
import json, sys
import numpy as np
g, w = json.loads(sys.argv[1]), json.loads(sys.argv[2])
G, W = np.array(g['ntk']), np.array(w['ntk'])
assert G.shape == (10, 10) and (G == G.T).all()
e = np.linalg.norm(G - W) / np.linalg.norm(W)
assert e < 1e-12, e
assert len(g['layers']) == 3
for l in range(3):
    a, b = np.array(g['layers'][l]), np.array(w['layers'][l])
    assert np.linalg.norm(a - b) / np.linalg.norm(b) < 1e-12, l
" "$g" "$w"; then
    ok "--empirical: the model.layers spelling of 4-7-7-2 tanh equals model.widths (1e-12)"
else
    bad "--empirical chain as layers" "$(head -c 300 "$T/err") ${g:0:200}"
fi

out=$("$LM" kernel --empirical "$T/res.json" --inputs "$T/x.npy" --per-layer --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json, sys
import numpy as np
o = json.loads(sys.argv[1]); K = np.array(o['ntk']); Ls = np.array(o['layers'])
assert o['n'] == 5 and o['outputs'] == 2 and K.shape == (10, 10) and (K == K.T).all()
assert Ls.shape == (4, 10, 10), Ls.shape       # four dense layers: 0, body.0, body.2, 3
assert np.abs(Ls.sum(0) - K).max() < 1e-12 * np.abs(K).max()
for M in [K] + list(Ls):                        # each a Gram matrix: positive semi-definite
    assert np.linalg.eigvalsh(M).min() > -1e-10 * np.abs(M).max()
" "$out"; then
    ok "--empirical on a residual network: symmetric PSD, 4 dense-layer terms that sum to it"
else
    bad "--empirical on model.layers" "$(head -c 300 "$T/err") ${out:0:200}"
fi

# a small CNN on [1, 4, 4] images: conv2d(4) and linear(2) terms
cnn=$("$LM" kernel --empirical "$T/cnn.json" --inputs "$T/x16.npy" --per-layer --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json, sys
import numpy as np
o = json.loads(sys.argv[1]); K = np.array(o['ntk']); Ls = np.array(o['layers'])
assert K.shape == (6, 6) and (K == K.T).all() and Ls.shape == (2, 6, 6), Ls.shape
assert np.abs(Ls.sum(0) - K).max() < 1e-12 * np.abs(K).max()
assert np.linalg.eigvalsh(K).min() > -1e-10 * np.abs(K).max() and K.trace() > 0
" "$cnn"; then
    ok "--empirical on a CNN: conv2d and linear terms, symmetric PSD"
else
    bad "--empirical on a CNN" "$(head -c 300 "$T/err") ${cnn:0:200}"
fi
expect_fail "the analytic kernels refuse a CNN" \
    "this model is conv2d(4) relu avgpool2d flatten linear(2) on \[1, 4, 4\]" \
    "$LM" kernel "$T/cnn.json" --inputs "$T/x16.npy"

# chunks of 2 inputs: 2 Jacobian blocks of [2 k, p] plus k (p = 128): 8 (2*2*2*128 + 2) bytes
"$LM" kernel --empirical "$T/res.json" --inputs "$T/x.npy" --json --max-memory 8208 \
    >"$T/c.json" 2>"$T/err2"
if [ $? -eq 0 ] && grep -q "chunks of 2 inputs" "$T/err2" && $PY -c "
import json, sys
import numpy as np
a = json.loads(sys.argv[1]); b = json.load(open(sys.argv[2]))
assert b['chunk'] == 2 and b['bytes'] == 8208, (b['chunk'], b['bytes'])
K, C = np.array(a['ntk']), np.array(b['ntk'])
assert np.abs(K - C).max() < 1e-13 * np.abs(K).max()
" "$out" "$T/c.json"; then
    ok "--max-memory: chunks of 2 inputs, the same kernel"
else
    bad "--max-memory chunks" "$(head -c 300 "$T/err2")"
fi

"$LM" kernel --empirical "$T/res.json" --inputs "$T/x.npy" --per-layer >"$T/sum" 2>&1 &&
    grep -q "linear(6) tanh residual linear(6) gelu linear(6) linear(2) on \[4\], 128 parameters" \
        "$T/sum" && grep -q "^layers.2.body.2.weight: layer 2: trace" "$T/sum" &&
    ok "summary names the model and each dense layer" || bad "summary" "$(head -c 400 "$T/sum")"

expect_fail "a bound too small names the model and the blocks" \
    "model linear(6) tanh residual linear(6) gelu linear(6) linear(2) on \[4\], 128 parameters" \
    "$LM" kernel --empirical "$T/res.json" --inputs "$T/x.npy" --max-memory 1000
expect_fail "the analytic kernels refuse a layer graph" \
    "res.json: the analytic NTK and NNGP needs a model.widths network (a dense chain); this model is linear(6) tanh residual linear(6) gelu linear(6) linear(2) on \[4\]" \
    "$LM" kernel "$T/res.json" --inputs "$T/x.npy"
expect_fail "CONFIG.json with --depth" "the network comes from the config" \
    "$LM" kernel "$T/chain.json" --inputs "$T/x.npy" --depth 2
expect_fail "two configs" "unexpected argument" \
    "$LM" kernel "$T/chain.json" "$T/res.json" --inputs "$T/x.npy"
expect_fail "inputs of the wrong width for the config" "model.widths\[0\]" \
    "$LM" kernel "$T/chain.json" --inputs "$T/x5.npy"

# the chain's analytic kernels from its config = the explicit call (sp, width 7, biases)
a=$("$LM" kernel "$T/chain.json" --inputs "$T/x.npy" --json 2>"$T/err3")
b=$("$LM" kernel --inputs "$T/x.npy" --depth 2 --activation tanh --sb2 0.5 --param sp --width 7 \
    --bias --json 2>>"$T/err3")
if $PY -c "
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a['ntk'] == b['ntk'] and a['nngp'] == b['nngp'] and a['param'] == 'sp' and a['depth'] == 2
" "$a" "$b"; then
    ok "CONFIG.json's analytic kernels equal --depth 2 --activation tanh --param sp --width 7"
else
    bad "config analytic" "$(head -c 300 "$T/err3") ${a:0:200}"
fi
finish
