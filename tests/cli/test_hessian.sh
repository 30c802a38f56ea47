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
