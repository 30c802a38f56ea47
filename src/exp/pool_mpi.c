/*
 * pool_mpi.c: an experiment's runs trained over MPI ranks (`mpirun -n R lmech exp NAME --mpi`).
 *
 * Rank 0 runs the invocation as the fork pool does (pool.c): it plans, reuses finished runs by
 * config hash, takes the run locks, analyses and records; it is the only process that opens the
 * database. It hands plan entries to ranks 1..R-1, one at a time, as the canonical config text
 * (a worker needs neither the experiment file nor the database). A worker trains the run
 * in-process (fork after MPI_Init is unsafe with Open MPI) into a private in-memory store
 * (lm_store_open(":memory:")), saves the final parameters to a temporary file it reads back and
 * removes, and sends three messages: a header, the store's image (lm_store_image: the run's
 * record and every metric row) and the checkpoint's bytes. Rank 0 imports the run
 * (lm_store_import_run): the record, the metrics, and the checkpoint written to
 * <db>.artifacts/run-<id>.safetensors, in one transaction. A run that is in the database is
 * whole; a rank 0 killed mid-sweep leaves every imported run, and the same command resumes by
 * reusing them (the fork pool's reuse by hash).
 *
 * With R = 1 rank 0 trains each run itself through the same path (image, import). Every run is
 * trained with 1 BLAS thread, whatever R: OpenBLAS's bits depend on its thread count, and this
 * makes the claims the same for every R (and the same as `lmech exp --jobs N` with N >= cores,
 * which also gives each run one thread).
 *
 * Waiting is polling (MPI_Iprobe, then 1 ms of sleep): Open MPI's blocking receive spins, and
 * rank 0 (and a worker between runs) would take a core from the ranks that train.
 *
 * Stopping: SIGINT or SIGTERM to mpirun reaches every rank. Rank 0 sends no further run and waits
 * for the runs in hand; a worker ends its run `interrupted` (its stop flag) and sends it back,
 * recorded as such. If only rank 0 is stopped, the workers finish their runs and rank 0 imports
 * them before it ends. After an error on rank 0 (its database full, say) the workers still
 * holding runs cannot be released cleanly: lm_exp_mpi_end aborts the job (MPI_Abort) after the
 * invocation has been recorded `failed`.
 */
#include "exp/internal.h"

#include "lmech/io.h"

#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { TAG_WORK = 7101, TAG_JSON, TAG_STOP, TAG_RESULT, TAG_IMAGE, TAG_CKPT };

/* the largest piece one MPI call carries (counts are int) */
#define CHUNK ((size_t) 1 << 30)

static int g_rank = -1, g_size = 0;
static int g_we_init;  /* lm_exp_mpi_begin called MPI_Init (and so finalises) */
static int g_released; /* rank 0 has sent every worker TAG_STOP */
static int g_busy;     /* workers holding a run rank 0 has not received back */

/* A run trained into an image: recorded (the image holds its record), finished (training ended
 * `finished`; ckpt then holds the checkpoint, or is NULL when it could not be saved). */
typedef struct mpi_run {
    int recorded, finished;
    unsigned char *image;
    uint8_t *ckpt;
    size_t image_n, ckpt_n;
} mpi_run;

static void mpi_run_clear(mpi_run *r) {
    lm_free(r->image);
    lm_free(r->ckpt);
    memset(r, 0, sizeof *r);
}

static void nap(void) {
    const struct timespec ts = {0, 1000000L}; /* 1 ms */
    nanosleep(&ts, NULL);
}

static lm_status mpi_fail(lm_err *err, int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    LM_FAIL(err, LM_EIO, "MPI rank %d: %s: %s", g_rank, what, msg);
}

static lm_status send_bytes(const unsigned char *b, size_t n, int dest, int tag, lm_err *err) {
    while (n > 0) {
        const size_t k = n > CHUNK ? CHUNK : n;
        int rc = MPI_Send(b, (int) k, MPI_BYTE, dest, tag, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "sending a run");
        b += k;
        n -= k;
    }
    return LM_OK;
}

