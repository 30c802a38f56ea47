#!/usr/bin/env bash
# The report in a real browser: run the quick curvature-check experiment, write the report,
# open index.html in headless Chromium (Debian's chromium), take a screenshot, and check from the
# rendered DOM that the claims table has rows, every figure image loaded (no broken image), and no
# script error happened. Also: `lmech exp --json` has the contract fields, a second invocation
# reuses the finished run (resume), and lmech report's own handling of a figure that does not
# render: a gnuplot that fails, one that exits 0 without writing the images, and a corrupted
# experiment figure script make `lmech report` exit 1 naming the script, with no index.html.
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
out=$("$LM" exp catapult --quick --db "$T/r.db" --json 2>"$T/err")
$PY -c "
import json,sys; o=json.loads(sys.argv[1])
v=[c['verdict'] for c in o['claims']]
assert v.count('pass')>=1 and all(x in ('pass','reported') for x in v), o['claims']
" "$out" && ok "catapult claims pass" || bad "catapult" "$out $(cat "$T/err")"
"$LM" exp nope --db "$T/r.db" >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q nope "$T/err" && ok "unknown experiment" || bad "unknown experiment" "rc=$rc"

"$LM" report --db "$T/r.db" --out "$T/rep" >"$T/log" 2>&1 && [ -s "$T/rep/index.html" ] && ok "report written" || bad "report" "$(cat "$T/log")"
for f in "$T"/rep/figures/*.gp; do
    b=${f%.gp}; [ -s "$b.png" ] && [ -s "$b.svg" ] || bad "figure" "$b.png/.svg missing"
done
"$LM" report --db "$T/r.db" --out "$T/rep2" 999 >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q 999 "$T/err" && ok "report of a missing run" || bad "missing run" "rc=$rc"
"$LM" ls --db "$T/r.db" --experiments >"$T/ls" 2>&1 && head -1 "$T/ls" | grep -q "pass  *fail  *inc  *rep$" &&
    ok "ls --experiments counts reported figures" || bad "ls --experiments" "$(cat "$T/ls")"
# reported figures and preconditions (if the experiments recorded any) are apart from the claims
nrep=$(sqlite3 "$T/r.db" "select count(*) from claims where verdict='reported'" 2>/dev/null || echo skip)
if [ "$nrep" = skip ] || [ "$nrep" = 0 ]; then
    echo "skip  no reported figure in these experiments (tests/report/test_report.c checks the table)"
elif grep -q "measured, not claimed" "$T/rep/index.html"; then ok "reported figures apart ($nrep)"; else bad "reported figures" "no 'measured, not claimed' table"; fi

# lmech report's own handling of a figure that does not render. A gnuplot that fails: exit 1,
# the script named, gnuplot's output shown, no index.html (a good report there before is gone).
render_fails() { # NAME WANT OUTDIR ARGS...: lmech report (with PATH=$RF_PATH when set) must
    local name=$1 want=$2 dir=$3 # fail naming WANT, without index.html
    shift 3
    PATH="${RF_PATH:-$PATH}" "$LM" report --db "$T/r.db" --out "$dir" "$@" >"$T/rf.out" 2>"$T/rf.err"
    local rc=$?
    if [ $rc -eq 1 ] && grep -q -- "$want" "$T/rf.err" && [ ! -e "$dir/index.html" ] &&
        [ ! -e "$dir/index.html.partial" ] && ! grep -q "^wrote" "$T/rf.out"; then
        ok "$name"
    else
        bad "$name" "rc=$rc index.html: $(ls "$dir" 2>&1 | tr '\n' ' ') $(head -c 400 "$T/rf.err")"
    fi
}
mkdir -p "$T/fail1" "$T/fail0"
printf '#!/bin/sh\necho "fake gnuplot: $1 line 3: invalid command" >&2\nexit 1\n' >"$T/fail1/gnuplot"
printf '#!/bin/sh\necho "fake gnuplot: wrote nothing"\nexit 0\n' >"$T/fail0/gnuplot"
chmod +x "$T/fail1/gnuplot" "$T/fail0/gnuplot"
"$LM" report --db "$T/r.db" --out "$T/rep3" 1 >/dev/null 2>&1 && [ -s "$T/rep3/index.html" ] || bad "report of run 1" "failed"
RF_PATH="$T/fail1:$PATH" render_fails "a failing gnuplot: exit 1, the script named, no index.html" \
    "gnuplot .*/figures/run1-loss.gp exited with 1" "$T/rep3" 1
grep -q "fake gnuplot: run1-loss.gp line 3: invalid command" "$T/rf.err" &&
    ok "gnuplot's own message is shown" || bad "gnuplot's message" "$(cat "$T/rf.err")"
RF_PATH="$T/fail0:$PATH" render_fails "a gnuplot that writes no image: exit 1, no index.html" \
    "run1-loss.gp exited 0 but did not write run1-loss.png and run1-loss.svg" "$T/rep4" 1
RF_PATH="$T/none" render_fails "no gnuplot at all: exit 1, no index.html" "is gnuplot installed" "$T/rep5" 1
# a corrupted experiment figure (the script an analysis wrote), rendered by the real gnuplot
gps=$(ls "$T"/r.db.artifacts/exp-*/spectrum.gp 2>/dev/null)
if [ -n "$gps" ]; then
    for gp in $gps; do
        cp "$gp" "$gp.good"
        echo "plot sin(x) with nonsense" >>"$gp"
    done
    render_fails "a corrupted experiment figure script: exit 1, named, no index.html" \
        "gnuplot .*/figures/exp[0-9]*-spectrum.gp exited with" "$T/rep6" curvature-check
    for gp in $gps; do mv "$gp.good" "$gp"; done
    "$LM" report --db "$T/r.db" --out "$T/rep6" curvature-check >/dev/null 2>&1 && [ -s "$T/rep6/index.html" ] &&
        ok "repaired, the same report renders" || bad "repaired report" "failed"
else
    bad "corrupted figure" "curvature-check wrote no spectrum figure"
fi

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
