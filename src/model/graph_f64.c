/*
 * graph_f64.c: the layer graph's float64 passes (graph_impl.h): forward, backward, and the
 * R-operator for Jacobian-vector and exact Hessian-vector products.
 */
#include "model/graph.h"
#include "model/internal.h"

#include <stdint.h>

#define T         double
#define SFX(name) name##_f64
#include "model/graph_impl.h"

const double *lm__graph_forward_f64(const lm_mlp *m, lm_mlp_ws *ws, const double *theta,
                                    const double *x, size_t n) {
    return graph_forward_f64(m, ws, theta, x, n);
}

void lm__graph_backward_f64(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, double *grad) {
    graph_backward_f64(m, ws, theta, grad);
}

void lm__graph_rforward_f64(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *v) {
    graph_rforward_f64(m, ws, theta, v);
}

void lm__graph_rbackward_f64(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *v,
                             double *hv) {
    graph_rbackward_f64(m, ws, theta, v, hv);
}
