/*
 * npy.c: the NumPy .npy reader (format versions 1.0, 2.0 and 3.0).
 *
 * Layout: "\x93NUMPY", major, minor, the header length (u16 little-endian for v1, u32 for v2/v3),
 * then a Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and a newline, then the raw C-ordered data. The dict is parsed by hand: the
 * three keys in any order, either quote style, any whitespace, a trailing comma, 1-tuples "(5,)"
 * and the 0-d shape "()"; anything else (unknown or repeated keys, other values) is refused.
 *
 * Byte order: '<' and '=' are little-endian ('=' is the writer's native order; every platform
 * numpy writes from in practice is little-endian), '|' is for one-byte types, and '>'
 * (big-endian) data are byte-swapped on load, so every supported dtype is accepted in both
 * orders. Workload: data sets of up to a few hundred MB, parsed once; the data are copied into
 * the array in one memcpy and swapped only when needed.
 *
 * Fortran order ('fortran_order': True, what np.save writes for an F-contiguous array such as
 * the transpose X.T of a C array) is read too: the column-major data are permuted into the
 * row-major layout every lmech array has, so the shape and element values are the same as
 * numpy's, whatever order the file was written in.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#define NPY_MAGIC_LEN 6

typedef struct parser {
    const char *p, *end;
    const char *name;
} parser;

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int accept(parser *ps, char c) {
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "...") without escapes, copied into out (n bytes). */
static int parse_str(parser *ps, char *out, size_t n) {
    skip_ws(ps);
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"'))
        return 0;
    char q = *ps->p++;
    size_t k = 0;
    while (ps->p < ps->end && *ps->p != q) {
        if (*ps->p == '\\' || k + 1 >= n)
            return 0;
        out[k++] = *ps->p++;
    }
    if (ps->p >= ps->end)
        return 0;
    ps->p++;
    out[k] = '\0';
    return 1;
}

static int parse_word(parser *ps, const char *w) {
    skip_ws(ps);
    size_t n = strlen(w);
    if ((size_t) (ps->end - ps->p) >= n && memcmp(ps->p, w, n) == 0) {
        ps->p += n;
        return 1;
    }
    return 0;
}

/* "(d0, d1, ...)" with an optional trailing comma; Python 2's "3L" suffix is accepted. */
static lm_status parse_shape(parser *ps, size_t *ndim, size_t *shape, lm_err *err) {
    if (!accept(ps, '('))
        LM_FAIL(err, LM_EFORMAT, "%s: npy header: 'shape' is not a tuple", ps->name);
    size_t nd = 0;
    skip_ws(ps);
    if (accept(ps, ')')) {
        *ndim = 0;
        return LM_OK;
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            LM_FAIL(err, LM_EFORMAT, "%s: npy header: 'shape' holds something other than sizes",
                    ps->name);
        size_t v = 0;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            size_t digit = (size_t) (*ps->p - '0');
            if (v > (SIZE_MAX - digit) / 10)
                LM_FAIL(err, LM_EFORMAT, "%s: npy header: a size in 'shape' overflows", ps->name);
            v = v * 10 + digit;
            ps->p++;
        }
        if (ps->p < ps->end && (*ps->p == 'L' || *ps->p == 'l'))
            ps->p++;
        if (nd == LM_MAX_DIMS)
            LM_FAIL(err, LM_EFORMAT, "%s: npy header: 'shape' has more than %d dimensions",
                    ps->name, LM_MAX_DIMS);
        shape[nd++] = v;
        if (accept(ps, ')'))
            break;
        if (!accept(ps, ','))
            LM_FAIL(err, LM_EFORMAT, "%s: npy header: 'shape' tuple is malformed", ps->name);
        if (accept(ps, ')'))
            break;
    }
    *ndim = nd;
    return LM_OK;
}

