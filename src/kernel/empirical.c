/*
 * empirical.c: the empirical neural tangent kernel of a finite network (include/lmech/kernel.h).
 *
 * Why: the finite-width kernel and how it moves in training are the observables of issue 5
 * (science.md §2-3: convergence to the analytic NTK, NTK change, kernel-target alignment).
 * Workload: n up to a few hundred inputs, widths up to ~4096, k = 1..10 outputs.
 *
 * Two methods, by the kind of model:
 *
 * The dense chain (model.widths), without a Jacobian: for layer l,
 * z_l = w_scale W_l a_{l-1} + b_scale b_l, so df_a(x_i)/dW_l = w_scale D_l[(i,a), :]^T a_{l-1}(x_i)
 * and df_a(x_i)/db_l = b_scale D_l[(i,a), :], with D_l[(i,a), :] = df_a(x_i)/dz_l. Inner products
 * of rank-one matrices factor, giving
 *     Theta_l = lr_W w_scale^2 (G_delta o (G_a (x) 1 1^T)) + lr_b b_scale^2 G_delta,
 * G_a = A_{l-1} A_{l-1}^T, G_delta = D_l D_l^T. D is backpropagated for the k one-hot output
 * cotangents of every example at once, as nk rows: D_{l-1} = (w_scale_l D_l W_l) o phi'(z_{l-1}),
 * where row (i, a) takes example i's phi'. The cost is one forward pass, a backward pass of nk
 * rows and the Grams (O((nk)^2 width) per layer), against O(nk p) memory and O((nk)^2 p) time
 * for J J^T with p parameters.
 *
 * Why the chain keeps its own forward pass (chunk_forward) instead of lm_mlp_forward: the
 * backward pass of nk rows needs phi'(z_l) of every hidden layer, and the model's public API
 * gives the post-activations a_l only (lm_mlp_ws_activation, lm_mlp_features_layers). phi' is a
 * function of a for identity, relu, tanh and sigmoid, but erf, gelu, softplus and quadratic need
 * z, which the workspace keeps privately (src/model/internal.h is closed to other modules). A
 * workspace of the chunk's rows would also hold the model's whole training state (the R-operator
 * buffers and a gradient scratch of n_params numbers, 7-8 times the activations), outside the
 * plan that max_bytes bounds. So chunk_forward evaluates the one dense layer z = w_scale a W^T +
 * b_scale b by one dgemm and phi, phi' by the model's own lm_act_phi and lm_act_dphi (act.c:
 * the one definition), storing phi'(z) where it needs z (relu's is lm_act_dphi at a, identity's
 * 1: neither is stored, which keeps the work memory of the issue-5 benchmark, a relu net; the
 * kernels of 784-1024-1024-10 relu and gelu nets on 128 inputs are bitwise those of the previous
 * hand-written phi', in the same time);
 * tests/kernel/test_empirical.c checks its kernel against J J^T from the model's VJPs for all eight
 * activations.
 *
 * A layer graph (model.layers: convolutions, pools, residual blocks ...): one block of the
 * Jacobian at a time. Chunks of c examples; example i's rows J_i [k, p] are k VJPs of one example
 * (lm_mlp_vjp with n = 1 and u = e_a: the model's own backward pass, layer by layer), each
 * parameter segment s (one tensor, lm_mlp_segments) scaled by sqrt(lr_s) so that
 *     Theta = sum_s lr_s J_s J_s^T = J~ J~^T,   J~ = J diag(sqrt(lr)),
 * exactly the chain's per-segment weighting (lr_W, lr_b). Block (I, J) of Theta is then
 * J~_I J~_J^T, one dgemm (dsyrk on the diagonal); per layer, the same product over that layer's
 * segments (lm_mlp_segment_layer) only. The two Jacobian blocks [c k, p] are what max_bytes
 * bounds; the cost is O(n k) one-example forward and backward passes and O((nk)^2 p) for the
 * products (docs/kernels.md, measured on 2 shared cores: a CNN of 20,490 parameters on 100
 * inputs, k = 10, 1.7 s; a 784-256-256-10 chain spelled as layers 11.9 s against 0.03 s by the
 * Gram path, which is why chains keep it).
 *
 * Memory bound (both methods): inputs are split into chunks of c examples. Blocks (I, J) of the
 * upper triangle are computed from the state of chunk I and of chunk J (recomputed as J moves);
 * diagonal blocks use dsyrk (upper), and the upper triangle is mirrored at the end, so the
 * outputs are exactly symmetric.
 */
#include "lmech/kernel.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------- activations */

/* Whether phi' must be stored: identity's is 1, and relu's is lm_act_dphi at a = relu(z) in z's
 * place ([a > 0] = [z > 0]), so neither stores it. */
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

