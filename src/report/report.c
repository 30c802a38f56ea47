/*
 * report.c: the HTML report. Everything is read back from the store (claims, runs, metrics,
 * figure artifacts), so a report can be made at any time, of any database, by anyone.
 *
 * Figures per experiment: the training curves of its runs (train_loss against step, log scale)
 * and, where runs recorded sharpness, sharpness against 2/eta; plus the experiment's own figures
 * (artifacts of kind "figure": a .gp script and its .tsv, copied next to the page). Per run
 * target: its loss and accuracy curves.
 */
#include "lmech/report.h"

#include "lmech/data.h"
#include "lmech/io.h"

#include "core/internal.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_RUNS_PLOTTED       16
#define LM_EXP_MAX_RUNS_REPORT 256

/* ---------------------------------------------------------------- a growable text buffer */

/* HTML-escaped text. */
static void sb_html(lm_sb *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            lm_sb_printf(b, "&lt;");
            break;
        case '>':
            lm_sb_printf(b, "&gt;");
            break;
        case '&':
            lm_sb_printf(b, "&amp;");
            break;
        case '"':
            lm_sb_printf(b, "&quot;");
            break;
        default:
            lm_sb_printf(b, "%c", *s);
        }
    }
}

static lm_status sb_save(lm_sb *b, const char *path, lm_err *err) {
    if (b->oom)
        LM_FAIL(err, LM_ENOMEM, "out of memory writing %s", path);
    return lm_file_write_atomic(path, b->p ? b->p : "", b->len, err);
}

/* ---------------------------------------------------------------- metrics of a run */

typedef struct curve {
    const char *name;
    size_t n, cap;
    double *x, *y;
} curve;

static int curve_add(void *ud, int64_t step, const char *name, double value) {
    curve *c = ud;
    if (strcmp(name, c->name) != 0)
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        double *x = lm_malloc(cap * sizeof *x), *y = lm_malloc(cap * sizeof *y);
        if (!x || !y) {
            lm_free(x);
            lm_free(y);
            return 1;
        }
        if (c->n) {
            memcpy(x, c->x, c->n * sizeof *x);
            memcpy(y, c->y, c->n * sizeof *y);
        }
        lm_free(c->x);
        lm_free(c->y);
        c->x = x;
        c->y = y;
        c->cap = cap;
    }
    c->x[c->n] = (double) step;
    c->y[c->n] = value;
    c->n++;
    return 0;
}

static void curve_free(curve *c) {
    lm_free(c->x);
    lm_free(c->y);
    memset(c, 0, sizeof *c);
}

/* The stability threshold of a run's sharpness, from its config: 2/eta for GD-type optimizers;
 * for Adam-type ones the preconditioned sharpness equilibrates at (2 + 2 b1) / ((1 - b1) eta)
 * (science.md §4), *adam = 1. NaN when the config has no learning rate. */
static double run_threshold(const char *config, int *adam) {
    json_error_t je;
    int oom = 0; /* out of memory: no threshold line rather than a wrong one */
    json_t *c = config ? lm__json_loadb(config, strlen(config), 0, &je, &oom) : NULL;
    json_t *o = json_object_get(c, "optimizer");
    const char *name = json_string_value(json_object_get(o, "name"));
    const double lr = json_number_value(json_object_get(o, "lr"));
    *adam = name && strncmp(name, "adam", 4) == 0;
    double b1 = json_number_value(json_array_get(json_object_get(o, "betas"), 0));
    json_decref(c);
    if (!(lr > 0))
        return LM_NAN;
    return *adam ? (2.0 + 2.0 * b1) / ((1.0 - b1) * lr) : 2.0 / lr;
}

/* ---------------------------------------------------------------- figures of runs */

typedef struct runref {
    int64_t id;
    char label[96];
} runref;

/* One figure: metric `metric` of every run, one column pair per run; with ref_lr a horizontal
 * line at 2/lr per run. Returns LM_OK and adds the script to figs; nothing when no run has it. */
