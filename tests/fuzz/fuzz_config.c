/*
 * fuzz_config.c: libFuzzer target for lm_config_parse. The input is the config text, optionally
 * followed by a NUL byte and up to 4 NUL-separated `--set KEY=VALUE` strings, so the override
 * path is fuzzed too. Any result is fine; crashes, leaks and sanitizer reports are not.
 */
#include "lmech/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SETS 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    size_t text_len = strlen(buf);
    const char *sets[MAX_SETS];
    size_t n_sets = 0;
    for (size_t pos = text_len + 1; pos < size && n_sets < MAX_SETS;) {
        sets[n_sets++] = buf + pos;
        pos += strlen(buf + pos) + 1;
    }
    lm_config *c = NULL;
    lm_err err = {0};
    if (lm_config_parse(buf, text_len, "fuzz.json", n_sets, sets, &c, &err) == LM_OK) {
        /* the canonical JSON must parse back to the same hash */
        lm_config *d = NULL;
        if (lm_config_parse(c->json, strlen(c->json), "canonical", 0, NULL, &d, &err) != LM_OK ||
            strcmp(c->hash, d->hash) != 0)
            abort();
        lm_config_free(d);
    }
    lm_config_free(c);
    free(buf);
    return 0;
}
