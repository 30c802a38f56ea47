/*
 * file.c: experiments defined by a JSON file (docs/experiments.md, examples/experiments/): a
 * base run configuration, overrides, a sweep (the Cartesian product of lists of values), a quick
 * variant, and claims judged generically from the recorded metrics:
 *
 *   value  a metric of the runs that match `where`, reduced over the runs by mean / median /
 *          min / max, must lie in `range`. Per run the metric is one number: a statistic `stat`
 *          (mean, median, min, max, or frac_in: the fraction of the records inside `band`) of
 *          its records at or before `step`: the last `window` of them (default 1: the last
 *          value), or all from step `from` on;
 *   slope  the least-squares slope of log(metric) against log(x), x a swept number (or the
 *          element of a swept array, "model.widths[1]"), the metric averaged over the runs that
 *          share an x (seeds), must lie in `range`. Its uncertainty is the slope's standard error.
 *
 * The file is parsed strictly: unknown keys, wrong types, empty sweeps and more than
 * LM_EXP_MAX_RUNS runs are errors naming the file and the key. The parsed experiment owns its
 * strings; plan and analyse read it through lm_experiment.data.
 */
#include "core/internal.h"
#include "exp/internal.h"

#include "lmech/io.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SWEEP  8  /* swept keys                      */
#define MAX_SETS   32 /* overrides (plus the sweep's)    */
#define MAX_CLAIMS 32 /* claims per file                 */

typedef enum { R_MEAN, R_MEDIAN, R_MIN, R_MAX, R_FRAC_IN } reduce_kind;
/* over runs: the first four; over a run's records (stat): all five */
static const char *const reduce_names[] = {"mean", "median", "min", "max", "frac_in"};

typedef struct fclaim {
    char *name, *metric, *predicted, *reason, *x_key;
    int slope;               /* 0 value, 1 slope                                   */
    long x_index;            /* element of a swept array, -1 for a swept number    */
    size_t x_sweep;          /* which swept key x is                               */
    json_t *where;           /* object: swept key -> required value (owned) or NULL */
    int64_t step;            /* -1: the last record                                */
    size_t window;           /* the last window records (>= 1), unless from >= 0   */
    int64_t from;            /* -1, or: every record from this step on            */
    reduce_kind stat;        /* over a run's selected records                      */
    double band_lo, band_hi; /* stat frac_in                                  */
    reduce_kind reduce;      /* over runs (value claims)                           */
    double lo, hi;           /* the tolerance (NaN for a reported figure)          */
    double stated_u;         /* a stated numerical error of each run's value (>= 0;
                              * NaN: none stated)                                 */
    int reported;            /* a reported figure: measured, no verdict            */
} fclaim;

typedef struct variant {
    size_t n_sets;
    char *sets[MAX_SETS]; /* "key=<json>" */
    size_t n_sweep;
    char *sweep_key[MAX_SWEEP];
    json_t *sweep_val[MAX_SWEEP]; /* arrays (owned) */
} variant;

typedef struct fexp {
    lm_experiment e;
    char *name, *summary, *quick_note, *path;
    char *base; /* JSON text */
    variant full, quick;
    size_t n_claims;
    fclaim claims[MAX_CLAIMS];
} fexp;

/* ---------------------------------------------------------------- parsing */

typedef struct pctx {
    const char *origin;
    lm_err *err;
} pctx;

static lm_status bad(pctx *p, const char *key, const char *what) {
    LM_FAIL(p->err, LM_EINVAL, "%s: %s: %s", p->origin, key, what);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = lm_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static lm_status get_str(pctx *p, json_t *o, const char *key, const char *full, int required,
                         char **out) {
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (required)
            return bad(p, full, "required string is missing");
        v = json_string("");
        if (!v)
            LM_FAIL(p->err, LM_ENOMEM, "out of memory");
        *out = dup_str("");
        json_decref(v);
    } else {
        if (!json_is_string(v))
            return bad(p, full, "expected a string");
        *out = dup_str(json_string_value(v));
    }
    if (!*out)
        LM_FAIL(p->err, LM_ENOMEM, "out of memory");
    return LM_OK;
}

static lm_status check_keys(pctx *p, json_t *o, const char *where, const char *const *allowed,
                            size_t n) {
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        size_t i = 0;
        while (i < n && strcmp(k, allowed[i]) != 0)
            i++;
        if (i == n)
            LM_FAIL(p->err, LM_EINVAL, "%s: unknown key \"%s%s%s\"", p->origin, where,
                    *where ? "." : "", k);
    }
    return LM_OK;
}

/* "key": value pairs of an object -> "key=<compact json>" overrides appended to v. */
static lm_status parse_sets(pctx *p, json_t *o, const char *where, variant *v) {
    if (!json_is_object(o))
        return bad(p, where, "expected an object of KEY: VALUE overrides");
    const char *k;
    json_t *val;
    json_object_foreach(o, k, val) {
        if (v->n_sets == MAX_SETS)
            LM_FAIL(p->err, LM_ELIMIT, "%s: %s: at most %d overrides", p->origin, where, MAX_SETS);
        char *js = lm__json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
        if (!js)
            LM_FAIL(p->err, LM_ENOMEM, "out of memory");
        const size_t n = strlen(k) + strlen(js) + 2;
        char *s = lm_malloc(n);
        if (!s) {
            free(js);
            LM_FAIL(p->err, LM_ENOMEM, "out of memory");
        }
        snprintf(s, n, "%s=%s", k, js);
        free(js);
        v->sets[v->n_sets++] = s;
    }
    return LM_OK;
}

