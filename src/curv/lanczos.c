/*
 * lanczos.c: the curvature workspace and Lanczos with full reorthogonalisation for the extreme
 * eigenpairs of a symmetric operator (Golub & Van Loan, Matrix Computations, §10.1).
 *
 * Why full reorthogonalisation: the Hessians we meet have a few outliers and a bulk of millions
 * of tiny eigenvalues; plain three-term Lanczos loses orthogonality as soon as the top Ritz value
 * converges and then produces ghost copies of it. Reorthogonalising against the whole basis costs
 * 4 p j flops at step j (two GEMVs, twice), which is small beside one Hessian-vector product
 * (for a 784-512-512-10 network on 2000 examples one product is ~8e9 flops, j <= 100 steps).
 *
 * Workload: sharpness every 10-25 training steps (warm-started, k = 1, a handful of steps), top-k
 * spectra (k <= 20, 20-100 steps), SLQ probes (m = 80-100 steps each).
 */
#include "curv/internal.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* beta_j below this fraction of ||T|| is a breakdown (the Krylov space is invariant to rounding):
 * the reorthogonalised w is then ~1e3 ulps of ||T|| and no longer a meaningful direction. */
#define BREAKDOWN_REL 1e-12
/* A restart vector whose norm after orthogonalisation falls below this fraction is rounding
 * only: the basis already spans the whole space. */
#define EXHAUSTED_REL 1e-8
/* Steps below this check convergence every step; later ones every j/16 steps (the tridiagonal
 * eigenproblem costs O(j^2)-O(j^3), a Hessian product does not grow with j), so at most ~6% of
 * products are spent beyond the step at which the rule was first met. */
#define CHECK_EVERY_BELOW 64

size_t lm_curv_ws_bytes(size_t p, size_t max_iter) {
    if (p == 0 || max_iter == 0 || max_iter > SIZE_MAX / 8 / max_iter ||
        p > SIZE_MAX / 8 / (max_iter + 4))
        return SIZE_MAX;
    size_t n = (max_iter + 4) * p + max_iter * max_iter + 7 * max_iter + 1;
    if (n > SIZE_MAX / sizeof(double))
        return SIZE_MAX;
    return n * sizeof(double);
}

lm_status lm_curv_ws_new(size_t p, size_t max_iter, lm_curv_ws **out, lm_err *err) {
    lm_init();
    if (!out)
        LM_FAIL(err, LM_EINVAL, "lm_curv_ws_new: out is NULL");
    if (p == 0 || p > INT_MAX)
        LM_FAIL(err, LM_EINVAL, "lm_curv_ws_new: dimension p = %zu (must be 1 to %d)", p, INT_MAX);
    if (max_iter == 0 || max_iter > p)
        LM_FAIL(err, LM_EINVAL, "lm_curv_ws_new: max_iter = %zu (must be 1 to p = %zu)", max_iter,
                p);
    size_t bytes = lm_curv_ws_bytes(p, max_iter);
    if (bytes == SIZE_MAX)
        LM_FAIL(err, LM_ERANGE, "lm_curv_ws_new: %zu x %zu Lanczos basis overflows size_t",
                max_iter + 1, p);
    lm_curv_ws *ws = lm_calloc(1, sizeof *ws);
    double *buf = lm_malloc(bytes);
    if (!ws || !buf) {
        lm_free(ws);
        lm_free(buf);
        LM_FAIL(err, LM_ENOMEM, "lm_curv_ws_new: out of memory for a %zu x %zu Lanczos basis",
                max_iter + 1, p);
    }
    const size_t c = max_iter;
    ws->p = p;
    ws->cap = c;
    ws->Q = buf;
    ws->w = ws->Q + (c + 1) * p;
    ws->y = ws->w + p;
    ws->hy = ws->y + p;
    ws->alpha = ws->hy + p;
    ws->beta = ws->alpha + c;
    ws->d = ws->beta + c;
    ws->e = ws->d + c;
    ws->res = ws->e + c;
    ws->h = ws->res + c;
    ws->z = ws->h + c + 1;
    *out = ws;
    return LM_OK;
}

void lm_curv_ws_free(lm_curv_ws *ws) {
    if (!ws)
        return;
    lm_free(ws->Q);
    lm_free(ws);
}

void lm__rademacher(lm_rng *rng, double *v, size_t p) {
    for (size_t i = 0; i < p; i += 64) {
        uint64_t bits = lm_rng_u64(rng);
        size_t n = p - i < 64 ? p - i : 64;
        for (size_t b = 0; b < n; b++)
            v[i + b] = (bits >> b) & 1u ? 1.0 : -1.0;
    }
}

/* w -= Q_{0..j}^T (Q_{0..j} w), twice. */
static void orthogonalise(lm_curv_ws *ws, size_t j, double *w) {
    const int rows = (int) (j + 1), p = (int) ws->p;
    for (int pass = 0; pass < 2; pass++) {
        cblas_dgemv(CblasRowMajor, CblasNoTrans, rows, p, 1.0, ws->Q, p, w, 1, 0.0, ws->h, 1);
        cblas_dgemv(CblasRowMajor, CblasTrans, rows, p, -1.0, ws->Q, p, ws->h, 1, 1.0, w, 1);
    }
}

