/*
 * lmech/model.h: multilayer perceptrons with exact derivatives.
 *
 * A network with L linear layers maps x (d_0 inputs) through
 *     z_l = w_mul[l] * W_l a_{l-1} + b_mul[l] * b_l,   a_l = phi(z_l)   (l = 1..L-1),
 *     f   = output_multiplier * (w_mul[L] * W_L a_{L-1} + b_mul[L] * b_L),
 * with a_0 = x. Deep linear networks are the identity-activation case.
 *
 * Parameters live in ONE flat buffer theta of n_params numbers. Layer l's weight W_l is stored
 * row-major as [d_out, d_in] (PyTorch's nn.Linear layout), followed by its bias [d_out] when the
 * model has biases. Gradients, tangents, HVP outputs and optimizer state share this layout.
 *
 * Parameterizations (shared/science.md §5, TP-V Table 3), with the width ratio m = n / base_width
 * so that all three coincide with SP at the base width (m = 1 when base_width = 0):
 *   sp : W ~ N(0, sw2/fan_in), multiplier 1, every learning rate eta.
 *   ntp: W ~ N(0, 1), weight multiplier sqrt(sw2/fan_in), bias b ~ N(0,1) times sqrt(sb2)
 *        (biases start at 0 with multiplier 1 when sb2 = 0), every learning rate eta.
 *   mup: input and hidden W ~ N(0, sw2/fan_in); readout W ~ N(0, sw2/(fan_in * m)).
 *        SGD learning rates: input weights and hidden biases eta*m, hidden eta, readout eta/m,
 *        readout bias eta (TP-V Table 3: a bias's SGD rate is eta*fan_out, and the readout's
 *        fan_out is the finite output dimension).
 *        Adam learning rates: input weights and all biases eta, hidden eta/m, readout eta/m.
 * Biases start at zero in sp and mup (b ~ N(0, sb2) when sb2 > 0).
 *
 * Shapes are row-major: x [n, d_0], outputs f [n, d_L]. Dimension names: n batch, d_in, d_out,
 * p parameters, k outputs.
 */
#ifndef LMECH_MODEL_H
#define LMECH_MODEL_H

#include "lmech/core.h"
#include "lmech/loss.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LM_MAX_LAYERS 32

typedef enum lm_act {
    LM_ACT_IDENTITY = 0,
    LM_ACT_RELU,
    LM_ACT_TANH,
    LM_ACT_ERF,
    LM_ACT_GELU, /* exact: x * Phi(x) */
    LM_ACT_SIGMOID,
    LM_ACT_SOFTPLUS,
    LM_ACT_QUADRATIC /* x^2 */
} lm_act;

typedef enum lm_param { LM_PARAM_SP = 0, LM_PARAM_NTP, LM_PARAM_MUP } lm_param;

/* Parses "relu", "tanh", ... / "sp", "ntp", "mup". Return LM_EINVAL naming the bad string. */
lm_status lm_act_parse(const char *s, lm_act *out, lm_err *err);

/* The one definition of each activation (src/model/act.c): phi(z), phi'(z) and phi''(z) at one
 * point, with a = phi(z) passed to the derivatives (cheaper from it for tanh and sigmoid). The
 * model's forward and backward kernels, its R-operator, the empirical and analytic kernels all
 * evaluate these. */
double lm_act_phi(lm_act act, double z);
double lm_act_dphi(lm_act act, double z, double a);
double lm_act_d2phi(lm_act act, double z, double a);
lm_status lm_param_parse(const char *s, lm_param *out, lm_err *err);
const char *lm_act_name(lm_act a);
const char *lm_param_name(lm_param p);

/* How theta_0 is drawn: the parameterization's random draw, or (deep linear networks, science.md
 * §1) the aligned, balanced initialisation of lm_mlp_init_aligned. */
typedef enum lm_init_kind { LM_INIT_RANDOM = 0, LM_INIT_ALIGNED } lm_init_kind;

