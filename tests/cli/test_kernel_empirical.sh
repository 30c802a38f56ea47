#!/usr/bin/env bash
# End-to-end tests of `lmech kernel --empirical`: the --json contract (nk x nk "ntk", "n",
# "outputs", "bytes", "wall_s", "layers" with --per-layer) against a NumPy Jacobian of the same
# checkpoint, chunking under --max-memory, the stderr memory line, the summary, and failures (a
# bound too small, a bad or zero --max-memory, inputs of the wrong width or with a NaN), each
# with a message and exit 1.
. "$(dirname "$0")/lib/common.bash" "$@"
HERE=$(cd "$(dirname "$0")" && pwd)

# A 4-7-3 tanh network (sp, biases) in the checkpoint layout lmech loads, 6 inputs, and the
# reference NTK J J^T from the hand-written Jacobian (index i*k + a).
cat >"$T/net.json" <<'EOF'
{"seed": 3, "data": {"source": "teacher", "dim": 4, "outputs": 3, "teacher_width": 8,
 "train_size": 10, "test_size": 0},
 "model": {"widths": [4, 7, 3], "activation": "tanh"}, "loss": "mse", "steps": 1}
EOF
$PY - "$T" "$HERE/../fixtures" <<'EOF'
import sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from safetensors_np import write_safetensors
t = sys.argv[1]
r = np.random.default_rng(1)
W1, b1 = r.standard_normal((7, 4)) / 2, r.standard_normal(7) / 3
W2, b2 = r.standard_normal((3, 7)) / 2, r.standard_normal(3) / 3
write_safetensors(t + "/net.safetensors", {"layers.0.weight": W1, "layers.0.bias": b1,
                                           "layers.1.weight": W2, "layers.1.bias": b2})
X = r.standard_normal((6, 4))
np.save(t + "/x.npy", X)
np.save(t + "/x5.npy", r.standard_normal((6, 5)))
rows = []
for x in X:
    h = np.tanh(W1 @ x + b1)
    for a in range(3):
        g = W2[a] * (1 - h * h)                 # df_a / dz_1
        eW2 = np.zeros((3, 7)); eW2[a] = h
        eb2 = np.zeros(3); eb2[a] = 1
        rows.append(np.concatenate([np.outer(g, x).ravel(), g, eW2.ravel(), eb2]))
J = np.array(rows)
np.save(t + "/ref.npy", J @ J.T)
np.save(t + "/ref1.npy", J[:, 35:] @ J[:, 35:].T)  # the readout layer's term
EOF

