/*
 * config/internal.h: what the files of src/config share. The schema (the tree of known keys),
 * the spelling of the data module's enums (kept here so config links without the data module),
 * the edit distance behind "did you mean", and the canonical JSON writer.
 */
#ifndef LM_CONFIG_INTERNAL_H
#define LM_CONFIG_INTERNAL_H

#include "lmech/config.h"

/* A known key and, for objects, its children (schema order = canonical order). */
typedef struct lm__key {
    const char *name;
    const struct lm__key *kids;
    size_t n_kids;
} lm__key;

/* The root of the schema: the top-level keys. */
extern const lm__key lm__cfg_schema;

/* The child of node called name, or NULL. */
const lm__key *lm__cfg_key_find(const lm__key *node, const char *name);

/* The closest of n names to s when its edit distance (insert, delete, substitute, swap two
 * neighbours) is at most 2, else NULL. */
const char *lm__cfg_suggest(const char *s, const char *const *names, size_t n);

/* The canonical JSON of c (every key, fixed order, compact; see docs/config.md) into *out
 * (lm_malloc'ed, NUL-terminated). c->name and c->notes must be set. LM_ENOMEM only. */
lm_status lm__cfg_canonical(const lm_config *c, char **out, lm_err *err);

/* x in the shortest "%.*g" spelling that reads back to x, with ".0" when it looks like an
 * integer (n >= 32). */
void lm__cfg_fmt_real(double x, char *buf, size_t n);

/* SHA-256 (FIPS 180-4) of len bytes. */
void lm__sha256(const void *data, size_t len, uint8_t digest[32]);

#endif
