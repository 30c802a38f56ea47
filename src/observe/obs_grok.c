/*
 * obs_grok.c: the grokking observables (science.md §11; Nanda et al. 2023, arXiv 2301.05217;
 * Gromov 2023, arXiv 2301.02679), recorded only for data source modadd, every eval_every steps.
 * The token embeddings E_j(t) they read, for tokens t < p:
 *   a dense chain (model.widths): W_1 [hidden, 2p], the stored first-layer weight; its column t
 *     embeds token a = t of the first operand, column p + t token b = t of the second, so unit j
 *     has two embeddings (operands), E_{j,o}(t) = W_1[j, o p + t];
 *   a layer graph whose first layer is an embedding (model.arch "gpt" on modadd tokens): the token
 *     table tok_emb [vocab, d], row t the embedding of token t (shared by both operands; rows
 *     p.. are the "=" token and beyond, not residues), so feature j has one embedding,
 *     E_j(t) = tok_emb[t, j], t < p.
 *
 *   fourier_sparsity  the power fraction in the top-5 frequencies of the embeddings along the
 *                     token axis: every E_{j,o} is transformed, F_k = sum_t E(t) e^{-2 pi i k t/p}
 *                     (GSL's real FFT), and P_k = sum_{j, o} (|F_k|^2 + |F_{p-k}|^2) for
 *                     k = 1 .. floor(p/2) (a conjugate pair is one frequency; k = p/2 for even p
 *                     counted once). The DC term k = 0 (a token-independent offset) is excluded.
 *                     fourier_sparsity = (sum of the 5 largest P_k) / (sum of all P_k): 1 when
 *                     the embeddings use at most 5 frequencies (Gromov's analytic solution
 *                     restricted to 5 of them), about 5 / floor(p/2) plus fluctuations for random
 *                     weights.
 *   fourier_sparsity_unit  the same fraction per unit j (its own P_k over its operands, its own
 *                     top 5), averaged over the units with nonzero power: 1 when every unit uses
 *                     at most 5 frequencies even if the units together use all (as in Gromov's
 *                     full solution, where each unit has one frequency).
 *   erank.1           the effective rank of W_1 (of tok_emb[:p] [p, d] for an embedding): exp of
 *                     the entropy of its normalised singular values, exp(-sum_i q_i ln q_i),
 *                     q_i = s_i / sum_j s_j (Roy & Vetterli 2007; the definition
 *                     obs_completion.c uses), singular values by LAPACKE_dgesdd.
 * The stored weights are read: a forward multiplier scales every E alike and cancels in both
 * fractions and in erank. ||w|| is param_norm (observer norms). Cost per call: one real FFT of
 * length p per embedding and one SVD.
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

lm_status lm__obs_fourier_sparsity(const double *w, const lm__fourier_layout *lay, size_t p,
                                   size_t top, double *sparsity, double *unit, lm_err *err) {
    *sparsity = LM_NAN;
    if (unit)
        *unit = LM_NAN;
    if (p < 2 || lay->units < 1 || lay->operands < 1 || top < 1)
        LM_FAIL(err, LM_EINVAL,
                "fourier sparsity: need p >= 2, units >= 1, operands >= 1, top >= 1 (got %zu, "
                "%zu, %zu, %zu)",
                p, lay->units, lay->operands, top);
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
    for (size_t j = 0; j < lay->units && st == LM_OK; j++) {
        memset(pj, 0, (nf + 1) * sizeof *pj);
        for (size_t o = 0; o < lay->operands && st == LM_OK; o++) {
            const double *e = w + j * lay->unit_stride + o * lay->operand_stride;
            for (size_t t = 0; t < p; t++)
                buf[t] = e[t * lay->token_stride];
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
        /* this unit's own top-`top` fraction (its operands together) */
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

/* 1 when the model's first layer is a token embedding (a layer graph from model.layers or
 * model.arch "gpt"): its first tensor is then the token table [vocab, d]. */
static int embeds_tokens(const lm_mlp *m) {
    return m->graph && m->spec.n_layer_specs > 0 && m->spec.layers[0].type == LM_LAYER_EMBEDDING &&
           m->n_tensors > 0 && m->tensor[0].ndim == 2;
}

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    const size_t p = c->cfg->data.modulus;
    const double *w;
    lm__fourier_layout lay;
    size_t rows, cols; /* the matrix whose erank is recorded, row-major, contiguous */
    if (embeds_tokens(c->m)) {
        const lm_tensor_info *ti = &c->m->tensor[0];
        if (ti->shape[0] < p)
            LM_FAIL(err, LM_ESHAPE,
                    "grok: %s has %zu token rows, modadd with modulus %zu needs at least %zu",
                    ti->name, ti->shape[0], p, p);
        w = c->theta + ti->off;
        lay = (lm__fourier_layout){ti->shape[1], 1, 1, 0, ti->shape[1]};
        rows = p, cols = ti->shape[1];
    } else {
        const lm_layer_info *li = &c->m->layer[0];
        if (li->d_in != 2 * p)
            LM_FAIL(err, LM_ESHAPE,
                    "grok: W_1 has %zu inputs, modadd with modulus %zu needs %zu (or a model "
                    "whose first layer is a token embedding)",
                    li->d_in, p, 2 * p);
        w = c->theta + li->w_off;
        lay = (lm__fourier_layout){li->d_out, 2, 2 * p, p, 1};
        rows = li->d_out, cols = li->d_in;
    }
    double sp, su;
    LM_TRY(lm__obs_fourier_sparsity(w, &lay, p, TOP_FREQ, &sp, &su, err));
    LM_TRY(lm_obs_emit(sink, "fourier_sparsity", sp, err));
    LM_TRY(lm_obs_emit(sink, "fourier_sparsity_unit", su, err));
    const size_t k = rows < cols ? rows : cols;
    double *a = lm_malloc(rows * cols * sizeof *a), *s = lm_malloc(k * sizeof *s);
    if (!a || !s) {
        lm_free(a);
        lm_free(s);
        LM_FAIL(err, LM_ENOMEM, "grok: out of memory for a [%zu, %zu] SVD", rows, cols);
    }
    memcpy(a, w, rows * cols * sizeof *a);
    const lapack_int info =
        LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (lapack_int) rows, (lapack_int) cols, a,
                       (lapack_int) cols, s, NULL, (lapack_int) rows, NULL, (lapack_int) cols);
    lm_free(a);
    lm_status st = LM_OK;
    if (info != 0)
        st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__,
                        "grok: LAPACKE_dgesdd failed (info %d) on a [%zu, %zu] matrix", (int) info,
                        rows, cols);
    else
        st = lm_obs_emit(sink, "erank.1", lm__obs_effective_rank(s, k), err);
    lm_free(s);
    return st;
}

const lm_observer lm__obs_grok = {
    "grok",
    "modadd: fourier_sparsity (top-5 DFT power fraction of the token embeddings: W_1's columns "
    "or tok_emb's rows), erank.1",
    observe, every, NULL};
