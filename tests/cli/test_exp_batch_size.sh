#!/usr/bin/env bash
# The batch-size experiment, quick variant, on a temp database: every claim is decided (pass, or
# a reported figure), each with a finite uncertainty and how it was obtained; B_crit is fitted
# (the precondition holds) and the linear rule's claims follow it: within 5 % at B = 32
# (<= B_crit / 2), its breakdown at B = 256 (>= B_crit). Seeded runs with one BLAS thread each:
# deterministic. Skips (77) without Fashion-MNIST.
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
claims = ['hyperbola fit', 'two-batch B_simple', 'B_crit / B_simple', 'linear rule B=32',
          'linear rule breakdown B=256', 'unscaled 8 B0 worse']
reported = ['B_crit (hyperbola fit)', 'precondition: B_crit fitted',
            'precondition: largest B >= B_crit']
for n in claims:
    assert n in c, (n, list(c))
    assert c[n]['verdict'] == 'pass', c[n]
    assert math.isfinite(c[n]['measured']), c[n]
    assert math.isfinite(c[n]['uncertainty']) and c[n]['uncertainty'] >= 0, c[n]
    assert 'u: ' in c[n]['detail'], c[n]
for n in reported:
    assert n in c and c[n]['verdict'] == 'reported', (n, c.get(n))
assert 'holds' in c['precondition: B_crit fitted']['detail']
for x in o['claims']:
    assert x['verdict'] in ('pass', 'reported'), x
r = c['linear rule B=32']
assert r['detail'].startswith('12 / 12 seeds'), r
assert len(r['runs']) == 24, r  # 12 seeds of B0 and 12 of B = 32
b = c['linear rule breakdown B=256']
assert b['measured'] - b['uncertainty'] > 0.05, b
print('ok  batch-size quick: %d claims and figures' % len(c))
" "$out"
