/* cmd_train.c: `lmech train CONFIG.json [--db FILE] [--set KEY=VALUE]... [--init FILE]
 * [--save FILE] [--json] [--quiet] [--mpi]`.
 *
 * --mpi (`mpirun -n R lmech train CONFIG.json --mpi`; docs/mpi.md): every rank loads the config
 * and data, trains its slice of each batch, and the ranks sum their gradients (lmech/dist.h,
 * lm_train_opts.reduce). Rank 0 alone opens the database, saves the checkpoint and prints; the
 * others write nothing. A failure before training is agreed by every rank, which all exit 1 with
 * one message (a rank whose own message differs from rank 0's prints it too); a failure during
 * training on one rank ends the job (MPI_Abort), since the others wait in a sum. */
#include "cli.h"
#include "lmech/dist.h"
#include "lmech/io.h"
#include "lmech/train.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *USAGE = "lmech train CONFIG.json [--db FILE] [--set KEY=VALUE]... "
                           "[--init FILE.safetensors] [--save FILE.safetensors] [--json] [--quiet] "
                           "[--mpi]";

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

/* --mpi: every rank arrives here with its own outcome (ok, and *err when it failed). Returns 1
 * when any rank failed: then every rank returns together, rank 0 having printed its message (its
 * own error, or how many ranks failed) and each other rank its own only where it differs from
 * rank 0's. A failure to communicate ends the job. */
static int mpi_failed_together(int ok, lm_err *err) {
    int n_failed = 0;
    lm_err e = {0};
    if (lm_dist_agree(ok, &n_failed, NULL, &e) != LM_OK) {
        cli_fail("train", &e);
        lm_dist_abort(CLI_FAIL);
    }
    if (n_failed == 0)
        return 0;
    if (ok)
        lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                   "%d of %d ranks failed before training (their own messages say why)", n_failed,
                   lm_dist_size());
    char msg0[LM_ERR_MSG_LEN];
    memcpy(msg0, err->msg, sizeof msg0);
    if (lm_dist_bcast(msg0, sizeof msg0, 0, &e) != LM_OK) {
        cli_fail("train", &e);
        lm_dist_abort(CLI_FAIL);
    }
    if (lm_dist_rank() == 0) {
        cli_fail("train", err);
    } else if (strcmp(msg0, err->msg) != 0) {
        lm_err_prefix(err, "rank %d of %d: ", lm_dist_rank(), lm_dist_size());
        cli_fail("train", err);
    }
    return 1;
}

int cmd_train(int argc, char **argv) {
    cli_opts o;
    int rc = cli_parse("train", USAGE, argc, argv, "CONFIG,db,set,init,save,json,quiet,mpi", &o);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    lm_err err = {0};
    lm_config *cfg = NULL;
    lm_store *store = NULL;
    double *theta0 = NULL, *theta1 = NULL;
    lm_mlp *m = NULL;
    lm_train_result res;
    lm_reducer red;
    if (o.mpi && lm_dist_init(&err) != LM_OK)
        return cli_fail("train", &err);
    const int root = !o.mpi || lm_dist_rank() == 0;     /* the rank that writes and prints */
    const char *world = getenv("OMPI_COMM_WORLD_SIZE"); /* set by Open MPI's mpirun */
    if (!o.mpi && world && atoi(world) > 1)
        fprintf(stderr,
                "lmech train: note: started by mpirun with %s ranks but without --mpi: every "
                "rank trains the whole run on its own\n",
                world);
    rc = CLI_FAIL;
    lm_status st = lm_config_load(o.config, o.n_sets, o.sets, &cfg, &err);
    if (st == LM_OK && o.init)
        st = cli_load_init(cfg, o.init, &theta0, &err);
    if (st == LM_OK)
        st = lm_mlp_new(&cfg->model, &m, &err);
    if (st == LM_OK && o.save && root && !(theta1 = lm_malloc(m->n_params * sizeof *theta1)))
        st = lm_err_set(&err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    if (st == LM_OK && root)
        st = lm_store_open(o.db, &store, &err);
    if (!o.mpi && st != LM_OK)
        goto done;
    if (o.mpi && mpi_failed_together(st == LM_OK, &err))
        goto quiet_fail;
    lm_train_opts opts = {0};
    opts.store = store; /* NULL on every rank but 0 */
    opts.theta_init = theta0;
    opts.theta_final = theta1;
    opts.stop = cli_stop_on_signals();
    if (o.mpi) {
        lm_dist_reducer(&red);
        opts.reduce = &red;
    }
    if (root && !o.quiet && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO)) /* someone watches */
        opts.progress = progress;
    if (lm_train_run(cfg, &opts, &res, &err) != LM_OK) {
        if (!o.mpi)
            goto done;
        if (res.setup_failed) { /* every rank returned: they agreed inside lm_train_run */
            mpi_failed_together(0, &err);
            goto quiet_fail;
        }
        /* this rank failed mid-run while the others may wait in a sum: end the job */
        lm_err_prefix(&err, "rank %d of %d: ", lm_dist_rank(), lm_dist_size());
        cli_fail("train", &err);
        fflush(NULL);
        lm_dist_abort(CLI_FAIL);
    }
    if (!root) { /* the run is rank 0's to save and report */
        rc = CLI_OK;
        goto done;
    }
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
        if (o.mpi) { /* and what rank 0 sent in the sums (docs/mpi.md's volume per step) */
            json_object_set_new(j, "ranks", json_integer(lm_dist_size()));
            json_object_set_new(j, "sent_bytes", json_integer((json_int_t) lm_dist_bytes_sent()));
        }
        cli_print_json(j);
    } else {
        printf("run %lld %s: %zu steps in %.2f s", (long long) res.run_id,
               lm_run_status_name(res.status), res.steps, res.wall_s);
        if (o.mpi)
            printf(" on %d ranks", lm_dist_size());
        printf("\n");
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
quiet_fail:
    lm_store_close(store);
    lm_mlp_free(m);
    lm_free(theta0);
    lm_free(theta1);
    lm_config_free(cfg);
    if (o.mpi)
        lm_dist_finalize();
    return rc;
}
