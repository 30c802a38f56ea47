#!/bin/sh
# eos_f32.sh: a float32 edge-of-stability run with tracked sharpness, lmech against PyTorch.
# 784-200-200-10 tanh with biases, float32, the first N Fashion-MNIST training images scaled to
# [0, 1], one-hot targets, mse, full-batch GD for STEPS steps at rate LR, the sharpness every 25
# steps (and at the last step): lmech by warm-started Lanczos to relative residual 1e-3 on exact
# R-operator products, its float32 run once with float32 products (sharpness_dtype "float32",
# what the default "auto" picks for it) and once with float64 products (sharpness_dtype
# "float64", what every float32 run paid before), everything recorded in SQLite; PyTorch (bench/torch_eos_f32.py) with
# scipy.sparse.linalg.eigsh(k=1, which='LA', tol=1e-3, v0 = the previous eigenvector) on float32
# double-backward products, 1 intra-op thread (its best on 2 cores: bench/README.md). lmech with
# its default threads (0: OpenBLAS's, 2 on 2 cores) and with threads 1 (one core, like PyTorch's
# run; steadier on a shared machine). REPS rounds, the five runs interleaved in each;
# each line is one run's wall and CPU (user + sys) seconds of the whole process, then the medians
# and the ratios of PyTorch's median to lmech's: against PyTorch's whole process and, stricter,
# against its training loop alone (its own timer: no interpreter start, imports or data loading),
# while lmech's time always includes its start, data loading and SQLite.
# Usage: bench/eos_f32.sh path/to/lmech [N] [STEPS] [LR] [REPS]
set -eu
LM=${1:-build/lmech}
N=${2:-2000}
STEPS=${3:-500}
LR=${4:-0.01}
REPS=${5:-3}
D=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cat >"$T/eos_f32.json" <<EOF
{"seed": 0, "data": {"source": "fashion-mnist", "train_size": $N, "test_size": 0,
 "subset": "first"},
 "model": {"widths": [784, 200, 200, 10], "activation": "tanh"}, "loss": "mse",
 "optimizer": {"name": "sgd", "lr": $LR}, "steps": $STEPS, "eval_every": 25,
 "dtype": "float32", "sharpness_every": 25}
EOF
# timed NAME CMD...: runs CMD, appends "NAME wall cpu" to $T/times
timed() {
    name=$1
    shift
    /usr/bin/time -f "%e %U %S" -o "$T/t" "$@" >"$T/out" 2>"$T/err" || {
        cat "$T/err" >&2
        exit 1
    }
    set -- $(cat "$T/t")
    cpu=$(awk "BEGIN {printf \"%.2f\", $2 + $3}")
    echo "$name $1 $cpu" >>"$T/times"
    echo "{\"run\": \"$name\", \"wall_s\": $1, \"cpu_s\": $cpu}"
}
# lmech SHARPNESS_DTYPE THREADS: one timed lmech run, its sharpness metrics in $T/metrics_DTYPE
lmech() {
    rm -f "$T"/r.db*
    timed "lmech_$1_threads_$2" "$LM" train "$T/eos_f32.json" --db "$T/r.db" --quiet \
        --set "sharpness_dtype=\"$1\"" --set "threads=$2"
    sqlite3 "$T/r.db" "select name, count(*), round(avg(value), 4), round(max(value), 4)
        from metrics where name in ('sharpness', 'sharpness_hvps', 'sharpness_hvp_bits')
        group by name" >"$T/metrics_$1"
}
for rep in $(seq "$REPS"); do
    lmech float32 0
    lmech float64 0
    lmech float32 1
    lmech float64 1
    timed "pytorch_1_thread" env OMP_NUM_THREADS=1 /usr/bin/python3 "$D/bench/torch_eos_f32.py" 1 \
        "$N" "$STEPS" 25 "$LR"
    cat "$T/out" >"$T/torch_out"
    # PyTorch's own timing of its loop alone (no interpreter start, imports or data loading)
    loop=$(sed 's/.*"wall_s": \([0-9.]*\).*/\1/' "$T/out")
    echo "pytorch_loop_only $loop $loop" >>"$T/times"
done
echo "# lmech sharpness (name|estimates|mean|max), float32 products:"
cat "$T/metrics_float32"
echo "# float64 products:"
cat "$T/metrics_float64"
echo "# PyTorch:"
cat "$T/torch_out"
echo "# medians over $REPS rounds (wall s, cpu s); PyTorch's median wall (whole process, loop only) over each:"
median() { grep "^$1 " "$T/times" | awk '{print $'"$2"'}' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
pw=$(median pytorch_1_thread 2)
pl=$(median pytorch_loop_only 2)
for name in lmech_float32_threads_0 lmech_float64_threads_0 lmech_float32_threads_1 \
    lmech_float64_threads_1 pytorch_1_thread; do
    w=$(median $name 2)
    c=$(median $name 3)
    r=$(awk "BEGIN {printf \"%.2f\", $pw / $w}")
    rl=$(awk "BEGIN {printf \"%.2f\", $pl / $w}")
    echo "{\"run\": \"$name\", \"median_wall_s\": $w, \"median_cpu_s\": $c, \"pytorch_over_this\": $r, \"pytorch_loop_over_this\": $rl}"
done
echo "{\"run\": \"pytorch_loop_only\", \"median_wall_s\": $pl}"
