#!/usr/bin/env bash
# Databases lmech cannot use (docs/reliability.md): one written by a newer schema, a corrupted
# one (truncated to half, or 8 pages overwritten with 0xa5 bytes), a read-only
# one (file 0444 in a read-only folder, and file 0444 in a writable folder), and one whose folder
# is removed while a run trains; and an experiment killed mid-sweep. Each is refused or reported clearly (exit 1, the file and the
# reason named, no crash), and a refused database is left byte for byte as it was. Root ignores
# file modes, so as root the read-only cases run as user nobody (setpriv); without setpriv they
# are skipped.
. "$(dirname "$0")/lib/common.bash" "$@"

cat >"$T/c.json" <<'JSON'
{"seed": 1, "data": {"source": "teacher", "dim": 8, "outputs": 2, "teacher_width": 16,
  "train_size": 100, "test_size": 20},
 "model": {"widths": [8, 16, 2], "activation": "tanh"}, "loss": "mse",
 "optimizer": {"name": "sgd", "lr": 0.1}, "steps": 20, "eval_every": 10, "threads": 1}
JSON

# ---------------------------------------------------------------- a newer schema
"$LM" train "$T/c.json" --db "$T/new.db" --quiet >/dev/null 2>&1 || bad "setup" "train failed"
sqlite3 "$T/new.db" "PRAGMA user_version = 99"
sum=$(md5sum <"$T/new.db")
expect_fail "newer schema: train refused" "new.db: schema version 99 is newer than this lmech" \
    "$LM" train "$T/c.json" --db "$T/new.db" --quiet
expect_fail "newer schema: ls refused" "schema version 99 is newer" "$LM" ls --db "$T/new.db"
expect_fail "newer schema: report refused" "schema version 99 is newer" \
    "$LM" report --db "$T/new.db" --out "$T/rep"
[ "$(md5sum <"$T/new.db")" = "$sum" ] && [ "$(sqlite3 "$T/new.db" "PRAGMA user_version")" = 99 ] &&
    ok "newer schema: the database is untouched" || bad "newer schema" "the file changed"

# ---------------------------------------------------------------- corrupted: truncated, or pages overwritten
sed 's/"steps": 20, "eval_every": 10/"steps": 400, "eval_every": 1/' "$T/c.json" >"$T/many.json"
"$LM" train "$T/many.json" --db "$T/cor.db" --quiet >/dev/null 2>&1 || bad "setup" "train failed"
rm -f "$T/cor.db-wal" "$T/cor.db-shm"
cp "$T/cor.db" "$T/cor2.db"
truncate -s $(($(stat -c %s "$T/cor.db") / 2)) "$T/cor.db"
head -c 32768 /dev/zero | tr '\0' '\245' | dd of="$T/cor2.db" bs=4096 seek=3 conv=notrunc 2>/dev/null
for db in cor cor2; do
    expect_fail "corrupted ($db): ls refused" "$db.db: database disk image is malformed"         "$LM" ls --db "$T/$db.db"
    expect_fail "corrupted ($db): export refused" "$db.db: database disk image is malformed"         "$LM" export 1 --db "$T/$db.db" --format csv
    expect_fail "corrupted ($db): train refused" "$db.db: database disk image is malformed"         "$LM" train "$T/c.json" --db "$T/$db.db" --quiet
done

# ---------------------------------------------------------------- read-only
as_user=()
if [ "$(id -u)" = 0 ]; then
    if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
        as_user=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
        chmod 755 "$T"
        # nobody must be able to run the binary (a checkout under /root is not reachable)
        "${as_user[@]}" "$LM" --help >/dev/null 2>&1 || as_user=(skip)
    else
        as_user=(skip)
    fi
fi
if [ "${as_user[0]:-}" = skip ]; then
    echo "skip  read-only: root, and no setpriv or user nobody cannot run $LM (root ignores modes)"
