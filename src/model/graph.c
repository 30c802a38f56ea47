/*
 * graph.c: compiling model.layers into the layer graph (graph.h): shapes, the parameter layout
 * and names (PyTorch's nn.Sequential state_dict), the parameterizations, initialisation and the
 * workspace. The executors are graph_impl.h (per dtype: graph_f64.c, graph_f32.c).
 *
 * Parameterizations (science.md §5; TP-V Table 3 and, for convolutions, TP-V's rule that the
 * fan-in counts the kernel's receptive field): the weight layers (linear, conv2d) in order are
 * the input layer (the first), hidden layers and the readout (the last), exactly as the dense
 * chain's layers in mlp.c, with fan_in = in_features or in_channels*kh*kw for the variance and
 * the width ratio m = (channels or features of the width-like dimension) / base_width, where a
 * flattened [C, H, W] keeps C as its width (its H*W factor does not grow with width). Layer
 * norm's gain and bias are vector-like (TP-V: like biases): multiplier 1, SGD rate eta*m of the
 * width they act on, Adam rate eta; the gain starts at 1, the bias at 0 (PyTorch's init).
 * model.arch "gpt" takes every ratio as d_model/base_width (gpt.c): its MLP's hidden width is a
 * fixed multiple of d_model, so that SP and muP coincide at the base width for every layer.
 */
#include "model/graph.h"
#include "model/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const lm__layer_ops *const lm__layer_types[LM_LAYER_N_TYPES] = {
    [LM_LAYER_LINEAR] = &lm__layer_linear,
    [LM_LAYER_CONV2D] = &lm__layer_conv2d,
    [LM_LAYER_FLATTEN] = &lm__layer_flatten,
    [LM_LAYER_ACT] = &lm__layer_act,
    [LM_LAYER_AVGPOOL2D] = &lm__layer_avgpool2d,
    [LM_LAYER_MAXPOOL2D] = &lm__layer_maxpool2d,
    [LM_LAYER_LAYERNORM] = &lm__layer_layernorm,
    [LM_LAYER_EMBEDDING] = &lm__layer_embedding,
    [LM_LAYER_ATTENTION] = &lm__layer_attention,
    [LM_LAYER_LAST] = &lm__layer_last,
    [LM_LAYER_RESIDUAL] = NULL, /* structural: compiled by compile() below */
};

static const char *type_names[LM_LAYER_N_TYPES] = {
    [LM_LAYER_LINEAR] = "linear",       [LM_LAYER_CONV2D] = "conv2d",
    [LM_LAYER_AVGPOOL2D] = "avgpool2d", [LM_LAYER_MAXPOOL2D] = "maxpool2d",
    [LM_LAYER_FLATTEN] = "flatten",     [LM_LAYER_ACT] = "activation",
    [LM_LAYER_RESIDUAL] = "residual",   [LM_LAYER_LAYERNORM] = "layernorm",
    [LM_LAYER_EMBEDDING] = "embedding", [LM_LAYER_ATTENTION] = "attention",
    [LM_LAYER_LAST] = "last",
};

lm_status lm_layer_type_parse(const char *s, lm_layer_spec *out, lm_err *err) {
    for (int t = 0; t < LM_LAYER_N_TYPES; t++)
        if (t != LM_LAYER_ACT && strcmp(s, type_names[t]) == 0) {
            out->type = (lm_layer_type) t;
            return LM_OK;
        }
    lm_act a;
    if (lm_act_parse(s, &a, NULL) == LM_OK) {
        out->type = LM_LAYER_ACT;
        out->act = a;
        return LM_OK;
    }
    LM_FAIL(err, LM_EINVAL,
            "unknown layer type \"%s\" (linear, conv2d, avgpool2d, maxpool2d, flatten, residual, "
            "layernorm, embedding, attention, last, or an activation: identity, relu, tanh, erf, "
            "gelu, sigmoid, softplus, quadratic)",
            s);
}

const char *lm_layer_type_name(const lm_layer_spec *l) {
    if (l->type == LM_LAYER_ACT)
        return lm_act_name(l->act);
    return (unsigned) l->type < LM_LAYER_N_TYPES ? type_names[l->type] : "unknown";
}

