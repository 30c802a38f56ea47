/*
 * config.c: loading, `--set` overrides and strict validation of the JSON run configuration
 * (docs/config.md is the key-by-key reference).
 *
 * jansson parses the text (its json_error_t gives the line and column of a syntax error); the
 * overrides are then written into the tree, and one hand-written walk over the tree fills the
 * spec structs. The walk, not json_unpack, is what checks types and ranges, because it knows the
 * key path ("model.widths[1]") that every message must name, and it refuses unknown keys with the
 * closest known one as a suggestion. Cross-key checks (loss against targets, widths against the
 * data's dimensions) come last, then the canonical JSON and its hash. The workload is one small
 * file per run, so clarity wins over speed everywhere here.
 *
 * Messages start with the file name, or with the `--set KEY=VALUE` that last wrote the value
 * in question, so a user always knows where to look.
 */
#include "config/internal.h"
#include "core/internal.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof *(a))

/* Key paths are built from known keys only (an unknown key stops the walk first), so the
 * longest is "optimizer.schedule.final_lr_frac" plus an array index. */
#define PATH_LEN 96

/* A config file above this is no config (a full one is about 1 kB): refuse it before reading. */
#define MAX_FILE_BYTES (16u << 20)

/* Integers written as reals are accepted when integral and at most 2^53 in magnitude, the range
 * where a double holds every integer exactly. */
#define MAX_EXACT_REAL 9007199254740992.0

/* The threads key is capped where lm_threads_set caps it. */
#define MAX_THREADS 1024

/* modadd builds all p^2 pairs with 2p one-hot inputs each: p = 2^16 would already need 2^49
 * numbers, so larger moduli are certainly mistakes (and would overflow 2p checks below). */
#define MAX_MODULUS 65536

typedef struct ctx {
    const char *name; /* file name for messages */
    size_t n_sets;
    const char *const *sets;
    lm_err *err;
} ctx;

/* ---------------------------------------------------------------- messages */

/* Copies at most max bytes of src into dst[max + 4] for a message: control characters become
 * '?', a UTF-8 sequence cut at the end is dropped, and "..." marks a cut, so a message stays one
 * valid line whatever the input. Returns dst. */
static char *clean(char *dst, const char *src, size_t max) {
    size_t k = 0;
    for (; src[k] && k < max; k++)
        dst[k] = ((unsigned char) src[k] < 0x20 || src[k] == 0x7f) ? '?' : src[k];
    int cut = src[k] != '\0';
    if (cut)
        while (k > 0 && ((unsigned char) src[k] & 0xC0) == 0x80)
            k--; /* src[k] continues a sequence: drop its partial start */
    strcpy(dst + k, cut ? "..." : "");
    return dst;
}

/* The --set (index) that last wrote path or one of its parents, or -1. */
static long set_for(const ctx *cx, const char *path) {
    if (!path)
        return -1;
    for (size_t i = cx->n_sets; i-- > 0;) {
        const char *s = cx->sets[i];
        const char *eq = strchr(s, '=');
        if (!eq)
            continue;
        size_t k = (size_t) (eq - s);
        if (k > 0 && strncmp(s, path, k) == 0 &&
            (path[k] == '\0' || path[k] == '.' || path[k] == '['))
            return (long) i;
    }
    return -1;
}

/* Raises code with "<where>: <path>: <message>", where is the file or the --set that wrote
 * the value at path. */
static lm_status cfg_fail(const ctx *cx, lm_status code, const char *path, int line,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static lm_status cfg_fail(const ctx *cx, lm_status code, const char *path, int line,
                          const char *fmt, ...) {
    char msg[LM_ERR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    long s = set_for(cx, path);
    char where[LM_ERR_MSG_LEN];
    if (s >= 0) {
        char set[84];
        snprintf(where, sizeof where, "--set %s", clean(set, cx->sets[s], 80));
    } else
        snprintf(where, sizeof where, "%.160s", cx->name);
    if (path)
        return lm_err_set(cx->err, code, __FILE__, line, "%s: %s: %s", where, path, msg);
    return lm_err_set(cx->err, code, __FILE__, line, "%s: %s", where, msg);
}

#define CFG_FAIL(cx, code, path, ...) return cfg_fail((cx), (code), (path), __LINE__, __VA_ARGS__)

/* A short description of a JSON value for "got ..." (strings cut at 40 bytes). */
static void describe(const json_t *v, char *buf, size_t n) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        snprintf(buf, n, "an object");
        break;
    case JSON_ARRAY:
        snprintf(buf, n, "an array");
        break;
    case JSON_STRING: {
        char s[44];
        snprintf(buf, n, "string \"%s\"", clean(s, json_string_value(v), 40));
        break;
    }
    case JSON_INTEGER:
        snprintf(buf, n, "%lld", (long long) json_integer_value(v));
        break;
    case JSON_REAL:
        lm__cfg_fmt_real(json_real_value(v), buf, n);
        break;
    case JSON_TRUE:
        snprintf(buf, n, "true");
        break;
    case JSON_FALSE:
        snprintf(buf, n, "false");
        break;
    case JSON_NULL:
        snprintf(buf, n, "null");
        break;
    }
}

static lm_status want(const ctx *cx, lm_status code, const json_t *v, const char *path,
                      const char *expected) {
    char got[80];
    describe(v, got, sizeof got);
    CFG_FAIL(cx, code, path, "expected %s, got %s", expected, got);
}

static void join(char *out, const char *parent, const char *key) {
    if (parent[0])
        snprintf(out, PATH_LEN, "%.40s.%.40s", parent, key);
    else
        snprintf(out, PATH_LEN, "%.40s", key);
}

/* ---------------------------------------------------------------- typed getters */

/* An integer in [lo, hi]; JSON reals with an integral value count (3.0 is 3, 3.5 is refused). */
static lm_status get_int(const ctx *cx, const json_t *v, const char *path, long long lo,
                         long long hi, long long *out) {
    long long x = 0;
    int ok = 0;
    if (json_is_integer(v)) {
        x = (long long) json_integer_value(v);
        ok = 1;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) <= MAX_EXACT_REAL) {
            x = (long long) d;
            ok = 1;
        }
    }
    if (ok && x >= lo && x <= hi) {
        *out = x;
        return LM_OK;
    }
    char desc[80];
    if (lo == 1 && hi == LLONG_MAX)
        snprintf(desc, sizeof desc, "a positive integer");
    else if (hi == LLONG_MAX)
        snprintf(desc, sizeof desc, "an integer >= %lld", lo);
    else
        snprintf(desc, sizeof desc, "an integer in [%lld, %lld]", lo, hi);
    return want(cx, ok ? LM_ERANGE : LM_EINVAL, v, path, desc);
}

static lm_status get_size(const ctx *cx, const json_t *v, const char *path, long long lo,
                          size_t *out) {
    long long x;
    LM_TRY(get_int(cx, v, path, lo, LLONG_MAX, &x));
    *out = (size_t) x;
    return LM_OK;
}

typedef enum range {
    R_ANY,      /* any finite number */
    R_GE0,      /* >= 0              */
    R_GT0,      /* > 0               */
    R_NONZERO,  /* != 0              */
    R_UNIT_HO,  /* [0, 1)            */
    R_UNIT,     /* [0, 1]            */
    R_UNIT_OPEN /* (0, 1)            */
} range;

static const char *range_desc[] = {"a number",          "a number >= 0",      "a number > 0",
                                   "a nonzero number",  "a number in [0, 1)", "a number in [0, 1]",
                                   "a number in (0, 1)"};

static int in_range(double x, range r) {
    switch (r) {
    case R_ANY:
        return 1;
    case R_GE0:
        return x >= 0.0;
    case R_GT0:
        return x > 0.0;
    case R_NONZERO:
        return x != 0.0;
    case R_UNIT_HO:
        return x >= 0.0 && x < 1.0;
    case R_UNIT:
        return x >= 0.0 && x <= 1.0;
    case R_UNIT_OPEN:
        return x > 0.0 && x < 1.0;
    }
    return 0;
}

static lm_status get_num(const ctx *cx, const json_t *v, const char *path, range r, double *out) {
    if (!json_is_number(v))
        return want(cx, LM_EINVAL, v, path, range_desc[r]);
    double x = json_number_value(v);
    if (!isfinite(x) || !in_range(x, r))
        return want(cx, LM_ERANGE, v, path, range_desc[r]);
    *out = x;
    return LM_OK;
}

static lm_status get_str(const ctx *cx, const json_t *v, const char *path, const char **out) {
    if (!json_is_string(v))
        return want(cx, LM_EINVAL, v, path, "a string");
    *out = json_string_value(v);
    return LM_OK;
}

static lm_status get_bool(const ctx *cx, const json_t *v, const char *path, int *out) {
    if (!json_is_boolean(v))
        return want(cx, LM_EINVAL, v, path, "true or false");
    *out = json_is_true(v);
    return LM_OK;
}

/* A path into a fixed LM_PATH_MAX buffer. */
static lm_status get_path(const ctx *cx, const json_t *v, const char *path, char *out) {
    const char *s = NULL;
    LM_TRY(get_str(cx, v, path, &s));
    if (strlen(s) >= LM_PATH_MAX)
        CFG_FAIL(cx, LM_ERANGE, path, "path is %zu bytes long, at most %d are allowed", strlen(s),
                 LM_PATH_MAX - 1);
    strcpy(out, s);
    return LM_OK;
}

