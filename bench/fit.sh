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
print('grid: lmech %.2f s, scipy %.2f s (%.0fx); bootstrap x1000: lmech %.2f s, scipy %.1f s (%.0fx); total ratio %.0fx; objective lmech %.10g scipy %.10g' % (
    a['grid_s'], b['grid_s'], b['grid_s'] / a['grid_s'], a['boot_s'], b['boot_s_per_1000'],
    b['boot_s_per_1000'] / a['boot_s'], b['total_s'] / a['total_s'], a['objective'], b['objective']))
" "$lm" "$sp"
