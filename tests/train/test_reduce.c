/*
 * Tests of the data-parallel hook (lm_train_opts.reduce) without MPI: R processes made by fork,
 * joined by socketpairs into a reducer whose rank 0 sums every rank's buffer in rank order and
 * sends the sum back. The MPI reducer (src/dist/) is tested by tests/cli/test_mpi_train.sh;
 * these pin what the hook itself promises to any reducer:
 *   - R = 1, 2, 3 ranks (uneven slices: a batch of 32 at R = 3 is 11, 11, 10) end within float64
 *     rounding of the plain run, and a fixed R gives the same bits twice;
 *   - a setup failure on one rank only (a non-finite initial parameter given to rank 1) fails
 *     every rank (setup_failed, the others naming how many ranks failed), and none waits;
 *   - a batch smaller than R is refused.
 */
#include "lmech/config.h"
#include "lmech/train.h"
#include "train_helpers.h"

#include <sys/socket.h>
#include <sys/wait.h>

static const char *TEACHER =
    "{\"seed\": 9, \"data\": {\"source\": \"teacher\", \"dim\": 6, \"outputs\": 2, "
    "\"teacher_width\": 8, \"train_size\": 160, \"test_size\": 41}, "
    "\"model\": {\"widths\": [6, 24, 2], \"activation\": \"tanh\"}, \"loss\": \"mse\", "
    "\"optimizer\": {\"name\": \"sgd\", \"lr\": 0.1, \"momentum\": 0.5}, \"steps\": 60, "
    "\"batch_size\": 32, \"eval_every\": 20, \"threads\": 1}";

#define MAX_RANKS 4

/* The socketpair reducer: fd[r] links rank 0 with rank r (r >= 1); rank r's own end is fd[0]. */
typedef struct pipe_red {
    int fd[MAX_RANKS];
} pipe_red;

static int xfer(int fd, void *buf, size_t n, int out) {
    char *p = buf;
    while (n > 0) {
        ssize_t k = out ? write(fd, p, n) : read(fd, p, n);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t) k;
    }
    return 0;
}

typedef struct rank_ctx {
    pipe_red pr;
    lm_reducer red;
} rank_ctx;

static lm_status pipe_sum(void *ud, double *buf, size_t n, lm_err *err) {
    rank_ctx *c = ud;
    const size_t bytes = n * sizeof *buf;
    if (c->red.rank != 0) {
        if (xfer(c->pr.fd[0], buf, bytes, 1) || xfer(c->pr.fd[0], buf, bytes, 0))
            LM_FAIL(err, LM_EIO, "rank %d: the socketpair to rank 0 broke", c->red.rank);
        return LM_OK;
    }
    double *tmp = malloc(bytes ? bytes : 1);
    if (!tmp)
        LM_FAIL(err, LM_ENOMEM, "out of memory");
    for (int r = 1; r < c->red.size; r++) { /* (((b0 + b1) + b2) + ...) */
        if (xfer(c->pr.fd[r], tmp, bytes, 0)) {
            free(tmp);
            LM_FAIL(err, LM_EIO, "rank 0: the socketpair to rank %d broke", r);
        }
        for (size_t i = 0; i < n; i++)
            buf[i] += tmp[i];
    }
    free(tmp);
    for (int r = 1; r < c->red.size; r++)
        if (xfer(c->pr.fd[r], buf, bytes, 1))
            LM_FAIL(err, LM_EIO, "rank 0: the socketpair to rank %d broke", r);
    return LM_OK;
}

/* Trains c on R processes; rank 0's (this process's) result, status and error are returned,
 * theta (may be NULL) gets its final parameters; bad_init_rank (>= 0) starts that rank from a
 * non-finite theta. Each child's exit status is 0 when its lm_train_run returned LM_OK, 1
 * otherwise: *children_failed counts them. */