/* One of n names (index into *out); the error lists them and suggests the closest. */
static lm_status get_enum(const ctx *cx, const json_t *v, const char *path,
                          const char *const *names, size_t n, size_t *out) {
    char desc[LM_ERR_MSG_LEN];
    size_t k = (size_t) snprintf(desc, sizeof desc, "one of");
    for (size_t i = 0; i < n && k < sizeof desc; i++)
        k += (size_t) snprintf(desc + k, sizeof desc - k, "%s \"%s\"", i ? "," : "", names[i]);
    if (!json_is_string(v))
        return want(cx, LM_EINVAL, v, path, desc);
    const char *s = json_string_value(v);
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return LM_OK;
        }
    char got[80];
    describe(v, got, sizeof got);
    const char *hint = lm__cfg_suggest(s, names, n);
    if (hint)
        CFG_FAIL(cx, LM_EINVAL, path, "expected %s, got %s (did you mean \"%s\"?)", desc, got,
                 hint);
    CFG_FAIL(cx, LM_EINVAL, path, "expected %s, got %s", desc, got);
}

/* The names of an enum whose owner has a name function returning "unknown" past the end. */
static size_t enum_names(const char *(*name_of)(int), const char **names, size_t cap) {
    size_t n = 0;
    while (n < cap && strcmp(name_of((int) n), "unknown") != 0) {
        names[n] = name_of((int) n);
        n++;
    }
    return n;
}

static const char *act_name_i(int i) {
    return lm_act_name((lm_act) i);
}
static const char *param_name_i(int i) {
    return lm_param_name((lm_param) i);
}
static const char *loss_name_i(int i) {
    return lm_loss_name((lm_loss) i);
}
static const char *opt_name_i(int i) {
    return lm_opt_kind_name((lm_opt_kind) i);
}
static const char *sched_name_i(int i) {
    return lm_sched_name((lm_sched) i);
}
static const char *source_name_i(int i) {
    return lm_data_source_name((lm_data_source) i);
}
static const char *subset_name_i(int i) {
    return lm_subset_name((lm_subset) i);
}
static const char *normalize_name_i(int i) {
    return lm_normalize_name((lm_normalize) i);
}
static const char *targets_name_i(int i) {
    return lm_targets_name((lm_targets) i);
}
static const char *encoding_name_i(int i) {
    return lm_encoding_name((lm_encoding) i);
}

/* An enum spelled by the data module's name function: exact names, ours the message. */
static lm_status get_named_enum(const ctx *cx, const json_t *v, const char *path,
                                const char *(*name_of)(int), size_t *out) {
    const char *names[16];
    size_t n = enum_names(name_of, names, N(names));
    return get_enum(cx, v, path, names, n, out);
}

/* An enum owned by another module: its own parse function (which may know aliases, such as
 * "linear" for identity) decides; the message is ours, with the key path. */
static lm_status get_module_enum(const ctx *cx, const json_t *v, const char *path,
                                 const char *(*name_of)(int),
                                 lm_status (*parse)(const char *, int *), int *out) {
    const char *names[16];
    size_t n = enum_names(name_of, names, N(names));
    if (json_is_string(v) && parse(json_string_value(v), out) == LM_OK)
        return LM_OK;
    size_t idx = 0;
    LM_TRY(get_enum(cx, v, path, names, n, &idx));
    *out = (int) idx; /* a spelling the parser refused but the name table has: not expected */
    return LM_OK;
}

static lm_status parse_act(const char *s, int *out) {
    lm_act a = LM_ACT_IDENTITY;
    lm_status st = lm_act_parse(s, &a, NULL);
    *out = (int) a;
    return st;
}
static lm_status parse_param(const char *s, int *out) {
    lm_param p = LM_PARAM_SP;
    lm_status st = lm_param_parse(s, &p, NULL);
    *out = (int) p;
    return st;
}
static lm_status parse_loss(const char *s, int *out) {
    lm_loss l = LM_LOSS_MSE;
    lm_status st = lm_loss_parse(s, &l, NULL);
    *out = (int) l;
    return st;
}
static lm_status parse_opt(const char *s, int *out) {
    lm_opt_kind k = LM_OPT_SGD;
    lm_status st = lm_opt_kind_parse(s, &k, NULL);
    *out = (int) k;
    return st;
}
static lm_status parse_sched(const char *s, int *out) {
    lm_sched k = LM_SCHED_CONSTANT;
    lm_status st = lm_sched_parse(s, &k, NULL);
    *out = (int) k;
    return st;
}

/* ---------------------------------------------------------------- strict walk */

/* Refuses the first key of obj (in document order) that node does not know. */
static lm_status check_keys(const ctx *cx, json_t *obj, const lm__key *node, const char *path) {
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        if (lm__cfg_key_find(node, key))
            continue;
        const char *names[32];
        size_t n = 0;
        for (; n < node->n_kids && n < N(names); n++)
            names[n] = node->kids[n].name;
        const char *hint = lm__cfg_suggest(key, names, n);
        char sugg[64] = "";
        if (hint)
            snprintf(sugg, sizeof sugg, " (did you mean \"%s\"?)", hint);
        char k[64];
        clean(k, key, 60);
        if (path[0])
            CFG_FAIL(cx, LM_EINVAL, NULL, "unknown key \"%s.%s\"%s", path, k, sugg);
        CFG_FAIL(cx, LM_EINVAL, NULL, "unknown key \"%s\" at top level%s", k, sugg);
    }
    return LM_OK;
}

/* The object at path (NULL when absent), with its keys checked. */
static lm_status get_object(const ctx *cx, json_t *parent, const lm__key *node, const char *path,
                            json_t **out) {
    const char *key = strrchr(path, '.') ? strrchr(path, '.') + 1 : path;
    json_t *v = json_object_get(parent, key);
    *out = NULL;
    if (!v)
        return LM_OK;
    if (!json_is_object(v))
        return want(cx, LM_EINVAL, v, path, "an object");
    LM_TRY(check_keys(cx, v, node, path));
    *out = v;
    return LM_OK;
}

/* "all" or an integer >= lo. */
static lm_status get_count_or_all(const ctx *cx, const json_t *v, const char *path, long long lo,
                                  size_t *out) {
    if (json_is_string(v) && strcmp(json_string_value(v), "all") == 0) {
        *out = LM_ALL;
        return LM_OK;
    }
    char desc[64];
    snprintf(desc, sizeof desc, "%s or \"all\"",
             lo == 1 ? "a positive integer" : "an integer >= 0");
    if (!json_is_number(v))
        return want(cx, LM_EINVAL, v, path, desc);
    long long x = 0;
    double d = json_number_value(v);
    int ok = json_is_integer(v) || (d == floor(d) && fabs(d) <= MAX_EXACT_REAL);
    if (ok)
        x = json_is_integer(v) ? (long long) json_integer_value(v) : (long long) d;
    if (!ok || x < lo)
        return want(cx, ok ? LM_ERANGE : LM_EINVAL, v, path, desc);
    *out = (size_t) x;
    return LM_OK;
}

