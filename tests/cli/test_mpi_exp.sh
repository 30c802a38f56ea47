#!/usr/bin/env bash
# `mpirun -n R lmech exp NAME|FILE.json --mpi` (docs/mpi.md): for R = 1, 2 and 4 ranks over
# loopback, an experiment file and a registered quick experiment give the claims, the metric rows
# and the checkpoints of plain `lmech exp`, bit for bit; the runs are trained by the worker ranks
# (their pids), and only rank 0 touches the database (the workers run in a directory of their own,
# which stays empty, and leave no temporary file); killing mpirun (SIGTERM) or one worker rank
# (SIGKILL) mid-sweep leaves the finished runs whole and the same command reuses them; runs that
# fail on a worker count failed; a bad experiment name exits non-zero at once.
. "$(dirname "$0")/lib/common.bash" "$@"
command -v mpirun >/dev/null || {
    echo "skip: mpirun not installed"
    exit 77
}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# in containers without CAP_SYS_PTRACE, vader's cross-memory-attach copy of large messages fails
# (Open MPI 4's known Docker issue): copy through shared memory instead, as everywhere works
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# Open MPI's own allocations outlive MPI_Finalize (the ASan build's leak check is for lmech's)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mkdir -p "$T/work" "$T/tmp"
LMA=$(readlink -f "$LM")

# NP, then lmech's arguments: rank 0 in $T, ranks 1..NP-1 in $T/work (TMPDIR $T/tmp)
mpi() {
    local np=$1
    shift
    if [ "$np" -eq 1 ]; then
        (cd "$T" && TMPDIR="$T/tmp" timeout 120 mpirun --bind-to none -n 1 "$LMA" "$@" --mpi)
    else
        (cd "$T" && TMPDIR="$T/tmp" timeout 120 mpirun --bind-to none -n 1 "$LMA" "$@" --mpi : \
            -n $((np - 1)) -wdir "$T/work" "$LMA" "$@" --mpi)
    fi
}
# the claims of a --json answer without the run ids (those depend on the finishing order)
claims() {
    $PY -c "
import json, sys
o = json.load(open(sys.argv[1]))
for c in o['claims']:
    c.pop('runs')
print(json.dumps(o['claims'], sort_keys=True))" "$1"
}
# every metric row and every final checkpoint's bytes, by config hash
digest() {
    {
        sqlite3 "$1" "select r.hash, m.step, m.name, quote(m.value) from metrics m join runs r on
            r.id = m.run order by r.hash, m.name, m.step, m.rowid"
        sqlite3 "$1" "select r.hash, a.path from artifacts a join runs r on r.id = a.run where
            a.name = 'final' order by r.hash" | while IFS='|' read -r h p; do
            echo "$h $(md5sum <"$p")"
        done
    } | md5sum | cut -d' ' -f1
}

cat >"$T/e.json" <<'EOF'
{"experiment": "mpi8", "summary": "eight short teacher regressions (the MPI test)",
 "base": {"seed": 0, "data": {"source": "teacher", "dim": 16, "outputs": 1, "train_size": 256,
          "test_size": 64},
          "model": {"widths": [16, 96, 96, 1], "activation": "tanh"}, "loss": "mse",
          "optimizer": {"name": "sgd", "lr": 0.05}, "steps": 200, "eval_every": 50},
 "sweep": {"seed": [0, 1, 2, 3, 4, 5, 6, 7]},
 "claims": [{"name": "trains", "metric": "train_loss", "reduce": "max", "range": [null, 10],
             "predicted": "every run ends with a finite loss below 10",
             "reason": "a small teacher regression at a stable rate"},
            {"name": "test loss", "metric": "test_loss", "reduce": "median", "range": [0, 10],
             "predicted": "the median test loss is below 10",
             "reason": "the teacher is smooth"}]}
EOF

# plain `lmech exp --jobs <cores>` gives each run cores / min(cores, runs) BLAS threads; --mpi
# gives one. Bits depend on the thread count, so plain is the reference where that is one (fewer
# than 2 cores per run), else R = 1 is (a host with many cores).
jobs=$(nproc)
[ "$jobs" -gt 64 ] && jobs=64
plain_is_one_thread() { # RUNS
    local n=$jobs
    [ "$n" -gt "$1" ] && n=$1
    [ $(($(nproc) / n)) -eq 1 ]
}
if plain_is_one_thread 8; then
    (cd "$T" && "$LMA" exp e.json --db plain.db --jobs "$jobs" --json >plain.json) ||
        bad "plain" "exit $?"
    ref="plain lmech exp"
else
    mpi 1 exp e.json --db plain.db --json >"$T/plain.json" 2>/dev/null
    ref="R = 1 ($(nproc) cores: plain lmech exp would give each run 2+ BLAS threads)"
