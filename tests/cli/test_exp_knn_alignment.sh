#!/usr/bin/env bash
# knn-alignment, quick variant, on a temp database shared with cka-seeds: after `exp cka-seeds
# --quick` the same ten runs are reused (same configs), the trained pairs' mutual 10-NN is far
# above chance and the permutation null near it (both pass, u = 2 SE over 5 pairs), and the
# untrained pairs are reported below the trained ones. Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
need_fmnist
"$LM" exp cka-seeds --quick --jobs 2 --db "$T/r.db" > /dev/null
out=$("$LM" exp knn-alignment --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c '
import json, math, sys
o = json.loads(sys.argv[1])
assert o["experiment"] == "knn-alignment" and o["quick"], o
assert o["reused"] == 10, o["reused"]
c = {x["name"]: x for x in o["claims"]}
t = c["trained pair mutual k-NN / chance"]
assert t["verdict"] == "pass" and len(t["runs"]) == 10 and math.isfinite(t["uncertainty"]), t
n = c["permutation null p95 / chance"]
assert n["verdict"] == "pass" and 0.8 < n["measured"] < 2, n
u = c["untrained pair mutual k-NN / chance"]
assert u["verdict"] == "reported" and 1 < u["measured"] < t["measured"], (u, t)
print("ok  knn-alignment quick: trained %.1f x chance, null p95 %.2f x, untrained %.1f x" %
      (t["measured"], n["measured"], u["measured"]))
' "$out"
