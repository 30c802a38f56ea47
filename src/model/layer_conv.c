/*
 * layer_conv.c: the 2-D convolution, nn.Conv2d(C, O, k, stride=s, padding=p) with a square
 * kernel and zero padding: [C, H, W] -> [O, Ho, Wo], Ho = (H + 2p - k)/s + 1 (likewise Wo).
 * The weight [O, C, k, k] then the bias [O] in theta; forward multipliers w_mul, b_mul as the
 * linear layer's. Workload: the small CNNs of issue 15 (28x28 images, 16-64 channels, 3x3
 * kernels, batches of 64-128 per thread), trained in float32 and probed (HVPs) in float64.
 *
 * Method (conv_impl.h): im2col + GEMM per chunk of examples. For a chunk of nc examples the
 * receptive fields are unfolded into col [K, nc*P] (K = C*k*k, P = Ho*Wo), and
 *   y = wm Wm col + bm b          (Wm: the weight as [O, K])
 * is one [O, K] x [K, nc*P] product; y's NCHW order is the product's rows regrouped (O*nc copies
 * of P numbers), or, for a chunk of one example, the product itself. The chunk is sized so the
 * columns stay in L2 (CONV_CHUNK below): on 28x28 and 14x14 maps that is one or two examples.
 * The gradients of a stride-1 conv with K > O + C use the "gap layout" below instead (the same
 * products over a column matrix whose rows are single contiguous runs).
 *
 * Derivatives. Write A for the linear map x -> col(x) (im2col; its adjoint A^T is col2im, which
 * adds every column entry back to the input pixel it came from). Per example
 *   y = wm Wm A(x) + bm b 1^T,
 * bilinear in (Wm, x) like the linear layer (A is linear and does not depend on the weights), so
 * with gy = dL/dy [O, P]:
 *   backward   gWm = wm sum_i gy_i A(x_i)^T,   gb = bm sum_{i,q} gy_i[:, q],
 *              gx  = wm A^T(Wm^T gy)
 *   jvp        dy  = wm (VWm A(x) + Wm A(dx)) + bm Vb 1^T
 *   rbackward  R{gWm} = wm sum_i (rgy_i A(x_i)^T + gy_i A(dx_i)^T),  R{gb} = bm sum rgy,
 *              R{gx}  = wm A^T(Wm^T rgy + VWm^T gy)
 * (differentiate backward's products along (VWm, Vb, dx) and gy -> rgy: each is bilinear, so
 * the R-operator is the product rule with no second-order term of its own).
 */
#include "model/layer.h"

#include <stdio.h>

/* The geometry of one node, derived from it on each call (cheap) so lm__node needs no
 * conv-specific fields. nc: examples per chunk (CONV_CHUNK). */
typedef struct conv_geom {
    size_t C, H, W, O, k, s, p, Ho, Wo, K, P, nc;
    size_t Hp, Wp; /* the padded input plane                                        */
    int gap;       /* stride 1 and p < k: the gap layout (conv_impl.h)                  */
    size_t G, R;   /* gap layout: row stride W + p, rows per example H + p              */
    size_t ncol;   /* columns of a full chunk's col: nc*P, or gap_cols(nc)              */
    size_t padsz;  /* the padded plane's buffer (or the gap runs', if larger), x16      */
} conv_geom;

/* The gap layout (stride 1, p <= k - 1). nc examples' channel c is one run: pixel (i, h, w) at
 * base + (i*R + h)*G + w, base = p*G + p, with p zero columns after each row (the right padding
 * of the row and the left padding of the next) and p zero rows after each example (the bottom
 * padding of the example and the top padding of the next), p zero rows first. Output pixel
 * (i, oh, ow) is column j = (i*R + oh)*G + ow, and tap (ki, kj) of column j reads input
 * position j + ki*G + kj: every row of the column matrix is ONE contiguous run of the channel,
 * and the column-to-image adjoint adds each row back as one run. Columns with ow >= Wo or
 * oh >= Ho (the gaps) are held at zero in the output gradient: GEMMs over gap_cols(nc) columns
 * instead of nc*P (for one example ((Ho - 1) G + Wo)/(Ho Wo) - 1 more work, 7 % at 14x14 with
 * p = 1), against im2col and col2im as a few long copies and adds instead of one short row per
 * tap and output row. A run is gap_len(nc) numbers (the reads of the last columns reach
 * (k - 1)(G + 1) past the last row). The layout serves the gradients only (conv_grad_w,
 * conv_grad_x, conv_grad_gap): in the forward pass the regrouping of its output into NCHW cost
 * more than im2col saved (measured, the CNN of bench/cnn.sh, second conv, batch 128, float32:
 * 2.78 ms CPU with im2col and the GEMM writing y, 2.89 through the gap layout), so conv_fwd
 * keeps im2col (its buffers fit in the gap layout's: ncol >= nc*P, padsz >= Hp*Wp). */
