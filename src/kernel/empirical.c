/*
 * empirical.c: the empirical neural tangent kernel of a finite MLP (include/lmech/kernel.h).
 *
 * Why: the finite-width kernel and how it moves in training are the observables of issue 5
 * (science.md §2-3: convergence to the analytic NTK, NTK change, kernel-target alignment).
 * Workload: n up to a few hundred inputs, widths up to ~4096, k = 1..10 outputs.
 *
 * Method, without a Jacobian: for layer l, z_l = w_scale W_l a_{l-1} + b_scale b_l, so
 * df_a(x_i)/dW_l = w_scale D_l[(i,a), :]^T a_{l-1}(x_i) and df_a(x_i)/db_l = b_scale D_l[(i,a), :],
 * with D_l[(i,a), :] = df_a(x_i)/dz_l. Inner products of rank-one matrices factor, giving
 *     Theta_l = lr_W w_scale^2 (G_delta o (G_a (x) 1 1^T)) + lr_b b_scale^2 G_delta,
 * G_a = A_{l-1} A_{l-1}^T, G_delta = D_l D_l^T. D is backpropagated for the k one-hot output
 * cotangents of every example at once, as nk rows: D_{l-1} = (w_scale_l D_l W_l) o phi'(z_{l-1}),
 * where row (i, a) takes example i's phi'. The cost is one forward pass, a backward pass of nk
 * rows and the Grams (O((nk)^2 width) per layer), against O(nk p) memory and O((nk)^2 p) time
 * for J J^T with p parameters.
 *
 * Memory bound: inputs are split into chunks of c examples. Blocks (I, J) of the upper triangle
 * are computed from the cached forward state of chunk I and of chunk J (recomputed as J moves)
 * and a lock-step backward pass of both; diagonal blocks use dsyrk (upper), and the upper
 * triangle is mirrored at the end, so the outputs are exactly symmetric.
 */
#include "lmech/kernel.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------- activations */

/* Whether phi' must be stored: relu's is recovered from a = phi(z) > 0, identity's is 1. */
static int stores_dphi(lm_act act) {
    return act != LM_ACT_IDENTITY && act != LM_ACT_RELU;
}

/* ---------------------------------------------------------------- plan */