size_t lm__toff(const lm__node *nd, size_t t) {
    size_t off = 0; /* a node's tensors are laid out one after the other, in order */
    for (size_t u = 0; u < t; u++) {
        size_t c = 1;
        for (size_t d = 0; d < nd->tndim[u]; d++)
            c *= nd->tshape[u][d];
        off += c;
    }
    return off;
}

/* ---------------------------------------------------------------- compilation */

typedef struct cx {
    lm_mlp *m;
    lm__graph *g;
    lm_err *err;
} cx;

static lm_status new_buf(cx *c, const size_t shape[3], size_t width, size_t *out) {
    lm__graph *g = c->g;
    if (g->n_buf > LM_GRAPH_MAX_NODES)
        LM_FAIL(c->err, LM_ERANGE, "model.layers: more than %d nodes", LM_GRAPH_MAX_NODES);
    const size_t b = g->n_buf++;
    memcpy(g->buf_shape[b], shape, 3 * sizeof *shape);
    if (shape[0] > SIZE_MAX / (shape[1] ? shape[1] : 1) / (shape[2] ? shape[2] : 1) / 64)
        LM_FAIL(c->err, LM_ERANGE, "model.layers: a tensor of shape [%zu, %zu, %zu] is too large",
                shape[0], shape[1], shape[2]);
    g->buf_size[b] = shape[0] * shape[1] * shape[2];
    g->buf_width[b] = width;
    *out = b;
    return LM_OK;
}

static lm_status add_node(cx *c, lm__node **out) {
    lm__graph *g = c->g;
    if (g->n_nodes >= LM_GRAPH_MAX_NODES)
        LM_FAIL(c->err, LM_ERANGE, "model.layers: more than %d nodes", LM_GRAPH_MAX_NODES);
    lm__node *nd = &g->node[g->n_nodes++];
    memset(nd, 0, sizeof *nd);
    nd->skip_buf = SIZE_MAX;
    *out = nd;
    return LM_OK;
}

/* Compiles entries [i, i + count) of spec->layers reading buffer *buf; names are
 * prefix + "{j}." with j the position inside this list; *buf becomes the last output. When
 * top is set, repr_buf[j + 1] records entry j's output. */
