"""Training, the run database, models and their curvature (capi.h's handles and JSON)."""
import ctypes
import json
import os
import threading

import numpy as np

from ._lib import (Error, as_f64, c_double_p, c_size_t, c_void_p, call, lib, ptr, take_json,
                   take_string)


class _Config:
    """A config's JSON text and the name its errors should carry (a file's path)."""

    def __init__(self, config):
        self.text = _config_text(config).encode()
        self.name = (os.fspath(config) if isinstance(config, (str, os.PathLike))
                     and not os.fspath(config).lstrip().startswith("{") else None)

    def call(self, fn, *args):
        try:
            call(fn, self.text, *args)
        except Error as e:
            if self.name is None:
                raise
            raise Error(str(e).replace("<config>", self.name), e.code) from None


def _config_text(config):
    """A config given as a dict, as JSON text, or as the path of a JSON file -> JSON text."""
    if isinstance(config, dict):
        try:
            return json.dumps(config)
        except (TypeError, ValueError) as e:
            raise Error(f"config: not JSON-serialisable ({e})") from None
    if isinstance(config, (str, os.PathLike)):
        s = os.fspath(config)
        if s.lstrip().startswith("{"):
            return s
        try:
            with open(s, encoding="utf-8") as f:
                return f.read()
        except OSError as e:
            raise Error(f"{s}: cannot read the config ({e.strerror})") from None
    raise Error(f"config: expected a dict, JSON text or a file path, got {type(config).__name__}")


def _path(p, what):
    if p is None:
        return None
    if not isinstance(p, (str, os.PathLike)):
        raise Error(f"{what}: expected a path, got {type(p).__name__}")
    return os.fsencode(p)


def train(config, db="lmech.db", init=None, save=None):
    """Trains config once and records the run in db (created if needed), as `lmech train`.

    config: a dict (the JSON config of docs/config.md), JSON text or a path. init: a safetensors
    checkpoint to start from; save: where to write the final parameters. Returns the dict of
    `lmech train --json`: run_id, status, steps, wall_s, final {train_loss, train_acc, test_loss,
    test_acc} (None where not measured), diverged_step and message when set, db.

    Ctrl-C (KeyboardInterrupt) stops the run at the next step, as in the CLI: it is recorded
    `interrupted` in db, and the KeyboardInterrupt is raised again once it is.
    """
    cfg = _Config(config)
    args = (_path(db, "db"), _path(init, "init"), _path(save, "save"))
    out, stop, box = c_void_p(), ctypes.c_int(0), {}

    def work():  # ctypes releases the GIL: the main thread stays free to take Ctrl-C
        try:
            cfg.call(lib.lm_capi_train, *args, ctypes.byref(stop), ctypes.byref(out))
        except Error as e:
            box["error"] = e

    t = threading.Thread(target=work, name="lmech.train")
    t.start()
    try:
        while t.is_alive():
            t.join(0.05)
    except KeyboardInterrupt:
        stop.value = 1
        t.join()
        if out.value:
            lib.lm_capi_string_free(out)
        raise
    if "error" in box:
        raise box["error"]
    return take_json(out)


class Runs:
    """A run database written by lmech (read only in practice: nothing here writes rows).

    Runs(db).list() -> list of run dicts; .metrics(run_id) -> {name: (steps int64 array, values
    float64 array)}; .metrics(run_id, as_frame=True) -> a pandas DataFrame (step index, one
    column per metric); .config(run_id) -> dict; .claims(experiment=None) -> list of claim dicts.
    """

    def __init__(self, db):
        p = _path(db, "db")
        if not os.path.exists(p):
            raise Error(f"{os.fsdecode(p)}: no such database")
        self._s = c_void_p()
        call(lib.lm_store_open, p, ctypes.byref(self._s))
        self.path = os.fsdecode(p)

    def close(self):
        s, self._s = getattr(self, "_s", None), None
        if s and lib is not None:
            lib.lm_store_close(s)

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _h(self):
        if not self._s:
            raise Error(f"{self.path}: the database is closed")
        return self._s

    def list(self):
        out = c_void_p()
        call(lib.lm_capi_runs, self._h(), ctypes.byref(out))
        return take_json(out)

    def config(self, run_id):
        out = c_void_p()
        call(lib.lm_capi_run_config, self._h(), int(run_id), ctypes.byref(out))
        return json.loads(take_string(out))

    def claims(self, experiment=None):
        out = c_void_p()
        e = experiment.encode() if experiment is not None else None
        call(lib.lm_capi_claims, self._h(), e, ctypes.byref(out))
        return take_json(out)

    def metrics(self, run_id, as_frame=False):
        names, n = c_void_p(), c_size_t()
        steps = ctypes.POINTER(ctypes.c_int64)()
        values = c_double_p()
        which = ctypes.POINTER(ctypes.c_int64)()
        call(lib.lm_capi_metrics, self._h(), int(run_id), ctypes.byref(names), ctypes.byref(n),
             ctypes.byref(steps), ctypes.byref(values), ctypes.byref(which))
        try:
            names = json.loads(take_string(names))
            k = n.value
            st = np.ctypeslib.as_array(steps, (k,)).copy() if k else np.empty(0, np.int64)
            va = np.ctypeslib.as_array(values, (k,)).copy() if k else np.empty(0)
            wh = np.ctypeslib.as_array(which, (k,)).copy() if k else np.empty(0, np.int64)
        finally:
            for p in (steps, values, which):
                lib.lm_free(ctypes.cast(p, c_void_p))
        out = {name: (st[wh == i], va[wh == i]) for i, name in enumerate(names)}
        if not as_frame:
            return out
        try:
            import pandas as pd
        except ImportError:
            raise Error("metrics(as_frame=True) needs pandas, which is not installed "
                        "(apt-get install python3-pandas); without it, metrics() returns "
                        "{name: (steps, values)} arrays") from None
        return pd.DataFrame({name: pd.Series(v, index=s) for name, (s, v) in out.items()})


