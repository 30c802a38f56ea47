/*
 * lmech/report.h: a static HTML report of experiments and runs, read from the store.
 *
 * lm_report_write writes DIR/index.html (one self-contained page with inline CSS and no script:
 * per experiment, its claims table with prediction, measurement +- uncertainty, tolerance,
 * verdict and reason, and its figures; per run, its curves) and, in DIR/figures/, a data file
 * (.tsv) and a gnuplot script (.gp) per figure. The library does not run gnuplot: it returns the
 * scripts to render, and the caller (the CLI) runs `gnuplot NAME.gp` in DIR/figures for each and
 * checks its exit status; each script writes NAME.png and NAME.svg beside itself, so a figure can
 * be edited and re-rendered by hand.
 */
#ifndef LMECH_REPORT_H
#define LMECH_REPORT_H

#include "lmech/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LM_REPORT_MAX_FIGS 256

typedef struct lm_report_figs {
    size_t n;
    char name[LM_REPORT_MAX_FIGS][192]; /* script file names in DIR/figures (NAME.gp) */
} lm_report_figs;

/* targets: experiment names or run ids (as text); none means every experiment in the store (its
 * latest invocation). Creates DIR and DIR/figures. Errors name the target or path. */
lm_status lm_report_write(lm_store *s, const char *artifact_dir, const char *out_dir, size_t n,
                          const char *const *targets, lm_report_figs *figs, lm_err *err);

/* Writes "m <pm> u" to out at the precision u supports (the Particle Data Group's rule: u to two
 * significant digits when its leading digits are 100-354, else one, 950-999 rounding up; m to
 * the same decimal place): -0.48837, 0.0979457 -> "-0.49 +- 0.10". Exponents outside
 * [1e-4, 1e6) are factored out: "(1.23 +- 0.05)e-07". u = 0 (exact) prints m to 6 digits and
 * "+- 0"; u NaN prints m alone; m NaN prints "n/a". pm is the separator (" +- ", " ± "). */
void lm_report_fmt_measure(double m, double u, const char *pm, char *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif
