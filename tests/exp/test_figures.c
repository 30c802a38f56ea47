/*
 * test_figures.c: the width-law figures (src/exp/figures.c): lm__exp_figure_law writes a .tsv
 * with one block per series' measured points (x y u95) and one per its prediction (x y), which
 * gnuplot's `index` selects, and a .gp that renders to a non-empty PNG and SVG (skipped when
 * gnuplot is absent); lm__exp_law_line puts the n^p line through the data's geometric mean.
 */
#include "lm_test.h"

#include "exp_fixture.h"
#include "lmech/io.h"

/* The .tsv as blocks (gnuplot's data sets: separated by two blank lines) of rows of numbers. */
#define MAXB 16
#define MAXR 64
typedef struct blocks {
    size_t n;
    size_t rows[MAXB], cols[MAXB][MAXR];
    double v[MAXB][MAXR][3];
} blocks;

static char *slurp(const char *path) {
    lm_err err = {0};
    uint8_t *p;
    size_t len;
    cr_assert_eq(lm_file_read(path, &p, &len, &err), LM_OK, "%s", err.msg);
    char *s = calloc(1, len + 1);
    cr_assert_not_null(s);
    memcpy(s, p, len);
    lm_free(p);
    return s;
}

/* As gnuplot reads it: comment lines do not exist, and two blank lines or more after data
 * start the next data set (so a block of comments only is no data set at all). */
static void parse_blocks(const char *text, blocks *b) {
    memset(b, 0, sizeof *b);
    size_t blank = 0;
    int any = 0; /* a data row seen in the current data set */
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        const size_t len = end ? (size_t) (end - line) : strlen(line);
        if (len == 0) {
            blank++;
        } else if (line[0] != '#') {
            if (blank >= 2 && any) {
                b->n++;
                any = 0;
            }
            blank = 0;
            cr_assert_lt(b->n, MAXB);
            const size_t r = b->rows[b->n]++;
            cr_assert_lt(r, MAXR);
            char row[256];
            snprintf(row, sizeof row, "%.*s", (int) len, line);
            size_t c = 0;
            for (char *tok = strtok(row, "\t"); tok && c < 3; tok = strtok(NULL, "\t"))
                b->v[b->n][r][c++] = strtod(tok, NULL);
            b->cols[b->n][r] = c;
            any = 1;
        }
        line = end ? end + 1 : line + len;
    }
    if (any)
        b->n++;
}

static int have_gnuplot(void) {
    return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

/* Renders DIR/NAME.gp in DIR with gnuplot; 1 when NAME.png and NAME.svg are non-empty. */
static int renders(const char *dir, const char *name) {
    char cmd[1024], png[600], svg[600];
    snprintf(png, sizeof png, "%s/%s.png", dir, name);
    snprintf(svg, sizeof svg, "%s/%s.svg", dir, name);
    unlink(png);
    unlink(svg);
    snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot '%s.gp' >'%s.log' 2>&1", dir, name, name);
    if (system(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "cat '%s/%s.log' >&2", dir, name);
        (void) !system(cmd);
        return 0;
    }
    struct stat a, b;
    return stat(png, &a) == 0 && a.st_size > 0 && stat(svg, &b) == 0 && b.st_size > 0;
}

/* Two width sweeps: NTP (n^-1/2 law) with its prediction; a second one without prediction, with
 * a NaN uncertainty (written as 0). */
static const double W[4] = {64, 128, 256, 512};
static const double Y0[4] = {0.80, 0.59, 0.41, 0.29}, U0[4] = {0.05, 0.04, 0.02, 0.02};
static const double Y1[3] = {0.5, 0.45, 0.44}, U1[3] = {0.01, LM_NAN, 0.01};

static lm_status two_series(lm_fx *f, const char *name, const char *label0, lm_err *err) {
    double py[4];
    lm__exp_law_line(4, W, Y0, -0.5, py);
    const lm__exp_fig_series s[2] = {
        {.label = label0,
         .n = 4,
         .x = W,
         .y = Y0,
         .u = U0,
         .pred_label = "n^-1/2 (NTP)",
         .n_pred = 4,
         .px = W,
         .py = py},
        {.label = "muP", .n = 3, .x = W, .y = Y1, .u = U1},
    };
    return lm__exp_figure_law(f->ctx, name, "width law", "width n", "|dW|", 1, 1, 2, s, err);
}

Test(figures, law_figure_has_a_block_per_series_and_prediction) {
    lm_fx f;
    lm_fx_open(&f, "fig-blocks", 1);
    lm_fx_run(&f, "w=64", "{}");
    lm_err err = {0};
    cr_assert_eq(two_series(&f, "law", "NTP", &err), LM_OK, "%s", err.msg);
    char path[600];
    snprintf(path, sizeof path, "%s/exp-%lld/law.tsv", f.art, (long long) f.ctx->exp_id);
    char *tsv = slurp(path);
    blocks *b = calloc(1, sizeof *b);
    cr_assert_not_null(b);
    parse_blocks(tsv, b);
    /* index 0: NTP measured; 1: its law; 2: muP measured; 3: muP's (empty) prediction */
    cr_assert_eq(b->n, 4, "%zu blocks in\n%s", b->n, tsv);
    cr_assert_eq(b->rows[0], 4);
    cr_assert_eq(b->rows[1], 4);
    cr_assert_eq(b->rows[2], 3);
    cr_assert_eq(b->rows[3], 1, "an empty prediction keeps its block (one NaN row)");
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(b->cols[0][i], 3);
        cr_assert(b->v[0][i][0] == W[i] && lm_close(b->v[0][i][1], Y0[i], 1e-9, 0) &&
                  lm_close(b->v[0][i][2], U0[i], 1e-9, 0));
        cr_assert_eq(b->cols[1][i], 2);
        cr_assert(b->v[1][i][0] == W[i]);
    }
    cr_assert(b->v[2][1][2] == 0.0, "a NaN uncertainty is written as 0");
    cr_assert(isnan(b->v[3][0][0]));
    /* the script selects those blocks: points with error bars, the law dashed */
    snprintf(path, sizeof path, "%s/exp-%lld/law.gp", f.art, (long long) f.ctx->exp_id);
    char *gp = slurp(path);
    cr_assert(strstr(gp, "'law.tsv' index 0 using 1:2:3 with yerrorlines"), "%s", gp);
    cr_assert(strstr(gp, "'law.tsv' index 1 using 1:2 with lines lc 1 dt 2"), "%s", gp);
    cr_assert(strstr(gp, "'law.tsv' index 2 using 1:2:3 with yerrorlines"), "%s", gp);
    cr_assert_null(strstr(gp, "index 3"), "no line for a series without prediction");
    cr_assert(strstr(gp, "set logscale x 2") && strstr(gp, "set logscale y"));
    /* recorded as a figure artifact of the first run, for the report */
    cr_assert(strstr(gp, "set output 'law.png'") && strstr(gp, "set output 'law.svg'"));
    free(gp);
    free(b);
    free(tsv);
    lm_fx_close(&f);
}

