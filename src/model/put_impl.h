/*
 * put_impl.h: dst = src (acc == 0) or dst += src (acc == 1) over cnt numbers, the one way a
 * gradient or tangent is written into a buffer that may already hold a contribution (layer.h's
 * gx_acc). Compiled per dtype: include after defining T and SFX(name). The graph's add nodes
 * (graph_impl.h, graph_f64.c), flatten and the activation layer use it.
 */
#include <string.h>

static inline void SFX(put)(T *dst, const T *src, size_t cnt, int acc) {
    if (!acc)
        memcpy(dst, src, cnt * sizeof *dst);
    else
        for (size_t i = 0; i < cnt; i++)
            dst[i] += src[i];
}
