/* fuzz_npy.c: libFuzzer target for the in-memory .npy parser. */
#include "lmech/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lm_array *a = NULL;
    lm_err err = {0};
    if (lm_npy_parse(data, size, "fuzz.npy", &a, &err) == LM_OK) {
        /* Touch every element: a wrong count or a short buffer shows up under ASan. */
        double s = 0.0;
        for (size_t i = 0; i < a->count; i++)
            s += lm_array_get(a, i);
        (void) s;
        lm_array_free(a);
    }
    return 0;
}
