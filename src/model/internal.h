/* Internal to src/model: the workspace layout shared by mlp.c and the per-dtype kernels. */
#ifndef LM_MODEL_INTERNAL_H
#define LM_MODEL_INTERNAL_H

#include "lmech/model.h"

#include <cblas.h>

/* Buffers are untyped here and typed (float or double) by the kernels of the workspace's dtype.
 * Per layer l = 0..L-1 (d = layer l's d_out):
 *   z[l]     pre-activations [n, d]; z[L-1] is the network output f
 *   a[l]     activations [n, d]; aliases z[l] for the last layer and the identity activation
 *   delta[l] dL/dz_l [n, d] for hidden layers (the last layer's is df)
 *   g[l]     dL/da_l [n, d] for hidden layers, kept for the R-operator
 * R-operator state: rz[l], ra[l] (aliases as for a), rdelta[l], rdf, rg, gscratch. A float64
 * workspace allocates g and the R-state with the rest (in buf); a float32 workspace allocates
 * them on its first hvp_prepare_f32 / jvp_f32 (in rbuf, lm__mlp_ws_rstate), since most float32
 * workspaces only train (the R-state is ~1.6x the forward state). A float32 workspace also keeps
 * the loss's second-order step in double: hf, hy, hrf, hr [n_max, d_out] (the outputs, targets,
 * R-outputs and R{dL/df} in float64), so lm_loss_hess_apply stays the one definition. */
struct lm_mlp_ws {
    const lm_mlp *m;
    lm_dtype dt;
    size_t n_max, n;
    void *buf;
    void *z[LM_MAX_LAYERS], *a[LM_MAX_LAYERS], *delta[LM_MAX_LAYERS], *g[LM_MAX_LAYERS];
    void *df;
    double *colsum; /* [max width] double accumulator for bias gradients */
    void *rz[LM_MAX_LAYERS], *ra[LM_MAX_LAYERS], *rdelta[LM_MAX_LAYERS], *rdf, *rg;
    void *gscratch;             /* [n_params] gradient scratch for hvp_prepare */
    void *rbuf;                 /* float32: the R-state's own allocation (NULL until asked for) */
    double *hf, *hy, *hrf, *hr; /* float32: the loss's second-order step in double */
    /* HVP evaluation point set by hvp_prepare (borrowed; the workspace's dtype) */
    lm_loss loss;
    const void *theta, *x, *y;
    int prepared;
    /* layer-graph models (m->graph; graph.h): per buffer b < n_buf, val[b] the values [n, size],
     * grad[b] dL/d(buffer), tan[b] its R-forward tangent and rgrad[b] R{grad[b]} (the
     * workspace's dtype; a float32 workspace allocates tan and rgrad on its first jvp or
     * hvp_prepare, in rbuf: lm__graph_ws_rstate); buffer 0 is the caller's x (val[0] borrowed;
     * grad, tan, rgrad NULL). has[b] marks the gradient buffers already written in the current
     * backward pass. */
    size_t n_buf;
    void **val, **grad;
    void **tan, **rgrad;
    unsigned char *has;
    double *scr; /* the layers' shared scratch */
};

/* A float32 workspace's R-state (g, rz, ra, rdelta, rdf, rg, gscratch, hf, hy, hrf, hr),
 * allocated on the first call and kept; LM_ENOMEM naming its size. float64 workspaces have it
 * already (LM_OK). */
lm_status lm__mlp_ws_rstate(lm_mlp_ws *ws, lm_err *err);

/* tanh elementwise (vmath.c): libmvec's vector routine where available; a may alias z. */
void lm__tanh_f64(const double *z, double *a, size_t n);
void lm__tanh_f32(const float *z, float *a, size_t n);
/* exp elementwise (vmath.c), likewise; the attention layer's softmax. */
void lm__exp_f64(const double *z, double *a, size_t n);
void lm__exp_f32(const float *z, float *a, size_t n);

#endif
