"""Kernels, representation similarity, weight spectra and scaling-law fits on numpy arrays
(kernel.h, repr.h, weights.h, fit.h called directly; their structs mirrored here and checked
against the library's sizes at import)."""
import ctypes
import os

import numpy as np

from ._lib import Error, as_f64, c_double_p, c_size_t, c_void_p, call, check_size, lib, ptr

_c_int, _u64 = ctypes.c_int, ctypes.c_uint64


class _SimOpts(ctypes.Structure):
    _fields_ = [("k", c_size_t), ("null_n", c_size_t), ("seed", _u64)]


class _SimResult(ctypes.Structure):
    _fields_ = [("value", ctypes.c_double), ("n", c_size_t), ("has_null", _c_int),
                ("null_mean", ctypes.c_double), ("null_p95", ctypes.c_double),
                ("p_value", ctypes.c_double)]


class _KernelSpec(ctypes.Structure):
    _fields_ = [("depth", c_size_t), ("act", _c_int), ("sw2", ctypes.c_double),
                ("sb2", ctypes.c_double), ("param", _c_int), ("width", c_size_t),
                ("base_width", c_size_t), ("bias", _c_int)]


class _WspecOpts(ctypes.Structure):
    _fields_ = [("min_eigs", c_size_t), ("min_tail", c_size_t), ("alpha_max", ctypes.c_double),
                ("gof_draws", c_size_t), ("gof_seed", _u64)]


_D = ctypes.c_double


class _Wspec(ctypes.Structure):
    _fields_ = [("rows", c_size_t), ("cols", c_size_t), ("n", c_size_t), ("m", c_size_t),
                ("eig", c_double_p), ("stable_rank", _D), ("log_fro", _D), ("log_spec", _D),
                ("mp_sigma2", _D), ("mp_q", _D), ("mp_lambda_plus", _D), ("mp_ks", _D),
                ("n_spikes", c_size_t), ("fitted", _c_int), ("power_law", _c_int),
                ("alpha", _D), ("alpha_se", _D), ("xmin", _D), ("ks", _D), ("n_tail", c_size_t),
                ("alpha_weighted", _D), ("log_alpha_norm", _D), ("ks_p", _D)]


class _WspecFile(ctypes.Structure):
    _fields_ = [("n", c_size_t), ("names", ctypes.POINTER(ctypes.c_char_p)),
                ("specs", ctypes.POINTER(_Wspec)), ("n_skipped", c_size_t),
                ("skipped", ctypes.POINTER(ctypes.c_char_p))]


_NPAR = 5


class _FitOpts(ctypes.Structure):
    _fields_ = [("law", _c_int), ("delta", _D), ("grad_tol", _D), ("max_iter", _c_int),
                ("bootstrap", c_size_t), ("seed", _u64), ("threads", _c_int),
                ("boot_full_grid", _c_int), ("keep_boot", _c_int)]


class _FitResult(ctypes.Structure):
    _fields_ = [("law", _c_int), ("n_points", c_size_t), ("par", _D * _NPAR), ("x", _D * 5),
                ("objective", _D), ("grad_norm", _D), ("starts", c_size_t),
                ("converged", c_size_t), ("stalled", c_size_t), ("capped", c_size_t),
                ("max_iter", _c_int), ("iter_best", _c_int), ("n_optima", c_size_t),
                ("n_boot", c_size_t), ("boot_failed", c_size_t), ("boot_converged", c_size_t),
                ("ci95", (_D * 2) * _NPAR), ("ci80", (_D * 2) * _NPAR), ("boot", c_double_p),
                ("identifiable", _c_int), ("sigma", _D), ("se", _D * _NPAR), ("corr_ab", _D),
                ("cond", _D), ("message", ctypes.c_char * 256), ("wall_s", _D),
                ("boot_wall_s", _D)]


for _name, _s in (("lm_sim_opts", _SimOpts), ("lm_sim_result", _SimResult),
                  ("lm_kernel_spec", _KernelSpec), ("lm_wspec_opts", _WspecOpts),
                  ("lm_wspec", _Wspec), ("lm_wspec_file", _WspecFile),
                  ("lm_fit_opts", _FitOpts), ("lm_fit_result", _FitResult)):
    check_size(_name, _s)

