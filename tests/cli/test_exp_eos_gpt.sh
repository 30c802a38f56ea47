#!/usr/bin/env bash
# eos-gpt, quick variant (a one-block transformer on 64 windows of 8 bytes of GPL-3, full-batch GD
# in float64; eta 0.05 for 2000 steps and the control 0.02 for 1000, 4 seeds each), on a temp
# database: the 7 claims of eos_analysis.c are judged on all 4 seeds with a finite uncertainty,
# "reaches 2/eta", "progressive sharpening" and the control are decided, the runs are
# transformers (model.arch gpt on text) with a sharpness series, and the figure is written.
# Skips (77) without the text file.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
[ -r /usr/share/common-licenses/GPL-3 ] || {
    echo "skip: /usr/share/common-licenses/GPL-3 missing"
    exit 77
}
out=$("$LM" exp eos-gpt --quick --jobs 2 --db "$T/r.db" --json)
/usr/bin/python3 -c '
import json, math, sys
o = json.loads(sys.argv[1])
assert o["experiment"] == "eos-gpt" and o["quick"], o
c = {x["name"]: x for x in o["claims"]}
assert len(c) == 7, list(c)
for n, x in c.items():
    assert len(x["runs"]) == 4, x
    assert x["uncertainty"] is not None and math.isfinite(x["uncertainty"]), x
    if n.endswith("reaches 2/eta") or n.endswith("progressive sharpening") or "control" in n:
        assert x["verdict"] in ("pass", "fail"), x
print("ok  eos-gpt quick:", {k: "%s %.3g" % (v["verdict"], v["measured"]) for k, v in c.items()})
' "$out"
"$LM" show 1 --db "$T/r.db" | grep -q '"arch": "gpt"'
"$LM" show 1 --db "$T/r.db" | grep -q '"source": "text"'
grep -q "2/eta" "$T"/r.db.artifacts/exp-*/eos-gpt-sharpness.gp
echo "ok  transformer runs on text and the sharpness figure"