/* Bytes for chunks of c of n examples: a graph's Jacobian blocks J~_I, J~_J [c k, p] and one
 * cotangent [k] (graph_kernel below); the chain's chunk state and Gram scratch. */
static size_t plan_bytes(const lm_mlp *m, size_t n, size_t c, int per_layer) {
    if (m->graph) {
        const size_t sets = c >= n ? 1 : 2;
        return smul(sadd(smul(sets, smul(smul(c, m->d_out), m->n_params)), m->d_out),
                    sizeof(double));
    }
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
    if (ch->dp[l - 1]) {
        for (size_t r = 0; r < rows; r++) {
            double *row = ch->dn + r * ni;
            const double *dp = ch->dp[l - 1] + (r / k) * ni; /* example r / k's phi'(z) */
            for (size_t j = 0; j < ni; j++)
                row[j] *= dp[j];
        }
    } else if (m->spec.act == LM_ACT_RELU) { /* phi'(z) = [z > 0] = [a > 0]: see stores_dphi */
        for (size_t r = 0; r < rows; r++) {
            double *row = ch->dn + r * ni;
            const double *a = ch->a[l - 1] + (r / k) * ni;
            for (size_t j = 0; j < ni; j++)
                row[j] *= lm_act_dphi(LM_ACT_RELU, a[j], a[j]);
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

/* ---------------------------------------------------------------- layer graphs */

/* J~ rows of examples r0 .. r0 + cnt - 1 into Jb [cnt k, p]: row (i, a) = sqrt(lr) o J^T e_a at
 * x_i, by lm_mlp_vjp of one example (n = 1) with the cotangent u = e_a. */
static lm_status graph_rows(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *X,
                            size_t r0, size_t cnt, const double *seg_lr, const size_t *seg_off,
                            double *u, double *Jb, lm_err *err) {
    const size_t k = m->d_out, p = m->n_params, ns = lm_mlp_n_segments(m);
    for (size_t i = 0; i < cnt; i++)
        for (size_t a = 0; a < k; a++) {
            double *row = Jb + (i * k + a) * p;
            memset(u, 0, k * sizeof *u);
            u[a] = 1.0;
            LM_TRY(lm_mlp_vjp(m, ws, theta, X + (r0 + i) * m->d_in, 1, u, row, err));
            if (seg_lr)
                for (size_t s = 0; s < ns; s++) {
                    const double w = sqrt(seg_lr[s]);
                    for (size_t q = seg_off[s]; q < seg_off[s + 1]; q++)
                        row[q] *= w;
                }
        }
    return LM_OK;
}

/* out [ri, rj] (leading dimension nk; the upper triangle only when diag) = beta out +
 * A[:, q0:q1] B[:, q0:q1]^T for row blocks A [ri, p], B [rj, p]. */
static void graph_product(const double *A, const double *B, size_t ri, size_t rj, size_t p,
                          size_t q0, size_t q1, int diag, double beta, double *out, size_t nk) {
    const size_t w = q1 - q0;
    if (w == 0)
        return;
    if (diag) {
        lm_blas_threads_for((double) ri * (double) ri * (double) w / 2);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int) ri, (int) w, 1.0, A + q0,
                    (int) p, beta, out, (int) nk);
    } else {
        lm_blas_threads_for((double) ri * (double) rj * (double) w);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) ri, (int) rj, (int) w, 1.0,
                    A + q0, (int) p, B + q0, (int) p, beta, out, (int) nk);
    }
}

/* The graph method (file comment): buf holds the plan's blocks for chunks of c examples, ws is a
 * float64 workspace of one example. ntk and layer_ntk are zeroed by the caller; only their upper
 * triangles are written. */