_errp = ctypes.c_void_p  # lm_err * is passed by byref from call()


def _decl(name, args, res=ctypes.c_int):
    f = getattr(lib, name)
    f.argtypes = args + [ctypes.c_void_p]
    f.restype = res
    return f


_decl("lm_sim_metric_parse", [ctypes.c_char_p, ctypes.POINTER(_c_int)])
_decl("lm_similarity", [_c_int, c_double_p, c_size_t, c_size_t, c_double_p, c_size_t,
                        ctypes.POINTER(_SimOpts), ctypes.POINTER(_SimResult)])
_decl("lm_act_parse", [ctypes.c_char_p, ctypes.POINTER(_c_int)])
_decl("lm_param_parse", [ctypes.c_char_p, ctypes.POINTER(_c_int)])
lib.lm_kernel_spec_default.argtypes = []
lib.lm_kernel_spec_default.restype = _KernelSpec
_decl("lm_kernel_analytic_spec", [ctypes.POINTER(_KernelSpec), c_double_p, c_size_t, c_size_t,
                                  c_double_p, c_double_p])
_decl("lm_wspec_compute", [c_double_p, c_size_t, c_size_t, ctypes.POINTER(_WspecOpts),
                           ctypes.POINTER(_Wspec)])
lib.lm_wspec_free.argtypes = [ctypes.POINTER(_Wspec)]
lib.lm_wspec_free.restype = None
_decl("lm_wspec_file_read", [ctypes.c_char_p, ctypes.POINTER(_WspecOpts),
                             ctypes.POINTER(ctypes.POINTER(_WspecFile))])
lib.lm_wspec_file_free.argtypes = [ctypes.POINTER(_WspecFile)]
lib.lm_wspec_file_free.restype = None
_decl("lm_fit_law_parse", [ctypes.c_char_p, ctypes.POINTER(_c_int)])
_decl("lm_fit", [ctypes.POINTER(_FitOpts), c_size_t, c_double_p, c_double_p, c_double_p,
                 ctypes.POINTER(_FitResult)])
lib.lm_fit_result_clear.argtypes = [ctypes.POINTER(_FitResult)]
lib.lm_fit_result_clear.restype = None
_decl("lm_fit_compute_optimal", [c_double_p, _D, c_double_p, c_double_p])


def _matrix(a, name):
    m = as_f64(a, name)
    if m.ndim == 1:
        m = m.reshape(-1, 1)
    if m.ndim != 2:
        raise Error(f"{name} has shape {m.shape}: expected a 2-d array [n, features]")
    return m


def _enum(parse, text, what):
    if not isinstance(text, str):
        raise Error(f"{what}: expected a name, got {type(text).__name__}")
    v = _c_int()
    call(parse, text.encode(), ctypes.byref(v))
    return v.value


def _num(v):
    return None if not np.isfinite(v) else float(v)


def similarity(A, B, metric="linear_cka", k=10, null=0, seed=0):
    """The similarity of representations A [n, p] and B [n, q] of the same n inputs (rows):
    metric linear_cka, rbf_cka, debiased_cka, mknn (k neighbours), cca or svcca. With null > 0,
    a permutation null of B's rows. Returns {"metric", "value", "n"} and, with a null,
    "null": {"n", "mean", "p95", "p_value"} (as `lmech similarity --json`)."""
    m = _enum(lib.lm_sim_metric_parse, metric, "metric")
    A, B = _matrix(A, "A"), _matrix(B, "B")
    if A.shape[0] != B.shape[0]:
        raise Error(f"row counts differ: A has {A.shape[0]} rows, B has {B.shape[0]} "
                    "(rows must be the same inputs)")
    opts = _SimOpts(int(k), int(null), int(seed))
    r = _SimResult()
    call(lib.lm_similarity, m, ptr(A), A.shape[0], A.shape[1], ptr(B), B.shape[1],
         ctypes.byref(opts), ctypes.byref(r))
    out = {"metric": metric, "value": _num(r.value), "n": r.n}
    if r.has_null:
        out["null"] = {"n": int(null), "mean": _num(r.null_mean), "p95": _num(r.null_p95),
                       "p_value": _num(r.p_value)}
    return out