static lm_status compile(cx *c, size_t i, size_t count, size_t *buf, const char *prefix,
                         const char *where, int top) {
    const lm_mlp_spec *s = &c->m->spec;
    size_t j = 0;
    for (size_t e = i; e < i + count; j++) {
        const lm_layer_spec *ls = &s->layers[e];
        char name[LM_TENSOR_NAME], wh[40];
        snprintf(name, sizeof name, "%s%zu.", prefix, j);
        snprintf(wh, sizeof wh, "%s[%zu]", where, j);
        if (ls->type == LM_LAYER_RESIDUAL) {
            if (ls->body_len == 0 || e + 1 + ls->body_len > i + count)
                LM_FAIL(c->err, LM_EINVAL, "%s: a residual block needs a non-empty body", wh);
            const size_t in = *buf;
            size_t cur = in;
            char bp[LM_TENSOR_NAME], bw[48];
            if (snprintf(bp, sizeof bp, "%sbody.", name) >= (int) sizeof bp)
                LM_FAIL(c->err, LM_ERANGE, "%s: residual blocks nested too deep", wh);
            snprintf(bw, sizeof bw, "%s.body", wh);
            LM_TRY(compile(c, e + 1, ls->body_len, &cur, bp, bw, 0));
            const lm__graph *g = c->g;
            if (memcmp(g->buf_shape[cur], g->buf_shape[in], sizeof g->buf_shape[in]) != 0)
                LM_FAIL(c->err, LM_ESHAPE,
                        "%s: the residual body maps [%zu, %zu, %zu] to [%zu, %zu, %zu]; x + "
                        "body(x) needs the same shape",
                        wh, g->buf_shape[in][0], g->buf_shape[in][1], g->buf_shape[in][2],
                        g->buf_shape[cur][0], g->buf_shape[cur][1], g->buf_shape[cur][2]);
            lm__node *nd = NULL;
            LM_TRY(add_node(c, &nd));
            nd->spec = *ls;
            snprintf(nd->where, sizeof nd->where, "%s", wh);
            nd->in_buf = cur;
            nd->skip_buf = in;
            memcpy(nd->in_shape, g->buf_shape[in], sizeof nd->in_shape);
            memcpy(nd->out_shape, g->buf_shape[in], sizeof nd->out_shape);
            nd->in_size = nd->out_size = g->buf_size[in];
            LM_TRY(new_buf(c, nd->out_shape, g->buf_width[in], &nd->out_buf));
            c->g->buf_seq[nd->out_buf] = g->buf_seq[in];
            *buf = nd->out_buf;
            e += 1 + ls->body_len;
        } else {
            const lm__layer_ops *ops =
                (unsigned) ls->type < LM_LAYER_N_TYPES ? lm__layer_types[ls->type] : NULL;
            if (!ops)
                LM_FAIL(c->err, LM_EINVAL, "%s: invalid layer type %d", wh, (int) ls->type);
            lm__node *nd = NULL;
            LM_TRY(add_node(c, &nd));
            nd->ops = ops;
            nd->spec = *ls;
            nd->has_bias = ls->bias < 0 ? s->bias : ls->bias;
            snprintf(nd->where, sizeof nd->where, "%s", wh);
            nd->in_buf = *buf;
            memcpy(nd->in_shape, c->g->buf_shape[*buf], sizeof nd->in_shape);
            nd->in_size = c->g->buf_size[*buf];
            nd->seq = c->g->buf_seq[*buf];
            nd->rows = 1;
            if (ls->type == LM_LAYER_EMBEDDING && *buf != 0)
                LM_FAIL(c->err, LM_EINVAL,
                        "%s (embedding): an embedding reads the token ids, so it must be the "
                        "first entry of model.layers",
                        wh);
            LM_TRY(ops->build(nd, c->err));
            nd->out_size = nd->out_shape[0] * nd->out_shape[1] * nd->out_shape[2];
            if (nd->out_size == 0)
                LM_FAIL(c->err, LM_ESHAPE, "%s (%s): the output would be empty ([%zu, %zu, %zu])",
                        wh, lm_layer_type_name(ls), nd->out_shape[0], nd->out_shape[1],
                        nd->out_shape[2]);
            size_t width = c->g->buf_width[*buf];
            /* the output is a sequence when an embedding made it or a per-position layer kept
             * it; its width-like dimension is then the features of a position */
            const int out_seq =
                ls->type == LM_LAYER_EMBEDDING ||
                (nd->seq && ls->type != LM_LAYER_LAST && ls->type != LM_LAYER_FLATTEN);
            if (out_seq)
                width = nd->out_shape[2];
            else if (ls->type == LM_LAYER_LINEAR || ls->type == LM_LAYER_CONV2D ||
                     ls->type == LM_LAYER_LAST)
                width = nd->out_shape[0];
            /* tensors: names and layout */
            lm_mlp *m = c->m;
            for (size_t t = 0; t < nd->n_tensors; t++) {
                if (m->n_tensors >= LM_MAX_TENSORS)
                    LM_FAIL(c->err, LM_ERANGE, "model.layers: more than %d parameter tensors",
                            LM_MAX_TENSORS);
                lm_tensor_info *ti = &m->tensor[m->n_tensors];
                memset(ti, 0, sizeof *ti);
                if (snprintf(ti->name, sizeof ti->name, "%s%s", name,
                             nd->tname[t]                    ? nd->tname[t]
                             : nd->kind[t] == LM_TENSOR_BIAS ? "bias"
                                                             : "weight") >= (int) sizeof ti->name)
                    LM_FAIL(c->err, LM_ERANGE, "%s: residual blocks nested too deep", wh);
                ti->kind = nd->kind[t];
                ti->ndim = nd->tndim[t];
                ti->numel = 1;
                for (size_t d = 0; d < ti->ndim; d++) {
                    ti->shape[d] = nd->tshape[t][d];
                    ti->numel *= ti->shape[d];
                }
                ti->rows = ti->shape[0];
                ti->cols = ti->numel / ti->rows;
                ti->off = m->n_params;
                if (ti->numel > SIZE_MAX / 4 - m->n_params)
                    LM_FAIL(c->err, LM_ERANGE, "%s: too many parameters", wh);
                m->n_params += ti->numel;
                ti->dense = SIZE_MAX;
                nd->tensor[t] = m->n_tensors++;
            }
            nd->p_off = nd->n_tensors ? m->tensor[nd->tensor[0]].off : m->n_params;
            nd->n_p = m->n_params - nd->p_off;
            LM_TRY(new_buf(c, nd->out_shape, width, &nd->out_buf));
            c->g->buf_seq[nd->out_buf] = out_seq;
            if (ls->type == LM_LAYER_EMBEDDING)
                c->g->vocab = ls->vocab;
            if (nd->scratch_per_ex > c->g->scratch_max_per_ex)
                c->g->scratch_max_per_ex = nd->scratch_per_ex;
            if (nd->scratch_fixed > c->g->scratch_max_fixed)
                c->g->scratch_max_fixed = nd->scratch_fixed;
            if ((!ops->forward_f32 || !ops->backward_f32 || !ops->jvp_f32 || !ops->rbackward_f32) &&
                c->g->f32_ok) {
                c->g->f32_ok = 0;
                snprintf(c->g->f32_missing, sizeof c->g->f32_missing, "%s", wh);
            }
            *buf = nd->out_buf;
            e++;
        }
        if (top) {
            if (j + 1 > LM_MAX_LAYERS)
                LM_FAIL(c->err, LM_ERANGE, "model.layers has more than %d top-level entries",
                        LM_MAX_LAYERS);
            c->g->repr_buf[j + 1] = *buf;
            c->m->n_repr = j + 1;
        }
    }
    return LM_OK;
}

