#!/usr/bin/env bash
# The scaling-law fitter: lmech (bench_fit: 4,500-start grid + 1,000 bootstrap resamples on 250
# points) against scipy's L-BFGS-B on the same objective, grid and data, in one session; prints
# both JSON lines and the ratio of total times.
#   bash bench/fit.sh BUILD_DIR [SCIPY_BOOT]
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
lm=$("$BUILD/bench/bench_fit" "$T/fit.csv" 0 3)
echo "$lm"
sp=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/scipy_fit.py "$T/fit.csv" "${2:-100}")
echo "$sp"
/usr/bin/python3 -c "
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print('wall: grid lmech %.2f s, scipy %.2f s (%.0fx); bootstrap x1000 lmech %.2f s, scipy %.1f s (%.0fx); total %.0fx' % (
    a['grid_s'], b['grid_s'], b['grid_s'] / a['grid_s'], a['boot_s'], b['boot_s_per_1000'],
    b['boot_s_per_1000'] / a['boot_s'], b['total_s'] / a['total_s']))
print('CPU: lmech %.2f s (all threads), scipy %.1f s: %.0fx; objective lmech %.12g scipy %.12g; alpha %.6f vs %.6f; starts converged (|grad| < 1e-10) lmech %d, scipy %d' % (
    a['cpu_s'], b['cpu_s'], b['cpu_s'] / a['cpu_s'], a['objective'], b['objective'], a['alpha'], b['alpha'], a['converged'], b['converged']))
" "$lm" "$sp"