static lm_status graph_kernel(const lm_mlp *m, lm_mlp_ws *ws, const double *theta, const double *X,
                              size_t n, size_t c, const double *seg_lr, double *buf, double *ntk,
                              double *layer_ntk, lm_err *err) {
    const size_t k = m->d_out, p = m->n_params, nk = n * k, ns = lm_mlp_n_segments(m);
    size_t seg_off[LM_MAX_TENSORS + 1];
    double lr_unused[LM_MAX_TENSORS];
    lm_mlp_segments(m, 0, seg_off, lr_unused);
    double *Ji = buf, *Jj = c < n ? buf + c * k * p : buf, *u = buf + (c < n ? 2 : 1) * c * k * p;
    lm_status st = LM_OK;
    for (size_t i0 = 0; i0 < n && st == LM_OK; i0 += c) {
        const size_t ci = n - i0 < c ? n - i0 : c, ri = ci * k;
        st = graph_rows(m, ws, theta, X, i0, ci, seg_lr, seg_off, u, Ji, err);
        for (size_t j0 = i0; j0 < n && st == LM_OK; j0 += c) {
            const int diag = j0 == i0;
            const size_t cj = n - j0 < c ? n - j0 : c, rj = cj * k;
            if (!diag)
                st = graph_rows(m, ws, theta, X, j0, cj, seg_lr, seg_off, u, Jj, err);
            if (st != LM_OK)
                break;
            double *out = ntk + i0 * k * nk + j0 * k;
            const double *B = diag ? Ji : Jj;
            if (!layer_ntk) {
                graph_product(Ji, B, ri, rj, p, 0, p, diag, 0.0, out, nk);
                continue;
            }
            /* per layer: that layer's segments, accumulated into its block, then added to ntk */
            for (size_t s = 0; s < ns; s++) {
                double *lay =
                    layer_ntk + lm_mlp_segment_layer(m, s) * nk * nk + i0 * k * nk + j0 * k;
                graph_product(Ji, B, ri, rj, p, seg_off[s], seg_off[s + 1], diag, 1.0, lay, nk);
            }
            for (size_t l = 0; l < m->n_layers; l++) {
                const double *lay = layer_ntk + l * nk * nk + i0 * k * nk + j0 * k;
                for (size_t r = 0; r < ri; r++)
                    for (size_t q = diag ? r : 0; q < rj; q++)
                        out[r * nk + q] += lay[r * nk + q];
            }
        }
    }
    return st;
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
    if (m->graph && m->n_params > (size_t) INT32_MAX)
        LM_FAIL(err, LM_ERANGE,
                "lm_kernel_empirical: %zu parameters exceed the BLAS index range of the Jacobian "
                "blocks",
                m->n_params);
    if (n > (size_t) INT32_MAX / (m->d_in ? m->d_in : 1))
        LM_FAIL(err, LM_ERANGE, "lm_kernel_empirical: X [%zu, %zu] is too large", n, m->d_in);
    if (seg_lr)
        for (size_t s = 0; s < lm_mlp_n_segments(m); s++)
            if (!(seg_lr[s] >= 0.0) || !isfinite(seg_lr[s])) {
                if (m->graph)
                    LM_FAIL(err, LM_EINVAL,
                            "lm_kernel_empirical: seg_lr[%zu] = %g (tensor %s): rates must be "
                            "finite and >= 0",
                            s, seg_lr[s], m->tensor[s].name);
                LM_FAIL(err, LM_EINVAL,
                        "lm_kernel_empirical: seg_lr[%zu] = %g (layer %zu %s): rates must be "
                        "finite and >= 0",
                        s, seg_lr[s], s / 2, s % 2 ? "bias" : "weight");
            }
    LM_TRY(check_finite(X, n * m->d_in, "X", m->d_in, err));
    LM_TRY(check_finite(theta, m->n_params, "theta", 0, err));

    const int per_layer = layer_ntk != NULL;
    size_t c = 0;
    const size_t bytes = lm_kernel_empirical_plan(m, n, per_layer, max_bytes, &c);
    if (c == 0 && m->graph) {
        char desc[160];
        lm_mlp_describe(m, desc, sizeof desc);
        LM_FAIL(err, LM_EINVAL,
                "lm_kernel_empirical: %zu inputs x %zu outputs (model %s, %zu parameters: "
                "Jacobian blocks of %zu x %zu) need at least %zu bytes (%.3g MiB, chunks of 1 "
                "input; %zu bytes for one chunk), above the allowed %zu bytes (%.3g MiB)",
                n, k, desc, m->n_params, k, m->n_params, plan_bytes(m, n, 1, per_layer),
                (double) plan_bytes(m, n, 1, per_layer) / 1048576.0, plan_bytes(m, n, n, per_layer),
                max_bytes, (double) max_bytes / 1048576.0);
    }
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
    if (m->graph) {
        lm_mlp_ws *ws = NULL;
        lm_status st = lm_mlp_ws_new(m, 1, LM_F64, &ws, err);
        if (st == LM_OK) {
            memset(ntk, 0, nk * nk * sizeof *ntk);
            if (layer_ntk)
                memset(layer_ntk, 0, m->n_layers * nk * nk * sizeof *layer_ntk);
            st = graph_kernel(m, ws, theta, X, n, c, seg_lr, buf, ntk, layer_ntk, err);
        }
        lm_mlp_ws_free(ws);
        lm_free(buf);
        if (st != LM_OK)
            return st;
        mirror(ntk, nk);
        for (size_t l = 0; layer_ntk && l < m->n_layers; l++)
            mirror(layer_ntk + l * nk * nk, nk);
        return LM_OK;
    }
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
