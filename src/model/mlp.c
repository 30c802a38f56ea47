/*
 * mlp.c: the MLP's layout and parameterizations (sp, ntp, mup) and its initialisation.
 * The derivative kernels live in mlp_impl.h (compiled once per dtype by mlp_f64.c, mlp_f32.c).
 */
#include "model/graph.h"
#include "model/internal.h"

#include <stdio.h>

#include <math.h>
#include <string.h>

static const char *act_names[] = {"identity", "relu",    "tanh",     "erf",
                                  "gelu",     "sigmoid", "softplus", "quadratic"};
static const char *param_names[] = {"sp", "ntp", "mup"};

lm_status lm_act_parse(const char *s, lm_act *out, lm_err *err) {
    for (size_t i = 0; i < sizeof act_names / sizeof *act_names; i++)
        if (strcmp(s, act_names[i]) == 0) {
            *out = (lm_act) i;
            return LM_OK;
        }
    if (strcmp(s, "linear") == 0) {
        *out = LM_ACT_IDENTITY;
        return LM_OK;
    }
    LM_FAIL(err, LM_EINVAL,
            "unknown activation \"%s\" (identity, relu, tanh, erf, gelu, sigmoid, softplus, "
            "quadratic)",
            s);
}

lm_status lm_param_parse(const char *s, lm_param *out, lm_err *err) {
    for (size_t i = 0; i < sizeof param_names / sizeof *param_names; i++)
        if (strcmp(s, param_names[i]) == 0) {
            *out = (lm_param) i;
            return LM_OK;
        }
    LM_FAIL(err, LM_EINVAL, "unknown parameterization \"%s\" (sp, ntp, mup)", s);
}

const char *lm_act_name(lm_act a) {
    return (unsigned) a <= LM_ACT_QUADRATIC ? act_names[a] : "unknown";
}

const char *lm_param_name(lm_param p) {
    return (unsigned) p <= LM_PARAM_MUP ? param_names[p] : "unknown";
}

lm_mlp_spec lm_mlp_spec_default(void) {
    lm_mlp_spec s;
    memset(&s, 0, sizeof s);
    s.act = LM_ACT_RELU;
    s.bias = 1;
    s.param = LM_PARAM_SP;
    s.output_multiplier = 1.0;
    s.embed_multiplier = 1.0;
    s.sw2 = 1.0;
    s.sb2 = 0.0;
    return s;
}

/* Width ratio m of layer l for muP: the width-dependent dimension over the base width. The input
 * layer's width dimension is its fan_out, every later layer's is its fan_in. */
static double width_ratio(const lm_mlp_spec *s, size_t l, size_t n_layers) {
    if (s->base_width == 0 || n_layers == 1)
        return 1.0;
    size_t n = l == 0 ? s->widths[1] : s->widths[l];
    return (double) n / (double) s->base_width;
}

static lm_status check_common(const lm_mlp_spec *spec, lm_err *err);
static lm_status graph_new(const lm_mlp_spec *spec, lm_mlp **out, lm_err *err);
static void chain_tensors(lm_mlp *m);

