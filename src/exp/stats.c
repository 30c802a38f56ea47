/*
 * stats.c: the statistics every analysis shares: the least-squares line of the width, alpha and
 * sweep laws, and the uncertainty of a measurement over seeds (science.md §0: the half-width of
 * a 95 % interval: 2 standard errors of a mean, or a percentile bootstrap over seeds).
 */
#include "exp/internal.h"

#include <stdlib.h>
#include <string.h>

size_t lm__exp_fit_slope(size_t n, const double *x, const double *y, double *slope, double *se) {
    double sx = 0, sy = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) {
            sx += x[i];
            sy += y[i];
            k++;
        }
    *slope = LM_NAN;
    if (se)
        *se = LM_NAN;
    if (k < 2)
        return k;
    const double mx = sx / (double) k, my = sy / (double) k;
    double sxy = 0, sxx = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
        }
    if (!(sxx > 0))
        return k;
    *slope = sxy / sxx;
    if (se && k >= 3) {
        double rss = 0;
        for (size_t i = 0; i < n; i++)
            if (isfinite(x[i]) && isfinite(y[i])) {
                const double e = y[i] - my - *slope * (x[i] - mx);
                rss += e * e;
            }
        *se = sqrt(rss / (double) (k - 2) / sxx);
    }
    return k;
}

/* ---------------------------------------------------------------- uncertainty over seeds */

size_t lm__exp_mean_u(size_t n, const double *x, double *mean, double *u) {
    double s = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) {
            s += x[i];
            k++;
        }
    *mean = k ? s / (double) k : LM_NAN;
    *u = LM_NAN;
    if (k < 2)
        return k;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]))
            ss += (x[i] - *mean) * (x[i] - *mean);
    *u = 2.0 * sqrt(ss / (double) (k - 1) / (double) k);
    return k;
}

static int cmp_dbl(const void *a, const void *b) {
    const double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

double lm__exp_median_sort(double *x, size_t k) {
    qsort(x, k, sizeof *x, cmp_dbl);
    return k % 2 ? x[k / 2] : 0.5 * (x[k / 2 - 1] + x[k / 2]);
}

/* The percentile 95 % interval of k bootstrap replicates r (sorted in place), or -1 when more
 * than 5 % of the LM__EXP_BOOT resamples gave no value (a resample of identical seeds gives no
 * slope, say). */
static int percentile_95(double *r, size_t k, double *lo, double *hi) {
    if (k < LM__EXP_BOOT - LM__EXP_BOOT / 20)
        return -1;
    qsort(r, k, sizeof *r, cmp_dbl);
    *lo = r[(size_t) floor(0.025 * (double) (k - 1))];
    *hi = r[(size_t) ceil(0.975 * (double) (k - 1))];
    return 0;
}

typedef struct median_ud {
    const double *x;
    double *tmp;
} median_ud;

static double median_stat(void *ud, const size_t *idx, size_t n) {
    median_ud *m = ud;
    for (size_t i = 0; i < n; i++)
        m->tmp[i] = m->x[idx[i]];
    return lm__exp_median_sort(m->tmp, n);
}

size_t lm__exp_median_u(size_t n, const double *x, uint64_t seed, double *median, double *u) {
    *median = *u = LM_NAN;
    double *f = lm_malloc((2 * n + 1) * sizeof *f);
    if (!f)
        return 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]))
            f[k++] = x[i];
    if (k) {
        double *tmp = f + n;
        memcpy(tmp, f, k * sizeof *f);
        *median = lm__exp_median_sort(tmp, k);
        if (k >= 2) {
            median_ud m = {f, tmp};
            double lo, hi;
            if (lm__exp_bootstrap(k, median_stat, &m, seed, &lo, &hi) == 0)
                *u = fmax(*median - lo, hi - *median);
        }
    }
    lm_free(f);
    return k;
}

