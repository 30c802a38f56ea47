#!/usr/bin/env bash
# `mpirun -n R lmech train CONFIG.json --mpi` (docs/mpi.md, "Data-parallel training"), started
# here over loopback with R = 1, 2 and 4 ranks:
#   - two runs at a fixed R give the same bits (every metric of the database's export, and the
#     checkpoint);
#   - every metric agrees with the plain `lmech train` and across R within 1e-12 relative
#     (float64: only the order of the sums differs), for minibatch SGD with momentum and for
#     full-batch GD with sharpness tracking, whose sharpness agrees to 1e-10 with the same
#     number of Hessian-vector products (the all-reduced HVP is the full-batch one);
#   - a float32 run agrees with the plain one within float32 rounding;
#   - rank 0 alone writes the database and the checkpoint and prints: one result line;
#   - a bad config and a batch smaller than R fail on every rank, with one message and no hang.
# Under the ASan build, Open MPI's own allocations at exit are reported as leaks, so this test
# (only) runs with detect_leaks=0.
. "$(dirname "$0")/lib/common.bash" "$@"
command -v mpirun >/dev/null || {
    echo "skip: mpirun (openmpi-bin) not installed"
    exit 77
}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
# shared memory without CMA (process_vm_readv), which containers without ptrace rights refuse
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export OMPI_MCA_mpi_yield_when_idle=1 # a rank waiting in a sum yields its core (CI shares cores)
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
LM=$(realpath "$LM") # the ranks start in other directories
MPI=(timeout 60 mpirun --oversubscribe --bind-to none -n)

# minibatch SGD with momentum: 13 rows of a batch of 50 per rank at R = 4 (uneven slices), a
# test set of 37 (the performance observer's slices are uneven too)
cat >"$T/sgd.json" <<'EOF'
{"seed": 3, "data": {"source": "teacher", "dim": 12, "outputs": 3, "train_size": 200,
 "test_size": 37}, "model": {"widths": [12, 32, 32, 3], "activation": "tanh"}, "loss": "mse",
 "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}, "steps": 40, "batch_size": 50,
 "eval_every": 10, "threads": 1}
EOF
# full-batch GD with sharpness tracking (123 examples: slices of 31, 31, 31, 30 at R = 4)
cat >"$T/gd.json" <<'EOF'
{"seed": 5, "data": {"source": "teacher", "dim": 10, "outputs": 2, "train_size": 123,
 "test_size": 37}, "model": {"widths": [10, 24, 24, 2], "activation": "tanh"}, "loss": "mse",
 "optimizer": {"name": "sgd", "lr": 0.1}, "steps": 40, "eval_every": 10, "sharpness_every": 10,
 "threads": 1}
EOF

# export NAME DB: the run's metrics as CSV (17 significant digits: the bits)
export_run() { "$LM" export 1 --format csv --db "$2" >"$T/$1.csv"; }

for c in sgd gd; do
    "$LM" train "$T/$c.json" --db "$T/$c-plain.db" --quiet >/dev/null 2>"$T/err" &&
        export_run "$c-plain" "$T/$c-plain.db" || bad "$c plain" "$(head -c 300 "$T/err")"
    for R in 1 2 4; do
        for rep in a b; do
            d="$T/$c-$R$rep"
            mkdir -p "$d"
            if (cd "$d" && "${MPI[@]}" "$R" "$LM" train "$T/$c.json" --mpi --db r.db \
                --save ck.safetensors --json >out.json 2>err); then
                export_run "$c-$R$rep" "$d/r.db"
            else
                bad "$c R=$R ($rep)" "rc=$? $(head -c 300 "$d/err")"
            fi
        done
        if cmp -s "$T/$c-${R}a.csv" "$T/$c-${R}b.csv" &&
            cmp -s "$T/$c-${R}a/ck.safetensors" "$T/$c-${R}b/ck.safetensors"; then
            ok "$c, R = $R: two runs give the same bits (metrics and checkpoint)"
        else
            bad "$c R=$R bitwise" "$(diff "$T/$c-${R}a.csv" "$T/$c-${R}b.csv" | head -c 300)"
        fi
        d="$T/$c-${R}a"
        files=$(cd "$d" && ls | tr '\n' ' ')
        lines=$(wc -l <"$d/out.json")
        if [ "$files" = "ck.safetensors err out.json r.db " ] && [ "$lines" -eq 1 ] &&
            grep -q "\"ranks\":$R" "$d/out.json"; then
            ok "$c, R = $R: one database, one checkpoint, one result line"
        else
            bad "$c R=$R rank 0 only" "files: $files lines: $lines $(head -c 200 "$d/out.json")"
        fi
    done