lm_status lm_mlp_new(const lm_mlp_spec *spec, lm_mlp **out, lm_err *err) {
    lm_init();
    LM_TRY(check_common(spec, err));
    if (spec->n_layer_specs > 0 || spec->arch == LM_ARCH_GPT)
        return graph_new(spec, out, err);
    if (spec->n_widths < 2 || spec->n_widths > LM_MAX_LAYERS + 1)
        LM_FAIL(err, LM_EINVAL, "model.widths has %zu entries: need 2 to %d (input ... output)",
                spec->n_widths, LM_MAX_LAYERS + 1);
    for (size_t i = 0; i < spec->n_widths; i++)
        if (spec->widths[i] == 0)
            LM_FAIL(err, LM_EINVAL, "model.widths[%zu] is 0: widths must be positive", i);

    lm_mlp *m = lm_calloc(1, sizeof *m);
    if (!m)
        LM_FAIL(err, LM_ENOMEM, "out of memory allocating the model");
    m->spec = *spec;
    m->n_layers = spec->n_widths - 1;
    m->d_in = spec->widths[0];
    m->d_out = spec->widths[m->n_layers];
    size_t off = 0;
    const size_t L = m->n_layers;
    for (size_t l = 0; l < L; l++) {
        lm_layer_info *li = &m->layer[l];
        li->d_in = spec->widths[l];
        li->d_out = spec->widths[l + 1];
        if (li->d_in > SIZE_MAX / li->d_out || off > SIZE_MAX / 2) {
            lm_free(m);
            LM_FAIL(err, LM_ERANGE, "model layer %zu (%zu x %zu) is too large", l, li->d_out,
                    li->d_in);
        }
        li->w_off = off;
        off += li->d_in * li->d_out;
        li->b_off = off;
        if (spec->bias)
            off += li->d_out;
        const double fan_in = (double) li->d_in, mr = width_ratio(spec, l, L);
        const int is_out = l + 1 == L, is_in = l == 0;
        li->w_mul = 1.0;
        li->b_mul = 1.0;
        li->w_std = sqrt(spec->sw2 / fan_in);
        li->b_std = sqrt(spec->sb2);
        li->lr_sgd_w = li->lr_sgd_b = li->lr_adam_w = li->lr_adam_b = 1.0;
        switch (spec->param) {
        case LM_PARAM_SP:
            break;
        case LM_PARAM_NTP:
            li->w_std = 1.0;
            li->w_mul = sqrt(spec->sw2 / fan_in);
            if (spec->sb2 > 0.0) {
                li->b_std = 1.0;
                li->b_mul = sqrt(spec->sb2);
            } else {
                li->b_std = 0.0;
            }
            break;
        case LM_PARAM_MUP:
            /* science.md §5 table, with m = n/n_base (SP at the base width). */
            if (is_out && !is_in) {
                li->w_std = sqrt(spec->sw2 / (fan_in * mr));
                li->lr_sgd_w = 1.0 / mr;
                li->lr_adam_w = 1.0 / mr;
            } else if (is_in) {
                li->lr_sgd_w = mr;
                li->lr_adam_w = 1.0;
            } else {
                li->lr_sgd_w = 1.0;
                li->lr_adam_w = 1.0 / mr;
            }
            /* biases: like input weights (fan_in 1, fan_out the width: SGD eta*m), except the
             * readout bias, whose fan_out is the finite output dimension (SGD eta) */
            li->lr_sgd_b = is_out ? 1.0 : (is_in ? mr : width_ratio(spec, l + 1, L));
            li->lr_adam_b = 1.0;
            break;
        }
    }
    m->n_params = off;
    for (size_t l = 0; l < L; l++) {
        const double a = l + 1 == L ? spec->output_multiplier : 1.0;
        m->layer[l].w_scale = m->layer[l].w_mul * a;
        m->layer[l].b_scale = m->layer[l].b_mul * a;
    }
    chain_tensors(m);
    *out = m;
    return LM_OK;
}

static lm_status check_common(const lm_mlp_spec *spec, lm_err *err) {
    if ((unsigned) spec->act > LM_ACT_QUADRATIC || (unsigned) spec->param > LM_PARAM_MUP ||
        (unsigned) spec->init > LM_INIT_ALIGNED)
        LM_FAIL(err, LM_EINVAL, "model: invalid activation or parameterization enum");
    if (!isfinite(spec->embed_multiplier)) /* 0 reads as the default 1 */
        LM_FAIL(err, LM_EINVAL, "model.embed_multiplier = %g: must be finite and non-zero",
                spec->embed_multiplier);
    if (!isfinite(spec->output_multiplier) || spec->output_multiplier == 0.0)
        LM_FAIL(err, LM_EINVAL, "model.output_multiplier = %g: must be finite and non-zero",
                spec->output_multiplier);
    if (!(spec->sw2 > 0.0) || !isfinite(spec->sw2))
        LM_FAIL(err, LM_EINVAL, "model.sw2 = %g: must be positive and finite", spec->sw2);
    if (!(spec->sb2 >= 0.0) || !isfinite(spec->sb2))
        LM_FAIL(err, LM_EINVAL, "model.sb2 = %g: must be non-negative and finite", spec->sb2);
    return LM_OK;
}

