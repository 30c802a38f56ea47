#!/usr/bin/env bash
# The lazy-rich experiment, quick variant (widths 128..1024, 2 seeds, 400 steps; alpha test at
# n = 512), on a temp database: every claim is recorded with a verdict and linked to its runs,
# and the claims that pass deterministically at the quick size (seeded runs, one BLAS thread
# each) pass: all 18 width laws, the NTP alignment change and the alpha weight distance. Two are
# findings that fail in both variants (docs/experiments/lazy-rich.md), so only their presence is
# checked: the muP alignment change and the alpha linearisation slope (ReLU: ~alpha^-1/2).
# Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp lazy-rich --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c "
import json, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'lazy-rich', o
assert len(o['runs']) == 21, o['runs']
c = {x['name']: x for x in o['claims']}
obs = ['feature change h1', 'feature change h2', 'spectral change W1', 'spectral change W2',
       'spectral change W3', 'Frobenius change W1 (input)', 'Frobenius change W2 (hidden)',
       'Frobenius change W3 (readout)', 'NTK change']
need = ['%s %s slope' % (p, k) for p in ['ntp', 'mup'] for k in obs]
need += ['ntp alignment change at n=1024', 'mup alignment change at n=1024',
         'alpha: weight distance slope', 'alpha: distance to linearisation slope']
for n in need:
    assert n in c, (n, list(c))
    assert c[n]['verdict'] in ('pass', 'fail', 'inconclusive'), c[n]
    assert len(c[n]['runs']) >= 1, c[n]
assert len(c['alpha: weight distance slope']['runs']) == 5
ok = ['ntp alignment change at n=1024', 'alpha: weight distance slope']
ok += ['%s %s slope' % (p, k) for p in ['ntp', 'mup'] for k in obs]
for n in ok:
    assert c[n]['verdict'] == 'pass', c[n]
print('ok  lazy-rich quick: %d claims' % len(c))
" "$out"