int lm__exp_bootstrap(size_t n, lm__exp_stat_fn stat, void *ud, uint64_t seed, double *lo,
                      double *hi) {
    *lo = *hi = LM_NAN;
    double *r = lm_malloc(LM__EXP_BOOT * sizeof *r);
    size_t *idx = lm_malloc((n ? n : 1) * sizeof *idx);
    if (!r || !idx) {
        lm_free(r);
        lm_free(idx);
        return -1;
    }
    lm_rng rng;
    lm_rng_seed(&rng, seed, 0xb0075u);
    size_t k = 0;
    for (size_t b = 0; b < LM__EXP_BOOT; b++) {
        for (size_t i = 0; i < n; i++)
            idx[i] = (size_t) lm_rng_below(&rng, n);
        const double v = stat(ud, idx, n);
        if (isfinite(v))
            r[k++] = v;
    }
    /* replicates whose statistic is undefined are dropped */
    const int rc = percentile_95(r, k, lo, hi);
    lm_free(r);
    lm_free(idx);
    return rc;
}

typedef struct slope_ud {
    size_t nx, ns;
    const double *x, *y;
    double *mean;
} slope_ud;

/* The slope of the per-x mean over the seeds idx[0..n) (a seed whose y is NaN at some x is
 * left out of that x's mean). */
static double slope_stat(void *ud, const size_t *idx, size_t n) {
    slope_ud *s = ud;
    for (size_t j = 0; j < s->nx; j++) {
        double acc = 0;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const double v = s->y[idx[i] * s->nx + j];
            if (isfinite(v)) {
                acc += v;
                k++;
            }
        }
        s->mean[j] = k ? acc / (double) k : LM_NAN;
    }
    return lm__exp_slope(s->nx, s->x, s->mean);
}

size_t lm__exp_slope_u(size_t nx, const double *x, size_t ns, const double *y, uint64_t seed,
                       double *slope, double *u) {
    *slope = *u = LM_NAN;
    double *mean = lm_malloc((nx ? nx : 1) * sizeof *mean);
    size_t *all = lm_malloc((ns ? ns : 1) * sizeof *all);
    if (!mean || !all) {
        lm_free(mean);
        lm_free(all);
        return 0;
    }
    for (size_t i = 0; i < ns; i++)
        all[i] = i;
    slope_ud s = {nx, ns, x, y, mean};
    *slope = slope_stat(&s, all, ns);
    size_t used = 0;
    for (size_t j = 0; j < nx; j++)
        used += isfinite(x[j]) && isfinite(mean[j]);
    if (ns >= 2) {
        double lo, hi;
        if (lm__exp_bootstrap(ns, slope_stat, &s, seed, &lo, &hi) == 0)
            *u = fmax(*slope - lo, hi - *slope);
    } else if (ns == 1) {
        double b, se;
        lm__exp_fit_slope(nx, x, mean, &b, &se);
        *u = 2 * se;
    }
    lm_free(mean);
    lm_free(all);
    return used;
}

/* Groups of equal x: g[i] = the group of point i, gx[k] its x; returns the number of groups. */
static size_t group_by_x(size_t n, const double *x, size_t *g, double *gx) {
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < ng && gx[k] != x[i])
            k++;
        if (k == ng)
            gx[ng++] = x[i];
        g[i] = k;
    }
    return ng;
}

/* The slope of log(group mean of y) against log(x) for the points idx[0..n). */
static double loglog_slope(size_t n, const size_t *idx, const size_t *g, const double *gx,
                           size_t ng, const double *y, double *sum, size_t *cnt, double *lx,
                           double *ly) {
    for (size_t k = 0; k < ng; k++) {
        sum[k] = 0;
        cnt[k] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        sum[g[idx[i]]] += y[idx[i]];
        cnt[g[idx[i]]]++;
    }
    size_t m = 0;
    for (size_t k = 0; k < ng; k++)
        if (cnt[k] && gx[k] > 0 && sum[k] > 0) {
            lx[m] = log(gx[k]);
            ly[m] = log(sum[k] / (double) cnt[k]);
            m++;
        }
    return m == ng ? lm__exp_slope(m, lx, ly) : LM_NAN;
}