/* The parameterization's scalars for every weight layer (as mlp.c's lm_mlp_new for the chain). */
static lm_status parameterize(cx *c) {
    lm_mlp *m = c->m;
    lm__graph *g = c->g;
    const lm_mlp_spec *s = &m->spec;
    size_t wl[LM_GRAPH_MAX_NODES], n_w = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (g->node[i].ops && g->node[i].fan_in > 0)
            wl[n_w++] = i;
    if (n_w > LM_MAX_LAYERS)
        LM_FAIL(c->err, LM_ERANGE, "model.layers has %zu linear and conv2d layers; at most %d", n_w,
                LM_MAX_LAYERS);
    m->n_layers = n_w;
    for (size_t i = 0; i < g->n_nodes; i++) {
        lm__node *nd = &g->node[i];
        nd->w_mul = nd->b_mul = 1.0;
    }
    for (size_t k = 0; k < n_w; k++) {
        lm__node *nd = &g->node[wl[k]];
        const int is_in = k == 0, is_out = k + 1 == n_w;
        const double fan_in = (double) nd->fan_in;
        double mr = 1.0;
        if (s->base_width > 0 && n_w > 1) {
            const size_t w = is_in ? g->buf_width[nd->out_buf] : g->buf_width[nd->in_buf];
            mr = (double) (s->arch == LM_ARCH_GPT ? s->gpt.d_model : w) / (double) s->base_width;
        }
        lm_layer_info *li = &m->layer[k];
        memset(li, 0, sizeof *li);
        /* the weight as a matrix [rows, numel/rows]: linear [out, in], conv [out, in*kh*kw] (its
         * fan-in), the embedding's token table [vocab, d] */
        li->d_out = nd->tshape[0][0];
        li->d_in = m->tensor[nd->tensor[0]].numel / li->d_out;
        li->w_off = m->tensor[nd->tensor[0]].off;
        li->b_off = nd->has_bias ? m->tensor[nd->tensor[1]].off : li->w_off + li->d_in * li->d_out;
        li->w_mul = li->b_mul = 1.0;
        li->w_std = sqrt(s->sw2 / fan_in);
        li->b_std = sqrt(s->sb2);
        li->lr_sgd_w = li->lr_sgd_b = li->lr_adam_w = li->lr_adam_b = 1.0;
        switch (s->param) {
        case LM_PARAM_SP:
            break;
        case LM_PARAM_NTP:
            li->w_std = 1.0;
            li->w_mul = sqrt(s->sw2 / fan_in);
            li->b_std = s->sb2 > 0.0 ? 1.0 : 0.0;
            li->b_mul = s->sb2 > 0.0 ? sqrt(s->sb2) : 1.0;
            break;
        case LM_PARAM_MUP:
            if (is_out && !is_in) {
                li->w_std = sqrt(s->sw2 / (fan_in * mr));
                li->lr_sgd_w = li->lr_adam_w = 1.0 / mr;
            } else if (is_in) {
                li->lr_sgd_w = mr;
                li->lr_adam_w = 1.0;
            } else {
                li->lr_adam_w = 1.0 / mr;
            }
            li->lr_sgd_b = is_out ? 1.0
                           : s->base_width
                               ? (double) (s->arch == LM_ARCH_GPT ? s->gpt.d_model
                                                                  : g->buf_width[nd->out_buf]) /
                                     (double) s->base_width
                               : 1.0;
            li->lr_adam_b = 1.0;
            break;
        }
        const double a = is_out ? s->output_multiplier
                         : nd->spec.type == LM_LAYER_EMBEDDING && s->embed_multiplier != 0.0
                             ? s->embed_multiplier
                             : 1.0;
        if (is_out && a != 1.0 && wl[k] + 1 != g->n_nodes)
            LM_FAIL(c->err, LM_EINVAL,
                    "model.output_multiplier = %g needs the last layer of model.layers to be "
                    "linear or conv2d (it is %s)",
                    a,
                    g->node[g->n_nodes - 1].ops ? lm_layer_type_name(&g->node[g->n_nodes - 1].spec)
                                                : "residual");
        li->w_scale = li->w_mul * a;
        li->b_scale = li->b_mul * a;
        nd->w_mul = li->w_scale;
        nd->b_mul = li->b_scale;
        for (size_t t = 0; t < nd->n_tensors; t++) {
            lm_tensor_info *ti = &m->tensor[nd->tensor[t]];
            const int b = ti->kind == LM_TENSOR_BIAS;
            ti->dense = k;
            ti->lr_sgd = b ? li->lr_sgd_b : li->lr_sgd_w;
            ti->lr_adam = b ? li->lr_adam_b : li->lr_adam_w;
            g->tensor_std[nd->tensor[t]] = b ? li->b_std : li->w_std;
        }
    }
    /* layer norm (and any other weight-free parameterised layer): vector-like parameters */
    for (size_t i = 0; i < g->n_nodes; i++) {
        lm__node *nd = &g->node[i];
        if (!nd->ops || nd->fan_in > 0)
            continue;
        const size_t w = s->arch == LM_ARCH_GPT ? s->gpt.d_model : g->buf_width[nd->out_buf];
        const double mr = s->base_width ? (double) w / (double) s->base_width : 1.0;
        for (size_t t = 0; t < nd->n_tensors; t++) {
            lm_tensor_info *ti = &m->tensor[nd->tensor[t]];
            ti->lr_sgd = s->param == LM_PARAM_MUP ? mr : 1.0;
            ti->lr_adam = 1.0;
            g->tensor_std[nd->tensor[t]] = 0.0;
        }
    }
    return LM_OK;
}

