/* cmd_kernel.c: `lmech kernel --inputs X.npy --depth L --activation NAME ...`: the analytic NNGP
 * and NTK (include/lmech/kernel.h) of an MLP with L hidden layers and a linear readout on the rows
 * of X, or (`lmech kernel CONFIG.json --inputs X.npy`) of the configured model.widths network,
 * refused for a model.layers network (lm_mlp_require_chain: no analytic kernel describes it);
 * `lmech kernel --empirical CONFIG.json [--init FILE.safetensors] --inputs X.npy ...`: the
 * empirical NTK of the configured network (lm_kernel_empirical; every model, layer graphs
 * included) at a checkpoint or at its seeded initialisation. --json streams one object with the
 * kernels (printed directly, not through jansson: a 10^4 x 10^4 kernel as json_t values would take
 * tens of GB). */
#include "cli.h"
#include "lmech/data.h"
#include "lmech/kernel.h"
#include "lmech/model.h"
#include "lmech/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const cli_kernel_usage =
    "lmech kernel --inputs X.npy --depth L --activation NAME [--sw2 S] [--sb2 S]\n"
    "       [--param ntp|sp|mup] [--width N] [--base-width N] [--bias|--no-bias]\n"
    "       [--kind nngp|ntk|both] [--json] [--out DIR]\n"
    "  --inputs X.npy   2-d array [n, d] (any float or integer dtype): one input per row\n"
    "  --depth L        hidden layers (0: the linear readout alone)\n"
    "  --activation A   identity relu tanh erf gelu sigmoid softplus quadratic\n"
    "  --sw2 S          weight variance sigma_w^2 (default 1)\n"
    "  --sb2 S          bias variance sigma_b^2 (default 0)\n"
    "  --param P        parameterisation (default ntp); the NTK is that of SGD with P's\n"
    "                   per-layer learning rates, at initialisation\n"
    "  --width N        hidden width: needed by sp (whose NTK grows with N) and mup\n"
    "  --base-width N   mup's base width, m = width / base width (default 0: m = 1)\n"
    "  --bias, --no-bias  whether the layers have biases (default: when sb2 > 0); --bias\n"
    "                   with sb2 = 0: zero-initialised biases that train (as lm_mlp)\n"
    "  --kind K         nngp, ntk or both (default both)\n"
    "  --json           one object with n x n arrays \"nngp\" and/or \"ntk\"\n"
    "  --out DIR        also write the arrays as DIR/<name>.npy (float64, for np.load; every\n"
    "                   mode): --json then names the files (\"files\") instead of the arrays\n"
    "lmech kernel CONFIG.json --inputs X.npy [--set KEY=VALUE]... [--kind K] [--json] [--out DIR]\n"
    "  the analytic kernels of CONFIG's model.widths network (its depth, activation, sw2, sb2,\n"
    "  param, hidden width, base width and bias; also with --predict); a model.layers network\n"
    "  has none and is refused (use --empirical)\n"
    "lmech kernel --predict nngp|ntk --inputs X.npy --targets Y.npy [--test X*.npy]\n"
    "       [--test-targets Y*.npy] --depth L --activation NAME [the kernel options]\n"
    "       [--noise S2] [--time T,T,...] [--lr ETA] [--gd] [--loss mse|mse_mean] [--json]\n"
    "  the infinite-width network's prediction from its analytic kernels (k outputs each\n"
    "  trained on its own): nngp = the NNGP posterior mean and variance on X* (--noise S2,\n"
    "  default 0); ntk = the mean output over initialisations after training on Y with\n"
    "  --loss (default mse) at rate --lr (default 1) by gradient flow, or full-batch GD\n"
    "  with --gd, at each --time in steps (default inf: kernel regression)\n"
    "  --targets Y.npy  [n, k] or [n] regression targets (use one-hot columns for classes)\n"
    "  --test-targets   [m, k]: also print the test MSE\n"
    "lmech kernel --empirical CONFIG.json [--init FILE.safetensors] --inputs X.npy\n"
    "       [--set KEY=VALUE]... [--max-memory SIZE] [--per-layer] [--json]\n"
    "  --empirical C    the empirical NTK (every learning rate 1) of C's network, k outputs;\n"
    "                   model.widths or model.layers (convolutions, residual blocks ...)\n"
    "  --init FILE      weights from a checkpoint (default: C's initialisation at its seed)\n"
    "  --inputs X.npy   2-d array [n, d_in] of inputs (any float or integer dtype)\n"
    "  --max-memory S   bound on the work memory: bytes or with K, M, G (x 1024^i); default none\n"
    "  --per-layer      also each layer's term (\"layers\" in --json): one per linear or\n"
    "                   conv2d layer (a layer norm's parameters count with the one before)\n"
    "  --json           one object {\"ntk\": nk x nk (index i*k + a), \"n\", \"outputs\",\n"
    "                   \"bytes\", \"wall_s\"} (+ \"layers\": [L][nk][nk] with --per-layer)";

