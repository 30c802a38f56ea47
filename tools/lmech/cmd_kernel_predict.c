/* cmd_kernel_predict.c: `lmech kernel --predict nngp|ntk --inputs X.npy --targets Y.npy
 * [--test X*.npy [--test-targets Y*.npy]] ...`: what the infinite-width network predicts, from
 * its analytic kernels (lm_kernel_analytic_blocks) and the closed forms of src/theory
 * (lm_kpred_posterior, lm_kpred_new/at/train_loss; science.md §2, docs/kernels.md):
 *   nngp  the NNGP posterior (exact Bayesian inference with the network prior, observation noise
 *         --noise): mean [m, k] and variance [m] on the test rows;
 *   ntk   the mean output over initialisations of the network trained by gradient flow (or, with
 *         --gd, full-batch GD) on the loss --loss at rate --lr, at each time in --time (steps;
 *         "inf" is kernel regression): train loss of the mean, the expected train loss over
 *         initialisations (from the NNGP), and the test predictions.
 * Each output column trains on its own with the same kernel. The CLI only loads, checks and
 * prints; the numbers come from the library. */
#include "cli.h"
#include "lmech/data.h"
#include "lmech/kernel.h"
#include "lmech/loss.h"
#include "lmech/theory.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TIMES 64

/* A float64 copy of a .npy matrix: 2-d [rows, cols], or with allow_1d a 1-d [rows] as one
 * column. want_rows / want_cols (0: any) name what the other files fixed; what = "inputs"... */
static lm_status load_matrix(const char *path, const char *what, int allow_1d, size_t want_rows,
                             size_t want_cols, double **out, size_t *rows, size_t *cols,
                             lm_err *err) {
    lm_array *a = NULL;
    LM_TRY(lm_npy_read(path, &a, err));
    const int ok_nd = a->ndim == 2 || (allow_1d && a->ndim == 1);
    const size_t r = a->ndim >= 1 ? a->shape[0] : 0, c = a->ndim == 2 ? a->shape[1] : 1;
    lm_status st = LM_OK;
    if (!ok_nd || r == 0 || c == 0)
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                        "%s: %s must be a non-empty %s array, got %zu-d with %zu rows", path, what,
                        allow_1d ? "1-d or 2-d" : "2-d", a->ndim, r);
    else if (want_rows && r != want_rows)
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                        "%s: %s has %zu rows, but the %s have %zu", path, what, r,
                        strcmp(what, "test targets") == 0 ? "test inputs" : "inputs", want_rows);
    else if (want_cols && c != want_cols)
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__, "%s: %s has %zu columns, expected %zu",
                        path, what, c, want_cols);
    double *x = st == LM_OK ? lm_malloc(r * c * sizeof *x) : NULL;
    if (st == LM_OK && !x)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "%s: out of memory for [%zu, %zu]",
                        path, r, c);
    for (size_t i = 0; st == LM_OK && i < r * c; i++) {
        x[i] = lm_array_get(a, i);
        if (!isfinite(x[i]))
            st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__, "%s: %s entry (%zu, %zu) is %g",
                            path, what, i / c, i % c, x[i]);
    }
    lm_array_free(a);
    if (st != LM_OK) {
        lm_free(x);
        return st;
    }
    *out = x;
    *rows = r;
    *cols = c;
    return LM_OK;
}

/* "0,10,100,inf": up to MAX_TIMES non-negative times (steps), "inf" for the limit. */
static int parse_times(const char *s, double *t, size_t *n) {
    *n = 0;
    while (*s) {
        if (*n == MAX_TIMES)
            return 0;
        char *end;
        double v;
        if (strncmp(s, "inf", 3) == 0) {
            v = LM_INF;
            end = (char *) s + 3;
        } else {
            errno = 0;
            v = strtod(s, &end);
            if (errno || end == s || !isfinite(v) || v < 0)
                return 0;
        }
        t[(*n)++] = v;
        if (*end == ',')
            end++;
        else if (*end)
            return 0;
        s = end;
    }
    return *n > 0;
}

/* Mean squared error over all m k entries. */
static double mse(const double *f, const double *y, size_t m, size_t k) {
    double s = 0;
    for (size_t i = 0; i < m * k; i++)
        s += (f[i] - y[i]) * (f[i] - y[i]);
    return s / (double) (m * k);
}

/* Fraction of the m rows whose largest output is where the target's is (k >= 2: one-hot or
 * +-1 class columns); NaN for one output. */
