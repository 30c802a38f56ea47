/* Tests for src/io/safetensors.c: round trips of every dtype and shape, the header layout the
 * writer produces, every malformed-header case the reader must refuse (with a message naming the
 * file and the tensor), and allocation failures. */
#include "lm_test.h"
#include "lmech/io.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* A safetensors image: 8-byte LE length of json, json, then dlen bytes of data. malloc'ed. */
static uint8_t *image(const char *json, const void *data, size_t dlen, size_t *len) {
    size_t jn = strlen(json);
    *len = 8 + jn + dlen;
    uint8_t *b = malloc(*len);
    cr_assert(b);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t) ((uint64_t) jn >> (8 * i));
    memcpy(b + 8, json, jn);
    if (dlen)
        memcpy(b + 8 + jn, data, dlen);
    return b;
}

/* Parses an image that must fail with `code` and a message containing every non-NULL string. */
static void expect_fail(const char *json, size_t dlen, lm_status code, const char *s1,
                        const char *s2) {
    uint8_t zeros[256] = {0};
    cr_assert(dlen <= sizeof zeros);
    size_t len;
    uint8_t *b = image(json, zeros, dlen, &len);
    lm_safetensors *st = NULL;
    lm_err err = {0};
    lm_status rc = lm_safetensors_parse(b, len, "t.safetensors", &st, &err);
    free(b);
    cr_assert_eq(rc, code, "%s: got %d (%s), want %d", json, rc, err.msg, code);
    cr_assert_null(st);
    cr_assert(strstr(err.msg, "t.safetensors"), "message does not name the file: %s", err.msg);
    if (s1)
        cr_assert(strstr(err.msg, s1), "message lacks \"%s\": %s", s1, err.msg);
    if (s2)
        cr_assert(strstr(err.msg, s2), "message lacks \"%s\": %s", s2, err.msg);
}

static lm_array *filled(lm_elt elt, size_t ndim, const size_t *shape) {
    lm_array *a = NULL;
    cr_assert_eq(lm_array_new(elt, ndim, shape, &a, NULL), LM_OK);
    uint8_t *p = a->data;
    /* distinct bytes, so a shifted offset or a byte swap shows */
    for (size_t i = 0; i < a->count * lm_elt_size(elt); i++)
        p[i] = (uint8_t) (37 * i + 11);
    return a;
}

/* ---------------------------------------------------------------- round trips */

