/*
 * io/internal.h: the atomic file writer shared by the safetensors, .npy and raw-file writers.
 *
 * Every file lmech writes goes through one path: create `<path>.tmp.<pid>` in the target's
 * directory, write it with a loop that checks every write(2), fsync it, close it (close can
 * report a deferred write error on network filesystems) and rename it over the target. Any
 * failure removes the temporary file and leaves an existing target untouched.
 *
 *     lm__afile af;
 *     LM_TRY(lm__afile_open(&af, path, err));
 *     if (lm__afile_write(&af, hdr, n, err) || lm__afile_write_le(&af, x, count, 8, err))
 *         return lm__afile_abort(&af);          (returns the code of the first error)
 *     return lm__afile_commit(&af, err);        (fsync + rename; aborts itself on failure)
 */
#ifndef LM_IO_INTERNAL_H
#define LM_IO_INTERNAL_H

#include "lmech/io.h"

typedef struct lm__afile {
    int fd;           /* the temporary file, open for writing; -1 once closed    */
    const char *path; /* the target (borrowed)                                 */
    char *tmp;        /* "<path>.tmp.<pid>" (owned, lm_malloc'ed)                */
    lm_status first;  /* the first error raised on this file, LM_OK until then */
} lm__afile;

/* Writes all len bytes to fd, retrying short writes and EINTR. On failure: LM_EIO naming `path`
 * and strerror (ENOSPC gives "No space left on device"). Separate from lm__afile so tests can
 * aim it at /dev/full. */
lm_status lm__write_fd(int fd, const void *buf, size_t len, const char *path, lm_err *err);

lm_status lm__afile_open(lm__afile *af, const char *path, lm_err *err);
lm_status lm__afile_write(lm__afile *af, const void *buf, size_t len, lm_err *err);
/* Writes count elements of esz bytes each in little-endian order (byte-swapped through a small
 * buffer on a big-endian host). */
lm_status lm__afile_write_le(lm__afile *af, const void *data, size_t count, size_t esz,
                             lm_err *err);
/* fsync, close, rename over the target. On failure the temporary file is removed. */
lm_status lm__afile_commit(lm__afile *af, lm_err *err);
/* Closes and removes the temporary file; returns the first error recorded (LM_EIO if none). */
lm_status lm__afile_abort(lm__afile *af);

/* Formats a shape as "[3, 4]" ("[]" for a scalar) into buf (truncated to cap). */
void lm__fmt_shape(char *buf, size_t cap, size_t ndim, const size_t *shape);

/* 1 on a little-endian host. */
int lm__host_is_le(void);

#endif
