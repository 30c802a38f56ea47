/*
 * fuzz_safetensors.c: libFuzzer target for the safetensors reader (lm_safetensors_parse), which
 * sees checkpoints from outside lmech. Every input must either parse into a result whose tensors
 * agree with their shapes, or fail with an error; never crash, read out of bounds or leak.
 */
#include "lmech/io.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lm_safetensors *st = NULL;
    lm_err err = {0};
    if (lm_safetensors_parse(data, size, "fuzz", &st, &err) != LM_OK) {
        if (st || err.code == LM_OK || strncmp(err.msg, "fuzz", 4) != 0)
            abort(); /* failures leave *out alone and name the input */
        return 0;
    }
    for (size_t i = 0; i < st->n; i++) {
        const lm_array *a = st->tensors[i];
        size_t count = 1;
        for (size_t d = 0; d < a->ndim; d++)
            count *= a->shape[d];
        if (count != a->count || lm_safetensors_get(st, st->names[i]) == NULL)
            abort();
        if (a->count) /* touch the last byte: ASan checks the buffer's size */
            (void) ((volatile const uint8_t *) a->data)[a->count * lm_elt_size(a->elt) - 1];
    }
    for (size_t i = 0; i < st->n_meta; i++)
        if (!st->meta_keys[i] || !st->meta_values[i])
            abort();
    lm_safetensors_free(st);
    return 0;
}