lm_status lm__graph_build(lm_mlp *m, lm_err *err) {
    const lm_mlp_spec *s = &m->spec;
    if (s->n_layer_specs > LM_MAX_LAYER_SPECS)
        LM_FAIL(err, LM_EINVAL, "model.layers has %zu entries; at most %d", s->n_layer_specs,
                LM_MAX_LAYER_SPECS);
    if (s->n_input_shape != 1 && s->n_input_shape != 3)
        LM_FAIL(err, LM_EINVAL,
                "model.input_shape has %zu entries: give [d] (features) or [C, H, W] (images)",
                s->n_input_shape);
    size_t shape[3] = {s->input_shape[0], 1, 1};
    if (s->n_input_shape == 3)
        memcpy(shape, s->input_shape, sizeof shape);
    for (int d = 0; d < 3; d++)
        if (shape[d] == 0)
            LM_FAIL(err, LM_EINVAL, "model.input_shape[%d] is 0: sizes must be positive", d);
    lm__graph *g = lm_calloc(1, sizeof *g);
    if (!g)
        LM_FAIL(err, LM_ENOMEM, "out of memory building the layer graph");
    g->f32_ok = 1;
    m->graph = g;
    cx c = {m, g, err};
    size_t b;
    LM_TRY(new_buf(&c, shape, shape[0], &b));
    g->repr_buf[0] = 0;
    LM_TRY(compile(&c, 0, s->n_layer_specs, &b, "layers.", "model.layers", 1));
    if (g->n_nodes == 0)
        LM_FAIL(err, LM_EINVAL, "model.layers is empty");
    LM_TRY(parameterize(&c));
    m->d_in = g->buf_size[0];
    m->d_out = g->buf_size[g->n_buf - 1];
    m->positions = g->buf_seq[g->n_buf - 1] ? g->buf_shape[g->n_buf - 1][1] : 1;
    return LM_OK;
}

