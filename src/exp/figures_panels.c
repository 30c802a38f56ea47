/*
 * figures_panels.c: a figure of several stacked panels that share one x axis (gnuplot
 * multiplot), for quantities of one run that live on one time axis but in different units:
 * four-layers draws performance, training process, representations and weights of one network
 * this way. Each panel has a left and an optional right (y2) axis, each linear or logarithmic;
 * each series is drawn as a line, a dashed line (a prediction or a threshold) or points. Keys sit
 * outside the data, right of each panel.
 *
 * Files, as lm__exp_figure_lines writes them: <name>.tsv (one gnuplot `index` block of x y rows
 * per series, in panel order) and <name>.gp, which renders <name>.png and <name>.svg. The
 * multiplot is written out once per terminal (gnuplot's replot repeats only the last panel).
 * Every file name in the script is quoted as '<name>.…', the form `lmech report` rewrites when
 * it copies a figure.
 */
#include "exp/internal.h"

#include "lmech/io.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* A colour per series of a panel (the matplotlib "tab10" cycle); dashed series are drawn in
 * the colour of their index too, so a threshold can share the colour of its measurement. */
static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define N_PALETTE (sizeof palette / sizeof palette[0])

static int plottable(const lm__exp_panel_series *s, int logy, double x0, double x1) {
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        k += isfinite(s->x[i]) && isfinite(s->y[i]) && (!logy || s->y[i] > 0) && s->x[i] >= x0 &&
             s->x[i] <= x1;
    return k > 0;
}

/* The gnuplot commands of the whole multiplot (for one terminal already set). */
static void panels_body(lm_sb *g, const char *name, const char *title, const char *xlabel,
                        double x0, double x1, size_t np, const lm__exp_panel *p) {
    char t0[512], t1[512];
    /* the plot area spans [L, R] of the width; the keys sit right of R + room for y2's tics */
    const double L = 0.085, R = 0.70, top = 0.94, bottom = 0.06, gap = 0.012;
    const double h = (top - bottom - gap * (double) (np - 1)) / (double) np;
    lm_sb_printf(g, "set multiplot title '%s' font ',14'\n", lm__exp_gp_text(title, t0, sizeof t0));
    lm_sb_printf(g, "set lmargin at screen %.4f\nset rmargin at screen %.4f\n", L, R);
    lm_sb_printf(g, "set xrange [%.10g:%.10g]\nset grid xtics ytics lc rgb '#dddddd'\n", x0, x1);
    /* panel names in an opaque box: curves pass beneath them */
    lm_sb_printf(g, "set style textbox opaque noborder margins 2, 1\n");
    size_t block = 0;
    for (size_t k = 0; k < np; k++) {
        const lm__exp_panel *q = &p[k];
        const double ptop = top - (double) k * (h + gap);
        lm_sb_printf(g, "\n# panel %zu: %s\nunset label\nunset logscale\nunset y2tics\n", k + 1,
                     q->title ? q->title : "");
        lm_sb_printf(g, "set tmargin at screen %.4f\nset bmargin at screen %.4f\n", ptop, ptop - h);
        char lo[40] = "*", hi[40] = "*";
        if (isfinite(q->ymin))
            snprintf(lo, sizeof lo, "%.10g", q->ymin);
        if (isfinite(q->ymax))
            snprintf(hi, sizeof hi, "%.10g", q->ymax);
        lm_sb_printf(g, "set ytics nomirror\nset yrange [%s:%s]\nset y2range [*:*]\n", lo, hi);
        lm_sb_printf(g, "set ylabel '%s'\n", lm__exp_gp_text(q->ylabel, t0, sizeof t0));
        if (q->logy)
            lm_sb_printf(g, "set logscale y\nset format y '10^{%%L}'\n");
        else
            lm_sb_printf(g, "set format y '%%g'\n");
        if (k + 1 == np)
            lm_sb_printf(g, "set format x '%%g'\nset xlabel '%s'\n",
                         lm__exp_gp_text(xlabel, t0, sizeof t0));
        else
            lm_sb_printf(g, "set format x ''\nunset xlabel\n");
        /* the panel's name, top left inside the frame */
        lm_sb_printf(g, "set label 1 '%s' at graph 0.01, graph 0.92 left font ',12' front boxed\n",
                     lm__exp_gp_text(q->title, t0, sizeof t0));
        int have1 = 0, have2 = 0;
        for (size_t j = 0; j < q->ns; j++) {
            const int ok = plottable(&q->s[j], q->s[j].y2 ? q->logy2 : q->logy, x0, x1);
            have1 |= ok && !q->s[j].y2;
            have2 |= ok && q->s[j].y2;
        }
        if (have2) {
            lm_sb_printf(g, "set y2tics nomirror\nset y2label '%s'\n",
                         lm__exp_gp_text(q->y2label, t0, sizeof t0));
            if (q->logy2)
                lm_sb_printf(g, "set logscale y2\nset format y2 '10^{%%L}'\n");
            else
                lm_sb_printf(g, "set format y2 '%%g'\n");
        } else {
            lm_sb_printf(g, "unset y2label\n");
        }
        int titled = 0;
        for (size_t j = 0; j < q->ns; j++)
            titled |= plottable(&q->s[j], q->s[j].y2 ? q->logy2 : q->logy, x0, x1) &&
                      (have1 || q->s[j].y2);
        if (titled)
            lm_sb_printf(g, "set key at screen 0.99, graph 1.0 right top Left reverse box opaque "
                            "spacing 1.15 font ',10'\n");
        else
            lm_sb_printf(g, "unset key\n");
        if (!have1) {
            /* nothing on the left axis: a fixed range, the panel's note, an invisible constant
             * (gnuplot refuses a plot whose every point is undefined) */
            if (!isfinite(q->ymin) || !isfinite(q->ymax))
                lm_sb_printf(g, "set yrange [0:1]\n");
            lm_sb_printf(g, "set label 2 '%s' at graph 0.5, graph 0.5 center font ',12'\n",
                         lm__exp_gp_text(q->note ? q->note : "not recorded", t0, sizeof t0));
        } else if (q->note) {
            lm_sb_printf(g, "set label 2 '%s' at graph 0.99, graph 0.07 right font ',9' front\n",
                         lm__exp_gp_text(q->note, t0, sizeof t0));
        }
        lm_sb_printf(g, "plot ");
        int first = 1;
        if (!have1) {
            lm_sb_printf(g, "%.10g notitle", isfinite(q->ymax) ? 2 * fabs(q->ymax) + 1 : 2.0);
            first = 0;
        }
        for (size_t j = 0; j < q->ns; j++, block++) {
            const lm__exp_panel_series *s = &q->s[j];
            const int logy = s->y2 ? q->logy2 : q->logy;
            if (!plottable(s, logy, x0, x1) || (!have1 && !s->y2))
                continue;
            const char *col = palette[(s->color >= 0 ? (size_t) s->color : j) % N_PALETTE];
            const char *using = logy ? "1:($2 > 0 ? $2 : 1/0)" : "1:2";
            char style[160];
            switch (s->style) {
            case LM__PANEL_DASHED:
                snprintf(style, sizeof style, "lines dt 2 lw 2 lc rgb '%s'", col);
                break;
            case LM__PANEL_POINTS:
                snprintf(style, sizeof style, "linespoints pt 7 ps 0.6 lw 1 lc rgb '%s'", col);
                break;
            default:
                snprintf(style, sizeof style, "lines lw 2 lc rgb '%s'", col);
            }
            lm_sb_printf(g, "%s'%s.tsv' index %zu using %s%s with %s title '%s'",
                         first ? "" : ", \\\n     ", name, block, using, s->y2 ? " axes x1y2" : "",
                         style, lm__exp_gp_text(s->label, t1, sizeof t1));
            first = 0;
        }
        lm_sb_printf(g, "\n");
    }
    lm_sb_printf(g, "unset multiplot\n");
}

