/*
 * layer_pool.c: the pooling layers nn.AvgPool2d(kernel, stride) and nn.MaxPool2d(kernel,
 * stride) with padding 0 and floor mode: [C, H, W] -> [C, H', W'], H' = (H - k)/s + 1 (integer
 * division: a last partial window is dropped), W' likewise; stride 0 means stride = kernel
 * (PyTorch's default). No parameters. The kernels are pool_impl.h's, one source per dtype.
 *
 * Derivatives (P the pooling map, per plane):
 *   avg pool is linear, y = A x with A the window-mean matrix (entries 1/k^2):
 *     backward gx = A^T gy;  jvp dy = A dx;  rbackward R{gx} = A^T rgy (A does not depend on x
 *     or on any parameter, so the second-order term is zero).
 *   max pool is piecewise linear, y = S(x) x with S(x) the 0/1 matrix selecting each window's
 *     argmax (recomputed from x: layers are stateless, layer.h):
 *     backward gx = S(x)^T gy;  jvp dy = S(x) dx (dy/dx = S(x) wherever the argmax is unique);
 *     rbackward R{gx} = S(x)^T rgy + (R{S(x)})^T gy, and R{S(x)} = 0: S is piecewise CONSTANT in
 *     x, changing only on the ties x_a = x_b inside a window, a set of measure zero; off it a
 *     small move of x along dx keeps every argmax, so d/dt S(x + t dx) = 0. The Hessian of the
 *     max pool is therefore zero almost everywhere (its curvature is all at the kinks, which
 *     Gaussian data and inputs produced by smooth layers hit with probability zero), and
 *     R{gx} = S(x)^T rgy is exact.
 *   Ties: the first maximal element in row-major window order gets the gradient (PyTorch's CPU
 *   kernel: val > maxval || isnan(val); see pool_impl.h).
 */
#include "model/layer.h"

/* inv: 1/k^2 when multiplying by it is exactly dividing by k^2 (k^2 a power of two), else 0 */
typedef struct pool_geom {
    size_t c, h, w, k, s, ho, wo;
    double inv;
} pool_geom;

#define T         double
#define SFX(name) name##_f64
#include "model/pool_impl.h"
#undef T
#undef SFX
#define T         float
#define SFX(name) name##_f32
#include "model/pool_impl.h"
#undef T
#undef SFX

static pool_geom geom(const lm__node *nd) {
    pool_geom g = {nd->in_shape[0], nd->in_shape[1],  nd->in_shape[2],  nd->spec.kernel,
                   nd->spec.stride, nd->out_shape[1], nd->out_shape[2], 0.0};
    const size_t kk = g.k * g.k;
    if ((kk & (kk - 1)) == 0)
        g.inv = 1.0 / (double) kk;
    return g;
}

static lm_status build(lm__node *nd, lm_err *err) {
    const char *name = nd->spec.type == LM_LAYER_AVGPOOL2D ? "avgpool2d" : "maxpool2d";
    const size_t k = nd->spec.kernel, h = nd->in_shape[1], w = nd->in_shape[2];
    if (k == 0)
        LM_FAIL(err, LM_EINVAL, "%s (%s): \"kernel\" must be a positive size", nd->where, name);
    if (nd->spec.padding != 0)
        LM_FAIL(err, LM_EINVAL, "%s (%s): \"padding\" = %zu; pooling takes no padding (0 only)",
                nd->where, name, nd->spec.padding);
    if (nd->spec.stride == 0)
        nd->spec.stride = k;
    if (k > h || k > w)
        LM_FAIL(err, LM_ESHAPE,
                "%s (%s): kernel %zu does not fit its input [%zu, %zu, %zu] (H and W must be at "
                "least the kernel)",
                nd->where, name, k, nd->in_shape[0], h, w);
    nd->out_shape[0] = nd->in_shape[0];
    nd->out_shape[1] = (h - k) / nd->spec.stride + 1;
    nd->out_shape[2] = (w - k) / nd->spec.stride + 1;
    return LM_OK;
}