/* The dense chain's tensors: layers.{l}.weight and .bias, PyTorch's
 * nn.ModuleList([nn.Linear, ...]) names (io/checkpoint.c). */
static void chain_tensors(lm_mlp *m) {
    m->n_tensors = 0;
    for (size_t l = 0; l < m->n_layers; l++) {
        const lm_layer_info *li = &m->layer[l];
        for (int b = 0; b < (m->spec.bias ? 2 : 1); b++) {
            lm_tensor_info *t = &m->tensor[m->n_tensors++];
            memset(t, 0, sizeof *t);
            snprintf(t->name, sizeof t->name, "layers.%zu.%s", l, b ? "bias" : "weight");
            t->kind = b ? LM_TENSOR_BIAS : LM_TENSOR_WEIGHT;
            t->off = b ? li->b_off : li->w_off;
            t->ndim = b ? 1 : 2;
            t->shape[0] = li->d_out;
            t->shape[1] = b ? 0 : li->d_in;
            t->numel = b ? li->d_out : li->d_out * li->d_in;
            t->rows = li->d_out;
            t->cols = b ? 1 : li->d_in;
            t->layer = l + 1;
            t->dense = l;
            t->lr_sgd = b ? li->lr_sgd_b : li->lr_sgd_w;
            t->lr_adam = b ? li->lr_adam_b : li->lr_adam_w;
        }
    }
    m->n_repr = m->n_layers;
    m->positions = 1;
}

static lm_status graph_new(const lm_mlp_spec *spec, lm_mlp **out, lm_err *err) {
    if (spec->init != LM_INIT_RANDOM)
        LM_FAIL(err, LM_EINVAL,
                "model.init \"aligned\" is the deep linear network's (model.widths); "
                "model.layers networks start random");
    lm_mlp *m = lm_calloc(1, sizeof *m);
    if (!m)
        LM_FAIL(err, LM_ENOMEM, "out of memory allocating the model");
    m->spec = *spec;
    lm_status st = LM_OK;
    if (spec->arch == LM_ARCH_GPT) /* the layer list is always the architecture's own */
        st = lm_gpt_expand(&m->spec, err);
    if (st == LM_OK)
        st = lm__graph_build(m, err);
    if (st == LM_OK && spec->arch == LM_ARCH_GPT)
        st = lm__gpt_names(m, err);
    if (st != LM_OK) {
        lm_mlp_free(m);
        return st;
    }
    *out = m;
    return LM_OK;
}

void lm_mlp_free(lm_mlp *m) {
    if (!m)
        return;
    lm_free(m->graph);
    lm_free(m);
}

int lm_mlp_is_chain(const lm_mlp *m) {
    return m->graph == NULL;
}