lm_status lm__lanczos_step(lm_linop_fn op, void *ud, lm_curv_ws *ws, size_t j, int *broke,
                           lm_err *err) {
    const size_t p = ws->p;
    const int ip = (int) p;
    double *q = ws->Q + j * p, *w = ws->w;
    LM_TRY(op(ud, q, w, err));
    double a = cblas_ddot(ip, q, 1, w, 1);
    if (!isfinite(a))
        LM_FAIL(err, LM_ENUMERIC, "Lanczos step %zu: the operator returned a non-finite value",
                j + 1);
    cblas_daxpy(ip, -a, q, 1, w, 1);
    if (j > 0)
        cblas_daxpy(ip, -ws->beta[j - 1], q - p, 1, w, 1);
    orthogonalise(ws, j, w);
    double b = cblas_dnrm2(ip, w, 1);
    if (!isfinite(b))
        LM_FAIL(err, LM_ENUMERIC, "Lanczos step %zu: the operator returned a non-finite value",
                j + 1);
    ws->alpha[j] = a;
    double scale = fabs(a) + b + (j > 0 ? ws->beta[j - 1] : 0.0);
    ws->anorm = j == 0 ? scale : fmax(ws->anorm, scale);
    if (b <= BREAKDOWN_REL * ws->anorm) {
        ws->beta[j] = 0.0;
        *broke = 1;
        return LM_OK;
    }
    ws->beta[j] = b;
    double *next = q + p;
    for (size_t i = 0; i < p; i++)
        next[i] = w[i] / b;
    *broke = 0;
    return LM_OK;
}

int lm__lanczos_restart(lm_curv_ws *ws, size_t j, lm_rng *rng) {
    const size_t p = ws->p;
    if (j + 1 >= p)
        return 0;
    double *r = ws->Q + (j + 1) * p;
    lm__rademacher(rng, r, p);
    double n0 = sqrt((double) p);
    orthogonalise(ws, j, r);
    double n1 = cblas_dnrm2((int) p, r, 1);
    if (!(n1 > EXHAUSTED_REL * n0))
        return 0;
    cblas_dscal((int) p, 1.0 / n1, r, 1);
    return 1;
}

lm_status lm__tridiag_eig(lm_curv_ws *ws, size_t j, lm_err *err) {
    memcpy(ws->d, ws->alpha, j * sizeof(double));
    if (j > 1)
        memcpy(ws->e, ws->beta, (j - 1) * sizeof(double));
    lapack_int info =
        LAPACKE_dstev(LAPACK_COL_MAJOR, 'V', (lapack_int) j, ws->d, ws->e, ws->z, (lapack_int) j);
    if (info != 0)
        LM_FAIL(err, LM_ENUMERIC, "LAPACK dstev failed on the %zu x %zu Lanczos matrix (info %d)",
                j, j, (int) info);
    return LM_OK;
}

lm_curv_lanczos_opts lm_curv_lanczos_opts_default(void) {
    lm_curv_lanczos_opts o;
    memset(&o, 0, sizeof o);
    o.k = 1;
    o.which = LM_CURV_LARGEST;
    o.tol = 1e-6;
    return o;
}

/* Column of T's eigenvector matrix holding the i-th wanted pair. */
static size_t wanted(const lm_curv_lanczos_opts *o, size_t j, size_t i) {
    return o->which == LM_CURV_LARGEST ? j - 1 - i : i;
}

/* Ritz vector i into y: y = Q_{0..j-1}^T s_i. */
static void ritz_vector(lm_curv_ws *ws, size_t j, size_t col, double *y) {
    cblas_dgemv(CblasRowMajor, CblasTrans, (int) j, (int) ws->p, 1.0, ws->Q, (int) ws->p,
                ws->z + col * j, 1, 0.0, y, 1);
}

/* Verified relative residuals of the k wanted pairs at step j into ws->res; k products. */
static lm_status verify(lm_linop_fn op, void *ud, const lm_curv_lanczos_opts *o, lm_curv_ws *ws,
                        size_t j, size_t *n_ops, double *worst, lm_err *err) {
    const int ip = (int) ws->p;
    *worst = 0;
    for (size_t i = 0; i < o->k; i++) {
        size_t col = wanted(o, j, i);
        double th = ws->d[col];
        ritz_vector(ws, j, col, ws->y);
        LM_TRY(op(ud, ws->y, ws->hy, err));
        ++*n_ops;
        cblas_daxpy(ip, -th, ws->y, 1, ws->hy, 1);
        double rn = cblas_dnrm2(ip, ws->hy, 1);
        if (!isfinite(rn))
            LM_FAIL(err, LM_ENUMERIC, "Lanczos: the operator returned a non-finite value");
        double r = rn / fabs(th);
        ws->res[i] = r;
        if (!(r <= *worst))
            *worst = r;
    }
    return LM_OK;
}