static lm_status parse_sweep(pctx *p, json_t *o, const char *where, variant *v) {
    if (!json_is_object(o))
        return bad(p, where, "expected an object of KEY: [values]");
    const char *k;
    json_t *val;
    json_object_foreach(o, k, val) {
        if (!json_is_array(val) || json_array_size(val) == 0)
            LM_FAIL(p->err, LM_EINVAL, "%s: %s.%s: expected a non-empty array of values", p->origin,
                    where, k);
        size_t i = 0;
        while (i < v->n_sweep && strcmp(v->sweep_key[i], k) != 0)
            i++;
        if (i == v->n_sweep) { /* a new key (quick may also replace a full key's values) */
            if (v->n_sweep == MAX_SWEEP)
                LM_FAIL(p->err, LM_ELIMIT, "%s: %s: at most %d swept keys", p->origin, where,
                        MAX_SWEEP);
            if (!(v->sweep_key[i] = dup_str(k)))
                LM_FAIL(p->err, LM_ENOMEM, "out of memory");
            v->n_sweep++;
        } else {
            json_decref(v->sweep_val[i]);
        }
        v->sweep_val[i] = json_incref(val);
    }
    return LM_OK;
}

static size_t n_runs(const variant *v) {
    size_t n = 1;
    for (size_t i = 0; i < v->n_sweep; i++) {
        n *= json_array_size(v->sweep_val[i]);
        if (n > LM_EXP_MAX_RUNS)
            return LM_EXP_MAX_RUNS + 1;
    }
    return n;
}

/* Copies a variant (the quick one starts as the full one). */
static lm_status variant_copy(pctx *p, const variant *a, variant *b) {
    for (size_t i = 0; i < a->n_sets; i++)
        if (!(b->sets[b->n_sets++] = dup_str(a->sets[i])))
            LM_FAIL(p->err, LM_ENOMEM, "out of memory");
    for (size_t i = 0; i < a->n_sweep; i++) {
        if (!(b->sweep_key[i] = dup_str(a->sweep_key[i])))
            LM_FAIL(p->err, LM_ENOMEM, "out of memory");
        b->sweep_val[i] = json_incref(a->sweep_val[i]);
        b->n_sweep++;
    }
    return LM_OK;
}

static void variant_clear(variant *v) {
    for (size_t i = 0; i < v->n_sets; i++)
        lm_free(v->sets[i]);
    for (size_t i = 0; i < v->n_sweep; i++) {
        lm_free(v->sweep_key[i]);
        json_decref(v->sweep_val[i]);
    }
    memset(v, 0, sizeof *v);
}

static int find_sweep(const variant *v, const char *key, size_t len) {
    for (size_t i = 0; i < v->n_sweep; i++)
        if (strlen(v->sweep_key[i]) == len && strncmp(v->sweep_key[i], key, len) == 0)
            return (int) i;
    return -1;
}

static lm_status parse_range(pctx *p, json_t *r, const char *full, double *lo, double *hi) {
    if (!json_is_array(r) || json_array_size(r) != 2)
        return bad(p, full, "expected [lo, hi] (null for an open end)");
    json_t *a = json_array_get(r, 0), *b = json_array_get(r, 1);
    if ((!json_is_number(a) && !json_is_null(a)) || (!json_is_number(b) && !json_is_null(b)))
        return bad(p, full, "expected [lo, hi] with numbers or null");
    *lo = json_is_null(a) ? -(double) INFINITY : json_number_value(a);
    *hi = json_is_null(b) ? (double) INFINITY : json_number_value(b);
    if (!(*lo <= *hi))
        return bad(p, full, "lo must not exceed hi");
    return LM_OK;
}

/* The index of string v among the first n reduce_names (n when it is none of them). */
static size_t reduce_index(const json_t *v, size_t n) {
    size_t i = 0;
    while (i < n && !(json_is_string(v) && strcmp(json_string_value(v), reduce_names[i]) == 0))
        i++;
    return i;
}

