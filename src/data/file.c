/*
 * file.c: whole-file reads and shape strings for the data readers. Data files are read in one
 * piece (the largest, Fashion-MNIST's train images, is 26 MB gzipped), so parsers work on memory
 * and the same code serves files, tests and fuzzers.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

lm_status lm__file_read(const char *path, uint8_t **buf, size_t *len, lm_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        LM_FAIL(err, LM_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        LM_FAIL(err, LM_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        LM_FAIL(err, LM_EIO, "%s: not a regular file", path);
    }
    if (st.st_size < 0 || (uintmax_t) st.st_size > (uintmax_t) (SIZE_MAX / 2)) {
        fclose(f);
        LM_FAIL(err, LM_ERANGE, "%s: file too large (%jd bytes)", path, (intmax_t) st.st_size);
    }
    size_t size = (size_t) st.st_size;
    uint8_t *b = lm_malloc(size ? size : 1);
    if (!b) {
        fclose(f);
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory reading %zu bytes", path, size);
    }
    size_t got = size ? fread(b, 1, size, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    if (got != size || rerr) {
        lm_free(b);
        LM_FAIL(err, LM_EIO, "%s: read %zu of %zu bytes%s", path, got, size,
                rerr ? " (read error)" : " (file shrank while reading)");
    }
    *buf = b;
    *len = size;
    return LM_OK;
}

void lm__shape_str(char *buf, size_t n, size_t ndim, const size_t *shape) {
    if (n == 0)
        return;
    if (ndim == 0) {
        snprintf(buf, n, "scalar");
        return;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ndim && used < n; i++) {
        int w = snprintf(buf + used, n - used, i ? "x%zu" : "%zu", shape[i]);
        if (w < 0)
            break;
        used += (size_t) w;
    }
}
