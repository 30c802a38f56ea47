#!/usr/bin/env bash
# The weight-spectra experiment, quick variant (3 seeds of the §9 MLP, 30 epochs; 3 random
# draws per shape), on a temp database: the Marchenko-Pastur claims pass on Gaussian matrices,
# the trained hidden layers pass alpha in [2, 6], alpha falls and >= 3 spikes, the initial alpha
# is reported, the runs recorded alpha.l over training, and the figures are written.
. "$(dirname "$0")/lib/common.bash" "$@"
need_fmnist
set -e
out=$("$LM" exp weight-spectra --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c "
import json, math, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'weight-spectra', o
assert len(o['runs']) == 3, len(o['runs'])
c = {x['name']: x for x in o['claims']}
for shape in ('1000 x 500', '600 x 400'):
    for k in ('MP fit KS', 'lambda_max / lambda_+', 'nothing above 1.05 lambda_+'):
        x = c['%s, Gaussian %s' % (k, shape)]
        assert x['verdict'] == 'pass', x
assert c['MP fit KS, Gaussian 1000 x 500']['measured'] < 0.015, c['MP fit KS, Gaussian 1000 x 500']
for l in (1, 2, 3):
    for k in ('trained alpha in [2, 6]', 'alpha falls with training', 'spikes >= 3'):
        x = c['%s, layer %d' % (k, l)]
        assert x['verdict'] == 'pass', x
        assert len(x['runs']) == 3 and math.isfinite(x['uncertainty']), x
    assert c['alpha at init, layer %d' % l]['verdict'] == 'reported'
print('ok  weight-spectra quick: %d claims' % len(c))
" "$out"
run=$(/usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])['runs'][0])" "$out")
"$LM" export "$run" --format csv --db "$T/r.db" >"$T/m.csv"
head -1 "$T/m.csv" | grep -q "alpha.3"
echo "ok  alpha.l recorded over training"
d=$(ls -d "$T"/r.db.artifacts/exp-*)
grep -q "Marchenko-Pastur" "$d/esd-random.tsv" "$d/esd-trained.gp"
grep -q "alpha.1" "$d/alpha-over-training.tsv"
echo "ok  figures: ESD with MP, alpha over training"
