/*
 * layer_act.c: an activation layer, y = phi(x) elementwise on any shape (nn.ReLU, nn.Tanh,
 * nn.GELU() (exact, by erf), ...). phi, phi', phi'' are act_impl.h's, the one definition, over
 * arrays by act_vec_impl.h as in the MLP's kernels.
 *
 * Derivatives:  backward gx = gy (.) phi'(x);  jvp dy = phi'(x) (.) dx;
 *               rbackward R{gx} = rgy (.) phi'(x) + gy (.) phi''(x) (.) dx
 * (the second term is the only second-order term of a network without normalisation).
 */
#include "model/internal.h"
#include "model/layer.h"

#define T         double
#define SFX(name) name##_f64
#define VTANH     lm__tanh_f64
#include "model/act_vec_impl.h"
#include "model/put_impl.h"
#undef T
#undef SFX
#undef VTANH
#define T         float
#define SFX(name) name##_f32
#define VTANH     lm__tanh_f32
#include "model/act_vec_impl.h"
#include "model/put_impl.h"
#undef T
#undef SFX
#undef VTANH

static lm_status build(lm__node *nd, lm_err *err) {
    if ((unsigned) nd->spec.act > LM_ACT_QUADRATIC)
        LM_FAIL(err, LM_EINVAL, "%s: invalid activation %d", nd->where, (int) nd->spec.act);
    for (int d = 0; d < 3; d++)
        nd->out_shape[d] = nd->in_shape[d];
    nd->scratch_per_ex = nd->in_size; /* phi'(x) (.) gy before adding into gx */
    return LM_OK;
}

static void forward_f64(const lm__node *nd, const double *th, const double *x, double *y, size_t n,
                        double *scr) {
    (void) th;
    (void) scr;
    act_forward_f64(nd->spec.act, x, y, n * nd->in_size);
}

static void backward_f64(const lm__node *nd, const double *th, const double *x, const double *y,
                         const double *gy, double *gx, int gx_acc, double *gth, size_t n,
                         double *scr) {
    (void) th;
    (void) gth;
    if (!gx)
        return;
    const size_t cnt = n * nd->in_size;
    act_backward_f64(nd->spec.act, x, y, gy, gx_acc ? scr : gx, cnt);
    if (gx_acc)
        put_f64(gx, scr, cnt, 1);
}

static void jvp_f64(const lm__node *nd, const double *th, const double *vth, const double *x,
                    const double *dx, const double *y, double *dy, size_t n, double *scr) {
    (void) th;
    (void) vth;
    (void) scr;
    const size_t cnt = n * nd->in_size;
    if (!dx) {
        for (size_t i = 0; i < cnt; i++)
            dy[i] = 0.0;
        return;
    }
    act_rforward_f64(nd->spec.act, x, y, dx, dy, cnt);
}

static void rbackward_f64(const lm__node *nd, const double *th, const double *vth, const double *x,
                          const double *dx, const double *y, const double *dy, const double *gy,
                          const double *rgy, double *rgx, int rgx_acc, double *hth, size_t n,
                          double *scr) {
    (void) th;
    (void) vth;
    (void) dy;
    (void) hth;
    if (!rgx)
        return;
    const size_t cnt = n * nd->in_size;
    double *dst = rgx_acc ? scr : rgx;
    if (dx) {
        act_rbackward_f64(nd->spec.act, x, y, gy, rgy, dx, dst, cnt);
    } else {
        act_backward_f64(nd->spec.act, x, y, rgy, dst, cnt);
    }
    if (rgx_acc)
        put_f64(rgx, scr, cnt, 1);
}

static void forward_f32(const lm__node *nd, const float *th, const float *x, float *y, size_t n,
                        double *scr) {
    (void) th;
    (void) scr;
    act_forward_f32(nd->spec.act, x, y, n * nd->in_size);
}

static void backward_f32(const lm__node *nd, const float *th, const float *x, const float *y,
                         const float *gy, float *gx, int gx_acc, float *gth, size_t n,
                         double *scr) {
    (void) th;
    (void) gth;
    if (!gx)
        return;
    const size_t cnt = n * nd->in_size;
    float *tmp = (float *) (void *) scr;
    act_backward_f32(nd->spec.act, x, y, gy, gx_acc ? tmp : gx, cnt);
    if (gx_acc)
        put_f32(gx, tmp, cnt, 1);
}

static void jvp_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                    const float *dx, const float *y, float *dy, size_t n, double *scr) {
    (void) th;
    (void) vth;
    (void) scr;
    const size_t cnt = n * nd->in_size;
    if (!dx) {
        for (size_t i = 0; i < cnt; i++)
            dy[i] = 0.0f;
        return;
    }
    act_rforward_f32(nd->spec.act, x, y, dx, dy, cnt);
}

static void rbackward_f32(const lm__node *nd, const float *th, const float *vth, const float *x,
                          const float *dx, const float *y, const float *dy, const float *gy,
                          const float *rgy, float *rgx, int rgx_acc, float *hth, size_t n,
                          double *scr) {
    (void) th;
    (void) vth;
    (void) dy;
    (void) hth;
    if (!rgx)
        return;
    const size_t cnt = n * nd->in_size;
    float *dst = rgx_acc ? (float *) (void *) scr : rgx;
    if (dx) {
        act_rbackward_f32(nd->spec.act, x, y, gy, rgy, dx, dst, cnt);
    } else {
        act_backward_f32(nd->spec.act, x, y, rgy, dst, cnt);
    }
    if (rgx_acc)
        put_f32(rgx, dst, cnt, 1);
}

const lm__layer_ops lm__layer_act = {
    .type = LM_LAYER_ACT,
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