done

# compare.py TOL SHARP_TOL A.csv B.csv...: every metric of each run within TOL relative of the
# first (sharpness within SHARP_TOL, its HVP count equal)
cat >"$T/compare.py" <<'EOF'
import csv, math, sys
tol, stol = float(sys.argv[1]), float(sys.argv[2])
def load(f):
    return list(csv.DictReader(open(f)))
ref = load(sys.argv[3])
worst = 0.0
for f in sys.argv[4:]:
    rows = load(f)
    assert len(rows) == len(ref) and len(ref) >= 5, (f, len(rows), len(ref))
    for a, b in zip(ref, rows):
        assert a.keys() == b.keys(), f
        for k in a:
            x, y = float(a[k]), float(b[k])
            if math.isnan(x) and math.isnan(y):
                continue
            if k == 'sharpness_hvps':
                assert x == y, (f, a['step'], k, x, y)
                continue
            rel = abs(x - y) / max(abs(x), abs(y), 1e-300)
            lim = stol if k.startswith('sharpness') else tol
            if k == 'sharpness_resid':
                lim = 1e-6  # a residual ~1e-3 is itself a difference of rounded numbers
            assert rel <= lim or abs(x - y) <= 1e-15, (f, a['step'], k, x, y, rel)
            if k != 'sharpness_resid':
                worst = max(worst, rel)
print(f"largest relative difference {worst:.2e}")
EOF
for c in sgd gd; do
    if $PY "$T/compare.py" 1e-12 1e-10 "$T/$c-plain.csv" "$T/$c-1a.csv" "$T/$c-2a.csv" \
        "$T/$c-4a.csv" >"$T/cmp.out" 2>&1; then
        ok "$c: R = 1, 2, 4 agree with plain lmech train ($(cat "$T/cmp.out"))"
    else
        bad "$c across R" "$(tail -c 400 "$T/cmp.out")"
    fi
done
if grep -q '^0,.*,64,' "$T/gd-4a.csv" && head -1 "$T/gd-4a.csv" | grep -q sharpness; then
    ok "gd: sharpness tracked at R = 4"
else
    bad "gd sharpness" "$(head -2 "$T/gd-4a.csv")"
fi

# float32: the same run within float32 rounding of the plain one
"$LM" train "$T/sgd.json" --set dtype=float32 --db "$T/f32-plain.db" --quiet \
    >/dev/null 2>&1 && export_run f32-plain "$T/f32-plain.db"
(cd "$T" && "${MPI[@]}" 2 "$LM" train "$T/sgd.json" --set dtype=float32 --mpi \
    --db f32-2.db --quiet >/dev/null 2>&1) && export_run f32-2 "$T/f32-2.db"
if $PY "$T/compare.py" 1e-4 1e-4 "$T/f32-plain.csv" "$T/f32-2.csv" >"$T/cmp.out" 2>&1; then
    ok "float32, R = 2: within float32 rounding of plain ($(cat "$T/cmp.out"))"
else
    bad "float32 R=2" "$(tail -c 400 "$T/cmp.out")"
fi

# negative controls: every rank fails, one message, no hang (timeout 60 gives 124)
mkdir -p "$T/neg" && cd "$T/neg" || exit 1
expect_fail "bad config key fails on every rank" 'optimizer.lrr' \
    "${MPI[@]}" 4 "$LM" train "$T/sgd.json" --set optimizer.lrr=0.1 --mpi --db n.db
n=$(grep -c 'lmech train: error' "$T/expect_fail.err")
[ "$n" -eq 1 ] && ok "one error message for 4 ranks" || bad "messages" "$n: $(cat "$T/expect_fail.err")"
expect_fail "a batch smaller than R is refused" 'needs a batch of at least 4' \
    "${MPI[@]}" 4 "$LM" train "$T/sgd.json" --set batch_size=3 --mpi --db n.db
n=$(grep -c 'lmech train: error' "$T/expect_fail.err")
[ "$n" -eq 1 ] && ok "one error message for 4 ranks" || bad "messages" "$n: $(cat "$T/expect_fail.err")"
if [ ! -e "$T/neg/n.db" ] ||
    [ "$(sqlite3 n.db 'select count(*) from runs where status != "failed"')" = 0 ]; then
    ok "no finished run recorded by the failed invocations"
else
    bad "neg db" "a run was recorded"
fi
finish
