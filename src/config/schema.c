/*
 * schema.c: the tree of known config keys (one table per object, in canonical order), the
 * spelling of the data module's enums, and the edit distance behind "did you mean". The schema
 * serves both the strict walk over a parsed file and the checking of `--set` paths, so the two
 * can never disagree on what a key is called.
 */
#include "config/internal.h"

#include <string.h>

#define N(a) (sizeof(a) / sizeof *(a))
#define LEAF(name)                                                                                 \
    { name, NULL, 0 }

static const lm__key data_keys[] = {
    LEAF("source"), LEAF("dir"), LEAF("x"), LEAF("y"), LEAF("test_x"), LEAF("test_y"),
    LEAF("train_size"), LEAF("test_size"), LEAF("subset"), LEAF("pool"), LEAF("normalize"),
    LEAF("targets"), LEAF("dim"), LEAF("outputs"), LEAF("teacher_width"), LEAF("noise"),
    LEAF("alpha"), LEAF("beta"), LEAF("frequencies"), LEAF("modulus"), LEAF("train_frac"),
    /* matrix-completion */
    LEAF("rank"), LEAF("observed"),
    /* linear-modes */
    LEAF("singular_values"),
    /* token sequences */
    LEAF("encoding"), LEAF("path"), LEAF("context"), LEAF("stride"), LEAF("test_frac"),
    LEAF("vocab")};

static const lm__key model_keys[] = {
    LEAF("widths"), LEAF("activation"), LEAF("bias"), LEAF("parameterization"), LEAF("base_width"),
    LEAF("output_multiplier"), LEAF("sw2"), LEAF("sb2"), LEAF("readout_zero"),
    LEAF("center_output"),
    /* the layer graph (docs/models.md): a list of layer objects checked by config.c */
    LEAF("layers"), LEAF("input_shape"),
    /* deep linear networks: the aligned, balanced initialisation */
    LEAF("init"), LEAF("a0"),
    /* model.arch "gpt" (docs/models.md): a transformer expanded into layers */
    LEAF("arch"), LEAF("vocab"), LEAF("context"), LEAF("d_model"), LEAF("heads"), LEAF("blocks"),
    LEAF("mlp_ratio"), LEAF("predict"), LEAF("embed_multiplier")};

static const lm__key schedule_keys[] = {LEAF("name"), LEAF("warmup_steps"), LEAF("final_lr_frac"),
                                        LEAF("warmup_start")};

static const lm__key optimizer_keys[] = {LEAF("name"),
                                         LEAF("lr"),
                                         LEAF("momentum"),
                                         LEAF("betas"),
                                         LEAF("eps"),
                                         LEAF("weight_decay"),
                                         {"schedule", schedule_keys, N(schedule_keys)},
                                         LEAF("layer_lr")};

static const lm__key top_keys[] = {LEAF("seed"),
                                   {"data", data_keys, N(data_keys)},
                                   {"model", model_keys, N(model_keys)},
                                   LEAF("loss"),
                                   {"optimizer", optimizer_keys, N(optimizer_keys)},
                                   LEAF("batch_size"),
                                   LEAF("steps"),
                                   LEAF("epochs"),
                                   LEAF("eval_every"),
                                   LEAF("dtype"),
                                   LEAF("threads"),
                                   LEAF("sharpness_every"),
                                   LEAF("sharpness_dtype"),
                                   LEAF("probe_every"),
                                   LEAF("probe_size"),
                                   LEAF("repr_every"),
                                   LEAF("weights_every"),
                                   LEAF("noise_every"),
                                   LEAF("name"),
                                   LEAF("notes")};

const lm__key lm__cfg_schema = {"", top_keys, N(top_keys)};

const lm__key *lm__cfg_key_find(const lm__key *node, const char *name) {
    for (size_t i = 0; i < node->n_kids; i++)
        if (strcmp(node->kids[i].name, name) == 0)
            return &node->kids[i];
    return NULL;
}

/* Longest string compared for a suggestion: every known key and enum value is shorter, and a
 * longer input is no typo of one of them. */
#define SUGGEST_MAX 32

/* Optimal string alignment distance (Levenshtein plus swaps of neighbours), so "sede" is one
 * edit from "seed". */
static size_t osa_distance(const char *a, size_t na, const char *b, size_t nb) {
    size_t d[SUGGEST_MAX + 1][SUGGEST_MAX + 1];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[na][nb];
}

const char *lm__cfg_suggest(const char *s, const char *const *names, size_t n) {
    size_t ns = strlen(s);
    if (ns == 0 || ns > SUGGEST_MAX)
        return NULL;
    const char *best = NULL;
    size_t best_d = 3; /* at most 2 edits: beyond that the "suggestion" is mostly noise */
    for (size_t i = 0; i < n; i++) {
        size_t nb = strlen(names[i]);
        if (nb > SUGGEST_MAX)
            continue;
        size_t dist = osa_distance(s, ns, names[i], nb);
        /* a suggestion must keep something of the input: "x" is not a typo of "y" */
        if (dist < best_d && dist < nb && dist < ns) {
            best_d = dist;
            best = names[i];
        }
    }
    return best;
}