/* ---------------------------------------------------------------- the layer graph
 *
 * A model is either the dense chain above (model.widths: the MLP shorthand) or a list of layers
 * (model.layers, with model.input_shape [C, H, W] or [d]), run by the layer graph of
 * src/model/graph.c. Each layer type is one lm__layer_ops table (src/model/layer.h) supplying
 * its shape rule, parameters, forward pass, VJP, JVP and R-operator; docs/models.md lists them
 * with the PyTorch module each one matches. Every lm_mlp_* function below accepts both kinds. */
typedef enum lm_layer_type {
    LM_LAYER_LINEAR = 0, /* y = W x + b on features [d], or on every position of a sequence
                            [1, T, d] (nn.Linear acting on the last dimension)               */
    LM_LAYER_CONV2D,     /* [C, H, W] -> [out, H', W'] (nn.Conv2d: kernel, stride, padding)      */
    LM_LAYER_AVGPOOL2D,  /* nn.AvgPool2d(kernel, stride)                                        */
    LM_LAYER_MAXPOOL2D,  /* nn.MaxPool2d(kernel, stride)                                        */
    LM_LAYER_FLATTEN,    /* [C, H, W] -> [C*H*W] (nn.Flatten)                                   */
    LM_LAYER_ACT,        /* one of the eight activations, elementwise                           */
    LM_LAYER_RESIDUAL,   /* x + body(x); the body is the next body_len entries                   */
    LM_LAYER_LAYERNORM,  /* nn.LayerNorm(d, eps) over the features of a [d] input, or of every
                            position of a sequence [1, T, d]                                */
    LM_LAYER_EMBEDDING,  /* token ids [T] -> [1, T, out]: tok_emb[id_t] + pos_emb[t] (two
                            nn.Embedding tables, vocab x out and T x out)                   */
    LM_LAYER_ATTENTION,  /* causal multi-head self-attention core: [1, T, 3d] (q, k, v, heads
                            contiguous within each) -> [1, T, d]; no parameters           */
    LM_LAYER_LAST,       /* a sequence's last position: [1, T, d] -> [d] (x[:, -1])         */
    LM_LAYER_N_TYPES
} lm_layer_type;

#define LM_MAX_LAYER_SPECS 64

typedef struct lm_layer_spec {
    lm_layer_type type;
    lm_act act;      /* LM_LAYER_ACT: which activation ("relu", "tanh", ... as the type's name)  */
    size_t out;      /* linear: output features; conv2d: output channels                        */
    size_t kernel;   /* conv2d and the pools: square kernel size                               */
    size_t stride;   /* conv2d (default 1) and the pools (default: the kernel)                 */
    size_t padding;  /* conv2d: zero padding on each side (default 0)                         */
    int bias;        /* linear and conv2d: 1 with a bias; -1 follows model.bias (default)      */
    double eps;      /* layernorm: the variance floor (default 1e-5, PyTorch's)                */
    size_t vocab;    /* embedding: the number of token ids (ids 0..vocab-1)                    */
    size_t heads;    /* attention: the number of heads (d = 3d_in/3 must be a multiple)       */
    double scale;    /* attention: the score multiplier s in softmax(s q k^T); 0 = 1/sqrt(d_head)
                        (set by model.arch "gpt" for mup: sqrt(d_head,base) / d_head)        */
    size_t body_len; /* residual: how many of the entries that follow (nested ones included)
                        form its body                                                        */
} lm_layer_spec;

/* The layer types by their config names ("linear", "conv2d", "avgpool2d", "maxpool2d",
 * "flatten", "residual", "layernorm"; an activation's name is an LM_LAYER_ACT layer). */
lm_status lm_layer_type_parse(const char *s, lm_layer_spec *out, lm_err *err);
const char *lm_layer_type_name(const lm_layer_spec *l);

/* model.arch: a named architecture expanded into model.layers by lm_gpt_expand. */
typedef enum lm_arch { LM_ARCH_NONE = 0, LM_ARCH_GPT } lm_arch;

