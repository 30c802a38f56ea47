/*
 * team.c: data-parallel loss and gradient of one minibatch on persistent threads (lm_mlp_team).
 *
 * Why: a training step of a small MLP (784-W-W-10, W <= 256, batch <= 128) is a handful of
 * GEMMs of a few million multiply-adds plus elementwise work. OpenBLAS's own threads split each
 * GEMM and synchronise with sched_yield spins that cost more than they save in this VM, so such
 * GEMMs run on one BLAS thread (core.c) and the second core idles. Splitting the batch instead
 * gives each core whole GEMMs and its share of the elementwise work, at the cost of one
 * gradient reduction (memory-bound, ~p numbers per thread) and three hand-offs per step.
 *
 * Workload per call: thread t runs lm_mlp_loss_grad(_f32) on rows [lo_t, lo_t + n_t) into its
 * buffer g_t, then all threads meet at a barrier, then thread t writes the parameter range
 * R_t of grad = sum_s (n_s / n) g_s (sums in double, s in fixed order), then the caller waits
 * for the others. Hand-offs spin on an atomic counter for an adaptive time (at most SPIN_S) and
 * then sleep on a condition variable. Models whose gradient is large (TEAM_MAX_GRAD_BYTES) run
 * every batch on the plain path with OpenBLAS's threads instead.
 */
#include "model/internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define TEAM_MAX_THREADS 64

/* The longest a waiting thread spins before it sleeps: covers the caller's work between two
 * steps on small models (SGD on 55k-270k parameters plus a batch copy: 10-150 us) and a
 * part's imbalance, where a condition-variable wake-up costs 20-60 us in this VM. SPIN_MIN_S
 * is the floor the adaptive budget falls to on a busy machine (see wait_ge). Measured with
 * bench/bench_train (f32, W=64, B=128): an idle machine ran 3490 steps/s adaptive and 3435 with
 * a fixed 500 us spin; with another process on one core the fixed spin fell to 650 steps/s
 * (the spinning thread takes the core its partner needs), adaptive held 1750, the 1-thread
 * path 1950. */
#define SPIN_S     500e-6
#define SPIN_MIN_S 2e-6

/* Models whose gradient exceeds this many bytes run on the plain path with OpenBLAS's threads.
 * There the reduction (reading nt gradients, writing one) and each thread's separate pass over
 * every weight cost about what the data parallelism saves, while OpenBLAS's threads split the
 * weights. Measured on the 2-core machine (bench/bench_train, steps/s, team vs plain):
 * f32 W=1024 (7.5 MB): B=32 113 vs 75, B=128 110 vs 109, B=1024 18.3 vs 16.8 -> team;
 * f64 W=1024 (14.9 MB): B=32 101-106 vs 112-123, B=128 49-53 vs 51-57 -> plain;
 * f32 W=4096 (80 MB): B=32 16-17 vs 21-22, B=128 5-8 vs 9 -> plain. */
#define TEAM_MAX_GRAD_BYTES (8.0 * 1048576.0)

/* Batches of fewer than this many rows per thread run on the plain path (one BLAS thread): below
 * it the fixed costs (three hand-offs, the reduction, each thread's pass over all weights) exceed
 * what the split saves. Measured (f32, steps/s, plain vs team on 2 threads): W=64: B=32 8818 vs
 * 6793, B=64 4665 vs 4183, B=128 2506 vs 3277; W=128 B=32 3495 vs 3081; W=256 B=32 1634 vs
 * 1428. */
#define TEAM_MIN_ROWS 64

/* Rows per block of the reduction: the double accumulator stays in L1 (2 KiB). */
#define RED_BLOCK 256

typedef struct part {
    _Alignas(64) struct lm_mlp_team *t; /* parts written by different threads share no line */
    int id;
    lm_mlp_ws *ws;
    void *g; /* [n_params] this part's gradient */
    double loss;
    double wt; /* its weight in the batch mean (loss.h: lm_loss_weight) */
    lm_status st;
    lm_err err;
    double spin_wake, spin_bar; /* spin budgets (wait_ge): wake-up or done; barrier */
    pthread_t th;
} part;