static double argmax_acc(const double *f, const double *y, size_t m, size_t k) {
    if (k < 2)
        return LM_NAN;
    size_t hit = 0;
    for (size_t i = 0; i < m; i++) {
        size_t a = 0, b = 0;
        for (size_t j = 1; j < k; j++) {
            a = f[i * k + j] > f[i * k + a] ? j : a;
            b = y[i * k + j] > y[i * k + b] ? j : b;
        }
        hit += a == b;
    }
    return (double) hit / (double) m;
}

typedef struct data {
    double *x, *y, *xs, *ys;
    size_t n, d, k, m;
} data;

static lm_status load_all(const cli_opts *o, data *D, lm_err *err) {
    size_t c;
    LM_TRY(load_matrix(o->inputs, "inputs", 0, 0, 0, &D->x, &D->n, &D->d, err));
    LM_TRY(load_matrix(o->targets, "targets", 1, D->n, 0, &D->y, &c, &D->k, err));
    if (o->test)
        LM_TRY(load_matrix(o->test, "test inputs", 0, 0, D->d, &D->xs, &D->m, &c, err));
    if (o->test_targets)
        LM_TRY(load_matrix(o->test_targets, "test targets", 1, D->m, D->k, &D->ys, &c, &c, err));
    return LM_OK;
}

static lm_status nngp(const cli_opts *o, const lm_kernel_spec *ks, const data *D, double s2,
                      lm_err *err) {
    const size_t n = D->n, m = D->m, k = D->k;
    double *kt = lm_malloc(n * n * sizeof *kt), *kc = lm_malloc(m * n * sizeof *kc);
    double *kd = lm_malloc(m * sizeof *kd), *mean = lm_malloc(m * k * sizeof *mean);
    double *var = lm_malloc(m * sizeof *var);
    lm_status st = LM_OK;
    if (!kt || !kc || !kd || !mean || !var)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                        "out of memory for the kernels of %zu and %zu inputs", n, m);
    lm_kernel_blocks b = {kt, kc, kd};
    double t0 = lm_now();
    if (st == LM_OK)
        st = lm_kernel_analytic_blocks(ks, D->x, n, D->xs, m, D->d, &b, NULL, err);
    if (st == LM_OK &&
        (st = lm_kpred_posterior(kt, kc, kd, D->y, n, m, k, s2, mean, var, err)) == LM_EINVAL) {
        /* the library's message says "add a ridge s2 > 0": name the file and the flag */
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                   "%s: the NNGP kernel of the training inputs is singular with --noise %g (e.g. "
                   "duplicate rows): pass --noise S2 > 0 (%s)",
                   o->inputs, s2, msg);
    }
    const double wall = lm_now() - t0;
    if (st == LM_OK) {
        double vbar = 0;
        for (size_t i = 0; i < m; i++)
            vbar += var[i] / (double) m;
        const double err_test = D->ys ? mse(mean, D->ys, m, k) : LM_NAN;
        const double acc = D->ys ? argmax_acc(mean, D->ys, m, k) : LM_NAN;
        const size_t smk[2] = {m, k};
        if (o->out && ((st = cli_save_npy(o->out, "mean", mean, 2, smk, err)) != LM_OK ||
                       (st = cli_save_npy(o->out, "var", var, 1, &m, err)) != LM_OK)) {
            /* reported by the caller */
        } else if (o->json) {
            printf("{\"predict\":\"nngp\",\"n\":%zu,\"m\":%zu,\"d\":%zu,\"outputs\":%zu,"
                   "\"noise\":%.17g,\"wall_s\":%.6g,\"test_mse\":",
                   n, m, D->d, k, s2, wall);
            cli_print_num(err_test);
            printf(",\"test_acc\":");
            cli_print_num(acc);
            if (o->out) {
                const char *names[2] = {"mean", "var"};
                cli_print_npy_files(o->out, names, 2);
            } else {
                printf(",\"mean\":");
                cli_print_matrix(mean, m, k);
                printf(",\"var\":");
                cli_print_matrix(var, 1, m);
            }
            printf("}\n");
        } else {
            printf("NNGP posterior: n = %zu training, m = %zu test inputs, k = %zu outputs, noise "
                   "%g (%.3g s)\n",
                   n, m, k, s2, wall);
            printf("mean posterior variance %.6g\n", vbar);
            if (D->ys)
                printf("test MSE %.6g (per entry, against %s), argmax accuracy %.4g\n", err_test,
                       o->test_targets, acc);
            for (size_t i = 0; i < m && i < 4; i++) {
                printf("  x*[%zu]: var %.6g  mean", i, var[i]);
                for (size_t a = 0; a < k && a < 6; a++)
                    printf(" %.6g", mean[i * k + a]);
                printf("%s\n", k > 6 ? " ..." : "");
            }
        }
        fflush(stdout);
    }
    lm_free(kt);
    lm_free(kc);
    lm_free(kd);
    lm_free(mean);
    lm_free(var);
    return st;
}

