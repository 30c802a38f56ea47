/*
 * checkpoint.c: model checkpoints as safetensors in PyTorch's layout, so a model trained by lmech
 * loads into the reference PyTorch module (tests/fixtures/lmech_torch.py, docs/models.md) with
 * load_state_dict(strict=True), and a PyTorch model saved with the same layout loads into lmech.
 *
 * A checkpoint is the model's parameter tensor list (lmech/model.h: m->tensor[0..n_tensors)),
 * in order, each under its state_dict name with its PyTorch shape:
 *   model.widths (the dense chain, nn.ModuleList of nn.Linear):
 *     layers.{l}.weight [d_out, d_in], layers.{l}.bias [d_out]
 *   model.layers (the layer graph, an nn.Sequential called `layers`; parameter-free entries keep
 *   their index):
 *     linear     layers.{i}.weight [out, in], layers.{i}.bias [out]
 *     conv2d     layers.{i}.weight [out, in, kh, kw], layers.{i}.bias [out]
 *     layernorm  layers.{i}.weight [d] (the gain), layers.{i}.bias [d]
 *     residual   its body's tensors as layers.{i}.body.{j}.weight / .bias (nested likewise)
 * Each tensor is a contiguous row-major slice of lmech's flat theta (tensor[t].off, numel), so
 * saving F64 is slicing without a copy, and loading is one pass with name, shape, dtype and
 * finiteness checks into a scratch copy (theta stays unchanged on failure). The metadata records
 * how the model was built; the chain's keys are those lmech has always written, so its files
 * are byte-identical to earlier versions' (apart from lmech_version). The workload is one save
 * every few hundred steps and one load per resumed run or evaluation; the cost is the file I/O.
 */
#include "io/internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Comma-separated lists of up to LM_MAX_LAYERS + 1 numbers of at most 24 characters ("%.17g"). */
#define LIST_LEN ((LM_MAX_LAYERS + 1) * 26)
/* The model's description (lm_mlp_describe). */
#define DESC_LEN 1024

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

/* "the 12-7-5-3 tanh MLP has 6 tensors, layers.0.weight [7, 12] to layers.2.bias [3]": what the
 * model expects, for messages (an lm_err message holds one line of LM_ERR_MSG_LEN bytes). */
static void describe_tensors(const lm_mlp *m, char *buf, size_t cap) {
    char desc[160], s0[64] = "", s1[64] = ""; /* a longer description is cut by the message */
    lm_mlp_describe(m, desc, sizeof desc);
    if (m->n_tensors == 0) {
        snprintf(buf, cap, "the %s has no parameters", desc);
        return;
    }
    const lm_tensor_info *a = &m->tensor[0], *b = &m->tensor[m->n_tensors - 1];
    lm__fmt_shape(s0, sizeof s0, a->ndim, a->shape);
    lm__fmt_shape(s1, sizeof s1, b->ndim, b->shape);
    if (m->n_tensors == 1)
        snprintf(buf, cap, "the %s has 1 tensor, %s %s", desc, a->name, s0);
    else
        snprintf(buf, cap, "the %s has %zu tensors, %s %s to %s %s", desc, m->n_tensors, a->name,
                 s0, b->name, s1);
}

