#!/usr/bin/env bash
# lmech similarity: every metric against a NumPy reference computed here (to 1e-9), the JSON
# contract (metric, value, n, null {mean, p95, p_value}), the permutation null (p small for a
# related pair, large for an independent one), the text output, and every error path.
. "$(dirname "$0")/lib/common.bash" "$@"
cd "$T" || exit 1
cat >ref.py <<'PYEOF'
import numpy as np, subprocess, json, sys
LM=sys.argv[1]
rng=np.random.default_rng(1)
n=60
X=rng.normal(size=(n,8)); Y=X@rng.normal(size=(8,5))+0.5*rng.normal(size=(n,5))
np.save('A.npy',X); np.save('B.npy',Y)
def c(Z): return Z-Z.mean(0)
A,B=c(X),c(Y)
lin=np.linalg.norm(B.T@A)**2/(np.linalg.norm(A.T@A)*np.linalg.norm(B.T@B))
def rbf(x,t=0.8):
    d=x@x.T; s=np.diag(d); sq=-2*d+s[:,None]+s[None,:]; return np.exp(-sq/(2*t**2*np.median(sq)))
H=np.eye(n)-1/n
def cka(K,L):
    K=H@K@H; L=H@L@H; return (K*L).sum()/np.linalg.norm(K)/np.linalg.norm(L)
def hu(K,L):
    K=K.copy(); L=L.copy(); np.fill_diagonal(K,0); np.fill_diagonal(L,0)
    return (np.trace(K@L)+K.sum()*L.sum()/((n-1)*(n-2))-2/(n-2)*(K@L).sum())/(n*(n-3))
K=A@A.T; L=B@B.T
deb=hu(K,L)/np.sqrt(hu(K,K)*hu(L,L))
qa,_=np.linalg.qr(A); qb,_=np.linalg.qr(B); r=np.linalg.svd(qa.T@qb,compute_uv=False)
cca=(r**2).mean()
def knn(Z,k=10):
    Z=Z/np.linalg.norm(Z,axis=1,keepdims=True); S=Z@Z.T; np.fill_diagonal(S,-1e8); return np.argsort(-S,axis=1,kind='stable')[:,:k]
na,nb=knn(X),knn(Y); mk=np.mean([len(set(na[i])&set(nb[i]))/10 for i in range(n)])
def red(Z):
    u,s,vt=np.linalg.svd(Z,full_matrices=False); c=np.cumsum(s**2)/np.sum(s**2); k=np.searchsorted(c,0.99)+1; return u[:,:k]
ua,ub=red(A),red(B); sv=np.linalg.svd(ua.T@ub,compute_uv=False).mean()
ref=dict(linear_cka=lin,rbf_cka=cka(rbf(A),rbf(B)),debiased_cka=deb,cca=cca,mknn=mk,svcca=sv)
bad=0
for m,v in ref.items():
    o=json.loads(subprocess.run([LM,'similarity','A.npy','B.npy','--metric',m,'--json','--null','99'],capture_output=True,text=True).stdout)
    ok=abs(v-o['value'])<1e-9
    bad+=not ok
    print('ok ' if ok else 'BAD', m,v,o['value'],o['null'])
sys.exit(bad)
PYEOF
if $PY ref.py "$LM"; then ok "six metrics equal numpy's to 1e-9"; else bad "numpy reference" "see above"; fi

$PY -c "
import numpy as np
r = np.random.default_rng(7)
np.save('I1.npy', r.normal(size=(80, 6))); np.save('I2.npy', r.normal(size=(80, 6)))
x = np.ones((10, 3)); x[:, 1] = np.arange(10); np.save('const.npy', x)
np.save('allconst.npy', np.ones((10, 3)))
x = r.normal(size=(10, 3)); x[4, 2] = np.nan; np.save('nan.npy', x)
np.save('ten.npy', r.normal(size=(10, 3))); np.save('wide.npy', r.normal(size=(5, 6))); np.save('three.npy', r.normal(size=(3, 2)))
np.save('vec.npy', np.arange(5.0)); np.save('int.npy', np.arange(10).reshape(5, 2))
x = r.normal(size=(10, 3)); x[2] = 0; np.save('zero.npy', x)
"
out=$("$LM" similarity A.npy B.npy --metric linear_cka --null 199 --seed 3 --json)
ind=$("$LM" similarity I1.npy I2.npy --metric linear_cka --null 199 --seed 3 --json)
if $PY -c "
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert set(a) == {'metric', 'value', 'n', 'null'} and a['metric'] == 'linear_cka' and a['n'] == 60, a
assert a['null']['p_value'] == 1 / 200 and a['null']['p95'] < a['value'], a
assert b['null']['p_value'] > 0.05, b
" "$out" "$ind"; then ok "null: p = 1/200 related, > 0.05 independent"; else bad "null" "$out $ind"; fi
out2=$("$LM" similarity A.npy B.npy --metric linear_cka --null 199 --seed 3 --json)
[ "$out" = "$out2" ] && ok "same seed, same null" || bad "seeded null" "$out2"
txt=$("$LM" similarity A.npy B.npy --metric mknn --k 5 --null 10)
echo "$txt" | grep -q "^mknn = " && echo "$txt" | grep -q "p-value" && ok "text output" || bad "text" "$txt"
# a constant column is ignored: the value equals the one without it
v1=$("$LM" similarity const.npy ten.npy --json) && v2=$($PY -c "
import numpy as np; np.save('c1.npy', np.load('const.npy')[:, 1:2])") &&
    v2=$("$LM" similarity c1.npy ten.npy --json) &&
    [ "$($PY -c "import json,sys;print(abs(json.loads(sys.argv[1])['value']-json.loads(sys.argv[2])['value'])<1e-12)" "$v1" "$v2")" = True ] &&
    ok "a constant column is ignored" || bad "constant column" "$v1 $v2"

expect_fail "row counts" "A.npy has 60 rows, ten.npy has 10" "$LM" similarity A.npy ten.npy
expect_fail "all-constant side" "every one of its 3 columns is constant" "$LM" similarity allconst.npy ten.npy
expect_fail "NaN" "row 4, column 2" "$LM" similarity nan.npy ten.npy
expect_fail "debiased n < 4" "needs n >= 4" "$LM" similarity three.npy three.npy --metric debiased_cka
expect_fail "k >= n" "1 <= k < n, got k = 10 with n = 10" "$LM" similarity ten.npy ten.npy --metric mknn
expect_fail "zero row mknn" "row 2 is zero" "$LM" similarity zero.npy ten.npy --metric mknn --k 3
expect_fail "cca n <= p" "cca needs n > max(p, q)" "$LM" similarity wide.npy wide.npy --metric cca
expect_fail "unknown metric" "unknown metric \"foo\"" "$LM" similarity A.npy B.npy --metric foo
expect_fail "one file" "need two files" "$LM" similarity A.npy
expect_fail "1-d array" "need a 2-d float32/float64 array" "$LM" similarity vec.npy vec.npy
expect_fail "int array" "need a 2-d float32/float64 array" "$LM" similarity int.npy int.npy
expect_fail "missing file" "nope.npy" "$LM" similarity nope.npy B.npy
expect_fail "bad --null" "null" "$LM" similarity A.npy B.npy --null -3
finish