static lm_status parse_data(const ctx *cx, json_t *root, lm_data_spec *s) {
    json_t *d, *v;
    char p[PATH_LEN];
    LM_TRY(get_object(cx, root, lm__cfg_key_find(&lm__cfg_schema, "data"), "data", &d));
    if (!d)
        return LM_OK;
    size_t idx = 0;
    if ((v = json_object_get(d, "source"))) {
        LM_TRY(get_named_enum(cx, v, "data.source", source_name_i, &idx));
        s->source = (lm_data_source) idx;
    }
    static const char *const path_keys[] = {"dir", "x", "y", "test_x", "test_y"};
    char *path_dst[] = {s->dir, s->x, s->y, s->test_x, s->test_y};
    for (size_t i = 0; i < N(path_keys); i++)
        if ((v = json_object_get(d, path_keys[i]))) {
            join(p, "data", path_keys[i]);
            LM_TRY(get_path(cx, v, p, path_dst[i]));
        }
    if ((v = json_object_get(d, "train_size")))
        LM_TRY(get_count_or_all(cx, v, "data.train_size", 1, &s->train_size));
    if ((v = json_object_get(d, "test_size")))
        LM_TRY(get_count_or_all(cx, v, "data.test_size", 0, &s->test_size));
    if ((v = json_object_get(d, "subset"))) {
        LM_TRY(get_named_enum(cx, v, "data.subset", subset_name_i, &idx));
        s->subset = (lm_subset) idx;
    }
    if ((v = json_object_get(d, "pool"))) {
        long long x;
        LM_TRY(get_int(cx, v, "data.pool", 1, 4, &x));
        if (x == 3)
            return want(cx, LM_ERANGE, v, "data.pool", "1, 2 or 4");
        s->pool = (size_t) x;
    }
    if ((v = json_object_get(d, "normalize"))) {
        LM_TRY(get_named_enum(cx, v, "data.normalize", normalize_name_i, &idx));
        s->normalize = (lm_normalize) idx;
    }
    if ((v = json_object_get(d, "targets"))) {
        LM_TRY(get_named_enum(cx, v, "data.targets", targets_name_i, &idx));
        s->targets = (lm_targets) idx;
    }
    if ((v = json_object_get(d, "dim")))
        LM_TRY(get_size(cx, v, "data.dim", 1, &s->dim));
    if ((v = json_object_get(d, "outputs")))
        LM_TRY(get_size(cx, v, "data.outputs", 1, &s->outputs));
    if ((v = json_object_get(d, "teacher_width")))
        LM_TRY(get_size(cx, v, "data.teacher_width", 0, &s->teacher_width));
    if ((v = json_object_get(d, "noise")))
        LM_TRY(get_num(cx, v, "data.noise", R_GE0, &s->noise));
    if ((v = json_object_get(d, "alpha")))
        LM_TRY(get_num(cx, v, "data.alpha", R_GT0, &s->alpha));
    if ((v = json_object_get(d, "beta")))
        LM_TRY(get_num(cx, v, "data.beta", R_GT0, &s->beta));
    if ((v = json_object_get(d, "frequencies"))) {
        size_t cap = N(s->frequencies);
        if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > cap) {
            char desc[64];
            snprintf(desc, sizeof desc, "an array of 1 to %zu integers", cap);
            if (json_is_array(v))
                CFG_FAIL(cx, LM_ERANGE, "data.frequencies", "expected %s, got %zu entries", desc,
                         json_array_size(v));
            return want(cx, LM_EINVAL, v, "data.frequencies", desc);
        }
        int freq[N(s->frequencies)];
        for (size_t i = 0; i < json_array_size(v); i++) {
            long long x;
            snprintf(p, sizeof p, "data.frequencies[%zu]", i);
            LM_TRY(get_int(cx, json_array_get(v, i), p, 0, INT_MAX, &x));
            freq[i] = (int) x;
        }
        s->n_freq = json_array_size(v);
        memcpy(s->frequencies, freq, s->n_freq * sizeof *freq);
    }
    if ((v = json_object_get(d, "modulus"))) {
        long long x;
        LM_TRY(get_int(cx, v, "data.modulus", 2, MAX_MODULUS, &x));
        s->modulus = (size_t) x;
    }
    if ((v = json_object_get(d, "train_frac")))
        LM_TRY(get_num(cx, v, "data.train_frac", R_UNIT_OPEN, &s->train_frac));
    /* matrix-completion */
    if ((v = json_object_get(d, "rank")))
        LM_TRY(get_size(cx, v, "data.rank", 1, &s->rank));
    if ((v = json_object_get(d, "observed")))
        LM_TRY(get_num(cx, v, "data.observed", R_UNIT, &s->observed));
    /* linear-modes */
    if ((v = json_object_get(d, "singular_values"))) {
        const size_t cap = N(s->singular_values);
        if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > cap) {
            char desc[64];
            snprintf(desc, sizeof desc, "an array of 1 to %zu numbers > 0", cap);
            if (json_is_array(v))
                CFG_FAIL(cx, LM_ERANGE, "data.singular_values", "expected %s, got %zu entries",
                         desc, json_array_size(v));
            return want(cx, LM_EINVAL, v, "data.singular_values", desc);
        }
        for (size_t i = 0; i < json_array_size(v); i++) {
            snprintf(p, sizeof p, "data.singular_values[%zu]", i);
            LM_TRY(get_num(cx, json_array_get(v, i), p, R_GT0, &s->singular_values[i]));
        }
        s->n_sv = json_array_size(v);
    }
    /* token sequences (data.h, "Token sets") */
    if ((v = json_object_get(d, "encoding"))) {
        LM_TRY(get_named_enum(cx, v, "data.encoding", encoding_name_i, &idx));
        s->encoding = (lm_encoding) idx;
    }
    if ((v = json_object_get(d, "path")))
        LM_TRY(get_path(cx, v, "data.path", s->path));
    if ((v = json_object_get(d, "context")))
        LM_TRY(get_size(cx, v, "data.context", 1, &s->context));
    if ((v = json_object_get(d, "stride")))
        LM_TRY(get_size(cx, v, "data.stride", 1, &s->stride));
    if ((v = json_object_get(d, "test_frac")))
        LM_TRY(get_num(cx, v, "data.test_frac", R_UNIT_HO, &s->test_frac));
    if ((v = json_object_get(d, "vocab")))
        LM_TRY(get_size(cx, v, "data.vocab", 1, &s->vocab));
    return LM_OK;
}

/* One entry of model.layers (docs/models.md) at path, appended to m->layers; a residual's body
 * follows it inline (lm_layer_spec.body_len). */
static lm_status parse_layer_list(const ctx *cx, json_t *arr, const char *path, lm_mlp_spec *m,
                                  int depth);

static lm_status parse_layer(const ctx *cx, json_t *o, const char *path, lm_mlp_spec *m,
                             int depth) {
    char p[PATH_LEN];
    if (!json_is_object(o))
        return want(cx, LM_EINVAL, o, path,
                    "a layer object such as {\"type\": \"linear\", \"out\": 10}");
    static const char *const keys[] = {"type", "out",  "kernel", "stride", "padding", "bias",
                                       "eps",  "body", "vocab",  "heads",  "scale"};
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        size_t i = 0;
        while (i < N(keys) && strcmp(k, keys[i]) != 0)
            i++;
        if (i == N(keys)) {
            const char *hint = lm__cfg_suggest(k, keys, N(keys));
            join(p, path, k);
            CFG_FAIL(cx, LM_EINVAL, p,
                     "unknown key%s%s%s (a layer has type, out, kernel, stride, "
                     "padding, bias, eps, body, vocab, heads, scale)",
                     hint ? " (did you mean \"" : "", hint ? hint : "", hint ? "\"?)" : "");
        }
    }
    if (m->n_layer_specs >= LM_MAX_LAYER_SPECS)
        CFG_FAIL(cx, LM_ERANGE, path, "model.layers has more than %d entries (bodies included)",
                 LM_MAX_LAYER_SPECS);
    const size_t at = m->n_layer_specs++;
    lm_layer_spec *l = &m->layers[at];
    memset(l, 0, sizeof *l);
    l->bias = -1;
    join(p, path, "type");
    v = json_object_get(o, "type");
    if (!v)
        CFG_FAIL(cx, LM_EINVAL, path,
                 "missing \"type\" (linear, conv2d, avgpool2d, maxpool2d, "
                 "flatten, residual, layernorm or an activation name)");
    if (!json_is_string(v))
        return want(cx, LM_EINVAL, v, p, "a layer type name");
    lm_err e2 = {0};
    if (lm_layer_type_parse(json_string_value(v), l, &e2) != LM_OK)
        CFG_FAIL(cx, LM_EINVAL, p, "%s", e2.msg);
    const lm_layer_type t = l->type;
    const int has_bias = t == LM_LAYER_LINEAR || t == LM_LAYER_CONV2D;
    const int has_out = has_bias || t == LM_LAYER_EMBEDDING;
    const int has_kernel =
        t == LM_LAYER_CONV2D || t == LM_LAYER_AVGPOOL2D || t == LM_LAYER_MAXPOOL2D;
    /* keys that do not belong to this type are errors, not silently ignored */
    static const char *const own[] = {"out", "kernel", "stride", "padding", "bias",
                                      "eps", "body",   "vocab",  "heads",   "scale"};
    const int ok[] = {has_out,
                      has_kernel,
                      has_kernel,
                      t == LM_LAYER_CONV2D,
                      has_bias,
                      t == LM_LAYER_LAYERNORM,
                      t == LM_LAYER_RESIDUAL,
                      t == LM_LAYER_EMBEDDING,
                      t == LM_LAYER_ATTENTION,
                      t == LM_LAYER_ATTENTION};
    for (size_t i = 0; i < N(own); i++)
        if (!ok[i] && json_object_get(o, own[i])) {
            join(p, path, own[i]);
            CFG_FAIL(cx, LM_EINVAL, p, "does not apply to a \"%s\" layer", lm_layer_type_name(l));
        }
    if (has_out) {
        join(p, path, "out");
        if (!(v = json_object_get(o, "out")))
            CFG_FAIL(cx, LM_EINVAL, path, "missing \"out\" (output %s)",
                     t == LM_LAYER_CONV2D ? "channels" : "features");
        LM_TRY(get_size(cx, v, p, 1, &l->out));
        if (has_bias && (v = json_object_get(o, "bias"))) {
            join(p, path, "bias");
            LM_TRY(get_bool(cx, v, p, &l->bias));
        }
    }
    if (has_kernel) {
        join(p, path, "kernel");
        if (!(v = json_object_get(o, "kernel")))
            CFG_FAIL(cx, LM_EINVAL, path, "missing \"kernel\" (the square kernel's side)");
        LM_TRY(get_size(cx, v, p, 1, &l->kernel));
        if ((v = json_object_get(o, "stride"))) {
            join(p, path, "stride");
            LM_TRY(get_size(cx, v, p, 1, &l->stride));
        }
        if ((v = json_object_get(o, "padding"))) {
            join(p, path, "padding");
            LM_TRY(get_size(cx, v, p, 0, &l->padding));
        }
    }
    if (t == LM_LAYER_EMBEDDING) {
        join(p, path, "vocab");
        if (!(v = json_object_get(o, "vocab")))
            CFG_FAIL(cx, LM_EINVAL, path, "missing \"vocab\" (the number of token ids)");
        LM_TRY(get_size(cx, v, p, 1, &l->vocab));
    }
    if (t == LM_LAYER_ATTENTION) {
        join(p, path, "heads");
        if (!(v = json_object_get(o, "heads")))
            CFG_FAIL(cx, LM_EINVAL, path, "missing \"heads\" (the number of attention heads)");
        LM_TRY(get_size(cx, v, p, 1, &l->heads));
        if ((v = json_object_get(o, "scale"))) {
            join(p, path, "scale");
            LM_TRY(get_num(cx, v, p, R_GT0, &l->scale));
        }
    }
    if (t == LM_LAYER_LAYERNORM) {
        l->eps = 1e-5;
        if ((v = json_object_get(o, "eps"))) {
            join(p, path, "eps");
            LM_TRY(get_num(cx, v, p, R_GT0, &l->eps));
        }
    }
    if (t == LM_LAYER_RESIDUAL) {
        join(p, path, "body");
        if (!(v = json_object_get(o, "body")))
            CFG_FAIL(cx, LM_EINVAL, path, "missing \"body\" (the list of layers of x + body(x))");
        if (depth >= 4)
            CFG_FAIL(cx, LM_ERANGE, p, "residual blocks nest at most 4 deep");
        LM_TRY(parse_layer_list(cx, v, p, m, depth + 1));
        m->layers[at].body_len = m->n_layer_specs - at - 1;
    }
    return LM_OK;
}