static lm_status ntk(const cli_opts *o, const lm_kernel_spec *ks, const data *D,
                     const lm_kpred_spec *ps, lm_loss loss, const double *t, size_t nt,
                     lm_err *err) {
    const size_t n = D->n, m = D->m, k = D->k;
    double *kt = lm_malloc(n * n * sizeof *kt), *tt = lm_malloc(n * n * sizeof *tt);
    double *tc = m ? lm_malloc(m * n * sizeof *tc) : NULL;
    double *fs = m ? lm_malloc(nt * m * k * sizeof *fs) : NULL;
    double *res = lm_malloc(4 * nt * sizeof *res); /* train loss, expected, test mse, acc */
    lm_status st = LM_OK;
    if (!kt || !tt || (m && (!tc || !fs)) || !res)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                        "out of memory for the kernels of %zu and %zu inputs", n, m);
    lm_kernel_blocks bk = {kt, NULL, NULL}, bt = {tt, tc, NULL};
    lm_kpred *kp = NULL;
    double t0 = lm_now();
    if (st == LM_OK)
        st = lm_kernel_analytic_blocks(ks, D->x, n, D->xs, m, D->d, &bk, &bt, err);
    if (st == LM_OK)
        st = lm_kpred_new(&kp, tt, tc, D->y, NULL, NULL, kt, n, m, k, ps, err);
    double *ftr = st == LM_OK ? lm_malloc(n * k * sizeof *ftr) : NULL;
    if (st == LM_OK && !ftr)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    for (size_t j = 0; st == LM_OK && j < nt; j++) {
        st = lm_kpred_at(kp, t[j], ftr, m ? fs + j * m * k : NULL, err);
        if (st == LM_OK)
            st = lm_kpred_train_loss(kp, t[j], &res[4 * j + 1], err);
        if (st == LM_OK) {
            /* the loss of the mean prediction, in the loss's own normalisation */
            double s = 0;
            for (size_t i = 0; i < n * k; i++)
                s += (ftr[i] - D->y[i]) * (ftr[i] - D->y[i]);
            res[4 * j] = s / (2.0 * ps->norm);
            res[4 * j + 2] = D->ys ? mse(fs + j * m * k, D->ys, m, k) : LM_NAN;
            res[4 * j + 3] = D->ys ? argmax_acc(fs + j * m * k, D->ys, m, k) : LM_NAN;
        }
    }
    const double wall = lm_now() - t0;
    const size_t stmk[3] = {nt, m, k};
    if (st == LM_OK && o->out && m)
        st = cli_save_npy(o->out, "mean", fs, 3, stmk, err);
    if (st == LM_OK) {
        const double *lam = lm_kpred_eigenvalues(kp);
        const char *mode = ps->mode == LM_KPRED_GD ? "gd" : "flow";
        if (o->json) {
            printf("{\"predict\":\"ntk\",\"n\":%zu,\"m\":%zu,\"d\":%zu,\"outputs\":%zu,"
                   "\"mode\":\"%s\",\"lr\":%.17g,\"loss\":\"%s\",\"norm\":%.17g,"
                   "\"lambda_max\":%.17g,\"lambda_min\":%.17g,\"wall_s\":%.6g,\"times\":",
                   n, m, D->d, k, mode, ps->eta, lm_loss_name(loss), ps->norm, lam[n - 1], lam[0],
                   wall);
            putchar('[');
            for (size_t j = 0; j < nt; j++) {
                if (j)
                    putchar(',');
                if (isinf(t[j]))
                    printf("\"inf\"");
                else
                    printf("%.17g", t[j]);
            }
            const char *keys[4] = {"train_loss", "expected_train_loss", "test_mse", "test_acc"};
            for (int q = 0; q < 4; q++) {
                printf("],\"%s\":[", keys[q]);
                for (size_t j = 0; j < nt; j++) {
                    if (j)
                        putchar(',');
                    cli_print_num(res[4 * j + (size_t) q]);
                }
            }
            if (o->out) {
                putchar(']');
                const char *names[1] = {m ? "mean" : NULL};
                cli_print_npy_files(o->out, names, 1);
                printf("}\n");
            } else {
                printf("],\"mean\":[");
                for (size_t j = 0; m && j < nt; j++) {
                    if (j)
                        putchar(',');
                    cli_print_matrix(fs + j * m * k, m, k);
                }
                printf("]}\n");
            }
        } else {
            printf("NTK mean prediction (%s, lr %g, loss %s): n = %zu training, m = %zu test "
                   "inputs, k = %zu outputs; Theta eigenvalues %.4g .. %.4g (%.3g s)\n",
                   ps->mode == LM_KPRED_GD ? "full-batch GD" : "gradient flow", ps->eta,
                   lm_loss_name(loss), n, m, k, lam[0], lam[n - 1], wall);
            printf("%12s %14s %18s %14s %10s\n", "time", "train loss", "E[train loss]", "test MSE",
                   "test acc");
            for (size_t j = 0; j < nt; j++)
                printf("%12g %14.6g %18.6g %14.6g %10.4g\n", t[j], res[4 * j], res[4 * j + 1],
                       res[4 * j + 2], res[4 * j + 3]);
            printf("(train loss: of the mean output; E[train loss]: over initialisations; time "
                   "in steps of the rate)\n");
        }
        fflush(stdout);
    }
    lm_kpred_free(kp);
    lm_free(ftr);
    lm_free(kt);
    lm_free(tt);
    lm_free(tc);
    lm_free(fs);
    lm_free(res);
    return st;
}

