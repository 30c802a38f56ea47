/* Tests for src/io/file.c: whole-file reads, the atomic writer (including real write failures:
 * ENOSPC from /dev/full, EFBIG from RLIMIT_FSIZE, which work as root where chmod tricks do not)
 * and the .npy writer, checked byte by byte against numpy's format 1.0. */
#include "io/internal.h"
#include "lm_test.h"
#include "lmech/io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>

static void write_plain(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

static void expect_content(const char *path, const char *text) {
    uint8_t *buf;
    size_t len;
    lm_err err = {0};
    cr_assert_eq(lm_file_read(path, &buf, &len, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(len, strlen(text), "%s has %zu bytes, want %zu", path, len, strlen(text));
    cr_assert_eq(memcmp(buf, text, len), 0);
    lm_free(buf);
}

/* The temporary file of an atomic write to path by this process. */
static void tmp_of(char *buf, size_t n, const char *path) {
    snprintf(buf, n, "%s.tmp.%ld", path, (long) getpid());
}

Test(file, read_and_atomic_write_round_trip) {
    char path[256], tmp[300];
    lm_tmp_path(path, sizeof path, "atomic.bin");
    tmp_of(tmp, sizeof tmp, path);
    lm_err err = {0};
    cr_assert_eq(lm_file_write_atomic(path, "first version", 13, &err), LM_OK, "%s", err.msg);
    expect_content(path, "first version");
    cr_assert_eq(lm_file_write_atomic(path, "v2", 2, &err), LM_OK, "%s", err.msg);
    expect_content(path, "v2");
    cr_assert_eq(access(tmp, F_OK), -1, "the temporary file was left behind");
    cr_assert_eq(lm_file_write_atomic(path, "", 0, &err), LM_OK, "%s", err.msg);
    expect_content(path, "");
    unlink(path);
    LM_CHECK_LEAKS();
}

Test(file, read_grows_past_unknown_sizes) {
    /* /proc files report size 0: the reader must grow its buffer until EOF. */
    uint8_t *buf;
    size_t len;
    lm_err err = {0};
    cr_assert_eq(lm_file_read("/proc/self/maps", &buf, &len, &err), LM_OK, "%s", err.msg);
    cr_assert(len > 0);
    lm_free(buf);
    LM_CHECK_LEAKS();
}

Test(file, read_errors_name_the_path) {
    uint8_t *buf = NULL;
    size_t len = 0;
    lm_err err = {0};
    cr_assert_eq(lm_file_read("/nonexistent-lmech/x.bin", &buf, &len, &err), LM_EIO);
    cr_assert_str_eq(err.msg, "/nonexistent-lmech/x.bin: cannot open: No such file or directory");
    cr_assert_eq(lm_file_read("/", &buf, &len, &err), LM_EIO);
    cr_assert(strstr(err.msg, "/: is a directory"), "%s", err.msg);
    cr_assert_null(buf);
    LM_CHECK_LEAKS();
}

Test(file, write_into_missing_directory_is_eio_naming_the_path) {
    lm_err err = {0};
    cr_assert_eq(lm_file_write_atomic("/nonexistent-lmech/dir/out.bin", "x", 1, &err), LM_EIO);
    cr_assert(strstr(err.msg, "/nonexistent-lmech/dir/out.bin: cannot create the temporary file"),
              "%s", err.msg);
    cr_assert(strstr(err.msg, "No such file or directory"), "%s", err.msg);
    cr_assert_eq(lm_file_write_atomic("", "x", 1, &err), LM_EINVAL);
    LM_CHECK_LEAKS();
}

Test(file, write_loop_reports_enospc) {
    int fd = open("/dev/full", O_WRONLY);
    cr_assert(fd >= 0, "/dev/full: %s", strerror(errno));
    lm_err err = {0};
    char data[100] = {0};
    cr_assert_eq(lm__write_fd(fd, data, sizeof data, "out/ckpt.safetensors", &err), LM_EIO);
    close(fd);
    cr_assert_str_eq(err.msg,
                     "out/ckpt.safetensors: write failed after 0 of 100 bytes: No space left on "
                     "device");
    LM_CHECK_LEAKS();
}

Test(file, failed_write_leaves_the_target_and_no_temporary) {
    /* Start an atomic write, then swap its file descriptor for /dev/full: the next write fails
     * with ENOSPC exactly as on a full disk. */
    char path[256], tmp[300];
    lm_tmp_path(path, sizeof path, "full.bin");
    tmp_of(tmp, sizeof tmp, path);
    write_plain(path, "precious");
    lm__afile af;
    lm_err err = {0};
    cr_assert_eq(lm__afile_open(&af, path, &err), LM_OK, "%s", err.msg);
    cr_assert_eq(access(tmp, F_OK), 0, "the temporary file %s should exist while writing", tmp);
    int full = open("/dev/full", O_WRONLY);
    cr_assert(full >= 0);
    cr_assert(dup2(full, af.fd) >= 0);
    close(full);
    cr_assert_eq(lm__afile_write(&af, "new content", 11, &err), LM_EIO);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "No space left on device"), "%s", err.msg);
    /* later writes and the commit keep the first error and do not rename */
    cr_assert_eq(lm__afile_write(&af, "more", 4, NULL), LM_EIO);
    cr_assert_eq(lm__afile_commit(&af, NULL), LM_EIO);
    cr_assert_eq(access(tmp, F_OK), -1, "the temporary file was left behind");
    expect_content(path, "precious");
    unlink(path);
    LM_CHECK_LEAKS();
}

Test(file, file_size_limit_fails_public_writers_cleanly) {
    /* RLIMIT_FSIZE makes write(2) fail with EFBIG past 64 bytes (SIGXFSZ ignored): a real
     * failure in the middle of lm_file_write_atomic and lm_safetensors_write. Criterion forks
     * each test, so the limit stays in this process. */
    char path[256], tmp[300];
    lm_tmp_path(path, sizeof path, "fsize.bin");
    tmp_of(tmp, sizeof tmp, path);
    write_plain(path, "old");
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {64, 64};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    char big[200];
    memset(big, 'x', sizeof big);
    lm_err err = {0};
    cr_assert_eq(lm_file_write_atomic(path, big, sizeof big, &err), LM_EIO);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "write failed after 64 of 200 bytes"), "%s",
              err.msg);
    cr_assert_eq(access(tmp, F_OK), -1, "the temporary file was left behind");
    expect_content(path, "old");

    const size_t sh[] = {40};
    lm_array *a = NULL;
    cr_assert_eq(lm_array_new(LM_ELT_F64, 1, sh, &a, NULL), LM_OK);
    const lm_array *t[] = {a};
    const char *names[] = {"w"};
    cr_assert_eq(lm_safetensors_write(path, 1, names, t, 0, NULL, NULL, &err), LM_EIO);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
    cr_assert_eq(access(tmp, F_OK), -1, "the temporary file was left behind");
    expect_content(path, "old");
    cr_assert_eq(lm_npy_write(path, a, &err), LM_EIO);
    expect_content(path, "old");
    lm_array_free(a);
    unlink(path);
    LM_CHECK_LEAKS();
}

