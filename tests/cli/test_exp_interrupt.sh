#!/usr/bin/env bash
# Stopping `lmech exp`: SIGTERM to the command alone, or SIGINT to its whole process group (what
# Ctrl-C sends), must end the runs in flight `interrupted` (no run left `running`, no worker left
# behind), record the invocation `interrupted`, analyse nothing, and exit 130 with a message that
# says how to resume; the same command then reuses every finished run and completes.
. "$(dirname "$0")/lib/common.bash" "$@"
cp "$(dirname "$0")/lib/sweep8.json" "$T/e.json" # 8 runs of ~0.5 s

# waits until the database records a run with status $2 (at most 20 s)
wait_status() {
    for _ in $(seq 1 400); do
        [ -n "$(sqlite3 "$1" "select id from runs where status = '$2' limit 1" 2>/dev/null)" ] &&
            return 0
        sleep 0.05
    done
    return 1
}

check_stopped() { # NAME DB ERRFILE RC
    local name=$1 db=$2 errf=$3 rc=$4
    sleep 0.3
    local left running exp
    left=0 # workers still alive: the pids the runs were recorded with
    for p in $(sqlite3 "$db" "select distinct pid from runs"); do
        kill -0 "$p" 2>/dev/null && left=$((left + 1))
    done
    running=$(sqlite3 "$db" "select count(*) from runs where status = 'running'")
    exp=$(sqlite3 "$db" "select status from experiments order by id desc limit 1")
    if [ "$rc" -eq 130 ] && [ "$left" -eq 0 ] && [ "$running" -eq 0 ] && [ "$exp" = interrupted ] &&
        [ "$(sqlite3 "$db" "select count(*) from runs where status = 'interrupted'")" -ge 1 ] &&
        grep -q "Run the same command again to resume" "$errf"; then
        ok "$name: runs in flight interrupted, invocation interrupted, exit 130, no worker left"
    else
        bad "$name" "rc=$rc left=$left running=$running exp=$exp $(tail -c 300 "$errf")"
    fi
}

# SIGTERM to the command alone (its workers get SIGTERM from it)
"$LM" exp "$T/e.json" --db "$T/a.db" --jobs 2 >"$T/a.out" 2>"$T/a.err" &
pid=$!
wait_status "$T/a.db" finished && wait_status "$T/a.db" running || bad "SIGTERM" "no run started"
kill -TERM $pid
wait $pid
check_stopped "SIGTERM" "$T/a.db" "$T/a.err" $?
done_before=$(sqlite3 "$T/a.db" "select count(*) from runs where status = 'finished'")
out=$("$LM" exp "$T/e.json" --db "$T/a.db" --jobs 2 --json)
if [ $? -eq 0 ] && $PY -c "
import json, sys
o = json.loads(sys.argv[1])
assert o['reused'] == $done_before >= 1 and o['failed_runs'] == 0, o
assert all(r is not None for r in o['runs']) and len(o['runs']) == 8, o
assert o['claims'][0]['verdict'] == 'pass', o" "$out"; then
    ok "resume: the $done_before finished runs reused, the rest trained, the claim judged"
else
    bad "resume" "${out:0:300}"
fi

# SIGINT to the whole process group, as Ctrl-C at a terminal sends it
setsid "$LM" exp "$T/e.json" --db "$T/b.db" --jobs 2 >"$T/b.out" 2>"$T/b.err" &
pid=$!
wait_status "$T/b.db" running || bad "SIGINT" "no run started"
kill -INT -- -$pid
wait $pid
check_stopped "SIGINT to the process group" "$T/b.db" "$T/b.err" $?
finish
