#!/usr/bin/env bash
# End-to-end tests of `lmech kernel`: the --json contract (n x n "nngp" and "ntk", one key for
# --kind), integer inputs converted to float64, the parameterisations (--param sp/mup: sp's NNGP is
# ntp's and its NTK grows with --width, mup's NTK does not), and bad input (missing file, 3-d
# array, bad flag values), each a clear message naming the file or flag with a non-zero exit
# below 128.
. "$(dirname "$0")/lib/common.bash" "$@"

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

# --param: the default is ntp (the same numbers as --param ntp); sp's NNGP is ntp's (the forward
# pass has the same distribution) and its NTK is affine in the width (kernel.h), so from width
# 1024 to 2048 it grows by a factor between 1.9 and 2 (the O(1) input and bias terms keep it
# below 2); mup's NTK at a fixed base width does not depend on the width (1e-12: rounding)
base=(--inputs "$T/x.npy" --depth 2 --activation relu --sw2 2 --sb2 0.1 --json)
"$LM" kernel "${base[@]}" >"$T/ntp.json" 2>"$T/err" &&
    "$LM" kernel "${base[@]}" --param ntp >"$T/ntp2.json" 2>>"$T/err" &&
    "$LM" kernel "${base[@]}" --param sp --width 1024 >"$T/sp1.json" 2>>"$T/err" &&
    "$LM" kernel "${base[@]}" --param sp --width=2048 >"$T/sp2.json" 2>>"$T/err" &&
    "$LM" kernel "${base[@]}" --param mup --width 1000 --base-width 10 >"$T/mup1.json" 2>>"$T/err" &&
    "$LM" kernel "${base[@]}" --param=mup --width 100000 --base-width=10 >"$T/mup2.json" 2>>"$T/err"
if [ $? -eq 0 ] && $PY -c "
import json, sys
ld = lambda n: json.load(open('$T/' + n + '.json'))
ntp, ntp2, sp1, sp2, mu1, mu2 = map(ld, ('ntp', 'ntp2', 'sp1', 'sp2', 'mup1', 'mup2'))
assert ntp['param'] == 'ntp' and ntp['bias'] is True and sp1['param'] == 'sp'
assert sp1['width'] == 1024 and mu1['base_width'] == 10
assert ntp['nngp'] == ntp2['nngp'] and ntp['ntk'] == ntp2['ntk']
assert sp1['nngp'] == ntp['nngp'], 'sp NNGP differs from ntp'
for i in range(6):
    for j in range(6):
        r = sp2['ntk'][i][j] / sp1['ntk'][i][j]
        assert 1.9 < r < 2.0, (i, j, r)
        a, b = mu1['ntk'][i][j], mu2['ntk'][i][j]
        assert abs(a - b) <= 1e-12 * abs(mu1['ntk'][i][i]), (i, j, a, b)
"; then
    ok "--param: ntp default, sp NNGP = ntp, sp NTK ~ width, mup NTK width-free"
else
    bad "--param" "$(head -c 300 "$T/err")"
fi

"$LM" kernel --inputs "$T/x.npy" --depth 1 --activation erf --param mup --width 64 --no-bias \
    >"$T/out" 2>&1 && grep -q "mup, width 64, base width 0, no biases" "$T/out" &&
    ok "summary names the parameterisation" || bad "summary --param" "$(head -c 300 "$T/out")"

# expect_fail NAME RC PATTERN ARGS...: the command exits with RC and stderr matches PATTERN
expect_fail() {
    local name=$1 want=$2 pat=$3
    shift 3
    "$LM" kernel "$@" >/dev/null 2>"$T/err"
    local rc=$?
    if [ $rc -eq "$want" ] && grep -q -- "$pat" "$T/err"; then ok "$name"; else
        bad "$name" "rc=$rc $(head -c 200 "$T/err")"; fi
}
# Inputs of norm ~1e80 (variances ~1e160, representable; their products are not): relu's
# off-diagonal entries were NaN (printed null) and erf's NNGP was 0 off the diagonal. Now finite,
# and relu (sb2 = 0, homogeneous of degree 2) is exactly 2^532 times the kernel of X / 2^266.
$PY -c "
import numpy as np
x = np.load('$T/x.npy'); np.save('$T/xbig.npy', np.ldexp(x, 266))"
"$LM" kernel --inputs "$T/x.npy" --depth 3 --activation relu --sw2 2 --json >"$T/k1.json" &&
    "$LM" kernel --inputs "$T/xbig.npy" --depth 3 --activation relu --sw2 2 --json >"$T/k2.json" &&
    "$LM" kernel --inputs "$T/xbig.npy" --depth 1 --activation erf --json >"$T/k3.json" && $PY -c "
