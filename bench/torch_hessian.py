#!/usr/bin/python3
"""torch_hessian.py: the PyTorch side of the top-Hessian-eigenvalue benchmark (issue 4).

784-512-512-10 tanh MLP (float64, torch's default init with seed 0), the first 2000 Fashion-MNIST
training images (pixels / 255), one-hot targets, lmech's `mse` loss (1/(2n)) sum ||f - y||^2.
Writes the network as OUT.safetensors (layers.{i}.weight / bias, the layout lmech loads) and a
matching lmech config OUT.json, then finds the top Hessian eigenvalue with
scipy.sparse.linalg.eigsh(k=1, which='LA', tol=1e-4) over double-backward Hessian-vector products
(the gradient graph built once and retained). Prints one JSON line.

Run: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/torch_hessian.py OUT
(bench/hessian.sh runs both sides.)
"""
import gzip, json, os, sys, time

import numpy as np
import scipy.sparse.linalg as sla
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
from make_fixture import write_safetensors  # noqa: E402

N, WIDTHS = 2000, [784, 512, 512, 10]


def load():
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16)[: N * 784].reshape(N, 784) / 255.0
    with gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz") as f:
        lab = np.frombuffer(f.read(), np.uint8, offset=8)[:N]
    return torch.tensor(x), torch.tensor(np.eye(10)[lab])


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", "2")))
    layers = []
    for i in range(len(WIDTHS) - 1):
        layers.append(torch.nn.Linear(WIDTHS[i], WIDTHS[i + 1]).double())
    params = [t for l in layers for t in (l.weight, l.bias)]
    write_safetensors(out + ".safetensors",
                      {f"layers.{i}.{n}": getattr(l, n).detach().numpy()
                       for i, l in enumerate(layers) for n in ("weight", "bias")})
    cfg = {"seed": 0, "data": {"source": "fashion-mnist", "train_size": N, "test_size": 0,
                               "subset": "first", "normalize": "scale01", "targets": "onehot"},
           "model": {"widths": WIDTHS, "activation": "tanh", "bias": True, "parameterization": "sp"},
           "loss": "mse", "optimizer": {"name": "sgd", "lr": 0.1}, "batch_size": 0, "steps": 1,
           "dtype": "float64"}
    with open(out + ".json", "w") as f:
        json.dump(cfg, f)
    x, y = load()

    def loss_fn():
        h = x
        for l in layers[:-1]:
            h = torch.tanh(l(h))
        f = layers[-1](h)
        return 0.5 * ((f - y) ** 2).sum() / N

    p = sum(t.numel() for t in params)
    # gradient cost, for the HVP/gradient ratio
    t0 = time.perf_counter()
    for _ in range(3):
        torch.autograd.grad(loss_fn(), params)
    t_grad = (time.perf_counter() - t0) / 3

    t0 = time.perf_counter()
    grads = torch.autograd.grad(loss_fn(), params, create_graph=True)
    count = [0]

    def hvp(v):
        count[0] += 1
        v = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64).ravel())
        vs, off = [], 0
        for t in params:
            vs.append(v[off: off + t.numel()].view_as(t))
            off += t.numel()
        hv = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in hv]).numpy()

    op = sla.LinearOperator((p, p), matvec=hvp, dtype=np.float64)
    vals, vecs = sla.eigsh(op, k=1, which="LA", tol=1e-4)
    wall = time.perf_counter() - t0
    n_hvp = count[0]
    lam, u = vals[0], vecs[:, 0]
    res = np.linalg.norm(hvp(u) - lam * u) / abs(lam) / np.linalg.norm(u)
    t1 = time.perf_counter()
    for _ in range(3):
        hvp(u)
    t_hvp = (time.perf_counter() - t1) / 3
    print(json.dumps({"side": "torch+eigsh(tol=1e-4)", "p": p, "eigenvalue": float(lam),
                      "relative_residual": float(res), "hvps": n_hvp, "wall_s": wall,
                      "grad_s": t_grad, "hvp_s": t_hvp, "hvp_over_grad": t_hvp / t_grad,
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