Test(figures, law_figure_renders_with_gnuplot) {
    if (!have_gnuplot())
        cr_skip_test("gnuplot is not installed");
    lm_fx f;
    lm_fx_open(&f, "fig-render", 1);
    lm_fx_run(&f, "w=64", "{}");
    lm_err err = {0};
    cr_assert_eq(two_series(&f, "law", "NTP", &err), LM_OK, "%s", err.msg);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/exp-%lld", f.art, (long long) f.ctx->exp_id);
    cr_assert(renders(dir, "law"), "gnuplot did not render %s/law.gp", dir);
    lm_fx_close(&f);
}

Test(figures, law_line_goes_through_the_geometric_mean) {
    const double x[5] = {64, 128, 256, 512, 1024};
    const double y[5] = {3.1, 2.0, 1.7, 0.9, 0.8};
    double py[5];
    for (double p = -1; p <= 1; p += 0.5) {
        lm__exp_law_line(5, x, y, p, py);
        double ly = 0, lp = 0;
        for (size_t i = 0; i < 5; i++) {
            ly += log(y[i]) / 5;
            lp += log(py[i]) / 5;
            /* the slope is the law's */
            if (i)
                cr_assert(lm_close(py[i] / py[i - 1], pow(2, p), 1e-12, 0), "p=%g", p);
        }
        cr_assert(lm_close(lp, ly, 1e-12, 1e-12), "p=%g: %g vs %g", p, lp, ly);
        /* at the geometric mean of x the line is the geometric mean of y */
        const double gx = exp((log(64) + log(1024)) / 2), c = py[0] / pow(64, p);
        cr_assert(lm_close(c * pow(gx, p), exp(ly), 1e-12, 0));
    }
    /* points that cannot be on a log scale (y <= 0, NaN) do not pull the line; x <= 0 has none */
    const double x2[5] = {64, 128, 256, 512, 0};
    const double y2[5] = {4.0, LM_NAN, 2.0, -1.0, 5.0};
    lm__exp_law_line(5, x2, y2, -0.5, py);
    const double c = exp((log(4.0 * 8) + log(2.0 * 16)) / 2); /* y / x^-1/2 at x = 64, 256 */
    cr_assert(lm_close(py[0], c / 8, 1e-12, 0) && lm_close(py[1], c / sqrt(128), 1e-12, 0), "%g",
              py[0]);
    cr_assert(isnan(py[4]));
    /* no usable point: no line */
    const double y3[2] = {0, LM_NAN};
    lm__exp_law_line(2, x, y3, 1, py);
    cr_assert(isnan(py[0]) && isnan(py[1]));
}

