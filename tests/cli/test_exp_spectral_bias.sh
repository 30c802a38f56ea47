#!/usr/bin/env bash
# The spectral-bias experiment, quick variant (width 4096, eta 0.8, 3 seeds, 600 steps), on a temp
# database (science.md §8(b)): the kernel-regime precondition holds (NTK change < 10 %) and the
# Gram matrix is circulant; frequencies 1, 2, 4 half-decay within 15 % of
# ln 2 / -ln(1 - eta lambda_k) and the modes are learned in the order of lambda_k (pass);
# frequency 8 is slower than predicted (a decided claim: its measured half-time, or the lower bound
# from a mode that never halved, lies outside the 15 %, recorded as a finding in
# docs/experiments/spectral-bias.md). The two figures are written with their predictions.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
out=$("$LM" exp spectral-bias --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c "
import json, math, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'spectral-bias', o
c = {x['name']: x for x in o['claims']}
assert 'holds' in c['precondition: kernel regime']['detail'] or c['precondition: kernel regime']['measured'] < 0.1, c['precondition: kernel regime']
for k in (1, 2, 4):
    x = c['frequency %d half-decay time' % k]
    assert x['verdict'] == 'pass' and len(x['runs']) == 3 and math.isfinite(x['uncertainty']), x
assert c['modes learned in order of lambda_k']['verdict'] == 'pass', c['modes learned in order of lambda_k']
assert c['frequency 8 half-decay time']['verdict'] in ('pass', 'fail'), c['frequency 8 half-decay time']
print('ok  spectral-bias quick: %d claims' % len(c))
" "$out"
d=$(ls -d "$T"/r.db.artifacts/exp-*)
grep -q "(1 - eta lambda_k)^t" "$d/fourier-decay.tsv" "$d/fourier-decay.gp"
grep -q "measured = predicted" "$d/half-decay-times.gp"
echo "ok  figures with the predictions"