static lm_status recv_bytes(unsigned char *b, size_t n, int src, int tag, lm_err *err) {
    while (n > 0) {
        const size_t k = n > CHUNK ? CHUNK : n;
        int rc = MPI_Recv(b, (int) k, MPI_BYTE, src, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "receiving a run");
        b += k;
        n -= k;
    }
    return LM_OK;
}

/* Saves t's final parameters to a temporary file (lm_mlp_save: the one safetensors writer), reads
 * them into r->ckpt and removes the file (nothing is left behind: the checkpoint's home is rank
 * 0's artifact directory). */
static lm_status checkpoint_bytes(const lm__exp_trained *t, mpi_run *r, lm_err *err) {
    /* $TMPDIR, else /dev/shm (memory: the atomic writer's fsync costs nothing there), else /tmp */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !tmp[0])
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    char path[LM_PATH_MAX];
    snprintf(path, sizeof path, "%s/lmech-rank%d-XXXXXX", tmp, g_rank);
    int fd = mkstemp(path);
    if (fd < 0)
        LM_FAIL(err, LM_EIO, "%s: cannot create a temporary checkpoint: %s", path, strerror(errno));
    close(fd);
    lm_status st = lm_mlp_save(t->m, t->theta, LM_F64, path, err);
    if (st == LM_OK)
        st = lm_file_read(path, &r->ckpt, &r->ckpt_n, err);
    unlink(path);
    return st;
}

/* Trains config json into a fresh in-memory store and fills *r (the data cache *sh is replaced
 * when the run's data differ). An error means nothing was recorded. */
static lm_status train_to_image(const char *json, lm__exp_shared **sh, volatile int *stop,
                                mpi_run *r, lm_err *err) {
    memset(r, 0, sizeof *r);
    if (!lm__exp_shared_fits(*sh, json)) {
        lm__exp_shared_free(*sh);
        *sh = lm__exp_shared_load(json);
    }
    lm_store *s = NULL;
    LM_TRY(lm_store_open(":memory:", &s, err));
    lm__exp_trained t;
    const int64_t id = lm__exp_train_one(s, json, 1, *sh, stop, &t);
    lm_status st = LM_OK;
    r->recorded = id >= 0;
    r->finished = t.finished;
    if (t.finished) {
        lm_err ignore = {0}; /* a checkpoint that cannot be saved makes the run unusable */
        if (checkpoint_bytes(&t, r, &ignore) != LM_OK) {
            lm_free(r->ckpt);
            r->ckpt = NULL;
            r->ckpt_n = 0;
        }
    }
    if (r->recorded)
        st = lm_store_image(s, &r->image, &r->image_n, err);
    lm__exp_trained_clear(&t);
    lm_store_close(s);
    if (st != LM_OK)
        mpi_run_clear(r);
    return st;
}

/* ---------------------------------------------------------------- rank 0 */

typedef struct place_ud {
    const char *dir;
    const unsigned char *bytes;
    size_t n;
} place_ud;

/* Writes the checkpoint bytes to <dir>/run-<id>.safetensors (lm_file_write_atomic: the file is
 * whole or absent). */
static lm_status place_checkpoint(void *ud, int64_t id, char *path, size_t cap, lm_err *err) {
    const place_ud *p = ud;
    lm__exp_checkpoint_path(p->dir, id, path, cap);
    return lm_file_write_atomic(path, p->bytes, p->n, err);
}

/* Records plan run idx from r (trained here or received): imports it, checking that its config
 * hash is the planned one (hash), and sets ctx->run[idx] as the fork pool would (its id; -1 when
 * not recorded or finished without a checkpoint, counted failed unless stopping). An import error
 * (rank 0's database or disk, or a run of another hash) is the sweep's error. */