def kernel(x, depth=None, activation="relu", sw2=1.0, sb2=0.0, parameterization="ntp",
           width=0, base_width=0, bias=None, model=None, per_layer=False, max_bytes=0):
    """Kernels on the rows of x [n, d].

    Analytic (model=None): {"nngp": [n, n], "ntk": [n, n]} of the infinitely wide network with
    `depth` hidden layers (default 1), as `lmech kernel` (lm_kernel_analytic_spec); bias None
    means biases when sb2 > 0 (the CLI's default).
    Empirical (model = an lmech.Model, or a config dict / JSON / path, at its seeded init): the
    finite network's NTK [n*k, n*k] as `lmech kernel --empirical`, under "ntk" (and "layers"
    [n_layers, n*k, n*k] with per_layer=True).
    """
    if model is not None:
        from .core import Model
        if not isinstance(model, Model):
            model = Model.load(model)
        if depth is not None:
            raise Error("kernel: depth, activation, sw2, ... describe the analytic kernel; "
                        "an empirical kernel takes its network from the model")
        r = model.ntk(x, per_layer=per_layer, max_bytes=max_bytes)
        return {"ntk": r[0], "layers": r[1]} if per_layer else {"ntk": r}
    X = _matrix(x, "x")
    s = lib.lm_kernel_spec_default()
    s.depth = 1 if depth is None else int(depth)
    if s.depth < 0:
        raise Error(f"depth {depth}: expected a non-negative integer")
    s.act = _enum(lib.lm_act_parse, activation, "activation")
    s.param = _enum(lib.lm_param_parse, parameterization, "parameterization")
    s.sw2, s.sb2 = float(sw2), float(sb2)
    if bias is None:  # as `lmech kernel`: biases when sb2 > 0
        bias = float(sb2) > 0
    s.width, s.base_width, s.bias = int(width), int(base_width), int(bool(bias))
    n = X.shape[0]
    nngp, ntk = np.empty((n, n)), np.empty((n, n))
    call(lib.lm_kernel_analytic_spec, ctypes.byref(s), ptr(X), n, X.shape[1], ptr(nngp), ptr(ntk))
    return {"nngp": nngp, "ntk": ntk}


def _wspec_dict(s, name=None):
    eig = np.ctypeslib.as_array(s.eig, (s.m,)).copy() if s.m else np.empty(0)
    d = {"shape": [s.rows, s.cols], "alpha": _num(s.alpha), "alpha_stderr": _num(s.alpha_se),
         "xmin": _num(s.xmin), "ks": _num(s.ks),
         "mp": {"sigma2": _num(s.mp_sigma2), "lambda_plus": _num(s.mp_lambda_plus),
                "ks": _num(s.mp_ks), "q": _num(s.mp_q), "n_spikes": s.n_spikes,
                "spike_eigenvalues": eig[s.m - s.n_spikes:].copy()},
         "spikes": s.n_spikes, "stable_rank": _num(s.stable_rank), "log_norm": _num(s.log_fro),
         "log_spectral_norm": _num(s.log_spec), "fitted": bool(s.fitted), "n_tail": s.n_tail,
         "ks_p": _num(s.ks_p), "power_law": bool(s.power_law),
         "alpha_weighted": _num(s.alpha_weighted), "log_alpha_norm": _num(s.log_alpha_norm),
         "eigenvalues": eig}
    if name is not None:
        d = {"name": name, **d}
    return d


