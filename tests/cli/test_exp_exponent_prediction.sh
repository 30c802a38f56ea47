#!/usr/bin/env bash
# The exponent-prediction experiment, quick variant, on a temp database: the NTK spectrum's a, b
# and the predicted exponent p = -min(b - 1, 2a) are recorded (reported, with their fit
# uncertainty) from the kernel run alone; kernel regression's exponent against p passes; the
# eigenframework-vs-KRR claim is judged (it fails at the quick size: the 1536-point spectrum
# lacks the tail once n nears N, docs/experiments/exponent-prediction.md); the lazy and rich
# network claims are judged with a finite uncertainty over seeds and linked to their runs; the
# figures carry the predicted line. Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp exponent-prediction --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c "
import json, math, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'exponent-prediction', o
c = {x['name']: x for x in o['claims']}
for n in ['NTK eigenvalue decay a', 'target power decay b', 'predicted data exponent']:
    assert c[n]['verdict'] == 'reported', c[n]
    assert math.isfinite(c[n]['measured']) and math.isfinite(c[n]['uncertainty']), c[n]
p = c['predicted data exponent']['measured']
a, b = c['NTK eigenvalue decay a']['measured'], c['target power decay b']['measured']
assert abs(p + min(b - 1, 2 * a)) < 1e-12, (p, a, b)
assert c['KRR exponent']['verdict'] == 'pass', c['KRR exponent']
assert c['eigenframework vs KRR']['verdict'] in ('pass', 'fail'), c['eigenframework vs KRR']
for n in ['KRR exponent', 'lazy network exponent', 'rich network exponent']:
    assert abs(c[n]['predicted_value'] - p) < 1e-12, c[n]
    assert c[n]['verdict'] != 'reported', c[n]
    assert math.isfinite(c[n]['uncertainty']), c[n]
    assert len(c[n]['runs']) > 0, c[n]
assert len(c['lazy network exponent']['runs']) == 60, c['lazy network exponent']
print('ok  exponent-prediction quick: %d claims, p = %.3f' % (len(c), p))
" "$out"
for f in ntk-spectrum learning-curves; do
    g=$(ls "$T"/r.db.artifacts/exp-*/$f.tsv)
    grep -q "predicted\|fit" "$g" "${g%.tsv}.gp"
done
echo "ok  figures with the predicted and fitted lines"