/* ---------------------------------------------------------------- .npy */

/* Reads path and checks numpy's v1.0 preamble; returns the header dict (without padding) in
 * dict and the data offset. */
static uint8_t *read_npy(const char *path, size_t *len, char *dict, size_t cap, size_t *data_off) {
    uint8_t *buf;
    lm_err err = {0};
    cr_assert_eq(lm_file_read(path, &buf, len, &err), LM_OK, "%s", err.msg);
    cr_assert(*len >= 10);
    cr_assert_eq(memcmp(buf, "\x93NUMPY\x01\x00", 8), 0);
    size_t hlen = (size_t) buf[8] | (size_t) buf[9] << 8;
    *data_off = 10 + hlen;
    cr_assert_eq(*data_off % 64, 0, "data starts at %zu", *data_off);
    cr_assert_eq(buf[*data_off - 1], '\n');
    size_t end = *data_off - 1;
    while (end > 10 && buf[end - 1] == ' ')
        end--;
    cr_assert(end - 10 < cap);
    memcpy(dict, buf + 10, end - 10);
    dict[end - 10] = '\0';
    return buf;
}

Test(npy, header_and_data_for_each_type) {
    struct {
        lm_elt elt;
        size_t ndim, shape[3];
        const char *dict;
    } cases[] = {
        {LM_ELT_F64, 2, {20, 12}, "{'descr': '<f8', 'fortran_order': False, 'shape': (20, 12), }"},
        {LM_ELT_F32, 1, {5}, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"},
        {LM_ELT_U8, 3, {2, 3, 4}, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3, 4), }"},
        {LM_ELT_I8, 1, {3}, "{'descr': '|i1', 'fortran_order': False, 'shape': (3,), }"},
        {LM_ELT_I16, 1, {3}, "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }"},
        {LM_ELT_I32, 2, {0, 4}, "{'descr': '<i4', 'fortran_order': False, 'shape': (0, 4), }"},
        {LM_ELT_I64, 0, {0}, "{'descr': '<i8', 'fortran_order': False, 'shape': (), }"},
    };
    char path[256], dict[256];
    lm_tmp_path(path, sizeof path, "a.npy");
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        lm_array *a = NULL;
        cr_assert_eq(lm_array_new(cases[c].elt, cases[c].ndim, cases[c].shape, &a, NULL), LM_OK);
        uint8_t *p = a->data;
        for (size_t i = 0; i < a->count * lm_elt_size(a->elt); i++)
            p[i] = (uint8_t) (3 * i + 1);
        lm_err err = {0};
        cr_assert_eq(lm_npy_write(path, a, &err), LM_OK, "%s", err.msg);
        size_t len, off;
        uint8_t *buf = read_npy(path, &len, dict, sizeof dict, &off);
        cr_assert_str_eq(dict, cases[c].dict);
        size_t bytes = a->count * lm_elt_size(a->elt);
        cr_assert_eq(len, off + bytes);
        cr_assert_eq(memcmp(buf + off, a->data, bytes), 0); /* little-endian host */
        lm_free(buf);
        lm_array_free(a);
    }
    unlink(path);
    LM_CHECK_LEAKS();
}

