/* array.c: the owned n-d array used by every file format (IDX, .npy, safetensors). */
#include "lmech/core.h"

size_t lm_elt_size(lm_elt elt) {
    switch (elt) {
    case LM_ELT_U8:
    case LM_ELT_I8:
        return 1;
    case LM_ELT_I16:
        return 2;
    case LM_ELT_I32:
    case LM_ELT_F32:
        return 4;
    case LM_ELT_I64:
    case LM_ELT_F64:
        return 8;
    }
    return 0;
}

const char *lm_elt_name(lm_elt elt) {
    static const char *names[] = {"uint8", "int8", "int16", "int32", "int64", "float32", "float64"};
    return (unsigned) elt <= LM_ELT_F64 ? names[elt] : "unknown";
}

lm_status lm_array_new(lm_elt elt, size_t ndim, const size_t *shape, lm_array **out, lm_err *err) {
    if (ndim > LM_MAX_DIMS)
        LM_FAIL(err, LM_ERANGE, "array has %zu dimensions, at most %d are supported", ndim,
                LM_MAX_DIMS);
    size_t count = 1, esz = lm_elt_size(elt);
    for (size_t i = 0; i < ndim; i++) {
        if (shape[i] && count > SIZE_MAX / esz / shape[i])
            LM_FAIL(err, LM_ERANGE, "array shape overflows size_t at dimension %zu", i);
        count *= shape[i];
    }
    lm_array *a = lm_calloc(1, sizeof *a);
    if (!a)
        LM_FAIL(err, LM_ENOMEM, "out of memory allocating an array header");
    a->data = lm_calloc(count ? count : 1, esz);
    if (!a->data) {
        lm_free(a);
        LM_FAIL(err, LM_ENOMEM, "out of memory allocating %zu elements of %s", count,
                lm_elt_name(elt));
    }
    a->elt = elt;
    a->ndim = ndim;
    for (size_t i = 0; i < ndim; i++)
        a->shape[i] = shape[i];
    a->count = count;
    *out = a;
    return LM_OK;
}

void lm_array_free(lm_array *a) {
    if (a) {
        lm_free(a->data);
        lm_free(a);
    }
}

double lm_array_get(const lm_array *a, size_t i) {
    switch (a->elt) {
    case LM_ELT_U8:
        return (double) ((const uint8_t *) a->data)[i];
    case LM_ELT_I8:
        return (double) ((const int8_t *) a->data)[i];
    case LM_ELT_I16:
        return (double) ((const int16_t *) a->data)[i];
    case LM_ELT_I32:
        return (double) ((const int32_t *) a->data)[i];
    case LM_ELT_I64:
        return (double) ((const int64_t *) a->data)[i];
    case LM_ELT_F32:
        return (double) ((const float *) a->data)[i];
    case LM_ELT_F64:
        return ((const double *) a->data)[i];
    }
    return 0.0;
}
