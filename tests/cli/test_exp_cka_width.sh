#!/usr/bin/env bash
# cka-width, quick variant (widths 64..512, seeds 0 and 1, 1000 images, 40 epochs), on a temp
# database: the widest pair's CKA and the growth of CKA(w, 2w) are decided and pass (u = 2 SE
# over the two seed orderings), the same-width cross-seed CKA is reported per width, and the
# three per-layer heatmaps and the trend figure are written. Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp cka-width --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c '
import json, math, sys
o = json.loads(sys.argv[1])
assert o["experiment"] == "cka-width" and o["quick"], o
c = {x["name"]: x for x in o["claims"]}
for n in ("CKA between the two widest nets", "CKA(w, 2w) grows with w"):
    assert c[n]["verdict"] == "pass" and len(c[n]["runs"]) == 8, c[n]
    assert math.isfinite(c[n]["uncertainty"]) and c[n]["uncertainty"] > 0, c[n]
for w in (64, 128, 256, 512):
    assert c["cross-seed CKA at width %d" % w]["verdict"] == "reported"
print("ok  cka-width quick:", {k: "%s %.3g" % (v["verdict"], v["measured"]) for k, v in c.items()})
' "$out"
for l in 1 2 3; do
    grep -q "with image" "$T"/r.db.artifacts/exp-*/cka-width-layer$l.gp
done
grep -q "CKA(w, 2w)" "$T"/r.db.artifacts/exp-*/cka-width-trend.tsv
echo "ok  figures: three heatmaps and the trend"
