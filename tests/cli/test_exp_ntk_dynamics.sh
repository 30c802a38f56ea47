#!/usr/bin/env bash
# The ntk-dynamics experiment end to end at its quick size (width 1024, 20 seeds, 64 training
# points, 200 steps; ~50 s on 2 cores): six claims, all of which pass deterministically at that
# size (runs are seeded and use one BLAS thread each; measured 0.087, 0.081, 0.238, 0.128, 0.120,
# 0.49995: docs/experiments/ntk-dynamics.md), the two figures are written, and a second
# invocation reuses the finished runs.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist

out=$("$LM" exp ntk-dynamics --quick --jobs 2 --db "$T/r.db" --json)
$PY -c "
import json, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'ntk-dynamics' and o['quick'], o
c = {x['name']: x for x in o['claims']}
names = ['ensemble mean = mu_T', 'each net = its linearisation', 'ensemble noise ~ 1/sqrt(S)',
         'mean train loss curve', 'mean test loss curve', 'rate in the kernel regime']
for n in names:
    assert n in c, (n, list(c))
    assert c[n]['verdict'] in ('pass', 'fail', 'inconclusive'), c[n]
    assert len(c[n]['runs']) == 20, c[n]
    assert c[n]['verdict'] == 'pass', c[n]
# the measurements exist (no run failed) and are in a sane range
for n in names:
    assert c[n]['measured'] is not None and 0 <= c[n]['measured'] < 1, c[n]
assert 0.45 < c['rate in the kernel regime']['measured'] <= 0.5
" "$out"
echo "ok    claims"
for f in ntk-dynamics-loss ntk-dynamics-outputs; do
    ls "$T"/r.db.artifacts/exp-*/"$f".gp "$T"/r.db.artifacts/exp-*/"$f".tsv >/dev/null
done
echo "ok    figures"
out2=$("$LM" exp ntk-dynamics --quick --jobs 2 --db "$T/r.db" --json)
[ "$($PY -c "import json,sys; print(json.loads(sys.argv[1])['reused'])" "$out2")" = 20 ]
echo "ok    second invocation reuses the 20 runs"