void lm_mlp_describe(const lm_mlp *m, char *buf, size_t len) {
    size_t pos = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (pos < len) {                                                                           \
            int k_ = snprintf(buf + pos, len - pos, __VA_ARGS__);                                  \
            pos += k_ > 0 ? (size_t) k_ : 0;                                                       \
        }                                                                                          \
    } while (0)
    if (len)
        buf[0] = 0;
    if (!m->graph) {
        for (size_t i = 0; i < m->spec.n_widths; i++)
            PUT(i ? "-%zu" : "%zu", m->spec.widths[i]);
        PUT(" %s MLP", lm_act_name(m->spec.act));
        return;
    }
    const lm_mlp_spec *s = &m->spec;
    if (s->arch == LM_ARCH_GPT) {
        const lm_gpt_spec *g = &s->gpt;
        PUT("gpt (d_model %zu, %zu block%s, %zu head%s, context %zu, vocab %zu, predicting at %s)",
            g->d_model, g->blocks, g->blocks == 1 ? "" : "s", g->heads, g->heads == 1 ? "" : "s",
            g->context, g->vocab, g->every > 0 ? "every position" : "the last position");
        return;
    }
    for (size_t i = 0; i < s->n_layer_specs; i++) {
        const lm_layer_spec *l = &s->layers[i];
        PUT("%s%s", i ? " " : "", lm_layer_type_name(l));
        if (l->type == LM_LAYER_LINEAR || l->type == LM_LAYER_CONV2D)
            PUT("(%zu)", l->out);
    }
    if (s->n_input_shape == 3)
        PUT(" on [%zu, %zu, %zu]", s->input_shape[0], s->input_shape[1], s->input_shape[2]);
    else
        PUT(" on [%zu]", s->input_shape[0]);
#undef PUT
}

lm_status lm_mlp_require_chain(const lm_mlp *m, const char *what, lm_err *err) {
    if (!m->graph)
        return LM_OK;
    char d[160];
    lm_mlp_describe(m, d, sizeof d);
    LM_FAIL(err, LM_EINVAL, "%s needs a model.widths network (a dense chain); this model is %s",
            what, d);
}

lm_status lm_mlp_init(const lm_mlp *m, uint64_t seed, double *theta, lm_err *err) {
    (void) err;
    if (m->graph)
        return lm__graph_init(m, seed, theta);
    lm_rng rng;
    lm_rng_seed(&rng, seed, LM_STREAM_INIT);
    for (size_t l = 0; l < m->n_layers; l++) {
        const lm_layer_info *li = &m->layer[l];
        double *w = theta + li->w_off;
        for (size_t i = 0; i < li->d_in * li->d_out; i++)
            w[i] = li->w_std * lm_rng_normal(&rng);
        if (m->spec.bias) {
            double *b = theta + li->b_off;
            for (size_t i = 0; i < li->d_out; i++)
                b[i] = li->b_std > 0.0 ? li->b_std * lm_rng_normal(&rng) : 0.0;
        }
    }
    /* zeroed after the draws, so every other layer is the same as without readout_zero */
    if (m->spec.readout_zero) {
        const lm_layer_info *li = &m->layer[m->n_layers - 1];
        memset(theta + li->w_off, 0, li->d_in * li->d_out * sizeof *theta);
        if (m->spec.bias)
            memset(theta + li->b_off, 0, li->d_out * sizeof *theta);
    }
    return LM_OK;
}

