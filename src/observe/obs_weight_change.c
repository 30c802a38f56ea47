/*
 * obs_weight_change.c: the final-weights layer: per linear layer l, the relative change from
 * initialisation ||W_l - W_l(0)|| / ||W_l(0)|| in the Frobenius norm (wchange_fro.l) and in the
 * spectral norm (wchange_spec.l).
 *
 * Spectral norms: a zero matrix (every layer at step 0) has norm 0 without any work. For
 * matrices whose smaller side s is at most EXACT_MAX, sigma_max = sqrt(lambda_max) of the s x s
 * Gram matrix (dsyrk, then LAPACK's dsyevr for the top eigenvalue only): lambda_max of a PSD
 * matrix comes out to relative error ~eps, so sigma_max to ~eps/2, at a third of dgesdd's cost
 * (which spent 10 % of a sweep of small runs in its LQ factorisations). Above it a dense SVD costs
 * ~(8/3) s^2 max(r, c) flops per matrix (about a second for 2048 x 2048 on 2 cores, four of them
 * per observation of a 3-hidden-layer network), so the largest eigenvalue of the s x s Gram matrix
 * A^T A (or A A^T) is found by Lanczos (src/curv) to relative residual 1e-10, which bounds the
 * relative error of sigma^2, hence of sigma, by 1e-10 (tested against dgesdd). ||W_l(0)||_2 is
 * computed once and kept in the observer's state.
 */
#include "observe/internal.h"

#include "lmech/curv.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>

#define EXACT_MAX     256   /* dense SVD up to this smaller side                    */
#define LANCZOS_TOL   1e-10 /* relative residual of sigma^2                          */
#define LANCZOS_ITERS 400U  /* a cap; not converging leaves the metric NaN */

typedef struct gram {
    const double *a;
    size_t rows, cols;
    int left;    /* 1: A A^T (rows x rows), 0: A^T A (cols x cols) */
    double *tmp; /* [max(rows, cols)] */
} gram;

static lm_status gram_apply(void *ud, const double *v, double *out, lm_err *err) {
    (void) err;
    const gram *g = ud;
    const int r = (int) g->rows, c = (int) g->cols;
    if (g->left) { /* out = A (A^T v) */
        cblas_dgemv(CblasRowMajor, CblasTrans, r, c, 1.0, g->a, c, v, 1, 0.0, g->tmp, 1);
        cblas_dgemv(CblasRowMajor, CblasNoTrans, r, c, 1.0, g->a, c, g->tmp, 1, 0.0, out, 1);
    } else { /* out = A^T (A v) */
        cblas_dgemv(CblasRowMajor, CblasNoTrans, r, c, 1.0, g->a, c, v, 1, 0.0, g->tmp, 1);
        cblas_dgemv(CblasRowMajor, CblasTrans, r, c, 1.0, g->a, c, g->tmp, 1, 0.0, out, 1);
    }
    return LM_OK;
}

/* Largest singular value of the [rows, cols] row-major matrix a (read only), whose Frobenius
 * norm the caller has already computed (fro); NaN when LAPACK or Lanczos fails to converge. */
