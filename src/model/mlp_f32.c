/* mlp_f32.c: the float32 training path (forward, loss and gradient) from mlp_impl.h. */
#include "model/graph.h"
#include "model/internal.h"

#define T         float
#define SFX(name) name##_f32
#define GEMM      cblas_sgemm
#define VTANH     lm__tanh_f32
#include "model/mlp_impl.h"

static lm_status check(const lm_mlp *m, lm_mlp_ws *ws, size_t n, lm_err *err) {
    if (!ws || ws->m != m || ws->dt != LM_F32)
        LM_FAIL(err, LM_EINVAL, "workspace was not made for this model in float32");
    if (n == 0 || n > ws->n_max)
        LM_FAIL(err, LM_ESHAPE, "batch of %zu examples; the workspace holds 1 to %zu", n,
                ws->n_max);
    return LM_OK;
}

lm_status lm_mlp_forward_f32(const lm_mlp *m, lm_mlp_ws *ws, const float *theta, const float *x,
                             size_t n, float *f, lm_err *err) {
    LM_TRY(check(m, ws, n, err));
    const float *out =
        m->graph ? lm__graph_forward_f32(m, ws, theta, x, n) : forward_f32(m, ws, theta, x, n);
    if (f)
        memcpy(f, out, n * m->d_out * sizeof *f);
    return LM_OK;
}

lm_status lm_mlp_loss_grad_f32(const lm_mlp *m, lm_mlp_ws *ws, lm_loss loss, const float *theta,
                               const float *x, const float *y, size_t n, double *loss_out,
                               float *grad, float *f, lm_err *err) {
    LM_TRY(check(m, ws, n, err));
    const float *out =
        m->graph ? lm__graph_forward_f32(m, ws, theta, x, n) : forward_f32(m, ws, theta, x, n);
    double v = 0.0;
    LM_TRY(lm_loss_eval_f32(loss, out, y, n, m->d_out, &v, grad ? ws->df : NULL, err));
    if (loss_out)
        *loss_out = v;
    if (f)
        memcpy(f, out, n * m->d_out * sizeof *f);
    if (grad && m->graph)
        lm__graph_backward_f32(m, ws, theta, grad);
    else if (grad)
        backward_f32(m, ws, theta, x, grad, 0);
    return LM_OK;
}
