#!/usr/bin/env bash
# End-to-end tests of `lmech kernel --predict nngp|ntk`, against independent references built in
# numpy from the kernels `lmech kernel --json` prints on the stacked rows [X; X*]:
#   nngp: the GP posterior mean K*(K + s2 I)^-1 Y and variance k** - K*(K + s2 I)^-1 K*^T, solved
#         by numpy (1e-9 relative: two Cholesky/LU solves of a 12 x 12 system, cond ~1e3);
#   ntk --gd: the linearised network's GD iterated step by step, f <- f - c Theta (f(X) - Y) on
#         train and test rows with c = lr / n ("mse") or lr / (n k) ("mse_mean"): the closed form
#         must agree to 1e-9 at steps 0, 1, 7 and 40 (it sums the same geometric series);
#   ntk flow: the exponential via numpy's eigh (1e-9), and at time inf kernel regression, which
#         interpolates the training targets (train loss ~0);
# plus the JSON contract and bad input (each a clear message, exit below 128).
. "$(dirname "$0")/lib/common.bash" "$@"

$PY -c "
import numpy as np
r = np.random.default_rng(1)
X = r.standard_normal((12, 4)); Xs = r.standard_normal((5, 4))
Y = np.sin(X[:, :2]) + 0.3 * X[:, 2:]; Ys = np.sin(Xs[:, :2]) + 0.3 * Xs[:, 2:]
np.save('$T/x.npy', X); np.save('$T/xs.npy', Xs); np.save('$T/y.npy', Y); np.save('$T/ys.npy', Ys)
np.save('$T/y1.npy', Y[:, 0]); np.save('$T/xall.npy', np.vstack([X, Xs]))
np.save('$T/ybad.npy', Y[:7]); y = Y.copy(); y[3, 1] = np.nan; np.save('$T/ynan.npy', y)
np.save('$T/xs3.npy', Xs[:, :3])"

K=(--depth 2 --activation relu --sw2 2 --sb2 0.1)
"$LM" kernel --inputs "$T/xall.npy" "${K[@]}" --json >"$T/k.json" || bad "stacked kernels" "exit $?"

