/*
 * cmd_theory_eigenlearning.c: `lmech theory eigenlearning --eigenvalues L.npy --coeffs V.npy
 * --n N[,N2,...] [--ridge D] [--noise E] [--json]`: kernel (ridge) regression's predicted
 * learning curve from a spectrum, by the eigenframework (lm_eigenlearning; science.md §8, Simon
 * et al. arXiv 2110.03922). The CLI only loads, checks and prints; the numbers come from the
 * library.
 *
 * JSON (a contract, docs/theory.md): with one n,
 *   {"m": M, "n": N, "ridge": D, "noise": E, "kappa": K, "e0": E0, "test_mse": T,
 *    "train_mse": R, "sum_l": S, "learnabilities": [L_0, ..., L_{M-1}]}
 * and with a list of n (a learning curve) the same keys, each n-dependent one an array aligned
 * with "n" (an array too), and "learnabilities" an array of one row of M per n.
 */
#include "cli.h"
#include "lmech/data.h"
#include "lmech/theory.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_N 256

static const char *USAGE =
    "lmech theory eigenlearning --eigenvalues L.npy --coeffs V.npy --n N[,N2,...] [--ridge D]\n"
    "       [--noise E] [--json]\n"
    "lmech theory eigenlearning --kernel K.npy --targets Y.npy --n N[,N2,...] [...]\n"
    "  --eigenvalues F  the kernel's eigenvalues lambda_i under the data measure (.npy, 1-d or\n"
    "                   [m, 1]; each finite and > 0; any order)\n"
    "  --coeffs F       the target's coefficients v_i in the eigenbasis, f* = sum_i v_i phi_i\n"
    "                   (.npy, same length; not squared, any sign)\n"
    "  --kernel K       instead of the two above: a Gram matrix [N, N] on N points (e.g. from\n"
    "                   lmech kernel --out, analytic or --empirical) and --targets Y [N] or\n"
    "                   [N, 1], the target on those points; the spectrum is taken under their\n"
    "                   empirical measure (lm_kernel_spectrum: eigenvalues of K / N, v_i =\n"
    "                   Phi_i^T y / sqrt(N)), its numerical null space dropped\n"
    "  --n N            training-set size (a real > 0), or a comma list: one learning curve\n"
    "  --ridge D        ridge delta >= 0 applied as (K_n + D I)^-1 (default 0; ridge 0 needs\n"
    "                   n < m)\n"
    "  --noise E        noise VARIANCE eps^2 >= 0 of the training targets (default 0); the\n"
    "                   predicted MSEs are against noisy targets (test = error + eps^2)\n"
    "  --json           one JSON object: kappa, e0, test_mse, train_mse, sum_l, learnabilities\n"
    "                   (scalars for one n; arrays aligned with \"n\" for a list)\n"
    "Predicts: kappa from sum_i lambda_i / (lambda_i + kappa) + D / kappa = n, L_i =\n"
    "lambda_i / (lambda_i + kappa), E0 = n / (n - sum L_i^2), test MSE = E0 (sum (1 - L_i)^2\n"
    "v_i^2 + E), train MSE = (D / (n kappa))^2 test MSE (science.md §8).";

/* A 1-d (or [m, 1]) finite float64 vector from a .npy file. */
static lm_status load_vector(const char *path, const char *what, double **out, size_t *m,
                             lm_err *err) {
    lm_array *a = NULL;
    LM_TRY(lm_npy_read(path, &a, err));
    const size_t r = a->ndim >= 1 ? a->shape[0] : 0;
    lm_status st = LM_OK;
    if (!(a->ndim == 1 || (a->ndim == 2 && a->shape[1] == 1)) || r == 0)
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                        "%s: %s must be a non-empty 1-d array (or [m, 1]), got %zu-d with shape "
                        "[%zu%s]",
                        path, what, a->ndim, r, a->ndim == 2 ? ", ..." : "");
    double *x = st == LM_OK ? lm_malloc(r * sizeof *x) : NULL;
    if (st == LM_OK && !x)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "%s: out of memory for %zu values",
                        path, r);
    for (size_t i = 0; st == LM_OK && i < r; i++) {
        x[i] = lm_array_get(a, i);
        if (!isfinite(x[i]))
            st = lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__, "%s: %s entry %zu is %g", path,
                            what, i, x[i]);
    }
    lm_array_free(a);
    if (st != LM_OK) {
        lm_free(x);
        return st;
    }
    *out = x;
    *m = r;
    return LM_OK;
}

