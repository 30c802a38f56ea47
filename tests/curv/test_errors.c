/* test_errors.c: every error path of the curvature module: bad arguments, a failing or NaN
 * operator, the dense size limit, allocation failure; outputs stay unchanged on failure. */
#include "lm_test.h"
#include "lmech/curv.h"

#include <string.h>

#define PI 3.14159265358979323846

typedef struct badop {
    size_t calls, fail_at; /* fail on call number fail_at (1-based) */
    int nan;               /* 1: return NaN instead of an error */
} badop;

static lm_status bad_apply(void *ud, const double *v, double *out, lm_err *err) {
    badop *b = ud;
    b->calls++;
    for (size_t i = 0; i < 8; i++)
        out[i] = 1.5 * v[i] + (i > 0 ? 0.25 * v[i - 1] : 0) + (i < 7 ? 0.25 * v[i + 1] : 0);
    if (b->calls == b->fail_at) {
        if (b->nan) {
            out[3] = LM_NAN;
            return LM_OK;
        }
        LM_FAIL(err, LM_EIO, "operator failed on call %zu", b->calls);
    }
    return LM_OK;
}

Test(curv_errors, workspace) {
    lm_err err = {0};
    lm_curv_ws *ws = (lm_curv_ws *) 0x1;
    cr_assert_eq(lm_curv_ws_new(0, 1, &ws, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "p = 0"), "%s", err.msg);
    cr_assert_eq(lm_curv_ws_new(8, 9, &ws, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "max_iter = 9"), "%s", err.msg);
    cr_assert_eq(ws, (lm_curv_ws *) 0x1, "out untouched on failure");
    cr_assert_eq(lm_curv_ws_bytes((size_t) 1 << 40, (size_t) 1 << 30), SIZE_MAX);
    lm_curv_ws_free(NULL);
    LM_CHECK_LEAKS();
}

static int fail_from; /* the allocation number that fails (1-based) */
static int n_alloc;
static void *failing_alloc(void *ud, size_t size) {
    (void) ud;
    return ++n_alloc >= fail_from ? NULL : malloc(size);
}
static void plain_release(void *ud, void *ptr) {
    (void) ud;
    free(ptr);
}

Test(curv_errors, out_of_memory) {
    lm_allocator a = {failing_alloc, plain_release, NULL};
    for (fail_from = 1; fail_from <= 2; fail_from++) {
        n_alloc = 0;
        lm_set_allocator(&a);
        lm_err err = {0};
        lm_curv_ws *ws = NULL;
        lm_status st = lm_curv_ws_new(16, 4, &ws, &err);
        lm_set_allocator(NULL);
        cr_assert_eq(st, LM_ENOMEM, "allocation %d", fail_from);
        cr_assert_null(ws);
    }
    LM_CHECK_LEAKS();
}

