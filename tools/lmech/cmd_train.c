/* cmd_train.c: `lmech train CONFIG.json [--db FILE] [--set KEY=VALUE]... [--init FILE]
 * [--save FILE] [--json] [--quiet]`. */
#include "cli.h"
#include "lmech/io.h"
#include "lmech/train.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *USAGE = "lmech train CONFIG.json [--db FILE] [--set KEY=VALUE]... "
                           "[--init FILE.safetensors] [--save FILE.safetensors] [--json] [--quiet]";

/* A progress line on the terminal: step, loss, rate and ETA; overwritten in place. */
static void progress(void *ud, size_t step, size_t total, double loss, double elapsed) {
    (void) ud;
    double eta = step ? elapsed * (double) (total - step) / (double) step : 0.0;
    fprintf(stderr, "\r  step %zu/%zu  loss %.5g  %.0f steps/s  ETA %.1fs   ", step, total, loss,
            elapsed > 0 ? (double) step / elapsed : 0.0, eta);
    if (step == total)
        fputc('\n', stderr);
    fflush(stderr);
}

int cmd_train(int argc, char **argv) {
    cli_opts o;
    int rc = cli_parse("train", USAGE, argc, argv, "CONFIG,db,set,init,save,json,quiet", &o);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    lm_err err = {0};
    lm_config *cfg = NULL;
    lm_store *store = NULL;
    double *theta0 = NULL, *theta1 = NULL;
    lm_mlp *m = NULL;
    lm_train_result res;
    if (lm_config_load(o.config, o.n_sets, o.sets, &cfg, &err) != LM_OK)
        return cli_fail("train", &err);
    rc = CLI_FAIL;
    if (o.init && cli_load_init(cfg, o.init, &theta0, &err) != LM_OK)
        goto done;
    if (lm_mlp_new(&cfg->model, &m, &err) != LM_OK)
        goto done;
    if (o.save && !(theta1 = lm_malloc(m->n_params * sizeof *theta1))) {
        lm_err_set(&err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
        goto done;
    }
    if (lm_store_open(o.db, &store, &err) != LM_OK)
        goto done;
    lm_train_opts opts = {0};
    opts.store = store;
    opts.theta_init = theta0;
    opts.theta_final = theta1;
    opts.stop = cli_stop_on_signals();
    if (!o.quiet && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO)) /* a person is watching */
        opts.progress = progress;
    if (lm_train_run(cfg, &opts, &res, &err) != LM_OK)
        goto done;
    if (o.save && res.status == LM_RUN_DIVERGED) {
        fprintf(stderr,
                "lmech train: run %lld diverged; not saving %s (its parameters are not "
                "finite)\n",
                (long long) res.run_id, o.save);
    } else if (o.save) {
        if (lm_mlp_save(m, theta1, cfg->train.dtype, o.save, &err) != LM_OK)
            goto done;
        if (lm_store_put_artifact(store, res.run_id, "checkpoint", "safetensors", o.save, &err) !=
            LM_OK)
            goto done;
    }
    if (o.json) {
        json_t *fin = json_object();
        json_object_set_new(fin, "train_loss", cli_json_num(res.train_loss));
        json_object_set_new(fin, "train_acc", cli_json_num(res.train_acc));
        json_object_set_new(fin, "test_loss", cli_json_num(res.test_loss));
        json_object_set_new(fin, "test_acc", cli_json_num(res.test_acc));
        json_t *j = json_object();
        json_object_set_new(j, "run_id", json_integer(res.run_id));
        json_object_set_new(j, "status", json_string(lm_run_status_name(res.status)));
        json_object_set_new(j, "steps", json_integer((json_int_t) res.steps));
        json_object_set_new(j, "wall_s", json_real(res.wall_s));
        json_object_set_new(j, "final", fin);
        if (res.diverged_step >= 0)
            json_object_set_new(j, "diverged_step", json_integer(res.diverged_step));
        if (res.message[0])
            json_object_set_new(j, "message", json_string(res.message));
        json_object_set_new(j, "db", json_string(o.db));
        cli_print_json(j);
    } else {
        printf("run %lld %s: %zu steps in %.2f s\n", (long long) res.run_id,
               lm_run_status_name(res.status), res.steps, res.wall_s);
        if (res.message[0])
            printf("  %s\n", res.message);
        printf("  train loss %.6g  acc %.4f\n", res.train_loss, res.train_acc);
        if (isfinite(res.test_loss))
            printf("  test  loss %.6g  acc %.4f\n", res.test_loss, res.test_acc);
        if (o.save)
            printf("  saved %s\n", o.save);
        printf("  recorded in %s (lmech show %lld --db %s)\n", o.db, (long long) res.run_id, o.db);
    }
    rc = CLI_OK;
done:
    if (rc != CLI_OK)
        cli_fail("train", &err);
    lm_store_close(store);
    lm_mlp_free(m);
    lm_free(theta0);
    lm_free(theta1);
    lm_config_free(cfg);
    return rc;
}
