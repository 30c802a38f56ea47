/*
 * graph_f32.c: the layer graph's float32 passes (graph_impl.h): forward and backward (training),
 * and the R-operator (float32 Jacobian- and Hessian-vector products; the tangent buffers are the
 * workspace's lazily allocated R-state, lm__graph_ws_rstate).
 */
#include "model/graph.h"
#include "model/internal.h"

#include <stdint.h>

#define T         float
#define SFX(name) name##_f32
#include "model/graph_impl.h"

const float *lm__graph_forward_f32(const lm_mlp *m, lm_mlp_ws *ws, const float *theta,
                                   const float *x, size_t n) {
    return graph_forward_f32(m, ws, theta, x, n);
}

void lm__graph_backward_f32(const lm_mlp *m, lm_mlp_ws *ws, const float *theta, float *grad) {
    graph_backward_f32(m, ws, theta, grad);
}

void lm__graph_rforward_f32(const lm_mlp *m, lm_mlp_ws *ws, const float *theta, const float *v) {
    graph_rforward_f32(m, ws, theta, v);
}

void lm__graph_rbackward_f32(const lm_mlp *m, lm_mlp_ws *ws, const float *theta, const float *v,
                             float *hv) {
    graph_rbackward_f32(m, ws, theta, v, hv);
}