/* descr -> element type and whether the data are big-endian. */
static lm_status parse_descr(const char *d, const char *name, lm_elt *elt, int *big, lm_err *err) {
    static const struct {
        const char *code;
        lm_elt elt;
    } types[] = {{"f4", LM_ELT_F32}, {"f8", LM_ELT_F64}, {"u1", LM_ELT_U8},  {"b1", LM_ELT_U8},
                 {"i1", LM_ELT_I8},  {"i2", LM_ELT_I16}, {"i4", LM_ELT_I32}, {"i8", LM_ELT_I64}};
    char order = d[0];
    if ((order == '<' || order == '>' || order == '=' || order == '|') && d[1] != '\0') {
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            if (strcmp(d + 1, types[i].code) != 0)
                continue;
            size_t esz = lm_elt_size(types[i].elt);
            if (order == '|' && esz != 1)
                break;
            *elt = types[i].elt;
            *big = order == '>' && esz > 1;
            return LM_OK;
        }
    }
    LM_FAIL(err, LM_EUNSUPPORTED,
            "%s: npy dtype '%s' is not supported (float32 '<f4', float64 '<f8', uint8 '|u1', "
            "bool '|b1', int8 '|i1', int16 '<i2', int32 '<i4', int64 '<i8'; '>' also accepted)",
            name, d);
}

static lm_status parse_header(parser *ps, lm_elt *elt, int *big, int *fortran, size_t *ndim,
                              size_t *shape, lm_err *err) {
    const char *name = ps->name;
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    if (!accept(ps, '{'))
        LM_FAIL(err, LM_EFORMAT, "%s: npy header is not a dict (no '{')", name);
    for (;;) {
        if (accept(ps, '}'))
            break;
        char key[32], val[32];
        if (!parse_str(ps, key, sizeof key))
            LM_FAIL(err, LM_EFORMAT, "%s: npy header: expected a quoted key", name);
        if (!accept(ps, ':'))
            LM_FAIL(err, LM_EFORMAT, "%s: npy header: expected ':' after '%s'", name, key);
        if (strcmp(key, "descr") == 0) {
            if (seen_descr++)
                LM_FAIL(err, LM_EFORMAT, "%s: npy header: 'descr' given twice", name);
            if (!parse_str(ps, val, sizeof val))
                LM_FAIL(err, LM_EUNSUPPORTED,
                        "%s: npy header: 'descr' is not a simple dtype string (structured "
                        "arrays are not supported)",
                        name);
            LM_TRY(parse_descr(val, name, elt, big, err));
        } else if (strcmp(key, "fortran_order") == 0) {
            if (seen_fortran++)
                LM_FAIL(err, LM_EFORMAT, "%s: npy header: 'fortran_order' given twice", name);
            *fortran = parse_word(ps, "True");
            if (!*fortran && !parse_word(ps, "False"))
                LM_FAIL(err, LM_EFORMAT, "%s: npy header: 'fortran_order' is not True/False", name);
        } else if (strcmp(key, "shape") == 0) {
            if (seen_shape++)
                LM_FAIL(err, LM_EFORMAT, "%s: npy header: 'shape' given twice", name);
            LM_TRY(parse_shape(ps, ndim, shape, err));
        } else {
            LM_FAIL(err, LM_EFORMAT, "%s: npy header: unknown key '%s'", name, key);
        }
        if (accept(ps, '}'))
            break;
        if (!accept(ps, ','))
            LM_FAIL(err, LM_EFORMAT, "%s: npy header: expected ',' or '}' after a value", name);
    }
    skip_ws(ps);
    if (ps->p != ps->end)
        LM_FAIL(err, LM_EFORMAT, "%s: npy header: unexpected text after the dict", name);
    if (!seen_descr || !seen_fortran || !seen_shape)
        LM_FAIL(err, LM_EFORMAT, "%s: npy header lacks '%s'", name,
                !seen_descr     ? "descr"
                : !seen_fortran ? "fortran_order"
                                : "shape");
    return LM_OK;
}

/* Column-major src -> row-major dst (count elements of esz bytes, shape[ndim]): an odometer over
 * the row-major index that keeps the column-major offset in step (stride[k] = prod shape[<k]). */
static void fortran_to_c(uint8_t *dst, const uint8_t *src, size_t ndim, const size_t *shape,
                         size_t count, size_t esz) {
    size_t stride[LM_MAX_DIMS], idx[LM_MAX_DIMS] = {0}, off = 0;
    for (size_t k = 0, s = 1; k < ndim; k++) {
        stride[k] = s;
        s *= shape[k];
    }
    for (size_t c = 0; c < count; c++) {
        memcpy(dst + c * esz, src + off * esz, esz);
        for (size_t k = ndim; k-- > 0;) { /* the last index runs fastest in C order */
            off += stride[k];
            if (++idx[k] < shape[k])
                break;
            off -= stride[k] * shape[k];
            idx[k] = 0;
        }
    }
}

