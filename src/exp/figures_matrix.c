/*
 * figures_matrix.c: a heatmap of a small matrix (CKA between layers, widths or seeds), the figure
 * Kornblith et al. 2019 draw. The data file holds the matrix as gnuplot's nonuniform-free
 * "matrix" block (rows x cols numbers); the script draws it "with image" and prints each cell's
 * value over it, so the figure can be read without a colour scale.
 */
#include "exp/internal.h"

#include "lmech/io.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* gnuplot single-quoted text: a quote doubled, line breaks as spaces */
static void gp_quote(const char *s, char *buf, size_t n) {
    size_t k = 0;
    for (; s && *s && k + 2 < n; s++) {
        if (*s == '\'')
            buf[k++] = '\'';
        buf[k++] = *s == '\n' || *s == '\r' ? ' ' : *s;
    }
    buf[k] = '\0';
}

/* "set xtics ('a' 0, 'b' 1, ...)" for n ticks */
static int tics(char *out, size_t cap, const char *axis, size_t n, const char *const *names) {
    int k = snprintf(out, cap, "set %stics (", axis);
    for (size_t i = 0; i < n && k > 0 && (size_t) k < cap; i++) {
        char q[96], d[32];
        snprintf(d, sizeof d, "%zu", i + 1);
        gp_quote(names ? names[i] : d, q, sizeof q);
        k += snprintf(out + k, cap - (size_t) k, "%s'%s' %zu", i ? ", " : "", q, i);
    }
    if (k > 0 && (size_t) k < cap)
        k += snprintf(out + k, cap - (size_t) k, ")\n");
    return k;
}

lm_status lm__exp_figure_matrix(const lm_exp_ctx *ctx, const char *name, const char *title,
                                const char *xlabel, const char *ylabel, size_t rows, size_t cols,
                                const char *const *row_names, const char *const *col_names,
                                const double *v, double vmin, double vmax, lm_err *err) {
    if (rows == 0 || cols == 0 || rows > 64 || cols > 64)
        LM_FAIL(err, LM_EINVAL, "figure %s: a %zu x %zu matrix (1 .. 64 each way)", name, rows,
                cols);
    if (!(vmin < vmax)) { /* automatic: from the data's minimum, rounded down to a tenth */
        double lo = LM_INF;
        for (size_t i = 0; i < rows * cols; i++)
            lo = isfinite(v[i]) ? fmin(lo, v[i]) : lo;
        vmin = isfinite(lo) ? floor(10 * lo) / 10 : 0;
        vmax = vmin < 1 ? 1 : vmin + 1;
    }
    char dir[LM_PATH_MAX + 32], path[LM_PATH_MAX + 128];
    snprintf(dir, sizeof dir, "%s/exp-%lld", ctx->artifact_dir, (long long) ctx->exp_id);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        LM_FAIL(err, LM_EIO, "%s: cannot create: %s", dir, strerror(errno));
    const size_t cap = 128 + rows * cols * 24;
    char *buf = lm_malloc(cap);
    if (!buf)
        LM_FAIL(err, LM_ENOMEM, "out of memory for figure %s", name);
    size_t len = (size_t) snprintf(buf, cap, "# %zu x %zu matrix, row i = y tick i\n", rows, cols);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            len += (size_t) snprintf(buf + len, cap - len, "%.6f%s", v[i * cols + j],
                                     j + 1 < cols ? "\t" : "\n");
    snprintf(path, sizeof path, "%s/%s.tsv", dir, name);
    lm_status st = lm_file_write_atomic(path, buf, len, err);
    lm_free(buf);
    LM_TRY(st);

    char gp[8192], t0[512], t1[256], t2[256], xt[2048], yt[2048];
    gp_quote(title, t0, sizeof t0);
    gp_quote(xlabel, t1, sizeof t1);
    gp_quote(ylabel, t2, sizeof t2);
    if (tics(xt, sizeof xt, "x", cols, col_names) >= (int) sizeof xt ||
        tics(yt, sizeof yt, "y", rows, row_names) >= (int) sizeof yt)
        LM_FAIL(err, LM_EINTERNAL, "figure %s: tick labels too long", name);
    const int k = snprintf(
        gp, sizeof gp,
        "# lmech figure: %s.\n# Re-render: gnuplot %s.gp (in this directory) writes %s.png and "
        "%s.svg.\n"
        "set terminal pngcairo size 760,640 font ',11'\nset output '%s.png'\n"
        "set title '%s'\nset xlabel '%s'\nset ylabel '%s'\n%s%s"
        "set xrange [-0.5:%zu.5]\nset yrange [-0.5:%zu.5]\nset cbrange [%g:%g]\n"
        "set palette defined (0 '#ffffff', 1 '#fdd49e', 2 '#fc8d59', 3 '#b30000')\n"
        "set size ratio -1\nunset key\n"
        "plot '%s.tsv' matrix with image, \\\n"
        "     '' matrix using 1:2:(sprintf('%%.3f', $3)) with labels font ',9'\n"
        "set terminal svg size 760,640 dynamic font ',11'\nset output '%s.svg'\nreplot\n",
        title, name, name, name, name, t0, t1, t2, xt, yt, cols - 1, rows - 1, vmin, vmax, name,
        name);
    if (k <= 0 || (size_t) k >= sizeof gp)
        LM_FAIL(err, LM_EINTERNAL, "figure %s: script too long", name);
    snprintf(path, sizeof path, "%s/%s.gp", dir, name);
    LM_TRY(lm_file_write_atomic(path, gp, (size_t) k, err));
    if (ctx->n_runs > 0 && ctx->run[0] > 0)
        LM_TRY(lm_store_put_artifact(ctx->store, ctx->run[0], name, "figure", path, err));
    return LM_OK;
}
