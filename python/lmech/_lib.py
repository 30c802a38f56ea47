"""Loading liblmech and declaring its functions for ctypes.

The library is found, in order, through the environment variable LMECH_LIBRARY (a path to
liblmech.so), beside this package (an installed package carries its copy), or in build/ of the
checkout this package sits in (importing with PYTHONPATH=python after `make build`).
"""
import ctypes
import json
import os

import numpy as np

__all__ = ["Error", "lib", "library_path", "call", "take_string", "c_double_p"]


class Error(Exception):
    """An lmech error: the message is lmech's own (lm_err), naming the file, key, value or shape
    that was wrong; `code` is the lm_status name ("invalid argument", ...)."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class _Err(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_int),
        ("msg", ctypes.c_char * 256),
        ("src_file", ctypes.c_char_p),
        ("src_line", ctypes.c_int),
    ]


def _candidates():
    env = os.environ.get("LMECH_LIBRARY")
    if env:
        return [env], True
    here = os.path.dirname(os.path.abspath(__file__))
    return [os.path.join(here, "liblmech.so"),
            os.path.join(here, os.pardir, os.pardir, "build", "liblmech.so")], False


def _load():
    paths, explicit = _candidates()
    for p in paths:
        if os.path.isfile(p):
            return ctypes.CDLL(os.path.abspath(p)), os.path.abspath(p)
    if explicit:
        raise ImportError(f"LMECH_LIBRARY={paths[0]}: no such file")
    raise ImportError("liblmech.so not found: set LMECH_LIBRARY to its path, install the package "
                      "with `pip install ./python` after building, or build the checkout "
                      "(make build) so build/liblmech.so exists; looked in " + ", ".join(
                          os.path.normpath(p) for p in paths))


lib, library_path = _load()

c_double_p = ctypes.POINTER(ctypes.c_double)
c_int64_p = ctypes.POINTER(ctypes.c_int64)
c_size_t = ctypes.c_size_t
c_void_p = ctypes.c_void_p
c_char_p = ctypes.c_char_p
_errp = ctypes.POINTER(_Err)


def _decl(name, args, res=ctypes.c_int):
    f = getattr(lib, name)
    f.argtypes = args
    f.restype = res
    return f


lib.lm_status_str.argtypes = [ctypes.c_int]
lib.lm_status_str.restype = c_char_p
_decl("lm_version", [], c_char_p)
_decl("lm_capi_string_free", [c_void_p], None)
_decl("lm_capi_sizeof", [c_char_p], c_size_t)
_decl("lm_free", [c_void_p], None)
_decl("lm_capi_train", [c_char_p, c_char_p, c_char_p, c_char_p, ctypes.POINTER(ctypes.c_int),
                        ctypes.POINTER(c_void_p), _errp])
_decl("lm_store_open", [c_char_p, ctypes.POINTER(c_void_p), _errp])
_decl("lm_store_close", [c_void_p], None)
_decl("lm_capi_runs", [c_void_p, ctypes.POINTER(c_void_p), _errp])
_decl("lm_capi_run_config", [c_void_p, ctypes.c_int64, ctypes.POINTER(c_void_p), _errp])
_decl("lm_capi_metrics", [c_void_p, ctypes.c_int64, ctypes.POINTER(c_void_p),
                          ctypes.POINTER(c_size_t), ctypes.POINTER(c_int64_p),
                          ctypes.POINTER(c_double_p), ctypes.POINTER(c_int64_p), _errp])
_decl("lm_capi_claims", [c_void_p, c_char_p, ctypes.POINTER(c_void_p), _errp])
_decl("lm_capi_model_load", [c_char_p, c_char_p, ctypes.POINTER(c_void_p), _errp])
_decl("lm_capi_model_free", [c_void_p], None)
for _g in ("n_params", "d_in", "d_out", "n_layers"):
    _decl("lm_capi_model_" + _g, [c_void_p], c_size_t)
_decl("lm_capi_model_config", [c_void_p], c_char_p)
_decl("lm_capi_model_n_repr", [c_void_p], c_size_t)
_decl("lm_capi_model_layer_width", [c_void_p, c_size_t], c_size_t)
_decl("lm_capi_model_features", [c_void_p, c_double_p, c_size_t, c_size_t, c_double_p, _errp])
_decl("lm_capi_model_tensors", [c_void_p, ctypes.POINTER(c_void_p), _errp])
_decl("lm_capi_model_get_params", [c_void_p, c_double_p, _errp])
_decl("lm_capi_model_set_params", [c_void_p, c_double_p, _errp])
_decl("lm_capi_model_data", [c_void_p, ctypes.POINTER(c_void_p), ctypes.POINTER(c_void_p), _errp])
_decl("lm_dataset_free", [c_void_p], None)
_decl("lm_capi_model_forward", [c_void_p, c_double_p, c_size_t, c_double_p, _errp])
_decl("lm_capi_model_loss_grad", [c_void_p, c_double_p, c_double_p, c_size_t, c_double_p,
                                  c_double_p, _errp])
_decl("lm_capi_model_jvp", [c_void_p, c_double_p, c_size_t, c_double_p, c_double_p, _errp])
_decl("lm_capi_model_hvp", [c_void_p, c_double_p, c_double_p, c_size_t, c_double_p, c_double_p,
                            _errp])
_decl("lm_capi_model_hessian", [c_void_p, c_double_p, c_double_p, c_size_t, c_char_p,
                                ctypes.POINTER(c_void_p), _errp])
_decl("lm_capi_model_ntk", [c_void_p, c_double_p, c_size_t, c_size_t, c_double_p, c_double_p,
                            _errp])


def call(fn, *args):
    """Calls an lmech function whose last argument is lm_err *; raises Error on failure."""
    err = _Err()
    st = fn(*args, ctypes.byref(err))
    if st != 0:
        msg = err.msg.decode("utf-8", "replace") or lib.lm_status_str(st).decode()
        raise Error(msg, lib.lm_status_str(st).decode())


def take_string(p):
    """The text of a char * returned by the capi, freed."""
    try:
        return ctypes.string_at(p.value).decode("utf-8")
    finally:
        lib.lm_capi_string_free(p)


def take_json(p):
    return json.loads(take_string(p))


def check_size(name, struct):
    """Fails at import when a mirrored struct's size differs from the library's."""
    n = lib.lm_capi_sizeof(name.encode())
    if n != ctypes.sizeof(struct):
        raise ImportError(f"{library_path}: {name} is {n} bytes in the library, "
                          f"{ctypes.sizeof(struct)} in the binding: rebuild the package "
                          "against this library")


def as_f64(a, name, ndim=None):
    """a as a C-contiguous float64 array (no copy when it already is one)."""
    if (isinstance(a, np.ndarray) and a.dtype == np.float64 and a.flags.c_contiguous
            and a.flags.aligned and (ndim is None or a.ndim == ndim)):
        return a  # zero-copy: the library reads (or writes) this memory directly
    if np.iscomplexobj(a):
        raise Error(f"{name}: complex values; lmech takes real float64 arrays")
    try:
        arr = np.ascontiguousarray(a, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise Error(f"{name}: cannot convert to a float64 array ({e})") from None
    if ndim is not None and arr.ndim != ndim:
        raise Error(f"{name} has shape {arr.shape}: expected {ndim} dimensions")
    return arr


def ptr(a):
    return a.ctypes.data_as(c_double_p)
