/*
 * pool.c: the worker pool that trains an experiment's planned runs.
 *
 * Runs are trained by `jobs` forked worker processes, each with its own database connection
 * (SQLite connections must not cross fork) and BLAS threads = cores / jobs, so the cores are not
 * oversubscribed. A worker takes plan indices from a pipe, one at a time; for each it trains the
 * run, saves the final parameters to <db>.artifacts/run-<id>.safetensors, records the artifact,
 * and answers with the run id. A worker that dies (in a run or between runs) costs at most the
 * run it held and is replaced (tests/cli/test_exp_workers.sh). A planned run whose canonical config
 * (hash) already has a finished run (or a diverged one: runs are deterministic) is reused: an
 * interrupted sweep resumes where it stopped. Concurrent invocations on one database train each
 * run once (run locks, tests/cli/test_exp_concurrent.sh).
 */
#include "exp/internal.h"

#include "lmech/io.h"
#include "lmech/train.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Data loaded once by the parent and shared with the forked runs (copy-on-write): in a sweep over
 * seeds and rates every run usually has the same data, and loading it (inflating the IDX files,
 * the float64 arrays and their first-touch page faults) was a quarter of a small run's time.
 * (lm__exp_shared, internal.h; an MPI worker rank keeps one for the runs it trains.) */
typedef lm__exp_shared shared_data;

/* What determines a config's datasets: its canonical "data" object, plus the seed when the data
 * depend on it (random subsets, synthetic sources, modadd's split). 0 when it does not fit. */
static int data_key(const lm_config *c, char *out, size_t cap) {
    const char *a = strstr(c->json, "\"data\":{");
    const char *b = a ? strchr(a, '}') : NULL; /* the data object has no nested objects */
    if (!a || !b || (size_t) (b - a) + 40 > cap)
        return 0;
    const lm_data_source src = c->data.source;
    const int seedless =
        (src == LM_DATA_FASHION_MNIST || src == LM_DATA_MNIST || src == LM_DATA_NPY) &&
        c->data.subset == LM_SUBSET_FIRST;
    const int n = snprintf(out, cap, "%.*s|%llu", (int) (b - a + 1), a,
                           seedless ? 0ULL : (unsigned long long) c->seed);
    return n > 0 && (size_t) n < cap;
}

lm__exp_shared *lm__exp_shared_load(const char *json) {
    shared_data *sh = lm_calloc(1, sizeof *sh);
    if (!sh || !json)
        return sh;
    lm_config *c0 = NULL;
    lm_err ignore = {0};
    if (lm_config_parse(json, strlen(json), "planned run", 0, NULL, &c0, &ignore) == LM_OK &&
        data_key(c0, sh->key, sizeof sh->key) &&
        lm_data_load(&c0->data, c0->seed, &sh->train, &sh->test, &ignore) != LM_OK) {
        sh->train = sh->test = NULL;
    }
    /* float32 runs would each round the sets to float32 (and page-fault the copies in): once
     * here instead; a failure just leaves each run to convert its own */
    if (sh->train && c0 && c0->train.dtype == LM_F32 &&
        (lm_dataset_to_f32(sh->train, &sh->train32, &ignore) != LM_OK ||
         (sh->test && lm_dataset_to_f32(sh->test, &sh->test32, &ignore) != LM_OK))) {
        lm_dataset_f32_free(sh->train32);
        sh->train32 = NULL;
    }
    lm_config_free(c0);
    return sh;
}

int lm__exp_shared_fits(const lm__exp_shared *sh, const char *json) {
    if (!sh || !sh->train || !json)
        return 0;
    lm_config *c = NULL;
    lm_err ignore = {0};
    char key[sizeof sh->key];
    const int fits =
        lm_config_parse(json, strlen(json), "planned run", 0, NULL, &c, &ignore) == LM_OK &&
        data_key(c, key, sizeof key) && strcmp(key, sh->key) == 0;
    lm_config_free(c);
    return fits;
}