Test(safetensors, round_trip_every_dtype_and_shape) {
    const size_t s_f64[] = {2, 3}, s_f32[] = {4}, s_i32[] = {0, 5}, s_i16[] = {3, 1, 2},
                 s_i8[] = {5}, s_u8[] = {7}, s_big[] = {1, 1, 1, 1, 1, 1, 1, 2};
    lm_array *a[8] = {
        filled(LM_ELT_F64, 2, s_f64), filled(LM_ELT_F32, 1, s_f32), filled(LM_ELT_I64, 0, NULL),
        filled(LM_ELT_I32, 2, s_i32), filled(LM_ELT_I16, 3, s_i16), filled(LM_ELT_I8, 1, s_i8),
        filled(LM_ELT_U8, 1, s_u8),   filled(LM_ELT_F64, 8, s_big),
    };
    ((double *) a[0]->data)[5] = -2.385;
    const char *names[8] = {"w",  "layers.0.bias", "scalar", "empty", "i16",
                            "i8", "u8 \"odd\"",    "rank8"};
    const char *mk[] = {"format", "note"}, *mv[] = {"pt", "quotes \" and \xc3\xa9 survive"};
    char path[256];
    lm_tmp_path(path, sizeof path, "rt.safetensors");
    lm_err err = {0};
    cr_assert_eq(lm_safetensors_write(path, 8, names, (const lm_array *const *) a, 2, mk, mv, &err),
                 LM_OK, "%s", err.msg);

    lm_safetensors *st = NULL;
    cr_assert_eq(lm_safetensors_read(path, &st, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(st->n, 8);
    for (size_t i = 0; i < 8; i++) {
        cr_assert_str_eq(st->names[i], names[i]); /* file order is the writer's order */
        const lm_array *b = st->tensors[i];
        cr_assert_eq(b, lm_safetensors_get(st, names[i]));
        cr_assert_eq(b->elt, a[i]->elt);
        cr_assert_eq(b->ndim, a[i]->ndim);
        cr_assert_eq(b->count, a[i]->count);
        for (size_t d = 0; d < b->ndim; d++)
            cr_assert_eq(b->shape[d], a[i]->shape[d]);
        cr_assert_eq(memcmp(b->data, a[i]->data, b->count * lm_elt_size(b->elt)), 0, "%s",
                     names[i]);
    }
    cr_assert_eq(st->tensors[2]->count, 1); /* a scalar has one element */
    cr_assert_eq(st->tensors[3]->count, 0);
    cr_assert_eq(lm_array_get(st->tensors[0], 5), -2.385);
    cr_assert_null(lm_safetensors_get(st, "nope"));
    cr_assert_eq(st->n_meta, 2);
    cr_assert_str_eq(st->meta_keys[0], "format");
    cr_assert_str_eq(st->meta_values[0], "pt");
    cr_assert_str_eq(st->meta_keys[1], "note");
    cr_assert_str_eq(st->meta_values[1], mv[1]);
    lm_safetensors_free(st);
    for (int i = 0; i < 8; i++)
        lm_array_free(a[i]);
    unlink(path);
    LM_CHECK_LEAKS();
}

Test(safetensors, header_layout_matches_the_reference_writer) {
    const size_t sh[] = {3};
    lm_array *a = filled(LM_ELT_F32, 1, sh), *b = filled(LM_ELT_U8, 1, sh);
    const lm_array *t[] = {a, b};
    const char *names[] = {"zz", "aa"}, *mk[] = {"format"}, *mv[] = {"pt"};
    char path[256];
    lm_tmp_path(path, sizeof path, "layout.safetensors");
    cr_assert_eq(lm_safetensors_write(path, 2, names, t, 1, mk, mv, NULL), LM_OK);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(lm_file_read(path, &buf, &len, NULL), LM_OK);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | buf[i];
    cr_assert_eq(hl % 8, 0, "header length %llu is not a multiple of 8", (unsigned long long) hl);
    cr_assert_eq(len, 8 + hl + 12 + 3);
    const char *want = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"zz\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                       "\"aa\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[12,15]}}";
    size_t wn = strlen(want);
    cr_assert_eq(memcmp(buf + 8, want, wn), 0, "header: %.*s", (int) hl, (const char *) buf + 8);
    for (size_t i = 8 + wn; i < 8 + hl; i++)
        cr_assert_eq(buf[i], ' ', "padding byte %zu is %d", i, buf[i]);
    cr_assert_eq(memcmp(buf + 8 + hl, a->data, 12), 0);
    lm_free(buf);
    lm_array_free(a);
    lm_array_free(b);
    unlink(path);
    LM_CHECK_LEAKS();
}

Test(safetensors, data_is_little_endian_on_disk) {
    const char *json = "{\"x\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"y\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[4,12]}}";
    uint8_t data[12] = {0x04, 0x03, 0x02, 0x01};
    double y = 2.385;
    uint64_t bits;
    memcpy(&bits, &y, 8);
    for (int i = 0; i < 8; i++)
        data[4 + i] = (uint8_t) (bits >> (8 * i));
    size_t len;
    uint8_t *b = image(json, data, sizeof data, &len);
    lm_safetensors *st = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_safetensors_parse(b, len, "le", &st, &err), LM_OK, "%s", err.msg);
    free(b);
    cr_assert_eq(((int32_t *) st->tensors[0]->data)[0], 0x01020304);
    cr_assert_eq(st->tensors[1]->ndim, 0);
    cr_assert_eq(lm_array_get(st->tensors[1], 0), 2.385);
    cr_assert_eq(st->n_meta, 0);
    lm_safetensors_free(st);
    LM_CHECK_LEAKS();
}

Test(safetensors, accepts_empty_files_gaps_and_empty_tensors_anywhere) {
    const char *cases[] = {
        "{}",
        "{\"__metadata__\":{}}   ",
        /* a gap before the tensor and trailing bytes after it */
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}",
        /* an empty tensor inside another's range occupies no bytes */
        ("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
         "\"e\":{\"dtype\":\"F64\",\"shape\":[4,0],\"data_offsets\":[4,4]}}"),
    };
    uint8_t data[16] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len;
        uint8_t *b = image(cases[i], data, sizeof data, &len);
        lm_safetensors *st = NULL;
        lm_err err = {0};
        cr_assert_eq(lm_safetensors_parse(b, len, NULL, &st, &err), LM_OK, "%s: %s", cases[i],
                     err.msg);
        free(b);
        lm_safetensors_free(st);
    }
    LM_CHECK_LEAKS();
}

/* ---------------------------------------------------------------- malformed input */