static void print_matrix(const char *key, const double *k, size_t n) {
    printf(",\"%s\":", key);
    cli_print_matrix(k, n, n);
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

/* ---------------------------------------------------------------- empirical NTK */

/* The inputs as float64 [n, d_in] of model m; errors name the file and the shapes. */
static lm_status load_inputs(const char *path, const lm_mlp *m, double **x, size_t *n,
                             lm_err *err) {
    lm_array *a = NULL;
    LM_TRY(lm_npy_read(path, &a, err));
    if (a->ndim != 2 || a->shape[0] == 0 || a->shape[1] != m->d_in) {
        char shape[128] = "";
        size_t len = 0;
        for (size_t i = 0; i < a->ndim && len < sizeof shape - 24; i++)
            len += (size_t) snprintf(shape + len, sizeof shape - len, "%s%zu", i ? ", " : "",
                                     a->shape[i]);
        char what[96];
        if (m->graph && m->spec.n_input_shape == 3)
            snprintf(what, sizeof what, "model.input_shape [%zu, %zu, %zu] flattened",
                     m->spec.input_shape[0], m->spec.input_shape[1], m->spec.input_shape[2]);
        else
            snprintf(what, sizeof what, "%s", m->graph ? "model.input_shape" : "model.widths[0]");
        lm_err_set(err, LM_ESHAPE, __FILE__, __LINE__,
                   "%s: expected a 2-d array [n, %zu] (n >= 1; %zu = %s), got %zu-d [%s]", path,
                   m->d_in, m->d_in, what, a->ndim, shape);
        lm_array_free(a);
        return LM_ESHAPE;
    }
    *n = a->shape[0];
    *x = lm_malloc(*n * m->d_in * sizeof **x);
    if (!*x) {
        lm_array_free(a);
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory for %zu inputs", path, *n);
    }
    for (size_t i = 0; i < *n * m->d_in; i++) {
        (*x)[i] = lm_array_get(a, i);
        if (!isfinite((*x)[i])) {
            lm_err_set(err, LM_ENUMERIC, __FILE__, __LINE__, "%s: inputs entry (%zu, %zu) is %g",
                       path, i / m->d_in, i % m->d_in, (*x)[i]);
            lm_array_free(a);
            lm_free(*x);
            *x = NULL;
            return LM_ENUMERIC;
        }
    }
    lm_array_free(a);
    return LM_OK;
}

static lm_status empirical(const cli_opts *o, lm_err *err) {
    size_t bound = 0;
    /* a bound of 0 bytes would read as "no bound" (lm_kernel_empirical's max_bytes = 0) */
    if (o->max_memory && (!cli_parse_bytes(o->max_memory, 1, &bound) || bound == 0))
        LM_FAIL(err, LM_EINVAL,
                "--max-memory \"%s\": expected a positive number of bytes, or a number with K, M "
                "or G (e.g. 2G); omit it for no bound",
                o->max_memory);
    lm_config *cfg = NULL;
    lm_mlp *m = NULL;
    double *theta = NULL, *x = NULL, *ntk = NULL, *layers = NULL;
    size_t n = 0;
    lm_status st = lm_config_load(o->empirical, o->n_sets, o->sets, &cfg, err);
    if (st == LM_OK)
        st = lm_mlp_new(&cfg->model, &m, err);
    if (st == LM_OK && o->init) {
        st = cli_load_init(cfg, o->init, &theta, err);
    } else if (st == LM_OK) {
        theta = lm_malloc(m->n_params * sizeof *theta);
        st = theta ? lm_train_init_params(cfg, m, theta, err)
                   : lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                                "out of memory for %zu parameters", m->n_params);
    }
    if (st == LM_OK)
        st = load_inputs(o->inputs, m, &x, &n, err);
    if (st == LM_OK) {
        const size_t k = m->d_out, nk = n * k;
        size_t chunk = 0;
        const size_t bytes = lm_kernel_empirical_plan(m, n, o->per_layer, bound, &chunk);
        char bs[48] = "none";
        if (bound)
            snprintf(bs, sizeof bs, "%.3g MiB", (double) bound / 1048576.0);
        if (bytes)
            fprintf(stderr,
                    "empirical NTK: n=%zu, k=%zu, will use %.3g MiB (bound %s; chunks of %zu "
                    "inputs), plus %.3g MiB of output\n",
                    n, k, (double) bytes / 1048576.0, bs, chunk,
                    (double) nk * (double) nk * (o->per_layer ? 1.0 + (double) m->n_layers : 1.0) *
                        8.0 / 1048576.0);
        else
            fprintf(stderr,
                    "empirical NTK: n=%zu, k=%zu, does not fit the bound %s even in chunks of one "
                    "input (%.3g MiB in one chunk)\n",
                    n, k, bs,
                    (double) lm_kernel_empirical_plan(m, n, o->per_layer, 0, NULL) / 1048576.0);
        if (nk > 0 && nk * nk / nk != nk)
            st = lm_err_set(err, LM_ERANGE, __FILE__, __LINE__, "%zu x %zu kernel overflows", nk,
                            nk);
        if (st == LM_OK) {
            ntk = lm_malloc(nk * nk * sizeof *ntk);
            layers = o->per_layer ? lm_malloc(m->n_layers * nk * nk * sizeof *layers) : NULL;
            if (!ntk || (o->per_layer && !layers))
                st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                                "%s: out of memory for the %zu x %zu kernel%s", o->inputs, nk, nk,
                                o->per_layer ? "s" : "");
        }
        double t0 = lm_now();
        if (st == LM_OK)
            st = lm_kernel_empirical(m, theta, x, n, NULL, bound, ntk, layers, err);
        const double wall = lm_now() - t0;
        const size_t sh2[2] = {nk, nk}, sh3[3] = {m->n_layers, nk, nk};
        if (st == LM_OK && o->out) {
            st = cli_save_npy(o->out, "ntk", ntk, 2, sh2, err);
            if (st == LM_OK && layers)
                st = cli_save_npy(o->out, "layers", layers, 3, sh3, err);
        }
        if (st == LM_OK && o->json && o->out) {
            printf("{\"n\":%zu,\"outputs\":%zu,\"bytes\":%zu,\"chunk\":%zu,\"wall_s\":%.6g", n, k,
                   bytes, chunk, wall);
            const char *names[2] = {"ntk", layers ? "layers" : NULL};
            cli_print_npy_files(o->out, names, 2);
            printf("}\n");
            fflush(stdout);
        } else if (st == LM_OK && o->json) {
            printf("{\"n\":%zu,\"outputs\":%zu,\"bytes\":%zu,\"chunk\":%zu,\"wall_s\":%.6g", n, k,
                   bytes, chunk, wall);
            print_matrix("ntk", ntk, nk);
            if (layers) {
                printf(",\"layers\":[");
                for (size_t l = 0; l < m->n_layers; l++) {
                    if (l)
                        putchar(',');
                    cli_print_matrix(layers + l * nk * nk, nk, nk);
                }
                putchar(']');
            }
            printf("}\n");
            fflush(stdout);
        } else if (st == LM_OK) {
            double tr = 0;
            for (size_t i = 0; i < nk; i++)
                tr += ntk[i * nk + i];
            char desc[160];
            if (m->graph)
                lm_mlp_describe(m, desc, sizeof desc);
            else
                snprintf(desc, sizeof desc, "%s", lm_act_name(m->spec.act));
            printf("empirical NTK: n = %zu inputs x k = %zu outputs (%zu x %zu), %s %s, %zu "
                   "parameters, %s; %.3g MiB work memory, %.3g s\n",
                   n, k, nk, nk, lm_param_name(m->spec.param), desc, m->n_params,
                   o->init ? o->init : "seeded init", (double) bytes / 1048576.0, wall);
            printf("trace %.6g\n", tr);
            print_summary("ntk", ntk, nk);
            for (size_t l = 0; layers && l < m->n_layers; l++) {
                double tl = 0;
                for (size_t i = 0; i < nk; i++)
                    tl += layers[l * nk * nk + i * nk + i];
                if (m->graph) /* the dense layer's weight tensor names it */
                    for (size_t t = 0; t < m->n_tensors; t++)
                        if (m->tensor[t].dense == l && m->tensor[t].kind == LM_TENSOR_WEIGHT)
                            printf("%s: ", m->tensor[t].name);
                printf("layer %zu: trace %.6g (%.1f %% of the total)\n", l, tl,
                       tr > 0 ? 100.0 * tl / tr : 0.0);
            }
        }
    }
    lm_free(ntk);
    lm_free(layers);
    lm_free(x);
    lm_free(theta);
    lm_mlp_free(m);
    lm_config_free(cfg);
    return st;
}

