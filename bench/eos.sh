#!/bin/sh
# eos.sh: the full `eos` experiment (3 runs of 196-64-64-10 tanh, 6000 full-batch GD steps each,
# sharpness every 20 steps by warm-started Lanczos, everything recorded in SQLite) against the same
# runs in PyTorch with warm-started scipy eigsh sharpness every 25 steps (bench/torch_eos.py), in
# float64, in one session. lmech with --jobs 2 (its default on 2 cores) and --jobs 1; PyTorch as a
# loop with 2 and with 1 intra-op threads. Usage: bench/eos.sh path/to/lmech [STEPS]
set -eu
LM=${1:-build/lmech}
STEPS=${2:-6000}
D=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
for jobs in 2 1; do
    rm -rf "$T"/eos.db*
    s=$(date +%s%N)
    "$LM" exp eos --db "$T/eos.db" --jobs $jobs >"$T/out"
    e=$(date +%s%N)
    echo "{\"lmech_jobs\": $jobs, \"total_wall_ms\": $(((e - s) / 1000000))}"
done
sqlite3 "$T/eos.db" "select 'lmech hvps per estimate (eta=0.1 run)', avg(value) from metrics where name = 'sharpness_hvps' and run = 1" 2>/dev/null || true
for th in 2 1; do
    OMP_NUM_THREADS=$th /usr/bin/python3 "$D/bench/torch_eos.py" "$th" 25 "$STEPS"
done
rm -rf "$T"
