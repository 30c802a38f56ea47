#!/usr/bin/env bash
# End-to-end tests of `lmech kernel`: the --json contract (n x n "nngp" and "ntk", one key for
# --kind), integer inputs converted to float64, and bad input (missing file, 3-d array, bad flag
# values), each a clear message naming the file or flag with a non-zero exit below 128.
set -uo pipefail
LM=${1:?usage: test_kernel.sh path/to/lmech}
T=$(mktemp -d /tmp/lmech-kernel-XXXXXX)
trap 'rm -rf "$T"' EXIT
PY=/usr/bin/python3
fails=0
ok() { echo "ok    $1"; }
bad() { echo "FAIL  $1: $2"; fails=$((fails + 1)); }

$PY -c "
import numpy as np
r = np.random.default_rng(0)
np.save('$T/x.npy', r.standard_normal((6, 3)))
np.save('$T/xi.npy', np.arange(12, dtype=np.int64).reshape(4, 3) - 5)
np.save('$T/x3.npy', np.zeros((2, 3, 4)))
np.save('$T/x1.npy', np.zeros(5))"

out=$("$LM" kernel --inputs "$T/x.npy" --depth 2 --activation relu --sw2 2 --sb2 0.1 --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json, sys
o = json.loads(sys.argv[1])
for k in ('nngp', 'ntk'):
    m = o[k]
    assert len(m) == 6 and all(len(r) == 6 for r in m)
    assert all(m[i][j] == m[j][i] for i in range(6) for j in range(6))
assert all(o['ntk'][i][i] > o['nngp'][i][i] > 0 for i in range(6))" "$out"; then
    ok "kernel --json: 6 x 6 symmetric nngp and ntk"
else
    bad "kernel --json" "$(head -c 200 "$T/err") ${out:0:200}"
fi

out=$("$LM" kernel --inputs "$T/xi.npy" --depth 1 --activation erf --kind ntk --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json, sys
o = json.loads(sys.argv[1]); assert 'nngp' not in o and len(o['ntk']) == 4" "$out"; then
    ok "--kind ntk on int64 inputs: only ntk"
else
    bad "--kind ntk" "$(head -c 200 "$T/err")"
fi

"$LM" kernel --inputs "$T/x.npy" --depth 1 --activation tanh >"$T/out" 2>&1 &&
    grep -q "n = 6" "$T/out" && ok "summary without --json" || bad "summary" "$(head -c 200 "$T/out")"

# expect_fail NAME RC PATTERN ARGS...: the command exits with RC and stderr matches PATTERN
expect_fail() {
    local name=$1 want=$2 pat=$3
    shift 3
    "$LM" kernel "$@" >/dev/null 2>"$T/err"
    local rc=$?
    if [ $rc -eq "$want" ] && grep -q -- "$pat" "$T/err"; then ok "$name"; else
        bad "$name" "rc=$rc $(head -c 200 "$T/err")"; fi
}
expect_fail "missing file named" 1 "$T/none.npy" --inputs "$T/none.npy" --depth 1 --activation relu
expect_fail "3-d array named" 1 "x3.npy: expected .*2-d.*3-d \[2, 3, 4\]" --inputs "$T/x3.npy" \
    --depth 1 --activation relu
expect_fail "1-d array named" 1 "x1.npy: expected" --inputs "$T/x1.npy" --depth 1 --activation relu
expect_fail "bad activation" 1 "bogus" --inputs "$T/x.npy" --depth 1 --activation bogus
expect_fail "bad --kind" 2 "--kind \"both2\"" --inputs "$T/x.npy" --depth 1 --activation relu \
    --kind both2
expect_fail "bad --depth" 2 "--depth \"-1\"" --inputs "$T/x.npy" --depth -1 --activation relu
expect_fail "bad --sw2" 2 "--sw2 \"abc\"" --inputs "$T/x.npy" --depth 1 --activation relu --sw2 abc
expect_fail "non-positive sw2" 1 "sw2 = 0" --inputs "$T/x.npy" --depth 1 --activation relu --sw2 0
expect_fail "missing --inputs" 2 "missing --inputs" --depth 1 --activation relu

[ $fails -eq 0 ] && echo "all kernel CLI tests passed"
exit $((fails > 0))
