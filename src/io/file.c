/*
 * file.c: whole-file reads, the atomic writer every lmech output goes through, and the .npy
 * writer.
 *
 * Why atomic: runs write checkpoints and arrays while they train, and sweeps kill runs at any
 * moment; a reader (the dashboard, a resumed run, PyTorch) must only ever see the old file or the
 * complete new one. The workload is a few files per run, from a few bytes (.npy of a loss curve)
 * to a few hundred MB (checkpoints), so one write(2) loop over caller buffers, no extra copy, and
 * one fsync per file are the whole cost.
 */
#include "io/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- reading */

/* First read size for files whose size fstat does not know (pipes, /dev/stdin). */
#define READ_CHUNK 65536

lm_status lm_file_read(const char *path, uint8_t **buf, size_t *len, lm_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        LM_FAIL(err, LM_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        LM_FAIL(err, LM_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        LM_FAIL(err, LM_EIO, "%s: is a directory, expected a file", path);
    }
    /* One byte more than the expected size, so a regular file is read in one pass and EOF is
     * seen without growing. */
    size_t cap = S_ISREG(sb.st_mode) && sb.st_size > 0 ? (size_t) sb.st_size + 1 : READ_CHUNK;
    size_t n = 0;
    uint8_t *data = lm_malloc(cap);
    if (!data) {
        close(fd);
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory reading %zu bytes", path, cap - 1);
    }
    for (;;) {
        if (n == cap) {
            size_t ncap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
            uint8_t *nd = ncap > cap ? lm_malloc(ncap) : NULL;
            if (!nd) {
                lm_free(data);
                close(fd);
                LM_FAIL(err, LM_ENOMEM, "%s: out of memory reading more than %zu bytes", path, n);
            }
            memcpy(nd, data, n);
            lm_free(data);
            data = nd;
            cap = ncap;
        }
        ssize_t got = read(fd, data + n, cap - n);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            lm_free(data);
            close(fd);
            LM_FAIL(err, LM_EIO, "%s: read failed after %zu bytes: %s", path, n, strerror(e));
        }
        if (got == 0)
            break;
        n += (size_t) got;
    }
    close(fd);
    *buf = data;
    *len = n;
    return LM_OK;
}

/* ---------------------------------------------------------------- the atomic writer */

int lm__host_is_le(void) {
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 1;
}

lm_status lm__write_fd(int fd, const void *buf, size_t len, const char *path, lm_err *err) {
    const uint8_t *p = buf;
    size_t done = 0;
    while (done < len) {
        /* Linux transfers at most 0x7ffff000 bytes per write(2); ask for no more than 1 GiB. */
        size_t chunk = len - done > ((size_t) 1 << 30) ? (size_t) 1 << 30 : len - done;
        ssize_t w = write(fd, p + done, chunk);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            LM_FAIL(err, LM_EIO, "%s: write failed after %zu of %zu bytes: %s", path, done, len,
                    strerror(errno));
        }
        if (w == 0)
            LM_FAIL(err, LM_EIO, "%s: write made no progress after %zu of %zu bytes", path, done,
                    len);
        done += (size_t) w;
    }
    return LM_OK;
}

lm_status lm__afile_open(lm__afile *af, const char *path, lm_err *err) {
    af->fd = -1;
    af->path = path;
    af->tmp = NULL;
    af->first = LM_OK;
    if (!path || !*path)
        LM_FAIL(err, LM_EINVAL, "cannot write a file with an empty path");
    size_t np = strlen(path), cap = np + 32; /* ".tmp." + up to 20 digits + NUL */
    char *tmp = lm_malloc(cap);
    if (!tmp)
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory for the temporary file name", path);
    snprintf(tmp, cap, "%s.tmp.%ld", path, (long) getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        lm_status st =
            lm_err_set(err, LM_EIO, __FILE__, __LINE__,
                       "%s: cannot create the temporary file %s: %s", path, tmp, strerror(e));
        lm_free(tmp);
        return st;
    }
    af->fd = fd;
    af->tmp = tmp;
    return LM_OK;
}

lm_status lm__afile_write(lm__afile *af, const void *buf, size_t len, lm_err *err) {
    if (af->first != LM_OK)
        return af->first;
    lm_status st = lm__write_fd(af->fd, buf, len, af->path, err);
    af->first = st;
    return st;
}

/* Swap buffer for big-endian hosts: 4 KiB keeps it on the stack and amortises write(2). */
#define SWAP_BYTES 4096

lm_status lm__afile_write_le(lm__afile *af, const void *data, size_t count, size_t esz,
                             lm_err *err) {
    if (esz == 1 || lm__host_is_le())
        return lm__afile_write(af, data, count * esz, err);
    const uint8_t *src = data;
    uint8_t sw[SWAP_BYTES];
    const size_t per = SWAP_BYTES / esz;
    for (size_t i = 0; i < count; i += per) {
        size_t m = count - i < per ? count - i : per;
        for (size_t j = 0; j < m; j++)
            for (size_t b = 0; b < esz; b++)
                sw[j * esz + b] = src[(i + j) * esz + (esz - 1 - b)];
        LM_TRY(lm__afile_write(af, sw, m * esz, err));
    }
    return LM_OK;
}

