#!/usr/bin/env bash
# The ntk-convergence experiment, quick variant (widths 64..2048, 2 seeds), on a temp database:
# every claim is recorded with a verdict and linked to its 12 runs, and all eight pass (seeded
# initialisations, no training: deterministic). Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp ntk-convergence --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c "
import json, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'ntk-convergence', o
c = {x['name']: x for x in o['claims']}
for a in ['relu', 'erf']:
    for k in ['NTK', 'NNGP']:
        for what in ['error slope', 'error at n=2048']:
            n = '%s %s %s' % (a, k, what)
            assert n in c, (n, list(c))
            assert c[n]['verdict'] in ('pass', 'fail', 'inconclusive'), c[n]
            assert len(c[n]['runs']) == 12, c[n]
for n in c:
    assert c[n]['verdict'] == 'pass', c[n]
print('ok  ntk-convergence quick: %d claims' % len(c))
" "$out"
