#!/usr/bin/env bash
# cka-invariance, quick variant, on a temp database: one short similarity run (width 128, 1000
# images, 40 epochs) gives the representation X; the three invariance claims (linear, RBF,
# debiased CKA of X and cXQ), the general-map negative control, and the debiased / biased CKA
# of independent Gaussian features are all decided and pass (seeded: deterministic); every
# claim has a finite u > 0 and links the run. Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp cka-invariance --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c '
import json, math, sys
o = json.loads(sys.argv[1])
assert o["experiment"] == "cka-invariance" and o["quick"], o
c = {x["name"]: x for x in o["claims"]}
names = ["linear_cka(X, cXQ) = 1", "rbf_cka(X, cXQ) = 1", "debiased_cka(X, cXQ) = 1",
         "linear_cka(X, XA) < 1 for a general map A", "debiased CKA of independent features ~ 0",
         "biased linear CKA of independent features > 0"]
assert sorted(c) == sorted(names), list(c)
for x in c.values():
    assert x["verdict"] == "pass", x
    assert len(x["runs"]) == 1, x
    assert math.isfinite(x["uncertainty"]) and x["uncertainty"] > 0, x
for n in names[:3]:
    assert c[n]["measured"] + c[n]["uncertainty"] <= 1e-12, c[n]
assert c[names[3]]["measured"] < 0.99, c[names[3]]
print("ok  cka-invariance quick:", {k: "%s %.3g+-%.2g" % (v["verdict"], v["measured"],
      v["uncertainty"]) for k, v in c.items()})
' "$out"
