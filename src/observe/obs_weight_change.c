/*
 * obs_weight_change.c: the final-weights layer: per linear layer l, the relative change from
 * initialisation ||W_l - W_l(0)|| / ||W_l(0)|| in the Frobenius norm (wchange_fro.l) and in the
 * spectral norm (wchange_spec.l). Spectral norms are the largest singular values from LAPACK's
 * dgesdd (values only), so they are exact, not power-iteration estimates.
 */
#include "observe/internal.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Largest singular value of the [rows, cols] row-major matrix a (overwritten). */
static lm_status spectral_norm(double *a, size_t rows, size_t cols, double *out, lm_err *err) {
    const size_t k = rows < cols ? rows : cols;
    double *s = lm_malloc(k * sizeof *s);
    if (!s)
        LM_FAIL(err, LM_ENOMEM, "out of memory for %zu singular values", k);
    lapack_int info =
        LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (lapack_int) rows, (lapack_int) cols, a,
                       (lapack_int) cols, s, NULL, (lapack_int) rows, NULL, (lapack_int) cols);
    *out = info == 0 ? s[0] : LM_NAN;
    lm_free(s);
    return LM_OK;
}

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    char name[48];
    for (size_t l = 0; l < c->m->n_layers; l++) {
        const lm_layer_info *li = &c->m->layer[l];
        const size_t cnt = li->d_in * li->d_out;
        const double *w = c->theta + li->w_off, *w0 = c->theta0 + li->w_off;
        double *d = c->scratch;
        for (size_t i = 0; i < cnt; i++)
            d[i] = w[i] - w0[i];
        const double n0 = cblas_dnrm2((int) cnt, w0, 1), dn = cblas_dnrm2((int) cnt, d, 1);
        snprintf(name, sizeof name, "wchange_fro.%zu", l);
        LM_TRY(lm_obs_emit(sink, name, n0 > 0 ? dn / n0 : LM_NAN, err));
        double s_d = LM_NAN, s_0 = LM_NAN;
        LM_TRY(spectral_norm(d, li->d_out, li->d_in, &s_d, err));
        memcpy(d, w0, cnt * sizeof *d);
        LM_TRY(spectral_norm(d, li->d_out, li->d_in, &s_0, err));
        snprintf(name, sizeof name, "wchange_spec.%zu", l);
        LM_TRY(lm_obs_emit(sink, name, s_0 > 0 ? s_d / s_0 : LM_NAN, err));
    }
    return LM_OK;
}

const lm_observer lm__obs_weight_change = {
    "weight_change", "wchange_fro.l, wchange_spec.l: relative change of W_l from init", observe,
    NULL, NULL};