static lm_status take_run(lm_store *s, const char *dir, const char *hash, size_t idx,
                          const mpi_run *r, int stopping, lm_exp_ctx *ctx, lm_exp_result *res,
                          lm_err *err) {
    int64_t id = -1;
    if (r->recorded && r->image) {
        place_ud p = {dir, r->ckpt, r->ckpt_n};
        size_t rows = 0;
        const double t0 = lm_now();
        LM_TRY(lm_store_import_run(s, r->image, r->image_n, hash, "final", "safetensors",
                                   r->finished && r->ckpt ? place_checkpoint : NULL, &p, &id, &rows,
                                   err));
        res->mpi_import_s += lm_now() - t0;
        res->mpi_rows += rows;
        res->mpi_bytes += r->image_n + r->ckpt_n;
        if (r->finished && !r->ckpt)
            id = -id; /* recorded but unusable */
    }
    ctx->run[idx] = id > 0 ? id : -1;
    if (id <= 0 && !stopping)
        res->n_failed++;
    res->n_done += !stopping;
    return LM_OK;
}

/* Waits for a message (src may be MPI_ANY_SOURCE, tag MPI_ANY_TAG) by polling; gives up after
 * timeout_s (< 0: never) or when *stop becomes set (stop may be NULL). 1: *ms describes it. */
static int wait_message(int src, int tag, double timeout_s, volatile int *stop, MPI_Status *ms) {
    const double t0 = lm_now();
    for (;;) {
        int flag = 0;
        if (MPI_Iprobe(src, tag, MPI_COMM_WORLD, &flag, ms) != MPI_SUCCESS)
            return 0;
        if (flag)
            return 1;
        if ((timeout_s >= 0 && lm_now() - t0 > timeout_s) || (stop && *stop))
            return 0;
        nap();
    }
}

/* Receives a worker's answer (header already probed in *ms) into *r; *idx = its plan index. */
static lm_status recv_run(const MPI_Status *ms, size_t *idx, mpi_run *r, lm_err *err) {
    int64_t h[5];
    memset(r, 0, sizeof *r);
    int rc =
        MPI_Recv(h, 5, MPI_INT64_T, ms->MPI_SOURCE, TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "receiving a run's header");
    *idx = (size_t) h[0];
    r->recorded = h[1] != 0;
    r->finished = h[2] != 0;
    r->image_n = (size_t) h[3];
    r->ckpt_n = (size_t) h[4];
    if ((r->image_n && !(r->image = lm_malloc(r->image_n))) ||
        (r->ckpt_n && !(r->ckpt = lm_malloc(r->ckpt_n)))) {
        mpi_run_clear(r);
        LM_FAIL(err, LM_ENOMEM, "rank 0: out of memory receiving a run from rank %d",
                ms->MPI_SOURCE);
    }
    lm_status st = recv_bytes(r->image, r->image_n, ms->MPI_SOURCE, TAG_IMAGE, err);
    if (st == LM_OK)
        st = recv_bytes(r->ckpt, r->ckpt_n, ms->MPI_SOURCE, TAG_CKPT, err);
    if (st != LM_OK)
        mpi_run_clear(r);
    return st;
}

static lm_status send_work(int dest, size_t idx, const char *json, lm_err *err) {
    const size_t len = strlen(json);
    const int64_t h[2] = {(int64_t) idx, (int64_t) len};
    int rc = MPI_Send(h, 2, MPI_INT64_T, dest, TAG_WORK, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "sending a run");
    return send_bytes((const unsigned char *) json, len, dest, TAG_JSON, err);
}

