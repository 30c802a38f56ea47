/* Internal to src/model: the workspace layout shared by mlp.c and the per-dtype kernels. */
#ifndef LM_MODEL_INTERNAL_H
#define LM_MODEL_INTERNAL_H

#include "lmech/model.h"

struct lm_mlp_ws {
    const lm_mlp *m;
    lm_dtype dt;
    size_t n_max; /* examples the buffers hold                                     */
    size_t n;     /* examples of the cached forward pass                           */
    void *buf;    /* one allocation holding everything below                       */
    /* per layer l = 0..L-1: z[l] pre-activations [n, d_out], a[l] activations [n, d_out]
     * (a[L-1] = network output f); a0 is the caller's x (borrowed). */
    void *z[LM_MAX_LAYERS], *a[LM_MAX_LAYERS];
    void *delta, *delta2; /* backward signals [n, max width], ping-pong              */
    void *df;             /* dL/df [n, d_out]                                       */
    /* R-operator state (float64 only): Rz, Ra per layer, R(dL/df), R-backward signals */
    double *rz[LM_MAX_LAYERS], *ra[LM_MAX_LAYERS], *rdf, *rdelta, *rdelta2;
    /* HVP cache: the evaluation point given to hvp_prepare (borrowed) */
    lm_loss loss;
    const double *theta, *x, *y;
    int prepared;
    size_t max_width;
};

#endif
