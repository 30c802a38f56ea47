/*
 * figures.c: experiment-specific figures. Each figure is a tab-separated data file and a gnuplot
 * script beside it that renders <name>.png and <name>.svg (re-render or edit by hand with
 * `gnuplot <name>.gp` in that directory). The library only writes files; `lmech report` runs
 * gnuplot and checks its exit status.
 */
#include "exp/internal.h"

#include "lmech/io.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static lm_status fig_dir(const lm_exp_ctx *ctx, char *dir, size_t n, lm_err *err) {
    snprintf(dir, n, "%s/exp-%lld", ctx->artifact_dir, (long long) ctx->exp_id);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        LM_FAIL(err, LM_EIO, "%s: cannot create: %s", dir, strerror(errno));
    return LM_OK;
}

lm_status lm__exp_figure_spectrum(const lm_exp_ctx *ctx, const char *name, size_t p,
                                  const double *evals, size_t n_grid, const double *grid,
                                  const double *density, lm_err *err) {
    char dir[LM_PATH_MAX + 32], path[LM_PATH_MAX + 128];
    LM_TRY(fig_dir(ctx, dir, sizeof dir, err));
    /* histogram of the exact eigenvalues on the density's grid, normalised like the density */
    const double lo = grid[0], step = grid[1] - grid[0];
    size_t *count = lm_calloc(n_grid, sizeof *count);
    if (!count)
        LM_FAIL(err, LM_ENOMEM, "out of memory for a histogram");
    for (size_t i = 0; i < p; i++) {
        double b = floor((evals[i] - lo) / step + 0.5);
        size_t k = b < 0 ? 0 : (b >= (double) n_grid ? n_grid - 1 : (size_t) b);
        count[k]++;
    }
    size_t cap = 64 + n_grid * 80, len = 0;
    char *buf = lm_malloc(cap);
    if (!buf) {
        lm_free(count);
        LM_FAIL(err, LM_ENOMEM, "out of memory for a figure");
    }
    len += (size_t) snprintf(buf + len, cap - len, "# eigenvalue\texact_density\tslq_density\n");
    for (size_t k = 0; k < n_grid; k++)
        len += (size_t) snprintf(buf + len, cap - len, "%.10g\t%.10g\t%.10g\n", grid[k],
                                 (double) count[k] / ((double) p * step), density[k]);
    lm_free(count);
    snprintf(path, sizeof path, "%s/%s.tsv", dir, name);
    lm_status st = lm_file_write_atomic(path, buf, len, err);
    lm_free(buf);
    LM_TRY(st);
    char gp[2048];
    int n = snprintf(
        gp, sizeof gp,
        "# lmech figure: Hessian spectrum, exact (LAPACK) against SLQ.\n"
        "# Re-render: gnuplot %s.gp (in this directory) writes %s.png and %s.svg.\n"
        "set terminal pngcairo size 960,560 font ',11'\n"
        "set output '%s.png'\n"
        "set datafile separator '\\t'\n"
        "set title 'Hessian spectrum: exact eigenvalues (histogram) and SLQ density'\n"
        "set xlabel 'eigenvalue'\nset ylabel 'density (log scale)'\n"
        "set logscale y\nset format y '10^{%%L}'\nset grid\nset key top right box\n"
        "set yrange [1e-4:*]\n"
        "plot '%s.tsv' using 1:($2 > 0 ? $2 : 1/0) with impulses lw 2 lc rgb '#1f77b4' "
        "title 'exact (LAPACK)', \\\n"
        "     '' using 1:($3 > 1e-4 ? $3 : 1/0) with lines lw 2 lc rgb '#d62728' title 'SLQ'\n"
        "set terminal svg size 960,560 dynamic font ',11'\n"
        "set output '%s.svg'\nreplot\n",
        name, name, name, name, name, name);
    snprintf(path, sizeof path, "%s/%s.gp", dir, name);
    LM_TRY(lm_file_write_atomic(path, gp, (size_t) n, err));
    if (ctx->n_runs > 0 && ctx->run[0] > 0)
        LM_TRY(lm_store_put_artifact(ctx->store, ctx->run[0], name, "figure", path, err));
    return LM_OK;
}

const char *lm__exp_gp_text(const char *s, char *buf, size_t n) {
    size_t k = 0;
    for (; s && *s && k + 2 < n; s++) {
        if (*s == '\'')
            buf[k++] = '\'';
        buf[k++] = *s == '\n' || *s == '\r' ? ' ' : *s;
    }
    buf[k] = '\0';
    return buf;
}