/* Probes of the edges a real analysis meets: a width whose value could not be measured (an
 * empty measured block) and a legend with an apostrophe. */
Test(figures, law_figure_with_an_empty_series_renders) {
    if (!have_gnuplot())
        cr_skip_test("gnuplot is not installed");
    lm_fx f;
    lm_fx_open(&f, "fig-empty", 1);
    lm_fx_run(&f, "w=64", "{}");
    double py[4];
    lm__exp_law_line(4, W, Y0, -0.5, py);
    const lm__exp_fig_series s[2] = {
        {.label = "none measured", .n = 0, .x = W, .y = Y0, .u = U0},
        {.label = "NTP",
         .n = 4,
         .x = W,
         .y = Y0,
         .u = U0,
         .pred_label = "n^-1/2",
         .n_pred = 4,
         .px = W,
         .py = py},
    };
    lm_err err = {0};
    cr_assert_eq(lm__exp_figure_law(f.ctx, "empty", "t", "width n", "y", 1, 1, 2, s, &err), LM_OK,
                 "%s", err.msg);
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/exp-%lld", f.art, (long long) f.ctx->exp_id);
    snprintf(path, sizeof path, "%s/empty.tsv", dir);
    char *tsv = slurp(path);
    blocks *b = calloc(1, sizeof *b);
    cr_assert_not_null(b);
    parse_blocks(tsv, b);
    cr_assert_eq(b->n, 4, "%zu blocks: series 1 would read series 0's blocks\n%s", b->n, tsv);
    cr_assert_eq(b->rows[2], 4, "%s", tsv);
    cr_assert(renders(dir, "empty"), "gnuplot did not render %s/empty.gp", dir);
    free(b);
    free(tsv);
    lm_fx_close(&f);
}

Test(figures, law_figure_with_an_apostrophe_in_a_legend_renders) {
    if (!have_gnuplot())
        cr_skip_test("gnuplot is not installed");
    lm_fx f;
    lm_fx_open(&f, "fig-quote", 1);
    lm_fx_run(&f, "w=64", "{}");
    lm_err err = {0};
    cr_assert_eq(two_series(&f, "quote", "each width's eta*", &err), LM_OK, "%s", err.msg);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/exp-%lld", f.art, (long long) f.ctx->exp_id);
    cr_assert(renders(dir, "quote"), "gnuplot did not render %s/quote.gp", dir);
    lm_fx_close(&f);
}

Test(figures, line_figure_with_apostrophes_in_title_labels_and_columns_renders) {
    /* matrix-completion's "against M*'s" once broke the demo's report: every text of a line
     * figure goes into a gnuplot single-quoted string */
    if (!have_gnuplot())
        cr_skip_test("gnuplot is not installed");
    lm_fx f;
    lm_fx_open(&f, "fig-lines-quote", 1);
    lm_fx_run(&f, "w=64", "{}");
    lm_err err = {0};
    const char *cols[3] = {"the mode's index", "P's value", "M*'s value"};
    const double data[6] = {1, 3, 2.5, 2, 2, 1.5};
    cr_assert_eq(lm__exp_figure_lines(f.ctx, "lines-quote", "P's singular values against M*'s",
                                      "singular value's size", 1, 3, cols, 2, data, &err),
                 LM_OK, "%s", err.msg);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/exp-%lld", f.art, (long long) f.ctx->exp_id);
    cr_assert(renders(dir, "lines-quote"), "gnuplot did not render %s/lines-quote.gp", dir);
    lm_fx_close(&f);
}

Test(figures, law_figure_with_nothing_measured_renders) {
    /* every width failed: the figure still renders (and says so) instead of failing the report */
    if (!have_gnuplot())
        cr_skip_test("gnuplot is not installed");
    lm_fx f;
    lm_fx_open(&f, "fig-nothing", 1);
    lm_fx_run(&f, "w=64", "{}");
    const double nan4[4] = {LM_NAN, LM_NAN, LM_NAN, LM_NAN};
    const lm__exp_fig_series s[2] = {
        {.label = "NTP", .n = 4, .x = W, .y = nan4, .u = U0},
        {.label = "muP", .n = 0, .x = W, .y = Y1, .u = U1},
    };
    lm_err err = {0};
    cr_assert_eq(lm__exp_figure_law(f.ctx, "nothing", "t", "width n", "y", 1, 1, 2, s, &err), LM_OK,
                 "%s", err.msg);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/exp-%lld", f.art, (long long) f.ctx->exp_id);
    cr_assert(renders(dir, "nothing"), "gnuplot did not render %s/nothing.gp", dir);
    lm_fx_close(&f);
}