/* model.arch "gpt": a pre-norm decoder-only transformer (GPT-2's block, docs/models.md):
 *   h = tok_emb[x] + pos_emb;  per block: h = h + proj(attn(qkv(ln1(h))));
 *   h = h + mlp.proj(gelu(mlp.fc(ln2(h))));  then ln_f and head (linear, no bias) to vocab logits,
 * at every position (every = 1: [T, vocab] outputs, next-token prediction) or at the last only
 * (every = 0: [vocab]). GELU by erf, layer norm eps 1e-5, causal attention with heads heads of
 * d_model/heads. Tensor names are the reference module's (tests/fixtures/lmech_torch.py, GPT):
 * tok_emb.weight, pos_emb.weight, blocks.{b}.ln1.{weight,bias}, blocks.{b}.attn.qkv.{weight,bias},
 * blocks.{b}.attn.proj.{weight,bias}, blocks.{b}.ln2.{weight,bias},
 * blocks.{b}.mlp.fc.{weight,bias}, blocks.{b}.mlp.proj.{weight,bias}, ln_f.{weight,bias},
 * head.weight. */
typedef struct lm_gpt_spec {
    size_t vocab, context, d_model, heads, blocks;
    size_t mlp_ratio; /* the MLP's hidden width over d_model (default 4) */
    int every;        /* 1: predict at every position; 0: at the last (a config leaves it -1
                         until the data decide: text every position, the rest the last)  */
} lm_gpt_spec;

typedef struct lm_mlp_spec {
    size_t n_widths;                  /* number of entries in widths: layers + 1, at least 2 */
    size_t widths[LM_MAX_LAYERS + 1]; /* input first, output last                          */
    lm_act act;                       /* hidden activation (default relu)                  */
    int bias;                         /* 1: every layer has a bias (default 1)             */
    lm_param param;                   /* default sp                                        */
    size_t base_width;                /* muP/mup-style base width; 0: m = 1 (default)      */
    double output_multiplier;         /* alpha (default 1)                                 */
    double embed_multiplier;          /* the forward multiplier of an embedding layer's tables
                                         (mup's input multiplier; default 1, and 0 reads as
                                         1; graphs only)                                    */
    double sw2;                       /* weight variance scale sigma_w^2 (default 1)       */
    double sb2;                       /* bias variance sigma_b^2 (default 0)               */
    int readout_zero;  /* 1: the readout layer (W_L, b_L) starts at zero, so f(theta_0) = 0 (the
                          output-scale test of science.md §3, mup's advice for muP); the
                          other layers get the same draws as without it (default 0) */
    lm_init_kind init; /* default LM_INIT_RANDOM; LM_INIT_ALIGNED needs the task's modes, so it is
                     applied where the data are known (lm_train_init_params)            */
    double a0;         /* the aligned initialisation's per-layer scale (> 0; 0 when unused)  */
    /* model.layers (n_layer_specs > 0): a layer graph instead of the widths chain. Residual
     * bodies are inlined after their residual entry (lm_layer_spec.body_len). widths, act and
     * n_widths are then unused. */
    size_t n_layer_specs;
    lm_layer_spec layers[LM_MAX_LAYER_SPECS];
    size_t n_input_shape; /* 1 ([d]) or 3 ([C, H, W]); with model.layers */
    size_t input_shape[3];
    /* model.arch: layers (and input_shape) are its expansion (lm_gpt_expand) */
    lm_arch arch;
    lm_gpt_spec gpt;
} lm_mlp_spec;

lm_mlp_spec lm_mlp_spec_default(void);

/* Expands s->gpt (s->arch = LM_ARCH_GPT) into s->layers and s->input_shape ([context] token
 * ids): an embedding, per block a residual [layernorm, linear(3d), attention, linear(d)] and a
 * residual [layernorm, linear(ratio d), gelu, linear(d)], then layernorm, "last" when
 * predicting at the last position only, and linear(vocab, no bias). Under mup the attention
 * multiplier is sqrt(d_head,base)/d_head (TP-V's 1/d_head, equal to SP's 1/sqrt(d_head) at the
 * base width d_head,base = base_width/heads; d_head,base = d_head when base_width is 0), and
 * every width ratio is d_model/base_width (the MLP's ratio*d_model hidden width grows with it).
 * Errors (LM_EINVAL) name the model.* key: a size 0, d_model not a multiple of heads, more
 * blocks than the layer list holds. */