fi
want=$(claims "$T/plain.json")
want_digest=$(digest "$T/plain.db")
for R in 1 2 4; do
    mpi $R exp e.json --db m$R.db --json >"$T/m$R.json" 2>"$T/m$R.err"
    rc=$?
    got=$(claims "$T/m$R.json" 2>/dev/null)
    if [ $rc -eq 0 ] && [ -n "$want" ] && [ "$got" = "$want" ] &&
        [ "$(digest "$T/m$R.db")" = "$want_digest" ]; then
        ok "R=$R: the claims, every metric row and every checkpoint equal those of $ref"
    else
        bad "R=$R" "rc=$rc got=${got:0:200} want=${want:0:200} $(tail -c 300 "$T/m$R.err")"
    fi
    # who trained: rank 0 alone for R = 1, else R - 1 worker processes, never rank 0
    pids=$(sqlite3 "$T/m$R.db" "select count(distinct pid) from runs")
    rank0=$(sqlite3 "$T/m$R.db" "select count(*) from runs where pid = (select pid from
        experiments)")
    ranks=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['mpi']['ranks'])" \
        "$T/m$R.json" 2>/dev/null)
    if [ "$R" -eq 1 ]; then
        want_pids=1 want_rank0=8
    else
        want_pids=$((R - 1)) want_rank0=0
    fi
    if [ "$ranks" = "$R" ] && [ "$pids" -eq $want_pids ] && [ "$rank0" -eq $want_rank0 ]; then
        ok "R=$R: runs trained by $pids process(es), as the ranks say"
    else
        bad "R=$R distribution" "ranks=$ranks pids=$pids rank0=$rank0"
    fi
done
left=$(find "$T/work" "$T/tmp" \( -name 'lmech-rank*' -o -name '*.db*' \) | head -3)
files=$(find "$T" -maxdepth 1 \( -name '*-wal' -o -name '*-shm' -o -name '*-journal' \))
tmps=$(find "$T" -name '*.tmp-*' | head -3)
if [ -z "$(ls -A "$T/work")" ] && [ -z "$left" ] && [ -z "$files" ] && [ -z "$tmps" ]; then
    ok "only rank 0 touched the database: the workers' directory is empty, no journal or temp left"
else
    bad "rank 0 alone" "work: $(ls -A "$T/work" | head -3) left: $left files: $files tmps: $tmps"
fi

# a registered experiment, quick (12 runs)
if plain_is_one_thread 12; then
    (cd "$T" && "$LMA" exp saddle-to-saddle --quick --db sp.db --jobs "$jobs" --json >sp.json)
    ref="plain lmech exp"
else
    mpi 1 exp saddle-to-saddle --quick --db sp.db --json >"$T/sp.json" 2>/dev/null
    ref="R = 1"
fi
want=$(claims "$T/sp.json")
for R in 1 2 4; do
    mpi $R exp saddle-to-saddle --quick --db s$R.db --json >"$T/s$R.json" 2>"$T/s$R.err"
    rc=$?
    got=$(claims "$T/s$R.json" 2>/dev/null)
    if [ $rc -eq 0 ] && [ -n "$want" ] && [ "$got" = "$want" ]; then
        ok "saddle-to-saddle --quick over $R ranks: the claims of $ref"
    else
        bad "saddle-to-saddle R=$R" "rc=$rc ${got:0:200} / ${want:0:200}"
    fi
done

# interrupted: SIGTERM to mpirun once two runs are in; the finished runs are whole and reused
# (24 runs, so that the signal lands mid-sweep however fast the machine is)
sed 's/"seed": \[0, 1, 2, 3, 4, 5, 6, 7\]/"seed": [SEEDS]/' "$T/e.json" |
    sed "s/SEEDS/$(seq -s ', ' 0 23)/" >"$T/i.json"
(cd "$T" && exec mpirun --bind-to none -n 3 "$LMA" exp i.json --db i.db --mpi >i.out 2>i.err) &
pid=$!
n=0
for _ in $(seq 1 600); do
    n=$(sqlite3 "$T/i.db" "select count(*) from runs where status = 'finished'" 2>/dev/null)
    [ "${n:-0}" -ge 2 ] && break
    sleep 0.05
