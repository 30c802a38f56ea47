#!/usr/bin/env bash
# The report in a real browser: run the quick curvature-check experiment, write the report,
# open index.html in headless Chromium (Debian's chromium), take a screenshot, and check from the
# rendered DOM that the claims table has rows, every figure image loaded (no broken image), and no
# script error happened. Also: `lmech exp --json` has the contract fields, a second invocation
# reuses the finished run (resume), and gnuplot's failure is reported.
. "$(dirname "$0")/lib/common.bash" "$@"

out=$("$LM" exp curvature-check --quick --db "$T/r.db" --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json,sys; o=json.loads(sys.argv[1])
assert o['experiment']=='curvature-check' and len(o['runs'])==1 and len(o['claims'])>=4
for c in o['claims']:
    assert all(k in c for k in ('name','predicted','measured','tolerance','verdict','reason')), c
    assert c['verdict']=='pass', c
" "$out"; then ok "exp --json: claims pass"; else bad "exp --json" "$out $(cat "$T/err")"; fi
out2=$("$LM" exp curvature-check --quick --db "$T/r.db" --json 2>/dev/null)
[ "$($PY -c "import json,sys; print(json.loads(sys.argv[1])['reused'])" "$out2")" = 1 ] && ok "resume reuses the finished run" || bad "resume" "$out2"
out=$("$LM" exp catapult --db "$T/r.db" --json 2>"$T/err")
$PY -c "
import json,sys; o=json.loads(sys.argv[1])
assert len(o['claims'])==4 and all(c['verdict']=='pass' for c in o['claims']), o['claims']
" "$out" && ok "catapult claims pass" || bad "catapult" "$out $(cat "$T/err")"
"$LM" exp nope --db "$T/r.db" >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q nope "$T/err" && ok "unknown experiment" || bad "unknown experiment" "rc=$rc"

"$LM" report --db "$T/r.db" --out "$T/rep" >"$T/log" 2>&1 && [ -s "$T/rep/index.html" ] && ok "report written" || bad "report" "$(cat "$T/log")"
for f in "$T"/rep/figures/*.gp; do
    b=${f%.gp}; [ -s "$b.png" ] && [ -s "$b.svg" ] || bad "figure" "$b.png/.svg missing"
done
"$LM" report --db "$T/r.db" --out "$T/rep2" 999 >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q 999 "$T/err" && ok "report of a missing run" || bad "missing run" "rc=$rc"
# a broken figure script: gnuplot's exit status is checked
"$LM" report --db "$T/r.db" --out "$T/rep3" 1 >/dev/null 2>&1
echo "plot sin(x) with nonsense" >"$T/rep3/figures/run1-loss.gp"
(cd "$T/rep3/figures" && gnuplot run1-loss.gp >/dev/null 2>&1) && bad "gnuplot" "a broken script succeeded" || ok "gnuplot errors are detected"

CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
    echo "skip  browser check (chromium not installed: scripts/install-deps.sh installs it)"
    echo "$fails failed"; [ $fails -eq 0 ] && exit 77 || exit 1
fi
# a copy of the page with a checker script (the report itself has no script)
sed 's#</body>#<script>window.onerror=function(m){document.body.setAttribute("data-errors",(document.body.getAttribute("data-errors")||"")+m)};window.addEventListener("load",function(){var im=[].slice.call(document.images);var broken=im.filter(function(i){return !i.complete||i.naturalWidth===0}).length;document.body.setAttribute("data-check",JSON.stringify({images:im.length,broken:broken,rows:document.querySelectorAll("table.claims tbody tr").length}))});</script></body>#' "$T/rep/index.html" >"$T/rep/check.html"
FLAGS="--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync --user-data-dir=$T/profile"
timeout 120 "$CHROME" $FLAGS --virtual-time-budget=5000 --dump-dom "file://$T/rep/check.html" >"$T/dom" 2>"$T/chrome.err"
check=$(grep -o 'data-check="[^"]*"' "$T/dom" | head -1 | sed 's/^data-check="//; s/"$//; s/&quot;/"/g')
if $PY -c "import json,sys; c=json.loads(sys.argv[1]); assert c['images']>=3 and c['broken']==0 and c['rows']>=8, c" "$check" 2>/dev/null &&
    ! grep -q 'data-errors="' "$T/dom"; then
    ok "browser: tables and images rendered ($check)"
else
    bad "browser" "check=$check $(head -c 300 "$T/chrome.err")"
fi
timeout 120 "$CHROME" $FLAGS --screenshot="$T/shot.png" --window-size=1280,2000 "file://$T/rep/index.html" >/dev/null 2>&1
[ "$(stat -c %s "$T/shot.png" 2>/dev/null || echo 0)" -gt 20000 ] && ok "screenshot" || bad "screenshot" "missing or empty"
[ -n "${LM_KEEP_SCREENSHOT:-}" ] && cp "$T/shot.png" "$LM_KEEP_SCREENSHOT"
echo "$fails failed"
[ $fails -eq 0 ]