static lm_status figure_metric(lm_store *s, const char *fig_dir, const char *name,
                               const char *title, const char *metric, const char *ylabel, int logy,
                               int ref_lr, size_t n, const runref *runs, lm_report_figs *figs,
                               lm_sb *html, lm_err *err) {
    lm_sb data = {0}, gp = {0};
    size_t plotted = 0;
    lm_sb_printf(&gp,
                 "# lmech figure: %s.\n# Re-render: gnuplot %s.gp (in this directory) writes "
                 "%s.png and %s.svg.\n"
                 "set terminal pngcairo size 960,560 font ',11'\nset output '%s.png'\n"
                 "set datafile separator '\\t'\nset title '%s'\nset xlabel 'step'\n"
                 "set ylabel '%s'\nset grid\nset key outside right top box\n%s",
                 title, name, name, name, name, title, ylabel,
                 logy ? "set logscale y\nset format y '10^{%L}'\n" : "");
    lm_sb_printf(&gp, "plot ");
    for (size_t r = 0; r < n && plotted < MAX_RUNS_PLOTTED; r++) {
        /* with a threshold: Adam-type runs plot their preconditioned sharpness against theirs */
        double thr = LM_NAN;
        int adam = 0;
        if (ref_lr) {
            lm_run_info info;
            memset(&info, 0, sizeof info);
            if (lm_store_get_run(s, runs[r].id, &info, NULL) == LM_OK)
                thr = run_threshold(info.config, &adam);
            lm_run_info_clear(&info);
        }
        curve c = {adam ? "precond_sharpness" : metric, 0, 0, NULL, NULL};
        lm_status st = lm_store_get_metrics(s, runs[r].id, curve_add, &c, err);
        if (st != LM_OK) {
            curve_free(&c);
            lm_free(data.p);
            lm_free(gp.p);
            return st;
        }
        /* a curve with no plottable point (none recorded; all NaN, as the accuracy of an mse run;
         * none positive on a log axis) is left out: gnuplot refuses an empty data set */
        size_t usable = 0;
        for (size_t i = 0; i < c.n; i++)
            usable += isfinite(c.y[i]) && (!logy || c.y[i] > 0);
        if (usable == 0) {
            curve_free(&c);
            continue;
        }
        lm_sb_printf(&data, "# run %lld: %s\n", (long long) runs[r].id, runs[r].label);
        for (size_t i = 0; i < c.n; i++)
            if (isfinite(c.y[i]) && (!logy || c.y[i] > 0))
                lm_sb_printf(&data, "%.0f\t%.10g\n", c.x[i], c.y[i]);
        lm_sb_printf(&data, "\n\n");
        lm_sb_printf(&gp,
                     "%s'%s.tsv' index %zu using 1:2 with lines lw 2 lc %zu title 'run %lld %s%s'",
                     plotted ? ", \\\n     " : "", name, plotted, plotted + 1,
                     (long long) runs[r].id, runs[r].label, adam ? " (preconditioned)" : "");
        if (ref_lr && isfinite(thr))
            lm_sb_printf(&gp, ", \\\n     %.10g with lines dt 2 lw 1.5 lc %zu title '%s'", thr,
                         plotted + 1, adam ? "(2+2b1)/((1-b1)eta)" : "2/eta");
        curve_free(&c);
        plotted++;
    }
    lm_sb_printf(&gp,
                 "\nset terminal svg size 960,560 dynamic font ',11'\nset output '%s.svg'\n"
                 "replot\n",
                 name);
    lm_status st = LM_OK;
    if (plotted > 0 && figs->n < LM_REPORT_MAX_FIGS) {
        char path[LM_PATH_MAX + 160];
        snprintf(path, sizeof path, "%s/%s.tsv", fig_dir, name);
        st = sb_save(&data, path, err);
        snprintf(path, sizeof path, "%s/%s.gp", fig_dir, name);
        if (st == LM_OK)
            st = sb_save(&gp, path, err);
        if (st == LM_OK) {
            snprintf(figs->name[figs->n++], sizeof figs->name[0], "%s.gp", name);
            lm_sb_printf(html,
                         "<figure><a href=\"figures/%s.svg\"><img src=\"figures/%s.png\" alt=\"",
                         name, name);
            sb_html(html, title);
            lm_sb_printf(html, "\"></a><figcaption>");
            sb_html(html, title);
            lm_sb_printf(html,
                         " &middot; <a href=\"figures/%s.svg\">SVG</a> &middot; "
                         "<a href=\"figures/%s.gp\">gnuplot script</a></figcaption></figure>\n",
                         name, name);
        }
    }
    lm_free(data.p);
    lm_free(gp.p);
    return st;
}