static inline size_t gap_cols(const conv_geom *g, size_t nc) {
    return ((nc - 1) * g->R + g->Ho - 1) * g->G + g->Wo;
}

static inline size_t gap_len(const conv_geom *g, size_t nc) {
    return nc * g->R * g->G + (g->k - 1) * (g->G + 1) + 1;
}

/* Elements of a chunk's buffers (col, Y and gcol: (2K + O) * P per example). Measured on the
 * 2-core machine (CPU time of forward + backward of the CNN, 64 examples, float32,
 * before the later im2col and pool changes): chunks of 2^14..2^16 elements 11.2-11.5 ms, 2^18
 * 12.2, 2^20 12.2, 2^22 13.7: a chunk whose column matrix stays in L2 beats fewer, larger GEMMs.
 * At 2^15 both of its convs run one example per chunk (a [32, 144] x [144, 196] product written
 * straight into y; 7.2 ms against 7.3 at 2^16, where the 1->16 layer paired examples and
 * regrouped); the batched [O, nc*P] product serves small maps, where per-example GEMMs would
 * be tiny. */
#ifndef CONV_CHUNK
#define CONV_CHUNK ((size_t) 1 << 15)
#endif

static conv_geom geom(const lm__node *nd) {
    conv_geom g;
    g.C = nd->in_shape[0], g.H = nd->in_shape[1], g.W = nd->in_shape[2];
    g.O = nd->out_shape[0], g.Ho = nd->out_shape[1], g.Wo = nd->out_shape[2];
    g.k = nd->spec.kernel, g.p = nd->spec.padding;
    g.s = nd->spec.stride ? nd->spec.stride : 1;
    g.K = g.C * g.k * g.k, g.P = g.Ho * g.Wo;
    g.Hp = g.H + 2 * g.p, g.Wp = g.W + 2 * g.p;
    /* the gap layout where its copies are cheaper: its short-row copies are the output's
     * (O planes) and the input's (C planes) where im2col's are K = C*k*k planes */
    g.gap = g.s == 1 && g.p < g.k && g.K > g.O + g.C;
    g.G = g.W + g.p, g.R = g.H + g.p;
    const size_t per_ex = (2 * g.K + g.O) * (g.gap ? g.R * g.G : g.P);
    g.nc = per_ex >= CONV_CHUNK ? 1 : CONV_CHUNK / per_ex;
    g.ncol = g.gap ? gap_cols(&g, g.nc) : g.nc * g.P;
    const size_t runs = g.gap ? g.C * gap_len(&g, g.nc) : 0;
    g.padsz = ((runs > g.Hp * g.Wp ? runs : g.Hp * g.Wp) + 15) & ~(size_t) 15;
    return g;
}

#define T         double
#define SFX(name) name##_f64
#define GEMM      cblas_dgemm
#include "model/conv_impl.h"
#undef T
#undef SFX
#undef GEMM
#define T         float
#define SFX(name) name##_f32
#define GEMM      cblas_sgemm
#include "model/conv_impl.h"
#undef T
#undef SFX
#undef GEMM

/* Sizes past this are refused (LM_ERANGE) before any product of them is formed. */
#define CONV_MAX_DIM ((size_t) 1 << 16)