lm_status lm_mlp_save(const lm_mlp *m, const double *theta, lm_dtype dt, const char *path,
                      lm_err *err) {
    if (dt != LM_F64 && dt != LM_F32)
        LM_FAIL(err, LM_EINVAL, "%s: checkpoint dtype must be float64 or float32", path);
    const size_t T = m->n_tensors;
    if (T > LM_MAX_TENSORS)
        LM_FAIL(err, LM_EINVAL, "%s: the model lists %zu tensors (at most %d)", path, T,
                LM_MAX_TENSORS);
    lm_array arr[LM_MAX_TENSORS];
    const char *name_ptr[LM_MAX_TENSORS];
    const lm_array *arr_ptr[LM_MAX_TENSORS];

    /* A checkpoint is only worth writing if it can be loaded back: refuse NaN/Inf, and values
     * that overflow float32. */
    for (size_t t = 0; t < T; t++) {
        const lm_tensor_info *ti = &m->tensor[t];
        for (size_t i = 0; i < ti->numel; i++) {
            double x = theta[ti->off + i];
            if (!isfinite(x) || (dt == LM_F32 && fabs(x) > (double) FLT_MAX))
                LM_FAIL(err, isfinite(x) ? LM_ERANGE : LM_ENUMERIC,
                        "%s: %s[%zu] = %g %s: refusing to write the checkpoint", path, ti->name, i,
                        x, isfinite(x) ? "does not fit in float32" : "is not finite");
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
    for (size_t t = 0; t < T; t++) {
        const lm_tensor_info *ti = &m->tensor[t];
        lm_array *a = &arr[t];
        memset(a, 0, sizeof *a);
        a->elt = dt == LM_F32 ? LM_ELT_F32 : LM_ELT_F64;
        a->ndim = ti->ndim;
        for (size_t d = 0; d < ti->ndim; d++)
            a->shape[d] = ti->shape[d];
        a->count = ti->numel;
        a->data = dt == LM_F32 ? (void *) (f32 + ti->off) : (void *) (theta + ti->off);
        name_ptr[t] = ti->name;
        arr_ptr[t] = a;
    }

    /* metadata: how the model was built (informative; loading checks the tensors only) */
    const size_t L = m->n_layers;
    char widths[LIST_LEN] = "", wmul[LIST_LEN] = "", bmul[LIST_LEN] = "", item[32];
    size_t pw = 0, pwm = 0, pbm = 0;
    if (lm_mlp_is_chain(m))
        for (size_t i = 0; i < m->spec.n_widths; i++) {
            snprintf(item, sizeof item, "%zu", m->spec.widths[i]);
            list_append(widths, &pw, item);
        }
    else
        for (size_t i = 0; i < m->spec.n_input_shape; i++) {
            snprintf(item, sizeof item, "%zu", m->spec.input_shape[i]);
            list_append(widths, &pw, item);
        }
    for (size_t l = 0; l < L; l++) {
        snprintf(item, sizeof item, "%.17g", m->layer[l].w_mul);
        list_append(wmul, &pwm, item);
        snprintf(item, sizeof item, "%.17g", m->layer[l].b_mul);
        list_append(bmul, &pbm, item);
    }
    char alpha[32], base[32], desc[DESC_LEN];
    snprintf(alpha, sizeof alpha, "%.17g", m->spec.output_multiplier);
    snprintf(base, sizeof base, "%zu", m->spec.base_width);
    lm_mlp_describe(m, desc, sizeof desc);
    const int chain = lm_mlp_is_chain(m);
    /* the chain: the keys lmech has always written, in their order; a graph: "model" (its
     * description) and "input_shape" instead of "activation" and "widths" */
    const char *keys[] = {"format",
                          "lmech_version",
                          "parameterization",
                          chain ? "activation" : "model",
                          chain ? "widths" : "input_shape",
                          "bias",
                          "base_width",
                          "output_multiplier",
                          "weight_multipliers",
                          "bias_multipliers",
                          "dtype"};
    const char *values[] = {"pt",
                            lm_version(),
                            lm_param_name(m->spec.param),
                            chain ? lm_act_name(m->spec.act) : desc,
                            widths,
                            m->spec.bias ? "true" : "false",
                            base,
                            alpha,
                            wmul,
                            bmul,
                            lm_dtype_name(dt)};
    lm_status rc = lm_safetensors_write(path, T, name_ptr, arr_ptr, sizeof keys / sizeof *keys,
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
    char got[200], want[200], expect[512];
    for (size_t t = 0; t < m->n_tensors; t++) {
        const lm_tensor_info *ti = &m->tensor[t];
        const lm_array *a = lm_safetensors_get(st, ti->name);
        if (!a) {
            describe_tensors(m, expect, sizeof expect);
            LM_FAIL(err, LM_ENOTFOUND, "%s: missing tensor %s (%s)", path, ti->name, expect);
        }
        if (a->elt != LM_ELT_F64 && a->elt != LM_ELT_F32)
            LM_FAIL(err, LM_EFORMAT, "%s: %s has element type %s, expected F32 or F64", path,
                    ti->name, lm_elt_name(a->elt));
        int same = a->ndim == ti->ndim;
        for (size_t d = 0; d < ti->ndim && same; d++)
            same = a->shape[d] == ti->shape[d];
        if (!same) {
            lm__fmt_shape(got, sizeof got, a->ndim, a->shape);
            lm__fmt_shape(want, sizeof want, ti->ndim, ti->shape);
            LM_FAIL(err, LM_ESHAPE, "%s: %s has shape %s, the model expects %s%s", path, ti->name,
                    got, want,
                    a->count == ti->numel && ti->ndim == 4
                        ? " (a conv2d weight is [out, in, kh, kw], as nn.Conv2d's)"
                        : "");
        }
        LM_TRY(copy_finite(path, ti->name, a, scratch + ti->off, err));
    }
    for (size_t i = 0; i < st->n; i++) {
        int known = 0;
        for (size_t t = 0; t < m->n_tensors && !known; t++)
            known = strcmp(m->tensor[t].name, st->names[i]) == 0;
        if (!known) {
            describe_tensors(m, expect, sizeof expect);
            LM_FAIL(err, LM_EFORMAT, "%s: unexpected tensor '%s' (%s)", path, st->names[i], expect);
        }
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
