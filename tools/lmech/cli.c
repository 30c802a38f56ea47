/*
 * cli.c: what every lmech command shares: argument parsing, error and usage messages, JSON
 * output. Kept apart from main.c so the argument parser has a fuzz target of its own
 * (tests/fuzz/fuzz_cli.c).
 */
#include "cli.h"
#include "lmech/data.h"
#include "lmech/io.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cli_fail(const char *cmd, const lm_err *err) {
    fprintf(stderr, "lmech %s: error: %s\n", cmd,
            err->msg[0] ? err->msg : lm_status_str(err->code));
    return CLI_FAIL;
}

int cli_usage(const char *cmd, const char *usage_text, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lmech %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nusage: %s\n", usage_text);
    va_end(ap);
    return CLI_USAGE;
}

static int allowed_flag(const char *allowed, const char *flag) {
    size_t n = strlen(flag);
    if (n == 0) /* "--" or "--=x": strstr("") would match forever */
        return 0;
    for (const char *p = allowed; (p = strstr(p, flag)) != NULL; p += n)
        if ((p == allowed || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

/* Flags that take a value and only store it: name and the cli_opts field. */
static const struct value_flag {
    const char *name;
    size_t off;
} VALUE_FLAGS[] = {
    {"db", offsetof(cli_opts, db)},
    {"init", offsetof(cli_opts, init)},
    {"save", offsetof(cli_opts, save)},
    {"format", offsetof(cli_opts, format)},
    {"top", offsetof(cli_opts, top)},
    {"smallest", offsetof(cli_opts, smallest)},
    {"method", offsetof(cli_opts, method)},
    {"tol", offsetof(cli_opts, tol)},
    {"max-iter", offsetof(cli_opts, max_iter)},
    {"probes", offsetof(cli_opts, probes)},
    {"slq-probes", offsetof(cli_opts, slq_probes)},
    {"slq-steps", offsetof(cli_opts, slq_steps)},
    {"bins", offsetof(cli_opts, bins)},
    {"seed", offsetof(cli_opts, seed)},
    {"max-memory", offsetof(cli_opts, max_memory)},
    {"jobs", offsetof(cli_opts, jobs)},
    {"out", offsetof(cli_opts, out)},
    {"inputs", offsetof(cli_opts, inputs)},
    {"depth", offsetof(cli_opts, depth)},
    {"activation", offsetof(cli_opts, activation)},
    {"sw2", offsetof(cli_opts, sw2)},
    {"sb2", offsetof(cli_opts, sb2)},
    {"kind", offsetof(cli_opts, kind)},
    {"param", offsetof(cli_opts, param)},
    {"width", offsetof(cli_opts, width)},
    {"base-width", offsetof(cli_opts, base_width)},
    {"predict", offsetof(cli_opts, predict)},
    {"targets", offsetof(cli_opts, targets)},
    {"test", offsetof(cli_opts, test)},
    {"test-targets", offsetof(cli_opts, test_targets)},
    {"noise", offsetof(cli_opts, noise)},
    {"time", offsetof(cli_opts, times)},
    {"lr", offsetof(cli_opts, lr)},
    {"loss", offsetof(cli_opts, loss)},
    {"empirical", offsetof(cli_opts, empirical)},
    {"s", offsetof(cli_opts, s)},
    {"u0", offsetof(cli_opts, u0)},
    {"eigenvalues", offsetof(cli_opts, eigenvalues)},
    {"coeffs", offsetof(cli_opts, coeffs)},
    {"kernel", offsetof(cli_opts, kernel)},
    {"n", offsetof(cli_opts, n)},
    {"ridge", offsetof(cli_opts, ridge)},
    {"law", offsetof(cli_opts, law)},
    {"columns", offsetof(cli_opts, columns)},
    {"bootstrap", offsetof(cli_opts, bootstrap)},
    {"compute", offsetof(cli_opts, compute)},
    {"experiment", offsetof(cli_opts, experiment)},
    {"metric", offsetof(cli_opts, metric)},
    {"keys", offsetof(cli_opts, keys)},
    {"k", offsetof(cli_opts, k)},
    {"null", offsetof(cli_opts, null_n)},
    {"layer", offsetof(cli_opts, layer)},
    {"gof", offsetof(cli_opts, gof)},
};

/* Flags without a value: name and the int field they set to 1. */
static const struct value_flag BOOL_FLAGS[] = {
    {"json", offsetof(cli_opts, json)},
    {"quiet", offsetof(cli_opts, quiet)},
    {"trace", offsetof(cli_opts, trace)},
    {"density", offsetof(cli_opts, density)},
    {"quick", offsetof(cli_opts, quick)},
    {"list", offsetof(cli_opts, list)},
    {"bias", offsetof(cli_opts, bias)},
    {"no-bias", offsetof(cli_opts, no_bias)},
    {"gd", offsetof(cli_opts, gd)},
    {"per-layer", offsetof(cli_opts, per_layer)},
    {"experiments", offsetof(cli_opts, experiments)},
    {"mpi", offsetof(cli_opts, mpi)}, /* issue 17: lmech train --mpi */
};

int cli_parse(const char *cmd, const char *usage_text, int argc, char **argv, const char *allowed,
              cli_opts *o) {
    memset(o, 0, sizeof *o);
    o->db = CLI_DEFAULT_DB;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf("usage: %s\n", usage_text);
            return CLI_HELP;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (!o->config && allowed_flag(allowed, "CONFIG"))
                o->config = a;
            else if (!o->positional && allowed_flag(allowed, "RUN"))
                o->positional = a;
            else if (allowed_flag(allowed, "ARGS") && o->n_args < CLI_MAX_ARGS)
                o->args[o->n_args++] = a;
            else
                return cli_usage(cmd, usage_text, "unexpected argument \"%s\"", a);
            continue;
        }
        const char *flag = a + 2;
        const char *eq = strchr(flag, '=');
        char name[32];
        size_t len = eq ? (size_t) (eq - flag) : strlen(flag);
        if (len >= sizeof name ||
            !allowed_flag(allowed, (snprintf(name, sizeof name, "%.*s", (int) len, flag), name)))
            return cli_usage(cmd, usage_text, "unknown option \"%s\"", a);
        int is_bool = 0;
        for (size_t b = 0; b < sizeof BOOL_FLAGS / sizeof *BOOL_FLAGS; b++)
            if (strcmp(name, BOOL_FLAGS[b].name) == 0) {
                *(int *) (void *) ((char *) o + BOOL_FLAGS[b].off) = 1;
                is_bool = 1;
            }
        if (is_bool)
            continue;
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val)
            return cli_usage(cmd, usage_text, "option --%s needs a value", name);
        for (size_t v = 0; v < sizeof VALUE_FLAGS / sizeof *VALUE_FLAGS; v++)
            if (strcmp(name, VALUE_FLAGS[v].name) == 0)
                *(const char **) (void *) ((char *) o + VALUE_FLAGS[v].off) = val;
        if (strcmp(name, "set") == 0) {
            if (o->n_sets == CLI_MAX_SETS)
                return cli_usage(cmd, usage_text, "more than %d --set options", CLI_MAX_SETS);
            o->sets[o->n_sets++] = val;
        }
    }
    if (allowed_flag(allowed, "CONFIG") && !o->config)
        return cli_usage(cmd, usage_text, "missing CONFIG.json");
    if (allowed_flag(allowed, "RUN") && !o->positional)
        return cli_usage(cmd, usage_text, "missing RUN (a run id; see lmech ls)");
    return CLI_OK;
}

