#!/usr/bin/env python3
"""The prototype behind docs/experiments/learning-curves.md's finding (b) (numpy, not part of the
experiment): the eigenframework for NTK-KRR on FMNIST-196 when the N images themselves are the data
measure. Training sets of n are drawn i.i.d. (with replacement) from the N images, the test MSE is
taken over all N (the population of that measure), ridge 0 (least squares / pseudo-inverse), and
the prediction comes from the eigendecomposition of the N-point NTK Gram / N. The same network and
preprocessing as the experiment (2x2 pooling, per-pixel standardisation, sphere, parity +-1; ReLU
NTK, sw2 = 2, sb2 = 0.05), numpy's own random subsets.
Usage: /usr/bin/python3 docs/experiments/learning-curves-finite-measure.py [N] [TRIALS] [n,n,...]
(the documented numbers: 2000 6 100,200,400,800)"""
import gzip
import sys
import numpy as np

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
TRIALS = int(sys.argv[2]) if len(sys.argv) > 2 else 6
NS = [int(x) for x in (sys.argv[3] if len(sys.argv) > 3 else "100,200,400,800").split(",")]
D = "/usr/share/datasets/fashion-mnist/"
sw2, sb2 = 2.0, 0.05


def idx(path):
    b = gzip.open(path).read()
    nd = b[3]
    shape = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(shape)


X = idx(D + "train-images-idx3-ubyte.gz").astype(float).reshape(-1, 14, 2, 14, 2).mean((2, 4)).reshape(-1, 196)
labels = idx(D + "train-labels-idx1-ubyte.gz")
rng = np.random.default_rng(2)
pick = rng.choice(len(X), N, replace=False)
Z = X[pick]
sd = Z.std(0)
Z = (Z - Z.mean(0)) / np.where(sd > 0, sd, 1)
Z *= np.sqrt(196) / np.linalg.norm(Z, axis=1, keepdims=True)
y = np.where(labels[pick] % 2 == 0, 1.0, -1.0)
s1 = sw2 * Z @ Z.T / 196 + sb2
nrm = np.sqrt(np.outer(np.diag(s1), np.diag(s1)))
c = np.clip(s1 / nrm, -1, 1)
a = np.arccos(c)
K = sw2 * nrm / (2 * np.pi) * (np.sin(a) + (np.pi - a) * c) + sb2 + s1 * sw2 * (np.pi - a) / (2 * np.pi)
w, U = np.linalg.eigh(K / N)
w, U = w[::-1], U[:, ::-1]
v = U.T @ y / np.sqrt(N)
keep = w > N * 2.2e-16 * w[0]
lam, v = w[keep], v[keep]


def predict(n):
    f = lambda k: (lam / (lam + k)).sum() - n
    lo, hi = 1e-14, 1e6
    for _ in range(300):
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    k = np.sqrt(lo * hi)
    L = lam / (lam + k)
    return n / (n - (L ** 2).sum()) * ((1 - L) ** 2 * v ** 2).sum()


for n in NS:
    err = []
    for _ in range(TRIALS):
        sel = rng.choice(N, n, replace=True)
        alpha = np.linalg.lstsq(K[np.ix_(sel, sel)], y[sel], rcond=None)[0]
        err.append(((K[:, sel] @ alpha - y) ** 2).mean())
    err = np.array(err)
    p = predict(n)
    print("N=%d n=%d (n/N=%.2f): predicted %.4f, empirical / predicted %.3f +- %.3f (2 SE, %d trials)"
          % (N, n, n / N, p, err.mean() / p, 2 * err.std(ddof=1) / np.sqrt(TRIALS) / p, TRIALS))