static lm_status build(lm__node *nd, lm_err *err) {
    const lm_layer_spec *ls = &nd->spec;
    const size_t C = nd->in_shape[0], H = nd->in_shape[1], W = nd->in_shape[2];
    const size_t k = ls->kernel, p = ls->padding, s = ls->stride ? ls->stride : 1;
    if (ls->out == 0)
        LM_FAIL(err, LM_EINVAL, "%s (conv2d): \"out\" must be a positive number of channels",
                nd->where);
    if (k == 0)
        LM_FAIL(err, LM_EINVAL, "%s (conv2d): \"kernel\" must be a positive size", nd->where);
    if (k > CONV_MAX_DIM || p > CONV_MAX_DIM || s > CONV_MAX_DIM || ls->out > CONV_MAX_DIM ||
        H > CONV_MAX_DIM || W > CONV_MAX_DIM)
        LM_FAIL(err, LM_ERANGE,
                "%s (conv2d): kernel %zu, stride %zu, padding %zu, out %zu on [%zu, %zu, %zu]: "
                "sizes above %zu are not supported",
                nd->where, k, s, p, ls->out, C, H, W, CONV_MAX_DIM);
    if (H + 2 * p < k || W + 2 * p < k)
        LM_FAIL(err, LM_ESHAPE,
                "%s (conv2d): kernel %zu is larger than its padded input [%zu, %zu, %zu] with "
                "padding %zu (%zu x %zu)",
                nd->where, k, C, H, W, p, H + 2 * p, W + 2 * p);
    if (C > SIZE_MAX / 64 / k / k / ls->out)
        LM_FAIL(err, LM_ERANGE, "%s (conv2d): %zu x %zu x %zu x %zu weights are too many",
                nd->where, ls->out, C, k, k);
    nd->out_shape[0] = ls->out;
    nd->out_shape[1] = (H + 2 * p - k) / s + 1;
    nd->out_shape[2] = (W + 2 * p - k) / s + 1;
    nd->n_tensors = nd->has_bias ? 2 : 1;
    nd->kind[0] = LM_TENSOR_WEIGHT;
    nd->tndim[0] = 4;
    nd->tshape[0][0] = ls->out;
    nd->tshape[0][1] = C;
    nd->tshape[0][2] = k;
    nd->tshape[0][3] = k;
    nd->kind[1] = LM_TENSOR_BIAS;
    nd->tndim[1] = 1;
    nd->tshape[1][0] = ls->out;
    nd->fan_in = C * k * k;
    const size_t per_ex = 2 * C * k * k + ls->out;
    if (per_ex > SIZE_MAX / 64 / (H + 2 * p + 1) / (W + 2 * p + 1) / (C + 1))
        LM_FAIL(err, LM_ERANGE, "%s (conv2d): the column buffer of one example is too large",
                nd->where);
    const conv_geom g = geom(nd);
    /* the bias sums, the padded plane(s), one chunk's col, Y and gcol, then gW^T */
    nd->scratch_fixed = g.O + g.padsz + per_ex * g.ncol + g.K * g.O;
    nd->scratch_per_ex = 0;
    return LM_OK;
}

#define BIAS(th) (nd->has_bias && (th) ? (th) + g.O * g.K : NULL)

static void forward_f64(const lm__node *nd, const double *th, const double *x, double *y, size_t n,
                        double *scr) {
    const conv_geom g = geom(nd);
    conv_fwd_f64(&g, th, BIAS(th), nd->w_mul, nd->b_mul, x, y, n, 0, scr);
}

static void backward_f64(const lm__node *nd, const double *th, const double *x, const double *y,
                         const double *gy, double *gx, int gx_acc, double *gth, size_t n,
                         double *scr) {
    (void) y;
    const conv_geom g = geom(nd);
    if (gx && g.gap) {
        conv_grad_gap_f64(&g, th, gy, x, nd->w_mul, nd->b_mul, gth, BIAS(gth), gx, n, gx_acc, scr);
        return;
    }
    conv_grad_w_f64(&g, gy, x, nd->w_mul, nd->b_mul, gth, BIAS(gth), n, 0, scr);
    if (gx)
        conv_grad_x_f64(&g, th, gy, NULL, NULL, nd->w_mul, gx, n, gx_acc, scr);
}

