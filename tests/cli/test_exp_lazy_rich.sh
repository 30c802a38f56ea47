#!/usr/bin/env bash
# The lazy-rich experiment, quick variant (widths 128..1024, 2 seeds, 400 steps; alpha test at
# n = 512), on a temp database: every claim is recorded with a verdict and linked to its runs,
# and the claims that pass deterministically at the quick size (seeded runs, one BLAS thread
# each) pass: all 18 width laws, the NTP alignment change and the four alpha-test claims (tanh:
# Chizat et al.'s alpha^-1 for both distances; ReLU: alpha^-1 for the weights, the derived
# alpha^-1/2 for the linearisation). One is a finding that fails in both variants
# (docs/experiments/lazy-rich.md), so only its presence is checked: the muP alignment change.
# Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp lazy-rich --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c "
import json, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'lazy-rich', o
assert len(o['runs']) == 26, o['runs']
c = {x['name']: x for x in o['claims']}
obs = ['feature change h1', 'feature change h2', 'spectral change W1', 'spectral change W2',
       'spectral change W3', 'Frobenius change W1 (input)', 'Frobenius change W2 (hidden)',
       'Frobenius change W3 (readout)', 'NTK change']
need = ['%s %s slope' % (p, k) for p in ['ntp', 'mup'] for k in obs]
alpha = ['alpha (%s): %s' % (a, k) for a in ['tanh', 'relu']
         for k in ['weight distance slope', 'distance to linearisation slope']]
need += ['ntp alignment change at n=1024', 'mup alignment change at n=1024'] + alpha
for n in need:
    assert n in c, (n, list(c))
    assert c[n]['verdict'] in ('pass', 'fail', 'inconclusive'), c[n]
    assert len(c[n]['runs']) >= 1, c[n]
for n in alpha:
    assert len(c[n]['runs']) == 5, c[n]
assert not set(c[alpha[0]]['runs']) & set(c[alpha[2]]['runs'])
ok = ['ntp alignment change at n=1024'] + alpha
ok += ['%s %s slope' % (p, k) for p in ['ntp', 'mup'] for k in obs]
for n in ok:
    assert c[n]['verdict'] == 'pass', c[n]
print('ok  lazy-rich quick: %d claims' % len(c))
" "$out"
