#!/usr/bin/env bash
# The quick muP learning-rate transfer end to end: `lmech exp mup-transfer --quick --json` on a
# temp database has its three claims with verdicts and linked runs, and the claims that pass
# deterministically at the quick size pass. Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
out=$("$LM" exp mup-transfer --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["experiment"] == "mup-transfer" and o["quick"], o
c = {x["name"]: x for x in o["claims"]}
assert len(c) == 3, list(c)
for x in c.values():
    assert x["verdict"] in ("pass", "fail", "inconclusive"), x
    assert x["runs"], x
for name in ("muP: optimal LR transfers", "SP: optimal LR shifts",
             "muP: wider is better at eta*"):
    assert c[name]["verdict"] == "pass", c[name]
print("ok    mup-transfer quick:", {k: v["verdict"] for k, v in c.items()})
' "$out"
