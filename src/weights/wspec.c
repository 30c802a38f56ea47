/*
 * wspec.c: spectra of weight matrices (lmech/weights.h, docs/weights.md): the ESD via LAPACKE's
 * SVD, a Marchenko-Pastur bulk fit (GSL Brent minimisation of the squared CDF mismatch, MP CDF by
 * fixed Gauss-Legendre quadrature) and the Clauset-Shalizi-Newman power-law fit of the tail.
 */
#include "lmech/io.h"
#include "lmech/weights.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_min.h>
#include <lapacke.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static void opts_fill(const lm_wspec_opts *in, lm_wspec_opts *o) {
    *o = in ? *in : (lm_wspec_opts){0};
    if (!o->min_eigs)
        o->min_eigs = 50;
    if (!o->min_tail)
        o->min_tail = 10;
    if (!(o->alpha_max > 0))
        o->alpha_max = 8;
}

/* MP CDF. With y = 1/q <= 1, a = s2 (1 - sqrt y)^2, b = s2 (1 + sqrt y)^2, the density is
 * p(x) = sqrt((b - x)(x - a)) / (2 pi s2 y x) on [a, b]. Substituting x = c + r cos(t),
 * c = (a + b)/2, r = (b - a)/2 removes the square-root endpoints:
 * F(x) = int_{t(x)}^{pi} r^2 sin^2 t / (2 pi s2 y (c + r cos t)) dt, t(x) = acos((x - c)/r). */
static gsl_integration_glfixed_table *mp_table(void) {
    static gsl_integration_glfixed_table *t;
    if (!t)
        t = gsl_integration_glfixed_table_alloc(96);
    return t;
}
typedef struct mp_par {
    double c, r, s2, y;
} mp_par;
static double mp_integrand(double t, void *p) {
    const mp_par *m = p;
    const double s = sin(t);
    return m->r * m->r * s * s / (2 * M_PI * m->s2 * m->y * (m->c + m->r * cos(t)));
}
double lm_wspec_mp_cdf(double x, double q, double sigma2) {
    if (!(q >= 1) || !(sigma2 > 0))
        return LM_NAN;
    const double y = 1 / q, a = sigma2 * pow(1 - sqrt(y), 2), b = sigma2 * pow(1 + sqrt(y), 2);
    if (x <= a)
        return 0;
    if (x >= b)
        return 1;
    mp_par m = {(a + b) / 2, (b - a) / 2, sigma2, y};
    gsl_function f = {mp_integrand, &m};
    const double t0 = acos((x - m.c) / m.r);
    return gsl_integration_glfixed(&f, t0, M_PI, mp_table());
}

typedef struct mp_obj {
    const double *eig; /* ascending */
    size_t k;          /* bulk size */
    double q;
} mp_obj;
/* Sum over the bulk of (F_MP(lambda_i) - (i + 1/2)/k)^2. The CDF at the ascending eigenvalues is
 * accumulated piece by piece in the substituted variable t (F(x_i) = F(x_{i-1}) + the integral
 * over [t(x_i), t(x_{i-1})] by a 12-point Gauss-Legendre rule, exact to rounding on such short
 * smooth pieces): one pass instead of one 96-point integral per eigenvalue. */
static gsl_integration_glfixed_table *mp_table_short(void) {
    static gsl_integration_glfixed_table *t;
    if (!t)
        t = gsl_integration_glfixed_table_alloc(12);
    return t;
}
static double mp_loss(double s2, void *p) {
    const mp_obj *o = p;
    const double y = 1 / o->q, a = s2 * pow(1 - sqrt(y), 2), b = s2 * pow(1 + sqrt(y), 2);
    mp_par m = {(a + b) / 2, (b - a) / 2, s2, y};
    gsl_function f = {mp_integrand, &m};
    double s = 0, cdf = 0, t_prev = M_PI;
    for (size_t i = 0; i < o->k; i++) {
        const double x = o->eig[i];
        double F;
        if (x <= a) {
            F = 0;
        } else if (x >= b) {
            F = 1;
        } else {
            const double t = acos((x - m.c) / m.r);
            if (t < t_prev) {
                cdf += gsl_integration_glfixed(&f, t, t_prev, mp_table_short());
                t_prev = t;
            }
            F = cdf;
        }
        const double d = F - ((double) i + 0.5) / (double) o->k;
        s += d * d;
    }
    return s;
}

