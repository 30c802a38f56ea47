#!/usr/bin/env bash
# The scaling-exponents experiment, quick variant, on a temp database: the data, time and
# model-size exponents predicted from (a, b) before any run is read pass (seeded data, one BLAS
# thread per run: deterministic), each with a finite uncertainty and linked to its runs; the
# eigenframework matches the (1.5, 1.6) data curve within 5 %; the (1.5, 6) comparison and the
# truncated-flow slope are reported figures; the three figures carry their predicted lines.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
out=$("$LM" exp scaling-exponents --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c "
import json, math, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'scaling-exponents', o
c = {x['name']: x for x in o['claims']}
want = ['data exponent a=1.5 b=1.6', 'time exponent a=1.5 b=1.6', 'model-size exponent a=1.5 b=1.6',
        'data exponent a=1.5 b=6', 'model-size exponent a=1.5 b=6',
        'eigenframework vs data curve a=1.5 b=1.6']
for n in want:
    assert n in c, (n, list(c))
    assert c[n]['verdict'] == 'pass', c[n]
    assert c[n]['uncertainty'] is not None and math.isfinite(c[n]['uncertainty']), c[n]
    assert len(c[n]['runs']) > 0, c[n]
for n in ['eigenframework vs data curve a=1.5 b=6', 'truncated-flow slope (time curve)']:
    assert c[n]['verdict'] == 'reported', c[n]
assert abs(c['data exponent a=1.5 b=6']['predicted_value'] + 3) < 1e-12, c['data exponent a=1.5 b=6']
print('ok  scaling-exponents quick: %d claims' % len(c))
" "$out"
for f in data-curve time-curve model-size-curve; do
    g=$(ls "$T"/r.db.artifacts/exp-*/$f.tsv)
    grep -q "predicted" "$g" "${g%.tsv}.gp"
done
echo "ok  figures with the predicted lines"