int cmd_kernel_predict(const cli_opts *o, const lm_kernel_spec *ks) {
    const char *usage = cli_kernel_usage;
    const int is_nngp = strcmp(o->predict, "nngp") == 0, is_ntk = strcmp(o->predict, "ntk") == 0;
    if (!is_nngp && !is_ntk)
        return cli_usage("kernel", usage, "--predict \"%s\": expected nngp or ntk", o->predict);
    if (!o->targets)
        return cli_usage("kernel", usage, "--predict needs --targets Y.npy");
    if (o->test_targets && !o->test)
        return cli_usage("kernel", usage, "--test-targets needs --test X.npy");
    if (is_nngp && !o->test)
        return cli_usage("kernel", usage, "--predict nngp needs --test X.npy");
    if (is_nngp && (o->times || o->lr || o->gd || o->loss))
        return cli_usage("kernel", usage,
                         "--time, --lr, --gd and --loss are for --predict ntk (training)");
    if (is_ntk && o->noise)
        return cli_usage("kernel", usage, "--noise is for --predict nngp");
    if (o->kind)
        return cli_usage("kernel", usage, "--kind does not apply to --predict");
    double s2 = 0, eta = 1, t[MAX_TIMES];
    size_t nt = 1;
    t[0] = LM_INF;
    if (!cli_parse_double("kernel", usage, "noise", o->noise, CLI_NONNEG, &s2) ||
        !cli_parse_double("kernel", usage, "lr", o->lr, CLI_POSITIVE, &eta))
        return CLI_USAGE;
    if (o->times && !parse_times(o->times, t, &nt))
        return cli_usage("kernel", usage,
                         "--time \"%s\": expected up to %d comma-separated times >= 0 (steps) "
                         "or inf",
                         o->times, MAX_TIMES);
    lm_err err = {0};
    lm_loss loss = LM_LOSS_MSE;
    if (o->loss &&
        (lm_loss_parse(o->loss, &loss, &err) || loss == LM_LOSS_CE || loss == LM_LOSS_MSE_OBSERVED))
        return cli_usage("kernel", usage, "--loss \"%s\": expected mse or mse_mean", o->loss);
    data D = {0};
    lm_status st = load_all(o, &D, &err);
    if (st == LM_OK && is_nngp) {
        st = nngp(o, ks, &D, s2, &err);
    } else if (st == LM_OK) {
        lm_kpred_spec ps = lm_kpred_spec_default();
        ps.mode = o->gd ? LM_KPRED_GD : LM_KPRED_FLOW;
        ps.eta = eta;
        ps.norm = lm_kpred_norm_for_loss(loss, D.n, D.k);
        st = ntk(o, ks, &D, &ps, loss, t, nt, &err);
    }
    lm_free(D.x);
    lm_free(D.y);
    lm_free(D.xs);
    lm_free(D.ys);
    return st == LM_OK ? CLI_OK : cli_fail("kernel", &err);
}