struct lm_mlp_team {
    const lm_mlp *m;
    lm_dtype dt;
    size_t n_max;
    int nt, started;                  /* threads in the team; worker threads running */
    part *parts;                      /* [nt] */
    size_t lo[TEAM_MAX_THREADS + 1];  /* row partition of the current call */
    size_t rlo[TEAM_MAX_THREADS + 1]; /* parameter ranges of the reduction */
    /* the current call (written by the caller before it bumps gen) */
    lm_loss loss;
    const void *theta, *x, *y;
    void *grad;
    size_t n;
    int stop;
    _Alignas(64) atomic_ullong gen;     /* calls published so far                */
    _Alignas(64) atomic_ullong arrived; /* parts that finished their gradients   */
    _Alignas(64) atomic_ullong done;    /* workers that finished their reduction */
    _Alignas(64) atomic_int sleepers;   /* threads blocked (or about to) in cv   */
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* Wakes sleepers after a counter moved. The counter store and this load are seq_cst, and a
 * sleeper increments `sleepers` before it re-checks its counter under the mutex, so either the
 * sleeper sees the new value or we see the sleeper (and broadcast under the mutex). */
static void notify(lm_mlp_team *t) {
    if (atomic_load(&t->sleepers) > 0) {
        pthread_mutex_lock(&t->mu);
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);
    }
}

/* Waits until *c >= target: spins for up to *spin seconds, then sleeps. The budget adapts to
 * how long the waits really take: a sleep that ended within SPIN_S would have been cheaper as a
 * spin, so the budget doubles (up to SPIN_S); a longer one (the partner was descheduled on a
 * busy machine, or the caller did other work between calls) halves it (down to SPIN_MIN_S), so
 * that spinning does not take the core the partner needs. */
static void wait_ge(lm_mlp_team *t, atomic_ullong *c, unsigned long long target, double *spin) {
    double t_end = 0.0;
    for (unsigned i = 0;; i++) {
        if (atomic_load(c) >= target)
            return;
        if ((i & 63) == 63) {
            double now = lm_now();
            if (t_end == 0.0)
                t_end = now + *spin;
            else if (now > t_end)
                break;
        }
    }
    const double t0 = lm_now();
    pthread_mutex_lock(&t->mu);
    atomic_fetch_add(&t->sleepers, 1);
    while (atomic_load(c) < target)
        pthread_cond_wait(&t->cv, &t->mu);
    atomic_fetch_sub(&t->sleepers, 1);
    pthread_mutex_unlock(&t->mu);
    if (lm_now() - t0 < SPIN_S)
        *spin = *spin * 2.0 < SPIN_S ? *spin * 2.0 : SPIN_S;
    else
        *spin = *spin * 0.5 > SPIN_MIN_S ? *spin * 0.5 : SPIN_MIN_S;
}

/* Part pt's gradient over its rows. */
static void part_compute(lm_mlp_team *t, part *pt) {
    const size_t lo = t->lo[pt->id], n = t->lo[pt->id + 1] - lo;
    pt->st = LM_OK;
    pt->wt = 0.0;
    if (n == 0)
        return;
    const lm_mlp *m = t->m;
    void *g = t->grad ? pt->g : NULL;
    pt->wt = t->dt == LM_F32
                 ? lm_loss_weight_f32(t->loss, (const float *) t->y + lo * m->d_out, n, m->d_out)
                 : lm_loss_weight(t->loss, (const double *) t->y + lo * m->d_out, n, m->d_out);
    if (t->dt == LM_F32)
        pt->st = lm_mlp_loss_grad_f32(
            m, pt->ws, t->loss, t->theta, (const float *) t->x + lo * m->d_in,
            (const float *) t->y + lo * m->d_out, n, &pt->loss, g, NULL, &pt->err);
    else
        pt->st = lm_mlp_loss_grad(
            m, pt->ws, t->loss, t->theta, (const double *) t->x + lo * m->d_in,
            (const double *) t->y + lo * m->d_out, n, &pt->loss, g, NULL, &pt->err);
}

/* Number of parts that hold rows (the first ones: the partition front-loads the remainder). */
static int active_parts(const lm_mlp_team *t) {
    return t->n < (size_t) t->nt ? (int) t->n : t->nt;
}

/* The weights of the parts in the batch mean: w_s = wt_s / sum wt (n_s / n for every loss but
 * mse_observed, whose parts weigh by their observed targets); all zero when nothing is observed. */
static void part_weights(const lm_mlp_team *t, int na, double *w) {
    double sum = 0.0;
    for (int s = 0; s < na; s++)
        sum += t->parts[s].wt;
    for (int s = 0; s < na; s++)
        w[s] = sum > 0 ? t->parts[s].wt / sum : 0.0;
}