/* ---------------------------------------------------------------- experiment figures */

static lm_status copy_file(const char *from, const char *to, lm_err *err) {
    uint8_t *buf;
    size_t len;
    LM_TRY(lm_file_read(from, &buf, &len, err));
    lm_status st = lm_file_write_atomic(to, buf, len, err);
    lm_free(buf);
    return st;
}

typedef struct artref {
    lm_sb *html;
    lm_report_figs *figs;
    const char *fig_dir;
    int64_t exp_id;
    lm_status st;
    lm_err *err;
} artref;

/* Experiment figures are recorded as artifacts of kind "figure" (a .gp path); find them through
 * the JSON export of the run's artifacts. */
static lm_status experiment_figures(lm_store *s, int64_t run, artref *a) {
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        LM_FAIL(a->err, LM_ENOMEM, "out of memory");
    lm_status st = lm_store_export(s, run, "json", mem, a->err);
    fclose(mem);
    json_error_t je;
    int oom = 0;
    json_t *root = st == LM_OK ? lm__json_loadb(text, len, 0, &je, &oom) : NULL;
    free(text);
    if (st != LM_OK)
        return st;
    if (oom)
        LM_FAIL(a->err, LM_ENOMEM, "run %lld: out of memory reading its figures", (long long) run);
    size_t i;
    json_t *art;
    json_array_foreach(json_object_get(root, "artifacts"), i, art) {
        const char *kind = json_string_value(json_object_get(art, "kind"));
        const char *path = json_string_value(json_object_get(art, "path"));
        const char *name = json_string_value(json_object_get(art, "name"));
        if (!kind || strcmp(kind, "figure") != 0 || !path || !name)
            continue;
        /* only this invocation's figures: they live in .../exp-<id>/ */
        char tag[64];
        snprintf(tag, sizeof tag, "/exp-%lld/", (long long) a->exp_id);
        if (!strstr(path, tag) || a->figs->n >= LM_REPORT_MAX_FIGS)
            continue;
        char fig[160], to[LM_PATH_MAX + 200], from[LM_PATH_MAX + 16];
        snprintf(fig, sizeof fig, "exp%lld-%s", (long long) a->exp_id, name);
        size_t pl = strlen(path);
        if (pl < 3 || pl >= sizeof from)
            continue;
        /* the script, with its file names rewritten to the copied names */
        uint8_t *gp;
        size_t gl;
        st = lm_file_read(path, &gp, &gl, a->err);
        if (st != LM_OK)
            break;
        lm_sb out = {0};
        const char *p = (const char *) gp, *end = p + gl;
        const size_t nl = strlen(name);
        while (p < end) {
            if ((size_t) (end - p) > nl + 1 && p[0] == '\'' && strncmp(p + 1, name, nl) == 0 &&
                p[1 + nl] == '.') {
                lm_sb_printf(&out, "'%s", fig);
                p += 1 + nl;
            } else {
                lm_sb_printf(&out, "%c", *p++);
            }
        }
        lm_free(gp);
        snprintf(to, sizeof to, "%s/%s.gp", a->fig_dir, fig);
        st = sb_save(&out, to, a->err);
        lm_free(out.p);
        snprintf(from, sizeof from, "%.*s.tsv", (int) (pl - 3), path);
        snprintf(to, sizeof to, "%s/%s.tsv", a->fig_dir, fig);
        if (st == LM_OK)
            st = copy_file(from, to, a->err);
        if (st != LM_OK)
            break;
        snprintf(a->figs->name[a->figs->n++], sizeof a->figs->name[0], "%s.gp", fig);
        lm_sb_printf(a->html,
                     "<figure><a href=\"figures/%s.svg\"><img src=\"figures/%s.png\" alt=\"%s\">"
                     "</a><figcaption>%s &middot; <a href=\"figures/%s.svg\">SVG</a> &middot; "
                     "<a href=\"figures/%s.gp\">gnuplot script</a></figcaption></figure>\n",
                     fig, fig, name, name, fig, fig);
    }
    json_decref(root);
    return st;
}