void lm__exp_shared_free(lm__exp_shared *sh) {
    if (!sh)
        return;
    lm_dataset_free(sh->train);
    lm_dataset_free(sh->test);
    lm_dataset_f32_free(sh->train32);
    lm_dataset_f32_free(sh->test32);
    lm_free(sh);
}

int64_t lm__exp_train_one(lm_store *s, const char *json, int threads, const lm__exp_shared *sh,
                          volatile int *stop, lm__exp_trained *out) {
    lm_err err = {0};
    lm_config *c = NULL;
    lm_mlp *m = NULL;
    double *theta = NULL;
    int64_t id = -1;
    memset(out, 0, sizeof *out);
    int ok = lm_config_parse(json, strlen(json), "planned run", 0, NULL, &c, &err) == LM_OK &&
             lm_mlp_new(&c->model, &m, &err) == LM_OK;
    if (ok && (theta = lm_malloc(m->n_params * sizeof *theta)) != NULL) {
        c->train.threads = threads;
        lm_train_opts o = {0};
        o.store = s;
        o.theta_final = theta;
        o.stop = stop;
        char key[sizeof sh->key];
        if (sh && sh->train && data_key(c, key, sizeof key) && strcmp(key, sh->key) == 0) {
            o.train = sh->train;
            o.test = sh->test;
            o.train32 = sh->train32;
            o.test32 = sh->test32;
        }
        lm_train_result r;
        const int trained = lm_train_run(c, &o, &r, &err) == LM_OK;
        id = r.run_id;
        if (trained && r.status == LM_RUN_FINISHED) {
            out->finished = 1;
            out->m = m;
            out->theta = theta;
            m = NULL;
            theta = NULL;
        }
    }
    lm_free(theta);
    lm_mlp_free(m);
    lm_config_free(c);
    return id;
}

void lm__exp_trained_clear(lm__exp_trained *t) {
    lm_free(t->theta);
    lm_mlp_free(t->m);
    memset(t, 0, sizeof *t);
}

/* Trains one planned config in a worker: saves its parameters and records the artifact. Returns
 * the run id (negative: recorded but unusable; -1: not recorded). */
static int64_t run_one(lm_store *s, const char *dir, const char *json, int threads,
                       const shared_data *sh, volatile int *stop) {
    lm_err err = {0};
    lm__exp_trained t;
    int64_t id = lm__exp_train_one(s, json, threads, sh, stop, &t);
    if (t.finished) {
        char path[LM_PATH_MAX + 64];
        lm__exp_checkpoint_path(dir, id, path, sizeof path);
        if (lm_mlp_save(t.m, t.theta, LM_F64, path, &err) != LM_OK ||
            lm_store_put_artifact(s, id, "final", "safetensors", path, &err) != LM_OK)
            id = -id; /* recorded but unusable */
    }
    lm__exp_trained_clear(&t);
    return id;
}

/* The run an experiment can reuse for a planned config (its hash): the newest finished one whose
 * checkpoint exists, else the newest diverged one (runs are deterministic: it would diverge
 * again); -1 when there is none. */
lm_status lm__exp_find_reusable(lm_store *s, const char *dir, const char *hash, int64_t *id,
                                lm_err *err) {
    char path[LM_PATH_MAX + 64];
    int64_t found = -1, diverged = -1;
    *id = -1;
    LM_TRY(lm_store_find_hash(s, hash, &found, err));
    lm__exp_checkpoint_path(dir, found, path, sizeof path);
    if (found >= 0 && access(path, R_OK) == 0) {
        *id = found;
        return LM_OK;
    }
    LM_TRY(lm_store_find_diverged(s, hash, &diverged, err));
    *id = diverged;
    return LM_OK;
}

/* Picks the next run to hand a worker among todo[*next..n_todo), takes its run lock (hashes[i]:
 * plan config i's hash) and swaps it to todo[*next]. On the way, runs that another invocation
 * finished since the plan are reused (recorded in ctx->run, counted in res and *done), and runs
 * whose lock another live process holds (a concurrent `lmech exp` on the same database training
 * them now) are passed over: each run is trained once. Returns 1 with a run at todo[*next], 0 when
 * every remaining run is held elsewhere (or none is left). */