static void zero(double *a, size_t cnt) {
    for (size_t i = 0; i < cnt; i++)
        a[i] = 0.0;
}

static void zero_f32(float *a, size_t cnt) {
    for (size_t i = 0; i < cnt; i++)
        a[i] = 0.0f;
}

/* ---------------------------------------------------------------- average pooling */

static void avg_forward_f64(const lm__node *nd, const double *th, const double *x, double *y,
                            size_t n, double *scr) {
    (void) th, (void) scr;
    const pool_geom g = geom(nd);
    avgpool_fwd_f64(&g, x, y, n);
}

static void avg_backward_f64(const lm__node *nd, const double *th, const double *x, const double *y,
                             const double *gy, double *gx, int gx_acc, double *gth, size_t n,
                             double *scr) {
    (void) th, (void) x, (void) y, (void) gth, (void) scr;
    const pool_geom g = geom(nd);
    if (gx)
        avgpool_bwd_f64(&g, gy, gx, n, gx_acc);
}

static void avg_jvp_f64(const lm__node *nd, const double *th, const double *vth, const double *x,
                        const double *dx, const double *y, double *dy, size_t n, double *scr) {
    (void) th, (void) vth, (void) x, (void) y, (void) scr;
    const pool_geom g = geom(nd);
    if (dx)
        avgpool_fwd_f64(&g, dx, dy, n);
    else
        zero(dy, n * nd->out_size);
}

static void avg_rbackward_f64(const lm__node *nd, const double *th, const double *vth,
                              const double *x, const double *dx, const double *y, const double *dy,
                              const double *gy, const double *rgy, double *rgx, int rgx_acc,
                              double *hth, size_t n, double *scr) {
    (void) th, (void) vth, (void) x, (void) dx, (void) y, (void) dy, (void) gy, (void) hth,
        (void) scr;
    const pool_geom g = geom(nd);
    if (rgx)
        avgpool_bwd_f64(&g, rgy, rgx, n, rgx_acc);
}

static void avg_forward_f32(const lm__node *nd, const float *th, const float *x, float *y, size_t n,
                            double *scr) {
    (void) th, (void) scr;
    const pool_geom g = geom(nd);
    avgpool_fwd_f32(&g, x, y, n);
}

static void avg_backward_f32(const lm__node *nd, const float *th, const float *x, const float *y,
                             const float *gy, float *gx, int gx_acc, float *gth, size_t n,
                             double *scr) {
    (void) th, (void) x, (void) y, (void) gth, (void) scr;
    const pool_geom g = geom(nd);
    if (gx)
        avgpool_bwd_f32(&g, gy, gx, n, gx_acc);
}

static void avg_jvp_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                        const float *dx, const float *y, float *dy, size_t n, double *scr) {
    (void) th, (void) vth, (void) x, (void) y, (void) scr;
    const pool_geom g = geom(nd);
    if (dx)
        avgpool_fwd_f32(&g, dx, dy, n);
    else
        zero_f32(dy, n * nd->out_size);
}

static void avg_rbackward_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                              const float *dx, const float *y, const float *dy, const float *gy,
                              const float *rgy, float *rgx, int rgx_acc, float *hth, size_t n,
                              double *scr) {
    (void) th, (void) vth, (void) x, (void) dx, (void) y, (void) dy, (void) gy, (void) hth,
        (void) scr;
    const pool_geom g = geom(nd);
    if (rgx)
        avgpool_bwd_f32(&g, rgy, rgx, n, rgx_acc);
}

const lm__layer_ops lm__layer_avgpool2d = {
    .type = LM_LAYER_AVGPOOL2D,
    .build = build,
    .forward_f64 = avg_forward_f64,
    .backward_f64 = avg_backward_f64,
    .jvp_f64 = avg_jvp_f64,
    .rbackward_f64 = avg_rbackward_f64,
    .forward_f32 = avg_forward_f32,
    .backward_f32 = avg_backward_f32,
    .jvp_f32 = avg_jvp_f32,
    .rbackward_f32 = avg_rbackward_f32,
};

