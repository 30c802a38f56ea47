#!/usr/bin/env bash
# lmech theory deep-linear: the JSON contract ({"modes": [{"s", "u", "t_half"}], "time"}), the
# two-layer closed form and half-time checked here in Python, the depth-3 half-time at which the
# ODE trajectory crosses s/2, the START:STOP:COUNT time grid, and clear usage errors.
. "$(dirname "$0")/lib/common.bash" "$@"
out=$("$LM" theory deep-linear --s 3,2,1 --u0 1e-4 --depth 2 --time 0,0.5,1,2,4 --json) &&
    $PY -c "
import json, math, sys
o = json.loads(sys.argv[1])
assert o['time'] == [0, 0.5, 1, 2, 4], o['time']
assert [m['s'] for m in o['modes']] == [3, 2, 1]
for m in o['modes']:
    s, u0 = m['s'], 1e-4
    for t, u in zip(o['time'], m['u']):
        e = math.exp(2 * s * t)
        assert abs(u - s * e / (e - 1 + s / u0)) <= 1e-12 * s, (s, t, u)
    assert abs(m['t_half'] - math.log((s - u0) / u0) / (2 * s)) < 1e-12, m
" "$out" && ok "depth 2: closed form and half-times" || bad "depth 2" "$out"
th=$("$LM" theory deep-linear --s 2 --u0 1e-3 --depth 3 --json | $PY -c "import json,sys; print(repr(json.load(sys.stdin)['modes'][0]['t_half']))")
u=$("$LM" theory deep-linear --s 2 --u0 1e-3 --depth 3 --time "$th" --json | $PY -c "import json,sys; print(json.load(sys.stdin)['modes'][0]['u'][0])")
$PY -c "import sys; assert abs(float(sys.argv[1]) - 1) < 1e-8, sys.argv" "$u" && ok "depth 3: u(t_half) = s/2 ($th)" || bad "depth 3" "u($th) = $u"
n=$("$LM" theory deep-linear --s 1 --u0 0.01 --time 0:10:101 --json | $PY -c "import json,sys; o=json.load(sys.stdin); print(len(o['time']), o['time'][-1])")
[ "$n" = "101 10" ] && ok "time grid START:STOP:COUNT" || bad "time grid" "$n"
"$LM" theory deep-linear --s 3,1 --u0 1e-3 --depth 4 --time 0:2:3 | grep -q "half-times" && ok "text output" || bad "text" "no half-times line"
expect_fail "missing --s" "missing --s" "$LM" theory deep-linear --u0 1e-3
expect_fail "negative s" "must be > 0" "$LM" theory deep-linear --s 2,-1 --u0 1e-3
expect_fail "bad u0" "u0" "$LM" theory deep-linear --s 2 --u0 0
expect_fail "bad time" "--time" "$LM" theory deep-linear --s 2 --u0 1e-3 --time 1,,2
expect_fail "negative time" "flow times must be >= 0" "$LM" theory deep-linear --s 2 --u0 1e-3 --time -1
expect_fail "depth 0" "depth" "$LM" theory deep-linear --s 2 --u0 1e-3 --depth 0
expect_fail "unknown subcommand" "unknown subcommand" "$LM" theory deep-nonlinear
finish