/* The spectrum of the Gram matrix in kernel_path [N, N] and the coefficients of the target in
 * targets_path ([N] or [N, 1]) under the N points' empirical measure (lm_kernel_spectrum), the
 * numerical null space dropped: *lam [m] and *v [m], m = the positive eigenvalues. */
static lm_status load_spectrum(const char *kernel_path, const char *targets_path, double **lam,
                               double **v, size_t *m, lm_err *err) {
    lm_array *k = NULL;
    double *y = NULL, *l = NULL, *c = NULL, *kd = NULL;
    size_t ny = 0, n = 0, pos = 0;
    LM_TRY(lm_npy_read(kernel_path, &k, err));
    lm_status st = LM_OK;
    if (k->ndim != 2 || k->shape[0] != k->shape[1] || k->shape[0] == 0)
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                        "%s: the kernel must be a square 2-d Gram matrix [N, N], got %zu-d %s",
                        kernel_path, k->ndim, k->ndim == 2 ? "non-square" : "");
    if (st == LM_OK) {
        n = k->shape[0];
        st = load_vector(targets_path, "targets", &y, &ny, err);
    }
    if (st == LM_OK && ny != n)
        st = lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                        "%s has %zu targets but the kernel %s is on %zu points", targets_path, ny,
                        kernel_path, n);
    if (st == LM_OK) {
        kd = lm_malloc(n * n * sizeof *kd);
        l = lm_malloc(n * sizeof *l);
        c = lm_malloc(n * sizeof *c);
        if (!kd || !l || !c)
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                            "out of memory for a %zu x %zu kernel", n, n);
    }
    for (size_t i = 0; st == LM_OK && i < n * n; i++)
        kd[i] = lm_array_get(k, i);
    if (st == LM_OK && (st = lm_kernel_spectrum(kd, n, y, 1, l, c, &pos, err)) != LM_OK)
        lm_err_prefix(err, "%s: ", kernel_path);
    if (st == LM_OK && pos == 0)
        st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                        "%s: the kernel has no positive eigenvalue", kernel_path);
    lm_array_free(k);
    lm_free(kd);
    lm_free(y);
    if (st != LM_OK) {
        lm_free(l);
        lm_free(c);
        return st;
    }
    *lam = l; /* descending: the first pos are the positive ones */
    *v = c;
    *m = pos;
    return LM_OK;
}

/* One key of the JSON object: a scalar for one n, else an array over the n. */
static void print_key(const char *key, const double *v, size_t nn, int list) {
    printf(",\"%s\":", key);
    if (list)
        cli_print_vector(v, nn);
    else
        cli_print_num(v[0]);
}

