#!/usr/bin/env bash
# The deep-linear-depth experiment, quick variant (depth 3, a0 in {0.05, 0.1, 0.2}, 3 seeds), on a
# temp database: the ODE trajectory, the half-times against the exact integral, the slope against
# the exact slope and the five slopes against -1/3 all pass with finite uncertainties; the
# asymptotic ratio is reported; the figures carry the ODE and the exact integral.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
out=$("$LM" exp deep-linear-depth --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c "
import json, math, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'deep-linear-depth', o
assert len(o['runs']) == 9, len(o['runs'])
c = {x['name']: x for x in o['claims']}
names = ['depth-3 modes against the ODE', 'depth-3 half-times against the exact integral',
         'half-time slope against the exact integral'] + \
        ['half-time slope -1/3 (s=%s)' % s for s in ['3', '2', '1', '0.5', '0.25']]
for n in names:
    assert n in c, (n, list(c))
    assert c[n]['verdict'] == 'pass', c[n]
    assert math.isfinite(c[n]['uncertainty']) and c[n]['uncertainty'] > 0, c[n]
    assert len(c[n]['runs']) == 9, c[n]
assert abs(c['half-time slope -1/3 (s=3)']['measured'] + 0.3565) < 0.01, c['half-time slope -1/3 (s=3)']
print('ok  deep-linear-depth quick: %d claims' % len(c))
" "$out"
d=$(ls -d "$T"/r.db.artifacts/exp-*)
grep -q "ODE" "$d/mode-trajectories-depth3.tsv"
grep -q "exact integral" "$d/half-times-vs-u0.tsv"
echo "ok  figures with the ODE and the exact integral"