static void jvp_f64(const lm__node *nd, const double *th, const double *vth, const double *x,
                    const double *dx, const double *y, double *dy, size_t n, double *scr) {
    (void) y;
    const conv_geom g = geom(nd);
    int acc = 0;
    if (vth) {
        conv_fwd_f64(&g, vth, BIAS(vth), nd->w_mul, nd->b_mul, x, dy, n, 0, scr);
        acc = 1;
    }
    if (dx) {
        conv_fwd_f64(&g, th, NULL, nd->w_mul, 0.0, dx, dy, n, acc, scr);
        acc = 1;
    }
    if (!acc)
        for (size_t i = 0; i < n * g.O * g.P; i++)
            dy[i] = 0.0;
}

static void rbackward_f64(const lm__node *nd, const double *th, const double *vth, const double *x,
                          const double *dx, const double *y, const double *dy, const double *gy,
                          const double *rgy, double *rgx, int rgx_acc, double *hth, size_t n,
                          double *scr) {
    (void) y;
    (void) dy;
    const conv_geom g = geom(nd);
    conv_grad_w_f64(&g, rgy, x, nd->w_mul, nd->b_mul, hth, BIAS(hth), n, 0, scr);
    if (dx)
        conv_grad_w_f64(&g, gy, dx, nd->w_mul, 0.0, hth, NULL, n, 1, scr);
    if (rgx)
        conv_grad_x_f64(&g, th, rgy, vth, vth ? gy : NULL, nd->w_mul, rgx, n, rgx_acc, scr);
}

static void forward_f32(const lm__node *nd, const float *th, const float *x, float *y, size_t n,
                        double *scr) {
    const conv_geom g = geom(nd);
    conv_fwd_f32(&g, th, BIAS(th), nd->w_mul, nd->b_mul, x, y, n, 0, scr);
}

static void backward_f32(const lm__node *nd, const float *th, const float *x, const float *y,
                         const float *gy, float *gx, int gx_acc, float *gth, size_t n,
                         double *scr) {
    (void) y;
    const conv_geom g = geom(nd);
    if (gx && g.gap) {
        conv_grad_gap_f32(&g, th, gy, x, nd->w_mul, nd->b_mul, gth, BIAS(gth), gx, n, gx_acc, scr);
        return;
    }
    conv_grad_w_f32(&g, gy, x, nd->w_mul, nd->b_mul, gth, BIAS(gth), n, 0, scr);
    if (gx)
        conv_grad_x_f32(&g, th, gy, NULL, NULL, nd->w_mul, gx, n, gx_acc, scr);
}

static void jvp_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                    const float *dx, const float *y, float *dy, size_t n, double *scr) {
    (void) y;
    const conv_geom g = geom(nd);
    int acc = 0;
    if (vth) {
        conv_fwd_f32(&g, vth, BIAS(vth), nd->w_mul, nd->b_mul, x, dy, n, 0, scr);
        acc = 1;
    }
    if (dx) {
        conv_fwd_f32(&g, th, NULL, nd->w_mul, 0.0, dx, dy, n, acc, scr);
        acc = 1;
    }
    if (!acc)
        for (size_t i = 0; i < n * g.O * g.P; i++)
            dy[i] = 0.0f;
}

static void rbackward_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                          const float *dx, const float *y, const float *dy, const float *gy,
                          const float *rgy, float *rgx, int rgx_acc, float *hth, size_t n,
                          double *scr) {
    (void) y;
    (void) dy;
    const conv_geom g = geom(nd);
    conv_grad_w_f32(&g, rgy, x, nd->w_mul, nd->b_mul, hth, BIAS(hth), n, 0, scr);
    if (dx)
        conv_grad_w_f32(&g, gy, dx, nd->w_mul, 0.0, hth, NULL, n, 1, scr);
    if (rgx)
        conv_grad_x_f32(&g, th, rgy, vth, vth ? gy : NULL, nd->w_mul, rgx, n, rgx_acc, scr);
}

const lm__layer_ops lm__layer_conv2d = {
    .type = LM_LAYER_CONV2D,
    .build = build,
    .forward_f64 = forward_f64,
    .backward_f64 = backward_f64,
    .jvp_f64 = jvp_f64,
    .rbackward_f64 = rbackward_f64,
    .forward_f32 = forward_f32,
    .backward_f32 = backward_f32,
    .jvp_f32 = jvp_f32,
    .rbackward_f32 = rbackward_f32,
};
