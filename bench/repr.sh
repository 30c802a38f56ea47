#!/usr/bin/env bash
# Representations and weight spectra (issue 14, "Performance"): lmech (bench_repr) against NumPy
# (bench/numpy_repr.py) on the same arrays in one session; prints both JSON lines, then per
# kernel the median seconds, the ratio NumPy/lmech, the fraction of the 2-core dgemm peak
# (107 GFLOP/s, shared/baselines.md) where the kernel is GEMM-bound, and whether the values agree.
#   bash bench/repr.sh BUILD_DIR [REPS]
set -euo pipefail
BUILD=${1:-build}
REPS=${2:-3}
cd "$(dirname "$0")/.."
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
lm=$("$BUILD/bench/bench_repr" "$T" "$REPS")
echo "lmech: $lm"
np=$(OMP_NUM_THREADS=1 /usr/bin/python3 bench/numpy_repr.py "$T" "$REPS")
echo "numpy: $np"
/usr/bin/python3 -c "
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
n, p = 10000, 1024
# what lmech executes: two dsyrk Grams (n p^2 flops each), the cross product (2 n p^2), 2 n p^2 per permutation
lmflops = {'linear_cka_s': 4 * n * p * p, 'linear_cka_null20_s': 4 * n * p * p + 20 * 2 * n * p * p}
print('%-22s %10s %10s %8s %14s %s' % ('kernel', 'lmech s', 'numpy s', 'ratio', 'lmech %peak', 'values'))
for key, val in [('linear_cka_s', 'linear_cka'), ('linear_cka_null20_s', None), ('debiased_cka_s', 'debiased_cka'),
                 ('mknn_s', 'mknn'), ('weights_s', 'alpha')]:
    pk = '%.0f %%' % (100 * lmflops[key] / a[key] / 107e9) if key in lmflops else '-'
    agree = '-' if val is None else ('lmech %.12g numpy %.12g' % (a[val], b[val]))
    print('%-22s %10.3f %10.3f %7.1fx %14s %s' % (key[:-2], a[key], b[key], b[key] / a[key], pk, agree))
" "$lm" "$np"
