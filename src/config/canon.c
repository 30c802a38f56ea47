/*
 * canon.c: the canonical JSON of a validated config: every key with its resolved value, keys in
 * schema order, compact, numbers in one fixed spelling. Two files that mean the same run
 * (whatever their key order, spacing, defaults left out, 1 or 1.0 for a real) give the same
 * bytes, hence the same SHA-256, which is the run's identity in the database. The canonical
 * JSON parses back to itself.
 *
 * Number spelling: integers in decimal; reals in the shortest "%.*g" form (1 to 17 digits) that
 * reads back to the same double, with ".0" appended when that form looks like an integer, so
 * 0.1 is written 0.1 (not 0.10000000000000001) and 1.0 stays a real.
 */
#include "config/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JSON string literal. The input is valid UTF-8 (jansson checked it), so only '"', '\\' and
 * control characters need escaping. */
static void sb_str(lm_sb *b, const char *s) {
    lm_sb_puts(b, "\"");
    for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            char e[2] = {'\\', (char) *c};
            lm_sb_put(b, e, 2);
        } else if (*c == '\n') {
            lm_sb_puts(b, "\\n");
        } else if (*c == '\t') {
            lm_sb_puts(b, "\\t");
        } else if (*c == '\r') {
            lm_sb_puts(b, "\\r");
        } else if (*c < 0x20) {
            lm_sb_printf(b, "\\u%04x", (unsigned) *c);
        } else {
            lm_sb_put(b, (const char *) c, 1);
        }
    }
    lm_sb_puts(b, "\"");
}

void lm__cfg_fmt_real(double x, char *buf, size_t n) {
    if (x == 0.0)
        x = 0.0; /* -0.0 and 0.0 are the same setting */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    if (!strpbrk(buf, ".eEn") && strlen(buf) + 2 < n) /* 'n': inf, nan (never in a config) */
        strcat(buf, ".0");
}

static void sb_real(lm_sb *b, double x) {
    char tmp[40];
    lm__cfg_fmt_real(x, tmp, sizeof tmp);
    lm_sb_puts(b, tmp);
}

static void sb_key(lm_sb *b, int *first, const char *key) {
    if (!*first)
        lm_sb_puts(b, ",");
    *first = 0;
    sb_str(b, key);
    lm_sb_puts(b, ":");
}

static void kv_str(lm_sb *b, int *first, const char *key, const char *v) {
    sb_key(b, first, key);
    sb_str(b, v);
}

static void kv_uint(lm_sb *b, int *first, const char *key, unsigned long long v) {
    sb_key(b, first, key);
    lm_sb_printf(b, "%llu", v);
}

static void kv_real(lm_sb *b, int *first, const char *key, double v) {
    sb_key(b, first, key);
    sb_real(b, v);
}

static void kv_size_or_all(lm_sb *b, int *first, const char *key, size_t v) {
    if (v == LM_ALL)
        kv_str(b, first, key, "all");
    else
        kv_uint(b, first, key, v);
}

static lm_normalize resolved_normalize(const lm_data_spec *d) {
    if (d->normalize != LM_NORM_DEFAULT)
        return d->normalize;
    if (d->source == LM_DATA_FASHION_MNIST || d->source == LM_DATA_MNIST)
        return LM_NORM_SCALE01;
    if (d->source == LM_DATA_NPY)
        return LM_NORM_DEFAULT; /* the data module decides from the file */
    return LM_NORM_NONE;
}

