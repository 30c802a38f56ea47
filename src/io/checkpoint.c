/*
 * checkpoint.c: MLP checkpoints as safetensors in PyTorch's layout, so a model trained by lmech
 * loads into `nn.ModuleList([nn.Linear(...), ...])` with load_state_dict(strict=True), and a
 * PyTorch model saved with the same layout loads into lmech.
 *
 * Layer l (0-based) is `layers.{l}.weight` [d_out, d_in] and `layers.{l}.bias` [d_out]; these are
 * exactly the row-major slices of lmech's flat theta at w_off and b_off, so saving F64 is slicing
 * without a copy, and loading is one pass with shape and finiteness checks into a scratch copy
 * (theta must stay unchanged on failure). The workload is one save every few hundred steps and
 * one load per resumed run or evaluation; the cost is the file I/O.
 */
#include "io/internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* "layers." + up to 20 digits of a size_t + ".weight" + NUL (gcc checks the worst case). */
#define NAME_LEN 40
/* Comma-separated lists of up to LM_MAX_LAYERS + 1 numbers of at most 24 characters ("%.17g"). */
#define LIST_LEN ((LM_MAX_LAYERS + 1) * 26)

static void tensor_name(char *buf, size_t l, int is_bias) {
    snprintf(buf, NAME_LEN, "layers.%zu.%s", l, is_bias ? "bias" : "weight");
}

/* Appends item to the comma-separated list in buf (LIST_LEN bytes; dropped if it would not fit). */
static void list_append(char *buf, size_t *pos, const char *item) {
    size_t n = strlen(item);
    if (*pos + n + 2 > LIST_LEN)
        return;
    if (*pos)
        buf[(*pos)++] = ',';
    memcpy(buf + *pos, item, n + 1);
    *pos += n;
}

lm_status lm_mlp_save(const lm_mlp *m, const double *theta, lm_dtype dt, const char *path,
                      lm_err *err) {
    if (dt != LM_F64 && dt != LM_F32)
        LM_FAIL(err, LM_EINVAL, "%s: checkpoint dtype must be float64 or float32", path);
    const size_t L = m->n_layers, per = m->spec.bias ? 2 : 1;
    char names[2 * LM_MAX_LAYERS][NAME_LEN];
    lm_array arr[2 * LM_MAX_LAYERS];
    const char *name_ptr[2 * LM_MAX_LAYERS];
    const lm_array *arr_ptr[2 * LM_MAX_LAYERS];

    /* A checkpoint is only worth writing if it can be loaded back: refuse NaN/Inf, and values
     * that overflow float32. */
    for (size_t l = 0; l < L; l++) {
        const lm_layer_info *li = &m->layer[l];
        for (int b = 0; b < (int) per; b++) {
            size_t off = b ? li->b_off : li->w_off, cnt = b ? li->d_out : li->d_out * li->d_in;
            for (size_t i = 0; i < cnt; i++) {
                double x = theta[off + i];
                if (!isfinite(x) || (dt == LM_F32 && fabs(x) > (double) FLT_MAX)) {
                    char nm[NAME_LEN];
                    tensor_name(nm, l, b);
                    LM_FAIL(err, isfinite(x) ? LM_ERANGE : LM_ENUMERIC,
                            "%s: %s[%zu] = %g %s: refusing to write the checkpoint", path, nm, i, x,
                            isfinite(x) ? "does not fit in float32" : "is not finite");
                }
            }
        }
    }

    float *f32 = NULL;
    if (dt == LM_F32) {
        f32 = lm_malloc((m->n_params ? m->n_params : 1) * sizeof *f32);
        if (!f32)
            LM_FAIL(err, LM_ENOMEM, "%s: out of memory converting %zu parameters to float32", path,
                    m->n_params);
        for (size_t i = 0; i < m->n_params; i++)
            f32[i] = (float) theta[i];
    }
    size_t n = 0;
    for (size_t l = 0; l < L; l++) {
        const lm_layer_info *li = &m->layer[l];
        for (int b = 0; b < (int) per; b++, n++) {
            lm_array *a = &arr[n];
            memset(a, 0, sizeof *a);
            size_t off = b ? li->b_off : li->w_off;
            a->elt = dt == LM_F32 ? LM_ELT_F32 : LM_ELT_F64;
            a->ndim = b ? 1 : 2;
            a->shape[0] = li->d_out;
            a->shape[1] = li->d_in;
            a->count = b ? li->d_out : li->d_out * li->d_in;
            a->data = dt == LM_F32 ? (void *) (f32 + off) : (void *) (theta + off);
            tensor_name(names[n], l, b);
            name_ptr[n] = names[n];
            arr_ptr[n] = a;
        }
    }

    char widths[LIST_LEN] = "", wmul[LIST_LEN] = "", bmul[LIST_LEN] = "", item[32];
    size_t pw = 0, pwm = 0, pbm = 0;
    for (size_t i = 0; i < m->spec.n_widths; i++) {
        snprintf(item, sizeof item, "%zu", m->spec.widths[i]);
        list_append(widths, &pw, item);
    }
    for (size_t l = 0; l < L; l++) {
        snprintf(item, sizeof item, "%.17g", m->layer[l].w_mul);
        list_append(wmul, &pwm, item);
        snprintf(item, sizeof item, "%.17g", m->layer[l].b_mul);
        list_append(bmul, &pbm, item);
    }
    char alpha[32], base[32];
    snprintf(alpha, sizeof alpha, "%.17g", m->spec.output_multiplier);
    snprintf(base, sizeof base, "%zu", m->spec.base_width);
    const char *keys[] = {
        "format", "lmech_version", "parameterization",  "activation",         "widths",
        "bias",   "base_width",    "output_multiplier", "weight_multipliers", "bias_multipliers",
        "dtype"};
    const char *values[] = {"pt",
                            lm_version(),
                            lm_param_name(m->spec.param),
                            lm_act_name(m->spec.act),
                            widths,
                            m->spec.bias ? "true" : "false",
                            base,
                            alpha,
                            wmul,
                            bmul,
                            lm_dtype_name(dt)};
    lm_status rc = lm_safetensors_write(path, n, name_ptr, arr_ptr, sizeof keys / sizeof *keys,
                                        keys, values, err);
    lm_free(f32);
    return rc;
}

