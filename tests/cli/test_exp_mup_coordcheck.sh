#!/usr/bin/env bash
# The quick muP coordinate check end to end: `lmech exp mup-coordcheck --quick --json` on a temp
# database (4 widths over 16x, 3 seeds) has its three claims, each with a bootstrap interval over
# the seeds, all three pass (seeded, deterministic runs), and every claim links its runs.
# Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp mup-coordcheck --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c '
import json, math, sys
o = json.loads(sys.argv[1])
assert o["experiment"] == "mup-coordcheck" and o["quick"], o
c = {x["name"]: x for x in o["claims"]}
assert len(c) == 3, list(c)
for x in c.values():
    assert x["verdict"] == "pass", x
    assert x["runs"], x
    assert x["uncertainty"] is not None and math.isfinite(x["uncertainty"]), x
    assert x["uncertainty"] > 0 and "bootstrap 95 % over 3 seeds" in x["detail"], x
for name in ("muP: updates width-independent (t = 3-5)",
             "muP: hidden updates width-independent (all t)"):
    assert c[name]["measured"] + c[name]["uncertainty"] <= 0.15, c[name]
sp = c["SP: logit updates blow up with width"]
assert sp["measured"] - sp["uncertainty"] >= 0.5, sp
print("ok    mup-coordcheck quick:", {k: "%s %.3g+-%.2g" % (v["verdict"], v["measured"],
      v["uncertainty"]) for k, v in c.items()})
' "$out"
