#!/bin/sh
# sweep.sh: 32 small runs (examples/experiments/lr-seed-sweep.json: 8 seeds x 4 learning rates of
# 784-64-64-10, batch 32, 4096 examples, 500 steps) by `lmech exp --jobs 2` (one process per run,
# every run recorded in SQLite with its observables and checkpoint) against a PyTorch loop over the
# same runs on the same 2 cores (1 and 2 intra-op threads), in one session, REPEAT times
# interleaved. Usage: bench/sweep.sh path/to/lmech [REPEAT]
set -eu
LM=${1:-build/lmech}
REPEAT=${2:-2}
D=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
i=0
while [ "$i" -lt "$REPEAT" ]; do
    rm -rf "$T"/sweep.db*
    s=$(date +%s%N)
    "$LM" exp "$D/examples/experiments/lr-seed-sweep.json" --db "$T/sweep.db" --jobs 2 >/dev/null
    e=$(date +%s%N)
    echo "{\"lmech_jobs2_wall_ms\": $(((e - s) / 1000000))}"
    for th in 1 2; do
        OMP_NUM_THREADS=$th /usr/bin/python3 "$D/bench/torch_sweep.py" "$th"
    done
    i=$((i + 1))
done
rm -rf "$T"
