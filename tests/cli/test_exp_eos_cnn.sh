#!/usr/bin/env bash
# eos-cnn, quick variant (a conv block with a dense head on 250 FMNIST-49 images; eta 0.045 for
# 7000 steps and the control 0.02 for 3000, 4 seeds each), on a temp database: every claim is
# decided (pass or fail, never inconclusive) on all 4 seeds with a real uncertainty, the runs are
# CNNs (model.layers with conv2d) with a sharpness series, and the sharpness figure is written.
# Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp eos-cnn --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c '
import json, math, sys
o = json.loads(sys.argv[1])
assert o["experiment"] == "eos-cnn" and o["quick"], o
c = {x["name"]: x for x in o["claims"]}
assert len(c) == 7, list(c)
for n, x in c.items():
    assert x["verdict"] in ("pass", "fail"), x
    assert len(x["runs"]) == 4, x
    # a real uncertainty over seeds: finite (0 where every seed agrees, e.g. all in band)
    assert x["uncertainty"] is not None and math.isfinite(x["uncertainty"]), x
    if n.endswith("reaches 2/eta") or n.endswith("progressive sharpening"):
        assert x["uncertainty"] > 0, x
print("ok  eos-cnn quick:", {k: "%s %.3g" % (v["verdict"], v["measured"]) for k, v in c.items()})
' "$out"
"$LM" show 1 --db "$T/r.db" | grep -q conv2d
grep -q "2/eta" "$T"/r.db.artifacts/exp-*/eos-cnn-sharpness.gp
echo "ok  CNN runs and the sharpness figure"
