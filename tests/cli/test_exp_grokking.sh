#!/usr/bin/env bash
# The grokking experiment, quick variant (p = 59, 2 seeds per arm, AdamW lr 3e-3, 1000 steps), on
# a temp database: 4 runs record the grok observer (fourier_sparsity, erank.1) beside accuracy and
# param_norm; the wd = 0 control passes (its test accuracy stays < 95 %); the time-based claims
# are present and inconclusive (the quick budget ends before test accuracy reaches 95 %: a
# pipeline check, see docs/experiments/grokking.md); the figure is written.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
out=$("$LM" exp grokking --quick --jobs 2 --db "$T/r.db" --json)
run=$(/usr/bin/python3 -c "
import json, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'grokking', o
assert len(o['runs']) == 4, len(o['runs'])
c = {x['name']: x for x in o['claims']}
assert len(c) == 5, list(c)
assert c['per-unit Fourier sparsity rise']['verdict'] == 'reported', c['per-unit Fourier sparsity rise']
w = c['without weight decay: test < 95 % or the delay at least doubles']
assert w['verdict'] == 'pass' and w['measured'] < 0.2, w
for k in ('grokking delay t(test >= 95%) / t(train >= 99%)',
          'weight norm falls between t_train and t_test',
          'Fourier sparsity rises between t_train and t_test'):
    assert c[k]['verdict'] == 'inconclusive', c[k]
print(o['runs'][0])
" "$out")
echo "ok  grokking quick: control passes, time-based claims inconclusive"
"$LM" export "$run" --format csv --db "$T/r.db" >"$T/m.csv"
/usr/bin/python3 -c "
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
assert 'fourier_sparsity' in r[0] and 'fourier_sparsity_unit' in r[0] and 'erank.1' in r[0], list(r[0])
s0, s1 = float(r[0]['fourier_sparsity']), float(r[-1]['fourier_sparsity'])
assert 0.1 < s0 < 0.4 and s1 > s0, (s0, s1)
assert 1 < float(r[0]['erank.1']) <= 118, r[0]['erank.1']
" "$T/m.csv"
echo "ok  fourier_sparsity and erank.1 recorded"
d=$(ls -d "$T"/r.db.artifacts/exp-*)
grep -q "Fourier sparsity" "$d/grokking.tsv" "$d/grokking.gp"
echo "ok  figure"
