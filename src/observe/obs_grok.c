/*
 * obs_grok.c: the grokking observables (science.md §11; Nanda et al. 2023, arXiv 2301.05217;
 * Gromov 2023, arXiv 2301.02679), recorded only for data source modadd, every eval_every steps.
 * W_1 [hidden, 2p] is the stored first-layer weight; its column t (t < p) embeds token a = t of
 * the first operand, column p + t token b = t of the second.
 *
 *   fourier_sparsity  the power fraction in the top-5 frequencies of the embeddings along the
 *                     token axis: for every hidden unit j and operand o, E(t) = W_1[j, o p + t]
 *                     is transformed, F_k = sum_t E(t) e^{-2 pi i k t / p} (GSL's real FFT), and
 *                     P_k = sum_{j, o} (|F_k|^2 + |F_{p-k}|^2) for k = 1 .. floor(p/2) (a
 *                     conjugate pair is one frequency; k = p/2 for even p counted once). The DC
 *                     term k = 0 (a token-independent offset) is excluded. fourier_sparsity =
 *                     (sum of the 5 largest P_k) / (sum of all P_k): 1 when the embeddings use at
 *                     most 5 frequencies (Gromov's analytic solution restricted to 5 of them),
 *                     about 5 / floor(p/2) plus fluctuations for random weights.
 *   fourier_sparsity_unit  the same fraction per hidden unit (its own P_k over both operands,
 *                     its own top 5), averaged over the units with nonzero power: 1 when every
 *                     unit uses at most 5 frequencies even if the units together use all (as in
 *                     Gromov's full solution, where each unit has one frequency).
 *   erank.1           the effective rank of W_1: exp of the entropy of its normalised singular
 *                     values, exp(-sum_i q_i ln q_i), q_i = s_i / sum_j s_j (Roy & Vetterli 2007;
 *                     the definition obs_completion.c uses), singular values by LAPACKE_dgesdd.
 * ||w|| is param_norm (observer norms). Cost per call: 2 hidden real FFTs of length p and one
 * SVD of W_1.
 */
#include "observe/internal.h"

#include "lmech/data.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_fft_real.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOP_FREQ 5

static size_t every(const lm_config *cfg) {
    return cfg->data.source == LM_DATA_MODADD ? cfg->train.eval_every : 0;
}

static int cmp_desc(const void *a, const void *b) {
    const double x = *(const double *) a, y = *(const double *) b;
    return (x < y) - (x > y);
}