Test(safetensors, refuses_truncated_length_and_lengths_beyond_the_file) {
    uint8_t short_buf[5] = {1, 0, 0, 0, 0};
    lm_safetensors *st = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_safetensors_parse(short_buf, 5, "t.safetensors", &st, &err), LM_EFORMAT);
    cr_assert(strstr(err.msg, "t.safetensors: truncated: 5 bytes"), "%s", err.msg);
    cr_assert_eq(lm_safetensors_parse(short_buf, 0, "t.safetensors", &st, &err), LM_EFORMAT);

    /* the header claims 100 bytes, 2 follow */
    uint8_t b[10] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    cr_assert_eq(lm_safetensors_parse(b, sizeof b, "t.safetensors", &st, &err), LM_EFORMAT);
    cr_assert(strstr(err.msg, "header length 100, but only 2 bytes follow"), "%s", err.msg);

    /* 2^63: beyond any file and the 100 MB cap */
    uint8_t huge[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
    cr_assert_eq(lm_safetensors_parse(huge, sizeof huge, "t.safetensors", &st, &err), LM_EFORMAT);
    cr_assert(strstr(err.msg, "100 MB"), "%s", err.msg);
    /* 100 MB + 1: just over the cap */
    uint64_t over = 100000001;
    for (int i = 0; i < 8; i++)
        huge[i] = (uint8_t) (over >> (8 * i));
    cr_assert_eq(lm_safetensors_parse(huge, sizeof huge, "t.safetensors", &st, &err), LM_EFORMAT);
    cr_assert(strstr(err.msg, "100 MB"), "%s", err.msg);
    cr_assert_null(st);
    LM_CHECK_LEAKS();
}

Test(safetensors, refuses_bad_json) {
    expect_fail("{\"a\": ", 0, LM_EFORMAT, "not valid JSON", NULL);
    expect_fail("", 0, LM_EFORMAT, "not valid JSON", NULL);
    expect_fail("[1, 2]", 0, LM_EFORMAT, "not a JSON object", NULL);
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                2, LM_EFORMAT, "duplicate", NULL);
    expect_fail("{\"a\": 3}", 0, LM_EFORMAT, "'a'", "not an object");
    LM_CHECK_LEAKS();
}