done
kill -TERM $pid
wait $pid
rc=$?
sleep 0.3
running=$(sqlite3 "$T/i.db" "select count(*) from runs where status = 'running'")
fin=$(sqlite3 "$T/i.db" "select count(*) from runs where status = 'finished'")
nockpt=$(sqlite3 "$T/i.db" "select count(*) from runs r where status = 'finished' and not exists
    (select 1 from artifacts a where a.run = r.id and a.name = 'final')")
exp=$(sqlite3 "$T/i.db" "select status from experiments order by id desc limit 1")
if [ $rc -ne 0 ] && [ "${n:-0}" -ge 2 ] && [ "$fin" -lt 24 ] && [ "$running" -eq 0 ] &&
    [ "$nockpt" -eq 0 ] && { [ "$exp" = interrupted ] || [ "$exp" = running ]; }; then
    ok "killed mid-sweep: $fin finished runs, each with its checkpoint, none left running"
else
    bad "interrupt" "rc=$rc n=$n fin=$fin running=$running nockpt=$nockpt exp=$exp"
fi
mpi 2 exp i.json --db i.db --json >"$T/r.json" 2>"$T/r.err"
rc=$?
if [ $rc -eq 0 ] && $PY -c "
import json, sys
o = json.load(open(sys.argv[1]))
assert o['reused'] == $fin and o['failed_runs'] == 0, o
assert len(o['runs']) == 24 and all(r is not None for r in o['runs']), o
assert [c['verdict'] for c in o['claims']] == ['pass', 'pass'], o['claims']" "$T/r.json"; then
    ok "resumed: the $fin finished runs reused, the other $((24 - fin)) trained, the claims pass"
else
    bad "resume" "rc=$rc fin=$fin $(head -c 300 "$T/r.json") $(tail -c 300 "$T/r.err")"
fi

# a worker rank killed (SIGKILL) mid-sweep takes the job with it (MPI cannot replace a rank); what
# rank 0 imported is whole, no run is left `running`, and the same command resumes from it
(cd "$T" && exec mpirun --bind-to none -n 3 "$LMA" exp i.json --db k.db --mpi >k.out 2>k.err) &
pid=$!
n=0
for _ in $(seq 1 600); do
    n=$(sqlite3 "$T/k.db" "select count(*) from runs where status = 'finished'" 2>/dev/null)
    [ "${n:-0}" -ge 1 ] && break
    sleep 0.05
done
killed=0
for p in $(pgrep -f "db k.db --mpi"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q '^OMPI_COMM_WORLD_RANK=1$'; then
        kill -KILL "$p" && killed=1
    fi
done
wait $pid
rc=$?
sleep 0.3
running=$(sqlite3 "$T/k.db" "select count(*) from runs where status = 'running'")
fin=$(sqlite3 "$T/k.db" "select count(*) from runs where status = 'finished'")
nockpt=$(sqlite3 "$T/k.db" "select count(*) from runs r where status = 'finished' and not exists
    (select 1 from artifacts a where a.run = r.id and a.name = 'final')")
mpi 3 exp i.json --db k.db --json >"$T/k.json" 2>"$T/k2.err"
rc2=$?
if [ $killed -eq 1 ] && [ $rc -ne 0 ] && [ "$running" -eq 0 ] && [ "$nockpt" -eq 0 ] &&
    [ "$fin" -ge 1 ] && [ $rc2 -eq 0 ] && $PY -c "
import json, sys
o = json.load(open(sys.argv[1]))
assert o['reused'] == $fin and o['failed_runs'] == 0 and all(r is not None for r in o['runs']), o
" "$T/k.json"; then
    ok "a worker killed: the job ends (exit $rc), $fin whole runs kept and reused by the next run"
else
    bad "worker killed" "killed=$killed rc=$rc running=$running fin=$fin nockpt=$nockpt rc2=$rc2"
fi

# runs that fail on a worker (their data are missing) are counted failed, as plain lmech exp does
cat >"$T/f.json" <<'EOF'
{"experiment": "mpifail", "summary": "runs whose data are missing (the MPI test)",
 "base": {"seed": 0, "data": {"source": "npy", "x": "/nonexistent/x.npy", "y": "/nonexistent/y.npy"},
          "model": {"widths": [4, 8, 1], "activation": "tanh"}, "loss": "mse",
          "optimizer": {"name": "sgd", "lr": 0.05}, "steps": 10, "eval_every": 5},
 "sweep": {"seed": [0, 1]},
 "claims": [{"name": "trains", "metric": "train_loss", "reduce": "max", "range": [null, 10],
             "predicted": "every run ends with a finite loss", "reason": "the MPI test"}]}
EOF
(cd "$T" && "$LMA" exp f.json --db fp.db --jobs 2 --json >fp.json)
mpi 2 exp f.json --db f2.db --json >"$T/f2.json" 2>"$T/f2.err"
rc=$?
failed=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['failed_runs'])" "$T/f2.json" \
    2>/dev/null)
if [ $rc -eq 0 ] && [ "$failed" = 2 ] && [ "$(claims "$T/f2.json")" = "$(claims "$T/fp.json")" ]; then
    ok "runs failing on a worker: counted failed, the claim inconclusive as without --mpi"
else
    bad "failing runs" "rc=$rc failed=$failed $(tail -c 300 "$T/f2.err")"
fi

# a bad experiment name, a missing file, --jobs with --mpi: non-zero at once, nothing written
for what in "no-such-experiment" "missing.json"; do
    start=$(date +%s)
    mpi 2 exp "$what" --db bad.db >"$T/bad.out" 2>"$T/bad.err"
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $(($(date +%s) - start)) -lt 60 ] &&
        [ ! -e "$T/bad.db" ] && grep -q "$what" "$T/bad.err"; then
        ok "exp $what --mpi: exit $rc, no database"
    else
        bad "exp $what --mpi" "rc=$rc $(head -c 300 "$T/bad.err")"
    fi
done
mpi 2 exp e.json --db bad.db --jobs 2 >"$T/bad.out" 2>"$T/bad.err"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "exclude each other" "$T/bad.err"; then
    ok "--jobs with --mpi refused"
else
    bad "--jobs with --mpi" "rc=$rc $(head -c 300 "$T/bad.err")"
fi
finish
