/* cmd_features.c: `lmech features CONFIG.json [--init FILE.safetensors] --inputs X.npy --layer L
 * --out H.npy [--set KEY=VALUE]...`: layer L's representations of the rows of X (L = 0 the
 * inputs, 1..L-1 the hidden post-activations, the last the outputs) for the network of CONFIG
 * with the parameters of --init (any checkpoint in the layout lmech reads, PyTorch's included)
 * or, without --init, the config's initial parameters (the untrained baseline). All numerics are
 * lm_mlp_features (src/model); docs/representations.md. */
#include "cli.h"
#include "lmech/data.h"
#include "lmech/io.h"
#include "lmech/train.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

static const char *USAGE =
    "lmech features CONFIG.json --inputs X.npy --layer L --out H.npy [--init FILE.safetensors]\n"
    "               [--set KEY=VALUE]...\n"
    "  --inputs X.npy   [n, d_in] float32/float64: the inputs, one per row\n"
    "  --layer L        0 the inputs, 1..L-1 hidden post-activations, L the outputs\n"
    "  --out H.npy      where to write the representations [n, width of layer L] (float64)\n"
    "  --init FILE      parameters (safetensors, layers.{i}.weight/bias); default: the config's\n"
    "                   initialisation (the untrained network)";

#define usage(...) cli_usage("features", USAGE, __VA_ARGS__)

int cmd_features(int argc, char **argv) {
    cli_opts o;
    int rc = cli_parse("features", USAGE, argc, argv, "CONFIG,set,init,inputs,layer,out", &o);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (!o.inputs || !o.layer || !o.out)
        return usage("--inputs, --layer and --out are required");
    size_t layer = 0;
    if (!cli_parse_size("features", USAGE, "layer", o.layer, 0, SIZE_MAX, &layer))
        return CLI_USAGE;
    lm_err err = {0};
    lm_config *cfg = NULL;
    lm_mlp *m = NULL;
    lm_mlp_ws *ws = NULL;
    double *theta = NULL, *X = NULL, *H = NULL;
    size_t n = 0, d = 0;
    rc = CLI_FAIL;
    if (lm_config_load(o.config, o.n_sets, o.sets, &cfg, &err) != LM_OK ||
        lm_mlp_new(&cfg->model, &m, &err) != LM_OK)
        goto done;
    if (layer > m->n_repr) {
        rc = usage("--layer %zu: %s has layers 0 (inputs) to %zu (outputs)", layer, o.config,
                   m->n_repr);
        goto done;
    }
    if (cli_load_matrix(o.inputs, &X, &n, &d, &err) != LM_OK)
        goto done;
    if (d != m->d_in) {
        lm_err_set(&err, LM_ESHAPE, __FILE__, __LINE__,
                   "%s: shape [%zu, %zu], but the network of %s takes inputs of width %zu "
                   "(model.widths[0]); need [n, %zu]",
                   o.inputs, n, d, o.config, m->d_in, m->d_in);
        goto done;
    }
    if (n == 0) {
        lm_err_set(&err, LM_ESHAPE, __FILE__, __LINE__, "%s: no rows", o.inputs);
        goto done;
    }
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(X[i])) {
            lm_err_set(&err, LM_EINVAL, __FILE__, __LINE__,
                       "%s: element [%zu, %zu] is %g; inputs must be finite", o.inputs, i / d,
                       i % d, X[i]);
            goto done;
        }
    if (o.init) {
        if (cli_load_init(cfg, o.init, &theta, &err) != LM_OK)
            goto done;
    } else {
        theta = lm_malloc(m->n_params * sizeof *theta);
        if (!theta) {
            lm_err_set(&err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
            goto done;
        }
        if (lm_train_init_params(cfg, m, theta, &err) != LM_OK)
            goto done;
    }
    const size_t w = lm_mlp_layer_width(m, layer);
    H = lm_malloc(n * w * sizeof *H);
    if (!H) {
        lm_err_set(&err, LM_ENOMEM, __FILE__, __LINE__, "out of memory for [%zu, %zu]", n, w);
        goto done;
    }
    if (lm_mlp_ws_new(m, n < 1024 ? n : 1024, LM_F64, &ws, &err) != LM_OK ||
        lm_mlp_features(m, ws, theta, X, n, layer, H, &err) != LM_OK)
        goto done;
    lm_array a = {LM_ELT_F64, 2, {n, w}, n * w, H};
    if (lm_npy_write(o.out, &a, &err) != LM_OK)
        goto done;
    fprintf(stderr, "wrote %s [%zu, %zu] (layer %zu of %zu)\n", o.out, n, w, layer, m->n_repr);
    rc = CLI_OK;
done:
    if (rc == CLI_FAIL)
        cli_fail("features", &err);
    lm_mlp_ws_free(ws);
    lm_free(H);
    lm_free(X);
    lm_free(theta);
    lm_mlp_free(m);
    lm_config_free(cfg);
    return rc;
}
