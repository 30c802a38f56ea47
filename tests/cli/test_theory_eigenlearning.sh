#!/usr/bin/env bash
# End-to-end tests of `lmech theory eigenlearning` (science.md §8): the JSON contract (eigenvalues
# i^-1.5, coefficients i^-1, i = 1..100, --n 10 --ridge 0), every number against an independent
# numpy computation (kappa by bisection on log kappa, the formulas written out again), the
# conservation law sum L_i = n at ridge 0, a learning curve through the peak near n = m (--n as a list: arrays aligned with
# "n"), the noise variance and the ridge, the text output, and bad input (clear message, exit
# below 128).
. "$(dirname "$0")/lib/common.bash" "$@"

$PY -c "
import numpy as np
i = np.arange(1, 101.0)
np.save('$T/L.npy', i ** -1.5); np.save('$T/V.npy', i ** -1.0)
np.save('$T/L2.npy', (i ** -1.5)[:, None]); np.save('$T/V99.npy', (i ** -1.0)[:99])
l = i ** -1.5; l[7] = 0; np.save('$T/Lzero.npy', l)
l = i ** -1.5; l[3] = -1e-3; np.save('$T/Lneg.npy', l)
l = i ** -1.5; l[5] = np.nan; np.save('$T/Lnan.npy', l)
np.save('$T/M.npy', np.ones((10, 10)))
open('$T/junk.npy', 'wb').write(b'not a numpy file')"

# The independent reference: kappa by 200 bisections on log kappa from a doubling bracket.
cat >"$T/ref.py" <<'PYEOF'
import json, sys, numpy as np
def ref(lam, v, n, ridge, noise):
    f = lambda k: (lam / (lam + k)).sum() + ridge / k - n
    lo = hi = 1.0
    while f(lo) <= 0: lo /= 2
    while f(hi) >= 0: hi *= 2
    a, b = np.log(lo), np.log(hi)
    for _ in range(200):
        c = 0.5 * (a + b)
        a, b = (c, b) if f(np.exp(c)) > 0 else (a, c)
    k = np.exp(0.5 * (a + b)); L = lam / (lam + k); e0 = n / (n - (L ** 2).sum())
    test = e0 * (((1 - L) ** 2 * v ** 2).sum() + noise)
    return dict(kappa=k, e0=e0, test_mse=test, train_mse=(ridge / (n * k)) ** 2 * test, sum_l=L.sum(), L=L)
def close(a, b, tol=1e-9):
    return abs(a - b) <= tol * max(abs(a), abs(b), 1e-300)
PYEOF