size_t lm__exp_loglog_slope_u(size_t n, const double *x, const double *y, uint64_t seed,
                              double *slope, double *u, int *seeds) {
    *slope = *u = LM_NAN;
    *seeds = 0;
    /* index scratch: group of each point, counts, a resample, members by group, group starts */
    size_t *iw = lm_malloc(5 * (n + 1) * sizeof *iw);
    double *w = lm_malloc(4 * (n + 1) * sizeof *w);
    double *rep = lm_malloc(LM__EXP_BOOT * sizeof *rep);
    size_t ng = 0;
    if (!iw || !w || !rep)
        goto done;
    size_t *g = iw, *cnt = iw + n + 1, *idx = iw + 2 * (n + 1), *members = iw + 3 * (n + 1);
    size_t *gstart = iw + 4 * (n + 1);
    double *gx = w, *sum = w + n + 1, *lx = w + 2 * (n + 1), *ly = w + 3 * (n + 1);
    ng = group_by_x(n, x, g, gx);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    *slope = loglog_slope(n, idx, g, gx, ng, y, sum, cnt, lx, ly);
    if (!isfinite(*slope))
        goto done;
    size_t pos = 0, replicated = 0;
    for (size_t k = 0; k < ng; k++) {
        gstart[k] = pos;
        for (size_t i = 0; i < n; i++)
            if (g[i] == k)
                members[pos++] = i;
        replicated |= pos - gstart[k] >= 2;
    }
    gstart[ng] = pos;
    if (!replicated) { /* one run per x: the regression's own standard error */
        double b, se;
        lm__exp_fit_slope(ng, lx, ly, &b, &se);
        *u = 2 * se;
        goto done;
    }
    *seeds = 1;
    /* stratified bootstrap: each x keeps its number of runs, resampled among its own */
    lm_rng rng;
    lm_rng_seed(&rng, seed, 0x51093u);
    size_t kept = 0;
    for (size_t b = 0; b < LM__EXP_BOOT; b++) {
        size_t m = 0;
        for (size_t k = 0; k < ng; k++) {
            const size_t size = gstart[k + 1] - gstart[k];
            for (size_t j = 0; j < size; j++)
                idx[m++] = members[gstart[k] + (size_t) lm_rng_below(&rng, size)];
        }
        const double v = loglog_slope(m, idx, g, gx, ng, y, sum, cnt, lx, ly);
        if (isfinite(v))
            rep[kept++] = v;
    }
    double lo, hi;
    if (percentile_95(rep, kept, &lo, &hi) == 0)
        *u = fmax(*slope - lo, hi - *slope);
done:
    lm_free(iw);
    lm_free(w);
    lm_free(rep);
    return ng;
}

/* max over rows i of |mean of row i's replicates / ref[i] - 1|; idx (NULL: as stored) picks each
 * row's resample */
static double max_rel_dev(size_t rows, const size_t *cnt, size_t stride, const double *x,
                          const double *ref, const size_t *idx) {
    double worst = 0;
    for (size_t i = 0; i < rows; i++) {
        double s = 0;
        for (size_t t = 0; t < cnt[i]; t++)
            s += x[i * stride + (idx ? idx[i * stride + t] : t)];
        const double dev = fabs(s / (double) cnt[i] / ref[i] - 1);
        if (!isfinite(dev))
            return LM_NAN;
        worst = fmax(worst, dev);
    }
    return worst;
}

void lm__exp_max_rel_dev_u(size_t rows, const size_t *cnt, size_t stride, const double *x,
                           const double *ref, uint64_t seed, double *dev, double *u) {
    *dev = rows ? max_rel_dev(rows, cnt, stride, x, ref, NULL) : LM_NAN;
    *u = LM_NAN;
    size_t *idx = lm_malloc((rows * stride + 1) * sizeof *idx);
    double *rep = lm_malloc(LM__EXP_BOOT * sizeof *rep);
    if (idx && rep && isfinite(*dev)) {
        lm_rng rng;
        lm_rng_seed(&rng, seed, 0x3de7u);
        size_t k = 0;
        for (size_t b = 0; b < LM__EXP_BOOT; b++) {
            for (size_t i = 0; i < rows; i++)
                for (size_t t = 0; t < cnt[i]; t++)
                    idx[i * stride + t] = (size_t) lm_rng_below(&rng, cnt[i]);
            const double v = max_rel_dev(rows, cnt, stride, x, ref, idx);
            if (isfinite(v))
                rep[k++] = v;
        }
        double lo, hi;
        if (percentile_95(rep, k, &lo, &hi) == 0)
            *u = fmax(*dev - lo, hi - *dev);
    }
    lm_free(idx);
    lm_free(rep);
}