int lm__exp_pick_next(lm_store *s, const char *dir, char (*hashes)[65], size_t *todo, size_t *next,
                      size_t n_todo, lm_exp_ctx *ctx, lm_exp_result *res, size_t *done,
                      const lm_exp_opts *opts, const char *name) {
    lm_err ignore = {0};
    for (size_t j = *next; j < n_todo; j++) {
        const size_t idx = todo[j];
        int64_t found = -1;
        int got = 1;
        /* lock, then look again: the other invocation may have finished it just before */
        if (lm_store_lock_hash(s, hashes[idx], &got, &ignore) == LM_OK && !got)
            continue; /* held by a live process: someone else is training it */
        if (lm__exp_find_reusable(s, dir, hashes[idx], &found, &ignore) == LM_OK && found >= 0) {
            lm_store_unlock_hash(s, hashes[idx], &ignore);
            todo[j] = todo[*next];
            todo[*next] = idx;
            ctx->run[idx] = found;
            res->n_reused++;
            (*next)++;
            (*done)++;
            if (opts->progress)
                opts->progress(opts->progress_ud, name, *done, n_todo);
            continue;
        }
        todo[j] = todo[*next];
        todo[*next] = idx;
        return 1;
    }
    return 0;
}

/* A worker process: one database connection (SQLite connections must not cross fork) for a
 * sequence of runs. It reads plan indices from cmd_fd until EOF and answers each with the run
 * id on res_fd. Runs are independent of what a worker ran before (lm_train_run keeps no state
 * between calls); reusing the process saves a small run's fork, exit, database open and
 * first-touch page faults (a quarter of its fixed cost). A worker that dies mid-run leaves its
 * run to be counted failed and is replaced. */
static volatile int g_worker_stop;

static void worker_on_signal(int sig) {
    (void) sig;
    g_worker_stop = 1;
}

static void worker_main(const char *db_path, const char *dir, const lm_exp_plan *plan, int threads,
                        const shared_data *sh, int cmd_fd, int res_fd) {
    /* SIGINT (Ctrl-C reaches the whole process group) or SIGTERM (from the parent when it is
     * stopped alone) ends the run in hand `interrupted`, recorded as such; then the worker
     * answers and exits */
    struct sigaction sa = {0};
    sa.sa_handler = worker_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    lm_err err = {0};
    lm_store *s = NULL;
    int ok = lm_store_open(db_path, &s, &err) == LM_OK;
    size_t idx;
    while (!g_worker_stop && read(cmd_fd, &idx, sizeof idx) == (ssize_t) sizeof idx) {
        int64_t id = ok && idx < plan->n
                         ? run_one(s, dir, plan->config[idx], threads, sh, &g_worker_stop)
                         : -1;
        if (write(res_fd, &id, sizeof id) != (ssize_t) sizeof id)
            break;
    }
    lm_store_close(s);
    _exit(ok ? 0 : 1);
}

typedef struct slot {
    pid_t pid;
    int cmd, res; /* pipes to and from the worker (-1: closed) */
    size_t idx;   /* the run it is training (the parent holds its run lock) */
    int busy;
} slot;

/* Starts a worker in *w (after fflush(NULL): the child must not flush the parent's buffers).
 * The child closes its copies of the other workers' pipes (others, n_others): a worker holding
 * another's command pipe open would keep that one from ever seeing EOF. */