def weights(w, gof=0, seed=0):
    """Weight-matrix spectra (the ESD of W^T W / N, Marchenko-Pastur fit, power-law tail):
    w a 2-d array -> one dict with the keys of `lmech weights --json`'s layers; w a path to a
    safetensors file -> {"file", "layers": [...], "skipped": [...]} for every 2-d (and conv)
    tensor. gof > 0 adds the bootstrap goodness-of-fit p-value (ks_p) from gof draws."""
    opts = _WspecOpts(0, 0, 0.0, int(gof), int(seed))
    if isinstance(w, (str, os.PathLike)):
        f = ctypes.POINTER(_WspecFile)()
        call(lib.lm_wspec_file_read, os.fsencode(w), ctypes.byref(opts), ctypes.byref(f))
        try:
            F = f.contents
            layers = [_wspec_dict(F.specs[i], F.names[i].decode()) for i in range(F.n)]
            skipped = [F.skipped[i].decode() for i in range(F.n_skipped)]
        finally:
            lib.lm_wspec_file_free(f)
        return {"file": os.fspath(w), "layers": layers, "skipped": skipped}
    W = as_f64(w, "w")
    if W.ndim != 2:
        raise Error(f"w has shape {W.shape}: expected a 2-d matrix (or a safetensors path)")
    s = _Wspec()
    call(lib.lm_wspec_compute, ptr(W), W.shape[0], W.shape[1], ctypes.byref(opts),
         ctypes.byref(s))
    try:
        return _wspec_dict(s)
    finally:
        lib.lm_wspec_free(ctypes.byref(s))


_PAR = ("E", "A", "B", "alpha", "beta")


def fit(N, L, D=None, law=None, bootstrap=1000, seed=0, compute=None, threads=0):
    """A scaling-law fit (docs/fit.md): chinchilla L = E + A/N^alpha + B/D^beta (when D is
    given; the default) or power L = E + A/N^alpha, by the summed Huber objective from the
    grid of starts, with bootstrap intervals. Returns {"law", "params", "ci", "ci80",
    "n_points", "objective", "starts", "converged", "identifiable", "message"} (as `lmech fit
    --json`) and, with compute=C (chinchilla), "n_opt" and "d_opt" for C = 6 N D."""
    if law is None:
        law = "chinchilla" if D is not None else "power"
    lw = _enum(lib.lm_fit_law_parse, law, "law")
    n_ = as_f64(N, "N", 1)
    l_ = as_f64(L, "L", 1)
    d_ = as_f64(D, "D", 1) if D is not None else None
    if lw == 0 and d_ is None:
        raise Error("law chinchilla needs D (the data sizes); use law=\"power\" for N alone")
    for name, a in (("L", l_), ("D", d_)):
        if a is not None and a.shape != n_.shape:
            raise Error(f"{name} has {a.shape[0]} points, N has {n_.shape[0]}")
    opts = _FitOpts(law=lw, bootstrap=int(bootstrap), seed=int(seed), threads=int(threads))
    r = _FitResult()
    call(lib.lm_fit, ctypes.byref(opts), n_.shape[0], ptr(n_),
         ptr(d_) if d_ is not None else None, ptr(l_), ctypes.byref(r))
    try:
        two = lw == 0
        keys = [k for k in _PAR if two or k not in ("B", "beta")]
        idx = {k: i for i, k in enumerate(_PAR)}
        out = {"law": law, "params": {k: _num(r.par[idx[k]]) for k in keys},
               "ci": {k: [_num(r.ci95[idx[k]][0]), _num(r.ci95[idx[k]][1])] for k in keys},
               "ci80": {k: [_num(r.ci80[idx[k]][0]), _num(r.ci80[idx[k]][1])] for k in keys},
               "se": {k: _num(r.se[idx[k]]) for k in keys},
               "n_points": r.n_points, "objective": _num(r.objective), "starts": r.starts,
               "converged": r.converged, "identifiable": bool(r.identifiable),
               "message": r.message.decode()}
        if compute is not None:
            if not two:
                raise Error("compute: the compute-optimal allocation needs the chinchilla law")
            no, do = ctypes.c_double(), ctypes.c_double()
            par = (ctypes.c_double * _NPAR)(*r.par)
            call(lib.lm_fit_compute_optimal, par, float(compute), ctypes.byref(no),
                 ctypes.byref(do))
            out["n_opt"], out["d_opt"] = no.value, do.value
        return out
    finally:
        lib.lm_fit_result_clear(ctypes.byref(r))
