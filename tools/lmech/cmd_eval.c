/* cmd_eval.c: `lmech eval CONFIG.json --init FILE.safetensors [--set KEY=VALUE]... [--json]`:
 * loss and gradient norm on the configured training set (full batch, float64), no training. */
#include "cli.h"
#include "lmech/io.h"
#include "lmech/train.h"

static const char *USAGE =
    "lmech eval CONFIG.json [--init FILE.safetensors] [--set KEY=VALUE]... [--json]";

int cmd_eval(int argc, char **argv) {
    cli_opts o;
    int rc = cli_parse("eval", USAGE, argc, argv, "CONFIG,set,init,json", &o);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    lm_err err = {0};
    lm_config *cfg = NULL;
    double *theta = NULL, loss = 0, gnorm = 0;
    size_t p = 0;
    rc = CLI_FAIL;
    if (lm_config_load(o.config, o.n_sets, o.sets, &cfg, &err) != LM_OK)
        goto done;
    if (o.init && cli_load_init(cfg, o.init, &theta, &err) != LM_OK)
        goto done;
    if (lm_train_eval(cfg, theta, &loss, &gnorm, &p, &err) != LM_OK)
        goto done;
    if (o.json) {
        json_t *j = json_object();
        json_object_set_new(j, "loss", cli_json_num(loss));
        json_object_set_new(j, "grad_norm", cli_json_num(gnorm));
        json_object_set_new(j, "n_params", json_integer((json_int_t) p));
        json_object_set_new(j, "loss_name", json_string(lm_loss_name(cfg->loss)));
        cli_print_json(j);
    } else {
        printf("loss (%s) %.17g\ngrad_norm %.17g\nn_params %zu\n", lm_loss_name(cfg->loss), loss,
               gnorm, p);
    }
    rc = CLI_OK;
done:
    if (rc != CLI_OK)
        cli_fail("eval", &err);
    lm_free(theta);
    lm_config_free(cfg);
    return rc;
}