lm_status lm__exp_figure_lines(const lm_exp_ctx *ctx, const char *name, const char *title,
                               const char *ylabel, int logy, size_t ncols, const char *const *cols,
                               size_t n, const double *data, lm_err *err) {
    char dir[LM_PATH_MAX + 32], path[LM_PATH_MAX + 128];
    LM_TRY(fig_dir(ctx, dir, sizeof dir, err));
    size_t cap = 256 + n * ncols * 24, len = 0;
    char *buf = lm_malloc(cap);
    if (!buf)
        LM_FAIL(err, LM_ENOMEM, "out of memory for a figure");
    len += (size_t) snprintf(buf + len, cap - len, "#");
    for (size_t j = 0; j < ncols; j++)
        len += (size_t) snprintf(buf + len, cap - len, "%s%s", j ? "\t" : " ", cols[j]);
    len += (size_t) snprintf(buf + len, cap - len, "\n");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < ncols; j++)
            len += (size_t) snprintf(buf + len, cap - len, "%.10g%s", data[i * ncols + j],
                                     j + 1 < ncols ? "\t" : "\n");
    snprintf(path, sizeof path, "%s/%s.tsv", dir, name);
    lm_status st = lm_file_write_atomic(path, buf, len, err);
    lm_free(buf);
    LM_TRY(st);
    char gp[4096], t0[512], t1[512], t2[512];
    int k =
        snprintf(gp, sizeof gp,
                 "# lmech figure: %s.\n# Re-render: gnuplot %s.gp (in this directory) writes "
                 "%s.png and %s.svg.\n"
                 "set terminal pngcairo size 960,560 font ',11'\nset output '%s.png'\n"
                 "set datafile separator '\\t'\nset title '%s'\nset xlabel '%s'\n"
                 "set ylabel '%s'\nset grid\nset key top right box\n%s"
                 "plot ",
                 title, name, name, name, name, lm__exp_gp_text(title, t0, sizeof t0),
                 lm__exp_gp_text(cols[0], t1, sizeof t1), lm__exp_gp_text(ylabel, t2, sizeof t2),
                 logy ? "set logscale y\nset format y '10^{%L}'\n" : "");
    for (size_t j = 1; j < ncols && k > 0 && (size_t) k < sizeof gp; j++)
        k += snprintf(gp + k, sizeof gp - (size_t) k,
                      "%s'%s.tsv' using 1:%zu with lines lw %s title '%s'",
                      j > 1 ? ", \\\n     " : "", name, j + 1, j == 1 ? "1" : "2",
                      lm__exp_gp_text(cols[j], t0, sizeof t0));
    if (k > 0 && (size_t) k < sizeof gp)
        k += snprintf(gp + k, sizeof gp - (size_t) k,
                      "\nset terminal svg size 960,560 dynamic font ',11'\nset output '%s.svg'\n"
                      "replot\n",
                      name);
    if (k <= 0 || (size_t) k >= sizeof gp)
        LM_FAIL(err, LM_EINTERNAL, "figure %s: script too long", name);
    snprintf(path, sizeof path, "%s/%s.gp", dir, name);
    LM_TRY(lm_file_write_atomic(path, gp, (size_t) k, err));
    if (ctx->n_runs > 0 && ctx->run[0] > 0)
        LM_TRY(lm_store_put_artifact(ctx->store, ctx->run[0], name, "figure", path, err));
    return LM_OK;
}

/* Appends printf text to a growing buffer (*buf of capacity *cap); 0 on success. */
static int grow_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int grow_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const int k = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (k < 0)
            return -1;
        if ((size_t) k < *cap - *len) {
            *len += (size_t) k;
            return 0;
        }
        const size_t ncap = 2 * *cap + (size_t) k;
        char *b = lm_malloc(ncap);
        if (!b)
            return -1;
        memcpy(b, *buf, *len);
        lm_free(*buf);
        *buf = b;
        *cap = ncap;
    }
}

void lm__exp_law_line(size_t n, const double *x, const double *y, double p, double *py) {
    double acc = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] > 0 && y[i] > 0 && isfinite(x[i]) && isfinite(y[i])) {
            acc += log(y[i]) - p * log(x[i]);
            k++;
        }
    const double c = k ? exp(acc / (double) k) : LM_NAN;
    for (size_t i = 0; i < n; i++)
        py[i] = x[i] > 0 ? c * pow(x[i], p) : LM_NAN;
}