static double mp_fit_bulk(const double *eig, size_t k, double q) {
    double mean = 0;
    for (size_t i = 0; i < k; i++)
        mean += eig[i];
    mean /= (double) k;
    mp_obj o = {eig, k, q};
    /* log grid over s2 / mean in [0.1, 10], then Brent inside the best cell */
    enum { G = 81 };
    double best = LM_INF, xs[G];
    size_t ib = 0;
    for (size_t g = 0; g < G; g++) {
        xs[g] = mean * pow(10, -1 + 2.0 * (double) g / (G - 1));
        const double v = mp_loss(xs[g], &o);
        if (v < best)
            best = v, ib = g;
    }
    if (ib == 0 || ib == G - 1)
        return xs[ib];
    gsl_function f = {mp_loss, &o};
    gsl_min_fminimizer *m = gsl_min_fminimizer_alloc(gsl_min_fminimizer_brent);
    if (!m)
        return xs[ib];
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    double x = xs[ib];
    if (gsl_min_fminimizer_set(m, &f, xs[ib], xs[ib - 1], xs[ib + 1]) == GSL_SUCCESS) {
        for (int it = 0; it < 100; it++) {
            if (gsl_min_fminimizer_iterate(m) != GSL_SUCCESS)
                break;
            x = gsl_min_fminimizer_x_minimum(m);
            if (gsl_min_test_interval(gsl_min_fminimizer_x_lower(m), gsl_min_fminimizer_x_upper(m),
                                      0, 1e-8) == GSL_SUCCESS)
                break;
        }
    }
    gsl_set_error_handler(old);
    gsl_min_fminimizer_free(m);
    return x;
}

lm_status lm_wspec_mp_fit(const double *eig, size_t m, double q, double *sigma2,
                          double *lambda_plus, size_t *n_spikes, lm_err *err) {
    if (!eig || m < 2)
        LM_FAIL(err, LM_EINVAL, "Marchenko-Pastur fit: need at least 2 eigenvalues, got %zu", m);
    if (!(q >= 1) || !isfinite(q))
        LM_FAIL(err, LM_EINVAL, "Marchenko-Pastur fit: Q = N/M must be >= 1, got %g", q);
    double *e = lm_malloc(m * sizeof *e);
    if (!e)
        LM_FAIL(err, LM_ENOMEM, "Marchenko-Pastur fit: out of memory for %zu eigenvalues", m);
    memcpy(e, eig, m * sizeof *e);
    qsort(e, m, sizeof *e, cmp_double);
    for (size_t i = 0; i < m; i++)
        if (!isfinite(e[i]) || e[i] < 0) {
            const double bad = e[i];
            lm_free(e);
            LM_FAIL(err, LM_ENUMERIC, "Marchenko-Pastur fit: eigenvalue %g is not finite >= 0",
                    bad);
        }
    /* Fit on all, then trim everything above the fitted edge and refit, until the bulk is
     * stable (at most 20 rounds; at least half the eigenvalues stay in the bulk). */
    const double edge = pow(1 + 1 / sqrt(q), 2);
    size_t k = m;
    double s2 = mp_fit_bulk(e, k, q);
    for (int round = 0; round < 20; round++) {
        size_t k2 = m;
        while (k2 > m / 2 && e[k2 - 1] > s2 * edge)
            k2--;
        if (k2 == k)
            break;
        k = k2;
        s2 = mp_fit_bulk(e, k, q);
    }
    size_t ns = 0;
    while (ns < m && e[m - 1 - ns] > s2 * edge)
        ns++;
    *sigma2 = s2;
    *lambda_plus = s2 * edge;
    *n_spikes = ns;
    lm_free(e);
    return LM_OK;
}