lm_status lm_gpt_expand(lm_mlp_spec *s, lm_err *err);

/* Per-layer layout and the scalars the parameterization derived. */
typedef struct lm_layer_info {
    size_t d_in, d_out;
    size_t w_off;   /* offset of W in theta                      */
    size_t b_off;   /* offset of b in theta (== w_off + d_in*d_out); unused without biases */
    double w_mul;   /* forward multiplier of W                   */
    double b_mul;   /* forward multiplier of b                   */
    double w_scale; /* w_mul, times output_multiplier on the last layer: what kernels use */
    double b_scale; /* b_mul, likewise                                                  */
    double w_std;   /* initial standard deviation of W's entries */
    double b_std;   /* initial standard deviation of b's entries */
    double lr_sgd_w, lr_sgd_b;   /* learning-rate multipliers for SGD-type optimizers  */
    double lr_adam_w, lr_adam_b; /* learning-rate multipliers for Adam-type optimizers */
} lm_layer_info;

/* One parameter tensor: a contiguous slice of theta in PyTorch's layout, named as the
 * state_dict of the reference module names it (docs/models.md). */
typedef enum lm_tensor_kind {
    LM_TENSOR_WEIGHT = 0, /* a linear or conv weight [out, in(, kh, kw)]  */
    LM_TENSOR_BIAS,       /* a bias [out]                                  */
    LM_TENSOR_GAIN        /* layer norm's elementwise weight [d] (starts at 1) */
} lm_tensor_kind;

#define LM_TENSOR_NAME 48
#define LM_MAX_TENSORS (2 * LM_MAX_LAYER_SPECS)

typedef struct lm_tensor_info {
    char name[LM_TENSOR_NAME]; /* "layers.3.weight", "layers.2.body.0.bias", ...          */
    lm_tensor_kind kind;
    size_t off, numel;      /* slice of theta                                                 */
    size_t ndim;            /* 1, 2 or 4                                                      */
    size_t shape[4];        /* PyTorch's shape                                                */
    size_t rows, cols;      /* as a matrix: [out, numel/out] (a conv weight [out, in*kh*kw])  */
    size_t layer;           /* representation layer it belongs to (1-based: the output of
                               layers[layer-1] of model.layers; for model.widths the linear
                               layer's output index l = 1..L)                                  */
    size_t dense;           /* index into lm_mlp.layer of its linear/conv layer (weights and
                               biases; SIZE_MAX for layer-norm parameters)                      */
    double lr_sgd, lr_adam; /* learning-rate multipliers of the parameterization           */
} lm_tensor_info;

typedef struct lm__graph lm__graph; /* src/model/graph.h */

typedef struct lm_mlp {
    lm_mlp_spec spec;
    size_t
        n_layers; /* dense layers: L = n_widths - 1, or the linear and conv2d layers of a graph */
    size_t n_params;
    size_t d_in, d_out; /* features per example in and out (C*H*W for image inputs) */
    /* the dense layers (linear; a graph's conv2d too, its weight seen as [out, in*kh*kw] with
     * d_in the fan-in): the layout and the parameterization's scalars */
    lm_layer_info layer[LM_MAX_LAYERS];
    size_t n_tensors;
    lm_tensor_info tensor[LM_MAX_TENSORS];
    size_t n_repr;    /* representation layers are 0 (inputs) .. n_repr (outputs) */
    size_t positions; /* outputs per example: 1, or T for a sequence model predicting at every
                         position ([1, T, V] outputs: d_out = T*V). Losses and accuracies treat n
                         examples as n*positions rows of d_out/positions (lm_mlp_rows)       */
    lm__graph *graph; /* NULL for the dense chain of model.widths */
} lm_mlp;

/* 1 when m is the dense chain of model.widths (one activation, linear layers): the analytic
 * kernels, the aligned initialisation and the dense-chain shortcuts apply. */
