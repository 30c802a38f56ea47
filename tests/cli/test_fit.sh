#!/usr/bin/env bash
# lmech fit: the JSON contract on the issue's synthetic Chinchilla grid (N in logspace(6,9,4) x
# D in logspace(8,11,4), L = 1.7 + 400/N^0.34 + 410/D^0.28: noiseless, so the fit recovers the
# truth), the power law, --compute, --out (figure script + data), a sweep read from a run
# database (--db --experiment --metric --keys), the identifiability verdict, and bad input.
. "$(dirname "$0")/lib/common.bash" "$@"

$PY - "$T" <<'PY'
import sys, numpy as np
t = sys.argv[1]
with open(t + '/f.csv', 'w') as f:
    f.write('N,D,L\n')
    for N in np.logspace(6, 9, 4):
        for D in np.logspace(8, 11, 4):
            f.write('%r,%r,%r\n' % (N, D, 1.7 + 400 / N**0.34 + 410 / D**0.28))
with open(t + '/p.csv', 'w') as f:
    f.write('params,loss\n')
    for N in np.logspace(3, 7, 9):
        f.write('%r,%r\n' % (N, 0.5 + 30 / N**0.6))
with open(t + '/oneD.csv', 'w') as f:
    f.write('N,D,L\n')
    for N in np.logspace(6, 9, 10):
        f.write('%r,%r,%r\n' % (N, 1e9, 1.69 + 406.4 / N**0.34 + 410.7 / 1e9**0.28))
PY

out=$("$LM" fit "$T/f.csv" --law chinchilla --columns N,D,L --bootstrap 20 --seed 0 --json)
if $PY -c "
import json, sys
o = json.loads(sys.argv[1])
for k in ['law', 'params', 'ci', 'n_points', 'objective', 'starts', 'identifiable']:
    assert k in o, k
assert o['law'] == 'chinchilla'
p = o['params']
assert set(p) == {'E', 'A', 'B', 'alpha', 'beta'}, p
assert abs(p['alpha'] - 0.34) < 1e-6 and abs(p['beta'] - 0.28) < 1e-6, p
assert abs(p['E'] - 1.7) < 1e-5 and abs(p['A'] / 400 - 1) < 1e-5 and abs(p['B'] / 410 - 1) < 1e-5, p
for k in p:
    lo, hi = o['ci'][k]
    assert lo <= p[k] * (1 + 1e-9) + 1e-12 and hi >= p[k] * (1 - 1e-9) - 1e-12, (k, lo, hi, p[k])
assert o['n_points'] == 16 and o['starts'] == 4500, o
assert 0 < o['converged'] <= 4500 and o['objective'] < 1e-20, o
assert o['identifiable'] is True and o['message'] is None, o
assert 'n_opt' not in o
" "$out"; then ok "contract: chinchilla JSON keys, exact recovery, intervals contain the fit"; else bad "contract" "$out"; fi

out=$("$LM" fit "$T/f.csv" --bootstrap 0 --compute 5.76e23 --json)
if $PY -c "
import json, sys
o = json.loads(sys.argv[1]); p = o['params']
a, b, A, B, C = p['alpha'], p['beta'], p['A'], p['B'], 5.76e23
G = (a * A / (b * B)) ** (1 / (a + b))
n = G * (C / 6) ** (b / (a + b)); d = (C / 6) ** (a / (a + b)) / G
assert abs(o['n_opt'] / n - 1) < 1e-9 and abs(o['d_opt'] / d - 1) < 1e-9, (o['n_opt'], n)
assert abs(6 * o['n_opt'] * o['d_opt'] / C - 1) < 1e-9
assert o['ci'] is None
" "$out"; then ok "--compute: n_opt, d_opt by the chinchilla package's formula"; else bad "compute" "$out"; fi

out=$("$LM" fit "$T/p.csv" --law power --columns params,loss --bootstrap 50 --json)
if $PY -c "
import json, sys
o = json.loads(sys.argv[1]); p = o['params']
assert set(p) == {'E', 'A', 'alpha'}, p
assert set(o['ci']) == {'E', 'A', 'alpha'}, o['ci']
assert abs(p['alpha'] - 0.6) < 1e-6 and abs(p['E'] - 0.5) < 1e-6, p
assert o['starts'] == 150
" "$out"; then ok "power law: {E, A, alpha}"; else bad "power" "$out"; fi