lm_status lm__afile_abort(lm__afile *af) {
    if (af->fd >= 0)
        close(af->fd);
    af->fd = -1;
    if (af->tmp)
        unlink(af->tmp);
    lm_free(af->tmp);
    af->tmp = NULL;
    return af->first != LM_OK ? af->first : LM_EIO;
}

/* Makes the rename durable: fsync the directory holding path. Best effort (some filesystems
 * refuse fsync on directories); the data itself was already fsync'ed. */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) {
        dir[0] = '.';
        dir[1] = '\0';
    } else {
        size_t n = (size_t) (slash - path);
        if (n == 0)
            n = 1; /* "/file" lives in "/" */
        if (n >= sizeof dir)
            return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void) fsync(fd);
        close(fd);
    }
}

lm_status lm__afile_commit(lm__afile *af, lm_err *err) {
    if (af->first != LM_OK)
        return lm__afile_abort(af);
    if (fsync(af->fd) != 0) {
        af->first = lm_err_set(err, LM_EIO, __FILE__, __LINE__, "%s: fsync failed: %s", af->path,
                               strerror(errno));
        return lm__afile_abort(af);
    }
    int rc = close(af->fd);
    af->fd = -1;
    if (rc != 0) {
        af->first = lm_err_set(err, LM_EIO, __FILE__, __LINE__, "%s: close failed: %s", af->path,
                               strerror(errno));
        return lm__afile_abort(af);
    }
    if (rename(af->tmp, af->path) != 0) {
        af->first = lm_err_set(err, LM_EIO, __FILE__, __LINE__, "%s: cannot rename %s over it: %s",
                               af->path, af->tmp, strerror(errno));
        return lm__afile_abort(af);
    }
    sync_parent_dir(af->path);
    lm_free(af->tmp);
    af->tmp = NULL;
    return LM_OK;
}

lm_status lm_file_write_atomic(const char *path, const void *data, size_t len, lm_err *err) {
    lm__afile af;
    LM_TRY(lm__afile_open(&af, path, err));
    if (lm__afile_write(&af, data, len, err) != LM_OK)
        return lm__afile_abort(&af);
    return lm__afile_commit(&af, err);
}

/* ---------------------------------------------------------------- .npy */

/* numpy's format 1.0: magic, version, uint16 LE header length, a Python dict literal padded with
 * spaces and ended by '\n' so the data starts at a multiple of 64 bytes (numpy's ARRAY_ALIGN). */
#define NPY_ALIGN    64
#define NPY_PREAMBLE 10 /* "\x93NUMPY" + 2 version bytes + 2 length bytes */

static const char *npy_descr(lm_elt elt) {
    switch (elt) {
    case LM_ELT_U8:
        return "|u1";
    case LM_ELT_I8:
        return "|i1";
    case LM_ELT_I16:
        return "<i2";
    case LM_ELT_I32:
        return "<i4";
    case LM_ELT_I64:
        return "<i8";
    case LM_ELT_F32:
        return "<f4";
    case LM_ELT_F64:
        return "<f8";
    }
    return NULL;
}

lm_status lm_npy_write(const char *path, const lm_array *a, lm_err *err) {
    const char *descr = npy_descr(a->elt);
    if (!descr)
        LM_FAIL(err, LM_EINVAL, "%s: array has an invalid element type %d", path, (int) a->elt);
    if (a->ndim > LM_MAX_DIMS)
        LM_FAIL(err, LM_EINVAL, "%s: array has %zu dimensions, at most %d are supported", path,
                a->ndim, LM_MAX_DIMS);
    /* The dict: at most ~60 fixed characters plus 8 dimensions of up to 20 digits and ", ":
     * 512 bytes always suffice, and keep the header far below v1.0's 65535-byte limit. */
    char hdr[512];
    int k = snprintf(hdr + NPY_PREAMBLE, sizeof hdr - NPY_PREAMBLE,
                     "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    size_t pos = NPY_PREAMBLE + (size_t) k;
    for (size_t i = 0; i < a->ndim; i++) {
        k = snprintf(hdr + pos, sizeof hdr - pos, i + 1 < a->ndim ? "%zu, " : "%zu", a->shape[i]);
        pos += (size_t) k;
    }
    k = snprintf(hdr + pos, sizeof hdr - pos, "%s), }", a->ndim == 1 ? "," : "");
    pos += (size_t) k;
    size_t total = (pos + 1 + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN; /* +1 for the '\n' */
    memset(hdr + pos, ' ', total - 1 - pos);
    hdr[total - 1] = '\n';
    const size_t hlen = total - NPY_PREAMBLE;
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char) (hlen & 0xff);
    hdr[9] = (char) (hlen >> 8);

    lm__afile af;
    LM_TRY(lm__afile_open(&af, path, err));
    if (lm__afile_write(&af, hdr, total, err) != LM_OK ||
        lm__afile_write_le(&af, a->data, a->count, lm_elt_size(a->elt), err) != LM_OK)
        return lm__afile_abort(&af);
    return lm__afile_commit(&af, err);
}