/* Saturating size arithmetic: a plan that overflows is simply too large. */
static size_t smul(size_t a, size_t b) {
    return (a && b > SIZE_MAX / a) ? SIZE_MAX : a * b;
}
static size_t sadd(size_t a, size_t b) {
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

typedef struct dims {
    size_t L, k, H, D; /* layers, outputs, sum of hidden widths, largest d_out */
    int e;             /* 1: phi' stored per hidden layer */
} dims;

static dims dims_of(const lm_mlp *m) {
    dims d = {m->n_layers, m->d_out, 0, 0, stores_dphi(m->spec.act)};
    for (size_t l = 0; l < m->n_layers; l++) {
        if (l + 1 < m->n_layers)
            d.H += m->layer[l].d_out;
        if (m->layer[l].d_out > d.D)
            d.D = m->layer[l].d_out;
    }
    return d;
}

/* Elements of one set of chunk buffers (activations, phi', two D buffers). */
static size_t set_elems(const dims *d, size_t c) {
    return sadd(smul(smul(c, d->H), (size_t) (1 + d->e)), smul(smul(2, c), smul(d->k, d->D)));
}

/* Bytes for chunks of c of n examples. */
static size_t plan_bytes(const lm_mlp *m, size_t n, size_t c, int per_layer) {
    const dims d = dims_of(m);
    const size_t sets = c >= n ? 1 : 2, ck = smul(c, d.k);
    size_t e = sadd(smul(sets, set_elems(&d, c)), smul(c, c));
    if (!per_layer)
        e = sadd(e, smul(ck, ck));
    return smul(e, sizeof(double));
}

size_t lm_kernel_empirical_bytes(const lm_mlp *m, size_t n, int per_layer) {
    return plan_bytes(m, n, n, per_layer);
}

size_t lm_kernel_empirical_plan(const lm_mlp *m, size_t n, int per_layer, size_t max_bytes,
                                size_t *chunk) {
    size_t c = 0, bytes = 0;
    if (n > 0) {
        if (max_bytes == 0 || plan_bytes(m, n, n, per_layer) <= max_bytes) {
            c = n;
        } else if (plan_bytes(m, n, 1, per_layer) <= max_bytes) {
            /* the largest c < n that fits: plan_bytes grows with c below n */
            size_t lo = 1, hi = n - 1;
            while (lo < hi) {
                size_t mid = lo + (hi - lo + 1) / 2;
                if (plan_bytes(m, n, mid, per_layer) <= max_bytes)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            c = lo;
        }
        if (c)
            bytes = plan_bytes(m, n, c, per_layer);
    }
    if (chunk)
        *chunk = c;
    return bytes;
}

/* ---------------------------------------------------------------- chunk state */

typedef struct chunk {
    size_t r0, cnt;            /* rows r0 .. r0 + cnt - 1 of X */
    double *a[LM_MAX_LAYERS];  /* hidden activations [cnt, d_out_l], l < L-1 */
    double *dp[LM_MAX_LAYERS]; /* phi'(z_l) [cnt, d_out_l] when stored */
    double *d, *dn;            /* D of the current layer and the next one down [cnt k, D] */
} chunk;

static double *take(double **p, size_t cnt) {
    double *r = *p;
    *p += cnt;
    return r;
}

static void chunk_carve(const lm_mlp *m, const dims *d, size_t c, double **p, chunk *ch) {
    for (size_t l = 0; l + 1 < d->L; l++) {
        ch->a[l] = take(p, c * m->layer[l].d_out);
        ch->dp[l] = d->e ? take(p, c * m->layer[l].d_out) : NULL;
    }
    ch->d = take(p, c * d->k * d->D);
    ch->dn = take(p, c * d->k * d->D);
}

/* Forward pass of the chunk's rows up to the last hidden layer. */
static void chunk_forward(const lm_mlp *m, const double *theta, const double *X, chunk *ch) {
    const lm_act act = m->spec.act;
    const size_t n = ch->cnt;
    const double *in = X + ch->r0 * m->d_in;
    for (size_t l = 0; l + 1 < m->n_layers; l++) {
        const lm_layer_info *li = &m->layer[l];
        const size_t nd = li->d_out, ni = li->d_in;
        double *z = ch->a[l];
        double beta = 0.0;
        if (m->spec.bias) {
            const double *b = theta + li->b_off;
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < nd; j++)
                    z[i * nd + j] = li->b_scale * b[j];
            beta = 1.0;
        }
        lm_blas_threads_for((double) n * (double) nd * (double) ni);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) n, (int) nd, (int) ni,
                    li->w_scale, in, (int) ni, theta + li->w_off, (int) ni, beta, z, (int) nd);
        /* phi and phi' are the model's own (lm_act_phi, lm_act_dphi: act.c), so the kernel is
         * that of the network lm_mlp_forward evaluates */
        if (act != LM_ACT_IDENTITY)
            for (size_t i = 0; i < n * nd; i++) {
                const double a = lm_act_phi(act, z[i]);
                if (ch->dp[l])
                    ch->dp[l][i] = lm_act_dphi(act, z[i], a);
                z[i] = a;
            }
        in = z;
    }
}

/* D of the last layer: the one-hot cotangents, row (i, a) = e_a. */
static void chunk_onehot(size_t k, chunk *ch) {
    memset(ch->d, 0, ch->cnt * k * k * sizeof *ch->d);
    for (size_t r = 0; r < ch->cnt * k; r++)
        ch->d[r * k + r % k] = 1.0;
}

/* D_{l-1} = (w_scale_l D_l W_l) o phi'(z_{l-1}) from ch->d into ch->dn, then swap. */
static void chunk_backprop(const lm_mlp *m, const double *theta, size_t l, chunk *ch) {
    const lm_layer_info *li = &m->layer[l];
    const size_t k = m->d_out, rows = ch->cnt * k, nd = li->d_out, ni = li->d_in;
    lm_blas_threads_for((double) rows * (double) nd * (double) ni);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) rows, (int) ni, (int) nd,
                li->w_scale, ch->d, (int) nd, theta + li->w_off, (int) ni, 0.0, ch->dn, (int) ni);
    const lm_act act = m->spec.act;
    if (act != LM_ACT_IDENTITY) {
        for (size_t r = 0; r < rows; r++) {
            double *row = ch->dn + r * ni;
            const size_t i = r / k;
            if (act == LM_ACT_RELU) {
                const double *a = ch->a[l - 1] + i * ni;
                for (size_t j = 0; j < ni; j++)
                    row[j] = a[j] > 0 ? row[j] : 0.0;
            } else {
                const double *dp = ch->dp[l - 1] + i * ni;
                for (size_t j = 0; j < ni; j++)
                    row[j] *= dp[j];
            }
        }
    }
    double *t = ch->d;
    ch->d = ch->dn;
    ch->dn = t;
}

