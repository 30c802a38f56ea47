/* cmd_fit.c: `lmech fit DATA.csv --law chinchilla|power ...` and `lmech fit --db FILE
 * --experiment NAME --metric METRIC --keys N=KEY[,D=KEY] ...`: scaling-law fits (lmech/fit.h,
 * docs/fit.md). Reads the points, calls lm_fit, prints text or the JSON contract, and with
 * --out writes the figure; all numerics are in src/fit. */
#include "cli.h"
#include "lmech/fit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "lmech fit DATA.csv [--law chinchilla|power] [--columns N,D,L] [--bootstrap K] [--seed S]\n"
    "       [--compute C] [--json] [--out DIR]\n"
    "   or: lmech fit --db FILE --experiment NAME --metric METRIC --keys N=KEY[,D=KEY] ...\n"
    "  --law L          chinchilla (L = E + A/N^alpha + B/D^beta, default) or power\n"
    "                   (L = E + A/N^alpha)\n"
    "  --columns C      the CSV columns holding N, D and L (default N,D,L; power: N,L)\n"
    "  --bootstrap K    resamples of the points for the intervals (default 1000; 0: none)\n"
    "  --seed S         the bootstrap's seed (default 0)\n"
    "  --compute C      also the compute-optimal N and D for C = 6ND FLOPs (chinchilla)\n"
    "  --db, --experiment, --metric, --keys\n"
    "                   read the sweep of the newest invocation of experiment NAME: per\n"
    "                   finished run the final value of METRIC as L, and config keys as N\n"
    "                   and D, e.g. --keys N=model.widths[1],D=data.train_size\n"
    "  --out DIR        write DIR/fit.gp + DIR/fit.tsv: the data, the law and its 95 % band\n"
    "                   (and the compute-optimal frontier with --compute); render with gnuplot\n"
    "  --json           one JSON object: law, params, ci (95 %), ci80, n_points, objective,\n"
    "                   starts, converged, identifiable, message, n_opt, d_opt (--compute)";

#define MAX_COLS 3

#define usage(...) cli_usage("fit", USAGE, __VA_ARGS__)

/* Splits "a,b,c" into at most max names (copied into buf); returns the count or 0. */
static size_t split_list(const char *s, char *buf, size_t cap, char **out, size_t max) {
    if (strlen(s) >= cap)
        return 0;
    strcpy(buf, s);
    size_t k = 0;
    for (char *p = strtok(buf, ","); p; p = strtok(NULL, ",")) {
        if (k == max)
            return 0;
        out[k++] = p;
    }
    return k;
}

static void print_par_obj(const char *key, const double *v, int two) {
    printf(",\"%s\":{\"E\":", key);
    cli_print_num(v[LM_FIT_E]);
    printf(",\"A\":");
    cli_print_num(v[LM_FIT_A]);
    if (two) {
        printf(",\"B\":");
        cli_print_num(v[LM_FIT_B]);
    }
    printf(",\"alpha\":");
    cli_print_num(v[LM_FIT_ALPHA]);
    if (two) {
        printf(",\"beta\":");
        cli_print_num(v[LM_FIT_BETA]);
    }
    printf("}");
}

static void print_ci_obj(const char *key, double ci[LM_FIT_NPAR][2], int two, size_t n_boot) {
    printf(",\"%s\":", key);
    if (n_boot == 0) {
        printf("null");
        return;
    }
    static const char *const NAMES[LM_FIT_NPAR] = {"E", "A", "B", "alpha", "beta"};
    printf("{");
    int first = 1;
    for (int j = 0; j < LM_FIT_NPAR; j++) {
        if (!two && (j == LM_FIT_B || j == LM_FIT_BETA))
            continue;
        printf("%s\"%s\":[", first ? "" : ",", NAMES[j]);
        cli_print_num(ci[j][0]);
        printf(",");
        cli_print_num(ci[j][1]);
        printf("]");
        first = 0;
    }
    printf("}");
}

static void print_json_string(const char *s) {
    json_t *j = json_string(s);
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    printf("%s", t ? t : "null");
    free(t);
    json_decref(j);
}