lm_status lm__exp_figure_law(const lm_exp_ctx *ctx, const char *name, const char *title,
                             const char *xlabel, const char *ylabel, int logx, int logy, size_t ns,
                             const lm__exp_fig_series *s, lm_err *err) {
    char dir[LM_PATH_MAX + 32], path[LM_PATH_MAX + 128];
    LM_TRY(fig_dir(ctx, dir, sizeof dir, err));
    /* the data: per series one block of measured points (x, y, u) and one of the predicted
     * curve (x, y), separated by two blank lines so that gnuplot's `index` selects them */
    size_t cap = 4096, len = 0, gcap = 4096, glen = 0;
    char *buf = lm_malloc(cap), *gp = lm_malloc(gcap);
    char t0[256], t1[256], t2[256];
    size_t points = 0; /* plottable measured points: with none gnuplot's autoscale fails */
    int bad = !buf || !gp;
    if (!bad)
        bad = grow_printf(&buf, &len, &cap,
                          "# %s: per series, measured (x y u95), then the "
                          "prediction (x y)\n",
                          name);
    for (size_t j = 0; j < ns && !bad; j++) {
        bad |= grow_printf(&buf, &len, &cap, "# measured: %s\n", s[j].label);
        for (size_t i = 0; i < s[j].n && !bad; i++) {
            bad |= grow_printf(&buf, &len, &cap, "%.10g\t%.10g\t%.10g\n", s[j].x[i], s[j].y[i],
                               s[j].u && isfinite(s[j].u[i]) ? s[j].u[i] : 0.0);
            points += isfinite(s[j].x[i]) && isfinite(s[j].y[i]) && (!logx || s[j].x[i] > 0) &&
                      (!logy || s[j].y[i] > 0);
        }
        if (!s[j].n && !bad) /* gnuplot counts no data set of comments only: index would shift */
            bad |= grow_printf(&buf, &len, &cap, "NaN\tNaN\tNaN\n");
        bad |= grow_printf(&buf, &len, &cap, "\n\n# predicted: %s\n",
                           s[j].pred_label ? s[j].pred_label : "(none)");
        for (size_t i = 0; i < s[j].n_pred && !bad; i++)
            bad |= grow_printf(&buf, &len, &cap, "%.10g\t%.10g\n", s[j].px[i], s[j].py[i]);
        if (!s[j].n_pred && !bad) /* an empty block still needs a point for `index` */
            bad |= grow_printf(&buf, &len, &cap, "NaN\tNaN\n");
        bad |= grow_printf(&buf, &len, &cap, "\n\n");
    }
    if (!bad)
        bad = grow_printf(
            &gp, &glen, &gcap,
            "# lmech figure: %s.\n# Measured points with 95 %% error bars; the predicted law as a "
            "dashed line of the same colour.\n# Re-render: gnuplot %s.gp (in this directory) "
            "writes %s.png and %s.svg.\n"
            "set terminal pngcairo size 960,560 font ',11'\nset output '%s.png'\n"
            "set datafile separator '\\t'\nset title '%s'\nset xlabel '%s'\nset ylabel '%s'\n"
            "set grid\nset key outside right top box\n%s%s%splot ",
            title, name, name, name, name, lm__exp_gp_text(title, t0, sizeof t0),
            lm__exp_gp_text(xlabel, t1, sizeof t1), lm__exp_gp_text(ylabel, t2, sizeof t2),
            logx ? "set logscale x 2\n" : "", logy ? "set logscale y\n" : "",
            points ? ""
                   : "set xrange [1:2]\nset yrange [1:2]\nset label 1 'nothing could be "
                     "measured' at graph 0.5, 0.5 center\n");
    for (size_t j = 0; j < ns && !bad; j++) {
        bad |= grow_printf(&gp, &glen, &gcap,
                           "%s'%s.tsv' index %zu using 1:2:3 with yerrorlines lc %zu pt 7 ps 0.8 "
                           "lw 1.5 title '%s'",
                           j ? ", \\\n     " : "", name, 2 * j, j + 1,
                           lm__exp_gp_text(s[j].label, t0, sizeof t0));
        if (s[j].n_pred && !bad)
            bad |= grow_printf(
                &gp, &glen, &gcap,
                ", \\\n     '%s.tsv' index %zu using 1:2 with lines lc %zu dt 2 "
                "lw 2 title '%s'",
                name, 2 * j + 1, j + 1,
                lm__exp_gp_text(s[j].pred_label ? s[j].pred_label : "predicted", t0, sizeof t0));
    }
    if (!bad)
        bad = grow_printf(&gp, &glen, &gcap,
                          "\nset terminal svg size 960,560 dynamic font ',11'\nset output "
                          "'%s.svg'\nreplot\n",
                          name);
    lm_status st = LM_OK;
    if (bad)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory for figure %s", name);
    if (st == LM_OK) {
        snprintf(path, sizeof path, "%s/%s.tsv", dir, name);
        st = lm_file_write_atomic(path, buf, len, err);
    }
    if (st == LM_OK) {
        snprintf(path, sizeof path, "%s/%s.gp", dir, name);
        st = lm_file_write_atomic(path, gp, glen, err);
    }
    if (st == LM_OK && ctx->n_runs > 0 && ctx->run[0] > 0)
        st = lm_store_put_artifact(ctx->store, ctx->run[0], name, "figure", path, err);
    lm_free(buf);
    lm_free(gp);
    return st;
}
