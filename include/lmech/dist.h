/*
 * lmech/dist.h: processes working together over Open MPI (`lmech train --mpi`; docs/mpi.md).
 *
 * A thin layer over MPI_COMM_WORLD so that the rest of lmech never includes <mpi.h>: start and
 * stop, rank and size, a sum over ranks whose result is bitwise the same for a fixed number of
 * ranks, an agreement on failure, a broadcast and an abort. The library itself needs none of it
 * at run time: nothing here runs unless a caller asks for it (the CLI with --mpi).
 *
 * The sum (lm_dist_allreduce_sum) is a ring all-reduce written here rather than MPI_Allreduce:
 * MPI only recommends, and does not promise, that a reduction gives the same bits on every call,
 * and Open MPI picks its algorithm by message size. The ring is a reduce-scatter followed by an
 * all-gather over R contiguous chunks; chunk c is summed in the fixed order c, c+1, ..., c+R-1
 * (mod R) of ranks, so for a fixed R the result is bitwise reproducible and bitwise the same on
 * every rank. Each rank sends 2 (R-1)/R of the buffer's bytes per call (the bandwidth-optimal
 * all-reduce cost). Not thread-safe: one thread per process calls these.
 */
#ifndef LMECH_DIST_H
#define LMECH_DIST_H

#include "lmech/core.h"
#include "lmech/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Starts MPI (MPI_Init; a no-op when already started) with MPI's errors returned to lmech rather
 * than aborting. Started without mpirun, the process is a world of one rank. LM_EIO when MPI
 * cannot start. */
lm_status lm_dist_init(lm_err *err);

/* Stops MPI when lm_dist_init started it (MPI_Finalize) and frees the ring's scratch buffer. */
void lm_dist_finalize(void);

/* This process's rank in [0, size) and the number of ranks (0 and 1 before lm_dist_init). */
int lm_dist_rank(void);
int lm_dist_size(void);

/* buf [n] (overwritten) = the sum over the ranks of each rank's buf, by the ring described above:
 * every rank calls it with the same n. LM_EIO names the MPI error; LM_ENOMEM when the receive
 * buffer (n / size doubles, kept across calls) cannot grow. */
lm_status lm_dist_allreduce_sum(double *buf, size_t n, lm_err *err);

/* Bytes this rank has sent in lm_dist_allreduce_sum since lm_dist_init (the communication volume
 * the measurements of docs/mpi.md report). */
uint64_t lm_dist_bytes_sent(void);

/* Every rank says whether it succeeded (ok != 0); each learns how many ranks failed and whether
 * rank 0 was among them (either pointer may be NULL). A collective: every rank calls it. */
lm_status lm_dist_agree(int ok, int *n_failed, int *rank0_failed, lm_err *err);

/* Broadcasts `bytes` bytes of buf from rank `root` to every rank. */
lm_status lm_dist_bcast(void *buf, size_t bytes, int root, lm_err *err);

/* Fills *red with this process's rank, size and lm_dist_allreduce_sum: the reducer that
 * lm_train_opts.reduce takes. */
void lm_dist_reducer(lm_reducer *red);

/* Ends every rank of the job with exit status `code` (MPI_Abort): the way out when this rank
 * failed while the others may be waiting in a sum. */
void lm_dist_abort(int code);

#ifdef __cplusplus
}
#endif
#endif
