/* Internal to src/exp: the experiments the registry lists, and figure helpers. */
#ifndef LM_EXP_INTERNAL_H
#define LM_EXP_INTERNAL_H

#include "lmech/exp.h"

#include "lmech/data.h"
#include "lmech/model.h"

#include <math.h>

extern const lm_experiment lm__exp_curvature_check;
extern const lm_experiment lm__exp_eos;
extern const lm_experiment lm__exp_catapult;
extern const lm_experiment lm__exp_aeos;
extern const lm_experiment lm__exp_central_flow;
extern const lm_experiment lm__exp_batch_size;
extern const lm_experiment lm__exp_ntk_dynamics;
extern const lm_experiment lm__exp_mup_coordcheck;
extern const lm_experiment lm__exp_mup_transfer;
extern const lm_experiment lm__exp_ntk_convergence;
extern const lm_experiment lm__exp_lazy_rich;

/* Least-squares line y = a + b x over the pairs where both are finite (stats.c): *slope = b (NaN
 * with fewer than 2 pairs or constant x), *se (optional) its standard error (NaN with fewer than
 * 3 pairs). Returns the number of pairs used. */
size_t lm__exp_fit_slope(size_t n, const double *x, const double *y, double *slope, double *se);
static inline double lm__exp_slope(size_t n, const double *x, const double *y) {
    double b;
    lm__exp_fit_slope(n, x, y, &b, NULL);
    return b;
}

/* A finished run read back for analysis: its config, final parameters, data and network. */
typedef struct lm__exp_net {
    lm_config *cfg;
    double *theta;            /* the run's final checkpoint [m->n_params] */
    lm_dataset *train, *test; /* test only when asked for and configured, else NULL */
    lm_mlp *m;
} lm__exp_net;

/* Fills *net for run (lm_exp_load_run, lm_data_load, lm_mlp_new); want_test: also load the test
 * set. On failure *net is left empty (all NULL) and nothing leaks. Free with lm__exp_net_free. */
lm_status lm__exp_net_open(const lm_exp_ctx *ctx, int64_t run, int want_test, lm__exp_net *net,
                           lm_err *err);
void lm__exp_net_free(lm__exp_net *net);

/* The EoS network and data (exp_eos.c), shared with exp_catapult.c. */
extern const char *lm__exp_eos_base;

/* Writes <artifact_dir>/exp-<id>/<name>.tsv (exact eigenvalue histogram and a density on a
 * grid) and <name>.gp (a gnuplot script that renders <name>.png and <name>.svg beside itself),
 * and records the script as a "figure" artifact of the invocation's first run. */
lm_status lm__exp_figure_spectrum(const lm_exp_ctx *ctx, const char *name, size_t p,
                                  const double *evals, size_t n_grid, const double *grid,
                                  const double *density, lm_err *err);

/* A line figure: data [n, ncols] row-major (column 0 is x), one line per further column named by
 * cols[1..ncols-1]; written like lm__exp_figure_spectrum. */
lm_status lm__exp_figure_lines(const lm_exp_ctx *ctx, const char *name, const char *title,
                               const char *ylabel, int logy, size_t ncols, const char *const *cols,
                               size_t n, const double *data, lm_err *err);

#endif