/* ---------------------------------------------------------------- the config's analytic kernels */

/* ks and the input width d_in from CONFIG's network: a model.widths chain whose analytic kernels
 * lm_kernel_analytic_spec describes (errors name what does not fit: a layer graph, unequal
 * hidden widths under sp or mup, an output multiplier, a zero readout, the aligned init). */
static lm_status config_kernel_spec(const cli_opts *o, lm_kernel_spec *ks, size_t *d_in,
                                    lm_err *err) {
    lm_config *cfg = NULL;
    lm_mlp *m = NULL;
    lm_status st = lm_config_load(o->args[0], o->n_sets, o->sets, &cfg, err);
    if (st == LM_OK)
        st = lm_mlp_new(&cfg->model, &m, err);
    if (st == LM_OK)
        st = lm_mlp_require_chain(m, "the analytic NTK and NNGP", err);
    if (st == LM_OK) {
        const lm_mlp_spec *s = &m->spec;
        const size_t depth = m->n_layers - 1;
        for (size_t l = 2; l <= depth && s->param != LM_PARAM_NTP; l++)
            if (s->widths[l] != s->widths[1])
                st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                                "%s: the analytic kernels in %s need equal hidden widths; "
                                "model.widths[%zu] = %zu but model.widths[1] = %zu",
                                o->args[0], lm_param_name(s->param), l, s->widths[l], s->widths[1]);
        if (st == LM_OK &&
            (s->output_multiplier != 1.0 || s->readout_zero || s->init != LM_INIT_RANDOM))
            st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                            "%s: the analytic kernels describe a network with output multiplier "
                            "1, a random readout and the random init; this one has "
                            "model.output_multiplier = %g, model.readout_zero = %d, model.init "
                            "\"%s\"",
                            o->args[0], s->output_multiplier, s->readout_zero,
                            s->init == LM_INIT_RANDOM ? "random" : "aligned");
        if (st == LM_OK) {
            ks->depth = depth;
            ks->act = s->act;
            ks->sw2 = s->sw2;
            ks->sb2 = s->sb2;
            ks->param = s->param;
            ks->width = s->widths[depth ? 1 : 0]; /* depth 0: unused, but > 0 */
            ks->base_width = s->base_width;
            ks->bias = s->bias;
            *d_in = m->d_in;
        }
    }
    if (st != LM_OK && strstr(err->msg, o->args[0]) == NULL) { /* name the config */
        char msg[sizeof err->msg];
        const size_t cap = sizeof err->msg, pl = strlen(o->args[0]);
        memcpy(msg, err->msg, cap);
        if (pl + 3 < cap) {
            const size_t ml = strnlen(msg, cap - pl - 3);
            memcpy(err->msg, o->args[0], pl);
            memcpy(err->msg + pl, ": ", 2);
            memcpy(err->msg + pl + 2, msg, ml);
            err->msg[pl + 2 + ml] = 0;
        }
    }
    lm_mlp_free(m);
    lm_config_free(cfg);
    return st;
}

