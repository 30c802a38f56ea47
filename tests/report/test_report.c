/*
 * test_report.c: the HTML report (src/report/report.c) of a hand-filled store: claims with their
 * numbers at the precision their uncertainty supports (m ± u) and their tolerance interval, an
 * inconclusive claim's power estimate, and the reported figures and preconditions apart from the
 * claims, in the "measured, not claimed" table; the overview and `ls` count reported figures.
 */
#include "lm_test.h"

#include "exp/exp_fixture.h"
#include "lmech/io.h"
#include "lmech/report.h"

#include <dirent.h>

/* The text between the first `open` at or after `from` and the next `close` (a malloc'ed copy;
 * NULL when absent). */
static char *between(const char *from, const char *open, const char *close) {
    const char *a = from ? strstr(from, open) : NULL;
    const char *b = a ? strstr(a, close) : NULL;
    if (!b)
        return NULL;
    char *out = malloc((size_t) (b - a) + 1);
    cr_assert_not_null(out);
    memcpy(out, a, (size_t) (b - a));
    out[b - a] = '\0';
    return out;
}

static void rm_tree(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/figures", dir);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            char f[800];
            snprintf(f, sizeof f, "%s/%s", path, e->d_name);
            unlink(f);
        }
    if (d)
        closedir(d);
    rmdir(path);
    snprintf(path, sizeof path, "%s/index.html", dir);
    unlink(path);
    rmdir(dir);
}

/* A store with one invocation: a pass, an inconclusive straddle over 4 seeds, a fail, a
 * reported figure and two preconditions (one holds, one does not); its report's page. */
static char *report_of_fixture(lm_fx *f, const char *name, char *out, size_t n) {
    lm_fx_open(f, name, 1);
    const int64_t r = lm_fx_run(f, "seed=0", "{}");
    lm_exp_ctx *ctx = f->ctx;
    lm_exp_judge(ctx, &(lm_claim_spec){.name = "width law slope",
                                       .predicted = "slope -1/2 (NTP)",
                                       .predicted_value = -0.5,
                                       .measured = -0.48837,
                                       .uncertainty = 0.0979457,
                                       .uncertainty_from = "bootstrap 95 % over 3 seeds",
                                       .n_seeds = 3,
                                       .lo = -0.75,
                                       .hi = -0.25,
                                       .tolerance = "within 0.25 of -1/2",
                                       .tolerance_value = 0.25,
                                       .reason = "science.md §3",
                                       .n_runs = 1,
                                       .runs = &r});
    lm_exp_judge(ctx, &(lm_claim_spec){.name = "progressive sharpening",
                                       .predicted = "S(t*)/S_min >= 1.2",
                                       .predicted_value = 1.2,
                                       .measured = 1.25,
                                       .uncertainty = 0.1,
                                       .uncertainty_from = "2 SE over 4 seeds",
                                       .n_seeds = 4,
                                       .lo = 1.2,
                                       .hi = LM_INF,
                                       .tolerance = "ratio >= 1.2",
                                       .tolerance_value = 1.2,
                                       .reason = "science.md §4 (decided 2026-12-06)"});
    lm_exp_judge(ctx, &(lm_claim_spec){.name = "control never reaches 2/eta",
                                       .predicted = "max S / (2/eta) < 0.9",
                                       .predicted_value = 0.9,
                                       .measured = 1.31,
                                       .uncertainty = 0,
                                       .uncertainty_from = "u = 0: a maximum over runs",
                                       .lo = -LM_INF,
                                       .hi = 0.9,
                                       .tolerance = "< 0.9",
                                       .tolerance_value = 0.9,
                                       .reason = "r"});
    lm_exp_judge(ctx, &(lm_claim_spec){.name = "whole-NTK alignment",
                                       .predicted = "none written before the run",
                                       .predicted_value = LM_NAN,
                                       .measured = 0.734567,
                                       .uncertainty = 0.0412,
                                       .uncertainty_from = "2 SE over 4 seeds",
                                       .n_seeds = 4,
                                       .tolerance = "",
                                       .tolerance_value = LM_NAN,
                                       .reason = "outside the claim (science.md §6): reported",
                                       .reported = 1});
    cr_assert_null(lm_exp_precondition(ctx, "kernel regime", 1, 0.12, "eta lambda/(nk) <= 0.5",
                                       "the step is too large"));
    cr_assert_not_null(lm_exp_precondition(ctx, "starts unstable", 0, 0.8, "S(0) > 2/eta",
                                           "S(0) eta / 2 = 0.8 < 1"));
    cr_assert_eq(ctx->n_claims, 6);
    lm_err err = {0};
    cr_assert_eq(lm_store_exp_end(f->s, ctx->exp_id, "finished", ctx->n_claims, ctx->claims, &err),
                 LM_OK, "%s", err.msg);
    lm_tmp_path(out, n, name);
    lm_report_figs *figs = calloc(1, sizeof *figs);
    cr_assert_not_null(figs);
    cr_assert_eq(lm_report_write(f->s, f->art, out, 0, NULL, figs, &err), LM_OK, "%s", err.msg);
    free(figs);
    char page[600];
    snprintf(page, sizeof page, "%s/index.html", out);
    uint8_t *html;
    size_t len;
    cr_assert_eq(lm_file_read(page, &html, &len, &err), LM_OK, "%s", err.msg);
    char *s = malloc(len + 1);
    cr_assert_not_null(s);
    memcpy(s, html, len);
    s[len] = '\0';
    lm_free(html);
    return s;
}

