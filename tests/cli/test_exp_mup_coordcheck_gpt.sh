#!/usr/bin/env bash
# The quick muP coordinate check on a transformer end to end: `lmech exp mup-coordcheck-gpt
# --quick --json` on a temp database (d_model 32..256, 4 heads, 3 seeds, text from the GPL-3) has
# its three claims, each with a bootstrap interval over the seeds and linked runs, and all three
# pass (seeded, deterministic runs); the features observer recorded every top-level layer of the
# GPT while the NTK observer, whose kernels would not fit, recorded nothing. Skips (77) without
# /usr/share/common-licenses/GPL-3.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
[ -r /usr/share/common-licenses/GPL-3 ] || {
    echo "skip: /usr/share/common-licenses/GPL-3 missing"
    exit 77
}
out=$("$LM" exp mup-coordcheck-gpt --quick --jobs 2 --db "$T/r.db" --json)
$PY -c '
import json, math, sys
o = json.loads(sys.argv[1])
assert o["experiment"] == "mup-coordcheck-gpt" and o["quick"], o
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
print("ok    mup-coordcheck-gpt quick:", {k: "%s %.3g+-%.2g" % (v["verdict"], v["measured"],
      v["uncertainty"]) for k, v in c.items()})
' "$out"
run=$(echo "$out" | $PY -c 'import json, sys; print(json.load(sys.stdin)["claims"][0]["runs"][0])')
csv=$("$LM" export "$run" --format csv --db "$T/r.db" | head -n 1)
for name in act_delta_rms.0 act_delta_rms.6 lin_dist; do
    case ",$csv," in
    *",$name,"*) ok "run $run records $name" ;;
    *) bad "run $run records $name" "$csv" ;;
    esac
done
case ",$csv," in
*",ntk_change,"*) bad "no NTK records on a 16 x 256-output model" "$csv" ;;
*) ok "no NTK records on a 16 x 256-output model" ;;
esac
finish