lm_status lm__exp_pool_mpi_train(const char *name, const lm_exp_opts *opts, lm_store *s,
                                 const char *dir, const lm_exp_plan *plan, lm_exp_ctx *ctx,
                                 lm_exp_result *res, lm_err *err) {
    if (g_rank != 0)
        LM_FAIL(err, LM_EINVAL, "%s: --mpi needs lm_exp_mpi_begin, on rank 0 (this is rank %d)",
                name, g_rank);
    res->mpi_ranks = g_size;
    lm_status st = LM_OK;
    size_t *todo = lm_malloc((plan->n ? plan->n : 1) * sizeof *todo), n_todo = 0;
    char(*hashes)[65] = lm_malloc((plan->n ? plan->n : 1) * sizeof *hashes);
    size_t *held = lm_calloc((size_t) g_size, sizeof *held); /* worker w's plan index + 1 */
    if (!todo || !hashes || !held)
        st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "out of memory");
    if (st == LM_OK) /* reuse finished runs */
        st = lm__exp_plan_todo(s, dir, plan, ctx, res, hashes, todo, &n_todo, err);
    size_t next = 0, done = 0;
    int stopping = 0;
    lm__exp_shared *sh = NULL; /* R = 1: rank 0's own data cache */
    while (st == LM_OK && (next < n_todo || g_busy > 0)) {
        if (!stopping && opts->stop && *opts->stop)
            stopping = res->interrupted = 1; /* no new run; the runs in hand come back */
        int waiting = 0;                     /* runs left that only other processes are training */
        if (g_size == 1 && !stopping && next < n_todo) {
            if (!lm__exp_pick_next(s, dir, hashes, todo, &next, n_todo, ctx, res, &done, opts,
                                   name)) {
                waiting = next < n_todo;
            } else {
                const size_t idx = todo[next++];
                mpi_run r;
                lm_err run_err = {0}; /* as on a worker: a run that cannot start is a failed run */
                if (train_to_image(plan->config[idx], &sh, opts->stop, &r, &run_err) != LM_OK)
                    memset(&r, 0, sizeof r);
                st = take_run(s, dir, hashes[idx], idx, &r, opts->stop && *opts->stop, ctx, res,
                              err);
                mpi_run_clear(&r);
                lm_store_unlock_hash(s, hashes[idx], NULL);
                done++;
                if (opts->progress)
                    opts->progress(opts->progress_ud, name, done, n_todo);
                continue;
            }
        }
        for (int w = 1; w < g_size && !stopping && next < n_todo && st == LM_OK; w++) {
            if (held[w])
                continue;
            if (!lm__exp_pick_next(s, dir, hashes, todo, &next, n_todo, ctx, res, &done, opts,
                                   name)) {
                waiting = next < n_todo;
                break;
            }
            const size_t idx = todo[next++];
            st = send_work(w, idx, plan->config[idx], err);
            if (st == LM_OK) {
                held[w] = idx + 1;
                g_busy++;
            }
        }
        if (st != LM_OK || (g_busy == 0 && !waiting))
            break;
        MPI_Status ms;
        if (!wait_message(MPI_ANY_SOURCE, TAG_RESULT, waiting ? 0.25 : -1,
                          stopping ? NULL : opts->stop, &ms))
            continue;
        size_t idx = 0;
        mpi_run r;
        st = recv_run(&ms, &idx, &r, err);
        const int w = ms.MPI_SOURCE;
        if (st == LM_OK && (w <= 0 || w >= g_size || held[w] != idx + 1))
            st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                            "rank 0: rank %d answered run %zu, which it was not given", w, idx);
        if (st == LM_OK) {
            held[w] = 0;
            g_busy--;
            st = take_run(s, dir, hashes[idx], idx, &r, stopping, ctx, res, err);
            lm_store_unlock_hash(s, hashes[idx], NULL);
            done++;
            if (opts->progress)
                opts->progress(opts->progress_ud, name, done, n_todo);
        }
        mpi_run_clear(&r);
    }
    if (st == LM_OK && g_busy == 0)
        lm_exp_mpi_release();
    /* after an error, the runs workers still hold are not coming back: drop their locks (the
     * job is aborted by lm_exp_mpi_end) */
    for (int w = 1; held && w < g_size; w++)
        if (held[w])
            lm_store_unlock_hash(s, hashes[held[w] - 1], NULL);
    lm__exp_shared_free(sh);
    lm_free(held);
    lm_free(todo);
    lm_free(hashes);
    return st;
}

/* ---------------------------------------------------------------- every rank */

lm_status lm_exp_mpi_begin(int *argc, char ***argv, int *rank, int *size, lm_err *err) {
    int inited = 0, rc = MPI_Initialized(&inited);
    if (rc == MPI_SUCCESS && !inited) {
        rc = MPI_Init(argc, argv);
        g_we_init = rc == MPI_SUCCESS;
    }
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    if (rc != MPI_SUCCESS)
        LM_FAIL(err, LM_EIO, "MPI could not be initialised (start lmech with mpirun -n R)");
    /* MPI's errors come back as codes (then as lm_err) rather than ending the job */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    g_released = g_busy = 0;
    if (rank)
        *rank = g_rank;
    if (size)
        *size = g_size;
    return LM_OK;
}