/* ---------------------------------------------------------------- sections */

/* The claims go to one table, the reported figures (and checked preconditions) to another, so
 * that a number without a verdict is never read as a claim. */
typedef struct claimrows {
    lm_sb *claims, *reported;
    size_t pass, fail, inc, rep;
} claimrows;

/* m +- u at the precision u supports (lm_report_fmt_measure), or an em dash for nothing. */
static void sb_measure(lm_sb *b, double m, double u) {
    if (isnan(m)) {
        lm_sb_printf(b, "&mdash;");
        return;
    }
    char text[128];
    lm_report_fmt_measure(m, u, " \u00b1 ", text, sizeof text);
    sb_html(b, text);
}

/* An edge of a tolerance interval: a number, or the infinity of an open side. */
static void sb_edge(lm_sb *b, double v) {
    if (isnan(v))
        lm_sb_printf(b, "?");
    else if (isinf(v))
        lm_sb_printf(b, "%s&infin;", v < 0 ? "&minus;" : "");
    else
        lm_sb_printf(b, "%.6g", v);
}

static void sb_detail(lm_sb *h, const char *detail, int inconclusive) {
    if (!detail[0])
        return;
    /* an inconclusive claim's why (and its power estimate) stands out from the rest */
    const char *why = inconclusive ? strstr(detail, "inconclusive") : NULL;
    if (why && why > detail) {
        lm_sb_printf(h, "<div class=\"detail\">");
        char *head = lm_malloc((size_t) (why - detail) + 1);
        if (head) {
            size_t k = (size_t) (why - detail);
            memcpy(head, detail, k);
            while (k > 0 && (head[k - 1] == ' ' || head[k - 1] == ';'))
                k--; /* the "; " that joined the two parts */
            head[k] = '\0';
            sb_html(h, head);
            lm_free(head);
        }
        lm_sb_printf(h, "</div>");
    }
    lm_sb_printf(h, "<div class=\"%s\">", why ? "why" : "detail");
    sb_html(h, why ? why : detail);
    lm_sb_printf(h, "</div>");
}

static int claim_row(void *ud, const lm_claim *c) {
    claimrows *r = ud;
    const char *v = lm_verdict_name(c->verdict);
    if (c->verdict == LM_VERDICT_REPORTED) {
        /* measured, not claimed: a precondition says whether it holds */
        lm_sb *h = r->reported;
        r->rep++;
        const int pre = strncmp(c->name, "precondition: ", 14) == 0;
        const int unmet = pre && strstr(c->detail, "does NOT hold") != NULL;
        const int holds = pre && !unmet && strstr(c->detail, "holds") != NULL;
        lm_sb_printf(h, "<tr%s><td class=\"name\">", pre ? " class=\"precondition\"" : "");
        sb_html(h, c->name);
        lm_sb_printf(h, "</td><td class=\"num\">");
        sb_measure(h, c->measured, c->uncertainty);
        if (pre)
            lm_sb_printf(h, "</td><td class=\"verdict %s\">%s</td><td class=\"reason\">",
                         unmet ? "unmet" : (holds ? "holds" : "reported"),
                         unmet ? "does NOT hold" : (holds ? "holds" : "reported"));
        else
            lm_sb_printf(h, "</td><td class=\"verdict %s\">%s</td><td class=\"reason\">", v, v);
        if (pre && c->predicted[0]) {
            lm_sb_printf(h, "checked: ");
            sb_html(h, c->predicted);
            lm_sb_printf(h, "<br>");
        }
        sb_html(h, c->reason);
        lm_sb_printf(h, "</td><td class=\"reason\">");
        sb_detail(h, c->detail, 0);
        lm_sb_printf(h, "</td></tr>\n");
        return 0;
    }
    lm_sb *h = r->claims;
    r->pass += c->verdict == LM_VERDICT_PASS;
    r->fail += c->verdict == LM_VERDICT_FAIL;
    r->inc += c->verdict == LM_VERDICT_INCONCLUSIVE;
    lm_sb_printf(h, "<tr><td class=\"name\">");
    sb_html(h, c->name);
    lm_sb_printf(h, "</td><td>");
    sb_html(h, c->predicted);
    lm_sb_printf(h, "</td><td class=\"num\">");
    sb_measure(h, c->measured, c->uncertainty);
    lm_sb_printf(h, "</td><td>");
    sb_html(h, c->tolerance);
    if (!isnan(c->lo) || !isnan(c->hi)) {
        lm_sb_printf(h, "<div class=\"interval\">%s", isinf(c->lo) ? "(" : "[");
        sb_edge(h, c->lo);
        lm_sb_printf(h, ", ");
        sb_edge(h, c->hi);
        lm_sb_printf(h, "%s</div>", isinf(c->hi) ? ")" : "]");
    }
    lm_sb_printf(h, "</td><td class=\"verdict %s\">%s</td><td class=\"reason\">", v, v);
    sb_html(h, c->reason);
    sb_detail(h, c->detail, c->verdict == LM_VERDICT_INCONCLUSIVE);
    lm_sb_printf(h, "</td></tr>\n");
    return 0;
}