int lm_mlp_is_chain(const lm_mlp *m);
/* LM_OK for a dense chain; otherwise LM_EINVAL with "WHAT needs a model.widths network; this
 * model is <description>". */
lm_status lm_mlp_require_chain(const lm_mlp *m, const char *what, lm_err *err);
/* A one-line description of the model ("784-200-10 tanh MLP", "conv2d(16) relu avgpool2d ...
 * linear(10) on [1, 28, 28]") into buf. */
void lm_mlp_describe(const lm_mlp *m, char *buf, size_t len);

/* Validates the spec (widths >= 1, 1..LM_MAX_LAYERS layers, finite positive multipliers) and
 * derives the layout. On failure *out is untouched. */
lm_status lm_mlp_new(const lm_mlp_spec *spec, lm_mlp **out, lm_err *err);
void lm_mlp_free(lm_mlp *m);

/* Draws theta [n_params] from the parameterization with the LM_STREAM_INIT stream of seed. */
lm_status lm_mlp_init(const lm_mlp *m, uint64_t seed, double *theta, lm_err *err);

/* The aligned, balanced initialisation of a deep linear network (Saxe et al. 2014; science.md
 * §1) for a task Sigma^yx = U diag(s) V^T with U [d_out, r], V [d_in, r] (row-major, orthonormal
 * columns): with R_l [h_l, r] Haar-random orthonormal (LM_STREAM_INIT of seed, R_1 first), the
 * EFFECTIVE matrices w_scale_l W_l (forward multipliers and output_multiplier included) are
 *     W_1 = R_1 a0 V^T,  W_l = R_l a0 R_{l-1}^T,  W_N = U a0 R_{N-1}^T   (N >= 2),
 *     W_1 = U a0 V^T                                                     (N = 1),
 * so W_N ... W_1 = a0^N U V^T: every mode starts at u0 = a0^N, and the net is balanced
 * (W_{l+1}^T W_{l+1} = W_l W_l^T). Biases, if any, start at 0. Errors (LM_EINVAL, naming what is
 * wrong): a0 not finite and > 0, r = 0 or r > min(d_in, d_out), a hidden width < r, a
 * non-identity activation with N >= 2. */
lm_status lm_mlp_init_aligned(const lm_mlp *m, uint64_t seed, size_t r, const double *U,
                              const double *V, double a0, double *theta, lm_err *err);

/* Fills seg_off [n_layers*2+1] and lr_mult [n_layers*2] with the parameter segments
 * (W_1, b_1, W_2, ...; a bias segment is empty without biases) and their learning-rate
 * multipliers for an SGD-type (adam = 0) or Adam-type (adam = 1) optimizer. */
void lm_mlp_segments(const lm_mlp *m, int adam, size_t *seg_off, double *lr_mult);
/* The number of parameter segments (lm_mlp_segments) and the 0-based linear layer that segment
 * seg belongs to: callers never assume how many segments a layer has. */
size_t lm_mlp_n_segments(const lm_mlp *m);
size_t lm_mlp_segment_layer(const lm_mlp *m, size_t seg);

/* ---------------------------------------------------------------- workspace */

/* Caches the forward pass (pre-activations and activations) of up to n_max examples, the
 * R-operator state of one tangent vector (float64; a float32 workspace allocates it on its first
 * lm_mlp_jvp_f32 or lm_mlp_hvp_prepare_f32), and scratch. A workspace is
 * tied to one model and one dtype; everything a step needs is allocated here, so training steps
 * allocate nothing. */
typedef struct lm_mlp_ws lm_mlp_ws;

lm_status lm_mlp_ws_new(const lm_mlp *m, size_t n_max, lm_dtype dt, lm_mlp_ws **out, lm_err *err);
void lm_mlp_ws_free(lm_mlp_ws *ws);
/* Borrowed pointer to the outputs f [n, d_out] of the workspace's last forward pass (a getter:
 * float64 workspaces only, NULL otherwise). */
const double *lm_mlp_ws_output(const lm_mlp_ws *ws);

/* Borrowed pointer to layer l's activations [n, d_out of layer l] (post-activation phi(z_l) for
 * hidden layers l = 1..L-1, the outputs f for l = L) of the workspace's last float64 forward pass
 * of n examples; NULL for a float32 workspace or l outside 1..L. */
