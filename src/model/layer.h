/*
 * layer.h: the layer contract of the layer graph (internal to src/model).
 *
 * A layer type is one lm__layer_ops table (layer_linear.c, layer_act.c, layer_conv.c, ...) listed
 * in lm__layer_types (graph.c). Adding a layer type is: one file with its table, one line in that
 * list, one enum value in lmech/model.h, its config keys in config.c (docs/models.md).
 *
 * Shapes. Every activation tensor is one example's [C, H, W] (features [d] are [d, 1, 1]),
 * stored row-major per example and examples contiguous: a batch of n is [n, C*H*W] (PyTorch's
 * NCHW). A sequence of T positions with d features each is [1, T, d] (PyTorch's [B, T, d]):
 * position t's features are x[t*d .. t*d + d). Layers that act on every position alike (linear,
 * layernorm on a sequence) see n*T rows of d; token ids are one example's [T] input of numbers
 * 0..vocab-1 stored as T (exact in float32 below 2^24). A layer sees its node (lm__node: its spec,
 * input and output shapes, parameter slice and the parameterization's multipliers) and pointers to
 * whole batches.
 *
 * Parameters. A node's parameters are one slice th = theta + nd->p_off of nd->n_p numbers, laid
 * out as its tensors (nd->tensor[0..n_tensors), each at offset tensor[t].off - nd->p_off inside
 * the slice). Gradients, tangents v and Hessian-vector products are sliced the same way.
 *
 * The calls (T is double for _f64 and float for _f32; scr is the node's scratch: at least
 * nd->scratch_per_ex * n + nd->scratch_fixed doubles, contents undefined on entry and exit;
 * every call is stateless: what backward needs it recomputes from x and y):
 *   forward   y [n, out] = layer(th, x [n, in])
 *   backward  given gy = dL/dy: gth (overwritten) = dL/dth; gx (when not NULL) = dL/dx,
 *             overwritten when gx_acc == 0 and ADDED to when gx_acc == 1 (a residual block's
 *             input receives two contributions). gx is NULL when x is the data.
 *   jvp       dy = (dy/dth) vth + (dy/dx) dx: the R-forward pass. vth NULL: no parameter
 *             tangent; dx NULL: the input does not move (it is the data).
 *   rbackward R{backward}: the directional derivative along (vth, dx) of backward's outputs,
 *             given the tangents dx, dy of this node's input and output and rgy = R{gy}:
 *               hth (overwritten) = R{gth},  rgx (NULL, overwritten or added as gx) = R{gx}.
 *             For a layer bilinear in (th, x) such as linear or conv:
 *               R{gth} = B(rgy, x) + B(gy, dx),  R{gx} = B'(rgy, th) + B'(gy, vth);
 *             for a nonlinear layer the second-order term appears (e.g. an activation's
 *             gy (.) phi''(x) (.) dx); each layer derives its own in a comment beside it.
 * The float32 entries have the same contract with T = float (scr still doubles): forward and
 * backward for training and evaluation, jvp and rbackward for float32 Jacobian- and
 * Hessian-vector products (the sharpness of float32 runs). Every layer has all eight; a graph
 * with a layer lacking a float32 entry refuses float32 with a message naming it.
 */
#ifndef LM_MODEL_LAYER_H
#define LM_MODEL_LAYER_H

#include "lmech/model.h"

#include <cblas.h>
#include <stddef.h>

#define LM_NODE_MAX_TENSORS 2

typedef struct lm__node lm__node;

