/* cmd_similarity.c: `lmech similarity A.npy B.npy --metric M [--k K] [--null N] [--seed S]
 * [--json]`: similarity of two representations of the same inputs (lmech/repr.h,
 * docs/representations.md). Reads the two .npy files, calls lm_similarity, prints text or the
 * JSON contract; all numerics are in src/repr. */
#include "cli.h"
#include "lmech/data.h"
#include "lmech/repr.h"

#include <stdint.h>

static const char *USAGE =
    "lmech similarity A.npy B.npy [--metric M] [--k K] [--null N] [--seed S] [--json]\n"
    "  A.npy, B.npy   2-d float arrays [n, p] and [n, q]: rows are the same n inputs\n"
    "  --metric M     linear_cka (default), rbf_cka, debiased_cka, mknn, cca or svcca\n"
    "  --k K          neighbours of mknn (default 10; 1 <= K < n)\n"
    "  --null N       N row permutations of B: null mean, 95th percentile and p-value\n"
    "  --seed S       seed of the permutations (default 0)\n"
    "  --json         one JSON object: metric, value, n, and with --null, null {mean, p95,\n"
    "                 p_value}";

#define usage(...) cli_usage("similarity", USAGE, __VA_ARGS__)

int cmd_similarity(int argc, char **argv) {
    cli_opts o;
    int rc = cli_parse("similarity", USAGE, argc, argv, "ARGS,metric,k,null,seed,json", &o);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    lm_err err = {0};
    if (o.n_args != 2)
        return usage("need two files A.npy B.npy, got %zu", o.n_args);
    lm_sim_metric m = LM_SIM_LINEAR_CKA;
    if (o.metric && lm_sim_metric_parse(o.metric, &m, &err) != LM_OK)
        return usage("--metric: %s", err.msg);
    size_t k = 10, null_n = 0, seed = 0;
    if (!cli_parse_size("similarity", USAGE, "k", o.k, 1, SIZE_MAX, &k) ||
        !cli_parse_size("similarity", USAGE, "null", o.null_n, 0, 100000000, &null_n) ||
        !cli_parse_size("similarity", USAGE, "seed", o.seed, 0, SIZE_MAX, &seed))
        return CLI_USAGE;
    double *A = NULL, *B = NULL;
    size_t n = 0, p = 0, nb = 0, q = 0;
    if (cli_load_matrix(o.args[0], &A, &n, &p, &err) != LM_OK ||
        cli_load_matrix(o.args[1], &B, &nb, &q, &err) != LM_OK) {
        lm_free(A);
        return cli_fail("similarity", &err);
    }
    if (n != nb) {
        lm_free(A), lm_free(B);
        lm_err_set(&err, LM_ESHAPE, __FILE__, __LINE__,
                   "row counts differ: %s has %zu rows, %s has %zu (rows must be the same inputs)",
                   o.args[0], n, o.args[1], nb);
        return cli_fail("similarity", &err);
    }
    lm_sim_opts so = {.k = k, .null_n = null_n, .seed = (uint64_t) seed};
    lm_sim_result r;
    lm_status st = lm_similarity(m, A, n, p, B, q, &so, &r, &err);
    lm_free(A), lm_free(B);
    if (st != LM_OK)
        return cli_fail("similarity", &err);
    if (o.json) {
        printf("{\"metric\":\"%s\",\"value\":", lm_sim_metric_name(m));
        cli_print_num(r.value);
        printf(",\"n\":%zu", r.n);
        if (r.has_null) {
            printf(",\"null\":{\"n\":%zu,\"mean\":", null_n);
            cli_print_num(r.null_mean);
            printf(",\"p95\":");
            cli_print_num(r.null_p95);
            printf(",\"p_value\":");
            cli_print_num(r.p_value);
            printf("}");
        }
        printf("}\n");
    } else {
        printf("%s = %.6g  (n = %zu, p = %zu, q = %zu)\n", lm_sim_metric_name(m), r.value, n, p, q);
        if (r.has_null)
            printf("null (%zu row permutations of B, seed %zu): mean %.6g, 95th percentile %.6g, "
                   "p-value %.4g\n",
                   null_n, seed, r.null_mean, r.null_p95, r.p_value);
    }
    return CLI_OK;
}