lm_status lm_mlp_init_aligned(const lm_mlp *m, uint64_t seed, size_t r, const double *U,
                              const double *V, double a0, double *theta, lm_err *err) {
    const size_t L = m->n_layers;
    LM_TRY(lm_mlp_require_chain(m, "the aligned initialisation", err));
    if (!U || !V || !theta)
        LM_FAIL(err, LM_EINVAL, "lm_mlp_init_aligned needs U, V and theta");
    if (!isfinite(a0) || !(a0 > 0.0))
        LM_FAIL(err, LM_EINVAL, "aligned initialisation: model.a0 = %g; use a finite number > 0",
                a0);
    if (r == 0 || r > m->d_in || r > m->d_out)
        LM_FAIL(err, LM_EINVAL,
                "aligned initialisation: rank r = %zu; need 1 <= r <= min(d_in %zu, d_out %zu)", r,
                m->d_in, m->d_out);
    if (L >= 2 && m->spec.act != LM_ACT_IDENTITY)
        LM_FAIL(err, LM_EINVAL,
                "aligned initialisation: activation \"%s\"; the deep linear network needs "
                "\"identity\"",
                lm_act_name(m->spec.act));
    size_t hmax = 1;
    for (size_t l = 0; l + 1 < L; l++) {
        if (m->layer[l].d_out < r)
            LM_FAIL(err, LM_EINVAL,
                    "aligned initialisation: hidden width %zu (layer %zu) is below the rank r = "
                    "%zu",
                    m->layer[l].d_out, l + 1, r);
        if (m->layer[l].d_out > hmax)
            hmax = m->layer[l].d_out;
    }
    /* R_prev, R_cur [h, r]: the hidden bases of the layer's input and output */
    double *rp = lm_malloc(hmax * r * sizeof *rp), *rc = lm_malloc(hmax * r * sizeof *rc);
    if (!rp || !rc) {
        lm_free(rp);
        lm_free(rc);
        LM_FAIL(err, LM_ENOMEM, "out of memory for the aligned initialisation");
    }
    memset(theta, 0, m->n_params * sizeof *theta);
    lm_rng rng;
    lm_rng_seed(&rng, seed, LM_STREAM_INIT);
    lm_status st = LM_OK;
    for (size_t l = 0; l < L && st == LM_OK; l++) {
        const lm_layer_info *li = &m->layer[l];
        const int last = l + 1 == L;
        /* the output basis: U for the last layer, a fresh R_l otherwise */
        const double *out = U;
        if (!last) {
            st = lm_rng_orthonormal(&rng, li->d_out, r, rc, err);
            out = rc;
        }
        const double *in = l == 0 ? V : rp;
        const double c = a0 / li->w_scale; /* raw = effective / (w_mul (* output_multiplier)) */
        double *w = theta + li->w_off;
        for (size_t i = 0; st == LM_OK && i < li->d_out; i++)
            for (size_t j = 0; j < li->d_in; j++) {
                double z = 0.0;
                for (size_t q = 0; q < r; q++)
                    z += out[i * r + q] * in[j * r + q];
                w[i * li->d_in + j] = c * z;
            }
        double *t = rp;
        rp = rc;
        rc = t;
    }
    lm_free(rp);
    lm_free(rc);
    return st;
}

void lm_mlp_segments(const lm_mlp *m, int adam, size_t *seg_off, double *lr_mult) {
    if (m->graph) { /* one segment per tensor */
        for (size_t t = 0; t < m->n_tensors; t++) {
            seg_off[t] = m->tensor[t].off;
            lr_mult[t] = adam ? m->tensor[t].lr_adam : m->tensor[t].lr_sgd;
        }
        seg_off[m->n_tensors] = m->n_params;
        return;
    }
    for (size_t l = 0; l < m->n_layers; l++) {
        const lm_layer_info *li = &m->layer[l];
        seg_off[2 * l] = li->w_off;
        seg_off[2 * l + 1] = li->b_off;
        lr_mult[2 * l] = adam ? li->lr_adam_w : li->lr_sgd_w;
        lr_mult[2 * l + 1] = adam ? li->lr_adam_b : li->lr_sgd_b;
    }
    seg_off[2 * m->n_layers] = m->n_params;
}

size_t lm_mlp_n_segments(const lm_mlp *m) {
    return m->graph ? m->n_tensors : 2 * m->n_layers;
}

size_t lm_mlp_segment_layer(const lm_mlp *m, size_t seg) {
    if (m->graph) {
        /* a tensor's dense layer; a layer norm's parameters go with the dense layer before
         * them (the first one when none precedes) */
        size_t d = 0;
        for (size_t t = 0; t <= seg && t < m->n_tensors; t++)
            if (m->tensor[t].dense != SIZE_MAX)
                d = m->tensor[t].dense;
        return d;
    }
    return seg / 2; /* (W_l, b_l) per linear layer: the layout lm_mlp_segments writes */
}

/* ---------------------------------------------------------------- workspace */