/* ---------------------------------------------------------------- the kernel */

typedef struct job {
    const lm_mlp *m;
    const double *theta, *X, *seg_lr;
    size_t n, nk;
    double *ntk, *layer_ntk;
    double *ga, *gd; /* scratch: G_a block [c, c]; G_delta block [ck, ck] (NULL with layer_ntk) */
} job;

/* Layer l's contribution to block (I, J) of the upper triangle (diag: I == J). */
static void block_layer(const job *jb, size_t l, const chunk *bi, const chunk *bj, int diag) {
    const lm_mlp *m = jb->m;
    const lm_layer_info *li = &m->layer[l];
    const size_t k = m->d_out, nk = jb->nk, ni = li->d_in, nd = li->d_out;
    const size_t ri = bi->cnt * k, rj = bj->cnt * k;
    const double *ai = l == 0 ? jb->X + bi->r0 * ni : bi->a[l - 1];
    const double *aj = l == 0 ? jb->X + bj->r0 * ni : bj->a[l - 1];
    /* G_a [bi.cnt, bj.cnt], leading dimension bj.cnt */
    double *ga = jb->ga;
    if (diag) {
        lm_blas_threads_for((double) bi->cnt * (double) bi->cnt * (double) ni / 2);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int) bi->cnt, (int) ni, 1.0, ai,
                    (int) ni, 0.0, ga, (int) bj->cnt);
    } else {
        lm_blas_threads_for((double) bi->cnt * (double) bj->cnt * (double) ni);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) bi->cnt, (int) bj->cnt, (int) ni,
                    1.0, ai, (int) ni, aj, (int) ni, 0.0, ga, (int) bj->cnt);
    }
    /* G_delta [ri, rj]: into the layer's output block when there is one, else scratch */
    double *lay = jb->layer_ntk ? jb->layer_ntk + l * nk * nk + bi->r0 * k * nk + bj->r0 * k : NULL;
    double *gd = lay ? lay : jb->gd;
    const size_t ldg = lay ? nk : rj;
    if (diag) {
        lm_blas_threads_for((double) ri * (double) ri * (double) nd / 2);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int) ri, (int) nd, 1.0, bi->d,
                    (int) nd, 0.0, gd, (int) ldg);
    } else {
        lm_blas_threads_for((double) ri * (double) rj * (double) nd);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) ri, (int) rj, (int) nd, 1.0,
                    bi->d, (int) nd, bj->d, (int) nd, 0.0, gd, (int) ldg);
    }
    const double lw = jb->seg_lr ? jb->seg_lr[2 * l] : 1.0;
    const double lb = !m->spec.bias ? 0.0 : jb->seg_lr ? jb->seg_lr[2 * l + 1] : 1.0;
    const double cw = lw * li->w_scale * li->w_scale, cb = lb * li->b_scale * li->b_scale;
    double *out = jb->ntk + bi->r0 * k * nk + bj->r0 * k;
    for (size_t p = 0; p < ri; p++) {
        const double *garow = ga + (p / k) * bj->cnt;
        double *grow = gd + p * ldg, *orow = out + p * nk;
        for (size_t q = diag ? p : 0; q < rj; q++) {
            const double g = grow[q];
            const double t = cw * g * garow[q / k] + cb * g;
            grow[q] = t; /* harmless in scratch; the layer's term in layer_ntk */
            orow[q] += t;
        }
    }
}

static void mirror(double *a, size_t nk) {
    for (size_t i = 0; i < nk; i++)
        for (size_t j = i + 1; j < nk; j++)
            a[j * nk + i] = a[i * nk + j];
}

/* Names the first non-finite entry: X by [row, column], theta by index. */
static lm_status check_finite(const double *v, size_t cnt, const char *what, size_t cols,
                              lm_err *err) {
    for (size_t i = 0; i < cnt; i++)
        if (!isfinite(v[i])) {
            if (cols)
                LM_FAIL(err, LM_EINVAL, "lm_kernel_empirical: %s is not finite at [%zu, %zu] (%g)",
                        what, i / cols, i % cols, v[i]);
            LM_FAIL(err, LM_EINVAL, "lm_kernel_empirical: %s[%zu] is not finite (%g)", what, i,
                    v[i]);
        }
    return LM_OK;
}