else
    mkdir "$T/ro" "$T/rw"
    "$LM" train "$T/c.json" --db "$T/ro/r.db" --quiet >/dev/null 2>&1 || bad "setup" "train failed"
    cp "$T/ro/r.db" "$T/rw/r.db"
    chmod 0444 "$T/ro/r.db" "$T/rw/r.db"
    chmod 0555 "$T/ro"
    chmod 1777 "$T/rw"
    sum=$(md5sum <"$T/ro/r.db")
    expect_fail "read-only file and folder: train refused" "ro/r.db: read-only database" \
        "${as_user[@]}" "$LM" train "$T/c.json" --db "$T/ro/r.db" --quiet
    expect_fail "read-only file and folder: ls refused, saying what to make writable" \
        "needs the file and its folder writable" "${as_user[@]}" "$LM" ls --db "$T/ro/r.db"
    expect_fail "read-only file in a writable folder: train refused" "rw/r.db: read-only database" \
        "${as_user[@]}" "$LM" train "$T/c.json" --db "$T/rw/r.db" --quiet
    "${as_user[@]}" "$LM" ls --db "$T/rw/r.db" >"$T/ls" 2>&1 && grep -q finished "$T/ls" &&
        ok "read-only file in a writable folder: ls still reads it" || bad "ls read-only" "$(cat "$T/ls")"
    [ "$(md5sum <"$T/ro/r.db")" = "$sum" ] && [ "$(md5sum <"$T/rw/r.db")" = "$sum" ] &&
        ok "read-only: the databases are untouched" || bad "read-only" "a file changed"
    chmod 0755 "$T/ro"
fi

# ---------------------------------------------------------------- the folder vanishes mid-run
mkdir "$T/gone"
sed 's/"steps": 20, "eval_every": 10/"steps": 2000000, "eval_every": 500/' "$T/c.json" >"$T/long.json"
"$LM" train "$T/long.json" --db "$T/gone/r.db" --quiet >"$T/gone.out" 2>"$T/gone.err" &
kid=$!
# wait until the run has recorded an evaluation, then remove the folder under it
for _ in $(seq 100); do
    [ "$(sqlite3 "$T/gone/r.db" "SELECT count(*) FROM metrics" 2>/dev/null || echo 0)" -gt 0 ] && break
    sleep 0.1
done
rm -rf "$T/gone"
for _ in $(seq 300); do kill -0 "$kid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$kid" 2>/dev/null; then
    kill "$kid"
    wait "$kid" 2>/dev/null
    bad "folder removed mid-run" "the run went on for 30 s without noticing"
else
    wait "$kid"
    rc=$?
    if [ $rc = 1 ] &&
        grep -q "gone/r.db: the database file was deleted or replaced while open" "$T/gone.err"; then
        ok "folder removed mid-run: exit 1 at the next write, the loss reported"
    else
        bad "folder removed mid-run" "rc=$rc $(cat "$T/gone.err")"
    fi
fi

# ---------------------------------------------------------------- an experiment killed mid-sweep
# kill -9 of lmech exp and its workers (its own process group) leaves its rows 'running'; the
# next open finds the processes gone and marks the run and the experiment 'interrupted'
# one long run (2 million steps), so that it is surely training when killed
cat >"$T/exp.json" <<JSON
{"experiment": "long", "summary": "one long run", "base": $(cat "$T/long.json"),
 "claims": [{"name": "learns", "metric": "train_loss", "reduce": "max", "range": [null, 10],
             "predicted": "below 10", "reason": "a bound"}]}
JSON
setsid "$LM" exp "$T/exp.json" --db "$T/k.db" >/dev/null 2>"$T/k.err" &
kid=$!
for _ in $(seq 600); do
    [ "$(sqlite3 "$T/k.db" "SELECT count(*) FROM runs WHERE status = 'running'" 2>/dev/null ||
        echo 0)" -gt 0 ] && break
    sleep 0.05
done
kill -9 -- "-$kid" 2>/dev/null
wait "$kid" 2>/dev/null
# the signal is delivered asynchronously: wait until no process of the group is left
for _ in $(seq 200); do kill -0 -- "-$kid" 2>/dev/null || break; sleep 0.05; done
"$LM" ls --db "$T/k.db" --experiments >"$T/ls" 2>&1
left=$(sqlite3 "$T/k.db" "SELECT (SELECT count(*) FROM runs WHERE status = 'running') +
                                 (SELECT count(*) FROM experiments WHERE status = 'running')")
[ "$left" = 0 ] && grep -q "long .*interrupted" "$T/ls" &&
    ok "experiment killed mid-sweep: reopened, its rows are 'interrupted'" ||
    bad "experiment killed mid-sweep" "running=$left $(cat "$T/ls" "$T/k.err")"
finish