const double *lm_mlp_ws_activation(const lm_mlp_ws *ws, size_t l);

/* Width of representation layer l: d_in for l = 0, layer l's d_out for l = 1..L. */
size_t lm_mlp_layer_width(const lm_mlp *m, size_t l);

/* A layer's representations of n inputs: h [n, lm_mlp_layer_width(m, layer)] (overwritten) =
 * the inputs x for layer 0, the post-activations of hidden layer l for 1 <= l < L, the outputs f
 * for l = L (science.md §9; `lmech features`). Evaluated by lm_mlp_forward in chunks of at most
 * ws's n_max rows (ws: a float64 workspace of this model). Errors: layer > L (LM_EINVAL, naming
 * the layer and L), n = 0. */
lm_status lm_mlp_features(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *x,
                          size_t n, size_t layer, double *h, lm_err *err);
/* Several layers from one forward pass: h[l] [n, lm_mlp_layer_width(m, l)] for every l = 0..L
 * whose h[l] is not NULL (h has L + 1 entries). lm_mlp_features is this with one layer. */
lm_status lm_mlp_features_layers(const lm_mlp *m, lm_mlp_ws *ws, const double *theta,
                                 const double *x, size_t n, double *const *h, lm_err *err);

/* ---------------------------------------------------------------- float64 API */

/* f [n, d_out] (overwritten) = network(theta, x). n <= the workspace's n_max. */
lm_status lm_mlp_forward(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *x,
                         size_t n, double *f, lm_err *err);

/* Loss at theta on (x, y) and, when grad is not NULL, its gradient (overwritten) [n_params].
 * f (optional, [n, d_out]) receives the outputs. */
lm_status lm_mlp_loss_grad(const lm_mlp *m, lm_mlp_ws *ws, lm_loss loss, const double *theta,
                           const double *x, const double *y, size_t n, double *loss_out,
                           double *grad, double *f, lm_err *err);

/* Jacobian-vector product: df [n, d_out] (overwritten) = J(theta) v, v [n_params]. */
lm_status lm_mlp_jvp(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *x, size_t n,
                     const double *v, double *df, lm_err *err);

/* Vector-Jacobian product: g [n_params] (overwritten) = J(theta)^T u, u [n, d_out]. */
lm_status lm_mlp_vjp(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *x, size_t n,
                     const double *u, double *g, lm_err *err);

/* Exact Hessian-vector products of the loss by the R-operator (Pearlmutter 1994).
 * hvp_prepare runs and caches the forward pass and the loss derivatives at (theta, x, y); the
 * pointers must stay valid and unchanged until the next prepare. hvp_apply then computes
 * hv = H v for one vector, reusing the cached state (about 1.1-1.2 gradient evaluations per
 * product on 784-512-512-10; bench/README.md). */
lm_status lm_mlp_hvp_prepare(const lm_mlp *m, lm_mlp_ws *ws, lm_loss loss, const double *theta,
                             const double *x, const double *y, size_t n, double *loss_out,
                             double *grad, lm_err *err);
lm_status lm_mlp_hvp_apply(const lm_mlp *m, lm_mlp_ws *ws, const double *v, double *hv,
                           lm_err *err);

/* ---------------------------------------------------------------- float32 training path */

/* The same as lm_mlp_loss_grad in float32 (theta, x, y, grad float; sums over examples accumulate
 * in double). The workspace must have been made with LM_F32. */
lm_status lm_mlp_loss_grad_f32(const lm_mlp *m, lm_mlp_ws *ws, lm_loss loss, const float *theta,
                               const float *x, const float *y, size_t n, double *loss_out,
                               float *grad, float *f, lm_err *err);
lm_status lm_mlp_forward_f32(const lm_mlp *m, lm_mlp_ws *ws, const float *theta, const float *x,
                             size_t n, float *f, lm_err *err);

