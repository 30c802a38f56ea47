/* Tests for lm_sb (src/core/sb.c): appends of every kind grow the buffer and keep it
 * NUL-terminated; a formatted string longer than the initial capacity arrives whole; the
 * content equals what snprintf gives for the same sequence. */
#include "lm_test.h"
#include "lmech/core.h"

#include <string.h>

Test(sb, appends_grow_and_stay_terminated) {
    lm_sb b = {0};
    char want[8192];
    size_t w = 0;
    for (int i = 0; i < 500; i++) {
        lm_sb_printf(&b, "%d,", i);
        w += (size_t) snprintf(want + w, sizeof want - w, "%d,", i);
        cr_assert_eq(b.p[b.len], '\0');
    }
    lm_sb_puts(&b, "end");
    lm_sb_put(&b, "xyz", 2);
    w += (size_t) snprintf(want + w, sizeof want - w, "endxy");
    cr_assert_eq(b.len, w);
    cr_assert_str_eq(b.p, want);
    cr_assert(!b.oom);
    lm_free(b.p);
}

Test(sb, one_long_format) {
    lm_sb b = {0};
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    lm_sb_printf(&b, "<%s>", big);
    cr_assert_eq(b.len, sizeof big + 1);
    cr_assert_eq(b.p[0], '<');
    cr_assert_eq(b.p[b.len - 1], '>');
    cr_assert_eq(b.p[b.len], '\0');
    lm_free(b.p);
    LM_CHECK_LEAKS();
}