Test(report, reported_figures_apart_from_the_claims) {
    lm_fx f;
    char out[256];
    char *html = report_of_fixture(&f, "rep-apart", out, sizeof out);
    char *claims = between(html, "<table class=\"claims\">", "</table>");
    char *reported = between(html, "<table class=\"claims reported\">", "</table>");
    cr_assert_not_null(claims, "no claims table");
    cr_assert_not_null(reported, "no table of reported figures");
    cr_assert(strstr(html, "measured, not claimed"));
    /* the claims, and only they, in the claims table */
    cr_assert(strstr(claims, "width law slope") && strstr(claims, "progressive sharpening") &&
              strstr(claims, "control never reaches"));
    cr_assert_null(strstr(claims, "whole-NTK alignment"), "a reported figure among the claims");
    cr_assert_null(strstr(claims, "precondition"), "a precondition among the claims");
    cr_assert_null(strstr(claims, ">reported<"));
    /* the reported figure with m ± u, its reason and the detail */
    cr_assert(strstr(reported, "whole-NTK alignment"), "%s", reported);
    cr_assert(strstr(reported, "0.73 \u00b1 0.04"), "%s", reported);
    cr_assert(strstr(reported, "outside the claim (science.md §6): reported"));
    cr_assert(strstr(reported, "2 SE over 4 seeds"));
    cr_assert(strstr(reported, "<td class=\"verdict reported\">reported</td>"));
    /* preconditions: whether they hold */
    char *holds = between(reported, "precondition: kernel regime", "</tr>");
    char *unmet = between(reported, "precondition: starts unstable", "</tr>");
    cr_assert(holds && strstr(holds, "<td class=\"verdict holds\">holds</td>"), "%s", reported);
    cr_assert(unmet && strstr(unmet, "<td class=\"verdict unmet\">does NOT hold</td>"), "%s",
              reported);
    cr_assert(strstr(unmet, "S(0) eta / 2 = 0.8 &lt; 1"), "%s", unmet);
    /* the counts; the CSS styles the reported verdict */
    cr_assert(strstr(html, "1 pass, 1 fail, 1 inconclusive, 3 reported"), "%s", html);
    cr_assert(strstr(html, "td.reported{"));
    free(holds);
    free(unmet);
    free(claims);
    free(reported);
    free(html);
    rm_tree(out);
    lm_fx_close(&f);
}

Test(report, numbers_intervals_and_the_power_estimate) {
    lm_fx f;
    char out[256];
    char *html = report_of_fixture(&f, "rep-numbers", out, sizeof out);
    char *claims = between(html, "<table class=\"claims\">", "</table>");
    cr_assert_not_null(claims);
    /* m ± u at the precision u supports, not -0.48837 ± 0.0979457 */
    cr_assert(strstr(claims, "-0.49 \u00b1 0.10"), "%s", claims);
    cr_assert_null(strstr(claims, "0.0979457"));
    cr_assert(strstr(claims, "1.25 \u00b1 0.10"), "%s", claims);
    cr_assert(strstr(claims, "1.31 \u00b1 0"), "%s", claims); /* exact: u = 0 */
    /* the tolerance interval, open sides as infinity */
    cr_assert(strstr(claims, "[-0.75, -0.25]"), "%s", claims);
    cr_assert(strstr(claims, "[1.2, &infin;)"), "%s", claims);
    cr_assert(strstr(claims, "(&minus;&infin;, 0.9]"), "%s", claims);
    /* the inconclusive claim: why, with about 4 (0.1/0.05)^2 = 16 seeds to decide it */
    char *row = between(claims, "progressive sharpening", "</tr>");
    cr_assert_not_null(row);
    cr_assert(strstr(row, "verdict inconclusive"), "%s", row);
    cr_assert(strstr(row, "<div class=\"why\">inconclusive: [1.15, 1.35] straddles the edge 1.2; "
                          "about 16 seeds (now 4) would decide it"),
              "%s", row);
    cr_assert(strstr(row, "2 SE over 4 seeds"), "%s", row);
    free(row);
    free(claims);
    free(html);
    rm_tree(out);
    lm_fx_close(&f);
}

Test(report, overview_counts_reported_figures) {
    /* two invocations: the overview table has a reported column */
    lm_fx f;
    char out[256];
    char *html = report_of_fixture(&f, "rep-overview", out, sizeof out);
    free(html);
    rm_tree(out);
    lm_err err = {0};
    int64_t id;
    cr_assert_eq(lm_store_exp_begin(f.s, "second", 0, &id, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_store_exp_end(f.s, id, "finished", 0, NULL, &err), LM_OK, "%s", err.msg);
    lm_report_figs *figs = calloc(1, sizeof *figs);
    cr_assert_not_null(figs);
    cr_assert_eq(lm_report_write(f.s, f.art, out, 0, NULL, figs, &err), LM_OK, "%s", err.msg);
    free(figs);
    char page[600];
    snprintf(page, sizeof page, "%s/index.html", out);
    uint8_t *p;
    size_t len;
    cr_assert_eq(lm_file_read(page, &p, &len, &err), LM_OK, "%s", err.msg);
    char *s = calloc(1, len + 1);
    cr_assert_not_null(s);
    memcpy(s, p, len);
    lm_free(p);
    char *ov = between(s, "<table class=\"claims overview\">", "</table>");
    cr_assert_not_null(ov, "no overview");
    cr_assert(strstr(ov, "<th>reported</th>"), "%s", ov);
    cr_assert(strstr(ov, "<td class=\"num pass\">1</td><td class=\"num fail\">1</td>"
                         "<td class=\"num inconclusive\">1</td><td class=\"num reported\">3</td>"),
              "%s", ov);
    cr_assert(strstr(s, "No claims recorded."));
    free(ov);
    free(s);
    rm_tree(out);
    lm_fx_close(&f);
}