static lm_status parse_layer_list(const ctx *cx, json_t *arr, const char *path, lm_mlp_spec *m,
                                  int depth) {
    char p[PATH_LEN];
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return want(cx, LM_EINVAL, arr, path, "a non-empty array of layer objects");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        snprintf(p, sizeof p, "%.60s[%zu]", path, i);
        LM_TRY(parse_layer(cx, json_array_get(arr, i), p, m, depth));
    }
    return LM_OK;
}

/* model.arch "gpt" (lmech/model.h: lm_gpt_spec) and its keys; the layer list is its expansion. */
static lm_status parse_arch(const ctx *cx, json_t *mo, json_t *arch, lm_mlp_spec *m) {
    static const char *const arches[] = {"gpt"};
    size_t idx = 0;
    LM_TRY(get_enum(cx, arch, "model.arch", arches, 1, &idx));
    static const char *const not_with[] = {"widths", "layers", "input_shape", "activation"};
    char p[PATH_LEN];
    for (size_t i = 0; i < N(not_with); i++)
        if (json_object_get(mo, not_with[i])) {
            join(p, "model", not_with[i]);
            CFG_FAIL(cx, LM_EINVAL, p,
                     "does not apply with model.arch \"gpt\" (its layers are the architecture's: "
                     "vocab, context, d_model, heads, blocks, mlp_ratio, predict)");
        }
    m->arch = LM_ARCH_GPT;
    lm_gpt_spec *g = &m->gpt;
    g->mlp_ratio = 4;
    static const char *const req[] = {"vocab", "context", "d_model", "heads", "blocks"};
    size_t *dst[] = {&g->vocab, &g->context, &g->d_model, &g->heads, &g->blocks};
    json_t *v;
    for (size_t i = 0; i < N(req); i++) {
        join(p, "model", req[i]);
        if (!(v = json_object_get(mo, req[i])))
            CFG_FAIL(cx, LM_EINVAL, NULL, "missing required key \"%s\" with model.arch \"gpt\"", p);
        LM_TRY(get_size(cx, v, p, 1, dst[i]));
    }
    if ((v = json_object_get(mo, "mlp_ratio")))
        LM_TRY(get_size(cx, v, "model.mlp_ratio", 1, &g->mlp_ratio));
    g->every = -1; /* resolved by cross_check from the data: text predicts every position */
    if ((v = json_object_get(mo, "predict"))) {
        static const char *const pr[] = {"last", "every"};
        LM_TRY(get_enum(cx, v, "model.predict", pr, 2, &idx));
        g->every = idx == 1;
    }
    return LM_OK;
}

static lm_status parse_model(const ctx *cx, json_t *root, lm_mlp_spec *m) {
    json_t *mo, *v;
    char p[PATH_LEN];
    LM_TRY(get_object(cx, root, lm__cfg_key_find(&lm__cfg_schema, "model"), "model", &mo));
    json_t *arch = mo ? json_object_get(mo, "arch") : NULL;
    if (arch)
        LM_TRY(parse_arch(cx, mo, arch, m));
    else
        for (size_t i = 0; i < 7; i++) {
            static const char *const only[] = {"vocab",  "context",   "d_model", "heads",
                                               "blocks", "mlp_ratio", "predict"};
            if (mo && json_object_get(mo, only[i])) {
                join(p, "model", only[i]);
                CFG_FAIL(cx, LM_EINVAL, p, "applies only with model.arch \"gpt\"");
            }
        }
    json_t *layers = mo ? json_object_get(mo, "layers") : NULL;
    v = mo ? json_object_get(mo, "widths") : NULL;
    if (layers) {
        if (v)
            CFG_FAIL(cx, LM_EINVAL, "model.widths",
                     "and model.layers are both given: give one (widths is the MLP shorthand)");
        if (json_object_get(mo, "activation"))
            CFG_FAIL(cx, LM_EINVAL, "model.activation",
                     "does not apply with model.layers (activations are layers there: "
                     "{\"type\": \"relu\"})");
        LM_TRY(parse_layer_list(cx, layers, "model.layers", m, 0));
        json_t *is = json_object_get(mo, "input_shape");
        if (!is)
            CFG_FAIL(cx, LM_EINVAL, NULL,
                     "missing required key \"model.input_shape\" with model.layers ([d] for "
                     "features, [C, H, W] for images)");
        if (!json_is_array(is) || (json_array_size(is) != 1 && json_array_size(is) != 3))
            return want(cx, LM_EINVAL, is, "model.input_shape",
                        "[d] (features) or [C, H, W] (images)");
        for (size_t i = 0; i < json_array_size(is); i++) {
            snprintf(p, sizeof p, "model.input_shape[%zu]", i);
            LM_TRY(get_size(cx, json_array_get(is, i), p, 1, &m->input_shape[i]));
        }
        m->n_input_shape = json_array_size(is);
    } else if (mo && json_object_get(mo, "input_shape")) {
        CFG_FAIL(cx, LM_EINVAL, "model.input_shape", "applies only with model.layers");
    }
    if (!v && !layers && !arch)
        CFG_FAIL(cx, LM_EINVAL, NULL,
                 "missing required key \"model.widths\" (input width first, output width last), "
                 "\"model.layers\" or \"model.arch\" (docs/models.md)");
    const size_t max_w = LM_MAX_LAYERS + 1;
    char desc[64];
    snprintf(desc, sizeof desc, "an array of 2 to %zu positive integers", max_w);
    if (v && !json_is_array(v))
        return want(cx, LM_EINVAL, v, "model.widths", desc);
    if (v && (json_array_size(v) < 2 || json_array_size(v) > max_w))
        CFG_FAIL(cx, LM_ERANGE, "model.widths", "expected %s, got %zu entries", desc,
                 json_array_size(v));
    for (size_t i = 0; v && i < json_array_size(v); i++) {
        snprintf(p, sizeof p, "model.widths[%zu]", i);
        LM_TRY(get_size(cx, json_array_get(v, i), p, 1, &m->widths[i]));
    }
    m->n_widths = v ? json_array_size(v) : 0;
    int e;
    if ((v = json_object_get(mo, "activation"))) {
        LM_TRY(get_module_enum(cx, v, "model.activation", act_name_i, parse_act, &e));
        m->act = (lm_act) e;
    }
    if ((v = json_object_get(mo, "bias")))
        LM_TRY(get_bool(cx, v, "model.bias", &m->bias));
    if ((v = json_object_get(mo, "readout_zero")))
        LM_TRY(get_bool(cx, v, "model.readout_zero", &m->readout_zero));
    if ((v = json_object_get(mo, "parameterization"))) {
        LM_TRY(get_module_enum(cx, v, "model.parameterization", param_name_i, parse_param, &e));
        m->param = (lm_param) e;
    }
    if ((v = json_object_get(mo, "base_width")))
        LM_TRY(get_size(cx, v, "model.base_width", 0, &m->base_width));
    if ((v = json_object_get(mo, "output_multiplier")))
        LM_TRY(get_num(cx, v, "model.output_multiplier", R_NONZERO, &m->output_multiplier));
    if ((v = json_object_get(mo, "embed_multiplier")))
        LM_TRY(get_num(cx, v, "model.embed_multiplier", R_NONZERO, &m->embed_multiplier));
    if ((v = json_object_get(mo, "sw2")))
        LM_TRY(get_num(cx, v, "model.sw2", R_GT0, &m->sw2));
    if ((v = json_object_get(mo, "sb2")))
        LM_TRY(get_num(cx, v, "model.sb2", R_GE0, &m->sb2));
    /* deep linear networks: the aligned, balanced initialisation */
    if ((v = json_object_get(mo, "init"))) {
        static const char *const inits[] = {"random", "aligned"};
        size_t idx = 0;
        LM_TRY(get_enum(cx, v, "model.init", inits, 2, &idx));
        m->init = idx ? LM_INIT_ALIGNED : LM_INIT_RANDOM;
    }
    if ((v = json_object_get(mo, "a0")))
        LM_TRY(get_num(cx, v, "model.a0", R_GT0, &m->a0));
    if (arch) {
        if (!m->bias)
            CFG_FAIL(cx, LM_EINVAL, "model.bias",
                     "does not apply with model.arch \"gpt\" (its linear layers have biases, "
                     "the head none)");
        lm_err e2 = {0};
        if (lm_gpt_expand(m, &e2) != LM_OK)
            CFG_FAIL(cx, e2.code, NULL, "%s", e2.msg);
    }
    return LM_OK;
}

