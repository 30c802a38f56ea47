#!/usr/bin/env bash
# The lazy-rich experiment, quick variant (widths 64..1024, 3 seeds, 200 steps; the alpha test at
# n = 128 with 4 seeds), on a temp database: every claim is recorded with a verdict, a finite
# uncertainty and its source, and linked to its runs; the reported figures (the whole NTK's
# alignment, rate-weighted and plain J J^T, the input and hidden layers' terms, ReLU's alpha
# slopes) are `reported`; the claims measured to pass at the quick size (seeded runs, one BLAS
# thread each) pass. Three width laws straddle their band at the quick size (widths below 128 are
# short of the asymptote for the n x 49 input layer and the NTK change; docs/experiments/
# lazy-rich.md): only that they are judged is checked. Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp lazy-rich --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c "
import json, math, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'lazy-rich', o
assert len(o['runs']) == 70, len(o['runs'])
c = {x['name']: x for x in o['claims']}
obs = ['feature change h1', 'feature change h2', 'spectral change W1', 'spectral change W2',
       'spectral change W3', 'Frobenius change W1 (input)', 'Frobenius change W2 (hidden)',
       'Frobenius change W3 (readout)', 'NTK change']
laws = ['%s %s slope' % (p, k) for p in ['ntp', 'mup'] for k in obs]
align = ['%s alignment change (last hidden layer) at n=1024' % p for p in ['ntp', 'mup']]
tanh = ['alpha (tanh): weight distance slope', 'alpha (tanh): distance to linearisation slope']
relu = ['alpha (relu): weight distance slope', 'alpha (relu): distance to linearisation slope']
rep = relu + ['%s %s at n=1024' % (p, k) for p in ['ntp', 'mup'] for k in
              ['whole NTK alignment change (rate-weighted)', 'whole NTK alignment change (plain J J^T)',
               'NTK term W1 alignment change', 'NTK term W2 alignment change']]
for n in laws + align + tanh + rep:
    assert n in c, (n, sorted(c))
    assert len(c[n]['runs']) >= 3, c[n]
    assert math.isfinite(c[n]['measured']) and math.isfinite(c[n]['uncertainty']), c[n]
for n in laws:
    assert len(c[n]['runs']) == 15, c[n]
    assert 'bootstrap 95 % over 3 seeds' in c[n]['detail'], c[n]
for n in tanh + relu:
    assert len(c[n]['runs']) == 16, c[n]  # alpha >= 3, 4 seeds
assert not set(c[tanh[0]]['runs']) & set(c[relu[0]]['runs'])
for n in rep:
    assert c[n]['verdict'] == 'reported', c[n]
straddle = ['ntp spectral change W1 slope', 'ntp NTK change slope', 'mup spectral change W1 slope']
for n in laws + align + tanh:
    if n in straddle:
        assert c[n]['verdict'] in ('pass', 'inconclusive'), c[n]
    else:
        assert c[n]['verdict'] == 'pass', c[n]
print('ok  lazy-rich quick: %d claims and figures' % len(c))
" "$out"
