#!/usr/bin/env bash
# A sweep's runs are trained by `--jobs` reusable worker processes: a worker killed in the middle
# of a run must cost that run only (recorded `interrupted`, counted failed), be replaced, and the
# sweep must finish every other run and exit 0; the results are those of independent runs (the
# same metrics as `lmech train` of the same config). Skips (77) without Fashion-MNIST.
. "$(dirname "$0")/lib/common.bash" "$@"
need_fmnist
SRC=$(cd "$(dirname "$0")/../.." && pwd)
$PY - "$SRC/examples/experiments/lr-seed-sweep.json" "$T/sweep.json" <<'P'
import json, sys
e = json.load(open(sys.argv[1]))
e["base"]["steps"] = 2500  # long enough to be killed mid-run (~0.4 s per run)
e["base"]["eval_every"] = 2500
e["sweep"]["seed"] = [0, 1]
e["claims"] = []
json.dump(e, open(sys.argv[2], "w"))
P
"$LM" exp "$T/sweep.json" --db "$T/r.db" --jobs 2 --json >"$T/out.json" 2>"$T/err" &
main=$!
victim=""
for _ in $(seq 1 200); do # until a run is recorded running: its pid is a worker's
    victim=$(sqlite3 "$T/r.db" "select pid from runs where status = 'running' limit 1" 2>/dev/null)
    [ -n "$victim" ] && break
    sleep 0.05
done
[ -n "$victim" ] && kill -9 "$victim"
wait $main
rc=$?
if [ -n "$victim" ] && [ $rc -eq 0 ] && $PY - "$T/out.json" <<'P'; then
import json, sys
o = json.load(open(sys.argv[1]))
assert o["failed_runs"] == 1, o["failed_runs"]
assert sum(1 for r in o["runs"] if r is not None) == 7, o["runs"]
P
    ok "a killed worker costs one run; the sweep finishes the other 7"
else
    bad "killed worker" "victim=$victim rc=$rc $(head -c 300 "$T/err") $(head -c 300 "$T/out.json")"
fi
st=$(sqlite3 "$T/r.db" "select group_concat(status) from (select status from runs order by id)")
case "$st" in *interrupted*) ok "the killed run is recorded interrupted" ;;
*) bad "interrupted status" "$st" ;; esac

# a worker's third run equals the same config trained alone
id=$(sqlite3 "$T/r.db" "select max(id) from runs where status = 'finished'")
sqlite3 "$T/r.db" "select config from runs where id = $id" >"$T/one.json"
want=$($PY -c "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); print(repr(c.execute('select value from metrics where run = ? and name = \'train_loss\' order by step desc limit 1', (int(sys.argv[2]),)).fetchone()[0]))" "$T/r.db" "$id")
got=$("$LM" train "$T/one.json" --db "$T/one.db" --set threads=1 --json --quiet |
    $PY -c "import json,sys; print(repr(json.load(sys.stdin)['final']['train_loss']))")
$PY -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); assert a == b, (a, b)" \
    "$want" "$got" && ok "a worker's run equals the run trained alone ($got)" ||
    bad "run equality" "$want vs $got"
finish
