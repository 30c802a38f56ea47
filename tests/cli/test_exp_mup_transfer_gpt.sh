#!/usr/bin/env bash
# The quick muP learning-rate transfer on a transformer end to end: `lmech exp mup-transfer-gpt
# --quick --json` on a temp database (d_model 16..128, 4 heads, 7 rates, 3 seeds, text from the
# GPL-3) has its three claims, each with a bootstrap interval over the seeds and linked runs,
# all three pass (seeded, deterministic runs), and the two drifts are reported figures. Skips
# (77) without /usr/share/common-licenses/GPL-3.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
[ -r /usr/share/common-licenses/GPL-3 ] || {
    echo "skip: /usr/share/common-licenses/GPL-3 missing"
    exit 77
}
out=$("$LM" exp mup-transfer-gpt --quick --jobs 2 --db "$T/r.db" --json)
$PY -c '
import json, math, sys
o = json.loads(sys.argv[1])
assert o["experiment"] == "mup-transfer-gpt" and o["quick"], o
c = {x["name"]: x for x in o["claims"]}
assert len(c) == 5, list(c)
for x in c.values():
    assert x["runs"], x
    assert x["uncertainty"] is not None and math.isfinite(x["uncertainty"]), x
    assert x["uncertainty"] > 0 and "bootstrap 95 % over 3 seeds" in x["detail"], x
for name in ("muP: optimal LR transfers", "SP: optimal LR shifts",
             "muP: wider is better at eta*"):
    assert c[name]["verdict"] == "pass", c[name]
m = c["muP: optimal LR transfers"]
assert m["measured"] + m["uncertainty"] <= 1.0, m
s = c["SP: optimal LR shifts"]
assert s["measured"] - s["uncertainty"] >= 1.125, s
for name in ("SP: d log2 eta* / d log2 n", "muP: d log2 eta* / d log2 n"):
    assert c[name]["verdict"] == "reported", c[name]
print("ok    mup-transfer-gpt quick:", {k: "%s %.3g+-%.2g" % (v["verdict"], v["measured"],
      v["uncertainty"]) for k, v in c.items()})
' "$out"
finish