static void byteswap(uint8_t *p, size_t count, size_t esz) {
    for (size_t i = 0; i < count; i++, p += esz)
        for (size_t a = 0, b = esz - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

lm_status lm_npy_parse(const uint8_t *buf, size_t len, const char *name, lm_array **out,
                       lm_err *err) {
    if (!name)
        name = "<memory>";
    if (!out || (!buf && len))
        LM_FAIL(err, LM_EINVAL, "%s: lm_npy_parse needs a buffer and an output", name);
    if (len < NPY_MAGIC_LEN + 2 || memcmp(buf, "\x93NUMPY", NPY_MAGIC_LEN) != 0)
        LM_FAIL(err, LM_EFORMAT, "%s: not a .npy file (bad magic, expected \\x93NUMPY)", name);
    unsigned major = buf[6], minor = buf[7];
    size_t prefix, hlen;
    if (major == 1) {
        prefix = 10;
        if (len < prefix)
            LM_FAIL(err, LM_EFORMAT, "%s: truncated npy preamble", name);
        hlen = (size_t) buf[8] | (size_t) buf[9] << 8;
    } else if (major == 2 || major == 3) {
        prefix = 12;
        if (len < prefix)
            LM_FAIL(err, LM_EFORMAT, "%s: truncated npy preamble", name);
        hlen = (size_t) buf[8] | (size_t) buf[9] << 8 | (size_t) buf[10] << 16 |
               (size_t) buf[11] << 24;
    } else {
        LM_FAIL(err, LM_EUNSUPPORTED, "%s: npy format version %u.%u is not supported (1, 2, 3)",
                name, major, minor);
    }
    if (hlen > len - prefix)
        LM_FAIL(err, LM_EFORMAT,
                "%s: truncated npy header (says %zu bytes, file has %zu after "
                "the preamble)",
                name, hlen, len - prefix);
    parser ps = {(const char *) buf + prefix, (const char *) buf + prefix + hlen, name};
    lm_elt elt = LM_ELT_U8;
    int big = 0, fortran = 0;
    size_t ndim = 0, shape[LM_MAX_DIMS];
    LM_TRY(parse_header(&ps, &elt, &big, &fortran, &ndim, shape, err));
    size_t esz = lm_elt_size(elt), bytes = esz;
    char shp[128];
    lm__shape_str(shp, sizeof shp, ndim, shape);
    for (size_t i = 0; i < ndim; i++) {
        if (shape[i] && bytes > SIZE_MAX / shape[i])
            LM_FAIL(err, LM_EFORMAT, "%s: npy shape %s overflows the address space", name, shp);
        bytes *= shape[i];
    }
    size_t have = len - prefix - hlen;
    if (have < bytes)
        LM_FAIL(err, LM_EFORMAT,
                "%s: truncated: header says %s %s (%zu bytes of data), file has %zu", name, shp,
                lm_elt_name(elt), bytes, have);
    if (have > bytes)
        LM_FAIL(err, LM_EFORMAT, "%s: %zu trailing bytes after the %zu bytes of data (%s %s)", name,
                have - bytes, bytes, shp, lm_elt_name(elt));
    lm_array *a = NULL;
    LM_TRY(lm_array_new(elt, ndim, shape, &a, err));
    if (fortran && ndim > 1)
        fortran_to_c(a->data, buf + prefix + hlen, ndim, shape, a->count, esz);
    else if (bytes)
        memcpy(a->data, buf + prefix + hlen, bytes);
    if (big)
        byteswap(a->data, a->count, esz);
    *out = a;
    return LM_OK;
}

lm_status lm_npy_read(const char *path, lm_array **out, lm_err *err) {
    if (!path || !out)
        LM_FAIL(err, LM_EINVAL, "lm_npy_read needs a path and an output");
    uint8_t *buf = NULL;
    size_t len = 0;
    LM_TRY(lm__file_read(path, &buf, &len, err));
    lm_status st = lm_npy_parse(buf, len, path, out, err);
    lm_free(buf);
    return st;
}
