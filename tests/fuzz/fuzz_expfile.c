/*
 * fuzz_expfile.c: libFuzzer target for lm_exp_file_parse (experiment definitions, docs/
 * experiments.md), and for the run plan it makes (each planned config is parsed by the config
 * parser). Any result is fine; crashes, leaks and sanitizer reports are not. Base paths resolve
 * against a directory that does not exist, so no file is read.
 */
#include "lmech/exp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lm_experiment *e = NULL;
    lm_err err = {0};
    if (lm_exp_file_parse((const char *) data, size, "fuzz.json", "/nonexistent-lmech-fuzz", &e,
                          &err) != LM_OK)
        return 0;
    for (int quick = 0; quick < 2; quick++) {
        lm_exp_plan *p = calloc(1, sizeof *p);
        if (!p)
            break;
        (void) e->plan_with(e, quick, p, &err);
        lm_exp_plan_clear(p);
        free(p);
    }
    lm_exp_file_free(e);
    return 0;
}
