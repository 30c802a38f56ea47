#!/bin/sh
# mpi_train.sh: data-parallel training steps per second against the number of ranks (docs/mpi.md,
# "Data-parallel training"): examples/fmnist_mlp.json (784-256-256-10 ReLU, float32, all 60,000
# training images) at batch 512, one BLAS thread per rank, `mpirun -n R lmech train --mpi` over
# loopback (shared memory). A rank's time per step is taken from two runs of S1 and S2 steps,
# (t2 - t1) / (S2 - S1), so loading the data and the observers at the first and last step
# cancel; the best of REPEAT runs of each length. It also prints the bytes rank 0 sent in the sums
# per step, and the load average before each R (the machine is shared). A rank waiting in a sum
# polls; on a machine with fewer idle cores than ranks that steals the other ranks' cycles (at
# R = 2 here: 6.4 s of CPU instead of 2.4 s for the same 300 steps), so the ranks yield when
# idle (mpi_yield_when_idle=1; set OMPI_MCA_mpi_yield_when_idle=0 to poll).
# Usage: bench/mpi_train.sh path/to/lmech [RANKS...]   (default 1 2 4; REPEAT=2 S1=40 S2=240)
set -eu
LM=$(realpath "${1:-build/lmech}")
shift || true
RANKS=${*:-1 2 4}
REPEAT=${REPEAT:-2}
S1=${S1:-40}
S2=${S2:-240}
D=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle:-1}
# one run of R ranks and S steps: prints rank 0's wall_s (data loading, the steps and the two
# evaluations; not MPI's start-up), the bytes rank 0 sent in the sums, and the CPU seconds (user +
# system) of every rank together
run() {
    rm -f "$T"/r.db*
    (cd "$T" && /usr/bin/time -f "%U %S" -o cpu mpirun --oversubscribe --bind-to none -n "$1" \
        "$LM" train "$D/examples/fmnist_mlp.json" --mpi --db r.db --quiet --json \
        --set batch_size=512 --set steps="$2" --set eval_every="$2" --set threads=1 >out.json)
    /usr/bin/python3 -c "import json,sys; j=json.load(open('$T/out.json')); u,s=open('$T/cpu').read().split()[-2:]; print(j['wall_s'], float(u)+float(s), j['sent_bytes'])"
}
min() { echo "$1 $2" | awk '{print ($2 == "" || $1 < $2) ? $1 : $2}'; }
for R in $RANKS; do
    echo "# R = $R, load average $(cut -d' ' -f1-3 /proc/loadavg) on $(grep -c ^processor /proc/cpuinfo) cores"
    t1= t2= c1= c2=
    i=0
    while [ "$i" -lt "$REPEAT" ]; do # the best of REPEAT for each length
        set -- $(run "$R" "$S1")
        t1=$(min "$1" "$t1")
        c1=$(min "$2" "$c1")
        set -- $(run "$R" "$S2")
        t2=$(min "$1" "$t2")
        c2=$(min "$2" "$c2")
        sent=$3
        i=$((i + 1))
    done
    echo "$R $t1 $t2 $c1 $c2 $sent" | awk -v s1="$S1" -v s2="$S2" '{ms = 1000 * ($3 - $2) / (s2 - s1);
        printf "{\"ranks\": %d, \"wall_ms_per_step\": %.2f, \"steps_per_s\": %.1f, \"cpu_ms_per_step_all_ranks\": %.2f, \"rank0_sent_bytes_per_step\": %d}\n",
               $1, ms, 1000 / ms, 1000 * ($5 - $4) / (s2 - s1), $6 / s2}'
done
rm -rf "$T"