/* The CSN fit on p[0..mp) (ascending, positive): for each candidate x_min leaving at least
 * min_tail points, the MLE alpha and the KS distance of the tail; keeps the x_min of least KS.
 * Returns the tail size (0: no candidate) with *alpha, *xmin, *ks, *i_min (the index of x_min). */
static size_t csn_fit(const double *p, size_t mp, size_t min_tail, double *alpha, double *xmin,
                      double *ks, size_t *i_min) {
    double best_ks = LM_INF;
    size_t best_n = 0;
    for (size_t i = 0; i + min_tail <= mp; i++) {
        if (i > 0 && p[i] == p[i - 1])
            continue;
        const double x0 = p[i];
        const size_t n = mp - i;
        double sl = 0;
        for (size_t j = i; j < mp; j++)
            sl += log(p[j] / x0);
        if (!(sl > 0))
            continue;
        const double a = 1 + (double) n / sl;
        /* KS between the tail's empirical CDF and 1 - (x/xmin)^(1-a) */
        double d = 0;
        for (size_t j = i; j < mp; j++) {
            const double f = 1 - pow(p[j] / x0, 1 - a);
            const double lo = (double) (j - i) / (double) n, hi = (double) (j - i + 1) / (double) n;
            d = fmax(d, fmax(fabs(f - lo), fabs(hi - f)));
        }
        if (d < best_ks)
            best_ks = d, *alpha = a, *xmin = x0, best_n = n, *i_min = i;
    }
    *ks = best_ks;
    return best_n;
}

/* CSN §4.1's semiparametric bootstrap p-value of the fit (alpha, xmin, ks_obs, tail from index
 * i_min) of p[0..mp). */
static double csn_gof(const double *p, size_t mp, size_t i_min, double alpha, double xmin,
                      double ks_obs, const lm_wspec_opts *o, double *syn) {
    lm_rng g;
    lm_rng_seed(&g, o->gof_seed, 0x70f);
    const double tail_frac = (double) (mp - i_min) / (double) mp;
    size_t ge = 0, done = 0;
    for (size_t d = 0; d < o->gof_draws; d++) {
        for (size_t j = 0; j < mp; j++) {
            if (i_min == 0 || lm_rng_uniform(&g) < tail_frac)
                syn[j] = xmin * pow(1.0 - lm_rng_uniform(&g), -1.0 / (alpha - 1.0));
            else
                syn[j] = p[lm_rng_below(&g, i_min)];
        }
        qsort(syn, mp, sizeof *syn, cmp_double);
        double a, x, ks;
        size_t im;
        if (!csn_fit(syn, mp, o->min_tail, &a, &x, &ks, &im))
            continue;
        done++;
        ge += ks >= ks_obs;
    }
    return done ? (double) ge / (double) done : LM_NAN;
}

lm_status lm_wspec_powerlaw(const double *eig, size_t m, const lm_wspec_opts *opts, lm_wspec *out,
                            lm_err *err) {
    lm_wspec_opts o;
    opts_fill(opts, &o);
    out->fitted = out->power_law = 0;
    out->alpha = out->alpha_se = out->xmin = out->ks = LM_NAN;
    out->alpha_weighted = out->log_alpha_norm = out->ks_p = LM_NAN;
    out->n_tail = 0;
    if (m < o.min_eigs)
        return LM_OK;
    double *e = lm_malloc(m * sizeof *e);
    if (!e)
        LM_FAIL(err, LM_ENOMEM, "power-law fit: out of memory for %zu eigenvalues", m);
    memcpy(e, eig, m * sizeof *e);
    qsort(e, m, sizeof *e, cmp_double);
    /* Only positive eigenvalues enter a power law. */
    size_t z = 0;
    while (z < m && !(e[z] > 0))
        z++;
    const double *p = e + z;
    const size_t mp = m - z;
    double best_ks = LM_NAN, best_a = LM_NAN, best_x = LM_NAN;
    size_t i_min = 0;
    const size_t best_n = csn_fit(p, mp, o.min_tail, &best_a, &best_x, &best_ks, &i_min);
    if (best_n) {
        out->fitted = 1;
        out->alpha = best_a;
        out->xmin = best_x;
        out->ks = best_ks;
        out->n_tail = best_n;
        out->alpha_se = (best_a - 1) / sqrt((double) best_n);
        out->power_law = best_a <= o.alpha_max;
        const double lmax = e[m - 1];
        out->alpha_weighted = best_a * log10(lmax);
        /* log10 sum lambda^alpha, summed as lmax^alpha * sum (lambda/lmax)^alpha */
        double s = 0;
        for (size_t j = 0; j < mp; j++)
            s += pow(p[j] / lmax, best_a);
        out->log_alpha_norm = best_a * log10(lmax) + log10(s);
        if (o.gof_draws > 0) {
            double *syn = lm_malloc(mp * sizeof *syn);
            if (!syn) {
                lm_free(e);
                LM_FAIL(err, LM_ENOMEM, "power-law fit: out of memory for the bootstrap");
            }
            out->ks_p = csn_gof(p, mp, i_min, best_a, best_x, best_ks, &o, syn);
            lm_free(syn);
        }
    }
    lm_free(e);
    return LM_OK;
}

