/*
 * layer_linear.c: the linear layer, nn.Linear(in, out): y = w_mul x W^T + b_mul b on features
 * [d_in] (a [C, H, W] input must be flattened first), or on every position of a sequence
 * [1, T, d_in] (nn.Linear acts on the last dimension: n examples are n*T rows). W [out, in] then b
 * [out] in theta; the products are dense_impl.h's, shared with the MLP's kernels.
 *
 * Derivatives (x [n, in], gy = dL/dy [n, out]; the layer is bilinear in (W, x)):
 *   backward   gW = wm gy^T x,  gb = bm 1^T gy,  gx = wm gy W
 *   jvp        dy = wm (x VW^T + dx W^T) + bm 1 Vb^T
 *   rbackward  R{gW} = wm (rgy^T x + gy^T dx),  R{gb} = bm 1^T rgy,
 *              R{gx} = wm (rgy W + gy VW)
 */
#include "model/layer.h"

#define T         double
#define SFX(name) name##_f64
#define GEMM      cblas_dgemm
#include "model/dense_impl.h"
#undef T
#undef SFX
#undef GEMM
#define T         float
#define SFX(name) name##_f32
#define GEMM      cblas_sgemm
#include "model/dense_impl.h"
#undef T
#undef SFX
#undef GEMM

#include <stdio.h>
#include <string.h>

static lm_status build(lm__node *nd, lm_err *err) {
    if (!nd->seq && (nd->in_shape[1] != 1 || nd->in_shape[2] != 1))
        LM_FAIL(err, LM_ESHAPE,
                "%s (linear): its input is [%zu, %zu, %zu]; a linear layer takes features: put a "
                "{\"type\": \"flatten\"} before it",
                nd->where, nd->in_shape[0], nd->in_shape[1], nd->in_shape[2]);
    if (nd->spec.out == 0)
        LM_FAIL(err, LM_EINVAL, "%s (linear): \"out\" must be a positive number of features",
                nd->where);
    const size_t in = nd->seq ? nd->in_shape[2] : nd->in_shape[0], out = nd->spec.out;
    nd->rows = nd->seq ? nd->in_shape[1] : 1;
    if (nd->seq) {
        nd->out_shape[0] = 1;
        nd->out_shape[1] = nd->rows;
        nd->out_shape[2] = out;
    } else {
        nd->out_shape[0] = out;
        nd->out_shape[1] = nd->out_shape[2] = 1;
    }
    nd->n_tensors = nd->has_bias ? 2 : 1;
    nd->kind[0] = LM_TENSOR_WEIGHT;
    nd->tndim[0] = 2;
    nd->tshape[0][0] = out;
    nd->tshape[0][1] = in;
    nd->kind[1] = LM_TENSOR_BIAS;
    nd->tndim[1] = 1;
    nd->tshape[1][0] = out;
    nd->fan_in = in;
    nd->scratch_fixed = out; /* the bias gradient's column sums */
    return LM_OK;
}

/* a sequence's T positions are T rows each */
#define DIMS                                                                                       \
    const size_t in = nd->tshape[0][1], out = nd->tshape[0][0];                                    \
    n *= nd->rows
#define BIAS(th) (nd->has_bias && (th) ? (th) + in * out : NULL)

static void forward_f64(const lm__node *nd, const double *th, const double *x, double *y, size_t n,
                        double *scr) {
    DIMS;
    (void) scr;
    dense_forward_f64(th, BIAS(th), nd->w_mul, nd->b_mul, x, y, n, in, out, 0);
}

static void backward_f64(const lm__node *nd, const double *th, const double *x, const double *y,
                         const double *gy, double *gx, int gx_acc, double *gth, size_t n,
                         double *scr) {
    DIMS;
    (void) y;
    dense_grad_params_f64(gy, x, nd->w_mul, nd->b_mul, gth, BIAS(gth), n, in, out, 0, scr);
    if (gx)
        dense_grad_input_f64(gy, th, nd->w_mul, gx, n, in, out, gx_acc);
}

