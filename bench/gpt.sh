#!/usr/bin/env bash
# The small transformer of issue 16 ("Exactness and performance"): lmech (bench_gpt, LM_THREADS 2
# and 1) against PyTorch (bench/torch_gpt.py, torch.set_num_threads 1 and 2), each at its best
# thread setting, training in float32 on the same bytes in one session (d_model 128, 2 blocks,
# 4 heads, context 64, batch 32, Adam); prints the JSON lines, then steps/s, the ratio (target
# >= 1x), lmech's GEMM GFLOP/s as a fraction of the sgemm peak measured in the same process, the
# float64 HVP/gradient time ratio of both (target <= 2.5 for lmech), and one-thread CPU time
# per step of both (steadier than the wall clock on a shared machine).
#   bash bench/gpt.sh BUILD_DIR [SECONDS] [BATCH]
set -euo pipefail
BUILD=${1:-build}
SECONDS_=${2:-6}
B=${3:-32}
cd "$(dirname "$0")/.."
lm=$("$BUILD/bench/bench_gpt" "$B" "$SECONDS_")
echo "lmech: $lm"
lm1=$(LM_THREADS=1 "$BUILD/bench/bench_gpt" "$B" "$SECONDS_")
echo "lmech, 1 thread: $lm1"
pt=$(OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_gpt.py "$B" "$SECONDS_" 1 2)
echo "torch: $pt"
/usr/bin/python3 -c "
import json, sys
a, b, a1 = (json.loads(s) for s in sys.argv[1:4])
print('data: %s (lmech) / %s (torch)' % (a['data'], b['data']))
best = a if a['steps_per_s'] >= a1['steps_per_s'] else a1
print('steps/s  lmech %.1f (2 threads) / %.1f (1 thread)  torch %.1f / %.1f' % (
    a['steps_per_s'], a1['steps_per_s'], b['steps_per_s_threads_2'], b['steps_per_s_threads_1']))
print('best of threads: lmech %.1f (%d)  torch %.1f (%d)  ratio %.2fx  target 1x: %s' % (
    best['steps_per_s'], best['threads'], b['steps_per_s'], b['best_threads'],
    best['steps_per_s'] / b['steps_per_s'],
    'met' if best['steps_per_s'] >= b['steps_per_s'] else 'NOT met'))
print('lmech GEMM %.1f GFLOP/s = %.0f %% of the sgemm peak %.1f GFLOP/s; allocs/step after 1st: %d' % (
    best['gemm_gflops'], 100 * best['gemm_gflops'] / best['sgemm_peak_gflops'],
    best['sgemm_peak_gflops'], best['allocs_after_first_step']))
print('float64 HVP/gradient  lmech %.2f (%.1f / %.1f ms; target <= 2.5)  torch %.2f (%.1f / %.1f ms)' % (
    a['hvp_over_grad'], 1e3 * a['f64_hvp_s'], 1e3 * a['f64_grad_s'],
    b['hvp_over_grad'], 1e3 * b['f64_hvp_s'], 1e3 * b['f64_grad_s']))
print('one thread, CPU ms/step  lmech %.1f (%.1f steps/s)  torch %.1f (%.1f steps/s)  ratio %.2fx' % (
    a1['cpu_ms_per_step'], a1['steps_per_s'], b['cpu_ms_per_step_threads_1'], b['steps_per_s_threads_1'],
    b['cpu_ms_per_step_threads_1'] / a1['cpu_ms_per_step']))
" "$lm" "$pt" "$lm1"