static lm_status parse_schedule(const ctx *cx, json_t *v, lm_optim_spec *o) {
    int e;
    if (json_is_string(v)) {
        LM_TRY(get_module_enum(cx, v, "optimizer.schedule", sched_name_i, parse_sched, &e));
        o->schedule = (lm_sched) e;
        return LM_OK;
    }
    if (!json_is_object(v))
        return want(cx, LM_EINVAL, v, "optimizer.schedule",
                    "a schedule name or an object {\"name\", \"warmup_steps\", \"final_lr_frac\"}");
    const lm__key *node =
        lm__cfg_key_find(lm__cfg_key_find(&lm__cfg_schema, "optimizer"), "schedule");
    LM_TRY(check_keys(cx, v, node, "optimizer.schedule"));
    json_t *w;
    if ((w = json_object_get(v, "name"))) {
        LM_TRY(get_module_enum(cx, w, "optimizer.schedule.name", sched_name_i, parse_sched, &e));
        o->schedule = (lm_sched) e;
    }
    if ((w = json_object_get(v, "warmup_steps")))
        LM_TRY(get_size(cx, w, "optimizer.schedule.warmup_steps", 0, &o->warmup_steps));
    if ((w = json_object_get(v, "final_lr_frac")))
        LM_TRY(get_num(cx, w, "optimizer.schedule.final_lr_frac", R_UNIT, &o->final_lr_frac));
    if ((w = json_object_get(v, "warmup_start")))
        LM_TRY(get_num(cx, w, "optimizer.schedule.warmup_start", R_UNIT, &o->warmup_start));
    return LM_OK;
}

static lm_status parse_optimizer(const ctx *cx, json_t *root, lm_optim_spec *o,
                                 const json_t **layer_lr) {
    json_t *op, *v;
    char p[PATH_LEN];
    int e;
    *layer_lr = NULL;
    LM_TRY(get_object(cx, root, lm__cfg_key_find(&lm__cfg_schema, "optimizer"), "optimizer", &op));
    if (!op)
        return LM_OK;
    if ((v = json_object_get(op, "name"))) {
        LM_TRY(get_module_enum(cx, v, "optimizer.name", opt_name_i, parse_opt, &e));
        o->kind = (lm_opt_kind) e;
    }
    if ((v = json_object_get(op, "lr")))
        LM_TRY(get_num(cx, v, "optimizer.lr", R_GE0, &o->lr));
    if ((v = json_object_get(op, "momentum")))
        LM_TRY(get_num(cx, v, "optimizer.momentum", R_UNIT_HO, &o->momentum));
    else if (o->kind == LM_OPT_MOMENTUM || o->kind == LM_OPT_NESTEROV)
        o->momentum = 0.9; /* PyTorch users' usual value; "momentum" with 0 would be plain SGD */
    if ((v = json_object_get(op, "betas"))) {
        if (!json_is_array(v))
            return want(cx, LM_EINVAL, v, "optimizer.betas", "an array of 2 numbers in [0, 1)");
        if (json_array_size(v) != 2)
            CFG_FAIL(cx, LM_ERANGE, "optimizer.betas",
                     "expected an array of 2 numbers in [0, 1), got %zu entries",
                     json_array_size(v));
        double b[2];
        for (size_t i = 0; i < 2; i++) {
            snprintf(p, sizeof p, "optimizer.betas[%zu]", i);
            LM_TRY(get_num(cx, json_array_get(v, i), p, R_UNIT_HO, &b[i]));
        }
        o->beta1 = b[0];
        o->beta2 = b[1];
    }
    if ((v = json_object_get(op, "eps")))
        LM_TRY(get_num(cx, v, "optimizer.eps", R_GE0, &o->eps));
    if ((v = json_object_get(op, "weight_decay")))
        LM_TRY(get_num(cx, v, "optimizer.weight_decay", R_GE0, &o->weight_decay));
    if ((v = json_object_get(op, "schedule")))
        LM_TRY(parse_schedule(cx, v, o));
    /* layer_lr's length depends on model.widths: read after the model (see parse_layer_lr) */
    *layer_lr = json_object_get(op, "layer_lr");
    return LM_OK;
}

static lm_status parse_layer_lr(const ctx *cx, const json_t *v, size_t n_layers, lm_optim_spec *o) {
    char p[PATH_LEN], desc[80];
    snprintf(desc, sizeof desc, "an array of %zu positive numbers (one per linear layer)",
             n_layers);
    if (!json_is_array(v))
        return want(cx, LM_EINVAL, v, "optimizer.layer_lr", desc);
    if (json_array_size(v) != n_layers)
        CFG_FAIL(cx, LM_EINVAL, "optimizer.layer_lr",
                 "expected %s, got %zu entries (model.widths has %zu layers)", desc,
                 json_array_size(v), n_layers);
    int all_one = 1;
    for (size_t i = 0; i < n_layers; i++) {
        snprintf(p, sizeof p, "optimizer.layer_lr[%zu]", i);
        LM_TRY(get_num(cx, json_array_get(v, i), p, R_GT0, &o->layer_lr[i]));
        all_one &= o->layer_lr[i] == 1.0;
    }
    /* all ones is the same run as no layer_lr: keep one representation */
    o->n_layer_lr = all_one ? 0 : n_layers;
    return LM_OK;
}

static lm_status parse_top(const ctx *cx, json_t *root, lm_config *c) {
    json_t *v;
    long long x;
    int e;
    if ((v = json_object_get(root, "seed"))) {
        LM_TRY(get_int(cx, v, "seed", 0, LLONG_MAX, &x));
        c->seed = (uint64_t) x;
    }
    LM_TRY(parse_data(cx, root, &c->data));
    LM_TRY(parse_model(cx, root, &c->model));
    json_t *mo = json_object_get(root, "model"); /* an object: parse_model checked it */
    if ((v = json_object_get(mo, "center_output")))
        LM_TRY(get_bool(cx, v, "model.center_output", &c->center_output));
    if ((v = json_object_get(root, "loss"))) {
        LM_TRY(get_module_enum(cx, v, "loss", loss_name_i, parse_loss, &e));
        c->loss = (lm_loss) e;
    }
    const json_t *layer_lr;
    LM_TRY(parse_optimizer(cx, root, &c->optim, &layer_lr));
    if (layer_lr && c->model.n_layer_specs)
        CFG_FAIL(cx, LM_EINVAL, "optimizer.layer_lr",
                 "applies to model.widths networks; with model.layers use the "
                 "parameterization's rates");
    if (layer_lr)
        LM_TRY(parse_layer_lr(cx, layer_lr, c->model.n_widths - 1, &c->optim));
    if ((v = json_object_get(root, "batch_size")))
        LM_TRY(get_size(cx, v, "batch_size", 0, &c->train.batch_size));
    json_t *steps = json_object_get(root, "steps"), *epochs = json_object_get(root, "epochs");
    if (steps && epochs)
        CFG_FAIL(cx, LM_EINVAL, NULL, "\"steps\" and \"epochs\" are both given: give one of them");
    if (steps)
        LM_TRY(get_size(cx, steps, "steps", 1, &c->train.steps));
    if (epochs) {
        LM_TRY(get_size(cx, epochs, "epochs", 1, &c->train.epochs));
        c->train.steps = 0;
    }
    if ((v = json_object_get(root, "eval_every")))
        LM_TRY(get_size(cx, v, "eval_every", 1, &c->train.eval_every));
    if ((v = json_object_get(root, "dtype"))) {
        static const char *const dtypes[] = {"float64", "float32"};
        size_t idx = 0;
        LM_TRY(get_enum(cx, v, "dtype", dtypes, 2, &idx));
        c->train.dtype = idx ? LM_F32 : LM_F64;
    }
    if ((v = json_object_get(root, "threads"))) {
        LM_TRY(get_int(cx, v, "threads", 0, MAX_THREADS, &x));
        c->train.threads = (int) x;
    }
    if ((v = json_object_get(root, "sharpness_every")))
        LM_TRY(get_size(cx, v, "sharpness_every", 0, &c->train.sharpness_every));
    if ((v = json_object_get(root, "sharpness_dtype"))) {
        static const char *const sdt[] = {"auto", "float32", "float64"};
        size_t idx = 0;
        LM_TRY(get_enum(cx, v, "sharpness_dtype", sdt, 3, &idx));
        c->train.sharpness_dtype = (lm_sharp_dtype) idx;
    }
    if ((v = json_object_get(root, "probe_every")))
        LM_TRY(get_size(cx, v, "probe_every", 0, &c->train.probe_every));
    if ((v = json_object_get(root, "probe_size")))
        LM_TRY(get_size(cx, v, "probe_size", 1, &c->train.probe_size));
    if ((v = json_object_get(root, "repr_every")))
        LM_TRY(get_size(cx, v, "repr_every", 0, &c->train.repr_every));
    if ((v = json_object_get(root, "weights_every")))
        LM_TRY(get_size(cx, v, "weights_every", 0, &c->train.weights_every));
    if ((v = json_object_get(root, "noise_every")))
        LM_TRY(get_size(cx, v, "noise_every", 0, &c->train.noise_every));
    return LM_OK;
}

/* ---------------------------------------------------------------- cross-key checks */

static int is_image(lm_data_source s) {
    return s == LM_DATA_FASHION_MNIST || s == LM_DATA_MNIST;
}

/* The number of classes, or 0 for regression sources and npy (known only at load time). */
static size_t n_classes(const lm_data_spec *d) {
    if (is_image(d->source))
        return 10;
    if (d->source == LM_DATA_MODADD)
        return d->modulus + (d->encoding == LM_ENCODING_TOKENS); /* tokens: + the "=" token */
    return 0;
}

