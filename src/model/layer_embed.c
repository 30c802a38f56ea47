/*
 * layer_embed.c: the sequence layers. embedding: token ids [T] (the model's input, [T, 1, 1])
 * -> [1, T, d] = tok_emb[id_t] + pos_emb[t] (two nn.Embedding tables: tok [vocab, d] then
 * pos [T, d], learned positions as GPT-2's), times the parameterization's multiplier m = w_mul
 * (1 except under ntp). last: a sequence's last position, [1, T, d] -> [d] (x[:, -1] in
 * PyTorch), for models that predict at the last position only.
 *
 * Derivatives. The embedding is linear in (tok, pos) and its input (token ids) does not move:
 *   backward   g_tok[v] = m Sum_{(e,t): id = v} gy[e,t],  g_pos[t] = m Sum_e gy[e,t]
 *   jvp        dy[e,t] = m (vtok[id] + vpos[t])            (dx must be NULL: ids are data)
 *   rbackward  R{g_tok}, R{g_pos}: backward's sums of rgy; no second-order term (linear in th,
 *              and gy's coefficient does not depend on th).
 * last is a linear selection S: y = S x, gx = S^T gy, dy = S dx, R{gx} = S^T rgy.
 * The embedding's fan-in for the parameterization is 1 (a one-hot input has one active
 * coordinate: TP-V's input weights), so sp draws N(0, sw2) as nn.Embedding's N(0, 1).
 */
#include "model/layer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define T         double
#define SFX(name) name##_f64
#include "model/seq_impl.h"
#undef T
#undef SFX
#define T         float
#define SFX(name) name##_f32
#include "model/seq_impl.h"
#undef T
#undef SFX

/* ---------------------------------------------------------------- embedding */

static lm_status embed_build(lm__node *nd, lm_err *err) {
    if (nd->seq || nd->in_shape[1] != 1 || nd->in_shape[2] != 1)
        LM_FAIL(err, LM_ESHAPE,
                "%s (embedding): its input is [%zu, %zu, %zu]; an embedding reads the model's "
                "input, T token ids (model.input_shape [T])",
                nd->where, nd->in_shape[0], nd->in_shape[1], nd->in_shape[2]);
    if (nd->spec.vocab == 0)
        LM_FAIL(err, LM_EINVAL, "%s (embedding): \"vocab\" must be a positive number of tokens",
                nd->where);
    if (nd->spec.out == 0)
        LM_FAIL(err, LM_EINVAL, "%s (embedding): \"out\" must be a positive number of features",
                nd->where);
    const size_t len = nd->in_shape[0], d = nd->spec.out;
    nd->out_shape[0] = 1;
    nd->out_shape[1] = len;
    nd->out_shape[2] = d;
    nd->rows = len;
    nd->n_tensors = 2;
    nd->has_bias = 0; /* two tables, no bias */
    nd->kind[0] = nd->kind[1] = LM_TENSOR_WEIGHT;
    nd->tname[0] = "tok_emb.weight";
    nd->tname[1] = "pos_emb.weight";
    nd->tndim[0] = nd->tndim[1] = 2;
    nd->tshape[0][0] = nd->spec.vocab;
    nd->tshape[0][1] = d;
    nd->tshape[1][0] = len;
    nd->tshape[1][1] = d;
    nd->fan_in = 1;
    return LM_OK;
}

#define E_DIMS                                                                                     \
    const size_t len = nd->in_shape[0], d = nd->spec.out, vocab = nd->spec.vocab;                  \
    (void) vocab
#define POS(th) ((th) + vocab * d)

static void embed_forward_f64(const lm__node *nd, const double *th, const double *x, double *y,
                              size_t n, double *scr) {
    E_DIMS;
    (void) scr;
    embed_f64(th, POS(th), nd->w_mul, x, y, n, len, d);
}

static void embed_backward_f64(const lm__node *nd, const double *th, const double *x,
                               const double *y, const double *gy, double *gx, int gx_acc,
                               double *gth, size_t n, double *scr) {
    E_DIMS;
    (void) th, (void) y, (void) gx, (void) gx_acc, (void) scr;
    embed_grad_f64(gy, nd->w_mul, x, gth, POS(gth), n, len, d, vocab);
}

static void embed_jvp_f64(const lm__node *nd, const double *th, const double *vth, const double *x,
                          const double *dx, const double *y, double *dy, size_t n, double *scr) {
    E_DIMS;
    (void) th, (void) dx, (void) y, (void) scr;
    if (vth)
        embed_f64(vth, POS(vth), nd->w_mul, x, dy, n, len, d);
    else
        memset(dy, 0, n * len * d * sizeof *dy);
}

static void embed_rbackward_f64(const lm__node *nd, const double *th, const double *vth,
                                const double *x, const double *dx, const double *y,
                                const double *dy, const double *gy, const double *rgy, double *rgx,
                                int rgx_acc, double *hth, size_t n, double *scr) {
    E_DIMS;
    (void) th, (void) vth, (void) dx, (void) y, (void) dy, (void) gy, (void) rgx, (void) rgx_acc,
        (void) scr;
    embed_grad_f64(rgy, nd->w_mul, x, hth, POS(hth), n, len, d, vocab);
}

static void embed_forward_f32(const lm__node *nd, const float *th, const float *x, float *y,
                              size_t n, double *scr) {
    E_DIMS;
    (void) scr;
    embed_f32(th, POS(th), nd->w_mul, x, y, n, len, d);
}

static void embed_backward_f32(const lm__node *nd, const float *th, const float *x, const float *y,
                               const float *gy, float *gx, int gx_acc, float *gth, size_t n,
                               double *scr) {
    E_DIMS;
    (void) th, (void) y, (void) gx, (void) gx_acc, (void) scr;
    embed_grad_f32(gy, nd->w_mul, x, gth, POS(gth), n, len, d, vocab);
}