int cmd_kernel(int argc, char **argv) {
    cli_opts o;
    int rc = cli_parse("kernel", cli_kernel_usage, argc, argv,
                       "inputs,depth,activation,sw2,sb2,kind,json,param,width,base-width,bias,"
                       "no-bias,predict,targets,test,test-targets,noise,time,lr,gd,loss,"
                       "empirical,init,set,max-memory,per-layer,out,ARGS",
                       &o);
    if (rc)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (!o.inputs)
        return cli_usage("kernel", cli_kernel_usage, "missing --inputs X.npy");
    if (o.n_args > 1 || (o.n_args && o.empirical))
        return cli_usage("kernel", cli_kernel_usage,
                         "unexpected argument \"%s\" (one CONFIG.json for its analytic kernels, "
                         "or --empirical CONFIG.json)",
                         o.args[o.n_args - 1]);
    if (o.empirical) {
        if (o.depth || o.activation || o.sw2 || o.sb2 || o.kind || o.param || o.width ||
            o.base_width || o.bias || o.no_bias || o.predict)
            return cli_usage("kernel", cli_kernel_usage,
                             "with --empirical the network comes from the config: --depth, "
                             "--activation, --sw2, --sb2, --kind, --param, --width, --base-width, "
                             "--bias and --predict do not apply");
        lm_err err = {0};
        return empirical(&o, &err) == LM_OK ? CLI_OK : cli_fail("kernel", &err);
    }
    if (o.init || o.max_memory || o.per_layer)
        return cli_usage("kernel", cli_kernel_usage,
                         "--init, --max-memory and --per-layer need --empirical CONFIG.json");
    if (o.n_sets && !o.n_args)
        return cli_usage("kernel", cli_kernel_usage,
                         "--set needs a CONFIG.json (or --empirical CONFIG.json)");
    if (o.n_args && (o.depth || o.activation || o.sw2 || o.sb2 || o.param || o.width ||
                     o.base_width || o.bias || o.no_bias))
        return cli_usage("kernel", cli_kernel_usage,
                         "with CONFIG.json the network comes from the config: --depth, "
                         "--activation, --sw2, --sb2, --param, --width, --base-width, --bias and "
                         "--no-bias do not apply");
    if (o.bias && o.no_bias)
        return cli_usage("kernel", cli_kernel_usage, "--bias and --no-bias together");
    lm_kernel_spec ks = lm_kernel_spec_default();
    size_t cfg_d = 0;
    if (o.n_args) {
        lm_err err = {0};
        if (config_kernel_spec(&o, &ks, &cfg_d, &err) != LM_OK)
            return cli_fail("kernel", &err);
    }
    if (!o.n_args && !o.depth)
        return cli_usage("kernel", cli_kernel_usage, "missing --depth L");
    if (!o.n_args && !o.activation)
        return cli_usage("kernel", cli_kernel_usage, "missing --activation NAME");
    size_t depth = ks.depth;
    double sw2 = ks.sw2, sb2 = ks.sb2;
    if (!cli_parse_size("kernel", cli_kernel_usage, "depth", o.depth, 0, 1000, &depth))
        return CLI_USAGE;
    if (!cli_parse_double("kernel", cli_kernel_usage, "sw2", o.sw2, CLI_ANY, &sw2) ||
        !cli_parse_double("kernel", cli_kernel_usage, "sb2", o.sb2, CLI_ANY, &sb2))
        return CLI_USAGE;
    ks.depth = depth;
    ks.sw2 = sw2;
    ks.sb2 = sb2;
    if (!o.n_args) /* default: biases when sb2 > 0 */
        ks.bias = o.bias ? 1 : o.no_bias ? 0 : sb2 > 0;
    if (o.param && lm_param_parse(o.param, &ks.param, NULL))
        return cli_usage("kernel", cli_kernel_usage, "--param \"%s\": expected ntp, sp or mup",
                         o.param);
    if (!cli_parse_size("kernel", cli_kernel_usage, "width", o.width, 0, SIZE_MAX, &ks.width) ||
        !cli_parse_size("kernel", cli_kernel_usage, "base-width", o.base_width, 0, SIZE_MAX,
                        &ks.base_width))
        return CLI_USAGE;
    if (ks.param != LM_PARAM_NTP && ks.width == 0)
        return cli_usage("kernel", cli_kernel_usage, "--param %s needs --width N (> 0): %s",
                         lm_param_name(ks.param),
                         ks.param == LM_PARAM_SP
                             ? "sp's tangent kernel grows with the width"
                             : "mup's kernels depend on the width (m = width / base width)");
    int want_nngp = 1, want_ntk = 1;
    if (o.kind) {
        if (strcmp(o.kind, "nngp") == 0)
            want_ntk = 0;
        else if (strcmp(o.kind, "ntk") == 0)
            want_nngp = 0;
        else if (strcmp(o.kind, "both") != 0)
            return cli_usage("kernel", cli_kernel_usage,
                             "--kind \"%s\": expected nngp, ntk or both", o.kind);
    }
    lm_err err = {0};
    lm_act act = ks.act;
    if (o.activation && lm_act_parse(o.activation, &act, &err))
        return cli_fail("kernel", &err);
    ks.act = act;
    if (o.predict)
        return cmd_kernel_predict(&o, &ks);
    if (o.targets || o.test || o.test_targets || o.noise || o.times || o.lr || o.gd || o.loss)
        return cli_usage("kernel", cli_kernel_usage,
                         "--targets, --test, --test-targets, --noise, --time, --lr, --gd and "
                         "--loss need --predict nngp|ntk");

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
    if (o.n_args && d != cfg_d) {
        lm_err_set(&err, LM_ESHAPE, __FILE__, __LINE__,
                   "%s: expected [n, %zu] (model.widths[0] of %s), got [%zu, %zu]", o.inputs, cfg_d,
                   o.args[0], n, d);
        lm_array_free(a);
        return cli_fail("kernel", &err);
    }
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
        const size_t nn[2] = {n, n};
        if (lm_kernel_analytic_spec(&ks, x, n, d, nngp, ntk, &err)) {
            fprintf(stderr, "lmech kernel: error: %s: %s\n", o.inputs, err.msg);
            rc = CLI_FAIL;
        } else if (o.out && ((nngp && cli_save_npy(o.out, "nngp", nngp, 2, nn, &err) != LM_OK) ||
                             (ntk && cli_save_npy(o.out, "ntk", ntk, 2, nn, &err) != LM_OK))) {
            rc = cli_fail("kernel", &err);
        } else if (o.json) {
            printf("{\"n\":%zu,\"d\":%zu,\"depth\":%zu,\"activation\":\"%s\",\"sw2\":%.17g,"
                   "\"sb2\":%.17g,\"param\":\"%s\",\"width\":%zu,\"base_width\":%zu,"
                   "\"bias\":%s,\"wall_s\":%.6g",
                   n, d, depth, lm_act_name(act), sw2, sb2, lm_param_name(ks.param), ks.width,
                   ks.base_width, ks.bias ? "true" : "false", lm_now() - t0);
            if (o.out) { /* the arrays went to .npy files: name them instead */
                const char *names[2] = {nngp ? "nngp" : NULL, ntk ? "ntk" : NULL};
                cli_print_npy_files(o.out, names, 2);
            }
            if (nngp && !o.out)
                print_matrix("nngp", nngp, n);
            if (ntk && !o.out)
                print_matrix("ntk", ntk, n);
            printf("}\n");
            fflush(stdout);
        } else {
            /* the line of the plain ntp call is unchanged; other settings are appended */
            char ps[128] = "";
            if (ks.param == LM_PARAM_SP)
                snprintf(ps, sizeof ps, ", sp, width %zu", ks.width);
            else if (ks.param == LM_PARAM_MUP)
                snprintf(ps, sizeof ps, ", mup, width %zu, base width %zu", ks.width,
                         ks.base_width);
            if (ks.param != LM_PARAM_NTP || o.bias || o.no_bias)
                snprintf(ps + strlen(ps), sizeof ps - strlen(ps), ", %s",
                         ks.bias ? "biases" : "no biases");
            printf("analytic kernels: n = %zu inputs of d = %zu, depth %zu, %s, sw2 = %g, "
                   "sb2 = %g%s (%.3g s)\n",
                   n, d, depth, lm_act_name(act), sw2, sb2, ps, lm_now() - t0);
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
