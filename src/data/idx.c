/*
 * idx.c: the IDX reader (LeCun's MNIST format, also used by Fashion-MNIST), raw or gzipped.
 *
 * Workload: the four Fashion-MNIST files, the largest 60000x28x28 uint8 (47 MB, 26 MB gzipped),
 * read once per run. The header is decoded first, the payload size is checked against what the
 * input can possibly hold before anything is allocated, and the payload is then inflated (or
 * copied) straight into the array's buffer and byte-swapped in place: one allocation, one pass.
 * Input is untrusted (it is fuzzed): every length is checked, and trailing bytes are refused as
 * firmly as missing ones.
 */
#include "internal.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

/* Deflate cannot expand data by more than 1032:1 (a 258-byte match costs at least 2 bits), so a
 * gzip input of L bytes decompresses to at most 1032 L bytes; 1040 leaves room for the headers
 * of tiny inputs. A header that claims more is refused before allocating. */
#define GZ_MAX_RATIO 1040u
/* zlib counts in uInt: feed it at most 1 GiB per call. */
#define Z_CHUNK ((size_t) 1 << 30)

/* ---------------------------------------------------------------- byte source: raw or gzip */

typedef struct src {
    const uint8_t *buf;
    size_t len, pos;          /* input bytes consumed so far                  */
    size_t out;               /* decompressed (or raw) bytes delivered so far */
    int gz, zinit, zend, cut; /* cut: the compressed input ends mid-stream */
    z_stream zs;
    const char *name;
} src;

static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
    (void) opaque;
    return lm_calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p) {
    (void) opaque;
    lm_free(p);
}

static lm_status src_open(src *s, const uint8_t *buf, size_t len, const char *name, lm_err *err) {
    memset(s, 0, sizeof *s);
    s->buf = buf;
    s->len = len;
    s->name = name;
    s->gz = len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b;
    if (s->gz) {
        s->zs.zalloc = z_alloc;
        s->zs.zfree = z_free;
        s->zs.opaque = Z_NULL;
        int r = inflateInit2(&s->zs, 15 + 16); /* 15-bit window, gzip wrapper only */
        if (r != Z_OK)
            LM_FAIL(err, r == Z_MEM_ERROR ? LM_ENOMEM : LM_EINTERNAL,
                    "%s: cannot start gzip decompression (zlib error %d)", name, r);
        s->zinit = 1;
    }
    return LM_OK;
}

static void src_close(src *s) {
    if (s->zinit)
        inflateEnd(&s->zs);
    s->zinit = 0;
}

/* Reads up to n bytes into dst; *got is what was delivered (short at the end of the data). */
static lm_status src_read(src *s, void *dst, size_t n, size_t *got, lm_err *err) {
    uint8_t *d = dst;
    size_t done = 0;
    if (!s->gz) {
        size_t avail = s->len - s->pos;
        done = n < avail ? n : avail;
        if (done)
            memcpy(d, s->buf + s->pos, done);
        s->pos += done;
    } else {
        while (done < n) {
            if (s->zend) {
                /* A gzip file may hold several members back to back (gunzip reads them all). */
                if (s->len - s->pos >= 2 && s->buf[s->pos] == 0x1f && s->buf[s->pos + 1] == 0x8b) {
                    inflateReset(&s->zs);
                    s->zend = 0;
                } else {
                    break;
                }
            }
            size_t in_avail = s->len - s->pos, out_avail = n - done;
            s->zs.next_in = (Bytef *) (uintptr_t) (s->buf + s->pos);
            s->zs.avail_in = (uInt) (in_avail < Z_CHUNK ? in_avail : Z_CHUNK);
            s->zs.next_out = d + done;
            s->zs.avail_out = (uInt) (out_avail < Z_CHUNK ? out_avail : Z_CHUNK);
            uInt in0 = s->zs.avail_in, out0 = s->zs.avail_out;
            int r = inflate(&s->zs, Z_NO_FLUSH);
            size_t used = in0 - s->zs.avail_in, made = out0 - s->zs.avail_out;
            s->pos += used;
            done += made;
            if (r == Z_STREAM_END) {
                s->zend = 1;
            } else if (r == Z_MEM_ERROR) {
                LM_FAIL(err, LM_ENOMEM, "%s: out of memory in gzip decompression", s->name);
            } else if (r == Z_DATA_ERROR || r == Z_NEED_DICT || r == Z_STREAM_ERROR) {
                LM_FAIL(err, LM_EFORMAT, "%s: corrupt gzip data at compressed byte %zu: %s",
                        s->name, s->pos, s->zs.msg ? s->zs.msg : "invalid stream");
            } else if (used == 0 && made == 0) {
                s->cut = 1; /* Z_BUF_ERROR: the input ends inside the stream */
                break;
            }
        }
    }
    s->out += done;
    *got = done;
    return LM_OK;
}

