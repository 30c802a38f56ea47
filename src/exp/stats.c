/*
 * stats.c: the least-squares line fit that the experiments' width, alpha and sweep laws share
 * (slopes of log observables against log width, etc.).
 */
#include "exp/internal.h"

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
