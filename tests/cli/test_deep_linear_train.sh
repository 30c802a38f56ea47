#!/usr/bin/env bash
# A deep linear run laid beside theory from the database: a depth-4 network with uneven hidden
# widths (6, 3, 7 >= r = 3) on linear-modes data, model.init "aligned" (a0 = 0.3, u0 = a0^4), is
# trained by `lmech train`; its recorded mode.k (lmech export) starts at u0 exactly and follows
# `lmech theory deep-linear --depth 4` (GSL's ODE) to 0.2 % of s; mode_offdiag stays at rounding.
# Under ntp with output_multiplier 0.5 the EFFECTIVE map still starts at u0 (the init divides by
# the multipliers). Refusals: aligned init with relu, and r above min(dim, outputs).
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
cat > "$T/d4.json" <<'JSON'
{"seed": 7, "data": {"source": "linear-modes", "dim": 5, "outputs": 4, "train_size": 20,
  "test_size": 10, "singular_values": [1.5, 0.7, 0.3]},
 "model": {"widths": [5, 6, 3, 7, 4], "activation": "identity", "bias": false,
  "init": "aligned", "a0": 0.3},
 "loss": "mse", "optimizer": {"name": "sgd", "lr": 0.002}, "batch_size": 0, "steps": 10000,
 "eval_every": 500, "threads": 1}
JSON
"$LM" train "$T/d4.json" --db "$T/r.db" > /dev/null
"$LM" export 1 --format csv --db "$T/r.db" > "$T/d4.csv"
"$LM" theory deep-linear --s 1.5,0.7,0.3 --u0 0.0081 --depth 4 --time 0:20:41 --json > "$T/th.json"
"$LM" train "$T/d4.json" --db "$T/r.db" --set model.parameterization=\"ntp\" \
    --set model.output_multiplier=0.5 --set steps=1 > /dev/null
"$LM" export 2 --format csv --db "$T/r.db" > "$T/ntp.csv"
/usr/bin/python3 - "$T" <<'PY'
import csv, json, sys
T = sys.argv[1]
rows = list(csv.DictReader(open(T + '/d4.csv')))
th = json.load(open(T + '/th.json'))
times = th['time']
for k, m in enumerate(th['modes']):
    col = 'mode.%d' % (k + 1)
    assert abs(float(rows[0][col]) - 0.0081) < 1e-14 * 0.0081, rows[0][col]
    dev = 0.0
    for r in rows:
        t = 0.002 * int(r['step'])
        j = min(range(len(times)), key=lambda i: abs(times[i] - t))
        assert abs(times[j] - t) < 1e-9
        dev = max(dev, abs(float(r[col]) - m['u'][j]) / m['s'])
    assert dev < 0.002, (m['s'], dev)
    assert float(rows[-1][col]) > 0.8 * m['s'], (col, rows[-1][col])  # every mode past s/2
assert max(float(r['mode_offdiag']) for r in rows) < 1e-12
ntp = list(csv.DictReader(open(T + '/ntp.csv')))
for k in range(3):
    assert abs(float(ntp[0]['mode.%d' % (k + 1)]) - 0.0081) < 1e-14 * 0.0081, ntp[0]
print('ok  depth-4 aligned run follows lmech theory deep-linear; ntp starts at u0')
PY
if "$LM" train "$T/d4.json" --db "$T/r.db" --set model.activation=\"relu\" 2> "$T/e1"; then
    echo "relu accepted"; exit 1
fi
grep -q 'model.activation' "$T/e1" && grep -q 'identity' "$T/e1"
if "$LM" train "$T/d4.json" --db "$T/r.db" --set 'data.singular_values=[3,2,1,0.5,0.2]' 2> "$T/e2"; then
    echo "r > min(dim, outputs) accepted"; exit 1
fi
grep -q 'data.singular_values' "$T/e2"
echo "ok  refusals name the key"
