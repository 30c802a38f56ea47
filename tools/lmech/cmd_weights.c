/* cmd_weights.c: `lmech weights FILE.safetensors [--gof N] [--seed S] [--json]`: the spectrum of
 * every 2-d tensor of a checkpoint (lmech/weights.h, docs/weights.md). All numerics are in
 * src/weights. */
#include "cli.h"
#include "lmech/weights.h"

#include <stdint.h>

static const char *USAGE =
    "lmech weights FILE.safetensors [--gof N] [--seed S] [--json]\n"
    "  every 2-d tensor W [N x M] (N >= M after transposing): the eigenvalues of W^T W / N,\n"
    "  stable rank, log10 norms, a Marchenko-Pastur bulk fit (sigma^2, lambda_+, spikes) and the\n"
    "  Clauset-Shalizi-Newman power-law fit of the tail (alpha, x_min, KS, n_tail, SE);\n"
    "  tensors that are not 2-d (biases) are skipped with a note\n"
    "  --gof N  also the CSN goodness-of-fit p-value `ks_p` from N semiparametric bootstrap draws\n"
    "           (each refits the tail: ~N x the fit's cost; p < 0.1 rules a power law out)\n"
    "  --seed S the bootstrap's seed (default 0)\n"
    "  --json   one JSON object {\"file\", \"layers\": [...], \"skipped\": [...]}, with the\n"
    "           eigenvalues of each layer";

static json_t *vec(const double *a, size_t n) {
    json_t *v = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(v, cli_json_num(a[i]));
    return v;
}

/* One tensor's object. The contract keys (issue 14): name, shape (the tensor's own [rows, cols]),
 * alpha, alpha_stderr, xmin, ks, mp {sigma2, lambda_plus, ks}, spikes (the count above lambda_+),
 * stable_rank, log_norm (log10 ||W||_F); the rest are extras. */
static json_t *layer_json(const char *name, const lm_wspec *s) {
    json_t *mp =
        json_pack("{s:o,s:o,s:o,s:o,s:I,s:o}", "sigma2", cli_json_num(s->mp_sigma2), "lambda_plus",
                  cli_json_num(s->mp_lambda_plus), "ks", cli_json_num(s->mp_ks), "q",
                  cli_json_num(s->mp_q), "n_spikes", (json_int_t) s->n_spikes, "spike_eigenvalues",
                  vec(s->eig + s->m - s->n_spikes, s->n_spikes));
    json_t *l = json_pack("{s:s,s:[I,I]}", "name", name, "shape", (json_int_t) s->rows,
                          (json_int_t) s->cols);
    json_object_set_new(l, "alpha", cli_json_num(s->alpha));
    json_object_set_new(l, "alpha_stderr", cli_json_num(s->alpha_se));
    json_object_set_new(l, "xmin", cli_json_num(s->xmin));
    json_object_set_new(l, "ks", cli_json_num(s->ks));
    json_object_set_new(l, "mp", mp);
    json_object_set_new(l, "spikes", json_integer((json_int_t) s->n_spikes));
    json_object_set_new(l, "stable_rank", cli_json_num(s->stable_rank));
    json_object_set_new(l, "log_norm", cli_json_num(s->log_fro));
    json_object_set_new(l, "log_spectral_norm", cli_json_num(s->log_spec));
    json_object_set_new(l, "fitted", json_boolean(s->fitted));
    json_object_set_new(l, "n_tail", json_integer((json_int_t) s->n_tail));
    json_object_set_new(l, "ks_p", cli_json_num(s->ks_p)); /* null without --gof */
    json_object_set_new(l, "power_law", json_boolean(s->power_law));
    json_object_set_new(l, "alpha_weighted", cli_json_num(s->alpha_weighted));
    json_object_set_new(l, "log_alpha_norm", cli_json_num(s->log_alpha_norm));
    json_object_set_new(l, "eigenvalues", vec(s->eig, s->m));
    return l;
}

int cmd_weights(int argc, char **argv) {
    cli_opts o;
    int rc = cli_parse("weights", USAGE, argc, argv, "ARGS,json,gof,seed", &o);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (o.n_args != 1)
        return o.n_args
                   ? cli_usage("weights", USAGE, "one FILE.safetensors, got also \"%s\"", o.args[1])
                   : cli_usage("weights", USAGE, "%s", "missing FILE.safetensors");
    size_t gof = 0, seed = 0;
    if (!cli_parse_size("weights", USAGE, "gof", o.gof, 0, 100000, &gof) ||
        !cli_parse_size("weights", USAGE, "seed", o.seed, 0, SIZE_MAX, &seed))
        return CLI_USAGE;
    lm_wspec_opts wo = {.gof_draws = gof, .gof_seed = (uint64_t) seed};
    lm_err err = {0};
    lm_wspec_file *f = NULL;
    if (lm_wspec_file_read(o.args[0], &wo, &f, &err) != LM_OK)
        return cli_fail("weights", &err);
    if (o.json) {
        json_t *layers = json_array(), *skipped = json_array();
        for (size_t i = 0; i < f->n; i++)
            json_array_append_new(layers, layer_json(f->names[i], &f->specs[i]));
        for (size_t i = 0; i < f->n_skipped; i++)
            json_array_append_new(skipped, json_string(f->skipped[i]));
        cli_print_json(
            json_pack("{s:s,s:o,s:o}", "file", o.args[0], "layers", layers, "skipped", skipped));
    } else {
        printf("%s: %zu matrices\n", o.args[0], f->n);
        printf("%-24s %11s %9s %8s %8s %10s %10s %6s %16s %10s %6s %5s\n", "layer", "rows x cols",
               "st.rank", "log|W|F", "log|W|2", "MP sig^2", "lambda+", "spikes", "alpha +- SE",
               "xmin", "KS", "tail");
        for (size_t i = 0; i < f->n; i++) {
            const lm_wspec *s = &f->specs[i];
            char shape[48], al[48];
            snprintf(shape, sizeof shape, "%zux%zu", s->rows, s->cols);
            if (!s->fitted)
                snprintf(al, sizeof al, "no fit (M<50)");
            else if (!s->power_law)
                snprintf(al, sizeof al, "no PL (%.3g)", s->alpha);
            else
                snprintf(al, sizeof al, "%.3f +- %.3f", s->alpha, s->alpha_se);
            printf("%-24s %11s %9.3f %8.3f %8.3f %10.4g %10.4g %6zu %16s %10.4g %6.3f %5zu\n",
                   f->names[i], shape, s->stable_rank, s->log_fro, s->log_spec, s->mp_sigma2,
                   s->mp_lambda_plus, s->n_spikes, al, s->xmin, s->ks, s->n_tail);
        }
        for (size_t i = 0; i < f->n_skipped; i++)
            printf("note: %s skipped (not a 2-d float tensor)\n", f->skipped[i]);
    }
    lm_wspec_file_free(f);
    return CLI_OK;
}