out=$("$LM" kernel --predict nngp --inputs "$T/x.npy" --targets "$T/y.npy" --test "$T/xs.npy" \
    --test-targets "$T/ys.npy" --noise 0.01 "${K[@]}" --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json, sys, numpy as np
o = json.loads(sys.argv[1]); k = json.load(open('$T/k.json'))
G = np.array(k['nngp']); n = 12
Y = np.load('$T/y.npy'); Ys = np.load('$T/ys.npy')
A = G[:n, :n] + 0.01 * np.eye(n); C = G[n:, :n]
mean = C @ np.linalg.solve(A, Y); var = np.diag(G[n:, n:]) - np.einsum('ij,ji->i', C, np.linalg.solve(A, C.T))
assert o['predict'] == 'nngp' and o['n'] == 12 and o['m'] == 5 and o['outputs'] == 2, o
assert np.abs(np.array(o['mean']) - mean).max() <= 1e-9 * np.abs(mean).max(), (o['mean'], mean)
assert np.abs(np.array(o['var'][0]) - var).max() <= 1e-9 * np.abs(var).max(), (o['var'], var)
assert abs(o['test_mse'] - ((mean - Ys) ** 2).mean()) <= 1e-9 * o['test_mse']
assert o['test_acc'] == (mean.argmax(1) == Ys.argmax(1)).mean(), o['test_acc']" "$out"; then
    ok "nngp posterior mean, variance, test MSE and accuracy = numpy's (noise 0.01)"
else
    bad "nngp posterior" "$(head -c 300 "$T/err") ${out:0:300}"
fi

for loss in mse mse_mean; do
    out=$("$LM" kernel --predict ntk --gd --lr 0.5 --loss $loss --time 0,1,7,40 --inputs "$T/x.npy" \
        --targets "$T/y.npy" --test "$T/xs.npy" --test-targets "$T/ys.npy" "${K[@]}" --json 2>"$T/err")
    if [ $? -eq 0 ] && $PY -c "
import json, sys, numpy as np
o = json.loads(sys.argv[1]); k = json.load(open('$T/k.json'))
T_ = np.array(k['ntk']); n = 12; kk = 2
Y = np.load('$T/y.npy'); Ys = np.load('$T/ys.npy')
c = 0.5 / (n if '$loss' == 'mse' else n * kk)
f = np.zeros((n, kk)); fs = np.zeros((5, kk)); got = {}
for s in range(41):
    if s in (0, 1, 7, 40): got[s] = (f.copy(), fs.copy())
    r = f - Y; f = f - c * T_[:n, :n] @ r; fs = fs - c * T_[n:, :n] @ r
assert o['mode'] == 'gd' and o['loss'] == '$loss' and o['times'] == [0, 1, 7, 40], o
for j, s in enumerate((0, 1, 7, 40)):
    ft, fst = got[s]
    assert np.abs(np.array(o['mean'][j]) - fst).max() <= 1e-9 * max(1, np.abs(fst).max()), (s, o['mean'][j], fst)
    loss = ((ft - Y) ** 2).sum() / (2 * (n if '$loss' == 'mse' else n * kk))
    assert abs(o['train_loss'][j] - loss) <= 1e-9 * loss, (s, o['train_loss'][j], loss)
    assert abs(o['test_mse'][j] - ((fst - Ys) ** 2).mean()) <= 1e-9, s
# the expected loss over initialisations adds the NNGP's share: above the mean's
assert all(e >= l for e, l in zip(o['expected_train_loss'], o['train_loss'])), o" "$out"; then
        ok "ntk --gd ($loss): the closed form = GD on the linearised network iterated 40 steps"
    else
        bad "ntk --gd $loss" "$(head -c 300 "$T/err") ${out:0:400}"
    fi
done

out=$("$LM" kernel --predict ntk --lr 2 --time 3.5,inf --inputs "$T/x.npy" --targets "$T/y.npy" \
    --test "$T/xs.npy" "${K[@]}" --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json, sys, numpy as np
o = json.loads(sys.argv[1]); k = json.load(open('$T/k.json'))
T_ = np.array(k['ntk']); n = 12
Y = np.load('$T/y.npy')
lam, V = np.linalg.eigh(T_[:n, :n]); c = 2 / n; t = 3.5
G = V @ np.diag((1 - np.exp(-c * lam * t)) / lam) @ V.T
fs = T_[n:, :n] @ G @ Y
assert o['mode'] == 'flow' and o['times'] == [3.5, 'inf'] and o['test_mse'] == [None, None], o
assert np.abs(np.array(o['mean'][0]) - fs).max() <= 1e-9 * np.abs(fs).max(), (o['mean'][0], fs)
reg = T_[n:, :n] @ np.linalg.solve(T_[:n, :n], Y)
assert np.abs(np.array(o['mean'][1]) - reg).max() <= 1e-8 * np.abs(reg).max(), (o['mean'][1], reg)
assert o['train_loss'][1] <= 1e-20 and abs(o['lambda_max'] - lam[-1]) <= 1e-9 * lam[-1], o" "$out"; then
    ok "ntk flow at t = 3.5 = numpy's eigh exponential; t = inf = kernel regression"
else
    bad "ntk flow" "$(head -c 300 "$T/err") ${out:0:300}"
fi

# --out: the predictions as .npy files equal the --json arrays; --json then names the files
out=$("$LM" kernel --predict ntk --time 0,5,inf --inputs "$T/x.npy" --targets "$T/y.npy" \
    --test "$T/xs.npy" "${K[@]}" --json)
"$LM" kernel --predict ntk --time 0,5,inf --inputs "$T/x.npy" --targets "$T/y.npy" \
    --test "$T/xs.npy" "${K[@]}" --json --out "$T/p" >"$T/f.json" 2>"$T/err" &&
    "$LM" kernel --predict nngp --noise 0.01 --inputs "$T/x.npy" --targets "$T/y.npy" \
        --test "$T/xs.npy" "${K[@]}" --json --out "$T/q" >"$T/g.json" 2>>"$T/err"
if [ $? -eq 0 ] && $PY -c "
import json, sys, numpy as np
o = json.loads(sys.argv[1]); f = json.load(open('$T/f.json')); g = json.load(open('$T/g.json'))
assert 'mean' not in f and f['files'] == {'mean': '$T/p/mean.npy'}, f
assert f['train_loss'] == o['train_loss'], (f, o)
m = np.load('$T/p/mean.npy'); assert m.shape == (3, 5, 2) and np.array_equal(m, np.array(o['mean']))
assert g['files'] == {'mean': '$T/q/mean.npy', 'var': '$T/q/var.npy'}, g
assert np.load('$T/q/mean.npy').shape == (5, 2) and np.load('$T/q/var.npy').shape == (5,)" "$out"; then
    ok "--out: ntk mean.npy [times, m, k] = the --json means; nngp mean.npy and var.npy"
else
    bad "--out" "$(head -c 300 "$T/err")"
fi

# one-column targets and the text output
"$LM" kernel --predict ntk --inputs "$T/x.npy" --targets "$T/y1.npy" --depth 1 --activation erf \
    --time 0,10 >"$T/out" 2>&1 && grep -q "E\[train loss\]" "$T/out" && ok "ntk text table, 1-d targets" ||
    bad "ntk text" "$(cat "$T/out")"

# Duplicated training rows with different targets (tanh: quadrature kernels): kernel regression
# (time inf) must fit their mean through the pseudo-inverse. The rows' kernel entries differed by
# ~5e-12 (1-d against 2-d quadrature), so Theta was indefinite and time inf failed "not positive
# semi-definite". Reference: the kernel of the 4 distinct rows and the averaged targets (1e-9: a
# 4 x 4 solve of cond ~1e2 against an eigendecomposition of the 6 x 6).
$PY -c "
import numpy as np
r = np.random.default_rng(5)
X = r.standard_normal((6, 7)); X[4] = X[1]; X[5] = X[2]
np.save('$T/xd.npy', X); np.save('$T/yd.npy', r.standard_normal(6))
np.save('$T/xd1.npy', r.standard_normal((1, 7)))
np.save('$T/xdall.npy', np.vstack([X[:4], np.load('$T/xd1.npy')]))"
D=(--depth 3 --activation tanh --sw2 2 --sb2 0.1)
out=$("$LM" kernel --predict ntk --inputs "$T/xd.npy" --targets "$T/yd.npy" --test "$T/xd1.npy" \
    "${D[@]}" --time inf --json 2>"$T/err")
if [ $? -eq 0 ] && "$LM" kernel --inputs "$T/xdall.npy" "${D[@]}" --kind ntk --json >"$T/kd.json" &&
    $PY -c "
import json, sys
import numpy as np
o = json.loads(sys.argv[1]); Th = np.array(json.load(open('$T/kd.json'))['ntk'])
y = np.load('$T/yd.npy'); yu = np.array([y[0], (y[1] + y[4]) / 2, (y[2] + y[5]) / 2, y[3]])
want = Th[4:, :4] @ np.linalg.solve(Th[:4, :4], yu)
got = np.array(o['mean'][0])[:, 0]
assert np.allclose(got, want, rtol=1e-9, atol=0), (got, want)" "$out"; then
    ok "duplicated rows, tanh, time inf: the pseudo-inverse fits their mean target"
else
    bad "duplicated rows" "$(head -c 300 "$T/err")"
fi

# bad input: a clear message, an exit code below 128
P=(kernel --inputs "$T/x.npy" --depth 1 --activation relu)
expect_fail "unknown --predict" 'expected nngp or ntk' "$LM" "${P[@]}" --predict gp --targets "$T/y.npy"
expect_fail "--predict without targets" 'needs --targets' "$LM" "${P[@]}" --predict ntk
expect_fail "nngp without test" 'needs --test' "$LM" "${P[@]}" --predict nngp --targets "$T/y.npy"
expect_fail "targets rows" 'has 7 rows, but the inputs have 12' "$LM" "${P[@]}" --predict ntk --targets "$T/ybad.npy"
expect_fail "nan target" 'entry (3, 1) is nan' "$LM" "${P[@]}" --predict ntk --targets "$T/ynan.npy"
expect_fail "test columns" 'has 3 columns, expected 4' "$LM" "${P[@]}" --predict ntk --targets "$T/y.npy" --test "$T/xs3.npy"
expect_fail "bad time" '--time "1,-2"' "$LM" "${P[@]}" --predict ntk --targets "$T/y.npy" --time 1,-2
expect_fail "lr 0" '--lr "0"' "$LM" "${P[@]}" --predict ntk --targets "$T/y.npy" --lr 0
expect_fail "ce loss" '--loss "ce"' "$LM" "${P[@]}" --predict ntk --targets "$T/y.npy" --loss ce
expect_fail "noise with ntk" 'for --predict nngp' "$LM" "${P[@]}" --predict ntk --targets "$T/y.npy" --noise 1
expect_fail "targets without predict" 'need --predict' "$LM" "${P[@]}" --targets "$T/y.npy"
expect_fail "GD beyond 2/lambda" 'diverges' "$LM" "${P[@]}" --predict ntk --gd --lr 1000 --targets "$T/y.npy" --time 5
# the posterior of a singular kernel (duplicated rows, --noise 0) names the file and the flag
# (it said only "add a ridge s2 > 0", a name the CLI does not have); a test-target row count is
# compared with the test inputs, and the message said "the inputs"
expect_fail "singular NNGP names --noise" 'xd.npy: the NNGP kernel.*singular.*pass --noise S2 > 0' \
    "$LM" kernel --predict nngp --inputs "$T/xd.npy" --targets "$T/yd.npy" --test "$T/xd1.npy" "${D[@]}"
expect_fail "test-target rows against the test inputs" 'has 12 rows, but the test inputs have 5' \
    "$LM" "${P[@]}" --predict nngp --targets "$T/y.npy" --test "$T/xs.npy" --test-targets "$T/y.npy"
finish