Test(npy, float64_values_survive) {
    const size_t sh[] = {2, 2};
    lm_array *a = NULL;
    cr_assert_eq(lm_array_new(LM_ELT_F64, 2, sh, &a, NULL), LM_OK);
    double *x = a->data;
    x[0] = 2.385;
    x[1] = -0.0;
    x[2] = 1e-300;
    x[3] = -7.25e17;
    char path[256], dict[256];
    lm_tmp_path(path, sizeof path, "v.npy");
    cr_assert_eq(lm_npy_write(path, a, NULL), LM_OK);
    size_t len, off;
    uint8_t *buf = read_npy(path, &len, dict, sizeof dict, &off);
    for (int i = 0; i < 4; i++) {
        uint64_t bits = 0, want;
        for (int b = 7; b >= 0; b--)
            bits = bits << 8 | buf[off + 8 * (size_t) i + (size_t) b];
        memcpy(&want, &x[i], 8);
        cr_assert_eq(bits, want, "element %d", i);
    }
    lm_free(buf);
    lm_array_free(a);
    unlink(path);
    LM_CHECK_LEAKS();
}

Test(npy, write_errors_name_the_path) {
    const size_t sh[] = {2};
    lm_array *a = NULL;
    cr_assert_eq(lm_array_new(LM_ELT_F32, 1, sh, &a, NULL), LM_OK);
    lm_err err = {0};
    cr_assert_eq(lm_npy_write("/nonexistent-lmech/a.npy", a, &err), LM_EIO);
    cr_assert(strstr(err.msg, "/nonexistent-lmech/a.npy"), "%s", err.msg);
    a->elt = (lm_elt) 99;
    cr_assert_eq(lm_npy_write("/tmp/never.npy", a, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "/tmp/never.npy"), "%s", err.msg);
    a->elt = LM_ELT_F32;
    lm_array_free(a);
    LM_CHECK_LEAKS();
}
