#!/usr/bin/env bash
# The ntk-dynamics experiment end to end at its quick size (width 1024, 20 seeds, 64 training
# points, 200 steps; ~50 s on 2 cores): the kernel-regime precondition holds and is shown as a
# reported figure, and the five claims pass with an uncertainty over the ensemble (bootstrap over
# seeds, or 2 SE over nets; docs/experiments/ntk-dynamics.md), deterministically at that size
# (seeded runs, one BLAS thread each, seeded bootstraps); the two prediction-beside-measurement
# figures are written, and a second invocation reuses the finished runs.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist

out=$("$LM" exp ntk-dynamics --quick --jobs 2 --db "$T/r.db" --json)
$PY -c "
import json, math, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'ntk-dynamics' and o['quick'], o
c = {x['name']: x for x in o['claims']}
pre = c['precondition: rate in the kernel regime']
assert pre['verdict'] == 'reported' and 0.45 < pre['measured'] <= 0.5, pre
names = ['ensemble mean = mu_T', 'each net = its linearisation', 'init spread = NNGP variance',
         'mean train loss curve', 'mean test loss curve']
for n in names:
    assert n in c, (n, list(c))
    assert len(c[n]['runs']) == 20, c[n]
    assert c[n]['verdict'] == 'pass', c[n]
    u = c[n]['uncertainty']
    assert u is not None and math.isfinite(u) and u > 0, c[n]
    assert 'u: ' in c[n]['detail'], c[n]
    assert c[n]['measured'] is not None and 0 <= c[n]['measured'] < 2, c[n]
" "$out"
echo "ok    claims"
for f in ntk-dynamics-loss ntk-dynamics-outputs; do
    ls "$T"/r.db.artifacts/exp-*/"$f".gp "$T"/r.db.artifacts/exp-*/"$f".tsv >/dev/null
done
echo "ok    figures"
out2=$("$LM" exp ntk-dynamics --quick --jobs 2 --db "$T/r.db" --json)
[ "$($PY -c "import json,sys; print(json.loads(sys.argv[1])['reused'])" "$out2")" = 20 ]
echo "ok    second invocation reuses the 20 runs"
