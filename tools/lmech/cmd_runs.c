/* cmd_runs.c: reading the run database: `lmech ls`, `lmech show RUN`, `lmech export RUN`. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A one-line summary of a run's config: widths, activation, optimizer and lr. */
static void config_summary(const char *json, char *buf, size_t n) {
    buf[0] = '\0';
    json_t *c = json ? json_loads(json, 0, NULL) : NULL;
    if (!c)
        return;
    size_t off = 0;
    json_t *w = json_object_get(json_object_get(c, "model"), "widths");
    size_t i;
    json_t *v;
    json_array_foreach(w, i, v) {
        off += (size_t) snprintf(buf + off, off < n ? n - off : 0, "%s%lld", i ? "-" : "",
                                 (long long) json_integer_value(v));
        if (off >= n)
            break;
    }
    json_t *opt = json_object_get(c, "optimizer");
    if (off < n)
        snprintf(buf + off, n - off, " %s %s lr=%g",
                 json_string_value(json_object_get(json_object_get(c, "model"), "activation"))
                     ? json_string_value(json_object_get(json_object_get(c, "model"), "activation"))
                     : "",
                 json_string_value(json_object_get(opt, "name"))
                     ? json_string_value(json_object_get(opt, "name"))
                     : "",
                 json_number_value(json_object_get(opt, "lr")));
    json_decref(c);
}

static int print_run(void *ud, const lm_run_info *r) {
    (void) ud;
    char when[32] = "", summary[160];
    time_t t = (time_t) r->created;
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    config_summary(r->config, summary, sizeof summary);
    printf("%6lld  %-11s %8lld %9.2f  %s  %s\n", (long long) r->id, r->status, (long long) r->steps,
           isfinite(r->wall_s) ? r->wall_s : 0.0, when, summary);
    return 0;
}

/* Counts an invocation's verdicts; reported figures (and checked preconditions, which are
 * recorded as reported figures) have no verdict and are counted apart. */
typedef struct verdicts {
    size_t pass, fail, inc, rep, runs;
} verdicts;

static int count_verdict(void *ud, const lm_claim *c) {
    verdicts *v = ud;
    v->pass += c->verdict == LM_VERDICT_PASS;
    v->fail += c->verdict == LM_VERDICT_FAIL;
    v->inc += c->verdict == LM_VERDICT_INCONCLUSIVE;
    v->rep += c->verdict == LM_VERDICT_REPORTED;
    return 0;
}

static int count_run(void *ud, int64_t run, const char *label) {
    (void) run;
    (void) label;
    ((verdicts *) ud)->runs++;
    return 0;
}

typedef struct exp_walk {
    lm_store *s;
    lm_err *err;
    lm_status st;
} exp_walk;

/* One line per experiment invocation: id, name, quick, status, start, runs and verdicts. */
static int print_exp(void *ud, const lm_exp_info *e) {
    exp_walk *w = ud;
    verdicts v = {0, 0, 0, 0, 0};
    if ((w->st = lm_store_exp_claims(w->s, e->id, count_verdict, &v, w->err)) != LM_OK ||
        (w->st = lm_store_exp_runs(w->s, e->id, count_run, &v, w->err)) != LM_OK)
        return 1;
    char when[32] = "";
    time_t t = (time_t) e->created;
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    printf("%6lld  %-18s %-5s %-11s %s %5zu %5zu %5zu %5zu %5zu\n", (long long) e->id, e->name,
           e->quick ? "quick" : "full", e->status, when, v.runs, v.pass, v.fail, v.inc, v.rep);
    return 0;
}

int cmd_ls(int argc, char **argv) {
    static const char *usage =
        "lmech ls [--db FILE] [--experiments]\n"
        "  the runs of the database, one line each; with --experiments the experiment\n"
        "  invocations instead, with their runs, claim verdicts (pass, fail, inc = inconclusive)\n"
        "  and reported figures (rep: measured, not claimed; preconditions included)";
    cli_opts o;
    int rc = cli_parse("ls", usage, argc, argv, "db,experiments", &o);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    lm_err err = {0};
    lm_store *s;
    if (cli_store_open_existing(o.db, &s, &err) != LM_OK)
        return cli_fail("ls", &err);
    if (o.experiments) {
        printf("%6s  %-18s %-5s %-11s %-19s %5s %5s %5s %5s %5s\n", "exp", "name", "size", "status",
               "created", "runs", "pass", "fail", "inc", "rep");
        exp_walk w = {s, &err, LM_OK};
        lm_status st = lm_store_exp_list(s, print_exp, &w, &err);
        lm_store_close(s);
        return st == LM_OK && w.st == LM_OK ? CLI_OK : cli_fail("ls", &err);
    }
    printf("%6s  %-11s %8s %9s  %-19s  %s\n", "run", "status", "steps", "wall_s", "created",
           "model / optimizer");
    if (lm_store_list_runs(s, print_run, NULL, &err) != LM_OK) {
        lm_store_close(s);
        return cli_fail("ls", &err);
    }
    lm_store_close(s);
    return CLI_OK;
}