static lm_status parse_claim(pctx *p, json_t *o, size_t idx, const variant *full, fclaim *c) {
    char where[64];
    snprintf(where, sizeof where, "claims[%zu]", idx);
    if (!json_is_object(o))
        return bad(p, where, "expected an object");
    static const char *const keys[] = {
        "name", "kind", "metric", "x",     "where",     "step",   "from",        "window",
        "stat", "band", "reduce", "range", "predicted", "reason", "uncertainty", "reported"};
    LM_TRY(check_keys(p, o, where, keys, sizeof keys / sizeof *keys));
    char full_key[96];
    snprintf(full_key, sizeof full_key, "%s.name", where);
    LM_TRY(get_str(p, o, "name", full_key, 1, &c->name));
    snprintf(full_key, sizeof full_key, "%s.metric", where);
    LM_TRY(get_str(p, o, "metric", full_key, 1, &c->metric));
    snprintf(full_key, sizeof full_key, "%s.predicted", where);
    LM_TRY(get_str(p, o, "predicted", full_key, 1, &c->predicted));
    snprintf(full_key, sizeof full_key, "%s.reason", where);
    LM_TRY(get_str(p, o, "reason", full_key, 1, &c->reason));
    if (!*c->reason) {
        snprintf(full_key, sizeof full_key, "%s.reason", where);
        return bad(p, full_key, "every tolerance needs its reason: it must not be empty");
    }
    json_t *v = json_object_get(o, "kind");
    c->slope = 0;
    if (v) {
        if (!json_is_string(v) || (strcmp(json_string_value(v), "value") != 0 &&
                                   strcmp(json_string_value(v), "slope") != 0)) {
            snprintf(full_key, sizeof full_key, "%s.kind", where);
            return bad(p, full_key, "expected \"value\" or \"slope\"");
        }
        c->slope = strcmp(json_string_value(v), "slope") == 0;
    }
    c->reported = 0;
    if ((v = json_object_get(o, "reported"))) {
        snprintf(full_key, sizeof full_key, "%s.reported", where);
        if (!json_is_boolean(v))
            return bad(p, full_key, "expected true or false");
        c->reported = json_is_true(v);
    }
    snprintf(full_key, sizeof full_key, "%s.range", where);
    c->lo = c->hi = LM_NAN;
    if (c->reported) {
        if (json_object_get(o, "range"))
            return bad(p, full_key,
                       "a reported figure has no tolerance (no verdict): drop range, or drop "
                       "\"reported\" to make it a claim");
    } else {
        if (!(v = json_object_get(o, "range")))
            return bad(p, full_key, "required [lo, hi] is missing");
        LM_TRY(parse_range(p, v, full_key, &c->lo, &c->hi));
    }
    c->stated_u = LM_NAN; /* not stated */
    if ((v = json_object_get(o, "uncertainty"))) {
        snprintf(full_key, sizeof full_key, "%s.uncertainty", where);
        if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0)
            return bad(p, full_key,
                       "expected a number >= 0 (the stated numerical error of each run's value)");
        if (c->slope)
            return bad(p, full_key,
                       "a slope's uncertainty comes from the fit and the seeds; only value "
                       "claims take a stated uncertainty");
        c->stated_u = json_number_value(v);
    }
    c->step = -1;
    if ((v = json_object_get(o, "step"))) {
        snprintf(full_key, sizeof full_key, "%s.step", where);
        if (json_is_string(v) && strcmp(json_string_value(v), "last") == 0)
            c->step = -1;
        else if (json_is_integer(v) && json_integer_value(v) >= 0)
            c->step = (int64_t) json_integer_value(v);
        else
            return bad(p, full_key, "expected \"last\" or a step number >= 0");
    }
    c->window = 1;
    if ((v = json_object_get(o, "window"))) {
        snprintf(full_key, sizeof full_key, "%s.window", where);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 100000)
            return bad(p, full_key, "expected an integer from 1 to 100000");
        c->window = (size_t) json_integer_value(v);
    }
    c->from = -1;
    if ((v = json_object_get(o, "from"))) {
        snprintf(full_key, sizeof full_key, "%s.from", where);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return bad(p, full_key, "expected a step number >= 0");
        if (json_object_get(o, "window"))
            return bad(p, full_key,
                       "give either from (every record from that step on) or window "
                       "(the last records), not both");
        if (c->step >= 0 && json_integer_value(v) > c->step)
            return bad(p, full_key, "from must not lie after step");
        c->from = (int64_t) json_integer_value(v);
    }
    c->stat = R_MEAN;
    if ((v = json_object_get(o, "stat"))) {
        snprintf(full_key, sizeof full_key, "%s.stat", where);
        const size_t i = reduce_index(v, 5);
        if (i == 5)
            return bad(p, full_key,
                       "expected \"mean\", \"median\", \"min\", \"max\" or \"frac_in\"");
        c->stat = (reduce_kind) i;
    }
    snprintf(full_key, sizeof full_key, "%s.band", where);
    if ((v = json_object_get(o, "band"))) {
        if (c->stat != R_FRAC_IN)
            return bad(p, full_key, "only stat \"frac_in\" takes a band");
        LM_TRY(parse_range(p, v, full_key, &c->band_lo, &c->band_hi));
    } else if (c->stat == R_FRAC_IN) {
        return bad(p, full_key, "stat \"frac_in\" needs a band [lo, hi]");
    }
    c->reduce = R_MEAN;
    if ((v = json_object_get(o, "reduce"))) {
        snprintf(full_key, sizeof full_key, "%s.reduce", where);
        const size_t i = reduce_index(v, 4);
        if (i == 4)
            return bad(p, full_key, "expected \"mean\", \"median\", \"min\" or \"max\"");
        c->reduce = (reduce_kind) i;
    }
    if ((v = json_object_get(o, "where"))) {
        snprintf(full_key, sizeof full_key, "%s.where", where);
        if (!json_is_object(v))
            return bad(p, full_key, "expected an object of swept KEY: value");
        const char *k;
        json_t *val;
        json_object_foreach(v, k, val) {
            if (find_sweep(full, k, strlen(k)) < 0)
                LM_FAIL(p->err, LM_EINVAL, "%s: %s.%s: not a swept key", p->origin, full_key, k);
        }
        c->where = json_incref(v);
    }
    c->x_index = -1;
    if (c->slope) {
        snprintf(full_key, sizeof full_key, "%s.x", where);
        LM_TRY(get_str(p, o, "x", full_key, 1, &c->x_key));
        const char *br = strchr(c->x_key, '[');
        size_t len = br ? (size_t) (br - c->x_key) : strlen(c->x_key);
        if (br) {
            char *end;
            long i = strtol(br + 1, &end, 10);
            if (end == br + 1 || *end != ']' || end[1] || i < 0)
                return bad(p, full_key, "expected KEY or KEY[INDEX]");
            c->x_index = i;
        }
        const int s = find_sweep(full, c->x_key, len);
        if (s < 0)
            return bad(p, full_key, "x must be a swept key");
        c->x_sweep = (size_t) s;
    } else if (json_object_get(o, "x")) {
        snprintf(full_key, sizeof full_key, "%s.x", where);
        return bad(p, full_key, "only slope claims take an x");
    }
    return LM_OK;
}

