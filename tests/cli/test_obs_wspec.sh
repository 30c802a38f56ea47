#!/usr/bin/env bash
# The wspec observer (train.weights_every): alpha.l, alpha_stderr.l, spikes.l, stable_rank.l,
# log_norm.l for every layer at step 0, every weights_every steps and the last step; at the last
# step they equal what `lmech weights` reports on the run's saved checkpoint (the same tensors,
# the same code path); a layer with fewer than 50 eigenvalues has alpha NaN (WeightWatcher's
# minimum); weights_every = 0 records none of them.
. "$(dirname "$0")/lib/common.bash" "$@"
cd "$T" || exit 1
cat >w.json <<'JSON'
{"seed": 1, "data": {"source": "teacher", "dim": 64, "train_size": 256, "outputs": 2},
 "model": {"widths": [64, 128, 96, 2]}, "steps": 25, "eval_every": 10, "weights_every": 10,
 "optimizer": {"name": "sgd", "lr": 0.05}, "threads": 1}
JSON
"$LM" train w.json --db w.db --save w.safetensors >/dev/null 2>&1 || bad "train" "failed"
"$LM" export 1 --db w.db --format csv >w.csv 2>/dev/null || bad "export" "failed"
"$LM" weights w.safetensors --json >w.out 2>/dev/null || bad "weights" "failed"
if $PY - <<'PYEOF'; then ok "observer = lmech weights at the last step; steps 0, 10, 20, 25"; else bad "observer" "see above"; fi
import csv, json, math
rows = list(csv.DictReader(open("w.csv")))
steps = [int(r["step"]) for r in rows if r.get("alpha.1") not in (None, "")]
assert steps == [0, 10, 20, 25], steps
last = [r for r in rows if r["step"] == "25"][0]
w = json.load(open("w.out"))
for l, t in enumerate(w["layers"], 1):
    for key, ref in (("alpha", t["alpha"]), ("stable_rank", t["stable_rank"]),
                     ("spikes", t["mp"]["n_spikes"])):
        v = float(last[f"{key}.{l}"])
        if ref is None:
            assert math.isnan(v), (key, l, v)
        else:
            assert abs(v - ref) <= 1e-9 * max(1, abs(ref)), (key, l, v, ref)
assert math.isnan(float(last["alpha.3"])), "2 eigenvalues: no power-law fit"
assert float(last["alpha.1"]) > 1 and float(last["alpha_stderr.1"]) > 0
PYEOF
"$LM" train w.json --db w0.db --set weights_every=0 >/dev/null 2>&1 &&
    "$LM" export 1 --db w0.db --format csv 2>/dev/null | head -1 | grep -vq "alpha\." &&
    ok "weights_every = 0: no spectra recorded" || bad "off" "alpha recorded"
finish
