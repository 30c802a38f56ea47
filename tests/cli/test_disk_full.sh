#!/usr/bin/env bash
# Disk full (docs/reliability.md): writes fail with EFBIG under `ulimit -f` (SIGXFSZ ignored, so
# write(2) returns the error instead of killing the process) and with ENOSPC on a small tmpfs
# (where this machine lets us mount one; CI containers often do not: that part is then skipped).
# During a training run (the database grows), a checkpoint write (--save), a report (lmech's
# own figure data, then gnuplot's images) and an experiment: a clear error naming the file, exit 1, no
# half-written file (the old checkpoint intact, no temporary left), an intact database whose
# run row says failed and whose evaluations are whole.
. "$(dirname "$0")/lib/common.bash" "$@"
trap '' XFSZ

cat >"$T/c.json" <<'JSON'
{"seed": 1, "data": {"source": "teacher", "dim": 8, "outputs": 2, "teacher_width": 16,
  "train_size": 200, "test_size": 50},
 "model": {"widths": [8, 64, 2], "activation": "tanh"}, "loss": "mse",
 "optimizer": {"name": "sgd", "lr": 0.1}, "steps": 2000, "eval_every": 1, "threads": 1}
JSON
# a model of 2 MB (270,000 float64 parameters) and a database that stays small
cat >"$T/big.json" <<'JSON'
{"seed": 1, "data": {"source": "teacher", "dim": 8, "outputs": 2, "teacher_width": 16,
  "train_size": 100, "test_size": 20},
 "model": {"widths": [8, 512, 512, 2], "activation": "tanh"}, "loss": "mse",
 "optimizer": {"name": "sgd", "lr": 0.01}, "steps": 4, "eval_every": 4, "threads": 1}
JSON

# db_ok NAME DB: integrity_check ok, every run finished or failed, the newest one failed, and
# every evaluation whole (the same number of metrics at every step of a run)
db_ok() {
    local name=$1 db=$2 ic st per
    ic=$(sqlite3 "$db" "PRAGMA integrity_check" 2>&1)
    st=$(sqlite3 "$db" "SELECT status FROM runs ORDER BY id DESC LIMIT 1" 2>&1)
    per=$(sqlite3 "$db" "SELECT count(DISTINCT c) FROM (SELECT run, step, count(*) AS c
                         FROM metrics WHERE step > 0 GROUP BY run, step)" 2>&1)
    if [ "$ic" = ok ] && [ "$st" = failed ] && [ "$per" -le 1 ]; then
        ok "$name: database intact, run failed, evaluations whole"
    else
        bad "$name" "integrity=$ic status=$st metric counts per step=$per"
    fi
}

# ---------------------------------------------------------------- a run whose database grows
( ulimit -f 400; exec "$LM" train "$T/c.json" --db "$T/full.db" --quiet ) >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "full.db: I/O error while writing metrics" "$T/err" &&
    grep -q "File too large\|a write failed (disk full or file size limit?)" "$T/err"; then
    ok "run: database past ulimit -f: exit 1, the database and the reason named"
else
    bad "run past ulimit -f" "rc=$rc $(cat "$T/err")"
fi
db_ok "run past ulimit -f" "$T/full.db"
n=$(sqlite3 "$T/full.db" "SELECT count(*) FROM metrics")
[ "${n:-0}" -gt 0 ] && ok "run: the evaluations before the disk filled are kept ($n rows)" ||
    bad "kept evaluations" "$n"

# ---------------------------------------------------------------- a checkpoint
"$LM" train "$T/big.json" --db "$T/ok.db" --save "$T/prev.safetensors" --quiet >/dev/null 2>&1 ||
    bad "checkpoint setup" "train failed"
cp "$T/prev.safetensors" "$T/w.safetensors"
( ulimit -f 1000; exec "$LM" train "$T/big.json" --set seed=2 --db "$T/ok.db" \
    --save "$T/w.safetensors" --quiet ) >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "w.safetensors: write failed after .* bytes: File too large" "$T/err"; then
    ok "checkpoint past ulimit -f: exit 1, file and reason named"
else
    bad "checkpoint past ulimit -f" "rc=$rc $(cat "$T/err")"
fi
cmp -s "$T/prev.safetensors" "$T/w.safetensors" && ok "checkpoint: the old file is intact" ||
    bad "checkpoint" "the old checkpoint was changed"
( ulimit -f 1000; exec "$LM" train "$T/big.json" --db "$T/ok.db" --save "$T/new.safetensors" \
    --quiet ) >/dev/null 2>&1
[ ! -e "$T/new.safetensors" ] && ok "checkpoint: no half-written new file" ||
    bad "checkpoint" "new.safetensors exists ($(stat -c %s "$T/new.safetensors") bytes)"
ls "$T" | grep -q '\.tmp\.' && bad "checkpoint" "temporary left: $(ls "$T" | grep '\.tmp\.')" ||
    ok "checkpoint: no temporary file left"
[ "$(sqlite3 "$T/ok.db" "PRAGMA integrity_check")" = ok ] && ok "checkpoint: database intact" ||
    bad "checkpoint" "database not intact"

