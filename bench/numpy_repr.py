"""numpy_repr.py: the NumPy peer of bench_repr.c (bench/repr.sh runs both in one session).

    /usr/bin/python3 bench/numpy_repr.py DIR [REPS]

Loads the arrays bench_repr wrote to DIR and computes, as a careful NumPy user would:
  linear CKA in the feature-space form ||B_c^T A_c||_F^2 / (||A_c^T A_c||_F ||B_c^T B_c||_F), and the
  same with a 20-permutation null that reuses the centred Grams (only B_c[perm]^T A_c changes);
  debiased CKA with n x n linear kernels (the unbiased HSIC of Song et al. 2012, as in the
  platonic-representation code); mutual k-NN (k = 10) on L2-normalised rows; the weight spectrum
  of W: eigenvalues of W^T W / N by SVD, the Clauset-Shalizi-Newman power-law fit over every
  x_min candidate (vectorised), stable rank (the Marchenko-Pastur fit is lmech's extra work).
Prints one JSON line with the median wall seconds of REPS repetitions and the values."""
import json
import sys
import time

import numpy as np


def lin_cka(A, B, null=0, seed=0):
    Ac = A - A.mean(0)
    Bc = B - B.mean(0)
    nA = np.linalg.norm(Ac.T @ Ac)
    nB = np.linalg.norm(Bc.T @ Bc)
    v = np.linalg.norm(Bc.T @ Ac) ** 2 / (nA * nB)
    rng = np.random.default_rng(seed)
    nulls = [np.linalg.norm(Bc[rng.permutation(len(Bc))].T @ Ac) ** 2 / (nA * nB) for _ in range(null)]
    return v, nulls


def hsic_u(K, L):
    n = K.shape[0]
    K = K.copy()
    L = L.copy()
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    KL = K @ L
    t = np.trace(KL) + K.sum() * L.sum() / ((n - 1) * (n - 2)) - 2 / (n - 2) * KL.sum()
    return t / (n * (n - 3))


def debiased_cka(A, B):
    Ac = A - A.mean(0)
    Bc = B - B.mean(0)
    K = Ac @ Ac.T
    L = Bc @ Bc.T
    return hsic_u(K, L) / np.sqrt(hsic_u(K, K) * hsic_u(L, L))


def mknn(A, B, k=10):
    def nn(X):
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        S = X @ X.T
        np.fill_diagonal(S, -np.inf)
        return np.argpartition(-S, k, axis=1)[:, :k]

    a, b = nn(A), nn(B)
    n = len(A)
    return np.mean([len(np.intersect1d(a[i], b[i])) / k for i in range(n)])


def weights(W):
    N, M = max(W.shape), min(W.shape)
    s = np.linalg.svd(W, compute_uv=False)
    ev = np.sort(s ** 2 / N)
    stable_rank = (s ** 2).sum() / s.max() ** 2
    best = (np.inf, None)
    logs = np.log(ev)
    for i in range(len(ev) - 10):  # tails of at least 10 points
        xmin = ev[i]
        tail = ev[i:]
        n = len(tail)
        alpha = 1 + n / (logs[i:] - np.log(xmin)).sum()
        cdf_emp = np.arange(n) / n
        cdf_fit = 1 - (tail / xmin) ** (1 - alpha)
        D = np.max(np.abs(cdf_emp - cdf_fit))
        if D < best[0]:
            best = (D, alpha)
    return best[1], stable_rank


def timed(f, reps):
    ts, v = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        v = f()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), v


def main():
    d = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    A, B = np.load(d + "/A.npy"), np.load(d + "/B.npy")
    A2, B2 = np.load(d + "/A2.npy"), np.load(d + "/B2.npy")
    W = np.load(d + "/W.npy")
    t_lin, (v_lin, _) = timed(lambda: lin_cka(A, B), reps)
    t_null, _ = timed(lambda: lin_cka(A, B, 20), reps)
    t_deb, v_deb = timed(lambda: debiased_cka(A2, B2), reps)
    t_knn, v_knn = timed(lambda: mknn(A2, B2), reps)
    t_w, (alpha, _) = timed(lambda: weights(W), reps)
    print(json.dumps({"linear_cka_s": t_lin, "linear_cka": v_lin, "linear_cka_null20_s": t_null,
                      "debiased_cka_s": t_deb, "debiased_cka": v_deb, "mknn_s": t_knn,
                      "mknn": v_knn, "weights_s": t_w, "alpha": alpha}))


main()