out=$("$LM" kernel --empirical "$T/net.json" --init "$T/net.safetensors" --inputs "$T/x.npy" \
    --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json, sys
import numpy as np
o = json.loads(sys.argv[1]); K = np.array(o['ntk']); R = np.load(sys.argv[2])
assert o['n'] == 6 and o['outputs'] == 3 and o['bytes'] > 0 and o['wall_s'] >= 0, o.keys()
assert K.shape == (18, 18) and (K == K.T).all()
e = np.linalg.norm(K - R) / np.linalg.norm(R)
assert e < 1e-12, e   # float64 sums of the same products in another order
" "$out" "$T/ref.npy"; then
    ok "--json: 18 x 18 kernel equals the NumPy Jacobian's J J^T"
else
    bad "--json" "$(head -c 300 "$T/err") ${out:0:200}"
fi
grep -q "empirical NTK: n=6, k=3, will use .* MiB (bound none" "$T/err" &&
    ok "stderr states the memory plan" || bad "stderr plan line" "$(head -c 300 "$T/err")"

out=$("$LM" kernel --empirical "$T/net.json" --init "$T/net.safetensors" --inputs "$T/x.npy" \
    --per-layer --max-memory 2K --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json, sys
import numpy as np
o = json.loads(sys.argv[1]); K = np.array(o['ntk']); L = np.array(o['layers'])
R, R1 = np.load(sys.argv[2]), np.load(sys.argv[3])
assert L.shape == (2, 18, 18) and o['chunk'] < 6 and o['bytes'] <= 2048, (L.shape, o['chunk'])
assert np.linalg.norm(K - R) / np.linalg.norm(R) < 1e-12
assert np.linalg.norm(L[1] - R1) / np.linalg.norm(R1) < 1e-12
assert np.abs(L.sum(0) - K).max() <= 1e-12 * np.abs(K).max()
" "$out" "$T/ref.npy" "$T/ref1.npy"; then
    ok "--per-layer in chunks under --max-memory 2K: layer terms sum to the kernel"
else
    bad "--per-layer --max-memory" "$(head -c 300 "$T/err") ${out:0:200}"
fi
grep -q "bound 0.00195 MiB; chunks of [1-5] inputs" "$T/err" && ok "chunked plan on stderr" ||
    bad "chunked plan line" "$(head -c 300 "$T/err")"

"$LM" kernel --empirical "$T/net.json" --inputs "$T/x.npy" --per-layer >"$T/out" 2>&1 &&
    grep -q "empirical NTK: n = 6 inputs x k = 3 outputs (18 x 18)" "$T/out" &&
    grep -q "seeded init" "$T/out" && grep -q "layer 1: trace" "$T/out" &&
    ok "summary without --json, seeded init" || bad "summary" "$(head -c 300 "$T/out")"

# expect_fail NAME PATTERN ARGS...: exit 1 and stderr matches PATTERN
expect_fail() {
    local name=$1 pat=$2
    shift 2
    "$LM" kernel "$@" >/dev/null 2>"$T/err"
    local rc=$?
    if [ $rc -eq 1 ] && grep -q -- "$pat" "$T/err"; then ok "$name"; else
        bad "$name" "rc=$rc $(head -c 300 "$T/err")"; fi
}
expect_fail "--max-memory too small refused with needed vs allowed" \
    "need at least [0-9]* bytes.*above the allowed 100 bytes" \
    --empirical "$T/net.json" --inputs "$T/x.npy" --max-memory 100
expect_fail "bad --max-memory named" '--max-memory "12Q"' \
    --empirical "$T/net.json" --inputs "$T/x.npy" --max-memory 12Q
expect_fail "inputs of the wrong width named" "x5.npy: expected a 2-d array \[n, 4\].*\[6, 5\]" \
    --empirical "$T/net.json" --inputs "$T/x5.npy"
# --max-memory 0 (or 0.2: rounds to 0 bytes) meant "no bound" and computed unbounded
expect_fail "--max-memory 0 refused" '--max-memory "0": expected a positive number' \
    --empirical "$T/net.json" --inputs "$T/x.npy" --max-memory 0
expect_fail "--max-memory 0.2 refused" '--max-memory "0.2"' \
    --empirical "$T/net.json" --inputs "$T/x.npy" --max-memory 0.2
# a NaN input: the message names the file (it named only "lm_kernel_empirical: X")
$PY -c "
import numpy as np
x = np.load('$T/x.npy'); x[2, 1] = np.nan; np.save('$T/xnan.npy', x)"
expect_fail "NaN input named by file and entry" 'xnan.npy: inputs entry (2, 1) is nan' \
    --empirical "$T/net.json" --inputs "$T/xnan.npy"
expect_fail "missing config named" "$T/none.json" --empirical "$T/none.json" --inputs "$T/x.npy"
"$LM" kernel --empirical "$T/net.json" >/dev/null 2>"$T/err"
[ $? -eq 2 ] && grep -q "missing --inputs" "$T/err" && ok "missing --inputs is a usage error" ||
    bad "missing --inputs" "$(head -c 200 "$T/err")"
"$LM" kernel --empirical "$T/net.json" --inputs "$T/x.npy" --depth 2 >/dev/null 2>"$T/err"
[ $? -eq 2 ] && grep -q 'with --empirical the network comes from the config: --depth' "$T/err" &&
    ok "analytic flags refused" ||
    bad "analytic flag with --empirical" "$(head -c 200 "$T/err")"
"$LM" kernel --inputs "$T/x.npy" --depth 1 --activation relu --max-memory 1G >/dev/null 2>"$T/err"
[ $? -eq 2 ] && grep -q 'need --empirical CONFIG.json' "$T/err" && ok "empirical flags refused" ||
    bad "empirical flag without --empirical" "$(head -c 200 "$T/err")"

# --out: ntk.npy [nk, nk] and layers.npy [L, nk, nk] equal the --json arrays
out=$("$LM" kernel --empirical "$T/net.json" --inputs "$T/x.npy" --per-layer --json 2>/dev/null)
"$LM" kernel --empirical "$T/net.json" --inputs "$T/x.npy" --per-layer --json --out "$T/e" \
    >"$T/f.json" 2>"$T/err"
if [ $? -eq 0 ] && $PY -c "
import json, sys, numpy as np
o = json.loads(sys.argv[1]); f = json.load(open('$T/f.json'))
assert 'ntk' not in f and set(f['files']) == {'ntk', 'layers'}, f
assert np.array_equal(np.load(f['files']['ntk']), np.array(o['ntk']))
assert np.array_equal(np.load(f['files']['layers']), np.array(o['layers']))" "$out"; then
    ok "--out: ntk.npy and layers.npy equal the --json arrays"
else
    bad "--out" "$(head -c 300 "$T/err")"
fi

if [ $fails -ne 0 ]; then
    echo "$fails empirical kernel CLI test(s) failed"
    exit 1
fi
echo "all empirical kernel CLI tests passed"