static lm_status worker_start(slot *w, const slot *others, size_t n_others, const char *db_path,
                              const char *dir, const lm_exp_plan *plan, int threads,
                              const shared_data *sh, lm_err *err) {
    int c[2], r[2];
    if (pipe(c) != 0)
        LM_FAIL(err, LM_EIO, "pipe: %s", strerror(errno));
    if (pipe(r) != 0) {
        close(c[0]);
        close(c[1]);
        LM_FAIL(err, LM_EIO, "pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(c[0]);
        close(c[1]);
        close(r[0]);
        close(r[1]);
        LM_FAIL(err, LM_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(c[1]);
        close(r[0]);
        for (size_t i = 0; i < n_others; i++) {
            if (&others[i] == w)
                continue;
            if (others[i].cmd >= 0)
                close(others[i].cmd);
            if (others[i].res >= 0)
                close(others[i].res);
        }
        worker_main(db_path, dir, plan, threads, sh, c[0], r[1]);
    }
    close(c[0]);
    close(r[1]);
    *w = (slot){pid, c[1], r[0], 0, 0};
    return LM_OK;
}

static void worker_stop(slot *w, int kill_it) {
    if (w->cmd >= 0)
        close(w->cmd);
    if (kill_it)
        kill(w->pid, SIGTERM);
    waitpid(w->pid, NULL, 0);
    if (w->res >= 0)
        close(w->res);
    w->cmd = w->res = -1;
}

/* Labels ctx's runs, hashes every planned config into hashes[i], reuses the finished runs
 * (ctx->run, res->n_reused) and lists the rest in todo[0..*n_todo): the first step of both pools.
 */
lm_status lm__exp_plan_todo(lm_store *s, const char *dir, const lm_exp_plan *plan, lm_exp_ctx *ctx,
                            lm_exp_result *res, char (*hashes)[65], size_t *todo, size_t *n_todo,
                            lm_err *err) {
    lm_status st = LM_OK;
    *n_todo = 0;
    for (size_t i = 0; st == LM_OK && i < plan->n; i++) {
        ctx->label[i] = plan->label[i];
        lm_sha256_hex(plan->config[i], strlen(plan->config[i]), hashes[i]);
        int64_t found = -1;
        st = lm__exp_find_reusable(s, dir, hashes[i], &found, err);
        ctx->run[i] = found;
        if (found >= 0)
            res->n_reused++;
        else
            todo[(*n_todo)++] = i;
    }
    return st;
}

lm_status lm__exp_pool_train(const char *name, const lm_exp_opts *opts, lm_store *s,
                             const char *dir, const lm_exp_plan *plan, lm_exp_ctx *ctx,
                             lm_exp_result *res, lm_err *err) {
    lm_status st = LM_OK;
    /* reuse finished runs */
    size_t *todo = lm_malloc((plan->n ? plan->n : 1) * sizeof *todo), n_todo = 0;
    char(*hashes)[65] = lm_malloc((plan->n ? plan->n : 1) * sizeof *hashes); /* config hashes */
    if ((!todo || !hashes) && st == LM_OK)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    if (st == LM_OK)
        st = lm__exp_plan_todo(s, dir, plan, ctx, res, hashes, todo, &n_todo, err);
    /* train the rest, `jobs` processes at a time */
    int jobs = opts->jobs > 0 ? opts->jobs : lm_cores();
    if ((size_t) jobs > n_todo)
        jobs = n_todo ? (int) n_todo : 1;
    const int threads = lm_cores() / jobs > 0 ? lm_cores() / jobs : 1;
    slot workers[64];
    if (jobs > 64)
        jobs = 64;
    size_t next = 0, n_workers = 0, n_busy = 0, done = 0;
    /* load the first run's data here once, for every run that has the same (best effort: if it
     * fails, each run loads its own and reports the error in its record) */
    shared_data *sh =
        lm__exp_shared_load(st == LM_OK && n_todo >= 2 ? plan->config[todo[0]] : NULL);
    static const shared_data none;
    fflush(NULL);
    /* `jobs` workers; each gets the next planned run when it answers the last one. A worker that
     * died between runs must not kill the parent through SIGPIPE: the write fails instead. */
    const shared_data *shd = sh ? sh : &none;
    struct sigaction ign = {0}, old_pipe;
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old_pipe);
    while (st == LM_OK && n_workers < (size_t) jobs && n_workers < n_todo) {
        st = worker_start(&workers[n_workers], workers, n_workers, opts->db_path, dir, plan,
                          threads, shd, err);
        if (st == LM_OK)
            n_workers++;
    }
    int stopping = 0;
    while (st == LM_OK && (next < n_todo || n_busy > 0)) {
        if (!stopping && opts->stop && *opts->stop) {
            /* stop: no new run; the busy workers end theirs `interrupted` and answer */
            stopping = 1;
            res->interrupted = 1;
            for (size_t w = 0; w < n_workers; w++)
                if (workers[w].busy)
                    kill(workers[w].pid, SIGTERM);
        }
        int waiting = 0; /* runs left that only other processes are training */
        for (size_t w = 0; w < n_workers && next < n_todo && !stopping; w++) {
            slot *k = &workers[w];
            if (k->busy || k->cmd < 0)
                continue;
            if (!lm__exp_pick_next(s, dir, hashes, todo, &next, n_todo, ctx, res, &done, opts,
                                   name)) {
                waiting = next < n_todo;
                break;
            }
            const size_t idx = todo[next];
            if (write(k->cmd, &idx, sizeof idx) != (ssize_t) sizeof idx) {
                /* the worker died between runs (EPIPE): replace it and hand the run to the new
                 * one; a new worker that cannot take it is an error */
                worker_stop(k, 1);
                st = worker_start(k, workers, n_workers, opts->db_path, dir, plan, threads, shd,
                                  err);
                if (st == LM_OK && write(k->cmd, &idx, sizeof idx) != (ssize_t) sizeof idx)
                    st = lm_err_set(err, LM_EIO, __FILE__, __LINE__, "worker pipe: %s",
                                    strerror(errno));
                if (st != LM_OK)
                    break;
            }
            k->idx = idx;
            k->busy = 1;
            n_busy++;
            next++;
        }
        if (st != LM_OK || (n_busy == 0 && !waiting))
            break;
        struct pollfd pf[64];
        for (size_t w = 0; w < n_workers; w++)
            pf[w] = (struct pollfd){workers[w].busy ? workers[w].res : -1, POLLIN, 0};
        /* while other processes hold the remaining runs, look again every quarter second */
        if (poll(pf, (nfds_t) n_workers, waiting ? 250 : -1) < 0) {
            if (errno == EINTR)
                continue;
            st = lm_err_set(err, LM_EIO, __FILE__, __LINE__, "poll: %s", strerror(errno));
            break;
        }
        for (size_t w = 0; w < n_workers && st == LM_OK; w++) {
            slot *k = &workers[w];
            if (!k->busy || !(pf[w].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int64_t id = -1;
            const int answered = read(k->res, &id, sizeof id) == (ssize_t) sizeof id;
            ctx->run[k->idx] = answered && id > 0 ? id : -1;
            if ((!answered || id <= 0) && !stopping)
                res->n_failed++;
            k->busy = 0;
            n_busy--;
            done++;
            lm_store_unlock_hash(s, hashes[k->idx], NULL);
            res->n_done += !stopping;
            if (opts->progress)
                opts->progress(opts->progress_ud, name, done, n_todo);
            if (!answered) { /* the worker died in the run: replace it for the rest */
                worker_stop(k, 1);
                if (next < n_todo && !stopping)
                    st = worker_start(k, workers, n_workers, opts->db_path, dir, plan, threads, shd,
                                      err);
            }
        }
    }
    /* no more work: close the command pipes (workers exit at EOF); after an error stop them and
     * drop the run locks of the runs they held */
    for (size_t w = 0; w < n_workers; w++) {
        if (workers[w].cmd >= 0 || workers[w].res >= 0)
            worker_stop(&workers[w], st != LM_OK);
        if (workers[w].busy)
            lm_store_unlock_hash(s, hashes[workers[w].idx], NULL);
    }
    sigaction(SIGPIPE, &old_pipe, NULL);
    lm_free(todo);
    lm_free(hashes);
    lm__exp_shared_free(sh);
    return st;
}
