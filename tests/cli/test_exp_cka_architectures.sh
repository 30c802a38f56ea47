#!/usr/bin/env bash
# cka-architectures, quick variant (5 pairs of a CNN and an MLP trained on the same 1000
# FMNIST-196 images for 40 epochs), on a temp database: the four sign claims (penultimate layers
# and logits, above the permutation null and above the untrained pair) are decided with a real
# uncertainty over the pairs, the CKA values and accuracies are reported, and the two heatmaps
# (trained, untrained) are written. Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp cka-architectures --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c '
import json, math, sys
o = json.loads(sys.argv[1])
assert o["experiment"] == "cka-architectures" and o["quick"], o
c = {x["name"]: x for x in o["claims"]}
for n in ("penultimate layers above the permutation null",
          "penultimate layers more alike than at init",
          "logits above the permutation null", "logits more alike than at init"):
    assert c[n]["verdict"] in ("pass", "fail") and len(c[n]["runs"]) == 10, c[n]
    assert math.isfinite(c[n]["uncertainty"]) and c[n]["uncertainty"] > 0, c[n]
for n in ("CKA of the penultimate layers", "CKA of the logits", "CNN test accuracy"):
    assert c[n]["verdict"] == "reported" and 0 < c[n]["measured"] <= 1, c[n]
print("ok  cka-architectures quick:", {k: "%s %.3g" % (v["verdict"], v["measured"]) for k, v in c.items()})
' "$out"
for f in trained init; do
    grep -q "with image" "$T"/r.db.artifacts/exp-*/cka-architectures-$f.gp
done
echo "ok  figures: trained and untrained heatmaps"