/* Copies tensor a (F32 or F64, already shape-checked) into dst, refusing NaN/Inf. */
static lm_status copy_finite(const char *path, const char *nm, const lm_array *a, double *dst,
                             lm_err *err) {
    for (size_t i = 0; i < a->count; i++) {
        double x = a->elt == LM_ELT_F64 ? ((const double *) a->data)[i]
                                        : (double) ((const float *) a->data)[i];
        if (!isfinite(x))
            LM_FAIL(err, LM_ENUMERIC, "%s: %s[%zu] (flat index) is %s", path, nm, i,
                    isnan(x) ? "NaN" : "infinite");
        dst[i] = x;
    }
    return LM_OK;
}

static lm_status load_into(const lm_mlp *m, const char *path, const lm_safetensors *st,
                           double *scratch, lm_err *err) {
    const size_t L = m->n_layers, per = m->spec.bias ? 2 : 1;
    char nm[NAME_LEN], got[200], want[200];
    for (size_t l = 0; l < L; l++) {
        const lm_layer_info *li = &m->layer[l];
        for (int b = 0; b < (int) per; b++) {
            tensor_name(nm, l, b);
            const lm_array *a = lm_safetensors_get(st, nm);
            if (!a)
                LM_FAIL(err, LM_ENOTFOUND,
                        "%s: missing tensor %s (the model has %zu layers%s, layers.0 to "
                        "layers.%zu)",
                        path, nm, L, m->spec.bias ? " with biases" : " without biases", L - 1);
            if (a->elt != LM_ELT_F64 && a->elt != LM_ELT_F32)
                LM_FAIL(err, LM_EFORMAT, "%s: %s has element type %s, expected F32 or F64", path,
                        nm, lm_elt_name(a->elt));
            const size_t shape[2] = {li->d_out, li->d_in}, ndim = b ? 1 : 2;
            int same = a->ndim == ndim;
            for (size_t d = 0; d < ndim && same; d++)
                same = a->shape[d] == shape[d];
            if (!same) {
                lm__fmt_shape(got, sizeof got, a->ndim, a->shape);
                lm__fmt_shape(want, sizeof want, ndim, shape);
                LM_FAIL(err, LM_ESHAPE, "%s: %s has shape %s, the model expects %s", path, nm, got,
                        want);
            }
            LM_TRY(copy_finite(path, nm, a, scratch + (b ? li->b_off : li->w_off), err));
        }
    }
    for (size_t i = 0; i < st->n; i++) {
        int known = 0;
        for (size_t l = 0; l < L && !known; l++)
            for (int b = 0; b < (int) per && !known; b++) {
                tensor_name(nm, l, b);
                known = strcmp(nm, st->names[i]) == 0;
            }
        if (!known)
            LM_FAIL(err, LM_EFORMAT,
                    "%s: unexpected tensor '%s' (the model has %zu layers%s: only layers.{i}.weight"
                    "%s for i < %zu)",
                    path, st->names[i], L, m->spec.bias ? " with biases" : " without biases",
                    m->spec.bias ? " and .bias" : "", L);
    }
    return LM_OK;
}

lm_status lm_mlp_load(const lm_mlp *m, const char *path, double *theta, lm_err *err) {
    lm_safetensors *st = NULL;
    LM_TRY(lm_safetensors_read(path, &st, err));
    double *scratch = lm_malloc((m->n_params ? m->n_params : 1) * sizeof *scratch);
    if (!scratch) {
        lm_safetensors_free(st);
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory for %zu parameters", path, m->n_params);
    }
    lm_status rc = load_into(m, path, st, scratch, err);
    if (rc == LM_OK)
        memcpy(theta, scratch, m->n_params * sizeof *theta);
    lm_free(scratch);
    lm_safetensors_free(st);
    return rc;
}