lm_status lm__graph_check_tokens(const lm_mlp *m, const void *x, size_t n, lm_dtype dt,
                                 lm_err *err) {
    const lm__graph *g = m->graph;
    if (!g || g->vocab == 0)
        return LM_OK;
    const size_t len = m->d_in;
    for (size_t i = 0; i < n * len; i++) {
        const double v = dt == LM_F64 ? ((const double *) x)[i] : (double) ((const float *) x)[i];
        if (!(v >= 0.0 && v < (double) g->vocab && v == floor(v)))
            LM_FAIL(err, LM_EINVAL,
                    "input row %zu, position %zu: %g is not a token id of the model's vocabulary "
                    "(integers 0 to %zu)",
                    i / len, i % len, v, g->vocab - 1);
    }
    return LM_OK;
}

lm_status lm__graph_init(const lm_mlp *m, uint64_t seed, double *theta) {
    const lm__graph *g = m->graph;
    lm_rng rng;
    lm_rng_seed(&rng, seed, LM_STREAM_INIT);
    for (size_t t = 0; t < m->n_tensors; t++) {
        const lm_tensor_info *ti = &m->tensor[t];
        double *w = theta + ti->off;
        const double sd = g->tensor_std[t];
        if (ti->kind == LM_TENSOR_GAIN)
            for (size_t i = 0; i < ti->numel; i++)
                w[i] = 1.0;
        else
            for (size_t i = 0; i < ti->numel; i++)
                w[i] = sd > 0.0 ? sd * lm_rng_normal(&rng) : 0.0;
    }
    if (m->spec.readout_zero && m->n_layers > 0)
        for (size_t t = 0; t < m->n_tensors; t++)
            if (m->tensor[t].dense == m->n_layers - 1)
                memset(theta + m->tensor[t].off, 0, m->tensor[t].numel * sizeof *theta);
    return LM_OK;
}

/* ---------------------------------------------------------------- workspace */