typedef struct runlist {
    size_t n;
    runref run[LM_EXP_MAX_RUNS_REPORT];
} runlist;

static int add_run(void *ud, int64_t run, const char *label) {
    runlist *l = ud;
    if (l->n < LM_EXP_MAX_RUNS_REPORT) {
        l->run[l->n].id = run;
        snprintf(l->run[l->n].label, sizeof l->run[0].label, "%s", label ? label : "");
        l->n++;
    }
    return 0;
}

/* One experiment's section into h, and its line of the overview table into ov (NULL: none). */
static lm_status experiment_section(lm_store *s, int64_t exp_id, const char *fig_dir,
                                    lm_report_figs *figs, lm_sb *h, lm_sb *ov, lm_err *err) {
    lm_exp_info info;
    LM_TRY(lm_store_exp_get(s, exp_id, &info, err));
    runlist *runs = lm_calloc(1, sizeof *runs);
    if (!runs)
        LM_FAIL(err, LM_ENOMEM, "out of memory");
    lm_status st = lm_store_exp_runs(s, exp_id, add_run, runs, err);
    char when[32] = "";
    time_t t = (time_t) info.created;
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    lm_sb_printf(h, "<section id=\"exp-%lld\"><h2>", (long long) exp_id);
    sb_html(h, info.name);
    lm_sb_printf(h,
                 "%s</h2>\n<p class=\"meta\">invocation %lld &middot; %s &middot; %s &middot; "
                 "%zu runs</p>\n",
                 info.quick ? " <span class=\"tag\">quick</span>" : "", (long long) exp_id, when,
                 info.status, runs->n);
    lm_sb claims = {0}, reported = {0};
    claimrows cr = {&claims, &reported, 0, 0, 0, 0};
    if (st == LM_OK)
        st = lm_store_exp_claims(s, exp_id, claim_row, &cr, err);
    if (claims.p) {
        lm_sb_printf(h,
                     "<table class=\"claims\"><thead><tr><th>claim</th><th>prediction</th>"
                     "<th>measured (95 %% interval)</th><th>tolerance</th><th>verdict</th>"
                     "<th>reason</th></tr></thead><tbody>\n%s</tbody></table>\n",
                     claims.p);
    } else {
        lm_sb_printf(h, "<p class=\"summary\">No claims recorded.</p>\n");
    }
    if (reported.p)
        lm_sb_printf(h,
                     "<h3>measured, not claimed</h3>\n<p class=\"meta\">reported figures: numbers "
                     "without a verdict (their prediction was written after they were measured, or "
                     "they lie outside the theory's domain), and the preconditions the claims rest "
                     "on, checked and not counted</p>\n<table class=\"claims reported\"><thead><tr>"
                     "<th>figure</th><th>measured (95 %% interval)</th><th>status</th>"
                     "<th>why it is not a claim</th><th>detail</th></tr></thead><tbody>\n%s"
                     "</tbody></table>\n",
                     reported.p);
    h->oom |= claims.oom | reported.oom;
    lm_free(claims.p);
    lm_free(reported.p);
    lm_sb_printf(h, "<p class=\"summary\">%zu pass, %zu fail, %zu inconclusive, %zu reported</p>\n",
                 cr.pass, cr.fail, cr.inc, cr.rep);
    if (ov) {
        lm_sb_printf(ov, "<tr><td class=\"name\"><a href=\"#exp-%lld\">", (long long) exp_id);
        sb_html(ov, info.name);
        lm_sb_printf(ov,
                     "</a>%s</td><td>%s</td><td class=\"num\">%zu</td><td class=\"num%s\">%zu</td>"
                     "<td class=\"num%s\">%zu</td><td class=\"num%s\">%zu</td>"
                     "<td class=\"num%s\">%zu</td></tr>\n",
                     info.quick ? " <span class=\"tag\">quick</span>" : "", info.status, runs->n,
                     cr.pass ? " pass" : "", cr.pass, cr.fail ? " fail" : "", cr.fail,
                     cr.inc ? " inconclusive" : "", cr.inc, cr.rep ? " reported" : "", cr.rep);
    }
    lm_sb_printf(h, "<div class=\"figs\">\n");
    char name[160];
    snprintf(name, sizeof name, "exp%lld-loss", (long long) exp_id);
    if (st == LM_OK)
        st = figure_metric(s, fig_dir, name, "training loss", "train_loss", "train loss", 1, 0,
                           runs->n, runs->run, figs, h, err);
    snprintf(name, sizeof name, "exp%lld-sharpness", (long long) exp_id);
    if (st == LM_OK)
        st = figure_metric(s, fig_dir, name, "sharpness against its stability threshold",
                           "sharpness", "top eigenvalue (of P^-1/2 H P^-1/2 for Adam)", 0, 1,
                           runs->n, runs->run, figs, h, err);
    artref a = {h, figs, fig_dir, exp_id, LM_OK, err};
    if (st == LM_OK && runs->n > 0)
        st = experiment_figures(s, runs->run[0].id, &a);
    lm_sb_printf(h, "</div></section>\n");
    lm_free(runs);
    return st;
}

