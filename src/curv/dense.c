/*
 * dense.c: the whole Hessian by p products with unit vectors, and its spectrum by LAPACK: the
 * ground truth that Lanczos, Hutchinson and SLQ are tested against (shared/science.md §4).
 *
 * Workload: networks of up to ~5,000 parameters (a 200 MB matrix, seconds of LAPACK); the
 * lmech hessian command allows larger ones under its --max-memory bound.
 *
 * The eigen-solver is the first half of LAPACK's dsyevd for eigenvalues only (dsytrd reduces H
 * to tridiagonal form, dsterf finds all eigenvalues) plus, for the k wanted eigenvectors,
 * dstemr on the tridiagonal and dormtr to apply the Householder reflectors: one O(p^3)
 * reduction and O(p k) extra memory instead of dsyevd's 2 p^2 workspace for all vectors.
 * A symmetric matrix is its own transpose, so the row-major buffer is handed to LAPACK as
 * column-major without any copy.
 */
#include "curv/internal.h"

#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <string.h>

lm_status lm_curv_dense(lm_linop_fn op, void *ud, size_t p, size_t max_p, double *H, double *asym,
                        lm_err *err) {
    if (!op || !H)
        LM_FAIL(err, LM_EINVAL, "lm_curv_dense: op and H must not be NULL");
    if (p == 0 || p > INT_MAX)
        LM_FAIL(err, LM_EINVAL, "lm_curv_dense: dimension p = %zu", p);
    if (p > max_p)
        LM_FAIL(err, LM_ELIMIT,
                "dense Hessian of p = %zu parameters refused: above the limit of %zu (it needs "
                "%.0f MB and O(p^3) time; raise the limit to force it, or use Lanczos)",
                p, max_p, (double) p * (double) p * 8e-6);
    double *e = lm_calloc(p, sizeof *e);
    if (!e)
        LM_FAIL(err, LM_ENOMEM, "lm_curv_dense: out of memory for a vector of %zu", p);
    lm_status st = LM_OK;
    for (size_t j = 0; j < p && st == LM_OK; j++) {
        e[j] = 1.0;
        st = op(ud, e, H + j * p, err);
        e[j] = 0.0;
    }
    lm_free(e);
    LM_TRY(st);
    double hmax = 0, dmax = 0;
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < p; j++) {
            double h = H[i * p + j];
            if (!isfinite(h))
                LM_FAIL(err, LM_ENUMERIC, "dense Hessian: entry (%zu, %zu) is %g", i, j, h);
            hmax = fmax(hmax, fabs(h));
            if (j > i)
                dmax = fmax(dmax, fabs(h - H[j * p + i]));
        }
    for (size_t i = 0; i < p; i++)
        for (size_t j = i + 1; j < p; j++) {
            double s = 0.5 * (H[i * p + j] + H[j * p + i]);
            H[i * p + j] = H[j * p + i] = s;
        }
    if (asym)
        *asym = hmax > 0 ? dmax / hmax : 0.0;
    return LM_OK;
}

lm_status lm_curv_dense_eig(size_t p, double *H, double *evals, size_t k, double *evecs,
                            lm_err *err) {
    if (!H || p == 0 || p > INT_MAX)
        LM_FAIL(err, LM_EINVAL, "lm_curv_dense_eig: H is NULL or p = %zu is out of range", p);
    if (evecs && k > p)
        LM_FAIL(err, LM_EINVAL, "lm_curv_dense_eig: k = %zu eigenvectors of a %zu x %zu matrix", k,
                p, p);
    if (!evecs)
        k = 0;
    const lapack_int n = (lapack_int) p;
    /* d, e, tau, and copies of d and e for dsterf and dstemr, then w and isuppz for dstemr */
    double *buf = lm_malloc((6 * p + 2 * k + 2) * sizeof *buf);
    lapack_int *isuppz = lm_malloc((2 * k + 2) * sizeof *isuppz);
    if (!buf || !isuppz) {
        lm_free(buf);
        lm_free(isuppz);
        LM_FAIL(err, LM_ENOMEM, "lm_curv_dense_eig: out of memory for p = %zu", p);
    }
    double *d = buf, *e = d + p, *tau = e + p, *d2 = tau + p, *e2 = d2 + p, *w = e2 + p;
    lm_status st = LM_OK;
    lapack_int info = LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'L', n, H, n, d, e, tau);
    if (info != 0)
        st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__, "LAPACK dsytrd failed (info %d)",
                        (int) info);
    if (st == LM_OK && evals) {
        memcpy(d2, d, p * sizeof *d);
        memcpy(e2, e, (p - 1) * sizeof *e);
        info = LAPACKE_dsterf(n, d2, e2);
        if (info != 0)
            st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__, "LAPACK dsterf failed (info %d)",
                            (int) info);
        for (size_t i = 0; st == LM_OK && i < p; i++)
            evals[i] = d2[p - 1 - i];
    }
    if (st == LM_OK && k > 0) {
        memcpy(d2, d, p * sizeof *d);
        memcpy(e2, e, (p - 1) * sizeof *e);
        e2[p - 1] = 0;
        lapack_int found = 0, il = (lapack_int) (p - k + 1);
        lapack_logical tryrac = 1;
        /* the eigenvectors land in evecs as columns of a column-major p x k matrix, i.e. rows
         * of evecs [k, p], ascending; reversed below */
        info = LAPACKE_dstemr(LAPACK_COL_MAJOR, 'V', 'I', n, d2, e2, 0.0, 0.0, il, n, &found, w,
                              evecs, n, (lapack_int) k, isuppz, &tryrac);
        if (info != 0 || found != (lapack_int) k)
            st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__,
                            "LAPACK dstemr failed (info %d, %d of %zu vectors)", (int) info,
                            (int) found, k);
        if (st == LM_OK) {
            info = LAPACKE_dormtr(LAPACK_COL_MAJOR, 'L', 'L', 'N', n, (lapack_int) k, H, n, tau,
                                  evecs, n);
            if (info != 0)
                st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__,
                                "LAPACK dormtr failed (info %d)", (int) info);
        }
        for (size_t i = 0; st == LM_OK && i < k / 2; i++)
            for (size_t c = 0; c < p; c++) {
                double t = evecs[i * p + c];
                evecs[i * p + c] = evecs[(k - 1 - i) * p + c];
                evecs[(k - 1 - i) * p + c] = t;
            }
    }
    lm_free(buf);
    lm_free(isuppz);
    return st;
}
