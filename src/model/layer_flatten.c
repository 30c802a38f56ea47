/*
 * layer_flatten.c: nn.Flatten(): [C, H, W] -> [C*H*W]. Examples are stored NCHW row-major, so
 * the values do not move: every pass is a copy (gradients and tangents likewise), and the layer
 * is linear and parameter-free (no second-order term).
 */
#include "model/layer.h"

#include <string.h>

#define T         double
#define SFX(name) name##_f64
#include "model/put_impl.h"
#undef T
#undef SFX
#define T         float
#define SFX(name) name##_f32
#include "model/put_impl.h"
#undef T
#undef SFX

static lm_status build(lm__node *nd, lm_err *err) {
    (void) err;
    nd->out_shape[0] = nd->in_size;
    nd->out_shape[1] = nd->out_shape[2] = 1;
    return LM_OK;
}

static void forward_f64(const lm__node *nd, const double *th, const double *x, double *y, size_t n,
                        double *scr) {
    (void) th;
    (void) scr;
    put_f64(y, x, n * nd->in_size, 0);
}

static void backward_f64(const lm__node *nd, const double *th, const double *x, const double *y,
                         const double *gy, double *gx, int gx_acc, double *gth, size_t n,
                         double *scr) {
    (void) th, (void) x, (void) y, (void) gth, (void) scr;
    if (gx)
        put_f64(gx, gy, n * nd->in_size, gx_acc);
}

static void jvp_f64(const lm__node *nd, const double *th, const double *vth, const double *x,
                    const double *dx, const double *y, double *dy, size_t n, double *scr) {
    (void) th, (void) vth, (void) x, (void) y, (void) scr;
    if (dx)
        put_f64(dy, dx, n * nd->in_size, 0);
    else
        memset(dy, 0, n * nd->in_size * sizeof *dy);
}

static void rbackward_f64(const lm__node *nd, const double *th, const double *vth, const double *x,
                          const double *dx, const double *y, const double *dy, const double *gy,
                          const double *rgy, double *rgx, int rgx_acc, double *hth, size_t n,
                          double *scr) {
    (void) th, (void) vth, (void) x, (void) dx, (void) y, (void) dy, (void) gy, (void) hth,
        (void) scr;
    if (rgx)
        put_f64(rgx, rgy, n * nd->in_size, rgx_acc);
}

static void forward_f32(const lm__node *nd, const float *th, const float *x, float *y, size_t n,
                        double *scr) {
    (void) th;
    (void) scr;
    put_f32(y, x, n * nd->in_size, 0);
}

static void backward_f32(const lm__node *nd, const float *th, const float *x, const float *y,
                         const float *gy, float *gx, int gx_acc, float *gth, size_t n,
                         double *scr) {
    (void) th, (void) x, (void) y, (void) gth, (void) scr;
    if (gx)
        put_f32(gx, gy, n * nd->in_size, gx_acc);
}

static void jvp_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                    const float *dx, const float *y, float *dy, size_t n, double *scr) {
    (void) th, (void) vth, (void) x, (void) y, (void) scr;
    if (dx)
        put_f32(dy, dx, n * nd->in_size, 0);
    else
        memset(dy, 0, n * nd->in_size * sizeof *dy);
}

static void rbackward_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                          const float *dx, const float *y, const float *dy, const float *gy,
                          const float *rgy, float *rgx, int rgx_acc, float *hth, size_t n,
                          double *scr) {
    (void) th, (void) vth, (void) x, (void) dx, (void) y, (void) dy, (void) gy, (void) hth,
        (void) scr;
    if (rgx)
        put_f32(rgx, rgy, n * nd->in_size, rgx_acc);
}

const lm__layer_ops lm__layer_flatten = {
    .type = LM_LAYER_FLATTEN,
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
