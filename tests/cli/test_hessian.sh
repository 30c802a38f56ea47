#!/usr/bin/env bash
# End-to-end tests of `lmech hessian` on a tiny network (19 parameters, synthetic teacher data, so
# no dataset is needed): the --json contract (eigenvalues descending, residuals within --tol,
# hvps, wall_s), Lanczos against the dense LAPACK route, the Hutchinson trace against the exact
# one, the SLQ density on a model smaller than --slq-steps (the Krylov space stops at p, so the
# steps are capped at p), and bad input: each a clear message and a non-zero exit below 128.
. "$(dirname "$0")/lib/common.bash" "$@"

cat >"$T/c.json" <<'EOF'
{"seed": 3, "model": {"widths": [4, 3, 1], "activation": "tanh"},
 "data": {"source": "teacher", "train_size": 20, "dim": 4}, "loss": "mse", "steps": 5}
EOF

lan=$("$LM" hessian "$T/c.json" --top 3 --smallest 1 --tol 1e-8 --trace --probes 2000 --json 2>"$T/err")
rc=$?
den=$("$LM" hessian "$T/c.json" --top 3 --smallest 1 --method dense --trace --json 2>>"$T/err")
if [ $rc -eq 0 ] && [ $? -eq 0 ] && $PY -c "
import json, sys
a, d = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a['n_params'] == 19 and d['n_params'] == 19, (a['n_params'], d['n_params'])
ev = a['eigenvalues']
assert len(ev) == 3 and ev[0] >= ev[1] >= ev[2], ev
assert all(r <= 1e-8 for r in a['residuals']), a['residuals']
assert a['hvps'] > 0 and a['wall_s'] >= 0 and a['converged'], a
# Lanczos at residual 1e-8 against LAPACK: an eigenvalue's error is at most about the residual
# norm squared over the gap, far below 1e-7 relative here
for x, y in zip(ev, d['eigenvalues']):
    assert abs(x - y) <= 1e-7 * abs(y), (ev, d['eigenvalues'])
t, e = a['trace'], d['trace']
assert e['exact'] and not t['exact'], (t, e)
# Hutchinson with 2000 probes against the exact trace: 4 standard errors (false alarm ~6e-5)
assert abs(t['estimate'] - e['estimate']) <= 4 * t['stderr'], (t, e)
" "$lan" "$den"; then
    ok "lanczos top-3/smallest and Hutchinson agree with the dense route"
else
    bad "lanczos vs dense" "$(head -c 300 "$T/err") ${lan:0:300}"
fi

"$LM" hessian "$T/c.json" --density --slq-probes 400 --bins 50 --json >"$T/d.json" 2>"$T/err"
if [ $? -eq 0 ] && $PY -c "
import json, sys
o = json.load(open(sys.argv[1]))
d = o['density']
assert d['steps'] == 19 and d['probes'] == 400, (d['steps'], d['probes'])
assert len(d['grid']) == 50 and len(d['values']) == 50
assert len(d['nodes']) == 400 * 19 and len(d['weights']) == 400 * 19
assert all(v >= 0 for v in d['values'])
" "$T/d.json"; then
    ok "--density on 19 parameters: SLQ capped at 19 steps"
else
    bad "--density capped" "$(head -c 300 "$T/err") $(head -c 300 "$T/d.json")"
fi

# A single-layer linear network with 3 outputs: H = I_3 (x) X^T X / n, every eigenvalue three
# times. Plain Lanczos returned top-4 = l1, l2, l3, l4 (each once, converged, residuals ~1e-16)
# instead of l1, l1, l1, l2; the dense route is the reference.
cat >"$T/lin.json" <<'EOF'
{"seed": 5, "model": {"widths": [4, 3], "activation": "identity", "bias": false},
 "data": {"source": "teacher", "train_size": 20, "dim": 4, "outputs": 3}, "loss": "mse"}
EOF
lan=$("$LM" hessian "$T/lin.json" --top 4 --json 2>"$T/err") && den=$("$LM" hessian "$T/lin.json" \
    --top 4 --method dense --json 2>>"$T/err") && $PY -c "
import json, sys
a, d = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a['converged'], a
# residual 1e-6: each eigenvalue within 1e-6 relative of the truth (Kahan's bound); the copies
# are equal to rounding in the dense route
for x, y in zip(a['eigenvalues'], d['eigenvalues']):
    assert abs(x - y) <= 1e-6 * abs(y), (a['eigenvalues'], d['eigenvalues'])
assert abs(d['eigenvalues'][0] - d['eigenvalues'][2]) <= 1e-12 * d['eigenvalues'][0], d
" "$lan" "$den" && ok "threefold top eigenvalue of a linear network: all copies" ||
    bad "repeated eigenvalues" "$(head -c 300 "$T/err") ${lan:0:300}"

# More inputs than examples: H = X^T X / n of rank 3 on 6 parameters, three zero eigenvalues.
# Their relative residual ||Hv - lv|| / |l| is rounding over rounding: --smallest ran to the last
# step, reported converged false with residuals ~100, and the dense residuals were null; both
# measure against max(|l|, sqrt(eps) ||H||) now. iterations counts the --smallest run too (it
# reported the top run's steps only, so hvps was far above it).
cat >"$T/rank.json" <<'EOF'
{"seed": 5, "model": {"widths": [6, 1], "activation": "identity", "bias": false},
 "data": {"source": "teacher", "train_size": 3, "dim": 6}, "loss": "mse"}
EOF
lan=$("$LM" hessian "$T/rank.json" --top 1 --smallest 3 --json 2>"$T/err") &&
    den=$("$LM" hessian "$T/rank.json" --top 6 --method dense --json 2>>"$T/err") && $PY -c "