void lm_wspec_free(lm_wspec *s) {
    if (!s)
        return;
    lm_free(s->eig);
    s->eig = NULL;
}

double lm_wspec_mp_ks(const double *eig, size_t m, double q, double sigma2) {
    double d = 0;
    for (size_t i = 0; i < m; i++) {
        const double f = lm_wspec_mp_cdf(eig[i], q, sigma2);
        d = fmax(d,
                 fmax(fabs(f - (double) i / (double) m), fabs((double) (i + 1) / (double) m - f)));
    }
    return d;
}

lm_status lm_wspec_compute(const double *w, size_t rows, size_t cols, const lm_wspec_opts *opts,
                           lm_wspec *out, lm_err *err) {
    memset(out, 0, sizeof *out);
    if (!w || rows < 1 || cols < 1)
        LM_FAIL(err, LM_ESHAPE, "weight spectrum: empty matrix [%zu, %zu]", rows, cols);
    if (rows > (size_t) INT32_MAX || cols > (size_t) INT32_MAX || rows > SIZE_MAX / cols)
        LM_FAIL(err, LM_ERANGE, "weight spectrum: matrix [%zu, %zu] too large", rows, cols);
    for (size_t i = 0; i < rows * cols; i++)
        if (!isfinite(w[i]))
            LM_FAIL(err, LM_ENUMERIC, "weight spectrum: entry %zu of [%zu, %zu] is %g", i, rows,
                    cols, w[i]);
    const size_t n = rows > cols ? rows : cols, m = rows > cols ? cols : rows;
    double *a = lm_malloc(rows * cols * sizeof *a), *sv = lm_malloc(m * sizeof *sv);
    if (!a || !sv) {
        lm_free(a);
        lm_free(sv);
        LM_FAIL(err, LM_ENOMEM, "weight spectrum: out of memory for [%zu, %zu]", rows, cols);
    }
    memcpy(a, w, rows * cols * sizeof *a);
    lapack_int info =
        LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (lapack_int) rows, (lapack_int) cols, a,
                       (lapack_int) cols, sv, NULL, (lapack_int) rows, NULL, (lapack_int) cols);
    lm_free(a);
    if (info != 0) {
        lm_free(sv);
        LM_FAIL(err, LM_ENUMERIC, "weight spectrum: SVD of [%zu, %zu] failed (info %d)", rows, cols,
                (int) info);
    }
    /* sv descending -> eigenvalues ascending */
    double fro2 = 0;
    out->eig = lm_malloc(m * sizeof *out->eig);
    if (!out->eig) {
        lm_free(sv);
        LM_FAIL(err, LM_ENOMEM, "weight spectrum: out of memory");
    }
    for (size_t i = 0; i < m; i++) {
        out->eig[i] = sv[m - 1 - i] * sv[m - 1 - i] / (double) n;
        fro2 += sv[i] * sv[i];
    }
    out->rows = rows;
    out->cols = cols;
    out->n = n;
    out->m = m;
    const double smax = sv[0];
    lm_free(sv);
    out->stable_rank = smax > 0 ? fro2 / (smax * smax) : LM_NAN;
    out->log_fro = log10(sqrt(fro2));
    out->log_spec = log10(smax);
    out->mp_q = (double) n / (double) m;
    out->mp_sigma2 = out->mp_lambda_plus = out->mp_ks = LM_NAN;
    if (m >= 2 && smax > 0) {
        lm_status st = lm_wspec_mp_fit(out->eig, m, out->mp_q, &out->mp_sigma2,
                                       &out->mp_lambda_plus, &out->n_spikes, err);
        if (st != LM_OK) {
            lm_wspec_free(out);
            return st;
        }
        out->mp_ks = lm_wspec_mp_ks(out->eig, m, out->mp_q, out->mp_sigma2);
    }
    lm_status st = lm_wspec_powerlaw(out->eig, m, opts, out, err);
    if (st != LM_OK)
        lm_wspec_free(out);
    return st;
}