/* linear-modes' keys and the aligned initialisation, which needs that data (model.h, data.h). */
static lm_status check_linear_modes(const ctx *cx, const lm_config *c) {
    const lm_data_spec *d = &c->data;
    const lm_mlp_spec *m = &c->model;
    const int lin = d->source == LM_DATA_LINEAR_MODES;
    if (!lin && d->n_sv)
        CFG_FAIL(cx, LM_EINVAL, "data.singular_values",
                 "is given, but data.source is \"%s\" (only \"linear-modes\" uses it)",
                 lm_data_source_name(d->source));
    if (lin) {
        const size_t cap = d->dim < d->outputs ? d->dim : d->outputs;
        if (!d->n_sv)
            CFG_FAIL(cx, LM_EINVAL, NULL,
                     "missing required key \"data.singular_values\" for data \"linear-modes\" "
                     "(1 to min(dim, outputs) = %zu positive numbers)",
                     cap);
        if (d->n_sv > cap)
            CFG_FAIL(cx, LM_EINVAL, "data.singular_values",
                     "has %zu entries, but the rank of a map from dim %zu to outputs %zu is at "
                     "most %zu",
                     d->n_sv, d->dim, d->outputs, cap);
        if (d->noise != 0.0)
            CFG_FAIL(cx, LM_EINVAL, "data.noise",
                     "is %g, but data \"linear-modes\" needs 0 (Sigma^yx = U S V^T exactly)",
                     d->noise);
        if (d->train_size != LM_ALL && d->train_size < d->dim)
            CFG_FAIL(cx, LM_EINVAL, "data.train_size",
                     "is %zu, below data.dim %zu: whitened inputs, (1/P) X^T X = I, need "
                     "P >= d_in",
                     d->train_size, d->dim);
    }
    if (m->init != LM_INIT_ALIGNED) {
        if (m->a0 != 0.0)
            CFG_FAIL(cx, LM_EINVAL, "model.a0",
                     "is given, but model.init is \"random\" (a0 is "
                     "the scale of the \"aligned\" initialisation)");
        return LM_OK;
    }
    if (!lin)
        CFG_FAIL(cx, LM_EINVAL, "model.init",
                 "\"aligned\" needs data.source \"linear-modes\" (it aligns the weights with "
                 "the task's U and V), got \"%s\"",
                 lm_data_source_name(d->source));
    if (!(m->a0 > 0.0))
        CFG_FAIL(cx, LM_EINVAL, NULL,
                 "missing required key \"model.a0\" for model.init \"aligned\" (a number > 0; "
                 "each mode starts at u0 = a0^depth)");
    if (m->act != LM_ACT_IDENTITY && m->n_widths > 2)
        CFG_FAIL(cx, LM_EINVAL, "model.activation",
                 "is \"%s\", but model.init \"aligned\" is the deep LINEAR network's "
                 "initialisation: use \"identity\"",
                 lm_act_name(m->act));
    if (m->bias)
        CFG_FAIL(cx, LM_EINVAL, "model.bias",
                 "is true, but model.init \"aligned\" needs false (a bias would couple the "
                 "modes: the closed forms are for W_N ... W_1 alone)");
    if (m->readout_zero)
        CFG_FAIL(cx, LM_EINVAL, "model.readout_zero",
                 "is true, but model.init \"aligned\" sets every layer (use false)");
    for (size_t i = 1; i + 1 < m->n_widths; i++)
        if (m->widths[i] < d->n_sv)
            CFG_FAIL(cx, LM_EINVAL, "model.widths",
                     "hidden width %zu (entry %zu) is below the task's rank r = %zu: the aligned "
                     "initialisation needs hidden widths >= r",
                     m->widths[i], i, d->n_sv);
    return LM_OK;
}

/* Token sets (data.h): the keys only they use, and the rules they obey. */
static lm_status check_tokens(const ctx *cx, const lm_data_spec *d) {
    const char *src = lm_data_source_name(d->source);
    const int tokens = lm_data_is_tokens(d);
    if (d->encoding == LM_ENCODING_TOKENS && d->source != LM_DATA_MODADD &&
        d->source != LM_DATA_NPY && d->source != LM_DATA_TEXT)
        CFG_FAIL(cx, LM_EINVAL, "data.encoding",
                 "\"tokens\" is for modadd and npy (text is always tokens), but data.source is "
                 "\"%s\"",
                 src);
    if (!tokens) {
        if (d->vocab)
            CFG_FAIL(cx, LM_EINVAL, "data.vocab",
                     "is given, but data \"%s\" is not a token set (text, or modadd/npy with "
                     "data.encoding \"tokens\")",
                     src);
        return LM_OK;
    }
    if (d->normalize != LM_NORM_DEFAULT && d->normalize != LM_NORM_NONE)
        CFG_FAIL(cx, LM_EINVAL, "data.normalize",
                 "is \"%s\", but token ids are not features: a token set needs \"none\"",
                 lm_normalize_name(d->normalize));
    if (d->targets != LM_TARGETS_ONEHOT)
        CFG_FAIL(cx, LM_EINVAL, "data.targets",
                 "is \"%s\", but a token set needs \"onehot\" (targets over the vocabulary)",
                 lm_targets_name(d->targets));
    if (d->source == LM_DATA_MODADD && d->vocab && d->vocab != d->modulus + 1)
        CFG_FAIL(cx, LM_EINVAL, "data.vocab",
                 "is %zu, but modadd tokens have vocab modulus + 1 = %zu (the residues and the "
                 "\"=\" token)",
                 d->vocab, d->modulus + 1);
    if (d->source == LM_DATA_TEXT && d->vocab && d->vocab != 256)
        CFG_FAIL(cx, LM_EINVAL, "data.vocab", "is %zu, but text tokens are bytes: vocab 256",
                 d->vocab);
    return LM_OK;
}