static lm_status start_vector(const lm_curv_lanczos_opts *o, lm_curv_ws *ws, lm_rng *rng,
                              lm_err *err) {
    const size_t p = ws->p;
    double *q = ws->Q;
    if (o->n_start == 0) {
        for (size_t i = 0; i < p; i++)
            q[i] = lm_rng_normal(rng);
    } else {
        memset(q, 0, p * sizeof *q);
        for (size_t s = 0; s < o->n_start; s++) {
            const double *v = o->start + s * p;
            double n = cblas_dnrm2((int) p, v, 1);
            if (!(n > 0) || !isfinite(n))
                LM_FAIL(err, LM_EINVAL, "Lanczos: start vector %zu has norm %g", s, n);
            cblas_daxpy((int) p, 1.0 / n, v, 1, q, 1);
        }
    }
    double n = cblas_dnrm2((int) p, q, 1);
    if (!(n > 0) || !isfinite(n))
        LM_FAIL(err, LM_EINVAL, "Lanczos: the start vectors sum to a vector of norm %g", n);
    cblas_dscal((int) p, 1.0 / n, q, 1);
    return LM_OK;
}

lm_status lm_curv_lanczos(lm_linop_fn op, void *ud, size_t p, const lm_curv_lanczos_opts *opts,
                          lm_curv_ws *ws, double *evals, double *evecs, double *resid,
                          lm_curv_lanczos_info *info, lm_err *err) {
    if (!op || !opts || !ws || !evals)
        LM_FAIL(err, LM_EINVAL, "lm_curv_lanczos: op, opts, ws and evals must not be NULL");
    const lm_curv_lanczos_opts *o = opts;
    if (ws->p != p)
        LM_FAIL(err, LM_EINVAL, "lm_curv_lanczos: workspace made for p = %zu, operator has p = %zu",
                ws->p, p);
    size_t max_iter = o->max_iter ? o->max_iter : ws->cap;
    if (max_iter > ws->cap)
        LM_FAIL(err, LM_EINVAL, "lm_curv_lanczos: max_iter = %zu exceeds the workspace's %zu",
                max_iter, ws->cap);
    if (o->k == 0 || o->k > max_iter)
        LM_FAIL(err, LM_EINVAL, "lm_curv_lanczos: k = %zu eigenpairs (must be 1 to max_iter = %zu)",
                o->k, max_iter);
    if (!(o->tol > 0) || !isfinite(o->tol))
        LM_FAIL(err, LM_EINVAL, "lm_curv_lanczos: tol = %g (must be finite and > 0)", o->tol);
    if (o->which != LM_CURV_LARGEST && o->which != LM_CURV_SMALLEST)
        LM_FAIL(err, LM_EINVAL, "lm_curv_lanczos: unknown which = %d", (int) o->which);
    if (o->n_start > 0 && !o->start)
        LM_FAIL(err, LM_EINVAL, "lm_curv_lanczos: n_start = %zu but start is NULL", o->n_start);

    lm_rng rng;
    lm_rng_seed(&rng, o->seed, LM_STREAM_PROBE);
    LM_TRY(start_vector(o, ws, &rng, err));
    size_t j = 0, n_ops = 0, verified_at = 0;
    double factor = 1.0, worst = 0;
    int converged = 0, exhausted = 0;
    while (j < max_iter && !exhausted) {
        int broke = 0;
        LM_TRY(lm__lanczos_step(op, ud, ws, j, &broke, err));
        n_ops++;
        if (broke && !lm__lanczos_restart(ws, j, &rng))
            exhausted = 1;
        j++;
        if (j < o->k)
            continue;
        int due = j < CHECK_EVERY_BELOW || j % (j / 16) == 0 || j == max_iter || exhausted;
        if (!due)
            continue;
        LM_TRY(lm__tridiag_eig(ws, j, err));
        int ok = 1;
        for (size_t i = 0; i < o->k && ok; i++) {
            size_t col = wanted(o, j, i);
            double est = fabs(ws->beta[j - 1] * ws->z[(j - 1) + col * j]);
            ok = est <= factor * o->tol * fabs(ws->d[col]);
        }
        if (!ok)
            continue;
        LM_TRY(verify(op, ud, o, ws, j, &n_ops, &worst, err));
        verified_at = j;
        if (worst <= o->tol) {
            converged = 1;
            break;
        }
        factor *= 0.1;
    }
    if (verified_at != j) { /* stopped at max_iter: residuals of the final Ritz pairs */
        LM_TRY(lm__tridiag_eig(ws, j, err));
        LM_TRY(verify(op, ud, o, ws, j, &n_ops, &worst, err));
        converged = worst <= o->tol;
    }
    for (size_t i = 0; i < o->k; i++) {
        size_t col = wanted(o, j, i);
        evals[i] = ws->d[col];
        if (resid)
            resid[i] = ws->res[i];
        if (evecs)
            ritz_vector(ws, j, col, evecs + i * p);
    }
    if (info) {
        info->iters = j;
        info->n_ops = n_ops;
        info->converged = converged;
    }
    return LM_OK;
}
