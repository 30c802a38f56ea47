/*
 * dist.c: lmech over Open MPI (lmech/dist.h): start and stop, a deterministic ring all-reduce,
 * agreement on failure, broadcast, abort.
 *
 * Workload: data-parallel training sums one gradient (n_params doubles, 10^4 to 10^7) plus a few
 * scalars per step, and each sharpness measurement sums one Hessian-vector product per Lanczos
 * step. The ring moves 2 (R-1)/R of the buffer per rank per call, in 2 messages; its
 * receive buffer (one chunk, n / R doubles) is kept across calls so that a training step
 * allocates nothing once the first step has sized it.
 *
 * Order of summation. Chunk c of the buffer starts at rank c and travels the ring c -> c+1 -> ...
 * -> c-1 (mod R); each rank adds its own chunk to what it received, so the chunk's sum is formed
 * as (((x_c + x_{c+1}) + x_{c+2}) + ...) with the ranks in that fixed order. The all-gather then
 * copies the finished chunks, so every rank ends with the same bits, and a second run with the
 * same R repeats them.
 */
#include "lmech/dist.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_started; /* lm_dist_init called MPI_Init (so lm_dist_finalize ends it) */
static int g_rank, g_size = 1;
static double *g_tmp;   /* the ring's receive buffer */
static size_t g_tmp_n;  /* its capacity in doubles */
static uint64_t g_sent; /* bytes sent by lm_dist_allreduce_sum */

/* An MPI return code as an lmech error naming the call. */
static lm_status mpi_fail(lm_err *err, int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error %d", rc);
    return lm_err_set(err, LM_EIO, __FILE__, __LINE__, "%s failed on rank %d of %d: %s", what,
                      g_rank, g_size, msg);
}

lm_status lm_dist_init(lm_err *err) {
    int up = 0;
    MPI_Initialized(&up);
    if (!up) {
        int rc = MPI_Init(NULL, NULL);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "MPI_Init");
        g_started = 1;
    }
    /* errors come back as return codes, which become lm_err (the default aborts the job) */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_sent = 0;
    return LM_OK;
}

void lm_dist_finalize(void) {
    lm_free(g_tmp);
    g_tmp = NULL;
    g_tmp_n = 0;
    if (g_started) {
        MPI_Finalize();
        g_started = 0;
    }
    g_rank = 0;
    g_size = 1;
}

int lm_dist_rank(void) {
    return g_rank;
}

int lm_dist_size(void) {
    return g_size;
}

uint64_t lm_dist_bytes_sent(void) {
    return g_sent;
}

/* Chunk c of n split in R contiguous chunks whose sizes differ by at most one. */
static size_t chunk_off(size_t n, size_t R, size_t c) {
    const size_t base = n / R, rem = n % R;
    return c * base + (c < rem ? c : rem);
}

lm_status lm_dist_allreduce_sum(double *buf, size_t n, lm_err *err) {
    const size_t R = (size_t) g_size, me = (size_t) g_rank;
    if (R == 1 || n == 0)
        return LM_OK;
    const size_t most = n / R + (n % R ? 1 : 0);
    if (most > (size_t) INT_MAX)
        LM_FAIL(err, LM_ELIMIT, "a sum of %zu doubles over %zu ranks exceeds MPI's int count", n,
                R);
    if (most > g_tmp_n) {
        double *t = lm_malloc(most * sizeof *t);
        if (!t)
            LM_FAIL(err, LM_ENOMEM, "out of memory for the all-reduce buffer (%zu doubles)", most);
        lm_free(g_tmp);
        g_tmp = t;
        g_tmp_n = most;
    }
    const int right = (int) ((me + 1) % R), left = (int) ((me + R - 1) % R);
    /* reduce-scatter: after step s, this rank holds the sum of s + 2 ranks' chunk (me - s - 1) */
    for (size_t s = 0; s + 1 < R; s++) {
        const size_t cs = (me + R - s) % R, cr = (me + 2 * R - s - 1) % R;
        const size_t os = chunk_off(n, R, cs), ns = chunk_off(n, R, cs + 1) - os;
        const size_t orr = chunk_off(n, R, cr), nr = chunk_off(n, R, cr + 1) - orr;
        int rc = MPI_Sendrecv(buf + os, (int) ns, MPI_DOUBLE, right, 17, g_tmp, (int) nr,
                              MPI_DOUBLE, left, 17, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "the all-reduce's reduce-scatter (MPI_Sendrecv)");
        g_sent += ns * sizeof(double);
        double *dst = buf + orr;
        for (size_t i = 0; i < nr; i++)
            dst[i] = g_tmp[i] + dst[i]; /* (sum of the ranks before) + this rank's */
    }
    /* all-gather: this rank's finished chunk is (me + 1); pass finished chunks round the ring */
    for (size_t s = 0; s + 1 < R; s++) {
        const size_t cs = (me + 1 + R - s) % R, cr = (me + R - s) % R;
        const size_t os = chunk_off(n, R, cs), ns = chunk_off(n, R, cs + 1) - os;
        const size_t orr = chunk_off(n, R, cr), nr = chunk_off(n, R, cr + 1) - orr;
        int rc = MPI_Sendrecv(buf + os, (int) ns, MPI_DOUBLE, right, 18, buf + orr, (int) nr,
                              MPI_DOUBLE, left, 18, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "the all-reduce's all-gather (MPI_Sendrecv)");
        g_sent += ns * sizeof(double);
    }
    return LM_OK;
}

lm_status lm_dist_agree(int ok, int *n_failed, int *rank0_failed, lm_err *err) {
    int mine[2] = {ok ? 0 : 1, (!ok && g_rank == 0) ? 1 : 0}, all[2] = {mine[0], mine[1]};
    if (g_size > 1) {
        int rc = MPI_Allreduce(mine, all, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "agreeing on failure (MPI_Allreduce)");
    }
    if (n_failed)
        *n_failed = all[0];
    if (rank0_failed)
        *rank0_failed = all[1];
    return LM_OK;
}

lm_status lm_dist_bcast(void *buf, size_t bytes, int root, lm_err *err) {
    if (root < 0 || root >= g_size)
        LM_FAIL(err, LM_EINVAL, "broadcast root %d is not a rank of %d", root, g_size);
    if (bytes > (size_t) INT_MAX)
        LM_FAIL(err, LM_ELIMIT, "a broadcast of %zu bytes exceeds MPI's int count", bytes);
    if (g_size == 1 || bytes == 0)
        return LM_OK;
    int rc = MPI_Bcast(buf, (int) bytes, MPI_BYTE, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Bcast");
    return LM_OK;
}

static lm_status reducer_sum(void *ud, double *buf, size_t n, lm_err *err) {
    (void) ud;
    return lm_dist_allreduce_sum(buf, n, err);
}

void lm_dist_reducer(lm_reducer *red) {
    memset(red, 0, sizeof *red);
    red->rank = g_rank;
    red->size = g_size;
    red->sum = reducer_sum;
}

void lm_dist_abort(int code) {
    int up = 0;
    MPI_Initialized(&up);
    if (up)
        MPI_Abort(MPI_COMM_WORLD, code);
    _Exit(code);
}
