#!/usr/bin/env bash
# Two `lmech exp` invocations of the same experiment on one database at the same time: through
# the run locks each of the 8 runs is trained once (8 finished rows, 8 distinct config hashes),
# each invocation reuses what the other trained, both judge the claim on all 8 runs, and no lock
# is left behind.
. "$(dirname "$0")/lib/common.bash" "$@"
cp "$(dirname "$0")/lib/sweep8.json" "$T/e.json" # 8 runs of ~0.5 s
"$LM" exp "$T/e.json" --db "$T/r.db" --jobs 1 --json >"$T/a.json" 2>"$T/a.err" &
a=$!
"$LM" exp "$T/e.json" --db "$T/r.db" --jobs 2 --json >"$T/b.json" 2>"$T/b.err" &
b=$!
wait $a
ra=$?
wait $b
rb=$?
rows=$(sqlite3 "$T/r.db" "select count(*) || ' ' || count(distinct hash) from runs")
locks=$(sqlite3 "$T/r.db" "select count(*) from run_locks")
if [ $ra -eq 0 ] && [ $rb -eq 0 ] && [ "$rows" = "8 8" ] && [ "$locks" -eq 0 ] && $PY - "$T/a.json" "$T/b.json" <<'P'; then
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
for o in (a, b):
    assert len(o['runs']) == 8 and all(r is not None for r in o['runs']), o
    assert o['claims'][0]['verdict'] == 'pass' and o['failed_runs'] == 0, o
assert sorted(a['runs']) == sorted(b['runs']), (a['runs'], b['runs'])
assert a['reused'] + b['reused'] == 8, (a['reused'], b['reused'])
P
    ok "two invocations at once: 8 runs trained once, shared, claims judged on all 8, no lock left"
else
    bad "concurrent" "rc=$ra/$rb rows=$rows locks=$locks $(head -c 300 "$T/a.err" "$T/b.err")"
fi
finish