static void put_data(lm_sb *b, const lm_data_spec *d) {
    int first = 1;
    lm_sb_puts(b, "{");
    kv_str(b, &first, "source", lm_data_source_name(d->source));
    kv_str(b, &first, "dir", d->dir);
    kv_str(b, &first, "x", d->x);
    kv_str(b, &first, "y", d->y);
    kv_str(b, &first, "test_x", d->test_x);
    kv_str(b, &first, "test_y", d->test_y);
    kv_size_or_all(b, &first, "train_size", d->train_size);
    kv_size_or_all(b, &first, "test_size", d->test_size);
    kv_str(b, &first, "subset", lm_subset_name(d->subset));
    kv_uint(b, &first, "pool", d->pool);
    kv_str(b, &first, "normalize", lm_normalize_name(resolved_normalize(d)));
    kv_str(b, &first, "targets", lm_targets_name(d->targets));
    kv_uint(b, &first, "dim", d->dim);
    kv_uint(b, &first, "outputs", d->outputs);
    kv_uint(b, &first, "teacher_width", d->teacher_width);
    kv_real(b, &first, "noise", d->noise);
    kv_real(b, &first, "alpha", d->alpha);
    kv_real(b, &first, "beta", d->beta);
    sb_key(b, &first, "frequencies");
    lm_sb_puts(b, "[");
    for (size_t i = 0; i < d->n_freq; i++)
        lm_sb_printf(b, i ? ",%d" : "%d", d->frequencies[i]);
    lm_sb_puts(b, "]");
    kv_uint(b, &first, "modulus", d->modulus);
    kv_real(b, &first, "train_frac", d->train_frac);
    /* matrix-completion's keys appear only for that source, so that the canonical text (and
     * the hash) of every other config is what it was before the source existed */
    if (d->source == LM_DATA_MATRIX_COMPLETION) {
        kv_uint(b, &first, "rank", d->rank);
        kv_real(b, &first, "observed", d->observed);
    }
    /* linear-modes: written only for that source, so the hashes of every other run stand */
    if (d->source == LM_DATA_LINEAR_MODES) {
        sb_key(b, &first, "singular_values");
        lm_sb_puts(b, "[");
        for (size_t i = 0; i < d->n_sv; i++) {
            if (i)
                lm_sb_puts(b, ",");
            sb_real(b, d->singular_values[i]);
        }
        lm_sb_puts(b, "]");
    }
    /* token sequences: written only where used, so the hashes of every earlier run stand; vocab
     * resolved where the source fixes it (an npy set's inferred vocab is known at load only) */
    if (d->encoding == LM_ENCODING_TOKENS && d->source != LM_DATA_TEXT)
        kv_str(b, &first, "encoding", lm_encoding_name(d->encoding));
    if (d->source == LM_DATA_TEXT) {
        kv_str(b, &first, "path", d->path);
        kv_uint(b, &first, "context", d->context);
        kv_uint(b, &first, "stride", d->stride ? d->stride : d->context);
        kv_real(b, &first, "test_frac", d->test_frac);
        kv_uint(b, &first, "vocab", 256);
    } else if (d->source == LM_DATA_MODADD && d->encoding == LM_ENCODING_TOKENS) {
        kv_uint(b, &first, "vocab", d->modulus + 1);
    } else if (d->vocab) {
        kv_uint(b, &first, "vocab", d->vocab);
    }
    lm_sb_puts(b, "}");
}

/* model.layers entries [i, i + count) as a JSON list, every key of each type written (defaults
 * filled in) so that equal models hash equally however they were spelled. Returns the end. */
