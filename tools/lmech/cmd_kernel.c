/* cmd_kernel.c: `lmech kernel --inputs X.npy --depth L --activation NAME ...`: the analytic NNGP
 * and NTK (include/lmech/kernel.h) of an MLP with L hidden layers and a linear readout on the rows
 * of X. --json streams one object with the n x n kernels (printed directly, not through jansson:
 * a 10^4 x 10^4 kernel as json_t values would take tens of GB). */
#include "cli.h"
#include "lmech/data.h"
#include "lmech/kernel.h"
#include "lmech/model.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "lmech kernel --inputs X.npy --depth L --activation NAME [--sw2 S] [--sb2 S]\n"
    "       [--kind nngp|ntk|both] [--json]\n"
    "  --inputs X.npy   2-d array [n, d] (any float or integer dtype): one input per row\n"
    "  --depth L        hidden layers (0: the linear readout alone)\n"
    "  --activation A   identity relu tanh erf gelu sigmoid softplus quadratic\n"
    "  --sw2 S          weight variance sigma_w^2 (default 1)\n"
    "  --sb2 S          bias variance sigma_b^2 (default 0)\n"
    "  --kind K         nngp, ntk or both (default both)\n"
    "  --json           one object with n x n arrays \"nngp\" and/or \"ntk\"";

static int parse_double(const char *name, const char *s, double *out) {
    if (!s)
        return 1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) {
        cli_usage("kernel", USAGE, "--%s \"%s\": expected a finite number", name, s);
        return 0;
    }
    *out = v;
    return 1;
}

static void print_matrix(const char *key, const double *k, size_t n) {
    printf(",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        putchar(i ? ',' : '[');
        if (i)
            putchar('[');
        for (size_t j = 0; j < n; j++)
            printf(j ? ",%.17g" : "%.17g", k[i * n + j]);
        putchar(']');
    }
    printf("]");
}

static void print_summary(const char *name, const double *k, size_t n) {
    size_t m = n < 4 ? n : 4;
    printf("%s (first %zu x %zu of %zu x %zu):\n", name, m, m, n, n);
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < m; j++)
            printf(" %12.6g", k[i * n + j]);
        printf("\n");
    }
}

int cmd_kernel(int argc, char **argv) {
    cli_opts o;
    int rc =
        cli_parse("kernel", USAGE, argc, argv, "inputs,depth,activation,sw2,sb2,kind,json", &o);
    if (rc)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (!o.inputs)
        return cli_usage("kernel", USAGE, "missing --inputs X.npy");
    if (!o.depth)
        return cli_usage("kernel", USAGE, "missing --depth L");
    if (!o.activation)
        return cli_usage("kernel", USAGE, "missing --activation NAME");
    char *end;
    errno = 0;
    unsigned long long depth = strtoull(o.depth, &end, 10);
    if (errno || end == o.depth || *end || o.depth[0] == '-' || depth > 1000)
        return cli_usage("kernel", USAGE, "--depth \"%s\": expected an integer from 0 to 1000",
                         o.depth);
    double sw2 = 1, sb2 = 0;
    if (!parse_double("sw2", o.sw2, &sw2) || !parse_double("sb2", o.sb2, &sb2))
        return CLI_USAGE;
    int want_nngp = 1, want_ntk = 1;
    if (o.kind) {
        if (strcmp(o.kind, "nngp") == 0)
            want_ntk = 0;
        else if (strcmp(o.kind, "ntk") == 0)
            want_nngp = 0;
        else if (strcmp(o.kind, "both") != 0)
            return cli_usage("kernel", USAGE, "--kind \"%s\": expected nngp, ntk or both", o.kind);
    }
    lm_err err = {0};
    lm_act act;
    if (lm_act_parse(o.activation, &act, &err))
        return cli_fail("kernel", &err);

    lm_array *a = NULL;
    if (lm_npy_read(o.inputs, &a, &err))
        return cli_fail("kernel", &err);
    if (a->ndim != 2 || a->shape[0] == 0 || a->shape[1] == 0) {
        char shape[128] = "";
        size_t len = 0;
        for (size_t i = 0; i < a->ndim && len < sizeof shape - 24; i++)
            len += (size_t) snprintf(shape + len, sizeof shape - len, "%s%zu", i ? ", " : "",
                                     a->shape[i]);
        lm_err_set(&err, LM_ESHAPE, __FILE__, __LINE__,
                   "%s: expected a non-empty 2-d array [n, d] of inputs, got %zu-d [%s]", o.inputs,
                   a->ndim, shape);
        lm_array_free(a);
        return cli_fail("kernel", &err);
    }
    size_t n = a->shape[0], d = a->shape[1];
    double *x = lm_malloc(n * d * sizeof *x);
    double *nngp = want_nngp ? lm_malloc(n * n * sizeof *nngp) : NULL;
    double *ntk = want_ntk ? lm_malloc(n * n * sizeof *ntk) : NULL;
    rc = CLI_OK;
    if (!x || (want_nngp && !nngp) || (want_ntk && !ntk)) {
        lm_err_set(&err, LM_ENOMEM, __FILE__, __LINE__,
                   "%s: %zu inputs need %.3g GB for the kernels", o.inputs, n,
                   (double) (want_nngp + want_ntk) * (double) n * (double) n * 8e-9);
        rc = cli_fail("kernel", &err);
    } else {
        for (size_t k = 0; k < n * d; k++)
            x[k] = lm_array_get(a, k);
        double t0 = lm_now();
        if (lm_kernel_analytic(x, n, d, (size_t) depth, act, sw2, sb2, nngp, ntk, &err)) {
            fprintf(stderr, "lmech kernel: error: %s: %s\n", o.inputs, err.msg);
            rc = CLI_FAIL;
        } else if (o.json) {
            printf("{\"n\":%zu,\"d\":%zu,\"depth\":%llu,\"activation\":\"%s\",\"sw2\":%.17g,"
                   "\"sb2\":%.17g,\"wall_s\":%.6g",
                   n, d, depth, lm_act_name(act), sw2, sb2, lm_now() - t0);
            if (nngp)
                print_matrix("nngp", nngp, n);
            if (ntk)
                print_matrix("ntk", ntk, n);
            printf("}\n");
            fflush(stdout);
        } else {
            printf("analytic kernels: n = %zu inputs of d = %zu, depth %llu, %s, sw2 = %g, "
                   "sb2 = %g (%.3g s)\n",
                   n, d, depth, lm_act_name(act), sw2, sb2, lm_now() - t0);
            if (nngp)
                print_summary("nngp", nngp, n);
            if (ntk)
                print_summary("ntk", ntk, n);
        }
    }
    lm_free(x);
    lm_free(nngp);
    lm_free(ntk);
    lm_array_free(a);
    return rc;
}
