/*
 * src/data/internal.h: helpers shared by the files of the data module (file reading, shape
 * strings, the RNG stream ids of the module, the synthetic-set builders and the label-to-target
 * conversion).
 */
#ifndef LM_DATA_INTERNAL_H
#define LM_DATA_INTERNAL_H

#include "lmech/data.h"

/* RNG streams of the data module, all derived from the user seed (data.h documents them):
 * LM_STREAM_DATA draws the training set (random subsets, synthetic inputs and noise), the TEST
 * stream the test set, the TASK stream what train and test share (teacher weights, power-law
 * signs, the modadd split). Distinct ids keep the three sequences independent. */
#define LM__STREAM_DATA_TEST ((uint64_t) LM_STREAM_DATA << 16 | 1u)
#define LM__STREAM_DATA_TASK ((uint64_t) LM_STREAM_DATA << 16 | 2u)

/* Reads the whole file at `path` into a new lm_malloc buffer (*buf, *len; free with lm_free).
 * Errors (LM_EIO) name the path and the reason. */
lm_status lm__file_read(const char *path, uint8_t **buf, size_t *len, lm_err *err);

/* Reads an IDX file's header and only its first min(max_rows, n) rows (a gzip stream is inflated
 * no further); *file_rows = n from the header. SIZE_MAX reads (and checks) the whole file. */
lm_status lm__idx_read_prefix(const char *path, size_t max_rows, lm_array **out, size_t *file_rows,
                              lm_err *err);

/* Writes "60000x28x28" (or "scalar" for ndim 0) into buf. */
void lm__shape_str(char *buf, size_t n, size_t ndim, const size_t *shape);

/* Fills ds->y [n, k] from ds->labels for the given target kind; ds->k must already be
 * lm__targets_width(t, ds->n_classes). */
size_t lm__targets_width(lm_targets t, size_t n_classes);
void lm__fill_targets(lm_dataset *ds, lm_targets t);

/* The synthetic sources (teacher, powerlaw, circle, modadd): builds *train and, when test is not
 * NULL and the resolved test size is > 0, *test (else *test = NULL). Sizes are already checked
 * by the caller for the common rules; normalisation is applied by the caller. */
lm_status lm__synth_load(const lm_data_spec *spec, uint64_t seed, lm_dataset **train,
                         lm_dataset **test, lm_err *err);

/* 1 for the integer element types (u8, i8, i16, i32, i64). */
int lm__is_int_elt(lm_elt e);

/* The rows to take from n examples: the first m, or the first m of a permutation of stream. */
lm_status lm__pick_rows(size_t n, size_t m, lm_subset subset, uint64_t seed, uint64_t stream,
                        size_t **out, lm_err *err);

/* Resolves a train_size/test_size request (`key`) against the avail examples of `file`. */
lm_status lm__resolve_count(size_t want, size_t avail, const char *key, const char *file,
                            size_t *out, lm_err *err);

/* tokens.c: the rules every token set obeys (normalize none, targets onehot, encoding only for
 * modadd and npy, vocab, context), checked by lm_data_load before any source loads. */
lm_status lm__check_tokens_spec(const lm_data_spec *spec, lm_err *err);

/* tokens.c: the text source and the npy source with encoding tokens (data.h documents both). */
lm_status lm__text_load(const lm_data_spec *spec, uint64_t seed, lm_dataset **train,
                        lm_dataset **test, lm_err *err);
lm_status lm__npy_tokens_load(const lm_data_spec *spec, uint64_t seed, lm_dataset **train,
                              lm_dataset **test, lm_err *err);

/* tokens.c: refuses (LM_ERANGE, with the numbers) token sets of n_train + n_test examples whose
 * one-hot targets (positions x vocab per example) would pass LM_DATA_MAX_TARGET_BYTES. */
lm_status lm__check_target_bytes(size_t n_train, size_t n_test, size_t positions, size_t vocab,
                                 const char *what, lm_err *err);

#endif