out=$("$LM" fit "$T/oneD.csv" --bootstrap 0 --json)
if $PY -c "
import json, sys
o = json.loads(sys.argv[1])
assert o['identifiable'] is False and 'cannot separate' in o['message'], o
" "$out"; then ok "one D value: identifiable false, with the message"; else bad "identifiability" "$out"; fi
"$LM" fit "$T/oneD.csv" --bootstrap 0 | grep -q "WARNING: the data cannot separate" &&
    ok "text output warns" || bad "text warning" "no WARNING line"

"$LM" fit "$T/f.csv" --bootstrap 30 --compute 1e21 --out "$T/fig" >"$T/text.out" &&
    grep -q "alpha  0.34" "$T/text.out" && grep -q "N_opt" "$T/text.out" &&
    [ -s "$T/fig/fit.gp" ] && [ -s "$T/fig/fit.tsv" ] && grep -q "multiplot" "$T/fig/fit.gp" &&
    grep -q "filledcurves" "$T/fig/fit.gp" && ok "text output and --out figure (band, frontier)" ||
    bad "--out" "$(cat "$T/text.out")"
if command -v gnuplot >/dev/null; then
    (cd "$T/fig" && gnuplot fit.gp) && [ -s "$T/fig/fit.png" ] && ok "gnuplot renders the figure" ||
        bad "gnuplot" "fit.gp failed"
fi

# a sweep from a run database: 3 widths x 3 training-set sizes of a tiny teacher network
cat >"$T/sweep.json" <<'JSON'
{
  "experiment": "tiny-sweep",
  "summary": "a width x data-size sweep for lmech fit --db",
  "base": {
    "data": {"source": "teacher", "dim": 8, "teacher_width": 16, "train_size": 32, "test_size": 0, "noise": 0.1},
    "model": {"widths": [8, 4, 1], "activation": "tanh"},
    "loss": "mse", "optimizer": {"name": "sgd", "lr": 0.05},
    "batch_size": 0, "steps": 50, "eval_every": 50, "threads": 1
  },
  "sweep": {"model.widths": [[8, 4, 1], [8, 8, 1], [8, 16, 1]], "data.train_size": [32, 64, 128]},
  "claims": []
}
JSON
"$LM" exp "$T/sweep.json" --jobs 2 --db "$T/r.db" >/dev/null 2>&1 || bad "sweep" "lmech exp failed"
out=$("$LM" fit --db "$T/r.db" --experiment tiny-sweep --metric train_loss \
    --keys N=model.widths[1],D=data.train_size --bootstrap 5 --json)
if $PY -c "
import json, sys
o = json.loads(sys.argv[1])
assert o['n_points'] == 9 and o['skipped_runs'] == 0, o
assert o['law'] == 'chinchilla' and 'identifiable' in o
" "$out"; then ok "--db: 9 runs of the newest invocation"; else bad "--db" "$out"; fi

expect_fail "missing column named" 'no column "tokens"' "$LM" fit "$T/f.csv" --columns N,tokens,L
printf 'N,D,L\n1e6,1e9,2\n1e7,x,2\n' >"$T/bad.csv"
expect_fail "bad value: line and column" 'line 3, column "D"' "$LM" fit "$T/bad.csv"
printf 'N,D,L\n1e6,1e9,2\n1e7,1e9,2\n' >"$T/few.csv"
expect_fail "too few points" "at least 6" "$LM" fit "$T/few.csv"
expect_fail "unknown law" 'unknown law "kaplan"' "$LM" fit "$T/f.csv" --law kaplan
expect_fail "--compute needs chinchilla" "needs --law chinchilla" "$LM" fit "$T/p.csv" --law power --columns params,loss --compute 1e20
expect_fail "missing file" "cannot open" "$LM" fit "$T/none.csv"
expect_fail "no data" "missing DATA.csv" "$LM" fit
expect_fail "--db without keys" "--keys" "$LM" fit --db "$T/r.db" --experiment tiny-sweep --metric train_loss
expect_fail "unknown experiment" 'experiment "nope"' "$LM" fit --db "$T/r.db" --experiment nope --metric train_loss --keys N=model.widths[1] --law power
expect_fail "bad key path" 'config key "model.foo"' "$LM" fit --db "$T/r.db" --experiment tiny-sweep --metric train_loss --keys N=model.foo --law power
finish