lm_status lm_kernel_empirical(const lm_mlp *m, const double *theta, const double *X, size_t n,
                              const double *seg_lr, size_t max_bytes, double *ntk,
                              double *layer_ntk, lm_err *err) {
    if (!m || !theta || !X || !ntk)
        LM_FAIL(err, LM_EINVAL, "lm_kernel_empirical: model, theta, X and ntk must not be NULL");
    if (n == 0)
        LM_FAIL(err, LM_ESHAPE,
                "lm_kernel_empirical: X has 0 rows: need at least one input [n, %zu]", m->d_in);
    const size_t k = m->d_out, nk = smul(n, k);
    if (nk > (size_t) INT32_MAX ||
        smul(smul(nk, nk), smul(m->n_layers, sizeof(double))) == SIZE_MAX)
        LM_FAIL(err, LM_ERANGE,
                "lm_kernel_empirical: %zu inputs x %zu outputs give a kernel too large to index", n,
                k);
    if (n > (size_t) INT32_MAX / (m->d_in ? m->d_in : 1))
        LM_FAIL(err, LM_ERANGE, "lm_kernel_empirical: X [%zu, %zu] is too large", n, m->d_in);
    if (seg_lr)
        for (size_t s = 0; s < 2 * m->n_layers; s++)
            if (!(seg_lr[s] >= 0.0) || !isfinite(seg_lr[s]))
                LM_FAIL(err, LM_EINVAL,
                        "lm_kernel_empirical: seg_lr[%zu] = %g (layer %zu %s): rates must be "
                        "finite and >= 0",
                        s, seg_lr[s], s / 2, s % 2 ? "bias" : "weight");
    LM_TRY(check_finite(X, n * m->d_in, "X", m->d_in, err));
    LM_TRY(check_finite(theta, m->n_params, "theta", 0, err));

    const int per_layer = layer_ntk != NULL;
    size_t c = 0;
    const size_t bytes = lm_kernel_empirical_plan(m, n, per_layer, max_bytes, &c);
    if (c == 0)
        LM_FAIL(err, LM_EINVAL,
                "lm_kernel_empirical: %zu inputs x %zu outputs (model %zu layers, widest %zu) "
                "need at least %zu bytes (%.3g MiB, chunks of 1 input; %zu bytes for one chunk), "
                "above the allowed %zu bytes (%.3g MiB)",
                n, k, m->n_layers, dims_of(m).D, plan_bytes(m, n, 1, per_layer),
                (double) plan_bytes(m, n, 1, per_layer) / 1048576.0, plan_bytes(m, n, n, per_layer),
                max_bytes, (double) max_bytes / 1048576.0);
    double *buf = lm_malloc(bytes);
    if (!buf)
        LM_FAIL(err, LM_ENOMEM,
                "lm_kernel_empirical: out of memory allocating %zu bytes (%.1f MiB)", bytes,
                (double) bytes / 1048576.0);
    const dims d = dims_of(m);
    const size_t ck = c * k;
    double *p = buf;
    chunk ci, cj;
    memset(&ci, 0, sizeof ci);
    memset(&cj, 0, sizeof cj);
    chunk_carve(m, &d, c, &p, &ci);
    if (c < n)
        chunk_carve(m, &d, c, &p, &cj);
    job jb = {m, theta, X, seg_lr, n, nk, ntk, layer_ntk, NULL, NULL};
    jb.ga = take(&p, c * c);
    jb.gd = per_layer ? NULL : take(&p, ck * ck);

    memset(ntk, 0, nk * nk * sizeof *ntk);
    const size_t L = m->n_layers;
    for (size_t i0 = 0; i0 < n; i0 += c) {
        ci.r0 = i0;
        ci.cnt = n - i0 < c ? n - i0 : c;
        chunk_forward(m, theta, X, &ci);
        for (size_t j0 = i0; j0 < n; j0 += c) {
            const int diag = j0 == i0;
            chunk *cjp = diag ? &ci : &cj;
            if (!diag) {
                cj.r0 = j0;
                cj.cnt = n - j0 < c ? n - j0 : c;
                chunk_forward(m, theta, X, &cj);
            }
            chunk_onehot(k, &ci);
            if (!diag)
                chunk_onehot(k, &cj);
            for (size_t l = L; l-- > 0;) {
                block_layer(&jb, l, &ci, cjp, diag);
                if (l > 0) {
                    chunk_backprop(m, theta, l, &ci);
                    if (!diag)
                        chunk_backprop(m, theta, l, &cj);
                }
            }
        }
    }
    mirror(ntk, nk);
    if (layer_ntk)
        for (size_t l = 0; l < L; l++)
            mirror(layer_ntk + l * nk * nk, nk);
    lm_free(buf);
    return LM_OK;
}
