/*
 * mlp.c: the MLP's layout and parameterizations (sp, ntp, mup) and its initialisation.
 * The derivative kernels live in mlp_impl.h (compiled once per dtype by mlp_f64.c, mlp_f32.c).
 */
#include "model/internal.h"

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

lm_status lm_mlp_new(const lm_mlp_spec *spec, lm_mlp **out, lm_err *err) {
    lm_init();
    if (spec->n_widths < 2 || spec->n_widths > LM_MAX_LAYERS + 1)
        LM_FAIL(err, LM_EINVAL, "model.widths has %zu entries: need 2 to %d (input ... output)",
                spec->n_widths, LM_MAX_LAYERS + 1);
    for (size_t i = 0; i < spec->n_widths; i++)
        if (spec->widths[i] == 0)
            LM_FAIL(err, LM_EINVAL, "model.widths[%zu] is 0: widths must be positive", i);
    if ((unsigned) spec->act > LM_ACT_QUADRATIC || (unsigned) spec->param > LM_PARAM_MUP ||
        (unsigned) spec->init > LM_INIT_ALIGNED)
        LM_FAIL(err, LM_EINVAL, "model: invalid activation or parameterization enum");
    if (!isfinite(spec->output_multiplier) || spec->output_multiplier == 0.0)
        LM_FAIL(err, LM_EINVAL, "model.output_multiplier = %g: must be finite and non-zero",
                spec->output_multiplier);
    if (!(spec->sw2 > 0.0) || !isfinite(spec->sw2))
        LM_FAIL(err, LM_EINVAL, "model.sw2 = %g: must be positive and finite", spec->sw2);
    if (!(spec->sb2 >= 0.0) || !isfinite(spec->sb2))
        LM_FAIL(err, LM_EINVAL, "model.sb2 = %g: must be non-negative and finite", spec->sb2);

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
    *out = m;
    return LM_OK;
}

void lm_mlp_free(lm_mlp *m) {
    lm_free(m);
}

lm_status lm_mlp_init(const lm_mlp *m, uint64_t seed, double *theta, lm_err *err) {
    (void) err;
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
    return 2 * m->n_layers;
}

size_t lm_mlp_segment_layer(const lm_mlp *m, size_t seg) {
    (void) m;
    return seg / 2; /* (W_l, b_l) per linear layer: the layout lm_mlp_segments writes */
}

/* ---------------------------------------------------------------- workspace */

lm_status lm_mlp_ws_new(const lm_mlp *m, size_t n_max, lm_dtype dt, lm_mlp_ws **out, lm_err *err) {
    if (n_max == 0)
        LM_FAIL(err, LM_EINVAL, "workspace for 0 examples");
    if (dt != LM_F32 && dt != LM_F64)
        LM_FAIL(err, LM_EINVAL, "invalid dtype %d", (int) dt);
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

void lm_mlp_ws_free(lm_mlp_ws *ws) {
    if (!ws)
        return;
    lm_free(ws->buf);
    lm_free(ws->colsum);
    lm_free(ws);
}

const double *lm_mlp_ws_output(const lm_mlp_ws *ws) {
    return ws->dt == LM_F64 ? (const double *) ws->z[ws->m->n_layers - 1] : NULL;
}
