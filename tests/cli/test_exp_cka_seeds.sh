#!/usr/bin/env bash
# cka-seeds, quick variant (width 128, 1000 images, 40 epochs, five seed pairs), on a temp
# database: the diagonal CKA of each hidden layer and the layer identification are decided and
# pass, with u = 2 SE over the five pairs; the permutation null's p95 of the diagonal and the
# logits' CKA are reported; the heatmap of the cross-seed matrix is written. Skips (77) without
# Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp cka-seeds --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c '
import json, math, sys
o = json.loads(sys.argv[1])
assert o["experiment"] == "cka-seeds" and o["quick"], o
c = {x["name"]: x for x in o["claims"]}
for l in (1, 2, 3):
    d = c["cross-seed CKA, layer %d" % l]
    assert d["verdict"] == "pass" and len(d["runs"]) == 10, d
    assert "2 SE over 5 independent seed pairs" in d["detail"], d
    nul = c["null p95 of cross-seed CKA, layer %d" % l]
    assert nul["verdict"] == "reported" and 0 < nul["measured"] < 0.1, nul
    assert d["measured"] - d["uncertainty"] > 5 * nul["measured"], (d, nul)
i = c["layer identification"]
assert i["verdict"] == "pass" and math.isfinite(i["uncertainty"]), i
assert c["cross-seed CKA, logits"]["verdict"] == "reported"
print("ok  cka-seeds quick:", {k: "%s %.3g+-%.2g" % (v["verdict"], v["measured"],
      v["uncertainty"] if v["uncertainty"] is not None else float("nan")) for k, v in c.items()})
' "$out"
f=$(ls "$T"/r.db.artifacts/exp-*/cka-seeds-matrix.gp)
grep -q "with image" "$f"
test "$(grep -vc '^#' "${f%.gp}.tsv")" = 4
echo "ok  heatmap of the 4 x 4 cross-seed matrix"