void cli_print_json(json_t *v) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    if (s) {
        puts(s);
        free(s);
    }
    fflush(stdout);
    json_decref(v);
}

json_t *cli_json_num(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

/* Loads --init into a new theta buffer sized for cfg's model. */
int cli_parse_size(const char *cmd, const char *usage, const char *name, const char *s, size_t lo,
                   size_t hi, size_t *out) {
    if (!s)
        return 1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
        if (hi == SIZE_MAX)
            cli_usage(cmd, usage, "--%s \"%s\": expected an integer >= %zu", name, s, lo);
        else
            cli_usage(cmd, usage, "--%s \"%s\": expected an integer from %zu to %zu", name, s, lo,
                      hi);
        return 0;
    }
    *out = (size_t) v;
    return 1;
}

lm_status cli_store_open_existing(const char *path, lm_store **s, lm_err *err) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        LM_FAIL(err, LM_EIO,
                "%s: no such run database (lmech train or lmech exp --db %s makes one)", path,
                path);
    return lm_store_open(path, s, err);
}

lm_status cli_load_init(const lm_config *cfg, const char *path, double **theta, lm_err *err) {
    lm_mlp *m;
    LM_TRY(lm_mlp_new(&cfg->model, &m, err));
    double *t = lm_malloc(m->n_params * sizeof *t);
    lm_status st = t ? lm_mlp_load(m, path, t, err)
                     : lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    if (st == LM_OK)
        *theta = t;
    else
        lm_free(t);
    lm_mlp_free(m);
    return st;
}

