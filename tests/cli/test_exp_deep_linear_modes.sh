#!/usr/bin/env bash
# The deep-linear-modes experiment, quick variant (3 seeds of the §1 (a) two-layer net), on a temp
# database: the trajectory claim passes with a finite uncertainty and its 3 runs, the half-times
# are a reported figure, the precondition holds, and both figures are written (trajectories with
# the closed form, half-times against 1/s with the predicted line).
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
out=$("$LM" exp deep-linear-modes --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c "
import json, math, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'deep-linear-modes', o
assert len(o['runs']) == 3, len(o['runs'])
c = {x['name']: x for x in o['claims']}
t = c['mode trajectories against the closed form']
assert t['verdict'] == 'pass', t
assert len(t['runs']) == 3 and math.isfinite(t['uncertainty']), t
assert 0.001 < t['measured'] < 0.01, t
h = c['half-times against the closed form']
assert h['verdict'] == 'reported', h
print('ok  deep-linear-modes quick: %d claims' % len(c))
" "$out"
d=$(ls -d "$T"/r.db.artifacts/exp-*)
grep -q "closed form" "$d/mode-trajectories.tsv" "$d/mode-trajectories.gp"
grep -q "ln((s - u0)/u0)" "$d/half-times.tsv" "$d/half-times.gp"
echo "ok  figures with the closed form"