Test(safetensors, refuses_missing_or_mistyped_fields) {
    expect_fail("{\"x\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, LM_EFORMAT, "'x'", "dtype");
    expect_fail("{\"x\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,1]}}", 1, LM_EFORMAT, "'x'",
                "dtype");
    expect_fail("{\"x\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1, LM_EFORMAT, "'x'", "shape");
    expect_fail("{\"x\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1, LM_EFORMAT,
                "'x'", "shape[0]");
    expect_fail("{\"x\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", 1, LM_EFORMAT,
                "'x'", "shape[0]");
    expect_fail("{\"x\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, LM_EFORMAT, "'x'", "data_offsets");
    expect_fail("{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 1, LM_EFORMAT,
                "'x'", "data_offsets");
    expect_fail("{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1, LM_EFORMAT,
                "'x'", "data_offsets");
    expect_fail("{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"extra\":1}}", 1,
                LM_EFORMAT, "'x'", "\"extra\"");
    expect_fail("{\"x\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
                1, LM_EUNSUPPORTED, "'x'", "9 dimensions");
    expect_fail("{\"__metadata__\":{\"k\":1}}", 0, LM_EFORMAT, "__metadata__", "'k'");
    expect_fail("{\"__metadata__\":[\"k\"]}", 0, LM_EFORMAT, "__metadata__", NULL);
    LM_CHECK_LEAKS();
}

Test(safetensors, refuses_unsupported_and_unknown_dtypes) {
    expect_fail("{\"x\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                LM_EUNSUPPORTED, "unsupported dtype F16 for tensor 'x'", NULL);
    expect_fail("{\"m\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                LM_EUNSUPPORTED, "unsupported dtype BF16 for tensor 'm'", NULL);
    expect_fail("{\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
                LM_EUNSUPPORTED, "unsupported dtype BOOL for tensor 'b'", NULL);
    expect_fail("{\"q\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, LM_EFORMAT,
                "'q'", "unknown dtype \"Q7\"");
    LM_CHECK_LEAKS();
}

Test(safetensors, refuses_bad_offsets) {
    /* end before begin */
    expect_fail("{\"x\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,1]}}", 4, LM_EFORMAT,
                "'x'", "[2, 1] end before they begin");
    /* past the data section */
    expect_fail("{\"x\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, LM_EFORMAT,
                "'x'", "run past the data section (8 bytes)");
    /* size mismatch */
    expect_fail("{\"w\":{\"dtype\":\"F64\",\"shape\":[3,4],\"data_offsets\":[0,88]}}", 96,
                LM_EFORMAT, "'w'", "hold 88 bytes, but shape [3, 4] of F64 needs 96");
    /* a shape whose byte count overflows size_t */
    expect_fail("{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],"
                "\"data_offsets\":[0,8]}}",
                8, LM_EFORMAT, "'w'", "overflows");
    /* overlap */
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}",
                12, LM_EFORMAT, "'a' [0, 8] and 'b' [4, 12] overlap", NULL);
    /* two tensors on the same bytes, listed in reverse order */
    expect_fail("{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]},"
                "\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                8, LM_EFORMAT, "overlap", NULL);
    LM_CHECK_LEAKS();
}

Test(safetensors, read_names_missing_file) {
    lm_safetensors *st = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_safetensors_read("/nonexistent/dir/m.safetensors", &st, &err), LM_EIO);
    cr_assert(strstr(err.msg, "/nonexistent/dir/m.safetensors"), "%s", err.msg);
    cr_assert(strstr(err.msg, "No such file"), "%s", err.msg);
    cr_assert_eq(lm_safetensors_read("/tmp", &st, &err), LM_EIO);
    cr_assert(strstr(err.msg, "/tmp: is a directory"), "%s", err.msg);
    cr_assert_null(st);
    LM_CHECK_LEAKS();
}

Test(safetensors, writer_refuses_bad_names) {
    const size_t sh[] = {2};
    lm_array *a = filled(LM_ELT_U8, 1, sh);
    const lm_array *t[] = {a, a};
    char path[256];
    lm_tmp_path(path, sizeof path, "bad.safetensors");
    lm_err err = {0};
    const char *dup[] = {"x", "x"}, *res[] = {"__metadata__"}, *utf[] = {"\xff\xfe"};
    cr_assert_eq(lm_safetensors_write(path, 2, dup, t, 0, NULL, NULL, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "'x'") && strstr(err.msg, path), "%s", err.msg);
    cr_assert_eq(lm_safetensors_write(path, 1, res, t, 0, NULL, NULL, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "__metadata__"), "%s", err.msg);
    cr_assert_eq(lm_safetensors_write(path, 1, utf, t, 0, NULL, NULL, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "UTF-8"), "%s", err.msg);
    const char *mk[] = {"k", "k"}, *mv[] = {"1", "2"}, *ok[] = {"x"};
    cr_assert_eq(lm_safetensors_write(path, 1, ok, t, 2, mk, mv, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "metadata key 'k' appears twice"), "%s", err.msg);
    cr_assert_eq(access(path, F_OK), -1, "a refused write must not create the file");
    lm_array_free(a);
    LM_CHECK_LEAKS();
}

Test(safetensors, writer_into_missing_directory_names_the_path) {
    const size_t sh[] = {2};
    lm_array *a = filled(LM_ELT_U8, 1, sh);
    const lm_array *t[] = {a};
    const char *names[] = {"x"};
    lm_err err = {0};
    cr_assert_eq(
        lm_safetensors_write("/nonexistent-lmech/m.safetensors", 1, names, t, 0, NULL, NULL, &err),
        LM_EIO);
    cr_assert(strstr(err.msg, "/nonexistent-lmech/m.safetensors"), "%s", err.msg);
    cr_assert(strstr(err.msg, "No such file or directory"), "%s", err.msg);
    lm_array_free(a);
    LM_CHECK_LEAKS();
}

/* ---------------------------------------------------------------- allocation failures */

static int g_budget; /* successful allocations left before the hook starts failing */

static void *failing_alloc(void *ud, size_t size) {
    (void) ud;
    if (g_budget-- <= 0)
        return NULL;
    void *p = NULL;
    return posix_memalign(&p, 64, size ? size : 64) == 0 ? p : NULL;
}

static void plain_release(void *ud, void *p) {
    (void) ud;
    free(p);
}

Test(safetensors, parse_fails_cleanly_at_every_allocation) {
    const char *json = "{\"__metadata__\":{\"a\":\"b\",\"c\":\"d\"},"
                       "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"y\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[8,12]}}";
    uint8_t data[12] = {0};
    size_t len;
    uint8_t *b = image(json, data, sizeof data, &len);
    const lm_allocator hook = {failing_alloc, plain_release, NULL};
    int k;
    for (k = 0; k < 100; k++) {
        g_budget = k;
        lm_set_allocator(&hook);
        lm_safetensors *st = NULL;
        lm_err err = {0};
        lm_status rc = lm_safetensors_parse(b, len, "oom", &st, &err);
        lm_set_allocator(NULL);
        if (rc == LM_OK) {
            cr_assert_eq(st->n, 2);
            lm_safetensors_free(st);
            break;
        }
        cr_assert_eq(rc, LM_ENOMEM, "allocation %d: %s", k, err.msg);
        cr_assert_null(st);
        cr_assert(strstr(err.msg, "oom"), "%s", err.msg);
    }
    cr_assert(k > 5 && k < 100, "parse needed %d allocations", k);
    free(b);
    LM_CHECK_LEAKS();
}