static int parse_run_id(const char *cmd, const char *text, int64_t *id) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end || v < 1) {
        fprintf(stderr, "lmech %s: RUN must be a positive run id, got \"%s\"\n", cmd, text);
        return CLI_USAGE;
    }
    *id = v;
    return CLI_OK;
}

/* Keeps the last value of every metric (show prints the final state). */
typedef struct last_metrics {
    size_t n;
    char names[256][48];
    double values[256];
    int64_t steps[256];
} last_metrics;

static int keep_last(void *ud, int64_t step, const char *name, double value) {
    last_metrics *lm = ud;
    size_t i = 0;
    while (i < lm->n && strcmp(lm->names[i], name) != 0)
        i++;
    if (i == lm->n) {
        if (lm->n == 256)
            return 0;
        snprintf(lm->names[lm->n++], sizeof lm->names[0], "%s", name);
    }
    lm->values[i] = value;
    lm->steps[i] = step;
    return 0;
}

int cmd_show(int argc, char **argv) {
    static const char *usage = "lmech show RUN [--db FILE]";
    cli_opts o;
    int rc = cli_parse("show", usage, argc, argv, "RUN,db", &o);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    int64_t id;
    if ((rc = parse_run_id("show", o.positional, &id)) != CLI_OK)
        return rc;
    lm_err err = {0};
    lm_store *s;
    if (cli_store_open_existing(o.db, &s, &err) != LM_OK)
        return cli_fail("show", &err);
    lm_run_info info;
    memset(&info, 0, sizeof info);
    static last_metrics lm;
    lm.n = 0;
    if (lm_store_get_run(s, id, &info, &err) != LM_OK ||
        lm_store_get_metrics(s, id, keep_last, &lm, &err) != LM_OK) {
        lm_run_info_clear(&info);
        lm_store_close(s);
        return cli_fail("show", &err);
    }
    printf("run %lld: %s\n", (long long) info.id, info.status);
    printf("  seed %llu, %lld steps, %.3f s wall, %d BLAS threads\n",
           (unsigned long long) info.seed, (long long) info.steps,
           isfinite(info.wall_s) ? info.wall_s : 0.0, info.threads);
    if (info.diverged_step >= 0)
        printf("  diverged at step %lld\n", (long long) info.diverged_step);
    if (info.message[0])
        printf("  message: %s\n", info.message);
    printf("  lmech %s on %s; %s\n  config hash %.16s\n", info.lmech_version, info.host, info.blas,
           info.hash);
    json_t *c = info.config ? json_loads(info.config, 0, NULL) : NULL;
    if (c) {
        char *pretty =
            json_dumps(c, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        printf("config:\n%s\n", pretty ? pretty : "");
        free(pretty);
        json_decref(c);
    }
    printf("final metrics:\n");
    for (size_t i = 0; i < lm.n; i++)
        printf("  %-20s %.8g  (step %lld)\n", lm.names[i], lm.values[i], (long long) lm.steps[i]);
    lm_run_info_clear(&info);
    lm_store_close(s);
    return CLI_OK;
}

int cmd_export(int argc, char **argv) {
    static const char *usage = "lmech export RUN --format csv|json [--db FILE]";
    cli_opts o;
    int rc = cli_parse("export", usage, argc, argv, "RUN,db,format", &o);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    int64_t id;
    if ((rc = parse_run_id("export", o.positional, &id)) != CLI_OK)
        return rc;
    const char *fmt = o.format ? o.format : "csv";
    if (strcmp(fmt, "csv") != 0 && strcmp(fmt, "json") != 0)
        return cli_usage("export", usage, "--format must be csv or json, got \"%s\"", fmt);
    lm_err err = {0};
    lm_store *s;
    if (cli_store_open_existing(o.db, &s, &err) != LM_OK)
        return cli_fail("export", &err);
    lm_status st = lm_store_export(s, id, fmt, stdout, &err);
    lm_store_close(s);
    if (st == LM_OK && fflush(stdout) != 0)
        st = lm_err_set(&err, LM_EIO, __FILE__, __LINE__, "writing the export to stdout failed");
    return st == LM_OK ? CLI_OK : cli_fail("export", &err);
}