static lm_status cross_check(const ctx *cx, lm_config *c) {
    lm_data_spec *d = &c->data;
    if (c->model.arch == LM_ARCH_GPT && (d->source == LM_DATA_NPY || d->source == LM_DATA_MODADD)) {
        /* a transformer reads token ids: modadd and npy sets are tokens for it (one-hot modadd
         * pairs or feature rows cannot feed an embedding), and an npy set's vocabulary is the
         * model's unless data.vocab says otherwise */
        d->encoding = LM_ENCODING_TOKENS;
        if (d->source == LM_DATA_NPY && d->vocab == 0)
            d->vocab = c->model.gpt.vocab;
    }
    const char *src = lm_data_source_name(d->source);
    const char *tgt = lm_targets_name(d->targets);
    int regression = d->source == LM_DATA_TEACHER || d->source == LM_DATA_POWERLAW ||
                     d->source == LM_DATA_CIRCLE || d->source == LM_DATA_LINEAR_MODES;

    if (d->source == LM_DATA_NPY) {
        if (!d->x[0] || !d->y[0])
            CFG_FAIL(cx, LM_EINVAL, NULL, "missing required key \"data.%s\" for data \"npy\"",
                     !d->x[0] ? "x" : "y");
        if (!d->test_x[0] != !d->test_y[0])
            CFG_FAIL(cx, LM_EINVAL, NULL,
                     "data.%s is given but data.%s is not: give both test files or neither",
                     d->test_x[0] ? "test_x" : "test_y", d->test_x[0] ? "test_y" : "test_x");
    }
    if (d->source == LM_DATA_TEXT && !d->path[0])
        CFG_FAIL(cx, LM_EINVAL, NULL, "missing required key \"data.path\" for data \"text\"");
    LM_TRY(check_tokens(cx, d));
    if (is_image(d->source) && !d->dir[0])
        snprintf(d->dir, sizeof d->dir, "/usr/share/datasets/%s", src);

    if (c->loss == LM_LOSS_CE) {
        if (regression)
            CFG_FAIL(cx, LM_EINVAL, NULL,
                     "loss \"ce\" needs class labels, but data \"%s\" is a regression set "
                     "(use \"mse\" or \"mse_mean\")",
                     src);
        if (d->targets != LM_TARGETS_ONEHOT)
            CFG_FAIL(cx, LM_EINVAL, NULL, "loss \"ce\" needs data.targets \"onehot\", got \"%s\"",
                     tgt);
    }

    /* matrix-completion marks unobserved targets NaN: only mse_observed skips them */
    if (d->source == LM_DATA_MATRIX_COMPLETION) {
        if (c->loss != LM_LOSS_MSE_OBSERVED)
            CFG_FAIL(cx, LM_EINVAL, "loss",
                     "data \"matrix-completion\" needs loss \"mse_observed\" (its unobserved "
                     "targets are NaN), got \"%s\"",
                     lm_loss_name(c->loss));
        if (d->rank > d->dim)
            CFG_FAIL(cx, LM_EINVAL, "data.rank", "%zu is larger than data.dim %zu", d->rank,
                     d->dim);
        if (!(d->observed > 0.0))
            CFG_FAIL(cx, LM_ERANGE, "data.observed",
                     "%g observes no entry; use a fraction in (0, 1]", d->observed);
        if (d->normalize != LM_NORM_DEFAULT && d->normalize != LM_NORM_NONE)
            CFG_FAIL(cx, LM_EINVAL, "data.normalize",
                     "data \"matrix-completion\" feeds x = I; normalize \"%s\" would change it "
                     "(use \"none\")",
                     lm_normalize_name(d->normalize));
        if (d->train_size != LM_ALL || (d->test_size != LM_ALL && d->test_size != 0))
            CFG_FAIL(cx, LM_EINVAL, d->train_size != LM_ALL ? "data.train_size" : "data.test_size",
                     "data \"matrix-completion\" has dim = %zu rows (x = I); use \"all\"%s", d->dim,
                     d->train_size != LM_ALL ? "" : " or 0 (no test set)");
    }

    /* centring is a target shift, L(F - F_0, y) = L(F, y + F_0): exact only when the loss is a
     * function of f - y (NaN targets stay NaN under the shift, so mse_observed qualifies) */
    if (c->center_output && c->loss != LM_LOSS_MSE && c->loss != LM_LOSS_MSE_MEAN &&
        c->loss != LM_LOSS_MSE_OBSERVED)
        CFG_FAIL(cx, LM_EINVAL, "model.center_output",
                 "true needs loss \"mse\", \"mse_mean\" or \"mse_observed\", got loss \"%s\" (the "
                 "output is "
                 "centred by shifting the targets, L(F - F_0, y) = L(F, y + F_0), which holds "
                 "only for losses of F - y)",
                 lm_loss_name(c->loss));

    /* input and output widths, where the data fix them before loading */
    size_t d_in = 0, k = 0;
    char why_in[96] = "", why_out[96] = "";
    if (is_image(d->source)) {
        size_t side = 28 / d->pool; /* 28x28 images, pool in {1, 2, 4} divides 28 */
        d_in = side * side;
        snprintf(why_in, sizeof why_in, "data \"%s\" with pool %zu", src, d->pool);
    } else if (d->source == LM_DATA_MODADD) {
        d_in = d->encoding == LM_ENCODING_TOKENS ? 3 : 2 * d->modulus; /* tokens: [a, b, =] */
        snprintf(why_in, sizeof why_in, "data \"modadd\" with modulus %zu", d->modulus);
    } else if (d->source == LM_DATA_TEXT) {
        d_in = d->context; /* every position predicted: k = context * 256 */
        snprintf(why_in, sizeof why_in, "data \"text\" with context %zu", d->context);
    } else if (d->source == LM_DATA_TEACHER || d->source == LM_DATA_POWERLAW ||
               d->source == LM_DATA_MATRIX_COMPLETION) {
        d_in = d->dim;
        snprintf(why_in, sizeof why_in, "data \"%s\" with dim %zu", src, d->dim);
    } else if (d->source == LM_DATA_CIRCLE) {
        d_in = 2;
        snprintf(why_in, sizeof why_in, "data \"circle\"");
    } else if (d->source == LM_DATA_LINEAR_MODES) {
        d_in = d->dim;
        snprintf(why_in, sizeof why_in, "data \"linear-modes\" with dim %zu", d->dim);
    }
    if (n_classes(d)) {
        int scalar = d->targets == LM_TARGETS_PARITY || d->targets == LM_TARGETS_INDEX;
        k = scalar ? 1 : n_classes(d);
        snprintf(why_out, sizeof why_out, "data \"%s\" with targets \"%s\"", src, tgt);
    } else if (d->source == LM_DATA_TEACHER || d->source == LM_DATA_LINEAR_MODES) {
        k = d->outputs;
        snprintf(why_out, sizeof why_out, "data \"%s\" with outputs %zu", src, d->outputs);
    } else if (d->source == LM_DATA_TEXT) {
        k = d->context * 256;
        snprintf(why_out, sizeof why_out, "data \"text\" with context %zu (x 256 bytes)",
                 d->context);
    } else if (d->source == LM_DATA_MATRIX_COMPLETION) {
        k = d->dim;
        snprintf(why_out, sizeof why_out, "data \"matrix-completion\" with dim %zu", d->dim);
    } else if (regression) {
        k = 1;
        snprintf(why_out, sizeof why_out, "data \"%s\"", src);
    }
    if (c->model.arch == LM_ARCH_GPT && c->model.gpt.every < 0) {
        /* model.predict not given: text sets predict every position, the others the last */
        c->model.gpt.every = d->source == LM_DATA_TEXT;
        lm_err e2 = {0};
        if (lm_gpt_expand(&c->model, &e2) != LM_OK)
            CFG_FAIL(cx, e2.code, NULL, "%s", e2.msg);
    }
    const lm_mlp_spec *m = &c->model;
    if (m->arch == LM_ARCH_GPT) {
        lm_mlp *net = NULL;
        lm_err e2 = {0};
        if (lm_mlp_new(m, &net, &e2) != LM_OK)
            CFG_FAIL(cx, e2.code, NULL, "%s", e2.msg);
        const size_t nd_out = net->d_out;
        lm_mlp_free(net);
        if (d_in && m->gpt.context != d_in)
            CFG_FAIL(cx, LM_EINVAL, "model.context", "is %zu but %s has %zu tokens per example",
                     m->gpt.context, why_in, d_in);
        if (k && nd_out != k)
            CFG_FAIL(cx, LM_EINVAL, "model.vocab",
                     "%zu with predict \"%s\" gives %zu outputs per example but %s has %zu%s",
                     m->gpt.vocab, m->gpt.every ? "every" : "last", nd_out, why_out, k,
                     m->gpt.vocab * m->gpt.context == k ? " (predict \"every\" would match)"
                     : m->gpt.vocab * m->gpt.context == nd_out && m->gpt.vocab == k
                         ? " (predict \"last\" would match)"
                         : "");
    } else if (m->n_layer_specs > 0) {
        /* a layer graph: its shapes are known once built (shape errors name the layer) */
        lm_mlp *net = NULL;
        lm_err e2 = {0};
        if (lm_mlp_new(m, &net, &e2) != LM_OK)
            CFG_FAIL(cx, e2.code, NULL, "%s", e2.msg);
        const size_t nd_in = net->d_in, nd_out = net->d_out;
        lm_mlp_free(net);
        if (d_in && nd_in != d_in)
            CFG_FAIL(cx, LM_EINVAL, "model.input_shape",
                     "has %zu entries per example but %s has %zu inputs%s", nd_in, why_in, d_in,
                     is_image(d->source) ? " (images are [1, side, side])" : "");
        if (k && nd_out != k)
            CFG_FAIL(cx, LM_EINVAL, "model.layers",
                     "the last layer gives %zu output%s but %s has %zu", nd_out,
                     nd_out == 1 ? "" : "s", why_out, k);
    } else if (d_in && m->widths[0] != d_in)
        CFG_FAIL(cx, LM_EINVAL, "model.widths", "first entry is %zu but %s has %zu inputs",
                 m->widths[0], why_in, d_in);
    if (k && m->n_layer_specs == 0 && m->widths[m->n_widths - 1] != k)
        CFG_FAIL(cx, LM_EINVAL, "model.widths", "last entry is %zu but %s has %zu output%s",
                 m->widths[m->n_widths - 1], why_out, k, k == 1 ? "" : "s");

    LM_TRY(check_linear_modes(cx, c));
    if (d->train_size != LM_ALL && d->source != LM_DATA_MODADD &&
        c->train.batch_size > d->train_size)
        CFG_FAIL(cx, LM_EINVAL, "batch_size",
                 "%zu is larger than data.train_size %zu (0 means full batch)", c->train.batch_size,
                 d->train_size);
    return LM_OK;
}

/* ---------------------------------------------------------------- --set */

/* A --set error: messages name the --set, not the file, since the value is not in the file. */
static lm_status set_fail(const ctx *cx, const char *set, int line, lm_status code, const char *fmt,
                          ...) __attribute__((format(printf, 5, 6)));
static lm_status set_fail(const ctx *cx, const char *set, int line, lm_status code, const char *fmt,
                          ...) {
    char msg[LM_ERR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char s[84];
    return lm_err_set(cx->err, code, __FILE__, line, "--set %s: %s", clean(s, set, 80), msg);
}
#define SET_FAIL(...) return set_fail(cx, set, __LINE__, __VA_ARGS__)

/* --set model.layers[i](.body[j])*(.KEY)?=VALUE: into the layer list of the file (mo, the model
 * object), which must hold the indexed entries; KEY is any layer key (parse_layer checks it, as
 * in the file), no KEY replaces the whole entry. For width sweeps of layer-graph models, e.g.
 * --set model.layers[0].out=64. */
static lm_status set_layer(const ctx *cx, json_t *mo, const char *set, const char *path,
                           const char *value) {
    json_t *obj = mo, *arr = NULL;
    char tok[PATH_LEN];
    size_t idx = 0;
    const char *p = path;
    for (int first = 1;; first = 0) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t) (dot - p) : strlen(p);
        if (len >= sizeof tok)
            SET_FAIL(LM_EINVAL, "path too long");
        memcpy(tok, p, len);
        tok[len] = '\0';
        char *br = strchr(tok, '[');
        if (!br) { /* a key of the layer object reached so far */
            if (first || dot || !arr)
                SET_FAIL(LM_EINVAL, "expected model.layers[i] or model.layers[i].KEY");
            break;
        }
        *br = '\0';
        const char *want = first ? "layers" : "body";
        char *end = NULL;
        unsigned long long i = strtoull(br + 1, &end, 10);
        if (strcmp(tok, want) != 0 || !end || end == br + 1 || strcmp(end, "]") != 0)
            SET_FAIL(LM_EINVAL, "expected %s[INDEX] in the path, got \"%.40s\"", want, p);
        arr = json_object_get(obj, tok);
        if (!json_is_array(arr) || i >= json_array_size(arr))
            SET_FAIL(LM_EINVAL, "%s has %zu entries in %s; index %llu is out of range", tok,
                     json_is_array(arr) ? json_array_size(arr) : 0, cx->name, i);
        idx = (size_t) i;
        json_t *el = json_array_get(arr, idx);
        if (!dot) {
            tok[0] = '\0';
            break;
        }
        if (!json_is_object(el))
            SET_FAIL(LM_EINVAL, "entry %zu of %s is not a layer object", idx, tok);
        obj = el;
        p = dot + 1;
    }
    json_error_t je;
    int oom = 0;
    json_t *val =
        lm__json_loadb(value, strlen(value), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je, &oom);
    if (oom)
        SET_FAIL(LM_ENOMEM, "out of memory");
    if (!val)
        val = json_string(value);
    if (!val)
        SET_FAIL(LM_EINVAL, "the value is not valid UTF-8");
    const int bad = tok[0] ? json_object_set_new(obj, tok, val) : json_array_set_new(arr, idx, val);
    if (bad)
        SET_FAIL(LM_ENOMEM, "out of memory");
    return LM_OK;
}

