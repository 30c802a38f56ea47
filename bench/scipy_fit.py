#!/usr/bin/python3
"""scipy peer of bench/bench_fit.c: the same summed Huber (delta = 1e-3) of log-sum-exp residuals,
its analytic gradient, scipy.optimize.minimize(method="L-BFGS-B", gtol=1e-10, maxiter=1000) from
the same 4,500-start grid (science.md §7), on the points bench_fit wrote; then a bootstrap like
lmech's (each resample refitted from the distinct best optima, up to 4). The bootstrap is timed on
BOOT resamples (default 100) and scaled to 1,000 (each resample costs the same; 1,000 would take
the session's minutes). lmech never depends on scipy: this only gives the ratio.

usage: scipy_fit.py DATA.csv [BOOT]
"""
import itertools, json, sys, time

import numpy as np
from scipy.optimize import minimize

DELTA = 1e-3


def load(path):
    d = np.genfromtxt(path, delimiter=",", names=True)
    return np.log(d["N"]), np.log(d["D"]), np.log(d["L"])


def objective(x, lN, lD, lL, w):
    a, b, e, al, be = x
    t = np.stack([a - al * lN, b - be * lD, np.full_like(lN, e)])
    m = t.max(axis=0)
    ex = np.exp(t - m)
    s = ex.sum(axis=0)
    r = m + np.log(s) - lL
    ar = np.abs(r)
    quad = ar <= DELTA
    h = np.where(quad, 0.5 * r * r, DELTA * (ar - 0.5 * DELTA))
    dr = np.where(quad, r, DELTA * np.sign(r)) * w
    p = ex / s
    g = np.array([
        (dr * p[0]).sum(), (dr * p[1]).sum(), (dr * p[2]).sum(),
        -(dr * p[0] * lN).sum(), -(dr * p[1] * lD).sum(),
    ])
    return (w * h).sum(), g


def fit_from(starts, lN, lD, lL, w):
    best = None
    conv = 0
    for x0 in starts:
        res = minimize(objective, x0, args=(lN, lD, lL, w), jac=True, method="L-BFGS-B",
                       options={"gtol": 1e-10, "ftol": 0, "maxiter": 1000})
        conv += np.linalg.norm(res.jac) < 1e-10
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    return best, conv


def main():
    path = sys.argv[1]
    nboot = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    lN, lD, lL = load(path)
    n = len(lN)
    grid = [np.array([a, b, e, al, be], float) for a, b, e, al, be in itertools.product(
        np.arange(0, 30, 5), np.arange(0, 30, 5), np.arange(-1, 1.5, 0.5),
        np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5))]
    t0, c0 = time.perf_counter(), time.process_time()
    best, conv = fit_from(grid, lN, lD, lL, np.ones(n))
    tg, cg = time.perf_counter() - t0, time.process_time() - c0
    rng = np.random.default_rng(0)
    starts = [best.x]
    t0, c0 = time.perf_counter(), time.process_time()
    al = []
    for _ in range(nboot):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        r, _ = fit_from(starts, lN, lD, lL, w)
        al.append(r.x[3])
    tb = (time.perf_counter() - t0) * 1000 / max(nboot, 1)
    cb = (time.process_time() - c0) * 1000 / max(nboot, 1)
    a, b, e, alpha, beta = best.x
    print(json.dumps({"impl": "scipy", "points": n, "starts": len(grid), "converged": int(conv),
                      "grid_s": round(tg, 4), "boot_s_per_1000": round(tb, 4),
                      "boot_measured": nboot, "total_s": round(tg + tb, 4),
                      "cpu_s": round(cg + cb, 4),
                      "objective": best.fun, "alpha": alpha, "beta": beta, "E": float(np.exp(e)),
                      "ci95_alpha": [float(np.percentile(al, 2.5)), float(np.percentile(al, 97.5))]}))


if __name__ == "__main__":
    main()