import json, sys
import numpy as np
a, b, e = (json.load(open(f)) for f in sys.argv[1:])
for k in ('nngp', 'ntk'):
    assert np.array_equal(np.ldexp(np.array(a[k]), 532), np.array(b[k])), k
x = np.load('$T/x.npy'); c = x @ x.T / np.sqrt(np.outer((x * x).sum(1), (x * x).sum(1)))
np.fill_diagonal(c, 1)  # the diagonal is exactly 1; the formula rounds it to 1 - eps
# erf at variance ~1e160: (2/pi) asin(cos); 1e-13 covers the cosine's rounding through asin
assert np.allclose(np.array(e['nngp']), 2 / np.pi * np.arcsin(np.clip(c, -1, 1)), rtol=0, atol=1e-13)
" "$T/k1.json" "$T/k2.json" "$T/k3.json" && ok "inputs of norm 1e80: finite, exact kernels" ||
    bad "norm 1e80" "$(head -c 300 "$T/k2.json")"
expect_fail "kernel overflow is an error" 1 "xbig.npy: .*row 0 .*not finite in double precision" \
    --inputs "$T/xbig.npy" --depth 2 --activation quadratic
expect_fail "sw2 overflow is an error" 1 "not finite in double precision" --inputs "$T/x.npy" \
    --depth 3 --activation relu --sw2 1e300

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
expect_fail "subnormal --sw2 named as out of range" 2 "below 2.2e-308" --inputs "$T/x.npy" --depth 1 \
    --activation relu --sw2 1e-320
expect_fail "missing --inputs" 2 "missing --inputs" --depth 1 --activation relu
expect_fail "sp without --width" 2 "--param sp needs --width.*grows with the width" \
    --inputs "$T/x.npy" --depth 1 --activation relu --param sp
expect_fail "mup without --width" 2 "--param mup needs --width" --inputs "$T/x.npy" --depth 1 \
    --activation relu --param mup --base-width 8
expect_fail "bad --param" 2 "--param \"bogus\": expected ntp, sp or mup" --inputs "$T/x.npy" \
    --depth 1 --activation relu --param bogus
expect_fail "bad --width" 2 "--width \"12x\"" --inputs "$T/x.npy" --depth 1 --activation relu \
    --param sp --width 12x
expect_fail "--base-width without value" 2 "option --base-width needs a value" \
    --inputs "$T/x.npy" --depth 1 --activation relu --param mup --width 8 --base-width

# --out: the same kernels as .npy files, bit for bit, and --json names them instead
out=$("$LM" kernel --inputs "$T/x.npy" --depth 2 --activation relu --sw2 2 --sb2 0.1 --json)
"$LM" kernel --inputs "$T/x.npy" --depth 2 --activation relu --sw2 2 --sb2 0.1 --out "$T/k" \
    --json >"$T/files.json" 2>"$T/err"
if [ $? -eq 0 ] && $PY -c "
import json, sys, numpy as np
o = json.loads(sys.argv[1]); f = json.load(open('$T/files.json'))
assert 'nngp' not in f and f['files'] == {'nngp': '$T/k/nngp.npy', 'ntk': '$T/k/ntk.npy'}, f
for k in ('nngp', 'ntk'):
    a = np.load(f['files'][k]); assert a.dtype == np.float64 and a.shape == (6, 6)
    assert np.array_equal(a, np.array(o[k])), k" "$out" && grep -q "wrote $T/k/ntk.npy \[6, 6\]" "$T/err"; then
    ok "--out DIR: nngp.npy and ntk.npy equal the --json arrays bit for bit"
else
    bad "--out" "$(head -c 300 "$T/err")"
fi
: >"$T/notadir"
expect_fail "--out onto a file" 1 "notadir" --inputs "$T/x.npy" --depth 1 --activation relu \
    --out "$T/notadir"

[ $fails -eq 0 ] && echo "all kernel CLI tests passed"
exit $((fails > 0))