lm_status lm_mlp_ws_new(const lm_mlp *m, size_t n_max, lm_dtype dt, lm_mlp_ws **out, lm_err *err) {
    if (n_max == 0)
        LM_FAIL(err, LM_EINVAL, "workspace for 0 examples");
    if (dt != LM_F32 && dt != LM_F64)
        LM_FAIL(err, LM_EINVAL, "invalid dtype %d", (int) dt);
    if (m->graph) {
        lm_mlp_ws *gw = lm_calloc(1, sizeof *gw);
        if (!gw)
            LM_FAIL(err, LM_ENOMEM, "out of memory allocating a workspace");
        gw->m = m;
        gw->dt = dt;
        gw->n_max = n_max;
        lm_status st = lm__graph_ws_new(m, n_max, dt, gw, err);
        if (st != LM_OK) {
            lm_mlp_ws_free(gw);
            return st;
        }
        *out = gw;
        return LM_OK;
    }
    const size_t L = m->n_layers, es = lm_dtype_size(dt);
    const int f64 = dt == LM_F64, ident = m->spec.act == LM_ACT_IDENTITY;
    size_t max_w = m->d_in;
    for (size_t l = 0; l < L; l++)
        if (m->layer[l].d_out > max_w)
            max_w = m->layer[l].d_out;
    /* Count elements: every buffer is n_max x (its width), rounded up to 8 elements so each
     * starts 64-byte aligned. */
    size_t total = 0;
#define ROUND8(x) (((x) + 7) & ~(size_t) 7)
    const size_t limit = SIZE_MAX / 16 / (n_max + 1);
    if (max_w > limit)
        LM_FAIL(err, LM_ERANGE, "workspace for %zu examples of width %zu overflows", n_max, max_w);
    for (size_t l = 0; l < L; l++) {
        const size_t c = ROUND8(n_max * m->layer[l].d_out);
        const int hidden = l + 1 < L;
        total += c;                          /* z                 */
        total += (hidden && !ident) ? c : 0; /* a                 */
        total += hidden ? c : 0;             /* delta             */
        total += (hidden && f64) ? c : 0;    /* g                 */
        if (f64) {
            total += c;                          /* rz                */
            total += (hidden && !ident) ? c : 0; /* ra                */
            total += hidden ? c : 0;             /* rdelta            */
        }
    }
    const size_t cf = ROUND8(n_max * m->d_out);
    total += cf; /* df */
    if (f64)
        total += cf + ROUND8(n_max * max_w) + ROUND8(m->n_params); /* rdf, rg, gscratch */
    lm_mlp_ws *ws = lm_calloc(1, sizeof *ws);
    if (!ws)
        LM_FAIL(err, LM_ENOMEM, "out of memory allocating a workspace");
    ws->buf = lm_malloc(total * es);
    ws->colsum = lm_malloc(max_w * sizeof(double));
    if (!ws->buf || !ws->colsum) {
        lm_mlp_ws_free(ws);
        LM_FAIL(err, LM_ENOMEM, "out of memory: the workspace for %zu examples needs %.1f MiB",
                n_max, (double) (total * es) / 1048576.0);
    }
    char *p = ws->buf;
#define TAKE(cnt) (void *) (p += (cnt) *es, p - (cnt) *es)
    for (size_t l = 0; l < L; l++) {
        const size_t c = ROUND8(n_max * m->layer[l].d_out);
        const int hidden = l + 1 < L;
        ws->z[l] = TAKE(c);
        ws->a[l] = (hidden && !ident) ? TAKE(c) : ws->z[l];
        ws->delta[l] = hidden ? TAKE(c) : NULL;
        ws->g[l] = (hidden && f64) ? TAKE(c) : NULL;
        if (f64) {
            ws->rz[l] = TAKE(c);
            ws->ra[l] = (hidden && !ident) ? (double *) TAKE(c) : ws->rz[l];
            ws->rdelta[l] = hidden ? (double *) TAKE(c) : NULL;
        }
    }
    ws->df = TAKE(cf);
    if (f64) {
        ws->rdf = TAKE(cf);
        ws->rg = TAKE(ROUND8(n_max * max_w));
        ws->gscratch = TAKE(ROUND8(m->n_params));
    }
#undef TAKE
#undef ROUND8
    ws->m = m;
    ws->dt = dt;
    ws->n_max = n_max;
    *out = ws;
    return LM_OK;
}

