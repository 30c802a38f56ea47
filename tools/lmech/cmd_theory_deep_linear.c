/*
 * cmd_theory_deep_linear.c: `lmech theory deep-linear`: each mode's predicted u(t) and half-time
 * for a deep linear network from the aligned, balanced initialisation (lm_dln_modes; science.md
 * §1). The CLI parses and prints; the numbers come from src/theory/deep_linear.c.
 */
#include "cli.h"

#include "lmech/theory.h"

#define MAX_MODES 256
#define MAX_TIMES 100000

static const char *const USAGE =
    "lmech theory deep-linear --s S1,S2,... --u0 U --depth N --time T1,T2,...|START:STOP:COUNT\n"
    "       [--json]\n"
    "  the gradient-flow trajectory u_k(t) = u_k^T W_N...W_1 v_k of each task mode of a depth-N\n"
    "  linear network on whitened inputs with Sigma^yx = U diag(s) V^T, from the aligned,\n"
    "  balanced initialisation with every mode at u0 = a0^N (Saxe et al. 2014):\n"
    "    du/dt = N u^{2-2/N} (s - u); depth 2: u(t) = s e^{2st} / (e^{2st} - 1 + s/u0)\n"
    "  and each mode's half-time (u = s/2). Time is flow time t = eta * step.\n"
    "  --s      the singular values s_k > 0 of Sigma^yx\n"
    "  --u0     the initial value of every mode, > 0 (aligned init: a0^depth)\n"
    "  --depth  the number of weight matrices N >= 1 (default 2)\n"
    "  --time   flow times >= 0, a list or START:STOP:COUNT evenly spaced (default 0)\n"
    "  --json   {\"modes\": [{\"s\", \"u\": [...], \"t_half\"}, ...], \"time\": [...], ...}";

int cmd_theory_deep_linear(int argc, char **argv) {
    cli_opts o;
    int rc = cli_parse("theory deep-linear", USAGE, argc, argv, "s,u0,depth,time,json", &o);
    if (rc)
        return rc == CLI_HELP ? CLI_OK : rc;
    static double s[MAX_MODES], t[MAX_TIMES];
    size_t ns = 0, nt = 1;
    t[0] = 0;
    if (!o.s)
        return cli_usage("theory deep-linear", USAGE, "missing --s S1,S2,...");
    if (!cli_parse_list(o.s, s, MAX_MODES, &ns))
        return cli_usage("theory deep-linear", USAGE,
                         "--s \"%s\": expected up to %d comma-separated numbers", o.s, MAX_MODES);
    for (size_t k = 0; k < ns; k++)
        if (!(s[k] > 0))
            return cli_usage("theory deep-linear", USAGE,
                             "--s \"%s\": singular value %zu is %g: each must be > 0", o.s, k + 1,
                             s[k]);
    double u0 = LM_NAN;
    if (!o.u0)
        return cli_usage("theory deep-linear", USAGE, "missing --u0 U");
    if (!cli_parse_double("theory deep-linear", USAGE, "u0", o.u0, CLI_POSITIVE, &u0))
        return CLI_USAGE;
    size_t depth = 2;
    if (!cli_parse_size("theory deep-linear", USAGE, "depth", o.depth, 1, 1000, &depth))
        return CLI_USAGE;
    if (o.times && !cli_parse_list(o.times, t, MAX_TIMES, &nt))
        return cli_usage("theory deep-linear", USAGE,
                         "--time \"%s\": expected comma-separated flow times or START:STOP:COUNT "
                         "(at most %d)",
                         o.times, MAX_TIMES);
    for (size_t j = 0; j < nt; j++)
        if (!(t[j] >= 0))
            return cli_usage("theory deep-linear", USAGE,
                             "--time: time %zu is %g: flow times must be >= 0", j + 1, t[j]);

    lm_err err = {0};
    double *u = lm_malloc(ns * nt * sizeof *u), th[MAX_MODES];
    if (!u) {
        lm_err_set(&err, LM_ENOMEM, __FILE__, __LINE__, "out of memory for %zu x %zu values", ns,
                   nt);
        return cli_fail("theory deep-linear", &err);
    }
    if (lm_dln_modes((unsigned) depth, ns, s, u0, nt, t, u, th, &err) != LM_OK) {
        lm_free(u);
        return cli_fail("theory deep-linear", &err);
    }
    if (o.json) {
        printf("{\"depth\":%zu,\"u0\":", depth);
        cli_print_num(u0);
        printf(",\"modes\":[");
        for (size_t k = 0; k < ns; k++) {
            printf("%s{\"s\":", k ? "," : "");
            cli_print_num(s[k]);
            printf(",\"u\":");
            cli_print_vector(u + k * nt, nt);
            printf(",\"t_half\":");
            cli_print_num(th[k]);
            printf("}");
        }
        printf("],\"time\":");
        cli_print_vector(t, nt);
        printf("}\n");
    } else {
        printf("deep linear network, depth %zu, u0 = %g (flow time t = eta * step)\n", depth, u0);
        printf("half-times (u = s/2):");
        for (size_t k = 0; k < ns; k++)
            printf("  s = %g: %.6g", s[k], th[k]);
        printf("\n%14s", "t");
        for (size_t k = 0; k < ns; k++) {
            char h[32];
            snprintf(h, sizeof h, "u(s=%g)", s[k]);
            printf("  %14s", h);
        }
        printf("\n");
        for (size_t j = 0; j < nt; j++) {
            printf("%14.6g", t[j]);
            for (size_t k = 0; k < ns; k++)
                printf("  %14.8g", u[k * nt + j]);
            printf("\n");
        }
    }
    lm_free(u);
    return CLI_OK;
}
