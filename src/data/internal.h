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

#endif
