#!/usr/bin/env bash
# End-to-end test of `lmech exp FILE.json` (docs/experiments.md) on real Fashion-MNIST data: the
# example sweep examples/experiments/lr-seed-sweep.json in its quick variant (8 runs), its --json
# contract and claims, resume (a second invocation reuses every run), the example question
# examples/experiments/eos-question.json (per-run statistics over records), and malformed files
# (a clear message naming the file and key, non-zero exit below 128).
. "$(dirname "$0")/lib/common.bash" "$@"
need_fmnist
SRC=$(cd "$(dirname "$0")/../.." && pwd)

out=$("$LM" exp "$SRC/examples/experiments/lr-seed-sweep.json" --quick --jobs 2 --db "$T/e.db" --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'lr-seed-sweep' and o['quick'] is True
assert len(o['runs']) == 8 and all(isinstance(r, int) for r in o['runs']), o['runs']
names = [c['name'] for c in o['claims']]
assert names == ['eta=0.03 learns', 'slow rate lags'], names
for c in o['claims']:
    assert c['verdict'] == 'pass', c
    assert c['reason'] and c['tolerance']
assert len(o['claims'][0]['runs']) == 2" "$out"; then
    ok "example sweep: 8 runs, both claims pass"
else
    bad "example sweep" "$out $(cat "$T/err")"
fi
out=$("$LM" exp "$SRC/examples/experiments/lr-seed-sweep.json" --quick --db "$T/e.db" --json 2>"$T/err")
[ "$($PY -c "import json,sys; print(json.loads(sys.argv[1])['reused'])" "$out" 2>/dev/null)" = 8 ] &&
    ok "second invocation reuses every run" || bad "resume" "$out $(cat "$T/err")"
n=$(sqlite3 "$T/e.db" "select count(*) from claims" 2>/dev/null || echo skip)
[ "$n" = skip ] || [ "$n" = 4 ] && ok "claims are rows in the database" || bad "claims rows" "$n"
# ls --experiments: one line per invocation with its runs and verdicts (8 runs, 2 pass each)
"$LM" ls --db "$T/e.db" --experiments >"$T/ls" 2>&1 &&
    [ "$(grep -c "lr-seed-sweep  *quick finished .* 8  *2  *0  *0  *0$" "$T/ls")" = 2 ] &&
    ok "ls --experiments: both invocations with 8 runs and 2 passes" || bad "ls --experiments" "$(cat "$T/ls")"

# The file form of "does the sharpness sit at 2/eta?": per-run statistics over records (from,
# stat frac_in / median / max), 4 seeds x 2 rates of 1600 steps with the sharpness every 20
# (~8 s); each claim is the mean over the 4 seeds' statistics with 2 standard errors
out=$("$LM" exp "$SRC/examples/experiments/eos-question.json" --quick --jobs 2 --db "$T/q.db" --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json, sys
o = json.loads(sys.argv[1])
c = {x['name']: x for x in o['claims']}
assert len(o['runs']) == 8 and len(c) == 3, o
for x in c.values():
    assert x['verdict'] == 'pass', x
    assert x['detail'].startswith('per run: '), x
    assert isinstance(x['uncertainty'], float) and x['uncertainty'] >= 0, x
    assert '2 standard errors of the mean over 4 runs' in x['detail'], x
    assert len(x['runs']) == 4, x
f = c['eta=0.1: sharpness at 2/eta']
assert 0.8 <= f['measured'] <= 1 and 'frac_in(sharpness_ratio)' in f['tolerance'], f
assert 0.97 <= c['eta=0.1: median at 2/eta']['measured'] <= 1.10" "$out"; then
    ok "eos-question: sharpness at 2/eta (frac_in, median) and the control (max) pass"
else
    bad "eos-question" "$out $(cat "$T/err")"
fi

printf '{"experiment": "x", "base": {"model": {"widths": [2, 1]}}, "sweep": {"seed": [0]}, "claims": [{"name": "c", "metric": "m", "range": [0, 1], "predicted": "p"}]}' >"$T/bad.json"
"$LM" exp "$T/bad.json" --db "$T/e.db" >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "bad.json" "$T/err" && grep -q "claims\[0\].reason" "$T/err" &&
    ok "missing reason refused" || bad "missing reason" "rc=$rc $(cat "$T/err")"
"$LM" exp "$T/none.json" --db "$T/e.db" >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "none.json" "$T/err" && ok "missing file" || bad "missing file" "rc=$rc $(cat "$T/err")"
exit $((fails > 0))