import json, sys
a, d = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a['converged'], a
s = a['smallest']
top = a['eigenvalues'][0]
# zero to rounding: a few eps * ||H||
assert all(abs(v) <= 1e-13 * top for v in s['eigenvalues']), s
assert all(r <= 1e-6 for r in s['residuals']), s
# dense: LAPACK's vectors, residual ~eps ||H||, over sqrt(eps) ||H|| for the zeros: ~1e-8
assert all(r is not None and r <= 1e-6 for r in d['residuals']), d['residuals']
# most products are basis steps, the rest verifications (k per check); the old count left out
# the --smallest run's steps, which are most of them here
assert 2 * a['iterations'] >= a['hvps'], (a['hvps'], a['iterations'])
" "$lan" "$den" && ok "zero eigenvalues converge; residuals finite" ||
    bad "zero eigenvalues" "$(head -c 300 "$T/err") ${lan:0:300} ${den:0:300}"

# model.center_output trains L(F(w) - F(w_0), y): the Hessian of a saved checkpoint must be that
# loss's (it was L(F(w), y): another loss, another spectrum), and it must agree with the
# sharpness the observer recorded at the last step. The 19-parameter model also checks that the
# observer runs at p < 60 (it asked for a 60-step workspace and failed the run).
cat >"$T/co.json" <<'EOF'
{"seed": 3, "model": {"widths": [4, 3, 1], "activation": "tanh", "center_output": true,
 "output_multiplier": 4.0}, "data": {"source": "teacher", "train_size": 20, "dim": 4,
 "test_size": 0}, "loss": "mse", "steps": 20, "optimizer": {"name": "sgd", "lr": 0.02},
 "sharpness_every": 10, "eval_every": 10}
EOF
if "$LM" train "$T/co.json" --db "$T/co.db" --save "$T/co.safetensors" --quiet >/dev/null 2>"$T/err" &&
    "$LM" export 1 --db "$T/co.db" --format csv >"$T/co.csv" 2>>"$T/err" &&
    "$LM" hessian "$T/co.json" --init "$T/co.safetensors" --json >"$T/co_h.json" 2>>"$T/err" &&
    $PY -c "
import csv, json, sys
last = list(csv.DictReader(open(sys.argv[1])))[-1]
h = json.load(open(sys.argv[2]))
loss, sharp = float(last['train_loss']), float(last['sharpness'])
# the same float64 loss at the same parameters: rounding only
assert abs(h['loss'] - loss) <= 1e-12 * loss, (h['loss'], loss)
# the observer asks a residual of 1e-3: eigenvalue error <= residual * lambda (Kahan's bound)
assert abs(h['eigenvalues'][0] - sharp) <= 1e-3 * sharp, (h['eigenvalues'], sharp)
" "$T/co.csv" "$T/co_h.json"; then
    ok "center_output: hessian's loss and top eigenvalue are the trained ones"
else
    bad "center_output" "$(head -c 300 "$T/err") $(head -c 300 "$T/co_h.json")"
fi

# A checkpoint whose loss overflows: a clear refusal naming the file (it was a Lanczos error
# about the operator).
$PY - "$T" "$(dirname "$0")/../fixtures" <<'EOF'
import sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from safetensors_np import write_safetensors
write_safetensors(sys.argv[1] + "/huge.safetensors", {
    "layers.0.weight": np.full((3, 4), 1e200), "layers.0.bias": np.zeros(3),
    "layers.1.weight": np.full((1, 3), 1e200), "layers.1.bias": np.zeros(1)})
EOF
cat >"$T/relu.json" <<'EOF'
{"seed": 3, "model": {"widths": [4, 3, 1], "activation": "relu"},
 "data": {"source": "teacher", "train_size": 20, "dim": 4}, "loss": "mse"}
EOF
expect_fail "overflowing loss" "the loss at $T/huge.safetensors is inf" \
    "$LM" hessian "$T/relu.json" --init "$T/huge.safetensors"

expect_fail "--top above p" "the model has 19 parameters" "$LM" hessian "$T/c.json" --top 30
expect_fail "--top above --max-iter" "more eigenpairs than the 3 Lanczos steps" \
    "$LM" hessian "$T/c.json" --top 5 --max-iter 3
expect_fail "--top 0" '--top "0"' "$LM" hessian "$T/c.json" --top 0
expect_fail "--max-memory below 1 MiB" '--max-memory "512K"' "$LM" hessian "$T/c.json" --max-memory 512K
expect_fail "--max-memory junk" '--max-memory "2X"' "$LM" hessian "$T/c.json" --max-memory 2X
for m in 1 2G 64Mi; do
    "$LM" hessian "$T/c.json" --method dense --max-memory $m >/dev/null 2>&1 && ok "--max-memory $m" ||
        bad "--max-memory $m" "refused"
done
expect_fail "--tol nan" '--tol "nan"' "$LM" hessian "$T/c.json" --tol nan
expect_fail "--method bad" "bad" "$LM" hessian "$T/c.json" --method bad
expect_fail "missing config" "$T/none.json" "$LM" hessian "$T/none.json"
expect_fail "missing --init" "$T/none.safetensors" \
    "$LM" hessian "$T/c.json" --init "$T/none.safetensors"
echo '{"model": {"widths": [4, 3, 1]}, "data": {"source": "teacher", "dim": 4}, "steps": -1}' \
    >"$T/bad.json"
expect_fail "bad config value" "steps" "$LM" hessian "$T/bad.json"

finish