/* The whole file as a NUL-terminated string (lm_malloc'ed). */
static lm_status read_text(const char *path, char **out, lm_err *err) {
    uint8_t *buf = NULL;
    size_t len = 0;
    LM_TRY(lm_file_read(path, &buf, &len, err));
    char *t = lm_malloc(len + 1);
    if (!t) {
        lm_free(buf);
        LM_FAIL(err, LM_ENOMEM, "out of memory reading %s", path);
    }
    memcpy(t, buf, len);
    t[len] = 0;
    lm_free(buf);
    *out = t;
    return LM_OK;
}

static lm_status plan_file(const lm_experiment *e, int quick, lm_exp_plan *plan, lm_err *err);
static lm_status analyse_file(const lm_experiment *e, lm_exp_ctx *ctx, lm_err *err);

void lm_exp_file_free(lm_experiment *e) {
    if (!e)
        return;
    fexp *x = (fexp *) e;
    lm_free(x->name);
    lm_free(x->summary);
    lm_free(x->quick_note);
    lm_free(x->path);
    lm_free(x->base);
    variant_clear(&x->full);
    variant_clear(&x->quick);
    for (size_t i = 0; i < x->n_claims; i++) {
        fclaim *c = &x->claims[i];
        lm_free(c->name);
        lm_free(c->metric);
        lm_free(c->predicted);
        lm_free(c->reason);
        lm_free(c->x_key);
        json_decref(c->where);
    }
    lm_free(x);
}

static lm_status parse_root(pctx *p, json_t *root, const char *dir, fexp *x) {
    if (!json_is_object(root))
        LM_FAIL(p->err, LM_EINVAL, "%s: expected a JSON object at the top level", p->origin);
    static const char *const keys[] = {"experiment", "summary", "base",  "set",
                                       "sweep",      "quick",   "claims"};
    LM_TRY(check_keys(p, root, "", keys, sizeof keys / sizeof *keys));
    LM_TRY(get_str(p, root, "experiment", "experiment", 1, &x->name));
    if (!*x->name || strlen(x->name) > 64)
        return bad(p, "experiment", "a name of 1 to 64 characters");
    for (const char *s = x->name; *s; s++)
        if (!isalnum((unsigned char) *s) && *s != '-' && *s != '_')
            return bad(p, "experiment", "letters, digits, '-' and '_' only");
    LM_TRY(get_str(p, root, "summary", "summary", 0, &x->summary));
    json_t *v = json_object_get(root, "base");
    if (!v)
        return bad(p, "base", "required (a run configuration object, or the path of one)");
    if (json_is_object(v)) {
        if (!(x->base = lm__json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(17))))
            LM_FAIL(p->err, LM_ENOMEM, "out of memory");
        char *copy = dup_str(x->base); /* json_dumps' memory is malloc's, ours is lm_malloc's */
        free(x->base);
        if (!(x->base = copy))
            LM_FAIL(p->err, LM_ENOMEM, "out of memory");
    } else if (json_is_string(v)) {
        const char *rel = json_string_value(v);
        char path[LM_PATH_MAX];
        if (rel[0] == '/' || !*dir)
            snprintf(path, sizeof path, "%s", rel);
        else
            snprintf(path, sizeof path, "%s/%s", dir, rel);
        lm_status st = read_text(path, &x->base, p->err);
        if (st != LM_OK) {
            lm_err_prefix(p->err, "%s: base: ", p->origin);
            return st;
        }
    } else {
        return bad(p, "base", "expected a run configuration object or a path string");
    }
    if ((v = json_object_get(root, "set")))
        LM_TRY(parse_sets(p, v, "set", &x->full));
    if ((v = json_object_get(root, "sweep")))
        LM_TRY(parse_sweep(p, v, "sweep", &x->full));
    LM_TRY(variant_copy(p, &x->full, &x->quick));
    if ((v = json_object_get(root, "quick"))) {
        if (!json_is_object(v))
            return bad(p, "quick", "expected an object {note, set, sweep}");
        static const char *const qkeys[] = {"note", "set", "sweep"};
        LM_TRY(check_keys(p, v, "quick", qkeys, 3));
        LM_TRY(get_str(p, v, "note", "quick.note", 0, &x->quick_note));
        json_t *q;
        if ((q = json_object_get(v, "set")))
            LM_TRY(parse_sets(p, q, "quick.set", &x->quick));
        if ((q = json_object_get(v, "sweep")))
            LM_TRY(parse_sweep(p, q, "quick.sweep", &x->quick));
    } else if (!(x->quick_note = dup_str("the same as the full variant"))) {
        LM_FAIL(p->err, LM_ENOMEM, "out of memory");
    }
    if (n_runs(&x->full) > LM_EXP_MAX_RUNS || n_runs(&x->quick) > LM_EXP_MAX_RUNS)
        LM_FAIL(p->err, LM_ELIMIT, "%s: sweep: more than %d runs", p->origin, LM_EXP_MAX_RUNS);
    if ((v = json_object_get(root, "claims"))) {
        if (!json_is_array(v))
            return bad(p, "claims", "expected an array");
        if (json_array_size(v) > MAX_CLAIMS)
            LM_FAIL(p->err, LM_ELIMIT, "%s: claims: at most %d", p->origin, MAX_CLAIMS);
        for (size_t i = 0; i < json_array_size(v); i++) {
            x->n_claims++;
            LM_TRY(parse_claim(p, json_array_get(v, i), i, &x->full, &x->claims[i]));
        }
    }
    /* quick may only add sweep values, not keys that claims do not know: check slope x's */
    for (size_t i = 0; i < x->n_claims; i++)
        if (x->claims[i].slope && find_sweep(&x->quick, x->full.sweep_key[x->claims[i].x_sweep],
                                             strlen(x->full.sweep_key[x->claims[i].x_sweep])) < 0)
            return bad(p, "quick.sweep", "lost a key a slope claim needs");
    return LM_OK;
}

