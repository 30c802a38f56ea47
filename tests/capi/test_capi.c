/* test_capi.c: the flat entry points of capi.h that the Python package calls, from C: argument
 * and option errors with their messages, outputs untouched on failure, the run database read back
 * as JSON and arrays, and allocation failure at every step of loading a model and computing its
 * gradient and Hessian report (each fails with LM_ENOMEM, leaks nothing, or succeeds). */
#include "lm_test.h"
#include "lmech/capi.h"

#include <jansson.h>

static const char CFG[] =
    "{\"seed\": 2, \"data\": {\"source\": \"teacher\", \"dim\": 3, \"outputs\": 2, "
    "\"train_size\": 12, \"test_size\": 0}, \"model\": {\"widths\": [3, 5, 2], "
    "\"activation\": \"tanh\"}, \"loss\": \"mse\", \"steps\": 6, \"eval_every\": 3, "
    "\"threads\": 1}";

Test(capi, argument_errors) {
    lm_err err = {0};
    lm_capi_model *h = (lm_capi_model *) 0x1;
    cr_assert_eq(lm_capi_model_load(NULL, NULL, &h, &err), LM_EINVAL);
    cr_assert_eq(lm_capi_model_load("{\"model\": ", NULL, &h, &err), LM_EFORMAT);
    cr_assert(strstr(err.msg, "<config>"), "%s", err.msg);
    cr_assert_eq(lm_capi_model_load(CFG, "/nonexistent/ckpt.safetensors", &h, &err), LM_EIO);
    cr_assert(strstr(err.msg, "/nonexistent/ckpt.safetensors"), "%s", err.msg);
    cr_assert_eq(h, (lm_capi_model *) 0x1, "the output changed on failure");
    cr_assert_eq(lm_capi_model_load(CFG, NULL, &h, &err), LM_OK, "%s", err.msg);
    double x[6] = {0.3, -1.2, 0.7, 2.1, 0.05, -0.4}, y[4] = {0.5, -0.25, 1.5, 0.125}, loss = -7;
    double g[32], f[4];
    cr_assert_eq(lm_capi_model_n_params(h), 3 * 5 + 5 + 5 * 2 + 2);
    cr_assert_eq(lm_capi_model_loss_grad(h, x, y, 0, &loss, g, &err), LM_ESHAPE);
    cr_assert_eq(loss, -7);
    cr_assert_eq(lm_capi_model_forward(h, NULL, 2, f, &err), LM_EINVAL);
    char *out = NULL;
    cr_assert_eq(lm_capi_model_hessian(h, x, y, 2, "{\"topk\": 2}", &out, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "topk"), "%s", err.msg);
    cr_assert_eq(lm_capi_model_hessian(h, x, y, 2, "{\"method\": \"qr\"}", &out, &err), LM_EINVAL);
    cr_assert_eq(lm_capi_model_hessian(h, x, y, 2, "[1]", &out, &err), LM_EINVAL);
    cr_assert_eq(lm_capi_model_hessian(h, x, y, 2, "{\"top\": 99}", &out, &err), LM_EINVAL);
    cr_assert(strstr(err.msg, "32 parameters"), "%s", err.msg);
    cr_assert_null(out);
    double theta[32];
    for (size_t i = 0; i < 32; i++)
        theta[i] = LM_NAN;
    cr_assert_eq(lm_capi_model_set_params(h, theta, &err), LM_ENUMERIC);
    cr_assert_eq(lm_capi_model_loss_grad(h, x, y, 2, &loss, g, &err), LM_OK, "%s", err.msg);
    cr_assert(isfinite(loss));
    lm_capi_model_free(h);
    LM_CHECK_LEAKS();
}