/* Writes one "KEY=VALUE" into root, creating missing objects on the way. */
static lm_status apply_set(const ctx *cx, json_t *root, const char *set) {
    const char *eq = strchr(set, '=');
    if (!eq || eq == set) {
        char s[84];
        LM_FAIL(cx->err, LM_EINVAL, "--set \"%s\": expected KEY=VALUE (e.g. optimizer.lr=0.01)",
                clean(s, set, 80));
    }
    size_t klen = (size_t) (eq - set);
    char key[PATH_LEN];
    if (klen >= sizeof key)
        SET_FAIL(LM_EINVAL, "unknown key (%zu bytes long)", klen);
    memcpy(key, set, klen);
    key[klen] = '\0';
    char key_txt[PATH_LEN], ck[PATH_LEN + 4]; /* the whole key, for messages */
    memcpy(key_txt, key, klen + 1);

    const lm__key *node = &lm__cfg_schema;
    json_t *obj = root;
    char *part = key, *next;
    char sofar[PATH_LEN] = "";
    for (;;) {
        if (strcmp(sofar, "model") == 0 && strncmp(part, "layers[", 7) == 0)
            return set_layer(cx, obj, set, part, eq + 1);
        next = strchr(part, '.');
        if (next)
            *next = '\0';
        const lm__key *kid = lm__cfg_key_find(node, part);
        char full[PATH_LEN];
        join(full, sofar, part);
        if (!kid) {
            const char *names[32];
            size_t n = 0;
            for (; n < node->n_kids && n < N(names); n++)
                names[n] = node->kids[n].name;
            const char *hint = lm__cfg_suggest(part, names, n);
            char sugg[64] = "";
            if (hint)
                snprintf(sugg, sizeof sugg, " (did you mean \"%s\"?)", hint);
            if (next)
                *next = '.';
            SET_FAIL(LM_EINVAL, "unknown key \"%s\"%s", clean(ck, key_txt, sizeof ck - 4), sugg);
        }
        if (!next) {
            json_error_t je;
            int oom = 0;
            json_t *val = lm__json_loadb(eq + 1, strlen(eq + 1),
                                         JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je, &oom);
            if (oom)
                SET_FAIL(LM_ENOMEM, "out of memory");
            if (!val)
                val = json_string(eq + 1);
            if (!val)
                SET_FAIL(LM_EINVAL, "the value is not valid UTF-8");
            if (json_object_set_new(obj, part, val) != 0)
                SET_FAIL(LM_ENOMEM, "out of memory");
            /* steps and epochs exclude each other: setting one replaces the other */
            if (obj == root && strcmp(part, "steps") == 0)
                json_object_del(root, "epochs");
            if (obj == root && strcmp(part, "epochs") == 0)
                json_object_del(root, "steps");
            return LM_OK;
        }
        if (!kid->n_kids) {
            *next = '.';
            SET_FAIL(LM_EINVAL, "unknown key \"%s\" (\"%s\" has no keys)",
                     clean(ck, key_txt, sizeof ck - 4), full);
        }
        json_t *child = json_object_get(obj, part);
        if (child && json_is_string(child) && strcmp(full, "optimizer.schedule") == 0) {
            /* "schedule": "cosine" plus --set optimizer.schedule.warmup_steps=10 */
            json_t *o = json_pack("{s:O}", "name", child);
            if (!o || json_object_set_new(obj, part, o) != 0)
                SET_FAIL(LM_ENOMEM, "out of memory");
            child = o;
        } else if (!child) {
            child = json_object();
            if (!child || json_object_set_new(obj, part, child) != 0)
                SET_FAIL(LM_ENOMEM, "out of memory");
        } else if (!json_is_object(child)) {
            char got[80];
            describe(child, got, sizeof got);
            SET_FAIL(LM_EINVAL, "%s is %s in %s, not an object", full, got, cx->name);
        }
        obj = child;
        node = kid;
        snprintf(sofar, sizeof sofar, "%s", full);
        part = next + 1;
    }
}

/* ---------------------------------------------------------------- entry points */

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = lm_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void lm_config_free(lm_config *c) {
    if (!c)
        return;
    lm_free(c->json);
    lm_free(c->name);
    lm_free(c->notes);
    lm_free(c);
}

/* Everything after the JSON is parsed: overrides, walk, checks, canonical JSON, hash. */
static lm_status build(const ctx *cx, json_t *root, lm_config **out) {
    if (!json_is_object(root))
        return want(cx, LM_EINVAL, root, NULL, "a JSON object at top level");
    for (size_t i = 0; i < cx->n_sets; i++)
        LM_TRY(apply_set(cx, root, cx->sets[i]));
    LM_TRY(check_keys(cx, root, &lm__cfg_schema, ""));

    lm_config c;
    memset(&c, 0, sizeof c);
    c.data = lm_data_spec_default();
    c.model = lm_mlp_spec_default();
    c.loss = LM_LOSS_MSE;
    c.optim = lm_optim_spec_default();
    c.train.steps = 100;
    c.train.eval_every = 100;
    c.train.probe_size = 256;
    c.train.dtype = LM_F64;
    LM_TRY(parse_top(cx, root, &c));
    LM_TRY(cross_check(cx, &c));
    const char *name = "", *notes = "";
    json_t *v;
    if ((v = json_object_get(root, "name")))
        LM_TRY(get_str(cx, v, "name", &name));
    if ((v = json_object_get(root, "notes")))
        LM_TRY(get_str(cx, v, "notes", &notes));

    lm_config *r = lm_calloc(1, sizeof *r);
    if (!r)
        LM_FAIL(cx->err, LM_ENOMEM, "out of memory allocating the config");
    *r = c;
    r->name = dup_str(name);
    r->notes = dup_str(notes);
    if (!r->name || !r->notes) {
        lm_config_free(r);
        LM_FAIL(cx->err, LM_ENOMEM, "out of memory allocating the config");
    }
    lm_status st = lm__cfg_canonical(r, &r->json, cx->err);
    if (st != LM_OK) {
        lm_config_free(r);
        return st;
    }
    lm_sha256_hex(r->json, strlen(r->json), r->hash);
    *out = r;
    return LM_OK;
}

lm_status lm_config_parse(const char *text, size_t len, const char *name, size_t n_sets,
                          const char *const *sets, lm_config **out, lm_err *err) {
    ctx cx = {name ? name : "<config>", n_sets, sets, err};
    if (!out || (!text && len) || (n_sets && !sets))
        LM_FAIL(err, LM_EINVAL, "lm_config_parse: NULL argument");
    for (size_t i = 0; i < n_sets; i++)
        if (!sets[i])
            LM_FAIL(err, LM_EINVAL, "lm_config_parse: --set %zu is NULL", i);
    json_error_t je;
    int oom = 0;
    json_t *root = lm__json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &je, &oom);
    if (!root) {
        if (oom)
            LM_FAIL(err, LM_ENOMEM, "%s: out of memory parsing JSON", cx.name);
        if (je.line > 0)
            LM_FAIL(err, LM_EFORMAT, "%s:%d:%d: %s", cx.name, je.line, je.column, je.text);
        LM_FAIL(err, LM_EFORMAT, "%s: %s", cx.name, je.text);
    }
    lm_status st = build(&cx, root, out);
    json_decref(root);
    return st;
}

lm_status lm_config_load(const char *path, size_t n_sets, const char *const *sets, lm_config **out,
                         lm_err *err) {
    if (!path)
        LM_FAIL(err, LM_EINVAL, "lm_config_load: NULL path");
    FILE *f = fopen(path, "rb");
    if (!f)
        LM_FAIL(err, LM_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    lm_status st = LM_OK;
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FILE_BYTES) {
                st =
                    lm_err_set(err, LM_ELIMIT, __FILE__, __LINE__,
                               "%s: larger than %u bytes: not a config file", path, MAX_FILE_BYTES);
                break;
            }
            size_t ncap = cap ? 2 * cap : 4096;
            char *nb = lm_malloc(ncap);
            if (!nb) {
                st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "%s: out of memory reading",
                                path);
                break;
            }
            if (n)
                memcpy(nb, buf, n);
            lm_free(buf);
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                st = lm_err_set(err, LM_EIO, __FILE__, __LINE__, "%s: read error: %s", path,
                                strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st == LM_OK)
        st = lm_config_parse(buf, n, path, n_sets, sets, out, err);
    lm_free(buf);
    return st;
}
