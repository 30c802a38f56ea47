#!/usr/bin/env bash
# The quick muP coordinate check end to end: `lmech exp mup-coordcheck --quick --json` on a temp
# database has its three claims with verdicts, all three pass (seeded, deterministic runs),
# and every claim links its runs. Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp mup-coordcheck --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["experiment"] == "mup-coordcheck" and o["quick"], o
c = {x["name"]: x for x in o["claims"]}
assert len(c) == 3, list(c)
for x in c.values():
    assert x["verdict"] in ("pass", "fail", "inconclusive"), x
    assert x["runs"], x
for name in ("muP: updates width-independent (t = 3-5)",
             "muP: hidden updates width-independent (all t)"):
    assert c[name]["verdict"] == "pass", c[name]
    assert abs(c[name]["measured"]) <= 0.15, c[name]
sp = c["SP: logit updates blow up with width"]
assert sp["verdict"] == "pass" and sp["measured"] >= 0.5, sp
print("ok    mup-coordcheck quick:", {k: v["verdict"] for k, v in c.items()})
' "$out"