lm_status lm__exp_figure_panels(const lm_exp_ctx *ctx, const char *name, const char *title,
                                const char *xlabel, double x0, double x1, size_t np,
                                const lm__exp_panel *p, lm_err *err) {
    if (np == 0 || !p || !(x1 > x0))
        LM_FAIL(err, LM_EINVAL, "figure %s: need at least one panel and x0 < x1 (got %zu, %g, %g)",
                name, np, x0, x1);
    char dir[LM_PATH_MAX + 32], path[LM_PATH_MAX + 128];
    snprintf(dir, sizeof dir, "%s/exp-%lld", ctx->artifact_dir, (long long) ctx->exp_id);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        LM_FAIL(err, LM_EIO, "%s: cannot create: %s", dir, strerror(errno));
    lm_sb d = {0}, g = {0};
    lm_sb_printf(&d, "# %s: one block (x y) per series, panels top to bottom\n", name);
    for (size_t k = 0; k < np; k++)
        for (size_t j = 0; j < p[k].ns; j++) {
            const lm__exp_panel_series *s = &p[k].s[j];
            lm_sb_printf(&d, "# panel %zu, %s\n", k + 1, s->label);
            for (size_t i = 0; i < s->n; i++)
                lm_sb_printf(&d, "%.10g\t%.10g\n", s->x[i], s->y[i]);
            if (!s->n) /* gnuplot counts no block of comments only: the indices would shift */
                lm_sb_printf(&d, "NaN\tNaN\n");
            lm_sb_printf(&d, "\n\n");
        }
    const double height = 330.0 * (double) np + 80;
    lm_sb_printf(
        &g,
        "# lmech figure: %s.\n# Re-render: gnuplot %s.gp (in this directory) writes %s.png "
        "and %s.svg.\nset datafile separator '\\t'\n",
        title, name, name, name);
    lm_sb_printf(&g, "set terminal pngcairo size 1280,%.0f font ',11'\nset output '%s.png'\n",
                 height, name);
    panels_body(&g, name, title, xlabel, x0, x1, np, p);
    lm_sb_printf(&g, "\nset terminal svg size 1280,%.0f dynamic font ',11'\nset output '%s.svg'\n",
                 height, name);
    panels_body(&g, name, title, xlabel, x0, x1, np, p);
    lm_status st = LM_OK;
    if (d.oom || g.oom)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory for figure %s", name);
    if (st == LM_OK) {
        snprintf(path, sizeof path, "%s/%s.tsv", dir, name);
        st = lm_file_write_atomic(path, d.p, d.len, err);
    }
    if (st == LM_OK) {
        snprintf(path, sizeof path, "%s/%s.gp", dir, name);
        st = lm_file_write_atomic(path, g.p, g.len, err);
    }
    if (st == LM_OK && ctx->n_runs > 0 && ctx->run[0] > 0)
        st = lm_store_put_artifact(ctx->store, ctx->run[0], name, "figure", path, err);
    lm_free(d.p);
    lm_free(g.p);
    return st;
}
