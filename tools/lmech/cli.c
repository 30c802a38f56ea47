/*
 * cli.c: what every lmech command shares: argument parsing, error and usage messages, JSON
 * output. Kept apart from main.c so the argument parser has a fuzz target of its own
 * (tests/fuzz/fuzz_cli.c).
 */
#include "cli.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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
        if (strcmp(name, "json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(name, "quiet") == 0) {
            o->quiet = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val)
            return cli_usage(cmd, usage_text, "option --%s needs a value", name);
        if (strcmp(name, "db") == 0)
            o->db = val;
        else if (strcmp(name, "init") == 0)
            o->init = val;
        else if (strcmp(name, "save") == 0)
            o->save = val;
        else if (strcmp(name, "format") == 0)
            o->format = val;
        else if (strcmp(name, "set") == 0) {
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
