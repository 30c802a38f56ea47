/* Tests for the IDX reader (src/data/idx.c): round trips on hand-made buffers, raw and gzipped,
 * in memory and on disk, and every refusal with the message it must give. */
#include "lm_test.h"
#include "lmech/data.h"

#include <string.h>
#include <zlib.h>

/* Builds an IDX file in buf: magic 00 00 type ndim, big-endian dims, then payload as given
 * (already big-endian). Returns the length. */
static size_t make_idx(uint8_t *buf, uint8_t type, size_t ndim, const uint32_t *dims,
                       const void *payload, size_t plen) {
    size_t n = 0;
    buf[n++] = 0;
    buf[n++] = 0;
    buf[n++] = type;
    buf[n++] = (uint8_t) ndim;
    for (size_t i = 0; i < ndim; i++) {
        buf[n++] = (uint8_t) (dims[i] >> 24);
        buf[n++] = (uint8_t) (dims[i] >> 16);
        buf[n++] = (uint8_t) (dims[i] >> 8);
        buf[n++] = (uint8_t) dims[i];
    }
    memcpy(buf + n, payload, plen);
    return n + plen;
}

/* gzip-compresses src into dst (capacity cap); returns the compressed length. */
static size_t gz_compress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    cr_assert_eq(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *) (uintptr_t) src;
    zs.avail_in = (uInt) len;
    zs.next_out = dst;
    zs.avail_out = (uInt) cap;
    cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t out = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static void write_file(const char *path, const uint8_t *b, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

static void be_bytes(uint8_t *dst, const void *v, size_t esz) {
    const uint8_t *s = v; /* host is little-endian (core.h) */
    uint8_t tmp[8];
    cr_assert(esz <= sizeof tmp);
    for (size_t i = 0; i < esz && i < sizeof tmp; i++)
        tmp[i] = s[esz - 1 - i];
    memcpy(dst, tmp, esz);
}

Test(idx, u8_raw_round_trip) {
    uint8_t buf[64], px[6] = {0, 1, 127, 128, 254, 255};
    uint32_t dims[2] = {2, 3};
    size_t n = make_idx(buf, 0x08, 2, dims, px, 6);
    lm_array *a = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_idx_parse(buf, n, "mem.idx", &a, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(a->elt, LM_ELT_U8);
    cr_assert_eq(a->ndim, 2);
    cr_assert_eq(a->shape[0], 2);
    cr_assert_eq(a->shape[1], 3);
    cr_assert_eq(a->count, 6);
    cr_assert_eq(memcmp(a->data, px, 6), 0);
    lm_array_free(a);
    LM_CHECK_LEAKS();
}

Test(idx, every_type_is_byte_swapped_to_native) {
    /* High-entropy values (GSL): a swap of the wrong width cannot map them onto themselves. */
    const double vals[3] = {-2.385, 1.0e-3, 12345.678};
    struct {
        uint8_t code;
        lm_elt elt;
    } types[] = {{0x09, LM_ELT_I8},
                 {0x0B, LM_ELT_I16},
                 {0x0C, LM_ELT_I32},
                 {0x0D, LM_ELT_F32},
                 {0x0E, LM_ELT_F64}};
    for (size_t t = 0; t < 5; t++) {
        uint8_t payload[24], buf[64];
        double expect[3];
        size_t esz = lm_elt_size(types[t].elt);
        for (int i = 0; i < 3; i++) {
            int8_t i8 = (int8_t) (-100 + 37 * i);
            int16_t i16 = (int16_t) (-30000 + 12345 * i);
            int32_t i32 = (int32_t) (-2000000000 + 1234567891LL * i);
            float f32 = (float) vals[i];
            double f64 = vals[i];
            const void *src = types[t].elt == LM_ELT_I8    ? (const void *) &i8
                              : types[t].elt == LM_ELT_I16 ? (const void *) &i16
                              : types[t].elt == LM_ELT_I32 ? (const void *) &i32
                              : types[t].elt == LM_ELT_F32 ? (const void *) &f32
                                                           : (const void *) &f64;
            expect[i] = types[t].elt == LM_ELT_I8    ? (double) i8
                        : types[t].elt == LM_ELT_I16 ? (double) i16
                        : types[t].elt == LM_ELT_I32 ? (double) i32
                        : types[t].elt == LM_ELT_F32 ? (double) f32
                                                     : f64;
            be_bytes(payload + (size_t) i * esz, src, esz);
        }
        uint32_t dims[1] = {3};
        size_t n = make_idx(buf, types[t].code, 1, dims, payload, 3 * esz);
        lm_array *a = NULL;
        lm_err err = {0};
        cr_assert_eq(lm_idx_parse(buf, n, "t.idx", &a, &err), LM_OK, "%s", err.msg);
        cr_assert_eq(a->elt, types[t].elt);
        for (size_t i = 0; i < 3; i++)
            cr_assert_eq(lm_array_get(a, i), expect[i], "type %s element %zu", lm_elt_name(a->elt),
                         i);
        lm_array_free(a);
    }
    LM_CHECK_LEAKS();
}

Test(idx, gz_file_and_raw_file_read_the_same) {
    uint8_t px[4 * 5 * 6], buf[256];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t) (i * 37 + 11);
    uint32_t dims[3] = {4, 5, 6};
    size_t n = make_idx(buf, 0x08, 3, dims, px, sizeof px);
    char raw[256], gz[256];
    lm_tmp_path(raw, sizeof raw, "idx-raw");
    lm_tmp_path(gz, sizeof gz, "idx.gz");
    write_file(raw, buf, n);
    gzFile g = gzopen(gz, "wb");
    cr_assert(g);
    cr_assert_eq(gzwrite(g, buf, (unsigned) n), (int) n);
    gzclose(g);
    lm_array *a = NULL, *b = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_idx_read(raw, &a, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(lm_idx_read(gz, &b, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(b->ndim, 3);
    cr_assert_eq(b->shape[2], 6);
    cr_assert_eq(memcmp(a->data, px, sizeof px), 0);
    cr_assert_eq(memcmp(b->data, px, sizeof px), 0);
    lm_array_free(a);
    lm_array_free(b);
    /* Two gzip members back to back (what `cat a.gz b.gz` makes) form one stream. */
    g = gzopen(gz, "wb");
    cr_assert_eq(gzwrite(g, buf, 10), 10);
    gzclose(g);
    g = gzopen(gz, "ab");
    cr_assert_eq(gzwrite(g, buf + 10, (unsigned) (n - 10)), (int) (n - 10));
    gzclose(g);
    cr_assert_eq(lm_idx_read(gz, &a, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(memcmp(a->data, px, sizeof px), 0);
    lm_array_free(a);
    remove(raw);
    remove(gz);
    LM_CHECK_LEAKS();
}

Test(idx, f64_gz_in_memory) {
    double v[4] = {3.14159, -0.5, 1e300, -7.25e-12};
    uint8_t payload[32], buf[64], z[256];
    for (int i = 0; i < 4; i++)
        be_bytes(payload + 8 * i, &v[i], 8);
    uint32_t dims[2] = {2, 2};
    size_t n = make_idx(buf, 0x0E, 2, dims, payload, 32);
    size_t zn = gz_compress(buf, n, z, sizeof z);
    lm_array *a = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_idx_parse(z, zn, "mem.gz", &a, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(a->elt, LM_ELT_F64);
    cr_assert_eq(memcmp(a->data, v, sizeof v), 0);
    lm_array_free(a);
    LM_CHECK_LEAKS();
}

static void expect_fail(const uint8_t *buf, size_t n, lm_status code, const char *part1,
                        const char *part2) {
    lm_array *a = (lm_array *) (uintptr_t) 0x1; /* must stay untouched on failure */
    lm_err err = {0};
    cr_assert_eq(lm_idx_parse(buf, n, "bad.idx", &a, &err), code, "got: %s", err.msg);
    cr_assert_eq(a, (lm_array *) (uintptr_t) 0x1);
    cr_assert(strstr(err.msg, "bad.idx"), "message does not name the file: %s", err.msg);
    cr_assert(strstr(err.msg, part1), "'%s' not in: %s", part1, err.msg);
    if (part2)
        cr_assert(strstr(err.msg, part2), "'%s' not in: %s", part2, err.msg);
}

Test(idx, malformed_raw_inputs_are_refused_with_sizes) {
    uint8_t buf[128], px[6] = {1, 2, 3, 4, 5, 6};
    uint32_t dims[2] = {2, 3};
    size_t n = make_idx(buf, 0x08, 2, dims, px, 6);
    expect_fail(buf, n - 2, LM_EFORMAT, "truncated", "2x3 uint8 (6 bytes of data), file has 4");
    buf[n] = 0xAA;
    expect_fail(buf, n + 1, LM_EFORMAT, "1 trailing bytes", "6 bytes");
    expect_fail(buf, 3, LM_EFORMAT, "too short", NULL);
    expect_fail(buf, 7, LM_EFORMAT, "truncated IDX header", NULL);
    uint8_t bad[sizeof buf];
    memcpy(bad, buf, n);
    bad[0] = 0x50; /* a PNG or anything else */
    expect_fail(bad, n, LM_EFORMAT, "bad IDX magic", "50 00 08 02");
    memcpy(bad, buf, n);
    bad[2] = 0x0A;
    expect_fail(bad, n, LM_EFORMAT, "unknown IDX element type 0x0a", NULL);
    memcpy(bad, buf, n);
    bad[3] = 9;
    expect_fail(bad, n, LM_EFORMAT, "9 dimensions", NULL);
    bad[3] = 0;
    expect_fail(bad, n, LM_EFORMAT, "0 dimensions", NULL);
    /* An absurd header is refused from the file size, before any allocation. */
    uint32_t huge[2] = {100000u, 100000u};
    n = make_idx(buf, 0x0E, 2, huge, px, 6);
    expect_fail(buf, n, LM_EFORMAT, "truncated", "100000x100000 float64 (80000000000 bytes");
    uint32_t eight[8] = {4000000000u, 4000000000u, 4000000000u, 4000000000u, 5, 5, 5, 5};
    n = make_idx(buf, 0x0E, 8, eight, px, 6);
    expect_fail(buf, n, LM_EFORMAT, "overflows", NULL);
    LM_CHECK_LEAKS();
}

Test(idx, malformed_gzip_inputs_are_refused) {
    uint8_t buf[256], px[40], z[512], bad[512];
    for (int i = 0; i < 40; i++)
        px[i] = (uint8_t) (i * 7);
    uint32_t dims[2] = {5, 8};
    size_t n = make_idx(buf, 0x08, 2, dims, px, 40);
    /* Payload shorter than the header says, inside a valid gzip stream. */
    size_t zn = gz_compress(buf, n - 10, z, sizeof z);
    expect_fail(z, zn, LM_EFORMAT, "truncated",
                "5x8 uint8 (40 bytes of data), the decompressed "
                "file has 30");
    /* Trailing data inside the stream. */
    buf[n] = 1;
    zn = gz_compress(buf, n + 1, z, sizeof z);
    expect_fail(z, zn, LM_EFORMAT, "trailing data", "40 bytes");
    /* A cut-off compressed file. */
    zn = gz_compress(buf, n, z, sizeof z);
    expect_fail(z, zn - 12, LM_EFORMAT, "truncated", NULL);
    expect_fail(z, zn - 3, LM_EFORMAT, "truncated gzip stream", NULL);
    /* Garbage after the gzip stream. */
    memcpy(bad, z, zn);
    bad[zn] = 'x';
    expect_fail(bad, zn + 1, LM_EFORMAT, "1 trailing bytes after the gzip stream", NULL);
    /* Corrupt deflate data. */
    memcpy(bad, z, zn);
    for (size_t i = 10; i < 20; i++)
        bad[i] ^= 0xFF;
    lm_array *a = NULL;
    lm_err err = {0};
    cr_assert_neq(lm_idx_parse(bad, zn, "bad.idx", &a, &err), LM_OK);
    cr_assert(strstr(err.msg, "bad.idx"), "%s", err.msg);
    /* A header claiming more than the compressed size can hold (1032:1 at best). */
    uint32_t huge[3] = {60000, 28000, 28000};
    n = make_idx(buf, 0x08, 3, huge, px, 0);
    zn = gz_compress(buf, n, z, sizeof z);
    expect_fail(z, zn, LM_EFORMAT, "more than a", "-byte gzip file can hold");
    LM_CHECK_LEAKS();
}

Test(idx, missing_file_names_the_path) {
    lm_array *a = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_idx_read("/nonexistent/dir/train.idx", &a, &err), LM_EIO);
    cr_assert(strstr(err.msg, "/nonexistent/dir/train.idx"), "%s", err.msg);
    cr_assert_null(a);
    cr_assert_eq(lm_idx_read("/tmp", &a, &err), LM_EIO);
    cr_assert(strstr(err.msg, "not a regular file"), "%s", err.msg);
}

Test(idx, out_of_memory_at_every_allocation_is_clean) {
    uint8_t buf[128], px[12] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12}, z[256];
    uint32_t dims[1] = {12};
    size_t n = make_idx(buf, 0x08, 1, dims, px, 12);
    size_t zn = gz_compress(buf, n, z, sizeof z);
    lm_allocator al = {lm_test_failing_alloc, lm_test_free, NULL};
    lm_set_allocator(&al);
    int ok = 0;
    for (lm_test_fail_at = 1; lm_test_fail_at < 20 && !ok; lm_test_fail_at++) {
        lm_test_calls = 0;
        lm_array *a = NULL;
        lm_err err = {0};
        lm_status st = lm_idx_parse(z, zn, "oom.gz", &a, &err);
        if (st == LM_OK) {
            ok = 1;
            cr_assert_eq(memcmp(a->data, px, 12), 0);
            lm_array_free(a);
        } else {
            cr_assert_eq(st, LM_ENOMEM, "allocation %d: %s", lm_test_fail_at, err.msg);
            cr_assert_null(a);
        }
    }
    lm_set_allocator(NULL);
    cr_assert(ok, "never succeeded");
    LM_CHECK_LEAKS();
}
