"""lmech from Python in a few cells: train, read the run back, look at curvature, kernels and
weights. Runs as it is from the checkout after `make build`:

    /usr/bin/python3 examples/python/quickstart.py

(or after `pip install ./python`, from anywhere). Each "# %%" is a notebook cell.
"""
# %% Import lmech: the installed package, else the checkout's python/ with build/liblmech.so
import os
import shutil
import sys
import tempfile

import numpy as np

try:
    import lmech
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "python"))
    import lmech
print("lmech", lmech.__version__, "from", lmech.library_path)
work = tempfile.mkdtemp(prefix="lmech-quickstart-")
db, ckpt = os.path.join(work, "runs.db"), os.path.join(work, "student.safetensors")

# %% A config is a dict (docs/config.md): a tanh student learns a random teacher
config = {
    "seed": 1,
    "data": {"source": "teacher", "dim": 16, "outputs": 1, "teacher_width": 32,
             "noise": 0.05, "train_size": 256, "test_size": 256},
    "model": {"widths": [16, 64, 1], "activation": "tanh"},
    "loss": "mse",
    "optimizer": {"name": "sgd", "lr": 0.1},
    "steps": 400, "eval_every": 20, "threads": 1,
}
run = lmech.train(config, db=db, save=ckpt)
print(f"run {run['run_id']} {run['status']}: train loss {run['final']['train_loss']:.4g}, "
      f"test loss {run['final']['test_loss']:.4g}")

# %% The run database: runs, configs and every recorded metric as numpy arrays
runs = lmech.Runs(db)
print("runs:", [(r["id"], r["status"]) for r in runs.list()])
steps, loss = runs.metrics(run["run_id"])["train_loss"]
print(f"train_loss recorded at {len(steps)} steps, from {loss[0]:.4g} to {loss[-1]:.4g}")
assert loss[-1] < loss[0]

# %% The trained network: loss, gradient and Hessian-vector products on numpy arrays
model = lmech.Model.load(config, ckpt)
(x, y), _ = model.data()
L, g = model.loss_grad(x, y)
v = g / np.linalg.norm(g)
print(f"loss {L:.6g}, |grad| {np.linalg.norm(g):.3g}, curvature along the gradient "
      f"{v @ model.hvp(x, y, v):.4g}")

# %% Curvature: top eigenvalues and trace of the loss Hessian (as `lmech hessian`)
h = lmech.hessian(config, ckpt, top=3, trace=True)
print("top eigenvalues", np.round(h["eigenvalues"], 4), f"(2/lr = {2 / 0.1:g}),",
      f"trace {h['trace']['estimate']:.4g} +- {h['trace']['stderr']:.2g}")
assert h["eigenvalues"][0] >= v @ model.hvp(x, y, v) - 1e-9  # the top one bounds any Rayleigh quotient

# %% Kernels: the wide network's analytic NTK beside this finite network's empirical one
xs = x[:8]
K_inf = lmech.kernel(xs, depth=1, activation="tanh")["ntk"]
K_emp = lmech.kernel(xs, model=model)["ntk"]
cos = (K_inf * K_emp).sum() / np.linalg.norm(K_inf) / np.linalg.norm(K_emp)
print(f"alignment of the empirical NTK (trained, width 64) with the infinite-width one: {cos:.3f}")

# %% Representations and weights: how far training moved the hidden layer (linear CKA of its
# features at init and after training, against a permutation null), and its weight spectrum
init = lmech.Model.load(config)
h0, h1 = init.features(x, 1), model.features(x, 1)
sim = lmech.similarity(h0, h1, null=50, seed=0)
print(f"linear CKA(hidden at init, hidden trained) = {sim['value']:.4f} "
      f"(null mean {sim['null']['mean']:.3f}, p = {sim['null']['p_value']:.3g})")
for layer in lmech.weights(ckpt)["layers"]:
    s2 = layer["mp"]["sigma2"]  # None where nothing could be fitted (the 1 x 64 readout)
    print(f"{layer['name']}: shape {layer['shape']}, stable rank {layer['stable_rank']:.3g}, "
          f"MP sigma^2 {'-' if s2 is None else format(s2, '.3g')}")

# %% Errors are lmech.Error with lmech's message
try:
    model.loss_grad(x[:, :3], y)
except lmech.Error as e:
    print("lmech.Error:", e)
shutil.rmtree(work)  # the run database and checkpoint; drop this line to keep them