lm_status lm__mlp_ws_rstate(lm_mlp_ws *ws, lm_err *err) {
    if (ws->dt == LM_F64 || ws->rbuf)
        return LM_OK;
    const lm_mlp *m = ws->m;
    const size_t L = m->n_layers, n_max = ws->n_max;
    const int ident = m->spec.act == LM_ACT_IDENTITY;
    size_t max_h = 1; /* rg holds R{dL/da} of a hidden layer: the widest hidden width */
    for (size_t l = 0; l + 1 < L; l++)
        if (m->layer[l].d_out > max_h)
            max_h = m->layer[l].d_out;
#define ROUND8(x) (((x) + 7) & ~(size_t) 7)
    /* the counts of lm_mlp_ws_new's float64 R-state (its sizes were checked there), in float
     * elements, with rg sized by the hidden widths only; the double-precision loss step before
     * them. 784-200-200-10 on n = 2000: 15.4 MB + 0.6 MB, beside the 9.8 MB of the forward
     * state. */
    size_t total = 0;
    for (size_t l = 0; l + 1 < L; l++) {
        const size_t c = ROUND8(n_max * m->layer[l].d_out);
        total += c * (ident ? 3 : 4); /* g, rz, ra (unless aliased), rdelta */
    }
    const size_t cf = ROUND8(n_max * m->d_out);
    total += 2 * cf + ROUND8(n_max * max_h) + ROUND8(m->n_params); /* rz[L-1], rdf, rg, gscratch */
    const size_t bytes = total * sizeof(float) + 4 * cf * sizeof(double);
    ws->rbuf = lm_malloc(bytes);
    if (!ws->rbuf)
        LM_FAIL(err, LM_ENOMEM,
                "out of memory: the float32 Hessian-vector state for %zu examples needs %.1f MiB",
                n_max, (double) bytes / 1048576.0);
    double *d = ws->rbuf; /* the doubles first: their alignment */
    ws->hf = d;
    ws->hy = d + cf;
    ws->hrf = d + 2 * cf;
    ws->hr = d + 3 * cf;
    float *p = (float *) (d + 4 * cf);
#define TAKE(cnt) (p += (cnt), p - (cnt))
    for (size_t l = 0; l < L; l++) {
        const size_t c = ROUND8(n_max * m->layer[l].d_out);
        const int hidden = l + 1 < L;
        ws->g[l] = hidden ? TAKE(c) : NULL;
        ws->rz[l] = TAKE(c);
        ws->ra[l] = (hidden && !ident) ? TAKE(c) : ws->rz[l];
        ws->rdelta[l] = hidden ? TAKE(c) : NULL;
    }
    ws->rdf = TAKE(cf);
    ws->rg = TAKE(ROUND8(n_max * max_h));
    ws->gscratch = TAKE(ROUND8(m->n_params));
#undef TAKE
#undef ROUND8
    return LM_OK;
}

void lm_mlp_ws_free(lm_mlp_ws *ws) {
    if (!ws)
        return;
    /* the layer graph's buffers (NULL in a dense chain's workspace): freed without reading
     * ws->m, which callers may have freed first (the trainer frees its model before its
     * observers' workspaces) */
    lm__graph_ws_free(ws);
    lm_free(ws->rbuf);
    lm_free(ws->buf);
    lm_free(ws->colsum);
    lm_free(ws);
}

const double *lm_mlp_ws_output(const lm_mlp_ws *ws) {
    if (ws->dt != LM_F64)
        return NULL;
    if (ws->m->graph)
        return (const double *) ws->val[ws->n_buf - 1];
    return (const double *) ws->z[ws->m->n_layers - 1];
}