lm_status lm_exp_mpi_serve(volatile int *stop, lm_err *err) {
    if (g_rank <= 0)
        LM_FAIL(err, LM_EINVAL, "lm_exp_mpi_serve: a worker rank's call (this is rank %d)", g_rank);
    lm__exp_shared *sh = NULL;
    lm_status st = LM_OK;
    char *json = NULL;
    for (;;) {
        MPI_Status ms;
        /* a worker waits for rank 0 even when stopped: rank 0 releases it */
        if (!wait_message(0, MPI_ANY_TAG, -1, NULL, &ms)) {
            st = lm_err_set(err, LM_EIO, __FILE__, __LINE__, "MPI rank %d: probing for work",
                            g_rank);
            break;
        }
        if (ms.MPI_TAG == TAG_STOP) {
            MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_STOP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            break;
        }
        if (ms.MPI_TAG != TAG_WORK) {
            st = lm_err_set(err, LM_EINVAL, __FILE__, __LINE__,
                            "MPI rank %d: unexpected message (tag %d) from rank 0", g_rank,
                            ms.MPI_TAG);
            break;
        }
        int64_t h[2];
        int rc = MPI_Recv(h, 2, MPI_INT64_T, 0, TAG_WORK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            st = mpi_fail(err, rc, "receiving a run");
            break;
        }
        lm_free(json);
        if (h[1] < 0 || !(json = lm_malloc((size_t) h[1] + 1))) {
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                            "MPI rank %d: out of memory for a %lld-byte config", g_rank,
                            (long long) h[1]);
            break;
        }
        st = recv_bytes((unsigned char *) json, (size_t) h[1], 0, TAG_JSON, err);
        if (st != LM_OK)
            break;
        json[h[1]] = '\0';
        mpi_run r;
        lm_err run_err = {0};
        if (train_to_image(json, &sh, stop, &r, &run_err) != LM_OK) {
            /* nothing recorded: rank 0 counts the run failed */
            fprintf(stderr, "lmech exp (rank %d): %s\n", g_rank, run_err.msg);
            memset(&r, 0, sizeof r);
        }
        const int64_t a[5] = {h[0], r.recorded, r.finished, (int64_t) r.image_n,
                              (int64_t) r.ckpt_n};
        rc = MPI_Send(a, 5, MPI_INT64_T, 0, TAG_RESULT, MPI_COMM_WORLD);
        st = rc == MPI_SUCCESS ? LM_OK : mpi_fail(err, rc, "answering rank 0");
        if (st == LM_OK)
            st = send_bytes(r.image, r.image_n, 0, TAG_IMAGE, err);
        if (st == LM_OK)
            st = send_bytes(r.ckpt, r.ckpt_n, 0, TAG_CKPT, err);
        mpi_run_clear(&r);
        if (st != LM_OK)
            break;
    }
    lm_free(json);
    lm__exp_shared_free(sh);
    return st;
}

void lm_exp_mpi_release(void) {
    if (g_rank != 0 || g_released)
        return;
    if (g_busy > 0) { /* runs in hand would never be received: end the job */
        fprintf(stderr, "lmech exp: ending the MPI job (%d ranks still hold runs)\n", g_busy);
        fflush(NULL);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int w = 1; w < g_size; w++)
        MPI_Send(NULL, 0, MPI_BYTE, w, TAG_STOP, MPI_COMM_WORLD);
    g_released = 1;
}

void lm_exp_mpi_end(void) {
    if (g_rank < 0)
        return;
    lm_exp_mpi_release();
    int fin = 0;
    if (g_we_init && MPI_Finalized(&fin) == MPI_SUCCESS && !fin)
        MPI_Finalize();
    g_rank = -1;
    g_size = 0;
    g_we_init = 0;
}