/* grad[R_id] = sum_s w_s g_s[R_id], s = 0..active-1 in order, accumulated in double. */
static void part_reduce(lm_mlp_team *t, int id) {
    if (!t->grad)
        return;
    for (int s = 0; s < t->nt; s++)
        if (t->parts[s].st != LM_OK)
            return;
    const int na = active_parts(t);
    double w[TEAM_MAX_THREADS];
    part_weights(t, na, w);
    double acc[RED_BLOCK];
    for (size_t b0 = t->rlo[id]; b0 < t->rlo[id + 1]; b0 += RED_BLOCK) {
        const size_t cnt = t->rlo[id + 1] - b0 < RED_BLOCK ? t->rlo[id + 1] - b0 : RED_BLOCK;
        if (t->dt == LM_F32) {
            const float *g0 = (const float *) t->parts[0].g + b0;
            for (size_t i = 0; i < cnt; i++)
                acc[i] = w[0] * (double) g0[i];
            for (int s = 1; s < na; s++) {
                const float *gs = (const float *) t->parts[s].g + b0;
                for (size_t i = 0; i < cnt; i++)
                    acc[i] += w[s] * (double) gs[i];
            }
            float *out = (float *) t->grad + b0;
            for (size_t i = 0; i < cnt; i++)
                out[i] = (float) acc[i];
        } else {
            const double *g0 = (const double *) t->parts[0].g + b0;
            for (size_t i = 0; i < cnt; i++)
                acc[i] = w[0] * g0[i];
            for (int s = 1; s < na; s++) {
                const double *gs = (const double *) t->parts[s].g + b0;
                for (size_t i = 0; i < cnt; i++)
                    acc[i] += w[s] * gs[i];
            }
            memcpy((double *) t->grad + b0, acc, cnt * sizeof(double));
        }
    }
}

static void *worker(void *arg) {
    part *pt = arg;
    lm_mlp_team *t = pt->t;
    const unsigned long long nt = (unsigned long long) t->nt;
    lm_blas_threads_hold(1); /* never touch OpenBLAS's thread count from here (core.h) */
    for (unsigned long long g = 1;; g++) {
        wait_ge(t, &t->gen, g, &pt->spin_wake);
        if (t->stop)
            break;
        part_compute(t, pt);
        atomic_fetch_add(&t->arrived, 1);
        notify(t);
        wait_ge(t, &t->arrived, g * nt, &pt->spin_bar);
        part_reduce(t, pt->id);
        atomic_fetch_add(&t->done, 1);
        notify(t);
    }
    return NULL;
}

void lm_mlp_team_free(lm_mlp_team *t) {
    if (!t)
        return;
    if (t->started > 0) {
        pthread_mutex_lock(&t->mu);
        t->stop = 1;
        atomic_fetch_add(&t->gen, 1);
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);
        for (int i = 1; i <= t->started; i++)
            pthread_join(t->parts[i].th, NULL);
    }
    if (t->parts)
        for (int i = 0; i < t->nt; i++) {
            lm_mlp_ws_free(t->parts[i].ws);
            lm_free(t->parts[i].g);
        }
    lm_free(t->parts);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    lm_free(t);
}

lm_status lm_mlp_team_new(const lm_mlp *m, size_t n_max, lm_dtype dt, int n_threads,
                          lm_mlp_team **out, lm_err *err) {
    if (!m)
        LM_FAIL(err, LM_EINVAL, "team for a NULL model");
    if (n_max == 0)
        LM_FAIL(err, LM_EINVAL, "team for batches of 0 examples");
    if (dt != LM_F32 && dt != LM_F64)
        LM_FAIL(err, LM_EINVAL, "team: invalid dtype %d", (int) dt);
    if (n_threads < 1 || n_threads > TEAM_MAX_THREADS)
        LM_FAIL(err, LM_EINVAL, "team of %d threads: must be 1 to %d", n_threads, TEAM_MAX_THREADS);
    lm_mlp_team *t = lm_calloc(1, sizeof *t);
    if (!t)
        LM_FAIL(err, LM_ENOMEM, "out of memory allocating a team");
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        lm_free(t);
        LM_FAIL(err, LM_EINTERNAL, "team: pthread_mutex_init failed");
    }
    if (pthread_cond_init(&t->cv, NULL) != 0) {
        pthread_mutex_destroy(&t->mu);
        lm_free(t);
        LM_FAIL(err, LM_EINTERNAL, "team: pthread_cond_init failed");
    }
    t->m = m;
    t->dt = dt;
    t->n_max = n_max;
    /* a model too large or batches too small for the team: a one-thread team (no threads) */
    if ((double) m->n_params * (double) lm_dtype_size(dt) > TEAM_MAX_GRAD_BYTES ||
        n_max < TEAM_MIN_ROWS * (size_t) n_threads)
        n_threads = 1;
    t->nt = n_threads;
    atomic_init(&t->gen, 0);
    atomic_init(&t->arrived, 0);
    atomic_init(&t->done, 0);
    atomic_init(&t->sleepers, 0);
    lm_status st = LM_OK;
    t->parts = lm_calloc((size_t) n_threads, sizeof *t->parts);
    if (!t->parts) {
        lm_mlp_team_free(t);
        LM_FAIL(err, LM_ENOMEM, "out of memory allocating a team of %d threads", n_threads);
    }
    /* part 0 holds n_max rows (it also serves the plain path); the others ceil(n_max / nt) */
    const size_t share = (n_max + (size_t) n_threads - 1) / (size_t) n_threads;
    const size_t gbytes = m->n_params * lm_dtype_size(dt);
    for (int i = 0; i < n_threads && st == LM_OK; i++) {
        part *pt = &t->parts[i];
        pt->t = t;
        pt->id = i;
        pt->spin_wake = pt->spin_bar = SPIN_S;
        st = lm_mlp_ws_new(m, i == 0 ? n_max : share, dt, &pt->ws, err);
        if (st == LM_OK && n_threads > 1 && !(pt->g = lm_malloc(gbytes)))
            st = lm_err_set(err, LM_ENOMEM, __FILE__, __LINE__,
                            "out of memory: a team of %d threads needs %d gradients of %zu bytes",
                            n_threads, n_threads, gbytes);
    }
    for (int i = 1; i < n_threads && st == LM_OK; i++) {
        if (pthread_create(&t->parts[i].th, NULL, worker, &t->parts[i]) != 0)
            st = lm_err_set(err, LM_ELIMIT, __FILE__, __LINE__,
                            "team: could not start thread %d of %d", i, n_threads);
        else
            t->started = i;
    }
    if (st != LM_OK) {
        lm_mlp_team_free(t);
        return st;
    }
    /* reduction ranges: equal shares of the parameters, cut at multiples of 16 (64 bytes) */
    for (int i = 0; i <= n_threads; i++) {
        size_t r = m->n_params * (size_t) i / (size_t) n_threads;
        t->rlo[i] = i == n_threads ? m->n_params : (r & ~(size_t) 15);
    }
    *out = t;
    return LM_OK;
}