static size_t put_layers(lm_sb *b, const lm_mlp_spec *m, size_t i, size_t count) {
    lm_sb_puts(b, "[");
    const size_t end = i + count;
    for (int k = 0; i < end; k++) {
        const lm_layer_spec *l = &m->layers[i];
        int first = 1;
        lm_sb_puts(b, k ? ",{" : "{");
        kv_str(b, &first, "type", lm_layer_type_name(l));
        const lm_layer_type t = l->type;
        if (t == LM_LAYER_LINEAR || t == LM_LAYER_CONV2D) {
            kv_uint(b, &first, "out", l->out);
            sb_key(b, &first, "bias");
            lm_sb_puts(b, (l->bias < 0 ? m->bias : l->bias) ? "true" : "false");
        }
        if (t == LM_LAYER_CONV2D || t == LM_LAYER_AVGPOOL2D || t == LM_LAYER_MAXPOOL2D) {
            kv_uint(b, &first, "kernel", l->kernel);
            kv_uint(b, &first, "stride",
                    l->stride              ? l->stride
                    : t == LM_LAYER_CONV2D ? 1
                                           : l->kernel);
        }
        if (t == LM_LAYER_CONV2D)
            kv_uint(b, &first, "padding", l->padding);
        if (t == LM_LAYER_LAYERNORM)
            kv_real(b, &first, "eps", l->eps);
        if (t == LM_LAYER_EMBEDDING) {
            kv_uint(b, &first, "out", l->out);
            kv_uint(b, &first, "vocab", l->vocab);
        }
        if (t == LM_LAYER_ATTENTION) {
            kv_uint(b, &first, "heads", l->heads);
            kv_real(b, &first, "scale", l->scale);
        }
        if (t == LM_LAYER_RESIDUAL) {
            sb_key(b, &first, "body");
            put_layers(b, m, i + 1, l->body_len);
            i += l->body_len;
        }
        lm_sb_puts(b, "}");
        i++;
    }
    lm_sb_puts(b, "]");
    return i;
}

static void put_model(lm_sb *b, const lm_mlp_spec *m, int center_output) {
    int first = 1;
    lm_sb_puts(b, "{");
    if (m->arch == LM_ARCH_GPT) {
        const lm_gpt_spec *g = &m->gpt;
        kv_str(b, &first, "arch", "gpt");
        kv_uint(b, &first, "vocab", g->vocab);
        kv_uint(b, &first, "context", g->context);
        kv_uint(b, &first, "d_model", g->d_model);
        kv_uint(b, &first, "heads", g->heads);
        kv_uint(b, &first, "blocks", g->blocks);
        kv_uint(b, &first, "mlp_ratio", g->mlp_ratio);
        kv_str(b, &first, "predict", g->every > 0 ? "every" : "last");
    } else if (m->n_layer_specs) {
        sb_key(b, &first, "input_shape");
        lm_sb_puts(b, "[");
        for (size_t i = 0; i < m->n_input_shape; i++)
            lm_sb_printf(b, i ? ",%zu" : "%zu", m->input_shape[i]);
        lm_sb_puts(b, "]");
        sb_key(b, &first, "layers");
        put_layers(b, m, 0, m->n_layer_specs);
    } else {
        sb_key(b, &first, "widths");
        lm_sb_puts(b, "[");
        for (size_t i = 0; i < m->n_widths; i++)
            lm_sb_printf(b, i ? ",%zu" : "%zu", m->widths[i]);
        lm_sb_puts(b, "]");
        kv_str(b, &first, "activation", lm_act_name(m->act));
    }
    sb_key(b, &first, "bias");
    lm_sb_puts(b, m->bias ? "true" : "false");
    kv_str(b, &first, "parameterization", lm_param_name(m->param));
    kv_uint(b, &first, "base_width", m->base_width);
    kv_real(b, &first, "output_multiplier", m->output_multiplier);
    if (m->embed_multiplier != 1.0) /* written only when set: earlier runs' hashes stand */
        kv_real(b, &first, "embed_multiplier", m->embed_multiplier);
    kv_real(b, &first, "sw2", m->sw2);
    kv_real(b, &first, "sb2", m->sb2);
    sb_key(b, &first, "readout_zero");
    lm_sb_puts(b, m->readout_zero ? "true" : "false");
    /* written only when set, so the hashes of every run made before the key existed stand */
    if (center_output) {
        sb_key(b, &first, "center_output");
        lm_sb_puts(b, "true");
    }
    /* likewise: the aligned initialisation is written only when chosen */
    if (m->init == LM_INIT_ALIGNED) {
        kv_str(b, &first, "init", "aligned");
        kv_real(b, &first, "a0", m->a0);
    }
    lm_sb_puts(b, "}");
}