# ---------------------------------------------------------------- a report
"$LM" train "$T/c.json" --db "$T/r.db" --quiet >/dev/null 2>&1 || bad "report setup" "train failed"
"$LM" report --db "$T/r.db" --out "$T/rep0" 1 >/dev/null 2>"$T/err" || bad "report setup" "$(cat "$T/err")"
tsv=$(stat -c %s "$T/rep0/figures/run1-loss.tsv")
img=$(stat -c %s "$T/rep0/figures/run1-loss.svg" "$T/rep0/figures/run1-loss.png" | sort -n | tail -1)
# SQLite needs 32 KiB for the -shm file: the limits stay above it
if [ "$tsv" -gt $((34 * 1024)) ]; then
    ( ulimit -f 33; exec "$LM" report --db "$T/r.db" --out "$T/rep1" 1 ) >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q "run1-loss.tsv: write failed after .* bytes: File too large" "$T/err" &&
        [ ! -e "$T/rep1/index.html" ] && [ ! -e "$T/rep1/figures/run1-loss.tsv" ]; then
        ok "report: figure data past ulimit -f: exit 1, named, no partial file, no index.html"
    else
        bad "report data past ulimit -f" "rc=$rc $(cat "$T/err") $(ls -R "$T/rep1" 2>&1 | tr '\n' ' ')"
    fi
else
    bad "report setup" "the loss data ($tsv bytes) is too small to overflow"
fi
lim=$(((tsv > 32768 ? tsv : 32768) / 1024 + 2))
if [ $((lim * 1024)) -lt "$img" ]; then
    ( ulimit -f $lim; exec "$LM" report --db "$T/r.db" --out "$T/rep2" 1 ) >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q "did not write run1-loss.png and run1-loss.svg whole" "$T/err" &&
        [ ! -e "$T/rep2/index.html" ] && [ ! -e "$T/rep2/index.html.partial" ] &&
        [ ! -e "$T/rep2/figures/run1-loss.svg" ] && [ ! -e "$T/rep2/figures/run1-loss.png" ]; then
        ok "report: gnuplot's image truncated at $lim KiB: exit 1, no image kept, no index.html"
    else
        bad "report image past ulimit -f" "rc=$rc $(cat "$T/err") $(ls -l "$T/rep2/figures" 2>&1 | tr '\n' ' ')"
    fi
else
    bad "report setup" "images ($img bytes) not larger than the data ($tsv bytes)"
fi

# ---------------------------------------------------------------- an experiment (a sweep)
# 100 KiB: the schema fits, the run's metrics do not; the end of the experiment cannot be
# recorded either, so its row says 'running' until the next open finds its process gone
( ulimit -f 100; exec "$LM" exp curvature-check --quick --db "$T/x.db" ) >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "x.db: I/O error while" "$T/err"; then
    ok "experiment past ulimit -f: exit 1, the database named"
else
    bad "experiment past ulimit -f" "rc=$rc $(cat "$T/err")"
fi
"$LM" ls --db "$T/x.db" --experiments >"$T/ls" 2>&1
ic=$(sqlite3 "$T/x.db" "PRAGMA integrity_check")
left=$(sqlite3 "$T/x.db" "SELECT (SELECT count(*) FROM runs WHERE status = 'running') +
                                 (SELECT count(*) FROM experiments WHERE status = 'running')")
if [ "$ic" = ok ] && [ "$left" = 0 ] && grep -q "curvature-check .*interrupted" "$T/ls"; then
    ok "experiment past ulimit -f: database intact; reopened, nothing left 'running'"
else
    bad "experiment past ulimit -f" "integrity=$ic running=$left $(cat "$T/ls")"
fi

# ---------------------------------------------------------------- a full tmpfs (ENOSPC)
mkdir -p "$T/mnt"
if mount -t tmpfs -o size=256k tmpfs "$T/mnt" 2>/dev/null; then
    trap 'umount "$T/mnt" 2>/dev/null; rm -rf "$T"' EXIT
    "$LM" train "$T/c.json" --db "$T/mnt/r.db" --quiet >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q "r.db: disk full while writing metrics" "$T/err"; then
        ok "tmpfs full during a run: exit 1, 'disk full' named"
    else
        bad "tmpfs full during a run" "rc=$rc $(cat "$T/err")"
    fi
    db_ok "tmpfs full during a run" "$T/mnt/r.db"
    "$LM" train "$T/big.json" --db "$T/ok.db" --save "$T/mnt/w.safetensors" --quiet >/dev/null 2>"$T/err"
    rc=$?
    [ $rc -eq 1 ] && grep -q "w.safetensors: write failed after .* bytes: No space left on device" "$T/err" &&
        [ ! -e "$T/mnt/w.safetensors" ] && ! ls "$T/mnt" | grep -q '\.tmp\.' &&
        ok "tmpfs full: a checkpoint fails with ENOSPC, nothing half-written" ||
        bad "tmpfs checkpoint" "rc=$rc $(cat "$T/err") $(ls "$T/mnt" | tr '\n' ' ')"
    umount "$T/mnt"
else
    echo "skip  tmpfs: mounting is not permitted here (the ulimit -f checks above cover disk full)"
fi
finish
