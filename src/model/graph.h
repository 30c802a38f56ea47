/*
 * graph.h: the layer graph (internal to src/model): a model.layers list compiled into nodes
 * (layer.h) that read and write numbered buffers, and the executors behind the lm_mlp_* calls
 * for such models (graph_impl.h, compiled per dtype by graph_f64.c and graph_f32.c: forward,
 * backward, the JVP and the R-operator).
 *
 * Compilation. Entry i of model.layers becomes one node reading the previous buffer and writing
 * a new one; a residual entry compiles its body from the block's input buffer b and then an add
 * node (ops NULL, skip_buf = b) whose output is body(x) + x. Buffer 0 is the input x (borrowed).
 * Representation layer 0 is x, layer i + 1 the output buffer of entry i (the PyTorch module
 * layers[i]'s output).
 */
#ifndef LM_MODEL_GRAPH_H
#define LM_MODEL_GRAPH_H

#include "model/layer.h"

#define LM_GRAPH_MAX_NODES (2 * LM_MAX_LAYER_SPECS)

struct lm__graph {
    size_t n_nodes;
    lm__node node[LM_GRAPH_MAX_NODES];
    size_t n_buf; /* buffers 0..n_buf-1; n_buf - 1 is the output     */
    size_t buf_size[LM_GRAPH_MAX_NODES + 1];
    size_t buf_shape[LM_GRAPH_MAX_NODES + 1][3];
    size_t buf_width[LM_GRAPH_MAX_NODES + 1]; /* the width-like dimension (channels) for muP */
    int buf_seq[LM_GRAPH_MAX_NODES + 1];      /* a sequence [1, T, d] (layer.h)              */
    size_t vocab; /* an embedding's vocabulary: the input is token ids below it; 0 otherwise */
    size_t repr_buf[LM_MAX_LAYERS + 1];
    size_t scratch_max_per_ex, scratch_max_fixed;
    double tensor_std[LM_MAX_TENSORS]; /* initial standard deviation (gains start at 1)      */
    int f32_ok;                        /* every layer has a float32 path                      */
    char f32_missing[40];              /* where the first layer without one is                */
};

lm_status lm__graph_build(lm_mlp *m, lm_err *err);
/* model.arch "gpt": the tensors renamed to the reference module's (gpt.c) */
lm_status lm__gpt_names(lm_mlp *m, lm_err *err);
/* LM_OK when every input is a token id of the model's vocabulary (an integer 0..vocab-1), or
 * when the model reads no tokens; LM_EINVAL naming the row, position and value otherwise (the
 * embedding indexes its table with them). x is double (dt LM_F64) or float. */
lm_status lm__graph_check_tokens(const lm_mlp *m, const void *x, size_t n, lm_dtype dt,
                                 lm_err *err);
lm_status lm__graph_init(const lm_mlp *m, uint64_t seed, double *theta);
lm_status lm__graph_ws_new(const lm_mlp *m, size_t n_max, lm_dtype dt, lm_mlp_ws *ws, lm_err *err);
void lm__graph_ws_free(lm_mlp_ws *ws);

/* Executors (graph_f64.c, graph_f32.c). Shapes as the lm_mlp_* calls; ws checked by the caller. */
const double *lm__graph_forward_f64(const lm_mlp *m, lm_mlp_ws *ws, const double *theta,
                                    const double *x, size_t n);
void lm__graph_backward_f64(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, double *grad);
void lm__graph_rforward_f64(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *v);
void lm__graph_rbackward_f64(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *v,
                             double *hv);
const float *lm__graph_forward_f32(const lm_mlp *m, lm_mlp_ws *ws, const float *theta,
                                   const float *x, size_t n);
void lm__graph_backward_f32(const lm_mlp *m, lm_mlp_ws *ws, const float *theta, float *grad);
void lm__graph_rforward_f32(const lm_mlp *m, lm_mlp_ws *ws, const float *theta, const float *v);
void lm__graph_rbackward_f32(const lm_mlp *m, lm_mlp_ws *ws, const float *theta, const float *v,
                             float *hv);
/* A float32 workspace's R-state (tan, rgrad per buffer, gscratch, and the loss's second-order
 * step in double: hf, hy, hrf, hr), allocated on the first float32 jvp / hvp_prepare and kept
 * (in ws->rbuf), so that training workspaces stay small. LM_ENOMEM naming its size. */
lm_status lm__graph_ws_rstate(lm_mlp_ws *ws, lm_err *err);

#endif