lm_status lm__obs_fourier_sparsity(const double *w1, size_t hidden, size_t p, size_t top,
                                   double *sparsity, double *unit, lm_err *err) {
    *sparsity = LM_NAN;
    if (unit)
        *unit = LM_NAN;
    if (p < 2 || hidden < 1 || top < 1)
        LM_FAIL(err, LM_EINVAL,
                "fourier sparsity: need p >= 2, hidden >= 1, top >= 1 (got %zu, "
                "%zu, %zu)",
                p, hidden, top);
    const size_t nf = p / 2; /* frequencies 1 .. floor(p/2) */
    double *buf = lm_malloc(p * sizeof *buf), *pk = lm_calloc(nf + 1, sizeof *pk);
    double *pj = lm_calloc(nf + 1, sizeof *pj), unit_sum = 0;
    size_t unit_n = 0;
    gsl_fft_real_wavetable *wt = gsl_fft_real_wavetable_alloc(p);
    gsl_fft_real_workspace *ws = gsl_fft_real_workspace_alloc(p);
    lm_status st = LM_OK;
    if (!buf || !pk || !pj || !wt || !ws)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                        "fourier sparsity: out of memory for p = %zu", p);
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    for (size_t j = 0; j < hidden && st == LM_OK; j++) {
        memset(pj, 0, (nf + 1) * sizeof *pj);
        for (size_t o = 0; o < 2 && st == LM_OK; o++) {
            memcpy(buf, w1 + j * 2 * p + o * p, p * sizeof *buf);
            if (gsl_fft_real_transform(buf, 1, p, wt, ws) != GSL_SUCCESS) {
                st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__,
                                "fourier sparsity: GSL FFT of length %zu failed", p);
                break;
            }
            /* half-complex: buf[2k-1] = Re F_k, buf[2k] = Im F_k (k < p/2); for even p,
             * buf[p-1] = F_{p/2} (real). |F_{p-k}| = |F_k| for real input. */
            for (size_t k = 1; k <= nf; k++) {
                const double pw =
                    2 * k == p ? buf[p - 1] * buf[p - 1]
                               : 2 * (buf[2 * k - 1] * buf[2 * k - 1] + buf[2 * k] * buf[2 * k]);
                pk[k] += pw;
                pj[k] += pw;
            }
        }
        /* this unit's own top-`top` fraction (both operands together) */
        double tot = 0, best = 0;
        for (size_t k = 1; k <= nf; k++)
            tot += pj[k];
        if (st == LM_OK && tot > 0) {
            qsort(pj + 1, nf, sizeof *pj, cmp_desc);
            for (size_t k = 1; k <= nf && k <= top; k++)
                best += pj[k];
            unit_sum += best / tot;
            unit_n++;
        }
    }
    gsl_set_error_handler(old);
    if (st == LM_OK) {
        double total = 0, best = 0;
        for (size_t k = 1; k <= nf; k++)
            total += pk[k];
        qsort(pk + 1, nf, sizeof *pk, cmp_desc);
        for (size_t k = 1; k <= nf && k <= top; k++)
            best += pk[k];
        *sparsity = total > 0 ? best / total : LM_NAN;
        if (unit)
            *unit = unit_n ? unit_sum / (double) unit_n : LM_NAN;
    }
    lm_free(buf);
    lm_free(pk);
    lm_free(pj);
    if (wt)
        gsl_fft_real_wavetable_free(wt);
    if (ws)
        gsl_fft_real_workspace_free(ws);
    return st;
}

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    const lm_layer_info *li = &c->m->layer[0];
    const size_t p = c->cfg->data.modulus;
    if (li->d_in != 2 * p)
        LM_FAIL(err, LM_ESHAPE, "grok: W_1 has %zu inputs, modadd with modulus %zu needs %zu",
                li->d_in, p, 2 * p);
    const double *w1 = c->theta + li->w_off;
    double sp, su;
    LM_TRY(lm__obs_fourier_sparsity(w1, li->d_out, p, TOP_FREQ, &sp, &su, err));
    LM_TRY(lm_obs_emit(sink, "fourier_sparsity", sp, err));
    LM_TRY(lm_obs_emit(sink, "fourier_sparsity_unit", su, err));
    const size_t r = li->d_in, cc = li->d_out, k = r < cc ? r : cc;
    double *a = lm_malloc(r * cc * sizeof *a), *s = lm_malloc(k * sizeof *s);
    if (!a || !s) {
        lm_free(a);
        lm_free(s);
        LM_FAIL(err, LM_ENOMEM, "grok: out of memory for W_1 [%zu, %zu]", cc, r);
    }
    memcpy(a, w1, r * cc * sizeof *a);
    const lapack_int info =
        LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (lapack_int) cc, (lapack_int) r, a, (lapack_int) r, s,
                       NULL, (lapack_int) cc, NULL, (lapack_int) r);
    lm_free(a);
    lm_status st = LM_OK;
    if (info != 0)
        st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__,
                        "grok: LAPACKE_dgesdd failed (info %d) on W_1 [%zu, %zu]", (int) info, cc,
                        r);
    else
        st = lm_obs_emit(sink, "erank.1", lm__obs_effective_rank(s, k), err);
    lm_free(s);
    return st;
}

const lm_observer lm__obs_grok = {
    "grok",
    "modadd: fourier_sparsity (top-5 DFT power fraction of W_1's token embeddings), erank.1",
    observe, every, NULL};
