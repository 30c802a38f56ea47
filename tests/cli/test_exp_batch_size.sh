#!/usr/bin/env bash
# The batch-size experiment, quick variant, on a temp database: every claim is recorded with a
# verdict, and the claims that pass deterministically at the quick size (seeded runs, one BLAS
# thread each) pass. The rule claim compares seed means (2 seeds per config at this size) and
# carries a bootstrap standard error; the linear rule at B = 128 fails (a finding, see
# docs/experiments/batch-size.md), so only its presence, a finite value and its error are
# checked. Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp batch-size --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c "
import json, math, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'batch-size', o
assert o['failed_runs'] == 0, o['failed_runs']
c = {x['name']: x for x in o['claims']}
need = ['hyperbola fit', 'two-batch B_simple', 'B_crit / B_simple', 'linear rule B=128',
        'unscaled 8 B0 worse']
for n in need:
    assert n in c, (n, list(c))
    assert c[n]['verdict'] in ('pass', 'fail', 'inconclusive'), c[n]
for n in ['hyperbola fit', 'two-batch B_simple', 'B_crit / B_simple', 'unscaled 8 B0 worse']:
    assert c[n]['verdict'] == 'pass', c[n]
r = c['linear rule B=128']
assert math.isfinite(r['measured']) and r['measured'] >= 0, r
assert math.isfinite(r['uncertainty']) and r['uncertainty'] > 0, r
assert r['detail'].startswith('2 seeds each'), r
assert len(r['runs']) == 4, r  # 2 seeds of B0 and 2 of B = 128
print('ok  batch-size quick: %d claims' % len(c))
" "$out"