class Model:
    """A config's network at one parameter vector (float64), with its loss's derivatives.

    Arrays: x [n, d_in], y [n, d_out], v [n_params], all float64 row-major (C-contiguous
    float64 arrays are passed without a copy; anything else is converted). Outputs are new
    arrays.
    """

    def __init__(self, handle):
        self._h = handle
        self.n_params = lib.lm_capi_model_n_params(handle)
        self.d_in = lib.lm_capi_model_d_in(handle)
        self.d_out = lib.lm_capi_model_d_out(handle)
        self.n_layers = lib.lm_capi_model_n_layers(handle)
        self.n_repr = lib.lm_capi_model_n_repr(handle)
        self.config = json.loads(lib.lm_capi_model_config(handle).decode())

    @classmethod
    def load(cls, config, safetensors=None):
        """The network of config with the parameters of a safetensors checkpoint (as written
        by `lmech train --save`), or its seeded initialisation when safetensors is None."""
        h = c_void_p()
        _Config(config).call(lib.lm_capi_model_load, _path(safetensors, "safetensors"),
                             ctypes.byref(h))
        return cls(h)

    def __del__(self):
        h, self._h = getattr(self, "_h", None), None
        if h and lib is not None:
            lib.lm_capi_model_free(h)

    @property
    def tensors(self):
        """The named parameter tensors in the flat vector's order: a list of {"name", "offset",
        "shape"} (PyTorch's state_dict names and shapes, as in the checkpoint)."""
        out = c_void_p()
        call(lib.lm_capi_model_tensors, self._h, ctypes.byref(out))
        return take_json(out)

    def named(self, theta=None):
        """{name: array} views of theta (default: a copy of the parameters) shaped as the
        tensors; theta may be any [n_params] vector in the flat layout (a gradient, an HVP)."""
        t = self.params if theta is None else self._vec(theta, "theta")
        return {d["name"]: t[d["offset"]:d["offset"] + int(np.prod(d["shape"]))]
                .reshape(d["shape"]) for d in self.tensors}

    @property
    def params(self):
        """A copy of the parameters [n_params] (the flat layout of docs/architecture.md)."""
        t = np.empty(self.n_params)
        call(lib.lm_capi_model_get_params, self._h, ptr(t))
        return t

    @params.setter
    def params(self, theta):
        t = self._vec(theta, "params")
        call(lib.lm_capi_model_set_params, self._h, ptr(t))

    def data(self):
        """The config's data sets: ((x_train, y_train), (x_test, y_test) or None)."""
        tr, te = c_void_p(), c_void_p()
        call(lib.lm_capi_model_data, self._h, ctypes.byref(tr), ctypes.byref(te))
        try:
            return _dataset(tr), (_dataset(te) if te.value else None)
        finally:
            lib.lm_dataset_free(tr)
            lib.lm_dataset_free(te)

    def _x(self, x, name="x"):
        a = as_f64(x, name)
        if a.ndim == 1 and self.d_in == a.size:
            a = a.reshape(1, -1)
        if a.ndim != 2 or a.shape[1] != self.d_in or a.shape[0] == 0:
            raise Error(f"{name} has shape {a.shape}: the model expects [n, {self.d_in}] "
                        "with n >= 1")
        return a

    def _y(self, y, n):
        a = as_f64(y, "y")
        if a.ndim == 1 and a.size == n * self.d_out:
            a = a.reshape(n, self.d_out)
        if a.shape != (n, self.d_out):
            raise Error(f"y has shape {a.shape}: expected [{n}, {self.d_out}] for x's {n} rows")
        return a

    def _vec(self, v, name):
        a = as_f64(v, name)
        if a.shape != (self.n_params,):
            raise Error(f"{name} has shape {a.shape}: expected [{self.n_params}] "
                        "(the model's parameter count)")
        return a

    def forward(self, x):
        """The network's outputs f [n, d_out] at x [n, d_in]."""
        x = self._x(x)
        f = np.empty((x.shape[0], self.d_out))
        call(lib.lm_capi_model_forward, self._h, ptr(x), x.shape[0], ptr(f))
        return f

    def features(self, x, layer):
        """Representation layer `layer`'s features [n, width] of x, as `lmech features`: 0 the
        inputs, 1 .. n_repr - 1 the hidden post-activations, n_repr the outputs."""
        x = self._x(x)
        if not isinstance(layer, (int, np.integer)) or not 0 <= layer <= self.n_repr:
            raise Error(f"layer {layer!r}: expected an integer in 0..{self.n_repr} "
                        f"(0 the inputs, {self.n_repr} the outputs)")
        h = np.empty((x.shape[0], lib.lm_capi_model_layer_width(self._h, int(layer))))
        call(lib.lm_capi_model_features, self._h, ptr(x), x.shape[0], int(layer), ptr(h))
        return h

    def loss_grad(self, x, y):
        """(loss, grad [n_params]): the config's loss, mean over the n examples, and its
        gradient with respect to the parameters."""
        x = self._x(x)
        y = self._y(y, x.shape[0])
        loss = ctypes.c_double()
        g = np.empty(self.n_params)
        call(lib.lm_capi_model_loss_grad, self._h, ptr(x), ptr(y), x.shape[0],
             ctypes.byref(loss), ptr(g))
        return loss.value, g

    def hvp(self, x, y, v):
        """H v [n_params]: the exact Hessian-vector product of the loss (R-operator)."""
        x = self._x(x)
        y = self._y(y, x.shape[0])
        v = self._vec(v, "v")
        hv = np.empty(self.n_params)
        call(lib.lm_capi_model_hvp, self._h, ptr(x), ptr(y), x.shape[0], ptr(v), ptr(hv))
        return hv

    def jvp(self, x, v):
        """J v [n, d_out]: the outputs' directional derivative along parameters v."""
        x = self._x(x)
        v = self._vec(v, "v")
        df = np.empty((x.shape[0], self.d_out))
        call(lib.lm_capi_model_jvp, self._h, ptr(x), x.shape[0], ptr(v), ptr(df))
        return df

    def hessian(self, x, y, **opts):
        """Top-k eigenvalues (and, with trace=True / density=True, Hutchinson's trace and the
        SLQ density) of the loss Hessian on (x, y); the dict of `lmech hessian --json`."""
        x = self._x(x)
        y = self._y(y, x.shape[0])
        out = c_void_p()
        call(lib.lm_capi_model_hessian, self._h, ptr(x), ptr(y), x.shape[0],
             json.dumps(opts).encode(), ctypes.byref(out))
        return _hessian_arrays(take_json(out))

    def ntk(self, x, per_layer=False, max_bytes=0):
        """The empirical NTK [n*k, n*k] (index i*k + a, k = d_out; every learning rate 1), and
        with per_layer=True also each dense layer's term [n_layers, n*k, n*k]."""
        x = self._x(x)
        nk = x.shape[0] * self.d_out
        K = np.empty((nk, nk))
        L = np.empty((self.n_layers, nk, nk)) if per_layer else None
        call(lib.lm_capi_model_ntk, self._h, ptr(x), x.shape[0], int(max_bytes), ptr(K),
             ptr(L) if per_layer else None)
        return (K, L) if per_layer else K


