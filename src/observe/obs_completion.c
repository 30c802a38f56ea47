/*
 * obs_completion.c: the matrix-completion observables (science.md §1(d); Arora, Cohen, Hu, Luo
 * 2019), recorded only for data source matrix-completion. The training inputs are x = I, so the
 * engine's forward pass on them gives the end-to-end matrix: output row j is column j of
 * P = W_N ... W_1, i.e. the outputs are F = P^T, fitted to y = M*^T (data.h). Every quantity below
 * is invariant under transposing both, so it is computed on F and M*^T directly.
 *
 *   completion_error  ||P_{Omega^c}(P - M*)||_F / ||P_{Omega^c}(M*)||_F, the relative error on the
 *                     unobserved entries (NaN without a test set or with every entry observed);
 *                     Omega is read from the training targets (NaN = unobserved), M* from the
 *                     test set (the full matrix)
 *   train_rmse        sqrt(mean over Omega of (P - M*)^2)
 *   erank             effective rank exp(-sum_i p_i ln p_i), p_i = sigma_i / sum_j sigma_j, of P
 *                     (Roy & Vetterli 2007), singular values by LAPACKE_dgesdd
 *   erank_target      the same of M* (NaN without a test set)
 *   sv.i, sv_target.i the i-th largest singular value of P and of M*, i = 1 .. min(dim, 10)
 */
#include "observe/internal.h"

#include "lmech/data.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define N_SV 10 /* singular values recorded per matrix */

static size_t every(const lm_config *cfg) {
    return cfg->data.source == LM_DATA_MATRIX_COMPLETION ? cfg->train.eval_every : 0;
}

/* Singular values of a [n, n] (destroyed) into s [n], descending. */
static lm_status singular_values(double *a, size_t n, double *s, lm_err *err) {
    const lapack_int info =
        LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (lapack_int) n, (lapack_int) n, a, (lapack_int) n, s,
                       NULL, (lapack_int) n, NULL, (lapack_int) n);
    if (info != 0)
        LM_FAIL(err, LM_ENUMERIC,
                "completion: LAPACKE_dgesdd failed (info %d) on a %zu x %zu "
                "matrix",
                (int) info, n, n);
    return LM_OK;
}

/* exp(-sum p_i ln p_i), p_i = s_i / sum s (NaN when every s_i is 0). */
double lm__obs_effective_rank(const double *s, size_t n) {
    double sum = 0.0, h = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += s[i];
    if (!(sum > 0.0))
        return LM_NAN;
    for (size_t i = 0; i < n; i++) {
        const double p = s[i] / sum;
        if (p > 0.0)
            h -= p * log(p);
    }
    return exp(h);
}

static lm_status emit_spectrum(lm_obs_sink *sink, const char *base, const double *s, size_t n,
                               lm_err *err) {
    char name[32];
    for (size_t i = 0; i < n && i < N_SV; i++) {
        snprintf(name, sizeof name, "%s.%zu", base, i + 1);
        LM_TRY(lm_obs_emit(sink, name, s[i], err));
    }
    return LM_OK;
}

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    const lm_dataset *tr = c->train, *te = c->test;
    const size_t n = tr->n, k = tr->k;
    if (tr->d != n || k != n)
        LM_FAIL(err, LM_ESHAPE,
                "completion: the training set is %zu x %zu inputs, %zu outputs; the "
                "matrix-completion source gives x = I (dim x dim) and dim outputs",
                n, tr->d, k);
    const int full = te && te->n == n && te->k == k;
    double *f = lm_malloc((2 * n * n + n) * sizeof *f), *a = f + n * n, *s = a + n * n;
    if (!f)
        LM_FAIL(err, LM_ENOMEM, "completion: out of memory for a %zu x %zu matrix", n, n);
    lm_status st = LM_OK;
    /* F = the network's outputs on x = I, by the engine's forward pass */
    for (size_t lo = 0; lo < n && st == LM_OK; lo += c->ws_n) {
        const size_t cnt = n - lo < c->ws_n ? n - lo : c->ws_n;
        st = lm_mlp_forward(c->m, c->ws, c->theta, tr->x + lo * n, cnt, f + lo * k, err);
    }
    double obs_ss = 0.0, un_ss = 0.0, un_ref = 0.0;
    size_t n_obs = 0;
    for (size_t i = 0; st == LM_OK && i < n * n; i++) {
        if (!isnan(tr->y[i])) {
            const double r = f[i] - tr->y[i];
            obs_ss += r * r;
            n_obs++;
        } else if (full) {
            const double r = f[i] - te->y[i];
            un_ss += r * r;
            un_ref += te->y[i] * te->y[i];
        }
    }
    if (st == LM_OK)
        st = lm_obs_emit(sink, "train_rmse", n_obs ? sqrt(obs_ss / (double) n_obs) : LM_NAN, err);
    if (st == LM_OK)
        st = lm_obs_emit(sink, "completion_error",
                         full && un_ref > 0.0 ? sqrt(un_ss / un_ref) : LM_NAN, err);
    if (st == LM_OK) {
        memcpy(a, f, n * n * sizeof *a);
        st = singular_values(a, n, s, err);
    }
    if (st == LM_OK)
        st = lm_obs_emit(sink, "erank", lm__obs_effective_rank(s, n), err);
    if (st == LM_OK)
        st = emit_spectrum(sink, "sv", s, n, err);
    if (st == LM_OK && full) {
        memcpy(a, te->y, n * n * sizeof *a);
        st = singular_values(a, n, s, err);
        if (st == LM_OK)
            st = lm_obs_emit(sink, "erank_target", lm__obs_effective_rank(s, n), err);
        if (st == LM_OK)
            st = emit_spectrum(sink, "sv_target", s, n, err);
    }
    lm_free(f);
    return st;
}

const lm_observer lm__obs_completion = {
    "completion",
    "matrix-completion: completion_error (unobserved entries), train_rmse, erank and the top "
    "singular values sv.i of the end-to-end matrix, and erank_target, sv_target.i of M*",
    observe, every, NULL};