static lm_status spectral_norm(const double *a, size_t rows, size_t cols, double fro, double *out,
                               lm_err *err) {
    const size_t k = rows < cols ? rows : cols;
    *out = LM_NAN;
    if (fro == 0.0) {
        *out = 0.0;
        return LM_OK;
    }
    if (!isfinite(fro)) { /* a diverging run: inf or nan entries; LAPACK's behaviour is undefined */
        *out = isnan(fro) ? LM_NAN : LM_INF;
        return LM_OK;
    }
    if (k <= EXACT_MAX) {
        /* dsyevr's W must hold k values even when one is asked for (dstebz may return ties and
         * uses it as work space) and ISUPPZ 2 max(1, M): both sized for k, not for one. Above
         * entries of ~1e150 the Gram matrix would overflow: then A / ||A||_F goes in instead
         * (every entry of its Gram matrix is <= 1) and sigma is scaled back. */
        const size_t big = fro > 1e150 ? rows * cols : 0;
        double *g = lm_malloc((k * k + k + big) * sizeof *g), *w = g + k * k, *as = w + k;
        lapack_int *isuppz = lm_malloc(2 * k * sizeof *isuppz);
        if (!g || !isuppz) {
            lm_free(g);
            lm_free(isuppz);
            LM_FAIL(err, LM_ENOMEM, "out of memory for a %zu x %zu Gram matrix", k, k);
        }
        double scale = 1.0;
        if (big) {
            scale = fro;
            for (size_t i = 0; i < big; i++)
                as[i] = a[i] / fro;
            a = as;
        }
        /* G = A A^T (rows <= cols) or A^T A, upper triangle */
        cblas_dsyrk(CblasRowMajor, CblasUpper, rows <= cols ? CblasNoTrans : CblasTrans, (int) k,
                    (int) (rows <= cols ? cols : rows), 1.0, a, (int) cols, 0.0, g, (int) k);
        lapack_int found = 0;
        lapack_int info =
            LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'N', 'I', 'U', (lapack_int) k, g, (lapack_int) k, 0.0,
                           0.0, (lapack_int) k, (lapack_int) k, 0.0, &found, w, NULL, 1, isuppz);
        *out = info == 0 && found >= 1 ? scale * sqrt(w[found - 1] > 0.0 ? w[found - 1] : 0.0)
                                       : LM_NAN;
        lm_free(g);
        lm_free(isuppz);
        return LM_OK;
    }
    const size_t iters = k < LANCZOS_ITERS ? k : LANCZOS_ITERS;
    gram g = {a, rows, cols, rows < cols, lm_malloc((rows > cols ? rows : cols) * sizeof(double))};
    lm_curv_ws *ws = NULL;
    if (!g.tmp)
        LM_FAIL(err, LM_ENOMEM, "out of memory for a %zu x %zu spectral norm", rows, cols);
    lm_status st = lm_curv_ws_new(k, iters, &ws, err);
    if (st == LM_OK) {
        lm_curv_lanczos_opts o = lm_curv_lanczos_opts_default();
        o.tol = LANCZOS_TOL;
        o.max_iter = iters;
        o.seed = 0x5eed;
        double ev = 0.0;
        lm_curv_lanczos_info info;
        st = lm_curv_lanczos(gram_apply, &g, k, &o, ws, &ev, NULL, NULL, &info, err);
        if (st == LM_OK && info.converged && ev >= 0.0)
            *out = sqrt(ev);
    }
    lm_curv_ws_free(ws);
    lm_free(g.tmp);
    return st;
}

static void release(void *state) {
    lm_free(state);
}

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    char name[48];
    const size_t L = c->m->n_layers;
    double *s0 = *c->state; /* ||W_l(0)||_2 per layer, computed at the first observation */
    if (!s0) {
        if (!(s0 = lm_malloc(L * sizeof *s0)))
            LM_FAIL(err, LM_ENOMEM, "out of memory for %zu spectral norms", L);
        for (size_t l = 0; l < L; l++) {
            const lm_layer_info *li = &c->m->layer[l];
            const double *w0 = c->theta0 + li->w_off;
            lm_status st =
                spectral_norm(w0, li->d_out, li->d_in,
                              cblas_dnrm2((int) (li->d_in * li->d_out), w0, 1), &s0[l], err);
            if (st != LM_OK) {
                lm_free(s0);
                return st;
            }
        }
        *c->state = s0;
    }
    for (size_t l = 0; l < L; l++) {
        const lm_layer_info *li = &c->m->layer[l];
        const size_t cnt = li->d_in * li->d_out;
        const double *w = c->theta + li->w_off, *w0 = c->theta0 + li->w_off;
        double *d = c->scratch;
        for (size_t i = 0; i < cnt; i++)
            d[i] = w[i] - w0[i];
        const double n0 = cblas_dnrm2((int) cnt, w0, 1), dn = cblas_dnrm2((int) cnt, d, 1);
        snprintf(name, sizeof name, "wchange_fro.%zu", l);
        LM_TRY(lm_obs_emit(sink, name, n0 > 0 ? dn / n0 : LM_NAN, err));
        double s_d = LM_NAN;
        LM_TRY(spectral_norm(d, li->d_out, li->d_in, dn, &s_d, err));
        snprintf(name, sizeof name, "wchange_spec.%zu", l);
        LM_TRY(lm_obs_emit(sink, name, s0[l] > 0 ? s_d / s0[l] : LM_NAN, err));
    }
    return LM_OK;
}

const lm_observer lm__obs_weight_change = {
    "weight_change", "wchange_fro.l, wchange_spec.l: relative change of W_l from init", observe,
    NULL, release};