/* After the payload: the source must be exhausted (no trailing data, gzip trailer complete). */
static lm_status src_expect_end(src *s, size_t declared, const char *what, lm_err *err) {
    uint8_t extra[64];
    size_t got = 0;
    LM_TRY(src_read(s, extra, sizeof extra, &got, err));
    if (got > 0) {
        if (!s->gz)
            LM_FAIL(err, LM_EFORMAT, "%s: %zu trailing bytes after the %zu bytes of data (%s)",
                    s->name, s->len - s->pos + got, declared, what);
        LM_FAIL(err, LM_EFORMAT,
                "%s: trailing data after the %zu bytes of data the header declares (%s)", s->name,
                declared, what);
    }
    if (s->gz) {
        if (!s->zend)
            LM_FAIL(err, LM_EFORMAT, "%s: truncated gzip stream (missing end of stream)", s->name);
        if (s->pos != s->len)
            LM_FAIL(err, LM_EFORMAT, "%s: %zu trailing bytes after the gzip stream", s->name,
                    s->len - s->pos);
    }
    return LM_OK;
}

/* ---------------------------------------------------------------- IDX */

static uint32_t be32(const uint8_t *p) {
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

static int idx_elt(uint8_t code, lm_elt *elt) {
    switch (code) {
    case 0x08:
        *elt = LM_ELT_U8;
        return 1;
    case 0x09:
        *elt = LM_ELT_I8;
        return 1;
    case 0x0B:
        *elt = LM_ELT_I16;
        return 1;
    case 0x0C:
        *elt = LM_ELT_I32;
        return 1;
    case 0x0D:
        *elt = LM_ELT_F32;
        return 1;
    case 0x0E:
        *elt = LM_ELT_F64;
        return 1;
    default:
        return 0;
    }
}

/* Big-endian elements of size esz to native order, in place. Written with shifts and memcpy, so
 * it is correct on any host (compilers turn it into bswap on little-endian ones). */
static void from_big_endian(uint8_t *p, size_t count, size_t esz) {
    if (esz == 2) {
        for (size_t i = 0; i < count; i++, p += 2) {
            uint16_t v = (uint16_t) ((unsigned) p[0] << 8 | p[1]);
            memcpy(p, &v, 2);
        }
    } else if (esz == 4) {
        for (size_t i = 0; i < count; i++, p += 4) {
            uint32_t v = be32(p);
            memcpy(p, &v, 4);
        }
    } else if (esz == 8) {
        for (size_t i = 0; i < count; i++, p += 8) {
            uint64_t v = (uint64_t) be32(p) << 32 | be32(p + 4);
            memcpy(p, &v, 8);
        }
    }
}

/* Decodes the header and the first min(max_rows, n) rows (all of them when max_rows is SIZE_MAX,
 * then also checking that nothing follows the data); *file_rows (optional) = the header's n. */
static lm_status idx_decode(src *s, size_t max_rows, size_t *file_rows, lm_array **out,
                            lm_err *err) {
    const char *name = s->name;
    uint8_t head[4 + 4 * 255];
    size_t got = 0;
    LM_TRY(src_read(s, head, 4, &got, err));
    if (got < 4)
        LM_FAIL(err, LM_EFORMAT, "%s: too short for an IDX header (%zu bytes, need 4)", name, got);
    if (head[0] != 0 || head[1] != 0)
        LM_FAIL(err, LM_EFORMAT,
                "%s: bad IDX magic %02x %02x %02x %02x (expected 00 00 <type> <ndim>)", name,
                head[0], head[1], head[2], head[3]);
    lm_elt elt;
    if (!idx_elt(head[2], &elt))
        LM_FAIL(err, LM_EFORMAT,
                "%s: unknown IDX element type 0x%02x (08 u8, 09 i8, 0B i16, 0C i32, 0D f32, "
                "0E f64)",
                name, head[2]);
    size_t ndim = head[3];
    if (ndim == 0 || ndim > LM_MAX_DIMS)
        LM_FAIL(err, LM_EFORMAT, "%s: IDX header has %zu dimensions (1 to %d supported)", name,
                ndim, LM_MAX_DIMS);
    LM_TRY(src_read(s, head + 4, 4 * ndim, &got, err));
    if (got < 4 * ndim)
        LM_FAIL(err, LM_EFORMAT,
                "%s: truncated IDX header (%zu dimensions need %zu bytes, got %zu)", name, ndim,
                4 + 4 * ndim, 4 + got);
    size_t shape[LM_MAX_DIMS], esz = lm_elt_size(elt), bytes = esz;
    int overflow = 0;
    for (size_t i = 0; i < ndim; i++) {
        shape[i] = be32(head + 4 + 4 * i);
        if (shape[i] && bytes > SIZE_MAX / shape[i])
            overflow = 1;
        else
            bytes *= shape[i];
    }
    char shp[128], what[160];
    lm__shape_str(shp, sizeof shp, ndim, shape);
    if (overflow)
        LM_FAIL(err, LM_EFORMAT, "%s: IDX header shape %s overflows the address space", name, shp);
    snprintf(what, sizeof what, "%s %s", shp, lm_elt_name(elt));
    /* Refuse impossible sizes before allocating. */
    size_t header = 4 + 4 * ndim;
    if (!s->gz) {
        size_t have = s->len - header;
        if (have < bytes)
            LM_FAIL(err, LM_EFORMAT,
                    "%s: truncated: header says %s (%zu bytes of data), file has %zu", name, what,
                    bytes, have);
        if (have > bytes)
            LM_FAIL(err, LM_EFORMAT, "%s: %zu trailing bytes after the %zu bytes of data (%s)",
                    name, have - bytes, bytes, what);
    } else if (bytes / GZ_MAX_RATIO > s->len) {
        LM_FAIL(err, LM_EFORMAT,
                "%s: header says %s (%zu bytes of data), more than a %zu-byte gzip file can hold",
                name, what, bytes, s->len);
    }
    const size_t all_rows = shape[0];
    const int prefix = max_rows < shape[0];
    if (prefix) { /* a prefix: fewer rows, and the rest of the stream is never inflated */
        bytes = bytes / shape[0] * max_rows;
        shape[0] = max_rows;
    }
    lm_array *a = NULL;
    LM_TRY(lm_array_new(elt, ndim, shape, &a, err));
    lm_status st = src_read(s, a->data, bytes, &got, err);
    if (st == LM_OK && got < bytes)
        st = lm_err_set(err, LM_EFORMAT, __FILE__, __LINE__,
                        "%s: truncated: header says %s (%zu bytes of data), the decompressed "
                        "file has %zu%s",
                        name, what, bytes, got, s->cut ? " (the gzip stream is cut off)" : "");
    if (st == LM_OK && !prefix)
        st = src_expect_end(s, bytes, what, err);
    if (st != LM_OK) {
        lm_array_free(a);
        return st;
    }
    from_big_endian(a->data, a->count, esz);
    if (file_rows)
        *file_rows = all_rows;
    *out = a;
    return LM_OK;
}

/* Decodes an IDX file held in memory (gzipped or not): its first max_rows rows. */
static lm_status decode_mem(const uint8_t *buf, size_t len, const char *name, size_t max_rows,
                            size_t *file_rows, lm_array **out, lm_err *err) {
    src s;
    LM_TRY(src_open(&s, buf, len, name, err));
    lm_status st = idx_decode(&s, max_rows, file_rows, out, err);
    src_close(&s);
    return st;
}

lm_status lm_idx_parse(const uint8_t *buf, size_t len, const char *name, lm_array **out,
                       lm_err *err) {
    if (!name)
        name = "<memory>";
    if (!out || (!buf && len))
        LM_FAIL(err, LM_EINVAL, "%s: lm_idx_parse needs a buffer and an output", name);
    static const uint8_t empty[1] = {0};
    return decode_mem(buf ? buf : empty, len, name, SIZE_MAX, NULL, out, err);
}

lm_status lm_idx_read(const char *path, lm_array **out, lm_err *err) {
    if (!path || !out)
        LM_FAIL(err, LM_EINVAL, "lm_idx_read needs a path and an output");
    uint8_t *buf = NULL;
    size_t len = 0;
    LM_TRY(lm__file_read(path, &buf, &len, err));
    lm_status st = lm_idx_parse(buf, len, path, out, err);
    lm_free(buf);
    return st;
}

/* The file is mapped rather than read, so a prefix read touches only the compressed pages it
 * inflates (the training images are 26 MB gzipped; a 4096-row prefix needs ~2 MB of them). */
lm_status lm__idx_read_prefix(const char *path, size_t max_rows, lm_array **out, size_t *file_rows,
                              lm_err *err) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uintmax_t) st.st_size <= (uintmax_t) (SIZE_MAX / 2)) {
        const size_t len = (size_t) st.st_size;
        void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (map != MAP_FAILED) {
            lm_status rc = decode_mem(map, len, path, max_rows, file_rows, out, err);
            munmap(map, len);
            return rc;
        }
    } else if (fd >= 0) {
        close(fd);
    }
    /* not mappable (empty, special, ...): the plain read path says what is wrong */
    uint8_t *buf = NULL;
    size_t len = 0;
    LM_TRY(lm__file_read(path, &buf, &len, err));
    lm_status rc = decode_mem(buf, len, path, max_rows, file_rows, out, err);
    lm_free(buf);
    return rc;
}
