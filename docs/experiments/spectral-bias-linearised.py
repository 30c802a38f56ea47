#!/usr/bin/env python3
"""The diagnosis behind docs/experiments/spectral-bias.md's finding (numpy, not part of the
experiment): the LINEARISED 2-layer ReLU network (width 4096, NTP, sw2 = 2, sb2 = 0.1, the
experiment's network; numpy's own initialisation, not lmech's) on the 256-point circle grid,
trained by GD at eta = 0.4 with its empirical NTK frozen at initialisation. Prints, per seed and
frequency, the Rayleigh quotient of the empirical NTK / n on the Fourier mode against the analytic
lambda_k, and the half-decay step of a pure Fourier residual and of the real initial residual
f0 - y under the frozen kernel, beside ln2 / -ln(1 - eta lambda_k).
Usage: /usr/bin/python3 docs/experiments/spectral-bias-linearised.py [WIDTH] [SEEDS]"""
import sys
import numpy as np

W = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
SEEDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
eta, sw2, sb2, n, d = 0.4, 2.0, 0.1, 256, 2
th = 2 * np.pi * np.arange(n) / n
X = np.stack([np.cos(th), np.sin(th)], 1)
y = sum(np.cos(k * th) for k in (1, 2, 4, 8))
# analytic NTK of one hidden ReLU layer (arc-cosine kernels)
s1 = sw2 * X @ X.T / d + sb2
nrm = np.sqrt(np.outer(np.diag(s1), np.diag(s1)))
c = np.clip(s1 / nrm, -1, 1)
a = np.arccos(c)
T = sw2 * nrm / (2 * np.pi) * (np.sin(a) + (np.pi - a) * c) + sb2 + s1 * sw2 * (np.pi - a) / (2 * np.pi)


def half(amps):
    i = int(np.argmax(amps <= amps[0] / 2))
    return i if amps[i] <= amps[0] / 2 else None


for seed in range(SEEDS):
    rng = np.random.default_rng(seed)
    W1, b1, W2, b2 = rng.standard_normal((W, d)), rng.standard_normal(W), rng.standard_normal(W), rng.standard_normal()
    m2, mb = np.sqrt(sw2 / W), np.sqrt(sb2)
    h = X @ W1.T * np.sqrt(sw2 / d) + b1 * mb
    act, dact = np.maximum(h, 0), (h > 0) * 1.0
    f0 = act @ W2 * m2 + b2 * mb
    G = dact * (W2 * m2)
    Th = (act * m2) @ (act * m2).T + sb2 + (G @ G.T) * s1  # the empirical NTK J J^T
    A = np.eye(n) - eta * Th / n
    for k in (1, 2, 4, 8):
        P = np.stack([np.cos(k * th), np.sin(k * th)], 1) * np.sqrt(2 / n)
        lam = (T[0] * np.cos(k * th)).sum() / n
        pred = np.log(2) / -np.log(1 - eta * lam)
        rq = (P[:, 0] @ Th @ P[:, 0]) / n
        pure, real = P[:, 0].copy(), f0 - y
        ap, ar = [], []
        for t in range(3001):
            ap.append(np.linalg.norm(P.T @ pure))
            ar.append(np.linalg.norm(P.T @ real))
            pure, real = A @ pure, A @ real
        print("seed %d k=%d  Rayleigh/analytic %.3f  half (pure mode) %s  half (f0 - y) %s  predicted %.1f"
              % (seed, k, rq / lam, half(np.array(ap)), half(np.array(ar)), pred))