static lm_status run_section(lm_store *s, int64_t run, const char *fig_dir, lm_report_figs *figs,
                             lm_sb *h, lm_err *err) {
    lm_run_info info;
    memset(&info, 0, sizeof info);
    LM_TRY(lm_store_get_run(s, run, &info, err));
    lm_sb_printf(h,
                 "<section id=\"run-%lld\"><h2>run %lld</h2><p class=\"meta\">%s &middot; "
                 "%lld steps &middot; %.2f s</p>\n<div class=\"figs\">\n",
                 (long long) run, (long long) run, info.status, (long long) info.steps,
                 isfinite(info.wall_s) ? info.wall_s : 0.0);
    runref r = {run, ""};
    char name[96];
    snprintf(name, sizeof name, "run%lld-loss", (long long) run);
    lm_status st = figure_metric(s, fig_dir, name, "loss", "train_loss", "train loss", 1, 0, 1, &r,
                                 figs, h, err);
    snprintf(name, sizeof name, "run%lld-test-acc", (long long) run);
    if (st == LM_OK)
        st = figure_metric(s, fig_dir, name, "test accuracy", "test_acc", "test accuracy", 0, 0, 1,
                           &r, figs, h, err);
    lm_sb_printf(h, "</div></section>\n");
    lm_run_info_clear(&info);
    return st;
}

/* ---------------------------------------------------------------- the page */