/* The float32 JVP and exact Hessian-vector products (R-operator), with the contracts of
 * lm_mlp_jvp, lm_mlp_hvp_prepare and lm_mlp_hvp_apply: the GEMMs in float32, the loss's
 * second-order step in double (over n*positions rows of d_out/positions, as lm_mlp_loss_grad).
 * Dense chains (model.widths) and layer graphs (model.layers, model.arch "gpt") alike: a graph
 * runs every layer's float32 JVP and R-operator (src/model/layer.h). The workspace (LM_F32)
 * allocates its R-state on its first jvp or prepare (~1.6x its forward state for 784-200-200-10;
 * a graph: two float32 tangents per buffer, about its forward state), and keeps it, so later
 * calls allocate nothing. The sharpness of a float32 run uses these (sharpness_dtype).
 */
lm_status lm_mlp_jvp_f32(const lm_mlp *m, lm_mlp_ws *ws, const float *theta, const float *x,
                         size_t n, const float *v, float *df, lm_err *err);
lm_status lm_mlp_hvp_prepare_f32(const lm_mlp *m, lm_mlp_ws *ws, lm_loss loss, const float *theta,
                                 const float *x, const float *y, size_t n, double *loss_out,
                                 float *grad, lm_err *err);
lm_status lm_mlp_hvp_apply_f32(const lm_mlp *m, lm_mlp_ws *ws, const float *v, float *hv,
                               lm_err *err);

/* ---------------------------------------------------------------- data-parallel team */

/* A team computes a minibatch's loss and gradient on several threads by data parallelism: the n
 * rows are split into n_threads contiguous parts, each part runs the single-workspace loss and
 * gradient on its rows with ONE BLAS thread into its own gradient buffer, and the parts are
 * combined as grad = sum_t (n_t / n) g_t (the reduction itself split across the threads by
 * parameter ranges; the loss likewise). Thread 0 is the caller; the others are persistent
 * threads started by lm_mlp_team_new and woken per call. On the 2-core benchmark machine that is
 * faster than OpenBLAS's own threads for steps of moderate size (e.g. width 64-1024 at batch
 * 128-1024), whose GEMMs are too small to split well. Models whose gradient exceeds 8 MiB (e.g.
 * 784-1024-1024-10 in float64; measured in team.c) instead run every batch on the plain
 * single-workspace path with OpenBLAS's threads (lm_blas_threads_for), and batches of fewer than 64
 * rows per thread run it on one BLAS thread (there the split's fixed costs exceed its gain).
 *
 * Deterministic: for a fixed n_threads the partition, the choice of path and the summation order
 * depend only on n and the model, so results are bitwise reproducible from call to call. They
 * differ from lm_mlp_loss_grad by rounding (a different summation order). A team is used by one
 * caller thread at a time; calls allocate nothing. */
typedef struct lm_mlp_team lm_mlp_team;

/* A team for model m (borrowed: must outlive the team), batches of up to n_max examples in dtype
 * dt (LM_F32 or LM_F64), and n_threads threads (1..64; 1 runs the plain path on the caller).
 * Allocates every workspace and buffer and starts n_threads - 1 threads. On failure *out is
 * untouched and nothing is left running. */
lm_status lm_mlp_team_new(const lm_mlp *m, size_t n_max, lm_dtype dt, int n_threads,
                          lm_mlp_team **out, lm_err *err);
/* Stops and joins the threads and frees everything. NULL is a no-op. */
void lm_mlp_team_free(lm_mlp_team *t);

/* The same as lm_mlp_loss_grad (float64 team) or lm_mlp_loss_grad_f32 (float32 team), without
 * the outputs f: *loss_out (optional) = the mean loss over the n examples, grad (optional,
 * overwritten, [n_params] of the team's dtype) its gradient. theta, x [n, d_in] and y [n, d_out]
 * are in the team's dtype. 1 <= n <= n_max. On failure grad and *loss_out are unchanged. */
lm_status lm_mlp_team_loss_grad(lm_mlp_team *t, lm_loss loss, const void *theta, const void *x,
                                const void *y, size_t n, double *loss_out, void *grad, lm_err *err);

#ifdef __cplusplus
}
#endif
#endif