static void embed_jvp_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                          const float *dx, const float *y, float *dy, size_t n, double *scr) {
    E_DIMS;
    (void) th, (void) dx, (void) y, (void) scr;
    if (vth)
        embed_f32(vth, POS(vth), nd->w_mul, x, dy, n, len, d);
    else
        memset(dy, 0, n * len * d * sizeof *dy);
}

static void embed_rbackward_f32(const lm__node *nd, const float *th, const float *vth,
                                const float *x, const float *dx, const float *y, const float *dy,
                                const float *gy, const float *rgy, float *rgx, int rgx_acc,
                                float *hth, size_t n, double *scr) {
    E_DIMS;
    (void) th, (void) vth, (void) dx, (void) y, (void) dy, (void) gy, (void) rgx, (void) rgx_acc,
        (void) scr;
    embed_grad_f32(rgy, nd->w_mul, x, hth, POS(hth), n, len, d, vocab);
}

const lm__layer_ops lm__layer_embedding = {
    .type = LM_LAYER_EMBEDDING,
    .build = embed_build,
    .forward_f64 = embed_forward_f64,
    .backward_f64 = embed_backward_f64,
    .jvp_f64 = embed_jvp_f64,
    .rbackward_f64 = embed_rbackward_f64,
    .forward_f32 = embed_forward_f32,
    .backward_f32 = embed_backward_f32,
    .jvp_f32 = embed_jvp_f32,
    .rbackward_f32 = embed_rbackward_f32,
};

/* ---------------------------------------------------------------- last */

static lm_status last_build(lm__node *nd, lm_err *err) {
    if (!nd->seq)
        LM_FAIL(err, LM_ESHAPE,
                "%s (last): its input is [%zu, %zu, %zu], not a sequence; \"last\" takes the "
                "last position of an embedding's output [1, T, d]",
                nd->where, nd->in_shape[0], nd->in_shape[1], nd->in_shape[2]);
    nd->out_shape[0] = nd->in_shape[2];
    nd->out_shape[1] = nd->out_shape[2] = 1;
    return LM_OK;
}

#define L_DIMS const size_t len = nd->in_shape[1], d = nd->in_shape[2]

static void last_forward_f64(const lm__node *nd, const double *th, const double *x, double *y,
                             size_t n, double *scr) {
    L_DIMS;
    (void) th, (void) scr;
    last_f64(x, y, n, len, d);
}

static void last_backward_f64(const lm__node *nd, const double *th, const double *x,
                              const double *y, const double *gy, double *gx, int gx_acc,
                              double *gth, size_t n, double *scr) {
    L_DIMS;
    (void) th, (void) x, (void) y, (void) gth, (void) scr;
    if (gx)
        last_adj_f64(gy, gx, gx_acc, n, len, d);
}

static void last_jvp_f64(const lm__node *nd, const double *th, const double *vth, const double *x,
                         const double *dx, const double *y, double *dy, size_t n, double *scr) {
    L_DIMS;
    (void) th, (void) vth, (void) x, (void) y, (void) scr;
    if (dx)
        last_f64(dx, dy, n, len, d);
    else
        memset(dy, 0, n * d * sizeof *dy);
}

static void last_rbackward_f64(const lm__node *nd, const double *th, const double *vth,
                               const double *x, const double *dx, const double *y, const double *dy,
                               const double *gy, const double *rgy, double *rgx, int rgx_acc,
                               double *hth, size_t n, double *scr) {
    L_DIMS;
    (void) th, (void) vth, (void) x, (void) dx, (void) y, (void) dy, (void) gy, (void) hth,
        (void) scr;
    if (rgx)
        last_adj_f64(rgy, rgx, rgx_acc, n, len, d);
}

static void last_forward_f32(const lm__node *nd, const float *th, const float *x, float *y,
                             size_t n, double *scr) {
    L_DIMS;
    (void) th, (void) scr;
    last_f32(x, y, n, len, d);
}

static void last_backward_f32(const lm__node *nd, const float *th, const float *x, const float *y,
                              const float *gy, float *gx, int gx_acc, float *gth, size_t n,
                              double *scr) {
    L_DIMS;
    (void) th, (void) x, (void) y, (void) gth, (void) scr;
    if (gx)
        last_adj_f32(gy, gx, gx_acc, n, len, d);
}

static void last_jvp_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                         const float *dx, const float *y, float *dy, size_t n, double *scr) {
    L_DIMS;
    (void) th, (void) vth, (void) x, (void) y, (void) scr;
    if (dx)
        last_f32(dx, dy, n, len, d);
    else
        memset(dy, 0, n * d * sizeof *dy);
}

static void last_rbackward_f32(const lm__node *nd, const float *th, const float *vth,
                               const float *x, const float *dx, const float *y, const float *dy,
                               const float *gy, const float *rgy, float *rgx, int rgx_acc,
                               float *hth, size_t n, double *scr) {
    L_DIMS;
    (void) th, (void) vth, (void) x, (void) dx, (void) y, (void) dy, (void) gy, (void) hth,
        (void) scr;
    if (rgx)
        last_adj_f32(rgy, rgx, rgx_acc, n, len, d);
}

const lm__layer_ops lm__layer_last = {
    .type = LM_LAYER_LAST,
    .build = last_build,
    .forward_f64 = last_forward_f64,
    .backward_f64 = last_backward_f64,
    .jvp_f64 = last_jvp_f64,
    .rbackward_f64 = last_rbackward_f64,
    .forward_f32 = last_forward_f32,
    .backward_f32 = last_backward_f32,
    .jvp_f32 = last_jvp_f32,
    .rbackward_f32 = last_rbackward_f32,
};
