/*
 * obs_modes.c: the deep linear network's task modes (science.md §1; Saxe et al. 2014). When the
 * run's data are linear-modes (Sigma^yx = U diag(s) V^T, data.h) and the network is linear
 * (identity activation, or one layer), it records for k = 1..r (the order of
 * data.singular_values)
 *     mode.k        u_k = U_k^T M V_k,
 *     mode_offdiag  ||M - sum_k u_k U_k V_k^T||_F, what the map holds outside the modes' diagonal,
 * with M = (w_scale_N W_N) ... (w_scale_1 W_1) the EFFECTIVE end-to-end map (forward multipliers
 * and output_multiplier included; biases, which the aligned initialisation refuses, are left
 * out). Other runs emit nothing. U and V come from lm_data_linear_modes (the data's very modes)
 * and are kept in the observer's state; M is one chain of GEMMs from the d_in x d_in identity,
 * ~sum_l h_l h_{l-1} d_in flops, negligible at the sizes of §1.
 */
#include "observe/internal.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct modes_state {
    size_t r, d_in, d_out;
    double *U, *V; /* [d_out, r], [d_in, r] */
    double *a, *b; /* [max width, d_in] ping-pong buffers for the product */
} modes_state;

static void release(void *p) {
    modes_state *s = p;
    if (!s)
        return;
    lm_free(s->U);
    lm_free(s->V);
    lm_free(s->a);
    lm_free(s->b);
    lm_free(s);
}

static lm_status state_new(const lm_obs_ctx *c, modes_state **out, lm_err *err) {
    const lm_data_spec *d = &c->cfg->data;
    const lm_mlp *m = c->m;
    size_t hmax = m->d_in;
    for (size_t l = 0; l < m->n_layers; l++)
        if (m->layer[l].d_out > hmax)
            hmax = m->layer[l].d_out;
    modes_state *s = lm_calloc(1, sizeof *s);
    if (s) {
        s->r = d->n_sv;
        s->d_in = m->d_in;
        s->d_out = m->d_out;
        s->U = lm_malloc(m->d_out * s->r * sizeof *s->U);
        s->V = lm_malloc(m->d_in * s->r * sizeof *s->V);
        s->a = lm_malloc(hmax * m->d_in * sizeof *s->a);
        s->b = lm_malloc(hmax * m->d_in * sizeof *s->b);
    }
    if (!s || !s->U || !s->V || !s->a || !s->b) {
        release(s);
        LM_FAIL(err, LM_ENOMEM, "out of memory for the mode observer");
    }
    lm_status st = lm_data_linear_modes(d, c->cfg->seed, s->U, s->V, err);
    if (st != LM_OK) {
        release(s);
        return st;
    }
    *out = s;
    return LM_OK;
}

static lm_status observe(const lm_obs_ctx *c, lm_obs_sink *sink, lm_err *err) {
    const lm_mlp *m = c->m;
    if (c->cfg->data.source != LM_DATA_LINEAR_MODES || !lm_mlp_is_chain(m) ||
        (m->n_layers > 1 && m->spec.act != LM_ACT_IDENTITY))
        return LM_OK;
    if (m->d_in != c->cfg->data.dim || m->d_out != c->cfg->data.outputs)
        return LM_OK; /* not the data's map (the trainer refuses such runs anyway) */
    if (!*c->state)
        LM_TRY(state_new(c, (modes_state **) c->state, err));
    modes_state *s = *c->state;
    const size_t d = s->d_in, k = s->d_out, r = s->r;
    /* M = prod_l w_scale_l W_l, built as P_l = w_scale_l W_l P_{l-1} from P_0 = I */
    double *p = s->a, *q = s->b;
    memset(p, 0, d * d * sizeof *p);
    for (size_t j = 0; j < d; j++)
        p[j * d + j] = 1.0;
    for (size_t l = 0; l < m->n_layers; l++) {
        const lm_layer_info *li = &m->layer[l];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) li->d_out, (int) d,
                    (int) li->d_in, li->w_scale, c->theta + li->w_off, (int) li->d_in, p, (int) d,
                    0.0, q, (int) d);
        double *t = p;
        p = q;
        q = t;
    }
    /* p = M [k, d]; u_q = U_q^T M V_q, then M minus its modes' part, in place */
    char name[32];
    for (size_t a = 0; a < r; a++) {
        double u = 0.0;
        for (size_t i = 0; i < k; i++) {
            double mv = 0.0;
            for (size_t j = 0; j < d; j++)
                mv += p[i * d + j] * s->V[j * r + a];
            u += s->U[i * r + a] * mv;
        }
        snprintf(name, sizeof name, "mode.%zu", a + 1);
        LM_TRY(lm_obs_emit(sink, name, u, err));
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < d; j++)
                p[i * d + j] -= u * s->U[i * r + a] * s->V[j * r + a];
    }
    double off = 0.0;
    for (size_t i = 0; i < k * d; i++)
        off += p[i] * p[i];
    return lm_obs_emit(sink, "mode_offdiag", sqrt(off), err);
}

const lm_observer lm__obs_modes = {
    "modes",
    "linear-modes data with a linear network: mode.k = U_k^T W_N...W_1 V_k (k = 1..r, effective "
    "weights) and mode_offdiag = ||W_N...W_1 - sum_k mode.k U_k V_k^T||_F",
    observe, NULL, release};