Test(capi, the_run_database_read_back) {
    char db[256];
    lm_tmp_path(db, sizeof db, "capi.db");
    lm_err err = {0};
    char *res = NULL;
    cr_assert_eq(lm_capi_train(CFG, db, NULL, NULL, NULL, &res, &err), LM_OK, "%s", err.msg);
    json_t *r = json_loads(res, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "finished");
    const json_int_t id = json_integer_value(json_object_get(r, "run_id"));
    const double final =
        json_real_value(json_object_get(json_object_get(r, "final"), "train_loss"));
    json_decref(r);
    lm_capi_string_free(res);
    lm_store *s;
    cr_assert_eq(lm_store_open(db, &s, &err), LM_OK, "%s", err.msg);
    char *names = NULL;
    size_t n = 0;
    int64_t *steps = NULL, *which = NULL;
    double *values = NULL;
    cr_assert_eq(lm_capi_metrics(s, id, &names, &n, &steps, &values, &which, &err), LM_OK, "%s",
                 err.msg);
    json_t *nm = json_loads(names, 0, NULL);
    size_t k_loss = SIZE_MAX, last = SIZE_MAX;
    for (size_t i = 0; i < json_array_size(nm); i++)
        if (strcmp(json_string_value(json_array_get(nm, i)), "train_loss") == 0)
            k_loss = i;
    cr_assert_neq(k_loss, SIZE_MAX, "%s", names);
    for (size_t i = 0; i < n; i++) {
        cr_assert(i == 0 || steps[i] >= steps[i - 1], "rows not in step order");
        if (which[i] == (int64_t) k_loss)
            last = i;
    }
    cr_assert_eq(steps[last], 6);
    cr_assert_eq(values[last], final); /* the same double, through SQLite and back */
    json_decref(nm);
    lm_capi_string_free(names);
    lm_free(steps);
    lm_free(values);
    lm_free(which);
    char *txt = NULL;
    cr_assert_eq(lm_capi_runs(s, &txt, &err), LM_OK, "%s", err.msg);
    cr_assert(strstr(txt, "\"status\":\"finished\""), "%s", txt);
    lm_capi_string_free(txt);
    cr_assert_eq(lm_capi_run_config(s, id, &txt, &err), LM_OK, "%s", err.msg);
    cr_assert(strstr(txt, "\"widths\":[3,5,2]"), "%s", txt);
    lm_capi_string_free(txt);
    txt = NULL;
    cr_assert_eq(lm_capi_run_config(s, 999, &txt, &err), LM_ENOTFOUND);
    cr_assert_eq(lm_capi_metrics(s, 999, &names, &n, &steps, &values, &which, &err), LM_ENOTFOUND);
    cr_assert_eq(lm_capi_claims(s, "nope", &txt, &err), LM_ENOTFOUND);
    cr_assert(strstr(err.msg, "nope"), "%s", err.msg);
    cr_assert_eq(lm_capi_claims(s, NULL, &txt, &err), LM_OK, "%s", err.msg);
    cr_assert_str_eq(txt, "[]");
    lm_capi_string_free(txt);
    lm_store_close(s);
    unlink(db);
    LM_CHECK_LEAKS();
}

/* Loads the model, evaluates loss and gradient, runs a small Hessian report and the NTK. */
static lm_status session(lm_err *err) {
    lm_capi_model *h = NULL;
    LM_TRY(lm_capi_model_load(CFG, NULL, &h, err));
    double x[6] = {0.3, -1.2, 0.7, 2.1, 0.05, -0.4}, y[4] = {0.5, -0.25, 1.5, 0.125}, loss;
    double g[32], ntk[16];
    char *out = NULL;
    lm_status st = lm_capi_model_loss_grad(h, x, y, 2, &loss, g, err);
    if (st == LM_OK)
        st = lm_capi_model_hessian(h, x, y, 2, "{\"top\": 2, \"trace\": true, \"probes\": 4}", &out,
                                   err);
    if (st == LM_OK)
        st = lm_capi_model_ntk(h, x, 2, 0, ntk, NULL, err);
    lm_capi_string_free(out);
    lm_capi_model_free(h);
    return st;
}

Test(capi, allocation_failure_at_every_step) {
    const lm_allocator a = {lm_test_failing_alloc, lm_test_free, NULL};
    lm_set_allocator(&a);
    int k;
    for (k = 1; k < 10000; k++) {
        lm_err err = {0};
        lm_test_fail_at = k;
        lm_test_calls = 0;
        lm_status st = session(&err);
        if (lm_test_calls < k) { /* no allocation failed: the whole session ran */
            cr_assert_eq(st, LM_OK, "%s", err.msg);
            break;
        }
        cr_assert_eq(st, LM_ENOMEM, "allocation %d: %s (%s)", k, lm_status_str(st), err.msg);
    }
    lm_set_allocator(NULL);
    cr_assert_gt(k, 10, "the session made only %d allocations", k - 1);
    LM_CHECK_LEAKS();
}