Test(curv_errors, lanczos_arguments_and_operator_failures) {
    enum { P = 8 };
    lm_err err = {0};
    lm_curv_ws *ws = NULL, *ws7 = NULL;
    cr_assert_eq(lm_curv_ws_new(P, 6, &ws, &err), LM_OK);
    cr_assert_eq(lm_curv_ws_new(7, 6, &ws7, &err), LM_OK);
    badop b = {0, 0, 0};
    lm_curv_lanczos_opts o = lm_curv_lanczos_opts_default();
    double ev[2] = {42, 42}, res[2];
    o.k = 0;
    cr_assert_eq(lm_curv_lanczos(bad_apply, &b, P, &o, ws, ev, NULL, res, NULL, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "k = 0"), "%s", err.msg);
    o.k = 1;
    o.tol = LM_NAN;
    cr_assert_eq(lm_curv_lanczos(bad_apply, &b, P, &o, ws, ev, NULL, res, NULL, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "tol"), "%s", err.msg);
    o.tol = 1e-6;
    o.max_iter = 7;
    cr_assert_eq(lm_curv_lanczos(bad_apply, &b, P, &o, ws, ev, NULL, res, NULL, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "max_iter = 7"), "%s", err.msg);
    o.max_iter = 0;
    cr_assert_eq(lm_curv_lanczos(bad_apply, &b, P, &o, ws7, ev, NULL, res, NULL, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "p = 7"), "%s", err.msg);
    double zero[P] = {0};
    o.start = zero;
    o.n_start = 1;
    cr_assert_eq(lm_curv_lanczos(bad_apply, &b, P, &o, ws, ev, NULL, res, NULL, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "start vector 0"), "%s", err.msg);
    o.n_start = 0;
    b.fail_at = 3;
    cr_assert_eq(lm_curv_lanczos(bad_apply, &b, P, &o, ws, ev, NULL, res, NULL, &err), LM_EIO);
    cr_assert(strstr(err.msg, "call 3"), "%s", err.msg);
    b = (badop){0, 2, 1};
    cr_assert_eq(lm_curv_lanczos(bad_apply, &b, P, &o, ws, ev, NULL, res, NULL, &err), LM_ENUMERIC);
    cr_assert(strstr(err.msg, "non-finite"), "%s", err.msg);
    cr_assert(ev[0] == 42 && ev[1] == 42, "outputs unchanged on failure");
    /* and it works when nothing fails: eigenvalues of the tridiagonal Toeplitz matrix
     * 1.5 + 0.5 cos(k pi / 9) */
    b = (badop){0, 0, 0};
    o.k = 2;
    o.max_iter = 0;
    lm_curv_ws *ws8 = NULL;
    cr_assert_eq(lm_curv_ws_new(P, P, &ws8, &err), LM_OK);
    lm_curv_lanczos_info info;
    cr_assert_eq(lm_curv_lanczos(bad_apply, &b, P, &o, ws8, ev, NULL, res, &info, &err), LM_OK,
                 "%s", err.msg);
    cr_assert(lm_close(ev[0], 1.5 + 0.5 * cos(PI / 9), 1e-12, 0), "%.17g", ev[0]);
    cr_assert(lm_close(ev[1], 1.5 + 0.5 * cos(2 * PI / 9), 1e-12, 0), "%.17g", ev[1]);
    cr_assert_eq(info.n_ops, b.calls);

    double est = 42, se = 42, nodes[P * 2], w[P * 2], grid[4], val[4];
    cr_assert_eq(lm_curv_hutchinson(bad_apply, &b, P, 1, 0, ws, &est, &se, NULL, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "1 probes"), "%s", err.msg);
    cr_assert_eq(lm_curv_hutchinson(bad_apply, &b, 7, 10, 0, ws, &est, &se, NULL, &err), LM_EINVAL);
    b = (badop){0, 4, 1};
    cr_assert_eq(lm_curv_hutchinson(bad_apply, &b, P, 10, 0, ws, &est, &se, NULL, &err),
                 LM_ENUMERIC);
    cr_assert(strstr(err.msg, "probe 3"), "%s", err.msg);
    cr_assert(est == 42 && se == 42);
    cr_assert_eq(lm_curv_slq(bad_apply, &b, P, 2, 7, 0, ws, nodes, w, NULL, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "m = 7"), "%s", err.msg);
    b = (badop){0, 1, 0};
    cr_assert_eq(lm_curv_slq(bad_apply, &b, P, 2, 3, 0, ws, nodes, w, NULL, &err), LM_EIO);
    cr_assert_eq(lm_curv_density(1, 1, nodes, w, 1, 0, grid, val, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "1 bins"), "%s", err.msg);
    nodes[0] = 1;
    w[0] = -1;
    cr_assert_eq(lm_curv_density(1, 1, nodes, w, 4, 0, grid, val, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "node 0 of probe 0"), "%s", err.msg);
    lm_curv_ws_free(ws);
    lm_curv_ws_free(ws7);
    lm_curv_ws_free(ws8);
    LM_CHECK_LEAKS();
}

Test(curv_errors, dense_limits_and_failures) {
    enum { P = 8 };
    lm_err err = {0};
    double H[P * P];
    badop b = {0, 0, 0};
    cr_assert_eq(lm_curv_dense(bad_apply, &b, P, 7, H, NULL, &err), LM_ELIMIT);
    cr_assert(strstr(err.msg, "p = 8") && strstr(err.msg, "limit of 7"), "%s", err.msg);
    cr_assert_eq(b.calls, 0, "refused before any product");
    b.fail_at = 5;
    cr_assert_eq(lm_curv_dense(bad_apply, &b, P, P, H, NULL, &err), LM_EIO);
    b = (badop){0, 5, 1};
    cr_assert_eq(lm_curv_dense(bad_apply, &b, P, P, H, NULL, &err), LM_ENUMERIC);
    cr_assert(strstr(err.msg, "entry (4, 3)"), "%s", err.msg);
    b = (badop){0, 0, 0};
    double asym = -1, ev[P], vec[2 * P];
    cr_assert_eq(lm_curv_dense(bad_apply, &b, P, P, H, &asym, &err), LM_OK);
    cr_assert_eq(asym, 0.0, "an exactly symmetric operator");
    cr_assert_eq(lm_curv_dense_eig(P, H, ev, P + 1, vec, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "k = 9"), "%s", err.msg);
    cr_assert_eq(lm_curv_dense_eig(P, H, ev, 2, vec, &err), LM_OK, "%s", err.msg);
    for (int i = 0; i < P; i++)
        cr_assert(lm_close(ev[i], 1.5 + 0.5 * cos((i + 1) * PI / 9), 1e-13, 1), "%d: %.17g", i,
                  ev[i]);
    LM_CHECK_LEAKS();
}