int cli_parse_double(const char *cmd, const char *usage, const char *name, const char *s,
                     cli_bound bound, double *out) {
    if (!s)
        return 1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE && end != s && !*end) {
        /* strtod's ERANGE: beyond DBL_MAX, or below the normal range (1e-320 is subnormal) */
        cli_usage(cmd, usage, "--%s \"%s\": out of the range of a double (%s)", name, s,
                  fabs(v) < 1 ? "|x| below 2.2e-308" : "|x| above 1.8e308");
        return 0;
    }
    if (errno || end == s || *end || !isfinite(v) || (bound != CLI_ANY && v < 0) ||
        (bound == CLI_POSITIVE && v == 0)) {
        cli_usage(cmd, usage, "--%s \"%s\": expected a finite number%s", name, s,
                  bound == CLI_POSITIVE ? " > 0"
                  : bound == CLI_NONNEG ? " >= 0"
                                        : "");
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_bytes(const char *s, size_t unit, size_t *out) {
    char *end;
    errno = 0;
    if (!s || !isdigit((unsigned char) s[0]))
        return 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return 0;
    double mul = (double) unit;
    int suffix = 1;
    switch (toupper((unsigned char) *end)) {
    case 'K':
        mul = 1024.0;
        end++;
        break;
    case 'M':
        mul = 1048576.0;
        end++;
        break;
    case 'G':
        mul = 1073741824.0;
        end++;
        break;
    default:
        suffix = 0;
        break;
    }
    if (suffix && *end == 'i')
        end++;
    if (*end == 'B' || *end == 'b') { /* "100B": bytes, whatever the unit */
        mul = suffix ? mul : 1.0;
        end++;
    }
    if (*end || v * mul >= 18446744073709551615.0)
        return 0;
    *out = (size_t) (v * mul);
    return 1;
}

lm_status cli_save_npy(const char *dir, const char *name, const double *data, size_t ndim,
                       const size_t *shape, lm_err *err) {
    if (ndim == 0 || ndim > LM_MAX_DIMS)
        LM_FAIL(err, LM_EINVAL, "cli_save_npy: %zu dimensions", ndim);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        LM_FAIL(err, LM_EIO, "%s: cannot create the directory: %s", dir, strerror(errno));
    char path[4096];
    if ((size_t) snprintf(path, sizeof path, "%s/%s.npy", dir, name) >= sizeof path)
        LM_FAIL(err, LM_EINVAL, "%s: path too long", dir);
    lm_array a = {LM_ELT_F64, ndim, {0}, 1, (void *) (uintptr_t) data};
    char shp[160] = "";
    size_t len = 0;
    for (size_t i = 0; i < ndim; i++) {
        a.shape[i] = shape[i];
        a.count *= shape[i];
        len += (size_t) snprintf(shp + len, sizeof shp - len, "%s%zu", i ? ", " : "", shape[i]);
    }
    LM_TRY(lm_npy_write(path, &a, err));
    fprintf(stderr, "wrote %s [%s]\n", path, shp);
    return LM_OK;
}

lm_status cli_load_matrix(const char *path, double **X, size_t *n, size_t *p, lm_err *err) {
    lm_array *a = NULL;
    LM_TRY(lm_npy_read(path, &a, err));
    if (a->ndim != 2 || (a->elt != LM_ELT_F64 && a->elt != LM_ELT_F32)) {
        size_t nd = a->ndim;
        const char *e = lm_elt_name(a->elt);
        lm_array_free(a);
        LM_FAIL(err, LM_ESHAPE, "%s: need a 2-d float32/float64 array [n, p], got %zu-d %s", path,
                nd, e);
    }
    *n = a->shape[0];
    *p = a->shape[1];
    *X = lm_malloc((a->count ? a->count : 1) * sizeof **X);
    if (!*X) {
        lm_array_free(a);
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < a->count; i++)
        (*X)[i] = a->elt == LM_ELT_F64 ? ((double *) a->data)[i] : (double) ((float *) a->data)[i];
    lm_array_free(a);
    return LM_OK;
}

/* A JSON string (quotes, backslashes and control characters escaped). */
static void print_json_str(const char *t) {
    putchar('"');
    for (; *t; t++) {
        const unsigned char ch = (unsigned char) *t;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

/* ,"files":{"name":"DIR/name.npy",...} for the non-NULL names: where --out wrote the arrays. */
void cli_print_npy_files(const char *dir, const char *const *names, size_t n) {
    printf(",\"files\":{");
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.npy", dir, names[i]);
        printf(first ? "\"%s\":" : ",\"%s\":", names[i]);
        print_json_str(path);
        first = 0;
    }
    putchar('}');
}

void cli_print_num(double v) {
    if (isfinite(v))
        printf("%.17g", v);
    else
        printf("null");
}

void cli_print_vector(const double *a, size_t n) {
    putchar('[');
    for (size_t j = 0; j < n; j++) {
        if (j)
            putchar(',');
        cli_print_num(a[j]);
    }
    putchar(']');
}

void cli_print_matrix(const double *a, size_t rows, size_t cols) {
    putchar('[');
    for (size_t i = 0; i < rows; i++) {
        if (i)
            putchar(',');
        cli_print_vector(a + i * cols, cols);
    }
    putchar(']');
}

static volatile int g_cli_stop;

static void cli_on_signal(int sig) {
    (void) sig;
    g_cli_stop = 1;
}

volatile int *cli_stop_on_signals(void) {
    signal(SIGINT, cli_on_signal);
    signal(SIGTERM, cli_on_signal);
    return &g_cli_stop;
}

int cli_parse_list(const char *s, double *out, size_t cap, size_t *n) {
    if (!s || !*s)
        return 0;
    char *end;
    double a = strtod(s, &end);
    if (end != s && *end == ':') { /* START:STOP:COUNT */
        const char *p = end + 1;
        double b = strtod(p, &end);
        if (end == p || *end != ':')
            return 0;
        p = end + 1;
        errno = 0;
        unsigned long long c = strtoull(p, &end, 10);
        if (end == p || *end || errno || *p == '-' || c < 2 || c > cap || !isfinite(a) ||
            !isfinite(b))
            return 0;
        for (size_t i = 0; i < c; i++)
            out[i] = i + 1 == c ? b : a + (b - a) * (double) i / (double) (c - 1);
        *n = (size_t) c;
        return 1;
    }
    size_t k = 0;
    for (const char *p = s;;) {
        double v = strtod(p, &end);
        if (end == p || !isfinite(v) || k == cap)
            return 0;
        out[k++] = v;
        if (*end == '\0')
            break;
        if (*end != ',')
            return 0;
        p = end + 1;
    }
    *n = k;
    return 1;
}