typedef struct lm__layer_ops {
    lm_layer_type type;
    /* From nd->spec and nd->in_shape: sets nd->out_shape, nd->n_tensors and each tensor's kind,
     * ndim and shape (graph.c then lays them out, names them and sets their scalars),
     * nd->fan_in (the fan-in of its weight: in features, or in_channels*kh*kw),
     * nd->scratch_per_ex, nd->scratch_fixed. Errors (LM_EINVAL) name the layer by nd->where
     * ("model.layers[3]") and the value that is wrong. */
    lm_status (*build)(lm__node *nd, lm_err *err);
    void (*forward_f64)(const lm__node *nd, const double *th, const double *x, double *y, size_t n,
                        double *scr);
    void (*backward_f64)(const lm__node *nd, const double *th, const double *x, const double *y,
                         const double *gy, double *gx, int gx_acc, double *gth, size_t n,
                         double *scr);
    void (*jvp_f64)(const lm__node *nd, const double *th, const double *vth, const double *x,
                    const double *dx, const double *y, double *dy, size_t n, double *scr);
    void (*rbackward_f64)(const lm__node *nd, const double *th, const double *vth, const double *x,
                          const double *dx, const double *y, const double *dy, const double *gy,
                          const double *rgy, double *rgx, int rgx_acc, double *hth, size_t n,
                          double *scr);
    void (*forward_f32)(const lm__node *nd, const float *th, const float *x, float *y, size_t n,
                        double *scr);
    void (*backward_f32)(const lm__node *nd, const float *th, const float *x, const float *y,
                         const float *gy, float *gx, int gx_acc, float *gth, size_t n, double *scr);
    void (*jvp_f32)(const lm__node *nd, const float *th, const float *vth, const float *x,
                    const float *dx, const float *y, float *dy, size_t n, double *scr);
    void (*rbackward_f32)(const lm__node *nd, const float *th, const float *vth, const float *x,
                          const float *dx, const float *y, const float *dy, const float *gy,
                          const float *rgy, float *rgx, int rgx_acc, float *hth, size_t n,
                          double *scr);
} lm__layer_ops;

/* One layer instance. Set by graph.c unless marked (build). */
struct lm__node {
    const lm__layer_ops *ops;
    lm_layer_spec spec;
    char where[40];           /* "model.layers[3]" or "model.layers[2].body[0]"               */
    size_t in_shape[3];       /* [C, H, W]                                                     */
    size_t out_shape[3];      /* (build)                                                       */
    size_t in_size, out_size; /* C*H*W                                                       */
    int seq;     /* the input is a sequence [1, T, d] (set by graph.c: the embedding's output
                    and what per-position layers make of it)                                */
    size_t rows; /* (build) per-position layers (linear, layernorm): T on a sequence, else 1  */
    size_t n_tensors; /* (build) 0..LM_NODE_MAX_TENSORS                                */
    size_t tensor[LM_NODE_MAX_TENSORS];       /* indices into lm_mlp.tensor                      */
    lm_tensor_kind kind[LM_NODE_MAX_TENSORS]; /* (build)                                   */
    size_t tndim[LM_NODE_MAX_TENSORS];        /* (build)                                   */
    size_t tshape[LM_NODE_MAX_TENSORS][4];    /* (build)                                   */
    const char *tname[LM_NODE_MAX_TENSORS];   /* (build, optional) the name after the node's
                                                 prefix; default "weight" / "bias" by kind   */
    size_t fan_in; /* (build) for the parameterization; 0 without a weight         */
    size_t scratch_per_ex, scratch_fixed; /* (build) doubles                                */
    size_t p_off, n_p; /* parameter slice                                               */
    /* forward multipliers of the weight and the bias (the parameterization's, with
     * model.output_multiplier folded into the readout's) */
    double w_mul, b_mul;
    int has_bias; /* resolved spec.bias                                            */
    /* graph wiring: buffer indices (0 = the input x) */
    size_t in_buf, out_buf;
    size_t skip_buf; /* residual add nodes: the block's input; SIZE_MAX otherwise     */
};

/* The layer types, one table each (layer_*.c). */
extern const lm__layer_ops lm__layer_linear, lm__layer_act, lm__layer_flatten, lm__layer_conv2d,
    lm__layer_avgpool2d, lm__layer_maxpool2d, lm__layer_layernorm, lm__layer_embedding,
    lm__layer_attention, lm__layer_last;

/* Helpers for layer files: the tensor t of nd starts at th + lm__toff(nd, t). */
size_t lm__toff(const lm__node *nd, size_t t);

#endif
