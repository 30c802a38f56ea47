/*
 * lmech/io.h: files lmech writes and shares with other tools: safetensors checkpoints in
 * PyTorch's layout, and .npy arrays.
 *
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON header
 *   {"name": {"dtype": "F64", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "string", ...}}, then the raw little-endian bytes.
 * Every write goes to a temporary file in the same directory, is flushed and fsync'ed, and is
 * renamed over the target, so a crash or a full disk never leaves a half-written file.
 *
 * Model checkpoints: linear layer i (0-based) is `layers.{i}.weight` [d_out, d_in] and
 * `layers.{i}.bias` [d_out] (a torch.nn.ModuleList named `layers` of nn.Linear), F32 or F64.
 * The stored tensors are lmech's raw parameters; for parameterizations with multipliers other
 * than 1 (ntp, mup away from the base width) the metadata records them.
 */
#ifndef LMECH_IO_H
#define LMECH_IO_H

#include "lmech/core.h"
#include "lmech/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lm_safetensors {
    size_t n;
    char **names;       /* [n] */
    lm_array **tensors; /* [n] */
    size_t n_meta;
    char **meta_keys, **meta_values;
} lm_safetensors;

/* Reads and validates a file: header length within the file, JSON well-formed, every tensor's
 * dtype known (F64 F32 I64 I32 I16 I8 U8), offsets in order, non-overlapping, inside the data
 * and equal to shape x dtype size. */
lm_status lm_safetensors_read(const char *path, lm_safetensors **out, lm_err *err);
lm_status lm_safetensors_parse(const uint8_t *buf, size_t len, const char *name,
                               lm_safetensors **out, lm_err *err);
void lm_safetensors_free(lm_safetensors *st);
/* Borrowed pointer to the tensor called name, or NULL. */
const lm_array *lm_safetensors_get(const lm_safetensors *st, const char *name);

/* Writes n tensors (and optional string metadata) atomically to path. */
lm_status lm_safetensors_write(const char *path, size_t n, const char *const *names,
                               const lm_array *const *tensors, size_t n_meta,
                               const char *const *meta_keys, const char *const *meta_values,
                               lm_err *err);

/* Saves theta (float64, [m->n_params]) in PyTorch's layout, as F64 or F32 (dt): the model's
 * tensor list (m->tensor: layers.{i}.weight / .bias, a conv2d weight [out, in, kh, kw], a residual
 * body's layers.{i}.body.{j}.weight, ...; docs/models.md) under their state_dict names. NaN/Inf
 * (and, for F32, values beyond float32) are refused naming the tensor and index. */
lm_status lm_mlp_save(const lm_mlp *m, const double *theta, lm_dtype dt, const char *path,
                      lm_err *err);
/* Loads a checkpoint into theta [m->n_params]: every tensor of the model's list must exist with
 * its shape (F32 or F64, finite); a missing, extra, mis-shaped, wrongly typed or non-finite
 * tensor is refused naming the file, the tensor and both shapes. theta is unchanged on failure. */
lm_status lm_mlp_load(const lm_mlp *m, const char *path, double *theta, lm_err *err);

/* Writes a .npy (v1.0, C order) atomically. */
lm_status lm_npy_write(const char *path, const lm_array *a, lm_err *err);

/* Writes len bytes to path atomically (temporary file, fsync, rename). */
lm_status lm_file_write_atomic(const char *path, const void *data, size_t len, lm_err *err);
/* Reads a whole file into a new lm_malloc'ed buffer (*len bytes). */
lm_status lm_file_read(const char *path, uint8_t **buf, size_t *len, lm_err *err);

#ifdef __cplusplus
}
#endif
#endif