lm_status lm_exp_file_parse(const char *text, size_t len, const char *origin, const char *dir,
                            lm_experiment **out, lm_err *err) {
    json_error_t je;
    int oom = 0;
    json_t *root = lm__json_loadb(text, len, JSON_REJECT_DUPLICATES, &je, &oom);
    if (oom)
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory parsing JSON", origin);
    if (!root)
        LM_FAIL(err, LM_EFORMAT, "%s:%d:%d: %s", origin, je.line, je.column, je.text);
    fexp *x = lm_calloc(1, sizeof *x);
    if (!x) {
        json_decref(root);
        LM_FAIL(err, LM_ENOMEM, "out of memory parsing %s", origin);
    }
    pctx p = {origin, err};
    lm_status st = parse_root(&p, root, dir ? dir : "", x);
    json_decref(root);
    if (st == LM_OK && !(x->path = dup_str(origin)))
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    if (st != LM_OK) {
        lm_exp_file_free(&x->e);
        return st;
    }
    x->e.name = x->name;
    x->e.summary = x->summary;
    x->e.quick = x->quick_note;
    x->e.plan_with = plan_file;
    x->e.analyse_with = analyse_file;
    x->e.data = x;
    *out = &x->e;
    return LM_OK;
}

lm_status lm_exp_file_load(const char *path, lm_experiment **out, lm_err *err) {
    char *text = NULL;
    LM_TRY(read_text(path, &text, err));
    char dir[LM_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        dir[0] = 0;
    lm_status st = lm_exp_file_parse(text, strlen(text), path, dir, out, err);
    lm_free(text);
    return st;
}

/* ---------------------------------------------------------------- plan */

/* The sweep values of run r (mixed radix, the last key fastest). */
static json_t *run_value(const variant *v, size_t r, size_t key) {
    size_t div = 1;
    for (size_t k = v->n_sweep; k-- > key + 1;)
        div *= json_array_size(v->sweep_val[k]);
    return json_array_get(v->sweep_val[key], (r / div) % json_array_size(v->sweep_val[key]));
}

/* x with the fewest significant digits that read back as the same double. */
static void shortest_real(double x, char *buf, size_t cap) {
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

static lm_status plan_file(const lm_experiment *e, int quick, lm_exp_plan *plan, lm_err *err) {
    const fexp *x = e->data;
    const variant *v = quick ? &x->quick : &x->full;
    const size_t n = n_runs(v);
    for (size_t r = 0; r < n; r++) {
        const char *sets[MAX_SETS + MAX_SWEEP];
        char *owned[MAX_SWEEP] = {0};
        size_t ns = 0;
        for (size_t i = 0; i < v->n_sets; i++)
            sets[ns++] = v->sets[i];
        char label[96] = "";
        size_t ll = 0;
        lm_status st = LM_OK;
        for (size_t k = 0; k < v->n_sweep && st == LM_OK; k++) {
            char *js = lm__json_dumps(run_value(v, r, k),
                                      JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
            const size_t len = js ? strlen(v->sweep_key[k]) + strlen(js) + 2 : 0;
            owned[k] = js ? lm_malloc(len) : NULL;
            if (!owned[k]) {
                free(js);
                st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
                break;
            }
            snprintf(owned[k], len, "%s=%s", v->sweep_key[k], js);
            free(js);
            sets[ns++] = owned[k];
            char shown[48]; /* the label: a real in its shortest round-trip form (0.1, not the
                             * 0.10000000000000001 the override needs to be exact) */
            const json_t *val = run_value(v, r, k);
            if (json_is_real(val))
                shortest_real(json_real_value(val), shown, sizeof shown);
            if (ll < sizeof label)
                ll += (size_t) snprintf(label + ll, sizeof label - ll, "%s%s", k ? " " : "",
                                        json_is_real(val) ? v->sweep_key[k] : owned[k]);
            if (json_is_real(val) && ll < sizeof label)
                ll += (size_t) snprintf(label + ll, sizeof label - ll, "=%s", shown);
        }
        if (!v->n_sweep)
            snprintf(label, sizeof label, "run");
        if (st == LM_OK)
            st = lm_exp_plan_add(plan, label, x->base, ns, sets, err);
        for (size_t k = 0; k < MAX_SWEEP; k++)
            lm_free(owned[k]);
        if (st != LM_OK) {
            lm_err_prefix(err, "%s: run %zu: ", x->path, r);
            return st;
        }
    }
    return LM_OK;
}

/* ---------------------------------------------------------------- analyse */

static int matches(const variant *v, size_t r, const json_t *where) {
    if (!where)
        return 1;
    const char *k;
    json_t *want;
    json_object_foreach((json_t *) where, k, want) {
        const int s = find_sweep(v, k, strlen(k));
        if (s < 0)
            return 0;
        const json_t *got = run_value(v, r, (size_t) s);
        if (json_is_number(want) && json_is_number(got)) {
            const double a = json_number_value(want), b = json_number_value(got);
            if (fabs(a - b) > 1e-12 * fmax(fabs(a), fabs(b)))
                return 0;
        } else if (!json_equal((json_t *) want, (json_t *) got)) {
            return 0;
        }
    }
    return 1;
}

#define SERIES_CAP 200000 /* records of one metric of one run (steps / eval_every) */

static double reduce(double *v, size_t n, reduce_kind k) {
    if (n == 0)
        return LM_NAN;
    double r = v[0];
    switch (k) {
    case R_MEAN:
        r = 0;
        for (size_t i = 0; i < n; i++)
            r += v[i];
        return r / (double) n;
    case R_MEDIAN:
        return lm__exp_median_sort(v, n);
    case R_MIN:
        for (size_t i = 1; i < n; i++)
            r = fmin(r, v[i]);
        return r;
    case R_MAX:
        for (size_t i = 1; i < n; i++)
            r = fmax(r, v[i]);
        return r;
    case R_FRAC_IN: /* a run's records only: needs the band, see run_metric */
        break;
    }
    return LM_NAN;
}

/* The metric of one run: the claim's statistic of the selected records at or before its step
 * (NaN when none was recorded, or one of them is not finite: a diverged run must not pass). */
static lm_status run_metric(lm_exp_ctx *ctx, int64_t run, const fclaim *c, int64_t *st_buf,
                            double *v_buf, double *out, lm_err *err) {
    *out = LM_NAN;
    if (run <= 0)
        return LM_OK;
    size_t n = 0;
    LM_TRY(lm_exp_series(ctx, run, c->metric, SERIES_CAP, st_buf, v_buf, &n, err));
    size_t end = n; /* one past the last record used */
    if (c->step >= 0) {
        end = 0;
        while (end < n && st_buf[end] <= c->step)
            end++;
    }
    size_t begin = end - (c->window < end ? c->window : end);
    if (c->from >= 0) {
        begin = 0;
        while (begin < end && st_buf[begin] < c->from)
            begin++;
    }
    if (begin == end)
        return LM_OK;
    double *v = v_buf + begin;
    const size_t cnt = end - begin;
    for (size_t i = 0; i < cnt; i++)
        if (!isfinite(v[i]))
            return LM_OK;
    if (c->stat != R_FRAC_IN) {
        *out = reduce(v, cnt, c->stat);
        return LM_OK;
    }
    size_t in = 0;
    for (size_t i = 0; i < cnt; i++)
        in += v[i] >= c->band_lo && v[i] <= c->band_hi;
    *out = (double) in / (double) cnt;
    return LM_OK;
}

/* Whether each run contributes a statistic of several records, not its last value. */
static int per_run_stat(const fclaim *c) {
    return c->stat != R_MEAN || c->window > 1 || c->from >= 0;
}

/* What one run contributes, in words: "sharpness", "mean of sharpness (last 50 records)",
 * "frac_in [18, 22] of sharpness from step 1000". */
static void describe_per_run(const fclaim *c, char *buf, size_t cap) {
    char stat[64] = "", sel[48] = "";
    if (c->stat == R_FRAC_IN)
        snprintf(stat, sizeof stat, "frac_in [%g, %g] of ", c->band_lo, c->band_hi);
    else if (per_run_stat(c))
        snprintf(stat, sizeof stat, "%s of ", reduce_names[c->stat]);
    if (c->from >= 0)
        snprintf(sel, sizeof sel, " from step %lld", (long long) c->from);
    else if (c->window > 1)
        snprintf(sel, sizeof sel, " (last %zu records)", c->window);
    snprintf(buf, cap, "%s%s%s", stat, c->metric, sel);
}

/* x of run r for a slope claim (NaN when it is not a positive number). */
static double run_x(const variant *v, size_t r, const fclaim *c) {
    const json_t *val = run_value(v, r, c->x_sweep);
    if (c->x_index >= 0)
        val = json_is_array(val) ? json_array_get(val, (size_t) c->x_index) : NULL;
    if (!val || !json_is_number(val))
        return LM_NAN;
    const double x = json_number_value(val);
    return x > 0 ? x : LM_NAN;
}

/* The predicted number a range stands for: its middle, or its one finite end. */
static double range_mid(const fclaim *c) {
    return isfinite(c->lo) && isfinite(c->hi) ? 0.5 * (c->lo + c->hi)
           : isfinite(c->lo)                  ? c->lo
                                              : c->hi;
}

/* The figure of a slope claim: the per-x mean over seeds with its 95 % interval (2 standard
 * errors; none for one run) and the predicted law x^p (p the middle of the range, or its finite
 * end) drawn through the data. */
static lm_status slope_figure(lm_exp_ctx *ctx, const fexp *x, const fclaim *c, size_t n,
                              const double *xs, const double *vals, lm_err *err) {
    double *w = lm_malloc(5 * (n + 1) * sizeof *w);
    if (!w)
        LM_FAIL(err, LM_ENOMEM, "out of memory for the figure of claim %s", c->name);
    double *gx = w, *gm = w + n + 1, *gu = w + 2 * (n + 1), *py = w + 3 * (n + 1);
    double *tmp = w + 4 * (n + 1);
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < ng && gx[k] != xs[i])
            k++;
        if (k < ng)
            continue;
        size_t m = 0;
        for (size_t j = 0; j < n; j++)
            if (xs[j] == xs[i])
                tmp[m++] = vals[j];
        gx[ng] = xs[i];
        lm__exp_mean_u(m, tmp, &gm[ng], &gu[ng]);
        ng++;
    }
    /* ascending x, for the lines */
    for (size_t i = 1; i < ng; i++)
        for (size_t j = i; j > 0 && gx[j - 1] > gx[j]; j--) {
            double t = gx[j];
            gx[j] = gx[j - 1];
            gx[j - 1] = t;
            t = gm[j];
            gm[j] = gm[j - 1];
            gm[j - 1] = t;
            t = gu[j];
            gu[j] = gu[j - 1];
            gu[j - 1] = t;
        }
    const double p = range_mid(c);
    lm__exp_law_line(ng, gx, gm, p, py);
    char pl[64], fname[96];
    snprintf(pl, sizeof pl, "predicted %s^%g", c->x_key, p);
    snprintf(fname, sizeof fname, "claim-%zu", (size_t) (c - x->claims));
    const lm__exp_fig_series sr = {c->metric, ng, gx, gm, gu, pl, isfinite(p) ? ng : 0, gx, py};
    lm_status st = lm__exp_figure_law(ctx, fname, c->name, c->x_key, c->metric, 1, 1, 1, &sr, err);
    lm_free(w);
    return st;
}

/* The value claim's measurement over the runs' values v[0..n): m and the half-width u of its
 * 95 % interval, and how u was obtained (science.md §0; docs/experiments.md "Uncertainty"). */
static void value_measure(const fclaim *c, double *v, size_t n, size_t runs_used, double *m,
                          double *u, char *how, size_t cap) {
    *m = *u = LM_NAN;
    if (n == 0) {
        snprintf(how, cap, "no run");
        return;
    }
    const int has = isfinite(c->stated_u);
    char stated[48] = ""; /* " plus the stated numerical error " and a %g */
    if (has && c->stated_u > 0)
        snprintf(stated, sizeof stated, " plus the stated numerical error %g", c->stated_u);
    switch (c->reduce) {
    case R_MEAN:
    case R_MEDIAN:
        if (c->reduce == R_MEAN)
            lm__exp_mean_u(n, v, m, u);
        else
            lm__exp_median_u(n, v, 0x3ed1a4u, m, u);
        if (n >= 2)
            snprintf(how, cap,
                     c->reduce == R_MEAN ? "2 standard errors of the mean over %zu runs%s"
                                         : "95 %% bootstrap interval of the median over %zu runs%s",
                     runs_used, stated);
        else if (has)
            snprintf(how, cap, "one run: the stated numerical error %g%s", c->stated_u,
                     c->stated_u == 0 ? " (exact)" : "");
        else
            snprintf(how, cap,
                     "one run has no spread: sweep seeds, or state the run's numerical "
                     "\"uncertainty\"");
        if (n == 1 && has)
            *u = 0;
        break;
    case R_MIN:
    case R_MAX:
        *m = reduce(v, n, c->reduce);
        *u = 0;
        snprintf(how, cap,
                 "u = 0: the %s over %zu runs is an extreme, not an estimate, and carries no "
                 "sampling interval%s",
                 reduce_names[c->reduce], runs_used, stated);
        break;
    case R_FRAC_IN:
        break;
    }
    /* a systematic numerical error does not average out over runs: it adds */
    if (isfinite(*u) && has)
        *u += c->stated_u;
    if (!isfinite(*u))
        *u = LM_NAN;
}

static lm_status judge(lm_exp_ctx *ctx, const fexp *x, const variant *v, const fclaim *c,
                       int64_t *st_buf, double *v_buf, double *vals, double *xs, lm_err *err) {
    size_t n = 0, missing = 0;
    int64_t used[LM_EXP_MAX_RUNS];
    for (size_t r = 0; r < ctx->n_runs; r++) {
        if (!matches(v, r, c->where))
            continue;
        double m;
        LM_TRY(run_metric(ctx, ctx->run[r], c, st_buf, v_buf, &m, err));
        if (!isfinite(m)) {
            missing++;
            continue;
        }
        used[n] = ctx->run[r];
        vals[n] = m;
        xs[n] = c->slope ? run_x(v, r, c) : 0.0;
        n++;
    }
    char tol[160], how[256] = "", detail[256] = "";
    double measured = LM_NAN, u = LM_NAN;
    size_t n_seeds = 0;
    const int stat = per_run_stat(c);
    if (!c->slope) {
        if (missing == 0)
            value_measure(c, vals, n, n, &measured, &u, how, sizeof how);
        n_seeds = c->reduce == R_MEAN || c->reduce == R_MEDIAN ? n : 0;
        const int k = snprintf(tol, sizeof tol, "%s of %s%s%s%s over %zu runs ",
                               reduce_names[c->reduce], stat ? reduce_names[c->stat] : "",
                               stat ? "(" : "", c->metric, stat ? ")" : "", n);
        if (k > 0 && (size_t) k < sizeof tol && c->reported)
            snprintf(tol + k, sizeof tol - (size_t) k, "(reported, no tolerance)");
        else if (k > 0 && (size_t) k < sizeof tol)
            snprintf(tol + k, sizeof tol - (size_t) k, "in [%g, %g]", c->lo, c->hi);
    } else {
        /* log of the per-x mean (over seeds) against log x; u from a bootstrap over seeds */
        int seeds = 0;
        size_t nx = 0;
        if (missing == 0 && n > 0)
            nx = lm__exp_loglog_slope_u(n, xs, vals, 0x51093u, &measured, &u, &seeds);
        if (nx < 3) {
            measured = u = LM_NAN;
            if (missing == 0)
                snprintf(detail, sizeof detail, "a slope needs at least 3 distinct %s (have %zu)",
                         c->x_key, nx);
        }
        n_seeds = seeds ? n / (nx ? nx : 1) : 0;
        snprintf(how, sizeof how,
                 seeds ? "95 %% bootstrap interval over seeds (the runs at each %s resampled "
                         "among themselves)"
                       : "2 standard errors of the least-squares slope (one run per %s, no "
                         "seeds to resample)",
                 c->x_key);
        if (isfinite(measured))
            LM_TRY(slope_figure(ctx, x, c, n, xs, vals, err));
        snprintf(tol, sizeof tol, "log-log slope of %s against %s over %zu points in [%g, %g]",
                 c->metric, c->x_key, nx, c->lo, c->hi);
    }
    if (missing)
        snprintf(detail, sizeof detail,
                 "%zu matching run(s) have no finite %s at the claim's step (failed, diverged or "
                 "not recorded)",
                 missing, c->metric);
    else if (stat && !detail[0]) {
        memcpy(detail, "per run: ", 10);
        describe_per_run(c, detail + 9, sizeof detail - 9);
    }
    lm_exp_judge(ctx, &(lm_claim_spec){
                          .name = c->name,
                          .predicted = c->predicted,
                          .predicted_value = c->reported ? LM_NAN : range_mid(c),
                          .measured = measured,
                          .uncertainty = u,
                          .uncertainty_from = how,
                          .n_seeds = n_seeds,
                          .lo = c->lo,
                          .hi = c->hi,
                          .tolerance = tol,
                          .tolerance_value = 0.5 * (c->hi - c->lo),
                          .reason = c->reason,
                          .detail = detail,
                          .reported = c->reported,
                          .n_runs = n,
                          .runs = used,
                      });
    return LM_OK;
}

static lm_status analyse_file(const lm_experiment *e, lm_exp_ctx *ctx, lm_err *err) {
    const fexp *x = e->data;
    const variant *v = ctx->quick ? &x->quick : &x->full;
    int64_t *st_buf = lm_malloc(SERIES_CAP * sizeof *st_buf);
    double *v_buf = lm_malloc(SERIES_CAP * sizeof *v_buf);
    double *vals = lm_malloc(LM_EXP_MAX_RUNS * sizeof *vals);
    double *xs = lm_malloc(LM_EXP_MAX_RUNS * sizeof *xs);
    lm_status st = LM_OK;
    if (!st_buf || !v_buf || !vals || !xs)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory analysing %s", x->path);
    for (size_t i = 0; st == LM_OK && i < x->n_claims; i++)
        st = judge(ctx, x, v, &x->claims[i], st_buf, v_buf, vals, xs, err);
    lm_free(st_buf);
    lm_free(v_buf);
    lm_free(vals);
    lm_free(xs);
    return st;
}
