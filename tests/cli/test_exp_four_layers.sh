#!/usr/bin/env bash
# The four-layers experiment, quick variant (4 seeds of 196-64-64-10 tanh on 500 FMNIST-196
# images, full-batch GD at eta 0.1, 1500 steps), on a temp database: the five edge-of-stability
# claims pass with real uncertainties over the 4 seeds and are linked to the 4 runs; the other
# layers' numbers (test accuracy, NTK change, noise scale, CKA to init, NC1, alpha) are reported
# figures with a value; every run recorded all four layers on one step axis (train_loss, sharpness,
# ntk_change, noise_scale, cka_init.1, nc1, alpha.1); `lmech report` renders the four-panel
# figure (PNG and SVG). Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp four-layers --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c "
import json, math, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'four-layers', o
c = {x['name']: x for x in o['claims']}
for n in ['sharpness reaches 2/eta', 'sharpness hovers at 2/eta', 'median sharpness at 2/eta',
          'non-monotone loss at the edge', 'loss still falls at the edge']:
    assert n in c, (n, list(c))
    assert c[n]['verdict'] == 'pass', c[n]
    assert len(c[n]['runs']) == 4, c[n]
    assert math.isfinite(c[n]['uncertainty']) and c[n]['uncertainty'] > 0, c[n]
for n in ['final test accuracy', 'noise scale at the end', 'layer 1: alpha(init) - alpha(end)',
          'layer 1: CKA to init at the end', 'NC1(init)/NC1(end)', 'NTK change at the end']:
    assert c[n]['verdict'] == 'reported', c[n]
    assert c[n]['measured'] is not None and math.isfinite(c[n]['measured']), c[n]
print('ok  four-layers quick: %d claims and figures' % len(c))
" "$out"
run=$(/usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])['runs'][0])" "$out")
"$LM" export "$run" --format csv --db "$T/r.db" >"$T/m.csv"
for m in train_loss test_acc sharpness ntk_change noise_scale cka_init.1 nc1 alpha.1 spikes.1; do
    head -1 "$T/m.csv" | tr ',' '\n' | grep -qx "$m" || { echo "FAIL run $run has no $m"; exit 1; }
done
echo "ok  one run, four layers recorded"
if command -v gnuplot >/dev/null; then
    "$LM" report --db "$T/r.db" --out "$T/rep" four-layers >"$T/log" 2>&1 || { cat "$T/log"; exit 1; }
    f=$(ls "$T"/rep/figures/*four-layers.gp)
    [ -s "${f%.gp}.png" ] && [ -s "${f%.gp}.svg" ] && grep -q multiplot "$f"
    echo "ok  the four-panel figure renders"
fi