static const char *CSS =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;"
    "max-width:1180px;color:#1d2330;padding:0 1em}"
    "h1{font-size:1.6em;margin-bottom:0}h2{border-bottom:1px solid #d8dde6;padding-bottom:.2em;"
    "margin-top:2em}.meta{color:#5b6475;margin-top:0}.tag{background:#eef2f8;border-radius:4px;"
    "padding:0 .4em;font-size:.7em;vertical-align:middle;color:#3a4a66}"
    "table.claims{border-collapse:collapse;width:100%;font-size:.92em}"
    "table.claims th,table.claims td{border:1px solid #d8dde6;padding:.4em .5em;"
    "vertical-align:top;text-align:left}table.claims th{background:#f4f6fa}"
    "td.num{font-variant-numeric:tabular-nums;white-space:nowrap}td.name{font-weight:600}"
    "td.verdict{font-weight:700;text-align:center}td.pass{background:#e3f4e6;color:#176327}"
    "td.fail{background:#fbe4e4;color:#9b1c1c}td.inconclusive{background:#fdf3da;color:#7a5a00}"
    "td.reason{color:#3d4555;font-size:.92em}.detail{color:#6b7385;font-size:.9em;"
    "margin-top:.3em}.figs{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;flex:1 1 460px}"
    "figure img{width:100%;border:1px solid #e3e7ee}figcaption{font-size:.85em;color:#5b6475}"
    "table.overview{width:auto;margin-top:1.2em}table.overview td.num{text-align:right}"
    "td.num.pass{background:#e3f4e6;color:#176327;font-weight:700}"
    "td.num.fail{background:#fbe4e4;color:#9b1c1c;font-weight:700}"
    "td.num.inconclusive{background:#fdf3da;color:#7a5a00;font-weight:700}"
    "td.reported{background:#e8eef9;color:#2c4a7a}td.num.reported{font-weight:700}"
    "td.holds{background:#e3f4e6;color:#176327}td.unmet{background:#fbe4e4;color:#9b1c1c}"
    "table.reported{font-size:.88em}tr.precondition td.name{font-style:italic}"
    ".interval{color:#5b6475;font-size:.9em;white-space:nowrap;"
    "font-variant-numeric:tabular-nums}.why{color:#7a5a00;font-size:.9em;margin-top:.3em}"
    "h3{font-size:1.05em;margin:1.4em 0 .2em}";

typedef struct explist {
    size_t n;
    int64_t id[256];
    char name[256][64];
} explist;

static int latest_per_name(void *ud, const lm_exp_info *info) {
    explist *l = ud;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->name[i], info->name) == 0) {
            if (strcmp(info->status, "finished") == 0)
                l->id[i] = info->id; /* newer finished invocation */
            return 0;
        }
    if (l->n < 256) {
        l->id[l->n] = info->id;
        snprintf(l->name[l->n], sizeof l->name[0], "%s", info->name);
        l->n++;
    }
    return 0;
}

static lm_status make_dir(const char *path, lm_err *err) {
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        LM_FAIL(err, LM_EIO, "%s: cannot create the directory: %s", path, strerror(errno));
    return LM_OK;
}

