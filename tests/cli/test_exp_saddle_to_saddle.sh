#!/usr/bin/env bash
# The saddle-to-saddle experiment, quick variant (random init std 1e-2, 1e-3, 1e-4, 4 seeds), on a
# temp database: half-times are ordered by s at every std and s t_half stays within 20 % of its
# mean for std <= 1e-3 (all pass, finite uncertainties, 4 runs each); the spread at std 1e-2 is a
# reported figure; the figures are written.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
out=$("$LM" exp saddle-to-saddle --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c "
import json, math, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'saddle-to-saddle', o
assert len(o['runs']) == 12, len(o['runs'])
c = {x['name']: x for x in o['claims']}
names = ['half-times ordered by s (std %s)' % s for s in ['0.01', '0.001', '0.0001']] + \
        ['s t_half spread (std %s)' % s for s in ['0.001', '0.0001']]
for n in names:
    assert n in c, (n, list(c))
    assert c[n]['verdict'] == 'pass', c[n]
    assert math.isfinite(c[n]['uncertainty']) and c[n]['uncertainty'] > 0, c[n]
    assert len(c[n]['runs']) == 4, c[n]
print('ok  saddle-to-saddle quick: %d claims' % len(c))
" "$out"
d=$(ls -d "$T"/r.db.artifacts/exp-*)
test -s "$d/saddle-to-saddle-modes.tsv"
grep -q "1/s" "$d/saddle-half-times.tsv"
echo "ok  figures"
