/* sb.c: the growable string of lmech/core.h (lm_sb). */
#include "lmech/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Room for at least `need` more bytes and the terminating NUL; 0 on failure (oom set). */
static int reserve(lm_sb *b, size_t need) {
    if (b->oom)
        return 0;
    if (b->p && b->len + need < b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap <= b->len + need)
        cap *= 2;
    char *np = lm_malloc(cap);
    if (!np) {
        b->oom = 1;
        return 0;
    }
    if (b->p)
        memcpy(np, b->p, b->len);
    np[b->len] = '\0';
    lm_free(b->p);
    b->p = np;
    b->cap = cap;
    return 1;
}

void lm_sb_put(lm_sb *b, const char *s, size_t len) {
    if (!reserve(b, len))
        return;
    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void lm_sb_puts(lm_sb *b, const char *s) {
    lm_sb_put(b, s, strlen(s));
}

void lm_sb_printf(lm_sb *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->oom = 1;
        return;
    }
    if (!reserve(b, (size_t) k))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t) k;
}