int cmd_theory_eigenlearning(int argc, char **argv) {
    static const char cmd[] = "theory eigenlearning";
    cli_opts o;
    int rc = cli_parse(cmd, USAGE, argc, argv,
                       "eigenvalues,coeffs,kernel,targets,n,ridge,noise,json", &o);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    const int from_kernel = o.kernel != NULL;
    if (from_kernel && (o.eigenvalues || o.coeffs || !o.targets))
        return cli_usage(cmd, USAGE,
                         "--kernel takes --targets Y.npy, and not --eigenvalues or --coeffs");
    if (!from_kernel && (!o.eigenvalues || !o.coeffs))
        return cli_usage(cmd, USAGE,
                         "--eigenvalues and --coeffs (or --kernel and --targets) are "
                         "required");
    if (!o.n)
        return cli_usage(cmd, USAGE, "--n is required");
    double ns[MAX_N];
    size_t nn = 0;
    int n_ok = cli_parse_list(o.n, ns, MAX_N, &nn);
    for (size_t j = 0; n_ok && j < nn; j++)
        n_ok = ns[j] > 0;
    if (!n_ok)
        return cli_usage(cmd, USAGE,
                         "--n \"%s\": expected a number > 0 or a comma list of at most %d", o.n,
                         MAX_N);
    double ridge = 0, noise = 0;
    if (!cli_parse_double(cmd, USAGE, "ridge", o.ridge, CLI_NONNEG, &ridge) ||
        !cli_parse_double(cmd, USAGE, "noise", o.noise, CLI_NONNEG, &noise))
        return CLI_USAGE;
    const int list = strchr(o.n, ',') != NULL;

    lm_err err = {0};
    double *lam = NULL, *v = NULL, *L = NULL;
    lm_eigenlearn *res = NULL;
    size_t m = 0, mv = 0;
    lm_status st = from_kernel ? load_spectrum(o.kernel, o.targets, &lam, &v, &m, &err)
                               : load_vector(o.eigenvalues, "eigenvalues", &lam, &m, &err);
    if (st == LM_OK && from_kernel)
        mv = m;
    else if (st == LM_OK)
        st = load_vector(o.coeffs, "coefficients", &v, &mv, &err);
    if (st == LM_OK && mv != m)
        st = lm_err_set(&err, LM_ESHAPE, __FILE__, __LINE__,
                        "%s has %zu coefficients but %s has %zu eigenvalues", o.coeffs, mv,
                        o.eigenvalues, m);
    for (size_t i = 0; st == LM_OK && i < m; i++)
        if (!(lam[i] > 0))
            st = lm_err_set(&err, LM_EINVAL, __FILE__, __LINE__,
                            "%s: eigenvalue %zu is %g; every eigenvalue must be > 0 (drop the "
                            "kernel's null space)",
                            o.eigenvalues, i, lam[i]);
    if (st == LM_OK) {
        L = lm_malloc(nn * m * sizeof *L);
        res = lm_malloc(nn * sizeof *res);
        if (!L || !res)
            st = lm_err_set(&err, LM_ENOMEM, __FILE__, __LINE__,
                            "out of memory for %zu x %zu learnabilities", nn, m);
    }
    for (size_t j = 0; st == LM_OK && j < nn; j++)
        if ((st = lm_eigenlearning(m, lam, v, ns[j], ridge, noise, &res[j], L + j * m, &err)) !=
            LM_OK)
            lm_err_prefix(&err, "--n %g: ", ns[j]);
    if (st != LM_OK) {
        lm_free(lam);
        lm_free(v);
        lm_free(L);
        lm_free(res);
        return cli_fail(cmd, &err);
    }
    if (o.json) {
        double col[MAX_N];
        printf("{\"m\":%zu,\"ridge\":%.17g,\"noise\":%.17g", m, ridge, noise);
        for (size_t j = 0; j < nn; j++)
            col[j] = ns[j];
        print_key("n", col, nn, list);
#define COLUMN(key, field)                                                                         \
    do {                                                                                           \
        for (size_t j = 0; j < nn; j++)                                                            \
            col[j] = res[j].field;                                                                 \
        print_key(key, col, nn, list);                                                             \
    } while (0)
        COLUMN("kappa", kappa);
        COLUMN("e0", e0);
        COLUMN("test_mse", test_mse);
        COLUMN("train_mse", train_mse);
        COLUMN("sum_l", sum_l);
#undef COLUMN
        printf(",\"learnabilities\":");
        if (list) {
            putchar('[');
            for (size_t j = 0; j < nn; j++) {
                if (j)
                    putchar(',');
                cli_print_vector(L + j * m, m);
            }
            putchar(']');
        } else {
            cli_print_vector(L, m);
        }
        printf("}\n");
    } else {
        printf("eigenframework (science.md §8): m = %zu eigenvalues from %s, ridge %g, noise "
               "variance %g\n",
               m, from_kernel ? o.kernel : o.eigenvalues, ridge, noise);
        printf("%12s %14s %12s %14s %14s %12s\n", "n", "kappa", "E0", "test MSE", "train MSE",
               "sum L");
        for (size_t j = 0; j < nn; j++)
            printf("%12g %14.6g %12.6g %14.6g %14.6g %12.6g\n", ns[j], res[j].kappa, res[j].e0,
                   res[j].test_mse, res[j].train_mse, res[j].sum_l);
        const size_t show = m < 8 ? m : 8;
        printf("learnabilities L_i = lambda_i / (lambda_i + kappa) at n = %g (first %zu of %zu):",
               ns[nn - 1], show, m);
        for (size_t i = 0; i < show; i++)
            printf(" %.4g", L[(nn - 1) * m + i]);
        printf("%s\n", m > show ? " ..." : "");
    }
    lm_free(lam);
    lm_free(v);
    lm_free(L);
    lm_free(res);
    return CLI_OK;
}