static lm_status run_ranks(const lm_config *c, int R, double *theta, int bad_init_rank,
                           lm_train_result *res, lm_err *err, int *children_failed) {
    rank_ctx ctx[MAX_RANKS];
    pid_t pid[MAX_RANKS] = {0};
    int sv[MAX_RANKS][2];
    lm_mlp *m;
    cr_assert_eq(lm_mlp_new(&c->model, &m, NULL), LM_OK);
    const size_t p = m->n_params;
    double *bad = calloc(p, sizeof *bad);
    bad[0] = LM_NAN;
    for (int r = 1; r < R; r++)
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[r]), 0);
    for (int r = 0; r < R; r++) {
        ctx[r].red = (lm_reducer){r, R, pipe_sum, &ctx[r]};
        if (r == 0)
            for (int q = 1; q < R; q++)
                ctx[0].pr.fd[q] = sv[q][0];
        else
            ctx[r].pr.fd[0] = sv[r][1];
    }
    fflush(NULL);
    for (int r = 1; r < R; r++) {
        pid[r] = fork();
        cr_assert(pid[r] >= 0);
        if (pid[r] == 0) {
            lm_train_opts o = {0};
            o.reduce = &ctx[r].red;
            o.theta_init = r == bad_init_rank ? bad : NULL;
            lm_train_result rr;
            _exit(lm_train_run(c, &o, &rr, NULL) == LM_OK ? 0 : 1);
        }
    }
    lm_train_opts o = {0};
    o.reduce = &ctx[0].red;
    o.theta_final = theta;
    o.theta_init = bad_init_rank == 0 ? bad : NULL;
    lm_status st = lm_train_run(c, &o, res, err);
    *children_failed = 0;
    for (int r = 1; r < R; r++) {
        int ws = 0;
        cr_assert_eq(waitpid(pid[r], &ws, 0), pid[r]);
        *children_failed += !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
        close(sv[r][0]);
        close(sv[r][1]);
    }
    free(bad);
    lm_mlp_free(m);
    return st;
}

Test(reduce, ranks_agree_with_plain_and_repeat_bitwise) {
    lm_config *c = cfg_from(TEACHER, 0, NULL);
    lm_mlp *m;
    cr_assert_eq(lm_mlp_new(&c->model, &m, NULL), LM_OK);
    const size_t p = m->n_params;
    double *plain = malloc(p * 8), *t = malloc(p * 8), *t2 = malloc(p * 8);
    lm_train_opts o = {0};
    o.theta_final = plain;
    lm_train_result r0, r;
    lm_err err = {0};
    cr_assert_eq(lm_train_run(c, &o, &r0, &err), LM_OK, "%s", err.msg);
    for (int R = 1; R <= 3; R++) {
        int bad = 0;
        cr_assert_eq(run_ranks(c, R, t, -1, &r, &err, &bad), LM_OK, "R = %d: %s", R, err.msg);
        cr_assert_eq(bad, 0, "R = %d: %d ranks failed", R, bad);
        cr_assert_eq(r.status, LM_RUN_FINISHED);
        cr_assert_eq(r.steps, 60);
        /* only the order of the sums differs: 60 steps of a contracting dynamics keep the
         * rounding differences at a few ulps */
        for (size_t i = 0; i < p; i++)
            cr_assert(lm_close(t[i], plain[i], 1e-12, 1e-3), "R = %d: theta[%zu] %.17g vs %.17g", R,
                      i, t[i], plain[i]);
        cr_assert(lm_close(r.train_loss, r0.train_loss, 1e-12, 0), "R = %d: %.17g vs %.17g", R,
                  r.train_loss, r0.train_loss);
        cr_assert(lm_close(r.test_loss, r0.test_loss, 1e-12, 0), "R = %d: %.17g vs %.17g", R,
                  r.test_loss, r0.test_loss);
    }
    int bad = 0;
    cr_assert_eq(run_ranks(c, 3, t2, -1, &r, &err, &bad), LM_OK, "%s", err.msg);
    cr_assert_eq(memcmp(t, t2, p * 8), 0, "R = 3 twice must give the same bits");
    free(plain);
    free(t);
    free(t2);
    lm_mlp_free(m);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(reduce, a_setup_failure_on_one_rank_fails_every_rank) {
    lm_config *c = cfg_from(TEACHER, 0, NULL);
    lm_train_result r;
    lm_err err = {0};
    int bad = 0;
    /* rank 1 alone cannot start: rank 0 learns it in the agreement, no one waits in a sum */
    cr_assert_neq(run_ranks(c, 2, NULL, 1, &r, &err, &bad), LM_OK);
    cr_assert_eq(bad, 1);
    cr_assert(r.setup_failed);
    cr_assert(strstr(err.msg, "1 of 2 ranks could not start"), "%s", err.msg);
    /* rank 0 alone cannot start: its own message */
    lm_err_clear(&err);
    cr_assert_neq(run_ranks(c, 3, NULL, 0, &r, &err, &bad), LM_OK);
    cr_assert_eq(bad, 2);
    cr_assert(r.setup_failed);
    cr_assert(strstr(err.msg, "not finite"), "%s", err.msg);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}

Test(reduce, a_batch_smaller_than_the_ranks_is_refused) {
    const char *sets[] = {"batch_size=2"};
    lm_config *c = cfg_from(TEACHER, 1, sets);
    lm_train_result r;
    lm_err err = {0};
    int bad = 0;
    cr_assert_eq(run_ranks(c, 3, NULL, -1, &r, &err, &bad), LM_EINVAL);
    cr_assert_eq(bad, 2);
    cr_assert(strstr(err.msg, "needs a batch of at least 3 examples"), "%s", err.msg);
    lm_config_free(c);
    LM_CHECK_LEAKS();
}
