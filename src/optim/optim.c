/*
 * optim.c: SGD, heavy-ball and Nesterov momentum, Adam and AdamW over flat parameter buffers,
 * with per-segment learning-rate multipliers (the parameterization's and the user's) and
 * constant / warm-up / cosine schedules. One pass over the parameters per step; the state
 * (velocity, moments) is allocated once in lm_optim_new, so a step allocates nothing.
 */
#include "lmech/optim.h"

#include <math.h>
#include <string.h>

static const char *kind_names[] = {"sgd", "momentum", "nesterov", "adam", "adamw"};
static const char *sched_names[] = {"constant", "warmup", "cosine"};

lm_optim_spec lm_optim_spec_default(void) {
    lm_optim_spec s;
    memset(&s, 0, sizeof s);
    s.kind = LM_OPT_SGD;
    s.lr = 0.1;
    s.momentum = 0.0;
    s.beta1 = 0.9;
    s.beta2 = 0.999;
    s.eps = 1e-8;
    s.schedule = LM_SCHED_CONSTANT;
    return s;
}

lm_status lm_opt_kind_parse(const char *s, lm_opt_kind *out, lm_err *err) {
    for (size_t i = 0; i < 5; i++)
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (lm_opt_kind) i;
            return LM_OK;
        }
    LM_FAIL(err, LM_EINVAL, "unknown optimizer \"%s\" (sgd, momentum, nesterov, adam, adamw)", s);
}

lm_status lm_sched_parse(const char *s, lm_sched *out, lm_err *err) {
    for (size_t i = 0; i < 3; i++)
        if (strcmp(s, sched_names[i]) == 0) {
            *out = (lm_sched) i;
            return LM_OK;
        }
    LM_FAIL(err, LM_EINVAL, "unknown schedule \"%s\" (constant, warmup, cosine)", s);
}

const char *lm_opt_kind_name(lm_opt_kind k) {
    return (unsigned) k <= LM_OPT_ADAMW ? kind_names[k] : "unknown";
}

const char *lm_sched_name(lm_sched s) {
    return (unsigned) s <= LM_SCHED_COSINE ? sched_names[s] : "unknown";
}

int lm_opt_is_adam(lm_opt_kind k) {
    return k == LM_OPT_ADAM || k == LM_OPT_ADAMW;
}

struct lm_optim {
    lm_optim_spec spec;
    lm_opt_kind kind; /* sgd with momentum > 0 is promoted to momentum */
    size_t p, n_seg, total_steps;
    lm_dtype dt;
    size_t *seg_off; /* [n_seg + 1] */
    double *lr_mult; /* [n_seg]     */
    void *m1, *m2;   /* velocity or first moment; second moment (dtype dt) */
    size_t t;        /* Adam steps taken */
};

lm_status lm_optim_new(const lm_optim_spec *spec, size_t p, lm_dtype dt, size_t n_seg,
                       const size_t *seg_off, const double *lr_mult, size_t total_steps,
                       lm_optim **out, lm_err *err) {
    if (!(spec->lr >= 0.0) || !isfinite(spec->lr))
        LM_FAIL(err, LM_EINVAL, "optimizer.lr = %g: must be finite and >= 0", spec->lr);
    if (!(spec->momentum >= 0.0 && spec->momentum < 1.0))
        LM_FAIL(err, LM_EINVAL, "optimizer.momentum = %g: must be in [0, 1)", spec->momentum);
    if (!(spec->beta1 >= 0.0 && spec->beta1 < 1.0) || !(spec->beta2 >= 0.0 && spec->beta2 < 1.0))
        LM_FAIL(err, LM_EINVAL, "optimizer.betas = [%g, %g]: each must be in [0, 1)", spec->beta1,
                spec->beta2);
    if (!(spec->eps >= 0.0) || !(spec->weight_decay >= 0.0))
        LM_FAIL(err, LM_EINVAL, "optimizer.eps and optimizer.weight_decay must be >= 0");
    if (n_seg == 0 || seg_off[0] != 0 || seg_off[n_seg] != p)
        LM_FAIL(err, LM_EINVAL, "optimizer segments do not cover the %zu parameters", p);
    lm_optim *o = lm_calloc(1, sizeof *o);
    if (!o)
        LM_FAIL(err, LM_ENOMEM, "out of memory allocating the optimizer");
    o->spec = *spec;
    o->kind = spec->kind;
    if (o->kind == LM_OPT_SGD && spec->momentum > 0.0)
        o->kind = LM_OPT_MOMENTUM;
    o->p = p;
    o->n_seg = n_seg;
    o->dt = dt;
    o->total_steps = total_steps;
    o->seg_off = lm_malloc((n_seg + 1) * sizeof *o->seg_off);
    o->lr_mult = lm_malloc(n_seg * sizeof *o->lr_mult);
    const size_t es = lm_dtype_size(dt);
    if (o->kind != LM_OPT_SGD)
        o->m1 = lm_calloc(p ? p : 1, es);
    if (lm_opt_is_adam(o->kind))
        o->m2 = lm_calloc(p ? p : 1, es);
    if (!o->seg_off || !o->lr_mult || (o->kind != LM_OPT_SGD && !o->m1) ||
        (lm_opt_is_adam(o->kind) && !o->m2)) {
        lm_optim_free(o);
        LM_FAIL(err, LM_ENOMEM, "out of memory allocating optimizer state for %zu parameters", p);
    }
    memcpy(o->seg_off, seg_off, (n_seg + 1) * sizeof *seg_off);
    memcpy(o->lr_mult, lr_mult, n_seg * sizeof *lr_mult);
    *out = o;
    return LM_OK;
}

void lm_optim_free(lm_optim *o) {
    if (!o)
        return;
    lm_free(o->seg_off);
    lm_free(o->lr_mult);
    lm_free(o->m1);
    lm_free(o->m2);
    lm_free(o);
}