static void jvp_f64(const lm__node *nd, const double *th, const double *vth, const double *x,
                    const double *dx, const double *y, double *dy, size_t n, double *scr) {
    DIMS;
    (void) y;
    (void) scr;
    int beta = 0;
    if (vth) {
        dense_forward_f64(vth, BIAS(vth), nd->w_mul, nd->b_mul, x, dy, n, in, out, 0);
        beta = 1;
    }
    if (dx) {
        dense_forward_f64(th, NULL, nd->w_mul, 0.0, dx, dy, n, in, out, beta);
        beta = 1;
    }
    if (!beta)
        for (size_t i = 0; i < n * out; i++)
            dy[i] = 0.0;
}

static void rbackward_f64(const lm__node *nd, const double *th, const double *vth, const double *x,
                          const double *dx, const double *y, const double *dy, const double *gy,
                          const double *rgy, double *rgx, int rgx_acc, double *hth, size_t n,
                          double *scr) {
    DIMS;
    (void) y;
    (void) dy;
    dense_grad_params_f64(rgy, x, nd->w_mul, nd->b_mul, hth, BIAS(hth), n, in, out, 0, scr);
    if (dx)
        dense_grad_params_f64(gy, dx, nd->w_mul, 0.0, hth, NULL, n, in, out, 1, NULL);
    if (rgx) {
        dense_grad_input_f64(rgy, th, nd->w_mul, rgx, n, in, out, rgx_acc);
        dense_grad_input_f64(gy, vth, nd->w_mul, rgx, n, in, out, 1);
    }
}

static void forward_f32(const lm__node *nd, const float *th, const float *x, float *y, size_t n,
                        double *scr) {
    DIMS;
    (void) scr;
    dense_forward_f32(th, BIAS(th), nd->w_mul, nd->b_mul, x, y, n, in, out, 0);
}

static void backward_f32(const lm__node *nd, const float *th, const float *x, const float *y,
                         const float *gy, float *gx, int gx_acc, float *gth, size_t n,
                         double *scr) {
    DIMS;
    (void) y;
    dense_grad_params_f32(gy, x, nd->w_mul, nd->b_mul, gth, BIAS(gth), n, in, out, 0, scr);
    if (gx)
        dense_grad_input_f32(gy, th, nd->w_mul, gx, n, in, out, gx_acc);
}

static void jvp_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                    const float *dx, const float *y, float *dy, size_t n, double *scr) {
    DIMS;
    (void) y;
    (void) scr;
    int beta = 0;
    if (vth) {
        dense_forward_f32(vth, BIAS(vth), nd->w_mul, nd->b_mul, x, dy, n, in, out, 0);
        beta = 1;
    }
    if (dx) {
        dense_forward_f32(th, NULL, nd->w_mul, 0.0, dx, dy, n, in, out, beta);
        beta = 1;
    }
    if (!beta)
        memset(dy, 0, n * out * sizeof *dy);
}

static void rbackward_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                          const float *dx, const float *y, const float *dy, const float *gy,
                          const float *rgy, float *rgx, int rgx_acc, float *hth, size_t n,
                          double *scr) {
    DIMS;
    (void) y;
    (void) dy;
    dense_grad_params_f32(rgy, x, nd->w_mul, nd->b_mul, hth, BIAS(hth), n, in, out, 0, scr);
    if (dx)
        dense_grad_params_f32(gy, dx, nd->w_mul, 0.0, hth, NULL, n, in, out, 1, NULL);
    if (rgx) {
        dense_grad_input_f32(rgy, th, nd->w_mul, rgx, n, in, out, rgx_acc);
        dense_grad_input_f32(gy, vth, nd->w_mul, rgx, n, in, out, 1);
    }
}

const lm__layer_ops lm__layer_linear = {
    .type = LM_LAYER_LINEAR,
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