lm_status lm__graph_ws_new(const lm_mlp *m, size_t n_max, lm_dtype dt, lm_mlp_ws *ws, lm_err *err) {
    const lm__graph *g = m->graph;
    const int f64 = dt == LM_F64;
    if (!f64 && !g->f32_ok)
        LM_FAIL(err, LM_EINVAL, "%s has no float32 path yet: use dtype float64", g->f32_missing);
    const size_t es = lm_dtype_size(dt), nb = g->n_buf;
#define ROUND8(x) (((x) + 7) & ~(size_t) 7)
    size_t total = 0; /* elements of es bytes */
    for (size_t b = 1; b < nb; b++) {
        if (g->buf_size[b] > SIZE_MAX / 64 / (n_max + 1))
            LM_FAIL(err, LM_ERANGE, "workspace for %zu examples overflows", n_max);
        total += 2 * ROUND8(n_max * g->buf_size[b]);
    }
    size_t total_d = 0; /* doubles */
    if (f64)
        for (size_t b = 1; b < nb; b++)
            total_d += 2 * ROUND8(n_max * g->buf_size[b]);
    total_d += ROUND8(n_max * g->scratch_max_per_ex + g->scratch_max_fixed + 1);
    total_d += ROUND8(f64 ? m->n_params : 0);
    ws->n_buf = nb;
    ws->val = lm_calloc(nb, sizeof *ws->val);
    ws->grad = lm_calloc(nb, sizeof *ws->grad);
    ws->tan = lm_calloc(nb, sizeof *ws->tan);
    ws->rgrad = lm_calloc(nb, sizeof *ws->rgrad);
    ws->has = lm_calloc(nb, 1);
    ws->buf = lm_malloc(total * es + total_d * sizeof(double) + 64);
    if (!ws->val || !ws->grad || !ws->tan || !ws->rgrad || !ws->has || !ws->buf)
        LM_FAIL(err, LM_ENOMEM,
                "out of memory: the layer graph's workspace for %zu examples needs %.1f MiB", n_max,
                (double) (total * es + total_d * sizeof(double)) / 1048576.0);
    char *p = ws->buf;
    double *pd = (double *) (void *) (p + ROUND8(total) * es);
    for (size_t b = 1; b < nb; b++) {
        const size_t c = ROUND8(n_max * g->buf_size[b]);
        ws->val[b] = p;
        p += c * es;
        ws->grad[b] = p;
        p += c * es;
        if (f64) {
            ws->tan[b] = pd;
            pd += c;
            ws->rgrad[b] = pd;
            pd += c;
        }
    }
    ws->scr = pd;
    pd += ROUND8(n_max * g->scratch_max_per_ex + g->scratch_max_fixed + 1);
    ws->gscratch = f64 ? pd : NULL;
#undef ROUND8
    ws->df = ws->grad[nb - 1];
    return LM_OK;
}

lm_status lm__graph_ws_rstate(lm_mlp_ws *ws, lm_err *err) {
    if (ws->dt == LM_F64 || ws->rbuf)
        return LM_OK;
    const lm_mlp *m = ws->m;
    const lm__graph *g = m->graph;
    const size_t nb = g->n_buf, n_max = ws->n_max;
#define ROUND8(x) (((x) + 7) & ~(size_t) 7)
    /* the sizes were checked by lm__graph_ws_new (the forward state has the same buffers) */
    size_t total = 0; /* floats */
    for (size_t b = 1; b < nb; b++)
        total += 2 * ROUND8(n_max * g->buf_size[b]);
    total += ROUND8(m->n_params);
    const size_t cf = ROUND8(n_max * m->d_out);
    const size_t bytes = 4 * cf * sizeof(double) + total * sizeof(float);
    ws->rbuf = lm_malloc(bytes);
    if (!ws->rbuf)
        LM_FAIL(err, LM_ENOMEM,
                "out of memory: the float32 Hessian-vector state of the layer graph for %zu "
                "examples needs %.1f MiB",
                n_max, (double) bytes / 1048576.0);
    double *d = ws->rbuf; /* the doubles first: their alignment */
    ws->hf = d;
    ws->hy = d + cf;
    ws->hrf = d + 2 * cf;
    ws->hr = d + 3 * cf;
    float *p = (float *) (d + 4 * cf);
    for (size_t b = 1; b < nb; b++) {
        const size_t c = ROUND8(n_max * g->buf_size[b]);
        ws->tan[b] = p;
        p += c;
        ws->rgrad[b] = p;
        p += c;
    }
    ws->gscratch = p;
#undef ROUND8
    return LM_OK;
}

void lm__graph_ws_free(lm_mlp_ws *ws) {
    lm_free(ws->val);
    lm_free(ws->grad);
    lm_free(ws->tan);
    lm_free(ws->rgrad);
    lm_free(ws->has);
}
