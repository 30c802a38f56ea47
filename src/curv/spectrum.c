/*
 * spectrum.c: one Hessian report from an operator: the top (and bottom) eigenvalues with their
 * verified residuals, the trace and the spectral density, by Lanczos + Hutchinson + SLQ or by the
 * dense matrix + LAPACK. This is the composition `lmech hessian` prints and the Python package
 * returns (lmech.hessian), kept here so that both run the same code.
 *
 * Memory is bounded before anything is allocated: the Lanczos basis (max_iter + 1 vectors of p,
 * fewer steps when the bound demands and max_iter was not given) or the dense matrix with its
 * top eigenvectors ((p + top) p doubles). Workload: the products dominate (Lanczos steps plus the
 * verification products, probes for the trace, slq_probes x slq_steps for the density).
 */
#include "lmech/curv.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define DEFAULT_MAX_ITER 300

lm_curv_spectrum_opts lm_curv_spectrum_opts_default(void) {
    lm_curv_spectrum_opts o;
    memset(&o, 0, sizeof o);
    o.top = 1;
    o.tol = 1e-6;
    o.probes = 100;    /* stderr ~ 14% of ||offdiag H||_F: a quick look; 1000 for tests */
    o.slq_probes = 10; /* science.md §4: m = 80 steps x 10 probes pass the W1 check      */
    o.slq_steps = 80;
    o.bins = 1000; /* 10000 for PyHessian's grid; 1000 keeps a JSON dump < 128 kB */
    o.max_mb = 1024;
    return o;
}

void lm_curv_spectrum_clear(lm_curv_spectrum *s) {
    if (!s)
        return;
    lm_free(s->evals);
    lm_free(s->res);
    lm_free(s->small);
    lm_free(s->small_res);
    lm_free(s->nodes);
    lm_free(s->weights);
    lm_free(s->grid);
    lm_free(s->values);
    memset(s, 0, sizeof *s);
}

static lm_status alloc_doubles(double **out, size_t n, lm_err *err) {
    *out = lm_malloc((n ? n : 1) * sizeof(double));
    if (!*out)
        LM_FAIL(err, LM_ENOMEM, "out of memory for %zu numbers", n);
    return LM_OK;
}

/* Dense route: the whole matrix, all eigenvalues, the top-k vectors, their residuals. H and evecs
 * are scratch owned by the caller (freed whatever happens). */
static lm_status run_dense(lm_linop_fn op, void *ud, size_t p, const lm_curv_spectrum_opts *j,
                           lm_curv_spectrum *r, double **H, double **evecs, double **all,
                           lm_err *err) {
    double max_bytes = (double) j->max_mb * 1048576.0;
    /* the matrix and the top eigenvectors */
    double need = ((double) p + (double) j->top) * (double) p * 8.0;
    if (need > max_bytes)
        LM_FAIL(err, LM_ELIMIT,
                "dense Hessian of p = %zu parameters (and %zu eigenvectors) needs %.0f MiB, above "
                "the bound of %zu MiB (--max-memory); raise it or use the Lanczos method",
                p, j->top, need / 1048576.0, j->max_mb);
    if (j->top > p || j->smallest > p)
        LM_FAIL(err, LM_EINVAL, "top %zu / smallest %zu: the model has %zu parameters", j->top,
                j->smallest, p);
    LM_TRY(alloc_doubles(H, p * p, err));
    LM_TRY(alloc_doubles(all, p, err));
    LM_TRY(alloc_doubles(evecs, j->top * p, err));
    LM_TRY(alloc_doubles(&r->evals, j->top, err));
    LM_TRY(alloc_doubles(&r->res, j->top, err));
    LM_TRY(lm_curv_dense(op, ud, p, p, *H, NULL, err));
    r->trace = 0;
    for (size_t i = 0; i < p; i++)
        r->trace += (*H)[i * p + i];
    r->trace_se = 0;
    LM_TRY(lm_curv_dense_eig(p, *H, *all, j->top, *evecs, err));
    memcpy(r->evals, *all, j->top * sizeof(double));
    double *hv = *H; /* H is spent: reuse it as scratch for the residual products */
    /* the same measure as Lanczos' (lm_curv_rel_resid), so an eigenvalue that is zero to
     * rounding (or the zero Hessian, 0 / 0 = 0) has a finite one */
    const double hnorm = fmax(fabs((*all)[0]), fabs((*all)[p - 1]));
    for (size_t i = 0; i < j->top; i++) {
        LM_TRY(op(ud, *evecs + i * p, hv, err));
        for (size_t c = 0; c < p; c++)
            hv[c] -= (*all)[i] * (*evecs)[i * p + c];
        double rn = cblas_dnrm2((int) p, hv, 1); /* scaled: no overflow of squares near 1e154 */
        r->res[i] = lm_curv_rel_resid(rn, (*all)[i], hnorm);
    }
    r->converged = 1;
    if (j->smallest) {
        LM_TRY(alloc_doubles(&r->small, j->smallest, err));
        for (size_t i = 0; i < j->smallest; i++)
            r->small[i] = (*all)[p - 1 - i];
    }
    if (j->density) { /* the exact spectrum, broadened the same way as SLQ's nodes */
        LM_TRY(alloc_doubles(&r->weights, p, err));
        LM_TRY(alloc_doubles(&r->grid, j->bins, err));
        LM_TRY(alloc_doubles(&r->values, j->bins, err));
        for (size_t i = 0; i < p; i++)
            r->weights[i] = 1.0 / (double) p;
        LM_TRY(lm_curv_density(1, p, *all, r->weights, j->bins, 0, r->grid, r->values, err));
    }
    return LM_OK;
}