/* ---------------------------------------------------------------- max pooling */

static void max_forward_f64(const lm__node *nd, const double *th, const double *x, double *y,
                            size_t n, double *scr) {
    (void) th, (void) scr;
    const pool_geom g = geom(nd);
    maxpool_fwd_f64(&g, x, y, n);
}

static void max_backward_f64(const lm__node *nd, const double *th, const double *x, const double *y,
                             const double *gy, double *gx, int gx_acc, double *gth, size_t n,
                             double *scr) {
    (void) th, (void) y, (void) gth, (void) scr;
    const pool_geom g = geom(nd);
    if (gx)
        maxpool_bwd_f64(&g, x, gy, gx, n, gx_acc);
}

static void max_jvp_f64(const lm__node *nd, const double *th, const double *vth, const double *x,
                        const double *dx, const double *y, double *dy, size_t n, double *scr) {
    (void) th, (void) vth, (void) y, (void) scr;
    const pool_geom g = geom(nd);
    if (dx)
        maxpool_jvp_f64(&g, x, dx, dy, n);
    else
        zero(dy, n * nd->out_size);
}

/* R{gx} = S(x)^T rgy: backward applied to rgy (no second-order term; see the top). */
static void max_rbackward_f64(const lm__node *nd, const double *th, const double *vth,
                              const double *x, const double *dx, const double *y, const double *dy,
                              const double *gy, const double *rgy, double *rgx, int rgx_acc,
                              double *hth, size_t n, double *scr) {
    (void) th, (void) vth, (void) dx, (void) y, (void) dy, (void) gy, (void) hth, (void) scr;
    const pool_geom g = geom(nd);
    if (rgx)
        maxpool_bwd_f64(&g, x, rgy, rgx, n, rgx_acc);
}

static void max_forward_f32(const lm__node *nd, const float *th, const float *x, float *y, size_t n,
                            double *scr) {
    (void) th, (void) scr;
    const pool_geom g = geom(nd);
    maxpool_fwd_f32(&g, x, y, n);
}

static void max_backward_f32(const lm__node *nd, const float *th, const float *x, const float *y,
                             const float *gy, float *gx, int gx_acc, float *gth, size_t n,
                             double *scr) {
    (void) th, (void) y, (void) gth, (void) scr;
    const pool_geom g = geom(nd);
    if (gx)
        maxpool_bwd_f32(&g, x, gy, gx, n, gx_acc);
}

static void max_jvp_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                        const float *dx, const float *y, float *dy, size_t n, double *scr) {
    (void) th, (void) vth, (void) y, (void) scr;
    const pool_geom g = geom(nd);
    if (dx)
        maxpool_jvp_f32(&g, x, dx, dy, n);
    else
        zero_f32(dy, n * nd->out_size);
}

/* R{gx} = S(x)^T rgy, as the float64 one. */
static void max_rbackward_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                              const float *dx, const float *y, const float *dy, const float *gy,
                              const float *rgy, float *rgx, int rgx_acc, float *hth, size_t n,
                              double *scr) {
    (void) th, (void) vth, (void) dx, (void) y, (void) dy, (void) gy, (void) hth, (void) scr;
    const pool_geom g = geom(nd);
    if (rgx)
        maxpool_bwd_f32(&g, x, rgy, rgx, n, rgx_acc);
}

const lm__layer_ops lm__layer_maxpool2d = {
    .type = LM_LAYER_MAXPOOL2D,
    .build = build,
    .forward_f64 = max_forward_f64,
    .backward_f64 = max_backward_f64,
    .jvp_f64 = max_jvp_f64,
    .rbackward_f64 = max_rbackward_f64,
    .forward_f32 = max_forward_f32,
    .backward_f32 = max_backward_f32,
    .jvp_f32 = max_jvp_f32,
    .rbackward_f32 = max_rbackward_f32,
};