class _Dataset(ctypes.Structure):
    _fields_ = [("n", c_size_t), ("d", c_size_t), ("k", c_size_t), ("x", c_double_p),
                ("y", c_double_p), ("labels", ctypes.POINTER(ctypes.c_int32)),
                ("n_classes", c_size_t), ("positions", c_size_t)]


def _dataset(p):
    ds = ctypes.cast(p, ctypes.POINTER(_Dataset)).contents
    x = np.ctypeslib.as_array(ds.x, (ds.n, ds.d)).copy()
    y = np.ctypeslib.as_array(ds.y, (ds.n, ds.k)).copy()
    return x, y


def _hessian_arrays(j):
    for k in ("eigenvalues", "residuals"):
        j[k] = np.array(j[k], dtype=float)
    if "density" in j:
        for k in ("grid", "values", "nodes", "weights"):
            if k in j["density"]:
                j["density"][k] = np.array(j["density"][k], dtype=float)
    return j


def hessian(config, safetensors=None, **opts):
    """The loss Hessian of config's network on its training set (full batch, float64), at a
    checkpoint or at the seeded initialisation, as `lmech hessian --json`: eigenvalues (top k,
    descending), residuals, converged, iterations (Lanczos), loss, hvps, and with trace=True
    {"estimate", "stderr", ...}, with density=True {"grid", "values", ...}. Options: top,
    smallest, method ("lanczos" or "dense"), tol, max_iter, seed, trace, probes, density,
    slq_probes, slq_steps, bins, max_memory_mb (the CLI's flags)."""
    m = Model.load(config, safetensors)
    (x, y), _ = m.data()
    if m.config.get("model", {}).get("center_output"):
        # the trained loss is L(F(w) - F(w_0), y) = L(F(w), y + F(w_0)), w_0 the seeded init:
        # the target shift of training and of `lmech hessian`
        y = y + Model.load(config).forward(x)
    return m.hessian(x, y, **opts)
