/*
 * figures.c: experiment-specific figures. Each figure is a tab-separated data file and a gnuplot
 * script beside it that renders <name>.png and <name>.svg (re-render or edit by hand with
 * `gnuplot <name>.gp` in that directory). The library only writes files; `lmech report` runs
 * gnuplot and checks its exit status.
 */
#include "exp/internal.h"

#include "lmech/io.h"

#include <errno.h>
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
    char gp[4096];
    int k = snprintf(gp, sizeof gp,
                     "# lmech figure: %s.\n# Re-render: gnuplot %s.gp (in this directory) writes "
                     "%s.png and %s.svg.\n"
                     "set terminal pngcairo size 960,560 font ',11'\nset output '%s.png'\n"
                     "set datafile separator '\\t'\nset title '%s'\nset xlabel '%s'\n"
                     "set ylabel '%s'\nset grid\nset key top right box\n%s"
                     "plot ",
                     title, name, name, name, name, title, cols[0], ylabel,
                     logy ? "set logscale y\nset format y '10^{%L}'\n" : "");
    for (size_t j = 1; j < ncols && k > 0 && (size_t) k < sizeof gp; j++)
        k += snprintf(gp + k, sizeof gp - (size_t) k,
                      "%s'%s.tsv' using 1:%zu with lines lw %s title '%s'",
                      j > 1 ? ", \\\n     " : "", name, j + 1, j == 1 ? "1" : "2", cols[j]);
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