static lm_status run_lanczos(lm_linop_fn op, void *ud, size_t p, const lm_curv_spectrum_opts *j,
                             lm_curv_spectrum *r, lm_curv_ws **cws, lm_err *err) {
    if (j->top > p || j->smallest > p)
        LM_FAIL(err, LM_EINVAL, "top %zu / smallest %zu: the model has %zu parameters", j->top,
                j->smallest, p);
    double max_bytes = (double) j->max_mb * 1048576.0;
    size_t cap = j->max_iter ? j->max_iter : DEFAULT_MAX_ITER;
    if (j->density && j->slq_steps > cap)
        cap = j->slq_steps;
    if (cap > p)
        cap = p;
    if ((double) lm_curv_ws_bytes(p, cap) > max_bytes) {
        size_t fit = (size_t) (max_bytes / (8.0 * (double) p));
        fit = fit > 4 ? fit - 4 : 0;
        if (j->max_iter || fit < 8 || (j->density && fit < j->slq_steps))
            LM_FAIL(err, LM_ELIMIT,
                    "a Lanczos basis of %zu x %zu needs %.0f MiB, above the bound of %zu MiB "
                    "(--max-memory); raise it or lower the Lanczos / SLQ steps",
                    cap + 1, p, (double) lm_curv_ws_bytes(p, cap) / 1048576.0, j->max_mb);
        cap = fit;
    }
    if (j->top > cap || j->smallest > cap)
        LM_FAIL(err, LM_EINVAL,
                "top %zu / smallest %zu: more eigenpairs than the %zu Lanczos steps allowed "
                "(--max-iter / --max-memory)",
                j->top, j->smallest, cap);
    LM_TRY(lm_curv_ws_new(p, cap, cws, err));
    lm_curv_lanczos_opts o = lm_curv_lanczos_opts_default();
    o.k = j->top;
    o.tol = j->tol;
    o.seed = j->seed;
    LM_TRY(alloc_doubles(&r->evals, j->top, err));
    LM_TRY(alloc_doubles(&r->res, j->top, err));
    lm_curv_lanczos_info info;
    LM_TRY(lm_curv_lanczos(op, ud, p, &o, *cws, r->evals, NULL, r->res, &info, err));
    r->iters = info.iters;
    r->converged = info.converged;
    if (j->smallest) {
        o.k = j->smallest;
        o.which = LM_CURV_SMALLEST;
        LM_TRY(alloc_doubles(&r->small, j->smallest, err));
        LM_TRY(alloc_doubles(&r->small_res, j->smallest, err));
        LM_TRY(lm_curv_lanczos(op, ud, p, &o, *cws, r->small, NULL, r->small_res, &info, err));
        r->iters += info.iters;
        r->converged = r->converged && info.converged;
    }
    if (j->trace)
        LM_TRY(lm_curv_hutchinson(op, ud, p, j->probes, j->seed, *cws, &r->trace, &r->trace_se,
                                  NULL, err));
    if (j->density) {
        /* a Krylov space of a p x p matrix has at most p dimensions: a tiny model gets p steps,
         * which make SLQ exact up to the probes' weights */
        size_t m = j->slq_steps < cap ? j->slq_steps : cap, n = j->slq_probes * m;
        r->slq_steps = m;
        LM_TRY(alloc_doubles(&r->nodes, n, err));
        LM_TRY(alloc_doubles(&r->weights, n, err));
        LM_TRY(alloc_doubles(&r->grid, j->bins, err));
        LM_TRY(alloc_doubles(&r->values, j->bins, err));
        LM_TRY(lm_curv_slq(op, ud, p, j->slq_probes, m, j->seed ^ 0x51ULL, *cws, r->nodes,
                           r->weights, &r->slq_trace, err));
        LM_TRY(lm_curv_density(j->slq_probes, m, r->nodes, r->weights, j->bins, 0, r->grid,
                               r->values, err));
    }
    return LM_OK;
}

lm_status lm_curv_spectrum_run(lm_linop_fn op, void *ud, size_t p,
                               const lm_curv_spectrum_opts *opts, lm_curv_spectrum *out,
                               lm_err *err) {
    if (!op || !opts || !out)
        LM_FAIL(err, LM_EINVAL, "lm_curv_spectrum_run: op, opts or out is NULL");
    if (p == 0)
        LM_FAIL(err, LM_ESHAPE, "the operator has dimension 0");
    if (opts->top == 0)
        LM_FAIL(err, LM_EINVAL, "top 0: at least one eigenvalue is asked for");
    if (!(opts->tol > 0) || !isfinite(opts->tol))
        LM_FAIL(err, LM_EINVAL, "tol %g: expected a positive tolerance", opts->tol);
    if ((opts->trace && opts->probes < 2) ||
        (opts->density && (opts->slq_probes == 0 || opts->slq_steps == 0 || opts->bins < 2)))
        LM_FAIL(err, LM_EINVAL,
                "probes %zu, slq_probes %zu, slq_steps %zu, bins %zu: the trace needs at least 2 "
                "probes, the density at least 1 probe, 1 step and 2 bins",
                opts->probes, opts->slq_probes, opts->slq_steps, opts->bins);
    lm_curv_spectrum r;
    memset(&r, 0, sizeof r);
    lm_curv_ws *cws = NULL;
    double *H = NULL, *evecs = NULL, *all = NULL;
    lm_status st = opts->dense ? run_dense(op, ud, p, opts, &r, &H, &evecs, &all, err)
                               : run_lanczos(op, ud, p, opts, &r, &cws, err);
    lm_curv_ws_free(cws);
    lm_free(H);
    lm_free(evecs);
    lm_free(all);
    if (st != LM_OK) {
        lm_curv_spectrum_clear(&r);
        return st;
    }
    *out = r;
    return LM_OK;
}
