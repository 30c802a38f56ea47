/*
 * seq_impl.h: the sequence layers' kernels, written once and compiled per dtype (layer_embed.c
 * includes it for double and float). Include after defining T and SFX(name).
 *
 *   embed      y[e, t, :] = m (tok[id(e, t), :] + pos[t, :]), id(e, t) = x[e*T + t] (an integer
 *              below vocab, checked before the pass: lm__graph_check_tokens)
 *   embed_grad gtok (overwritten) = m Sum_{e, t: id(e,t) = v} gy[e, t, :] for every token v,
 *              gpos[t, :] (overwritten) = m Sum_e gy[e, t, :]
 *   last       y[e, :] = x[e, T-1, :]; its adjoint writes gy into position T-1 and 0 (or nothing
 *              when accumulating) elsewhere.
 */
#include "model/put_impl.h"

#include <string.h>

static void SFX(embed)(const T *tok, const T *pos, double m, const T *x, T *y, size_t n, size_t len,
                       size_t d) {
    const T mm = (T) m;
    for (size_t e = 0; e < n; e++)
        for (size_t t = 0; t < len; t++) {
            const T *a = tok + (size_t) x[e * len + t] * d, *b = pos + t * d;
            T *o = y + (e * len + t) * d;
            for (size_t j = 0; j < d; j++)
                o[j] = mm * (a[j] + b[j]);
        }
}

static void SFX(embed_grad)(const T *gy, double m, const T *x, T *gtok, T *gpos, size_t n,
                            size_t len, size_t d, size_t vocab) {
    const T mm = (T) m;
    memset(gtok, 0, vocab * d * sizeof *gtok);
    memset(gpos, 0, len * d * sizeof *gpos);
    for (size_t e = 0; e < n; e++)
        for (size_t t = 0; t < len; t++) {
            const T *g = gy + (e * len + t) * d;
            T *a = gtok + (size_t) x[e * len + t] * d, *b = gpos + t * d;
            for (size_t j = 0; j < d; j++) {
                a[j] += mm * g[j];
                b[j] += mm * g[j];
            }
        }
}

static void SFX(last)(const T *x, T *y, size_t n, size_t len, size_t d) {
    for (size_t e = 0; e < n; e++)
        memcpy(y + e * d, x + (e * len + len - 1) * d, d * sizeof *y);
}

static void SFX(last_adj)(const T *gy, T *gx, int acc, size_t n, size_t len, size_t d) {
    for (size_t e = 0; e < n; e++) {
        T *g = gx + e * len * d;
        if (!acc)
            memset(g, 0, (len - 1) * d * sizeof *g);
        SFX(put)(g + (len - 1) * d, gy + e * d, d, acc);
    }
}
