#!/bin/sh
# mpi_sweep.sh: runs per hour of one sweep against the MPI rank count (docs/mpi.md, "Sweeps over
# ranks"), and rank 0's import throughput (metric rows per second), on this host over loopback.
#
#   1. examples/experiments/lr-seed-sweep.json (32 runs of 784-64-64-10, 500 steps each) by plain
#      `lmech exp --jobs 2` and by `mpirun -n R lmech exp ... --mpi` for R = 1..RMAX, REPEAT rounds
#      interleaved (one line of JSON per invocation: wall time, runs per hour, the CPU seconds of
#      the command and its children (user + sys: what the runs cost whatever else the machine
#      runs), rows imported);
#   2. rows.json below: 8 tiny runs recording 10 metrics at each of 5001 steps (400k rows), so the
#      sweep's cost is rank 0's imports: rows / import seconds is its insert throughput.
#
# Usage: bench/mpi_sweep.sh path/to/lmech [REPEAT] [RMAX] [SWEEP.json]   (the sweep of part 1;
# default lr-seed-sweep.json, whose runs cost ~0.09 CPU-s each; tests/cli/lib/sweep8.json has 8
# runs of ~1.2 CPU-s)
set -eu
LM=$(readlink -f "${1:-build/lmech}")
REPEAT=${2:-2}
RMAX=${3:-4}
D=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
E=$(readlink -f "${4:-$D/examples/experiments/lr-seed-sweep.json}")

# one invocation: LABEL then the command; prints wall ms, runs/h and the --json answer's mpi part
one() {
    label=$1
    shift
    rm -rf "$T"/s.db*
    s=$(date +%s%N)
    /usr/bin/time -f "%U %S" -o "$T/cpu" "$@" --db "$T/s.db" --json >"$T/out.json"
    e=$(date +%s%N)
    /usr/bin/python3 -c "
import json, sys
o = json.load(open(sys.argv[1]))
ms = (int(sys.argv[3]) - int(sys.argv[2])) / 1e6
cpu = sum(float(x) for x in open(sys.argv[5]).read().split()[-2:])
m = o.get('mpi') or {}
print(json.dumps({'how': sys.argv[4], 'runs': len(o['runs']), 'wall_ms': round(ms),
                  'runs_per_hour': round(len(o['runs']) * 3600e3 / ms),
                  'cpu_s': round(cpu, 2), 'cpu_ms_per_run': round(cpu / len(o['runs']) * 1e3),
                  'imported_rows': m.get('imported_rows'), 'import_s': m.get('import_s'),
                  'claims': [c['measured'] for c in o['claims']]}))" "$T/out.json" "$s" "$e" "$label" "$T/cpu"
}

echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
i=0
while [ "$i" -lt "$REPEAT" ]; do
    one "exp --jobs 2" "$LM" exp "$E" --jobs 2
    R=1
    while [ "$R" -le "$RMAX" ]; do
        one "mpirun -n $R --mpi" mpirun --bind-to none --oversubscribe -n "$R" "$LM" exp "$E" --mpi
        R=$((R + 1))
    done
    i=$((i + 1))
done

cat >"$T/rows.json" <<'EOF'
{"experiment": "rows", "summary": "metric-heavy tiny runs: rank 0's import throughput",
 "base": {"seed": 0, "data": {"source": "teacher", "dim": 4, "outputs": 1, "train_size": 32,
          "test_size": 0},
          "model": {"widths": [4, 8, 1], "activation": "tanh"}, "loss": "mse",
          "optimizer": {"name": "sgd", "lr": 0.05}, "steps": 5000, "eval_every": 1},
 "sweep": {"seed": [0, 1, 2, 3, 4, 5, 6, 7]},
 "claims": [{"name": "trains", "metric": "train_loss", "reduce": "max", "range": [null, 100],
             "predicted": "finite", "reason": "bench"}]}
EOF
i=0
while [ "$i" -lt "$REPEAT" ]; do
    for R in 1 3; do
        rm -rf "$T"/r.db*
        mpirun --bind-to none --oversubscribe -n "$R" "$LM" exp "$T/rows.json" --db "$T/r.db" \
            --mpi --json | /usr/bin/python3 -c "
import json, sys
o = json.load(sys.stdin)
m = o['mpi']
print(json.dumps({'how': 'rows.json, mpirun -n %d' % m['ranks'], 'imported_rows':
                  m['imported_rows'], 'import_s': round(m['import_s'], 3),
                  'rows_per_s': round(m['imported_rows'] / m['import_s']),
                  'ms_per_run_import': round(m['import_s'] / len(o['runs']) * 1e3, 1)}))"
    done
    i=$((i + 1))
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
