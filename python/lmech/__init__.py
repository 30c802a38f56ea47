"""lmech from Python: the C library liblmech through ctypes, numpy arrays in and out.

    import lmech
    res = lmech.train(config_dict, db="runs.db")        # as `lmech train --json`
    runs = lmech.Runs("runs.db"); runs.metrics(res["run_id"])["train_loss"]  # (steps, values)
    m = lmech.Model.load(config_dict, "ckpt.safetensors"); loss, g = m.loss_grad(x, y)
    lmech.hessian(config_dict, top=3, trace=True)

Every failure raises lmech.Error with lmech's own message. docs/python.md has the whole API.
"""
from ._lib import Error, library_path, lib as _clib
from .core import train, Runs, Model, hessian
from .analysis import kernel, similarity, weights, fit

__version__ = _clib.lm_version().decode()

__all__ = ["Error", "train", "Runs", "Model", "hessian", "kernel", "similarity", "weights", "fit",
           "library_path", "__version__"]
