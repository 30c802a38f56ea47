/*
 * test_curvature_check.c: curvature-check's judgement of the curvature tools (judge_tools) on an
 * explicit matrix with a known spectrum: the exact operator passes every claim, and corrupted
 * Hessian-vector products (scaled by 1.1, sign flipped) fail them: the negative controls of
 * science.md §4's curvature claims. The experiment's source is included so that its static
 * judgement is tested as it runs (its registry symbol renamed to keep the library's).
 */
#include "lm_test.h"

#define lm__exp_curvature_check lm__exp_curvature_check_under_test
#include "exp/exp_curvature_check.c"

#define P 300

typedef struct mat_op {
    const double *H;
    double scale; /* the corruption: 1 exact, 1.1 a scaled product, -1 a sign flip */
} mat_op;

static lm_status mat_apply(void *ud, const double *v, double *out, lm_err *err) {
    (void) err;
    const mat_op *o = ud;
    for (size_t i = 0; i < P; i++) {
        double a = 0;
        for (size_t j = 0; j < P; j++)
            a += o->H[i * P + j] * v[j];
        out[i] = o->scale * a;
    }
    return LM_OK;
}

/* H = R diag(lambda) R with R a product of 4 Householder reflectors; lambda_i = 10 x^3 - 2 (1 -
 * x)^3, x = i/P, descending: a spectrum in [-2, 10] with most of its mass near 0, like a trained
 * net's. */
static void make_matrix(double *H, double *evals) {
    for (size_t i = 0; i < P; i++) {
        const double x = (double) (P - 1 - i) / P;
        evals[i] = 10 * x * x * x - 2 * (1 - x) * (1 - x) * (1 - x);
    }
    memset(H, 0, P * P * sizeof *H);
    for (size_t i = 0; i < P; i++)
        H[i * P + i] = evals[i];
    lm_rng rng;
    lm_rng_seed(&rng, 42, 0);
    double u[P], w[P];
    for (int r = 0; r < 4; r++) {
        double nn = 0;
        for (size_t i = 0; i < P; i++) {
            u[i] = lm_rng_normal(&rng);
            nn += u[i] * u[i];
        }
        for (size_t i = 0; i < P; i++)
            u[i] /= sqrt(nn);
        /* H <- (I - 2uu^T) H (I - 2uu^T) = H - 2 u w^T - 2 w u^T + 4 (u^T w) u u^T, w = H u */
        double uw = 0;
        for (size_t i = 0; i < P; i++) {
            w[i] = 0;
            for (size_t j = 0; j < P; j++)
                w[i] += H[i * P + j] * u[j];
            uw += u[i] * w[i];
        }
        for (size_t i = 0; i < P; i++)
            for (size_t j = 0; j < P; j++)
                H[i * P + j] += -2 * u[i] * w[j] - 2 * w[i] * u[j] + 4 * uw * u[i] * u[j];
    }
}

/* Judges the tools on H scaled by `scale` against H's own spectrum; returns the context. */
static lm_exp_ctx *judge_with(double scale) {
    static double H[P * P], evals[P];
    make_matrix(H, evals);
    truth t = {P, evals, 0, 0};
    for (size_t i = 0; i < P; i++)
        t.trace += evals[i];
    lm_exp_ctx *ctx = calloc(1, sizeof *ctx);
    cr_assert_not_null(ctx);
    lm_curv_ws *cws = NULL;
    lm_err err = {0};
    cr_assert_eq(lm_curv_ws_new(P, 200, &cws, &err), LM_OK, "%s", err.msg);
    double nodes[SLQ_PROBES * SLQ_STEPS], weights[SLQ_PROBES * SLQ_STEPS];
    tools o = {.nodes = nodes, .weights = weights};
    mat_op op = {H, scale};
    cr_assert_eq(judge_tools(ctx, mat_apply, &op, &t, cws, &o, 0, NULL, &err), LM_OK, "%s",
                 err.msg);
    lm_curv_ws_free(cws);
    cr_assert_eq(ctx->n_claims, 4);
    return ctx;
}

static lm_verdict verdict(const lm_exp_ctx *ctx, const char *name) {
    for (size_t i = 0; i < ctx->n_claims; i++)
        if (strcmp(ctx->claims[i].name, name) == 0) {
            const lm_claim *c = &ctx->claims[i];
            cr_assert(isfinite(c->uncertainty) && c->uncertainty >= 0, "%s: u = %g", name,
                      c->uncertainty);
            cr_assert(c->predicted_value == 0.0, "%s stores the predicted error 0", name);
            return c->verdict;
        }
    cr_assert_fail("no claim %s", name);
    return LM_VERDICT_INCONCLUSIVE;
}

Test(curvature_check, the_exact_operator_passes_every_claim) {
    lm_exp_ctx *ctx = judge_with(1.0);
    for (size_t i = 0; i < ctx->n_claims; i++)
        cr_assert_eq(ctx->claims[i].verdict, LM_VERDICT_PASS, "%s: %g +- %g (%s)",
                     ctx->claims[i].name, ctx->claims[i].measured, ctx->claims[i].uncertainty,
                     ctx->claims[i].detail);
    free(ctx);
}

Test(curvature_check, a_product_scaled_by_1_1_fails_lanczos_and_hutchinson) {
    lm_exp_ctx *ctx = judge_with(1.1);
    cr_assert_eq(verdict(ctx, "lanczos-top3"), LM_VERDICT_FAIL);
    cr_assert_eq(verdict(ctx, "lanczos-smallest"), LM_VERDICT_FAIL);
    cr_assert_eq(verdict(ctx, "hutchinson-trace"), LM_VERDICT_FAIL, "%s", ctx->claims[2].detail);
    free(ctx);
}

Test(curvature_check, a_sign_flipped_product_fails_every_claim) {
    lm_exp_ctx *ctx = judge_with(-1.0);
    for (size_t i = 0; i < ctx->n_claims; i++)
        cr_assert_eq(ctx->claims[i].verdict, LM_VERDICT_FAIL, "%s: %g +- %g", ctx->claims[i].name,
                     ctx->claims[i].measured, ctx->claims[i].uncertainty);
    free(ctx);
}
