#!/usr/bin/env bash
# The fit-recovery experiment, quick variant (8 replicates of 50 synthetic Chinchilla runs with
# 2 % log-normal noise, 200 bootstrap resamples each), on a temp database: the alpha-hat and
# beta-hat claims pass (mean over replicates within +-0.02 of 0.34 and 0.28, u = 2 SE), the
# coverage claims do not fail (with 8 replicates the Wilson interval is +-0.2 or wider: decided
# only when every replicate covers), every claim links to the seed-carrier run, and the figure
# (law + band + compute-optimal frontier) is written.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
out=$("$LM" exp fit-recovery --quick --jobs 2 --db "$T/r.db" --json)
$PY -c "
import json, math, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'fit-recovery', o
c = {x['name']: x for x in o['claims']}
for n in ['alpha-hat within +-0.02', 'beta-hat within +-0.02']:
    assert c[n]['verdict'] == 'pass', c[n]
    assert math.isfinite(c[n]['uncertainty']) and c[n]['uncertainty'] > 0, c[n]
for n in ['80 % interval coverage (alpha)', '80 % interval coverage (beta)']:
    assert c[n]['verdict'] in ('pass', 'inconclusive'), c[n]
    assert 'Wilson' in c[n]['detail'], c[n]
for n in c:
    if not n.startswith('precondition'):
        assert len(c[n]['runs']) == 1, c[n]
print('ok  fit-recovery quick: %d claims' % len(c))
" "$out"
f=$(ls "$T"/r.db.artifacts/exp-*/fit-recovery.gp)
grep -q "filledcurves" "$f" && grep -q "N_{opt}" "$f"
[ -s "${f%.gp}.tsv" ]
echo "ok  figure: law with its band and the compute-optimal frontier"