double lm_optim_lr(const lm_optim *o, size_t step) {
    const lm_optim_spec *s = &o->spec;
    double f = 1.0;
    if ((s->schedule == LM_SCHED_WARMUP || s->schedule == LM_SCHED_COSINE) &&
        step < s->warmup_steps)
        f = s->warmup_start +
            (1.0 - s->warmup_start) * (double) (step + 1) / (double) s->warmup_steps;
    else if (s->schedule == LM_SCHED_COSINE && o->total_steps > s->warmup_steps) {
        double prog =
            (double) (step - s->warmup_steps) / (double) (o->total_steps - s->warmup_steps);
        if (prog > 1.0)
            prog = 1.0;
        f = s->final_lr_frac +
            (1.0 - s->final_lr_frac) * 0.5 * (1.0 + cos(3.14159265358979323846 * prog));
    }
    return s->lr * f;
}

/* One kernel per dtype. Arithmetic is in T except the bias corrections (double scalars). */
#define OPT_KERNEL(NAME, T)                                                                        \
    static void NAME(lm_optim *o, T *th, const T *g, size_t lo, size_t hi, double lr, double bc1,  \
                     double bc2) {                                                                 \
        const T wd = (T) o->spec.weight_decay, mu = (T) o->spec.momentum, eta = (T) lr;            \
        T *v = o->m1, *s2 = o->m2;                                                                 \
        switch (o->kind) {                                                                         \
        case LM_OPT_SGD:                                                                           \
            for (size_t i = lo; i < hi; i++)                                                       \
                th[i] -= eta * (g[i] + wd * th[i]);                                                \
            break;                                                                                 \
        case LM_OPT_MOMENTUM:                                                                      \
            for (size_t i = lo; i < hi; i++) {                                                     \
                v[i] = mu * v[i] + g[i] + wd * th[i];                                              \
                th[i] -= eta * v[i];                                                               \
            }                                                                                      \
            break;                                                                                 \
        case LM_OPT_NESTEROV:                                                                      \
            for (size_t i = lo; i < hi; i++) {                                                     \
                const T gi = g[i] + wd * th[i];                                                    \
                v[i] = mu * v[i] + gi;                                                             \
                th[i] -= eta * (gi + mu * v[i]);                                                   \
            }                                                                                      \
            break;                                                                                 \
        case LM_OPT_ADAM:                                                                          \
        case LM_OPT_ADAMW: {                                                                       \
            const T b1 = (T) o->spec.beta1, b2 = (T) o->spec.beta2, eps = (T) o->spec.eps;         \
            const T c1 = (T) (1.0 / bc1), c2 = (T) (1.0 / bc2);                                    \
            const int decoupled = o->kind == LM_OPT_ADAMW;                                         \
            for (size_t i = lo; i < hi; i++) {                                                     \
                const T gi = decoupled ? g[i] : g[i] + wd * th[i];                                 \
                v[i] = b1 * v[i] + (1 - b1) * gi;                                                  \
                s2[i] = b2 * s2[i] + (1 - b2) * gi * gi;                                           \
                if (decoupled)                                                                     \
                    th[i] -= eta * wd * th[i];                                                     \
                th[i] -= eta * (v[i] * c1) / (SQRT(s2[i] * c2) + eps);                             \
            }                                                                                      \
            break;                                                                                 \
        }                                                                                          \
        }                                                                                          \
    }

#define SQRT sqrt
OPT_KERNEL(step_f64, double)
#undef SQRT
#define SQRT sqrtf
OPT_KERNEL(step_f32, float)
#undef SQRT

lm_status lm_optim_step(lm_optim *o, void *theta, const void *grad, size_t step, lm_err *err) {
    (void) err;
    const double lr = lm_optim_lr(o, step);
    double bc1 = 1.0, bc2 = 1.0;
    if (lm_opt_is_adam(o->kind)) {
        o->t++;
        bc1 = 1.0 - pow(o->spec.beta1, (double) o->t);
        bc2 = 1.0 - pow(o->spec.beta2, (double) o->t);
    }
    for (size_t s = 0; s < o->n_seg; s++) {
        const size_t lo = o->seg_off[s], hi = o->seg_off[s + 1];
        if (lo == hi)
            continue;
        if (o->dt == LM_F32)
            step_f32(o, theta, grad, lo, hi, lr * o->lr_mult[s], bc1, bc2);
        else
            step_f64(o, theta, grad, lo, hi, lr * o->lr_mult[s], bc1, bc2);
    }
    return LM_OK;
}

lm_status lm_optim_adam_precond(const lm_optim *o, double *P, lm_err *err) {
    if (!lm_opt_is_adam(o->kind))
        LM_FAIL(err, LM_EINVAL, "the preconditioner is defined for adam/adamw, not %s",
                lm_opt_kind_name(o->kind));
    /* science.md §4: P_t = (1 - b1^t) diag(sqrt(v_hat_t) + eps), v_hat = v / (1 - b2^t). The
     * per-segment learning-rate multiplier divides P (the effective step is lr*mult/P). */
    const double t = (double) (o->t ? o->t : 1);
    const double bc1 = 1.0 - pow(o->spec.beta1, t), bc2 = 1.0 - pow(o->spec.beta2, t);
    for (size_t s = 0; s < o->n_seg; s++)
        for (size_t i = o->seg_off[s]; i < o->seg_off[s + 1]; i++) {
            double v =
                o->dt == LM_F32 ? (double) ((const float *) o->m2)[i] : ((const double *) o->m2)[i];
            P[i] = bc1 * (sqrt(v / bc2) + o->spec.eps) / o->lr_mult[s];
        }
    return LM_OK;
}
