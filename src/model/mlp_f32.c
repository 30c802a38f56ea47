/*
 * mlp_f32.c: the float32 path from mlp_impl.h: forward, loss and gradient (training), and the
 * JVP and exact Hessian-vector product by the R-operator (sharpness of float32 runs; the
 * derivation is beside r_forward / r_backward in mlp_impl.h), for dense chains (model.widths)
 * and layer-graph models alike (graph_impl.h's R-forward and R-backward over every layer's
 * float32 jvp and rbackward, layer.h).
 *
 * Precision. The products are float32 GEMMs, so an HVP carries relative errors of order
 * sqrt(d) u_32 (u_32 = 2^-24 ~ 6e-8, d the longest inner dimension: 784 on MNIST inputs, or n
 * examples in the parameter sums): ~1e-7 to 1e-6 (tests/model/test_hvp_f32.c measures); the loss's
 * second-order step (a few flops per output) runs in double on float64 copies of the outputs.
 * Lanczos stops at relative residual 1e-3 for the sharpness, three orders above that error.
 * Layer graphs: the GPT of issue 16 (d_model 128, 4 heads, 2 blocks, T 64, batch 32, 470k
 * parameters) gives float32 HVPs within 4-6e-7 (relative) of float64 ones, measured on the
 * shared 2-core build machine at one BLAS thread in 360 ms per product against 530 (predict
 * "last") to 610 ms ("every") in float64: 1.5-1.7x (layer norm's rows run in double, and the
 * attention's softmax sums too, so less than the GEMMs' 2x).
 */
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
    LM_TRY(lm__graph_check_tokens(m, x, n, LM_F32, err));
    ws->prepared = 0;
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
    LM_TRY(lm__graph_check_tokens(m, x, n, LM_F32, err));
    ws->prepared = 0;
    const float *out =
        m->graph ? lm__graph_forward_f32(m, ws, theta, x, n) : forward_f32(m, ws, theta, x, n);
    double v = 0.0;
    LM_TRY(lm_loss_eval_f32(loss, out, y, n * m->positions, m->d_out / m->positions, &v,
                            grad ? ws->df : NULL, err));
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

/* The float32 R-operator's callers: a float32 workspace with its R-state (allocated on the
 * first call), valid token ids for a graph reading tokens. */
static lm_status check_r(const lm_mlp *m, lm_mlp_ws *ws, const float *x, size_t n, lm_err *err) {
    LM_TRY(check(m, ws, n, err));
    LM_TRY(lm__graph_check_tokens(m, x, n, LM_F32, err));
    return m->graph ? lm__graph_ws_rstate(ws, err) : lm__mlp_ws_rstate(ws, err);
}

lm_status lm_mlp_jvp_f32(const lm_mlp *m, lm_mlp_ws *ws, const float *theta, const float *x,
                         size_t n, const float *v, float *df, lm_err *err) {
    LM_TRY(check_r(m, ws, x, n, err));
    ws->prepared = 0;
    if (m->graph) {
        lm__graph_forward_f32(m, ws, theta, x, n);
        lm__graph_rforward_f32(m, ws, theta, v);
        memcpy(df, ws->tan[ws->n_buf - 1], n * m->d_out * sizeof *df);
        return LM_OK;
    }
    forward_f32(m, ws, theta, x, n);
    r_forward_f32(m, ws, theta, x, v);
    memcpy(df, ws->rz[m->n_layers - 1], n * m->d_out * sizeof *df);
    return LM_OK;
}

lm_status lm_mlp_hvp_prepare_f32(const lm_mlp *m, lm_mlp_ws *ws, lm_loss loss, const float *theta,
                                 const float *x, const float *y, size_t n, double *loss_out,
                                 float *grad, lm_err *err) {
    LM_TRY(check_r(m, ws, x, n, err));
    ws->prepared = 0;
    const float *out =
        m->graph ? lm__graph_forward_f32(m, ws, theta, x, n) : forward_f32(m, ws, theta, x, n);
    double v = 0.0;
    LM_TRY(
        lm_loss_eval_f32(loss, out, y, n * m->positions, m->d_out / m->positions, &v, ws->df, err));
    /* the backward pass keeps every dL/d(buffer) for the R-backward */
    if (m->graph)
        lm__graph_backward_f32(m, ws, theta, grad ? grad : (float *) ws->gscratch);
    else
        backward_f32(m, ws, theta, x, grad ? grad : (float *) ws->gscratch, 1);
    /* the loss's second-order step reads the outputs and targets in double */
    const size_t nk = n * m->d_out;
    for (size_t i = 0; i < nk; i++) {
        ws->hf[i] = (double) out[i];
        ws->hy[i] = (double) y[i];
    }
    if (loss_out)
        *loss_out = v;
    ws->loss = loss;
    ws->theta = theta;
    ws->x = x;
    ws->y = y;
    ws->prepared = 1;
    return LM_OK;
}

lm_status lm_mlp_hvp_apply_f32(const lm_mlp *m, lm_mlp_ws *ws, const float *v, float *hv,
                               lm_err *err) {
    if (!ws || ws->m != m || ws->dt != LM_F32 || !ws->prepared)
        LM_FAIL(err, LM_EINVAL, "lm_mlp_hvp_apply_f32: call lm_mlp_hvp_prepare_f32 first");
    const size_t L = m->n_layers, nk = ws->n * m->d_out;
    if (m->graph)
        lm__graph_rforward_f32(m, ws, ws->theta, v);
    else
        r_forward_f32(m, ws, ws->theta, ws->x, v);
    const float *rf = m->graph ? ws->tan[ws->n_buf - 1] : ws->rz[L - 1];
    float *rdf = m->graph ? ws->rgrad[ws->n_buf - 1] : ws->rdf;
    for (size_t i = 0; i < nk; i++)
        ws->hrf[i] = (double) rf[i];
    /* losses over n*positions rows of d_out/positions (every position of a sequence model) */
    lm_loss_hess_apply(ws->loss, ws->hf, ws->hy, ws->n * m->positions, m->d_out / m->positions,
                       ws->hrf, ws->hr);
    for (size_t i = 0; i < nk; i++)
        rdf[i] = (float) ws->hr[i];
    if (m->graph)
        lm__graph_rbackward_f32(m, ws, ws->theta, v, hv);
    else
        r_backward_f32(m, ws, ws->theta, ws->x, v, hv);
    return LM_OK;
}
