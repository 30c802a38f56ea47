#!/usr/bin/env bash
# The ntk-convergence experiment, quick variant (widths 64..2048, 3 seeds), on a temp database:
# every claim is recorded with a real uncertainty (a bootstrap over seeds for the slopes, 2 SE
# over seeds at n = 2048) and linked to its 18 runs; no claim fails, and the erf claims pass
# (seeded initialisations, no training: deterministic). The ReLU claims straddle their edges at
# 3 seeds (one dominant kernel mode makes the per-seed errors scatter like |Z|): inconclusive with
# a power estimate (docs/experiments/ntk-convergence.md). The figure is written with its error
# bars and n^-1/2 lines. Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp ntk-convergence --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c "
import json, math, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'ntk-convergence', o
c = {x['name']: x for x in o['claims']}
for a in ['relu', 'erf']:
    for k in ['NTK', 'NNGP']:
        for what in ['error slope', 'error at n=2048']:
            n = '%s %s %s' % (a, k, what)
            assert n in c, (n, list(c))
            assert len(c[n]['runs']) == 18, c[n]
            assert c[n]['uncertainty'] is not None and math.isfinite(c[n]['uncertainty']), c[n]
            assert c[n]['verdict'] != 'fail', c[n]
            if a == 'erf':
                assert c[n]['verdict'] == 'pass', c[n]
            elif c[n]['verdict'] == 'inconclusive':
                assert 'seeds' in c[n]['detail'], c[n]
print('ok  ntk-convergence quick: %d claims' % len(c))
" "$out"
f=$(ls "$T"/r.db.artifacts/exp-*/kernel-error-vs-width.tsv)
grep -q "n^-1/2" "$f" "${f%.tsv}.gp"
echo "ok  figure with the n^-1/2 lines"