int cmd_fit(int argc, char **argv) {
    cli_opts o;
    int rc =
        cli_parse("fit", USAGE, argc, argv,
                  "ARGS,law,columns,bootstrap,seed,compute,json,out,db,experiment,metric,keys", &o);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    lm_err err = {0};
    lm_fit_opts fo = {.law = LM_FIT_CHINCHILLA, .bootstrap = 1000};
    if (o.law && lm_fit_law_parse(o.law, &fo.law, &err) != LM_OK)
        return usage("%s", err.msg);
    const int two = fo.law == LM_FIT_CHINCHILLA;
    size_t boot = fo.bootstrap, seed = 0;
    if (!cli_parse_size("fit", USAGE, "bootstrap", o.bootstrap, 0, 1000000, &boot) ||
        !cli_parse_size("fit", USAGE, "seed", o.seed, 0, SIZE_MAX, &seed))
        return CLI_USAGE;
    fo.bootstrap = boot;
    fo.seed = seed;
    double C = 0;
    if (o.compute) {
        if (!cli_parse_double("fit", USAGE, "compute", o.compute, CLI_POSITIVE, &C))
            return CLI_USAGE;
        if (!two)
            return usage("--compute needs --law chinchilla (got %s)", o.law);
    }
    const int from_db = o.experiment || o.metric || o.keys;
    if (from_db && o.n_args)
        return usage("give DATA.csv or --db/--experiment, not both (\"%s\")", o.args[0]);
    if (!from_db && o.n_args != 1)
        return o.n_args ? usage("one DATA.csv, got also \"%s\"", o.args[1])
                        : usage("%s", "missing DATA.csv (or --db FILE --experiment NAME)");
    if (from_db && (!o.experiment || !o.metric || !o.keys))
        return usage("%s", "--db needs --experiment NAME, --metric METRIC and --keys N=KEY");
    if (from_db && o.columns)
        return usage("%s", "--columns is for DATA.csv; --keys names the sweep's keys");

    double *cols = NULL;
    size_t n = 0, skipped = 0;
    char src[512];
    if (!from_db) {
        char buf[256], *names[MAX_COLS + 1];
        const char *def = two ? "N,D,L" : "N,L";
        const size_t want = two ? 3 : 2;
        const size_t k =
            split_list(o.columns ? o.columns : def, buf, sizeof buf, names, MAX_COLS + 1);
        if (k != want)
            return usage(two ? "--columns needs three names N,D,L (got \"%s\")"
                             : "--columns needs two names N,L for --law power (got \"%s\")",
                         o.columns ? o.columns : def);
        if (lm_fit_read_csv(o.args[0], k, (const char *const *) names, &cols, &n, &err) != LM_OK)
            return cli_fail("fit", &err);
        snprintf(src, sizeof src, "%s", o.args[0]);
    } else {
        /* --keys N=KEY[,D=KEY] */
        char buf[512], *items[3];
        const size_t k = split_list(o.keys, buf, sizeof buf, items, 2);
        const char *kn = NULL, *kd = NULL;
        for (size_t i = 0; i < k; i++) {
            if (strncmp(items[i], "N=", 2) == 0 && items[i][2])
                kn = items[i] + 2;
            else if (strncmp(items[i], "D=", 2) == 0 && items[i][2])
                kd = items[i] + 2;
            else
                return usage("--keys: \"%s\" is not N=KEY or D=KEY", items[i]);
        }
        if (!kn || (two && !kd))
            return usage(two ? "--keys needs N=KEY,D=KEY for --law chinchilla (got \"%s\")"
                             : "--keys needs N=KEY (got \"%s\")",
                         o.keys);
        const char *keys[2] = {kn, kd};
        lm_store *s = NULL;
        if (cli_store_open_existing(o.db, &s, &err) != LM_OK)
            return cli_fail("fit", &err);
        lm_status st = lm_fit_read_store(s, o.experiment, o.metric, two ? 2 : 1, keys, &cols, &n,
                                         NULL, &skipped, &err);
        lm_store_close(s);
        if (st != LM_OK)
            return cli_fail("fit", &err);
        snprintf(src, sizeof src, "%s: experiment %s, metric %s", o.db, o.experiment, o.metric);
    }
    const double *N = cols, *D = two ? cols + n : NULL, *L = cols + (two ? 2 : 1) * n;
    fo.keep_boot = o.out != NULL;
    lm_fit_result r;
    lm_status st = lm_fit(&fo, n, N, D, L, &r, &err);
    if (st != LM_OK) {
        lm_err_prefix(&err, "%s: ", src);
        lm_free(cols);
        return cli_fail("fit", &err);
    }
    double nopt = LM_NAN, dopt = LM_NAN;
    lm_err cerr = {0};
    const int have_opt = C > 0 && lm_fit_compute_optimal(r.par, C, &nopt, &dopt, &cerr) == LM_OK;
    char fig[4096 + 256] = "";
    if (o.out && lm_fit_figure(o.out, "fit", &r, n, N, D, L, C, fig, sizeof fig, &err) != LM_OK) {
        lm_fit_result_clear(&r);
        lm_free(cols);
        return cli_fail("fit", &err);
    }
    if (o.json) {
        printf("{\"law\":\"%s\"", lm_fit_law_name(r.law));
        print_par_obj("params", r.par, two);
        print_ci_obj("ci", r.ci95, two, r.n_boot - r.boot_failed);
        print_ci_obj("ci80", r.ci80, two, r.n_boot - r.boot_failed);
        printf(",\"n_points\":%zu,\"objective\":", r.n_points);
        cli_print_num(r.objective);
        printf(",\"grad_norm\":");
        cli_print_num(r.grad_norm);
        printf(",\"starts\":%zu,\"converged\":%zu,\"stalled\":%zu,\"capped\":%zu,"
               "\"max_iter\":%d,\"bootstrap\":%zu,\"bootstrap_failed\":%zu,\"seed\":%zu",
               r.starts, r.converged, r.stalled, r.capped, r.max_iter, r.n_boot, r.boot_failed,
               seed);
        printf(",\"identifiable\":%s,\"message\":", r.identifiable ? "true" : "false");
        if (r.identifiable)
            printf("null");
        else
            print_json_string(r.message);
        print_par_obj("se", r.se, two);
        printf(",\"corr_alpha_beta\":");
        cli_print_num(r.corr_ab);
        if (C > 0) {
            printf(",\"compute\":");
            cli_print_num(C);
            printf(",\"n_opt\":");
            cli_print_num(have_opt ? nopt : LM_NAN);
            printf(",\"d_opt\":");
            cli_print_num(have_opt ? dopt : LM_NAN);
            if (!have_opt) {
                printf(",\"compute_message\":");
                print_json_string(cerr.msg);
            }
        }
        if (from_db)
            printf(",\"skipped_runs\":%zu", skipped);
        if (fig[0]) {
            printf(",\"figure\":");
            print_json_string(fig);
        }
        printf(",\"wall_s\":");
        cli_print_num(r.wall_s + r.boot_wall_s);
        printf("}\n");
    } else {
        printf("%s fit of %zu points (%s)%s\n", lm_fit_law_name(r.law), n, src,
               from_db && skipped ? " (unfinished runs skipped)" : "");
        printf("  L = E + A/N^alpha%s\n", two ? " + B/D^beta" : "");
        static const char *const NAMES[LM_FIT_NPAR] = {"E", "A", "B", "alpha", "beta"};
        for (int j = 0; j < LM_FIT_NPAR; j++) {
            if (!two && (j == LM_FIT_B || j == LM_FIT_BETA))
                continue;
            printf("  %-6s %-12.6g", NAMES[j], r.par[j]);
            if (r.n_boot > r.boot_failed)
                printf("  95 %% [%.6g, %.6g]", r.ci95[j][0], r.ci95[j][1]);
            printf("\n");
        }
        printf("  objective %.6g (summed Huber, delta %g), |grad| %.2g; %zu starts: %zu converged "
               "to |grad| < %g, %zu stalled, %zu at the %d-iteration cap\n",
               r.objective, LM_FIT_DELTA, r.grad_norm, r.starts, r.converged, LM_FIT_GRAD_TOL,
               r.stalled, r.capped, r.max_iter);
        if (r.n_boot)
            printf("  bootstrap: %zu resamples (seed %zu), %zu failed\n", r.n_boot, seed,
                   r.boot_failed);
        if (!r.identifiable)
            printf("  WARNING: %s\n", r.message);
        if (C > 0) {
            if (have_opt)
                printf("  compute-optimal at C = %.4g FLOPs: N_opt = %.4g, D_opt = %.4g\n", C, nopt,
                       dopt);
            else
                printf("  compute-optimal at C = %.4g: %s\n", C, cerr.msg);
        }
        if (fig[0])
            printf("  figure: %s (render with gnuplot)\n", fig);
    }
    lm_fit_result_clear(&r);
    lm_free(cols);
    return CLI_OK;
}