static char *dup_str(const char *s) {
    const size_t l = strlen(s) + 1;
    char *d = lm_malloc(l);
    if (d)
        memcpy(d, s, l);
    return d;
}

void lm_wspec_file_free(lm_wspec_file *f) {
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        lm_free(f->names[i]);
        lm_wspec_free(&f->specs[i]);
    }
    for (size_t i = 0; i < f->n_skipped; i++)
        lm_free(f->skipped[i]);
    lm_free(f->names);
    lm_free(f->specs);
    lm_free(f->skipped);
    lm_free(f);
}

lm_status lm_wspec_file_read(const char *path, const lm_wspec_opts *opts, lm_wspec_file **out,
                             lm_err *err) {
    *out = NULL;
    lm_safetensors *st = NULL;
    LM_TRY(lm_safetensors_read(path, &st, err));
    lm_wspec_file *f = lm_calloc(1, sizeof *f);
    if (f) {
        f->names = lm_calloc(st->n ? st->n : 1, sizeof *f->names);
        f->specs = lm_calloc(st->n ? st->n : 1, sizeof *f->specs);
        f->skipped = lm_calloc(st->n ? st->n : 1, sizeof *f->skipped);
    }
    if (!f || !f->names || !f->specs || !f->skipped) {
        lm_wspec_file_free(f);
        lm_safetensors_free(st);
        LM_FAIL(err, LM_ENOMEM, "%s: out of memory", path);
    }
    lm_status rc = LM_OK;
    for (size_t t = 0; t < st->n && rc == LM_OK; t++) {
        const lm_array *a = st->tensors[t];
        /* matrices, and conv weights [out, in, kh, kw] seen as [out, in*kh*kw] (the layer's
         * map from a receptive field to its outputs, as the wspec observer sees them) */
        if ((a->ndim != 2 && a->ndim != 4) || (a->elt != LM_ELT_F32 && a->elt != LM_ELT_F64)) {
            if (!(f->skipped[f->n_skipped] = dup_str(st->names[t])))
                rc = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
            else
                f->n_skipped++;
            continue;
        }
        double *w = lm_malloc(a->count * sizeof *w);
        if (!w) {
            rc = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "%s: out of memory for %s", path,
                            st->names[t]);
            break;
        }
        for (size_t i = 0; i < a->count; i++)
            w[i] = lm_array_get(a, i);
        const size_t cols = a->ndim == 4 ? a->shape[1] * a->shape[2] * a->shape[3] : a->shape[1];
        rc = lm_wspec_compute(w, a->shape[0], cols, opts, &f->specs[f->n], err);
        lm_free(w);
        if (rc != LM_OK) {
            lm_err_prefix(err, "%s: tensor %s: ", path, st->names[t]);
            break;
        }
        if (!(f->names[f->n] = dup_str(st->names[t]))) {
            lm_wspec_free(&f->specs[f->n]);
            rc = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
            break;
        }
        f->n++;
    }
    lm_safetensors_free(st);
    if (rc != LM_OK) {
        lm_wspec_file_free(f);
        return rc;
    }
    *out = f;
    return LM_OK;
}