lm_status lm_report_write(lm_store *s, const char *artifact_dir, const char *out_dir, size_t n,
                          const char *const *targets, lm_report_figs *figs, lm_err *err) {
    (void) artifact_dir;
    figs->n = 0;
    char fig_dir[LM_PATH_MAX + 16], path[LM_PATH_MAX + 16];
    if (strlen(out_dir) >= LM_PATH_MAX)
        LM_FAIL(err, LM_EINVAL, "report directory name too long");
    snprintf(fig_dir, sizeof fig_dir, "%s/figures", out_dir);
    LM_TRY(make_dir(out_dir, err));
    LM_TRY(make_dir(fig_dir, err));
    lm_sb h = {0};
    lm_sb_printf(&h,
                 "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                 "<title>lmech report</title><style>%s</style></head><body>\n"
                 "<h1>lmech report</h1>\n<p class=\"meta\">lmech %s &middot; predictions beside "
                 "measurements, with tolerances and their reasons</p>\n",
                 CSS, lm_version());
    lm_status st = LM_OK;
    explist *exps = lm_calloc(1, sizeof *exps);
    if (!exps) {
        lm_free(h.p);
        LM_FAIL(err, LM_ENOMEM, "out of memory");
    }
    /* the sections go to body, one overview line per experiment to ov; the page is the header,
     * the overview (when there are two experiments or more) and the sections */
    lm_sb body = {0}, ov = {0};
    size_t n_exp = 0;
    if (n == 0) {
        st = lm_store_exp_list(s, latest_per_name, exps, err);
        if (st == LM_OK && exps->n == 0)
            lm_sb_printf(&body, "<p>No experiments in this database yet: run <code>lmech exp NAME"
                                "</code>, or name runs to report.</p>\n");
        for (size_t i = 0; st == LM_OK && i < exps->n; i++, n_exp++)
            st = experiment_section(s, exps->id[i], fig_dir, figs, &body, &ov, err);
    }
    for (size_t i = 0; st == LM_OK && i < n; i++) {
        char *end;
        long long id = strtoll(targets[i], &end, 10);
        if (*targets[i] && !*end && id > 0) {
            st = run_section(s, id, fig_dir, figs, &body, err);
            continue;
        }
        int64_t exp_id;
        st = lm_store_exp_latest(s, targets[i], &exp_id, err);
        if (st == LM_OK && exp_id < 0)
            st = lm_err_set(err, LM_ENOTFOUND, __FILE__, __LINE__,
                            "\"%s\" is neither a run id nor an experiment in the database",
                            targets[i]);
        if (st == LM_OK) {
            st = experiment_section(s, exp_id, fig_dir, figs, &body, &ov, err);
            n_exp++;
        }
    }
    if (n_exp >= 2 && ov.p) {
        lm_sb_printf(&h, "<table class=\"claims overview\"><thead><tr><th>experiment</th>"
                         "<th>status</th><th>runs</th><th>pass</th><th>fail</th>"
                         "<th>inconclusive</th><th>reported</th></tr></thead><tbody>\n");
        lm_sb_printf(&h, "%s", ov.p);
        lm_sb_printf(&h, "</tbody></table>\n");
    }
    if (body.p)
        lm_sb_printf(&h, "%s", body.p);
    h.oom |= body.oom | ov.oom;
    lm_free(body.p);
    lm_free(ov.p);
    lm_sb_printf(&h, "</body></html>\n");
    snprintf(path, sizeof path, "%s/index.html", out_dir);
    if (st == LM_OK)
        st = sb_save(&h, path, err);
    lm_free(h.p);
    lm_free(exps);
    return st;
}

/* ---------------------------------------------------------------- numbers with uncertainty */

void lm_report_fmt_measure(double m, double u, const char *pm, char *out, size_t n) {
    if (!isfinite(m)) {
        snprintf(out, n, "%s", isnan(m) ? "n/a" : (m > 0 ? "inf" : "-inf"));
        return;
    }
    if (!isfinite(u) || u < 0) {
        snprintf(out, n, "%.6g", m);
        return;
    }
    if (u == 0) {
        snprintf(out, n, "%.6g%s0", m, pm);
        return;
    }
    /* factor out the exponent of the larger of |m| and u when it is far from 1 */
    const int ex = (int) floor(log10(fmax(fabs(m), u)));
    if (ex < -4 || ex >= 6) {
        char inner[96];
        const double sc = pow(10.0, ex);
        lm_report_fmt_measure(m / sc, u / sc, pm, inner, sizeof inner);
        snprintf(out, n, "(%s)e%+03d", inner, ex);
        return;
    }
    int x = (int) floor(log10(u));
    const double lead = u / pow(10.0, x - 2); /* three leading digits, in [100, 1000) */
    int nsig = lead < 355 ? 2 : (lead < 950 ? 1 : 2);
    double ur = u;
    if (lead >= 950) { /* rounds up to 1000: two digits of the next decade */
        x++;
        ur = pow(10.0, x);
    }
    const int decimals = -(x - nsig + 1);
    if (decimals > 0) {
        snprintf(out, n, "%.*f%s%.*f", decimals, m, pm, decimals, ur);
    } else {
        const double q = pow(10.0, -decimals);
        snprintf(out, n, "%.0f%s%.0f", round(m / q) * q, pm, round(ur / q) * q);
    }
}