static void put_optimizer(lm_sb *b, const lm_optim_spec *o, size_t n_layers) {
    int first = 1;
    lm_sb_puts(b, "{");
    kv_str(b, &first, "name", lm_opt_kind_name(o->kind));
    kv_real(b, &first, "lr", o->lr);
    kv_real(b, &first, "momentum", o->momentum);
    sb_key(b, &first, "betas");
    lm_sb_puts(b, "[");
    sb_real(b, o->beta1);
    lm_sb_puts(b, ",");
    sb_real(b, o->beta2);
    lm_sb_puts(b, "]");
    kv_real(b, &first, "eps", o->eps);
    kv_real(b, &first, "weight_decay", o->weight_decay);
    sb_key(b, &first, "schedule");
    int sfirst = 1;
    lm_sb_puts(b, "{");
    kv_str(b, &sfirst, "name", lm_sched_name(o->schedule));
    kv_uint(b, &sfirst, "warmup_steps", o->warmup_steps);
    kv_real(b, &sfirst, "final_lr_frac", o->final_lr_frac);
    /* written only when set, so the hashes of every run made before the key existed stand */
    if (o->warmup_start > 0)
        kv_real(b, &sfirst, "warmup_start", o->warmup_start);
    lm_sb_puts(b, "}");
    /* no layer_lr means every multiplier is 1: written out, so both spellings hash alike
     * (model.layers networks have none: n_layers 0 leaves the key out) */
    if (n_layers) {
        sb_key(b, &first, "layer_lr");
        lm_sb_puts(b, "[");
        for (size_t i = 0; i < n_layers; i++) {
            if (i)
                lm_sb_puts(b, ",");
            sb_real(b, o->n_layer_lr ? o->layer_lr[i] : 1.0);
        }
        lm_sb_puts(b, "]");
    }
    lm_sb_puts(b, "}");
}

lm_status lm__cfg_canonical(const lm_config *c, char **out, lm_err *err) {
    lm_sb b = {0};
    int first = 1;
    lm_sb_puts(&b, "{");
    kv_uint(&b, &first, "seed", (unsigned long long) c->seed);
    sb_key(&b, &first, "data");
    put_data(&b, &c->data);
    sb_key(&b, &first, "model");
    put_model(&b, &c->model, c->center_output);
    kv_str(&b, &first, "loss", lm_loss_name(c->loss));
    sb_key(&b, &first, "optimizer");
    put_optimizer(&b, &c->optim, c->model.n_widths ? c->model.n_widths - 1 : 0);
    kv_uint(&b, &first, "batch_size", c->train.batch_size);
    if (c->train.steps)
        kv_uint(&b, &first, "steps", c->train.steps);
    else
        kv_uint(&b, &first, "epochs", c->train.epochs);
    kv_uint(&b, &first, "eval_every", c->train.eval_every);
    kv_str(&b, &first, "dtype", lm_dtype_name(c->train.dtype));
    kv_uint(&b, &first, "threads", (unsigned long long) c->train.threads);
    kv_uint(&b, &first, "sharpness_every", c->train.sharpness_every);
    /* written only when not "auto", so that configs from before the key hash as before */
    if (c->train.sharpness_dtype == LM_SHARP_F32)
        kv_str(&b, &first, "sharpness_dtype", "float32");
    else if (c->train.sharpness_dtype == LM_SHARP_F64)
        kv_str(&b, &first, "sharpness_dtype", "float64");
    kv_uint(&b, &first, "probe_every", c->train.probe_every);
    kv_uint(&b, &first, "probe_size", c->train.probe_size);
    kv_uint(&b, &first, "repr_every", c->train.repr_every);
    kv_uint(&b, &first, "weights_every", c->train.weights_every);
    kv_uint(&b, &first, "noise_every", c->train.noise_every);
    kv_str(&b, &first, "name", c->name);
    kv_str(&b, &first, "notes", c->notes);
    lm_sb_puts(&b, "}");
    if (b.oom) {
        lm_free(b.p);
        LM_FAIL(err, LM_ENOMEM, "out of memory writing the canonical config JSON");
    }
    *out = b.p;
    return LM_OK;
}