/* Whether a call of n rows runs on the plain path. Depends only on n and the team. */
static int use_plain(const lm_mlp_team *t, size_t n) {
    return t->nt == 1 || n < TEAM_MIN_ROWS * (size_t) t->nt;
}

lm_status lm_mlp_team_loss_grad(lm_mlp_team *t, lm_loss loss, const void *theta, const void *x,
                                const void *y, size_t n, double *loss_out, void *grad,
                                lm_err *err) {
    if (!t)
        LM_FAIL(err, LM_EINVAL, "NULL team");
    if (n == 0 || n > t->n_max)
        LM_FAIL(err, LM_ESHAPE, "team: batch of %zu examples; the team holds 1 to %zu", n,
                t->n_max);
    if ((unsigned) loss > LM_LOSS_MSE_OBSERVED)
        LM_FAIL(err, LM_EINVAL, "team: invalid loss enum %d", (int) loss);
    if (use_plain(t, n)) {
        if (t->dt == LM_F32)
            return lm_mlp_loss_grad_f32(t->m, t->parts[0].ws, loss, theta, x, y, n, loss_out, grad,
                                        NULL, err);
        return lm_mlp_loss_grad(t->m, t->parts[0].ws, loss, theta, x, y, n, loss_out, grad, NULL,
                                err);
    }
    /* contiguous parts; the first n % nt get one extra row */
    const size_t nt = (size_t) t->nt, q = n / nt, r = n % nt;
    t->lo[0] = 0;
    for (size_t i = 0; i < nt; i++)
        t->lo[i + 1] = t->lo[i] + q + (i < r);
    t->loss = loss;
    t->theta = theta;
    t->x = x;
    t->y = y;
    t->grad = grad;
    t->n = n;
    /* one BLAS thread while the workers run (core.h: lm_blas_threads_hold) */
    lm_blas_threads_for(0.0);
    lm_blas_threads_hold(1);
    const unsigned long long g = atomic_fetch_add(&t->gen, 1) + 1;
    notify(t);
    part_compute(t, &t->parts[0]);
    atomic_fetch_add(&t->arrived, 1);
    notify(t);
    wait_ge(t, &t->arrived, g * (unsigned long long) nt, &t->parts[0].spin_bar);
    part_reduce(t, 0);
    wait_ge(t, &t->done, g * (unsigned long long) (nt - 1), &t->parts[0].spin_wake);
    lm_blas_threads_hold(0);
    for (size_t i = 0; i < nt; i++)
        if (t->parts[i].st != LM_OK) {
            if (err)
                *err = t->parts[i].err;
            return t->parts[i].st;
        }
    if (loss_out) {
        double v = 0.0, w[TEAM_MAX_THREADS];
        part_weights(t, active_parts(t), w);
        for (int s = 0; s < active_parts(t); s++)
            v += w[s] * t->parts[s].loss;
        *loss_out = v;
    }
    return LM_OK;
}