out=$("$LM" theory eigenlearning --eigenvalues "$T/L.npy" --coeffs "$T/V.npy" --n 10 --ridge 0 --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json, sys, numpy as np
sys.path.insert(0, '$T'); from ref import ref, close
o = json.loads(sys.argv[1]); i = np.arange(1, 101.0)
for key in ('kappa', 'e0', 'test_mse', 'train_mse', 'learnabilities'): assert key in o, key
assert len(o['learnabilities']) == 100 and o['n'] == 10 and o['m'] == 100, o
r = ref(i ** -1.5, i ** -1.0, 10, 0, 0)
for key in ('kappa', 'e0', 'test_mse', 'sum_l'): assert close(o[key], r[key]), (key, o[key], r[key])
assert o['train_mse'] == 0, o['train_mse']
assert np.allclose(o['learnabilities'], r['L'], rtol=1e-9, atol=0)
assert abs(sum(o['learnabilities']) - 10) < 1e-9, sum(o['learnabilities'])" "$out"; then
    ok "contract: kappa, e0, test_mse, train_mse, learnabilities (100) = numpy's; sum L = n"
else
    bad "contract" "$(head -c 300 "$T/err") ${out:0:300}"
fi

out=$("$LM" theory eigenlearning --eigenvalues "$T/L2.npy" --coeffs "$T/V.npy" --n 5,20.5,80,400 \
    --ridge 0.03 --noise 0.2 --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json, sys, numpy as np
sys.path.insert(0, '$T'); from ref import ref, close
o = json.loads(sys.argv[1]); i = np.arange(1, 101.0)
assert o['n'] == [5, 20.5, 80, 400] and o['ridge'] == 0.03 and o['noise'] == 0.2, o
assert len(o['learnabilities']) == 4 and all(len(r) == 100 for r in o['learnabilities'])
for j, n in enumerate(o['n']):
    r = ref(i ** -1.5, i ** -1.0, n, 0.03, 0.2)
    for key in ('kappa', 'e0', 'test_mse', 'train_mse', 'sum_l'):
        assert close(o[key][j], r[key]), (n, key, o[key][j], r[key])
    assert np.allclose(o['learnabilities'][j], r['L'], rtol=1e-9, atol=0)
t = o['test_mse']; assert all(x > 0.2 for x in t), 'the test MSE includes the noise variance'" "$out"; then
    ok "learning curve (--n list, ridge 0.03, noise variance 0.2, [m,1] eigenvalues) = numpy's"
else
    bad "learning curve" "$(head -c 300 "$T/err") ${out:0:300}"
fi

out=$("$LM" theory eigenlearning --eigenvalues "$T/L.npy" --coeffs "$T/V.npy" --n 10,50 2>"$T/err")
if [ $? -eq 0 ] && grep -q "kappa" <<<"$out" && grep -q "test MSE" <<<"$out" && [ "$(grep -cE '^ +(10|50) ' <<<"$out")" -eq 2 ]; then
    ok "text output: a row per n"
else
    bad "text output" "${out:0:300}"
fi

E=(theory eigenlearning)
expect_fail "missing --n" "required" "$LM" "${E[@]}" --eigenvalues "$T/L.npy" --coeffs "$T/V.npy"
expect_fail "bad --n" "--n" "$LM" "${E[@]}" --eigenvalues "$T/L.npy" --coeffs "$T/V.npy" --n 10,-3
expect_fail "bad --n text" "--n" "$LM" "${E[@]}" --eigenvalues "$T/L.npy" --coeffs "$T/V.npy" --n ten
expect_fail "negative ridge" "ridge" "$LM" "${E[@]}" --eigenvalues "$T/L.npy" --coeffs "$T/V.npy" --n 10 --ridge -1
expect_fail "negative noise" "noise" "$LM" "${E[@]}" --eigenvalues "$T/L.npy" --coeffs "$T/V.npy" --n 10 --noise -0.1
expect_fail "missing file" "$T/none.npy" "$LM" "${E[@]}" --eigenvalues "$T/none.npy" --coeffs "$T/V.npy" --n 10
expect_fail "not an npy file" "junk.npy" "$LM" "${E[@]}" --eigenvalues "$T/junk.npy" --coeffs "$T/V.npy" --n 10
expect_fail "2-d eigenvalues" "1-d" "$LM" "${E[@]}" --eigenvalues "$T/M.npy" --coeffs "$T/V.npy" --n 10
expect_fail "mismatched lengths" "99 coefficients" "$LM" "${E[@]}" --eigenvalues "$T/L.npy" --coeffs "$T/V99.npy" --n 10
expect_fail "zero eigenvalue" "eigenvalue 7 is 0" "$LM" "${E[@]}" --eigenvalues "$T/Lzero.npy" --coeffs "$T/V.npy" --n 10
expect_fail "negative eigenvalue" "eigenvalue 3" "$LM" "${E[@]}" --eigenvalues "$T/Lneg.npy" --coeffs "$T/V.npy" --n 10
expect_fail "NaN eigenvalue" "entry 5" "$LM" "${E[@]}" --eigenvalues "$T/Lnan.npy" --coeffs "$T/V.npy" --n 10
expect_fail "ridge 0 with n >= m" "ridge" "$LM" "${E[@]}" --eigenvalues "$T/L.npy" --coeffs "$T/V.npy" --n 10,100
out=$("$LM" theory eigenlearning --eigenvalues "$T/L.npy" --coeffs "$T/V.npy" --n 100,1000 --ridge 1e-4 --json 2>"$T/err") &&
    ok "n >= m with a ridge" || bad "n >= m with a ridge" "$(head -c 300 "$T/err")"
"$LM" theory eigenlearning --help | grep -q "VARIANCE" && ok "--help documents --noise" || bad "--help" "no noise text"
# --kernel K.npy --targets Y.npy: the spectrum of lmech's own analytic NTK under the points'
# measure, against numpy's eigh of K/N and Phi^T y / sqrt(N) passed as --eigenvalues / --coeffs
$PY -c "
import numpy as np
r = np.random.default_rng(0); X = r.standard_normal((120, 5))
X *= np.sqrt(5) / np.linalg.norm(X, axis=1, keepdims=True)
np.save('$T/kx.npy', X); np.save('$T/ky.npy', np.sign(X[:, 0])); np.save('$T/ky2.npy', X[:, :2])"
"$LM" kernel --inputs "$T/kx.npy" --depth 1 --activation relu --out "$T/k" >/dev/null 2>&1
$PY -c "
import numpy as np
K = np.load('$T/k/ntk.npy'); y = np.load('$T/ky.npy'); N = len(y)
w, V = np.linalg.eigh(K / N); i = np.argsort(w)[::-1]; w, V = w[i], V[:, i]
keep = w > N * np.finfo(float).eps * w[0]
np.save('$T/kl.npy', w[keep]); np.save('$T/kv.npy', V[:, keep].T @ y / np.sqrt(N))"
a=$("$LM" theory eigenlearning --kernel "$T/k/ntk.npy" --targets "$T/ky.npy" --n 10,50,100 --ridge 1e-3 --json)
b=$("$LM" theory eigenlearning --eigenvalues "$T/kl.npy" --coeffs "$T/kv.npy" --n 10,50,100 --ridge 1e-3 --json)
$PY -c "
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a['m'] == b['m'], (a['m'], b['m'])
for k in ['kappa', 'e0', 'test_mse', 'train_mse']:
    assert all(abs(x - y) <= 1e-9 * abs(y) for x, y in zip(a[k], b[k])), (k, a[k], b[k])
" "$a" "$b" && ok "--kernel --targets: the NTK's spectrum under the points' measure (numpy eigh)" || bad "--kernel" "$a"
expect_fail "--kernel without --targets" "--targets" "$LM" "${E[@]}" --kernel "$T/k/ntk.npy" --n 10
expect_fail "--kernel with 2-d targets" "1-d" "$LM" "${E[@]}" --kernel "$T/k/ntk.npy" --targets "$T/ky2.npy" --n 10
expect_fail "--kernel not square" "square" "$LM" "${E[@]}" --kernel "$T/ky2.npy" --targets "$T/ky.npy" --n 10
finish
