/*
 * claim.c: the verdict rule of science.md §0 and the claims an analysis records.
 *
 * A measurement m carries u, the half-width of its 95 % interval (2 standard errors over seeds,
 * a bootstrap interval, or a numerical error bound; 0 only for an exact computation). Against
 * the tolerance interval [lo, hi]:
 *
 *   pass          lo <= m - u and m + u <= hi   (the whole interval inside)
 *   fail          m + u < lo or m - u > hi      (the whole interval outside)
 *   inconclusive  otherwise: it straddles an edge, or m or u could not be measured
 *
 * An inconclusive straddle gets a power estimate: with u ~ 1/sqrt(n) over n seeds, the interval
 * stops straddling an edge at distance d from m once u' = u sqrt(n / n') < d, so
 * n' = n (u / d)^2 seeds would decide it if the spread holds.
 */
#include "exp/internal.h"

#include "core/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void copy(char *dst, size_t n, const char *src) {
    snprintf(dst, n, "%s", src ? src : "");
}

/* Appends printf text to a claim's detail, separated by "; " from what is there. */
static void detail_add(lm_claim *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void detail_add(lm_claim *c, const char *fmt, ...) {
    size_t len = strlen(c->detail);
    if (len + 3 >= sizeof c->detail)
        return;
    if (len) {
        memcpy(c->detail + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail + len, sizeof c->detail - len, fmt, ap);
    va_end(ap);
}

lm_verdict lm_exp_verdict(double m, double u, double lo, double hi) {
    if (!isfinite(m) || !isfinite(u) || u < 0 || isnan(lo) || isnan(hi))
        return LM_VERDICT_INCONCLUSIVE;
    if (m - u >= lo && m + u <= hi)
        return LM_VERDICT_PASS;
    if (m + u < lo || m - u > hi)
        return LM_VERDICT_FAIL;
    return LM_VERDICT_INCONCLUSIVE;
}

/* Why a straddling interval is undecided, and roughly what would decide it. */
static void explain_straddle(lm_claim *c, double m, double u, double lo, double hi,
                             size_t n_seeds) {
    /* the edge (or edges) the interval [m - u, m + u] crosses, and m's distance to the nearer */
    double d = LM_INF, edge = LM_NAN;
    if (isfinite(lo) && m - u < lo && m + u >= lo && fabs(m - lo) < d) {
        d = fabs(m - lo);
        edge = lo;
    }
    if (isfinite(hi) && m + u > hi && m - u <= hi && fabs(m - hi) < d) {
        d = fabs(m - hi);
        edge = hi;
    }
    if (!isfinite(edge))
        return;
    if (!(d > 0)) {
        detail_add(c,
                   "inconclusive: the measurement %.4g sits on the edge %.4g, so no number of "
                   "seeds decides it",
                   m, edge);
        return;
    }
    if (n_seeds >= 2) {
        const double need = (double) n_seeds * (u / d) * (u / d);
        detail_add(c,
                   "inconclusive: [%.4g, %.4g] straddles the edge %.4g; about %.0f seeds (now "
                   "%zu) would decide it if the spread holds",
                   m - u, m + u, edge, ceil(need), n_seeds);
    } else {
        detail_add(c,
                   "inconclusive: [%.4g, %.4g] straddles the edge %.4g; a measurement %.2gx as "
                   "precise would decide it",
                   m - u, m + u, edge, d / u);
    }
}

lm_claim *lm_exp_judge(lm_exp_ctx *ctx, const lm_claim_spec *sp) {
    if (ctx->n_claims == LM_EXP_MAX_CLAIMS)
        return NULL;
    lm_claim *c = &ctx->claims[ctx->n_claims++];
    memset(c, 0, sizeof *c);
    copy(c->name, sizeof c->name, sp->name);
    copy(c->predicted, sizeof c->predicted, sp->predicted);
    c->predicted_value = sp->predicted_value;
    c->measured = sp->measured;
    c->uncertainty = sp->uncertainty;
    copy(c->tolerance, sizeof c->tolerance, sp->tolerance);
    c->tolerance_value = sp->tolerance_value;
    copy(c->reason, sizeof c->reason, sp->reason);
    copy(c->detail, sizeof c->detail, sp->detail);
    c->n_runs = sp->n_runs < LM_CLAIM_MAX_RUNS ? sp->n_runs : LM_CLAIM_MAX_RUNS;
    for (size_t i = 0; i < c->n_runs; i++)
        c->runs[i] = sp->runs[i];
    const double m = sp->measured, u = sp->uncertainty;
    if (sp->reported) {
        c->verdict = LM_VERDICT_REPORTED;
        c->lo = c->hi = LM_NAN;
        if (sp->uncertainty_from)
            detail_add(c, "u: %s", sp->uncertainty_from);
        return c;
    }
    c->lo = sp->lo;
    c->hi = sp->hi;
    if (sp->uncertainty_from && isfinite(m))
        detail_add(c, "u: %s", sp->uncertainty_from);
    if (sp->unmet) {
        c->verdict = LM_VERDICT_INCONCLUSIVE;
        detail_add(c, "inconclusive: precondition not met: %s", sp->unmet);
        return c;
    }
    if (!isfinite(m)) {
        c->verdict = LM_VERDICT_INCONCLUSIVE;
        if (!strstr(c->detail, "inconclusive"))
            detail_add(c, "inconclusive: the measurement could not be made");
        return c;
    }
    if (!sp->uncertainty_from || !isfinite(u) || u < 0) {
        /* without an interval nothing is decided: the detail's "u:" says why it is missing, or
         * the analysis gave no source for it at all (a bug) */
        c->verdict = LM_VERDICT_INCONCLUSIVE;
        if (sp->uncertainty_from)
            detail_add(c, "inconclusive: %.6g has no uncertainty, so nothing decides it", m);
        else
            detail_add(c, "inconclusive: no uncertainty was given for %.6g (a bug in the analysis)",
                       m);
        return c;
    }
    c->verdict = lm_exp_verdict(m, u, sp->lo, sp->hi);
    if (c->verdict == LM_VERDICT_INCONCLUSIVE)
        explain_straddle(c, m, u, sp->lo, sp->hi, sp->n_seeds);
    return c;
}

const char *lm_exp_precondition(lm_exp_ctx *ctx, const char *name, int met, double value,
                                const char *statement, const char *why) {
    char full[96];
    snprintf(full, sizeof full, "precondition: %s", name);
    lm_claim *c = lm_exp_judge(ctx, &(lm_claim_spec){
                                        .name = full,
                                        .predicted = statement,
                                        .predicted_value = LM_NAN,
                                        .measured = value,
                                        .uncertainty = LM_NAN,
                                        .tolerance = statement,
                                        .tolerance_value = LM_NAN,
                                        .reason = "checked, not counted: the claims resting on it "
                                                  "are inconclusive when it does not hold",
                                        .reported = 1,
                                    });
    if (c)
        detail_add(c, met ? "holds" : "does NOT hold: %s", why ? why : "");
    return met ? NULL : (why ? why : name);
}

/* ---------------------------------------------------------------- series */

lm_status lm_exp_series(const lm_exp_ctx *ctx, int64_t run, const char *name, size_t cap,
                        int64_t *steps, double *values, size_t *n, lm_err *err) {
    size_t total = 0;
    LM_TRY(lm_store_get_series(ctx->store, run, name, cap, steps, values, n, &total, err));
    if (total > cap)
        LM_FAIL(err, LM_ELIMIT,
                "run %lld has %zu \"%s\" records, more than the %zu this analysis holds",
                (long long) run, total, name, cap);
    return LM_OK;
}

lm_status lm_exp_series_alloc(const lm_exp_ctx *ctx, int64_t run, const char *name, int64_t **steps,
                              double **values, size_t *n, lm_err *err) {
    size_t total = 0, got = 0;
    *values = NULL;
    if (steps)
        *steps = NULL;
    *n = 0;
    LM_TRY(lm_store_get_series(ctx->store, run, name, 0, NULL, NULL, &got, &total, err));
    if (total == 0)
        return LM_OK;
    double *v = lm_malloc(total * sizeof *v);
    int64_t *s = steps ? lm_malloc(total * sizeof *s) : NULL;
    if (!v || (steps && !s)) {
        lm_free(v);
        lm_free(s);
        LM_FAIL(err, LM_ENOMEM, "out of memory for %zu records of \"%s\" (run %lld)", total, name,
                (long long) run);
    }
    /* a run still being written could have grown between the two reads: read what fits */
    lm_status st = lm_store_get_series(ctx->store, run, name, total, s, v, &got, &total, err);
    if (st != LM_OK) {
        lm_free(v);
        lm_free(s);
        return st;
    }
    *values = v;
    if (steps)
        *steps = s;
    *n = got;
    return LM_OK;
}

lm_status lm__exp_analyse(const lm_experiment *e, lm_exp_ctx *ctx, lm_err *err) {
    const uint64_t failed0 = lm__alloc_failures();
    lm_status st = e->analyse_with ? e->analyse_with(e, ctx, err) : e->analyse(ctx, err);
    const uint64_t failed = lm__alloc_failures() - failed0;
    if (st == LM_OK && failed > 0) {
        ctx->n_claims = 0;
        LM_FAIL(err, LM_ENOMEM,
                "%s: out of memory during the analysis (%llu allocations failed): no claims "
                "recorded",
                e->name, (unsigned long long) failed);
    }
    return st;
}
