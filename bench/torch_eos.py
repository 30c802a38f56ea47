#!/usr/bin/python3
"""torch_eos.py: PyTorch's side of the edge-of-stability benchmark (bench/eos.sh): the runs of
`lmech exp eos` at its full size, as a PyTorch user would write them. 196-64-64-10 tanh MLP with
biases, float64, lmech's `sp` initialisation (W ~ N(0, 1/fan_in), b = 0), the first 1000
Fashion-MNIST training images pooled 2x2 and standardised per feature (constant features only
centred), one-hot targets, lmech's `mse` (1/(2n)) sum ||f - y||^2, full-batch GD for 6000 steps
at eta = 0.1, 0.08 and 0.04, the training loss recorded every 20 steps, and the sharpness every
EVERY steps (default 25) by scipy.sparse.linalg.eigsh(k=1, which='LA', tol=1e-3) over
double-backward Hessian-vector products, warm-started from the previous eigenvector (v0).
Usage: torch_eos.py THREADS [EVERY] [STEPS]; prints one JSON line per run and a total."""
import gzip, json, sys, time

import numpy as np
import scipy.sparse.linalg as sla
import torch

N = 1000


def load():
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16)[: N * 784].reshape(N, 28, 28) / 255.0
    with gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz") as f:
        lab = np.frombuffer(f.read(), np.uint8, offset=8)[:N]
    x = x.reshape(N, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(N, 196)
    mu, sd = x.mean(0), x.std(0)
    sd[sd == 0] = 1.0
    x = (x - mu) / sd
    return torch.tensor(x), torch.tensor(np.eye(10)[lab])


def gd_with_sharpness(x, y, widths, lr, every, loss_every, steps, seed):
    """Full-batch GD of a tanh MLP with biases (W ~ N(0, 1/fan_in), b = 0) in x's dtype on lmech's
    `mse`, the training loss every loss_every steps and the sharpness every `every` steps and at
    the last by warm-started eigsh over double-backward HVPs. Returns (wall_s, sharp, losses,
    hvps). Shared with torch_eos_f32.py."""
    dt = x.dtype
    npdt = np.float32 if dt == torch.float32 else np.float64
    n, depth = x.shape[0], len(widths) - 1
    g = torch.Generator().manual_seed(seed)
    params = []
    for i in range(depth):
        w = torch.randn(widths[i + 1], widths[i], generator=g, dtype=dt) / widths[i] ** 0.5
        params += [w.requires_grad_(), torch.zeros(widths[i + 1], dtype=dt, requires_grad=True)]

    def loss_fn():
        h = x
        for i in range(depth - 1):
            h = torch.tanh(h @ params[2 * i].T + params[2 * i + 1])
        f = h @ params[-2].T + params[-1]
        return 0.5 * ((f - y) ** 2).sum() / n

    p = sum(t.numel() for t in params)
    v0, sharp, losses, hvps = None, [], [], 0
    t0 = time.perf_counter()
    for step in range(steps + 1):
        if step % every == 0 or step == steps:
            grads = torch.autograd.grad(loss_fn(), params, create_graph=True)

            def hvp(v):
                nonlocal hvps
                hvps += 1
                v = torch.from_numpy(np.ascontiguousarray(v, dtype=npdt).ravel())
                vs, off = [], 0
                for t in params:
                    vs.append(v[off: off + t.numel()].view_as(t))
                    off += t.numel()
                hv = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=True)
                return torch.cat([h.reshape(-1) for h in hv]).numpy()

            op = sla.LinearOperator((p, p), matvec=hvp, dtype=npdt)
            ev, evec = sla.eigsh(op, k=1, which="LA", tol=1e-3, v0=v0)
            v0 = evec[:, 0]
            sharp.append(float(ev[0]))
            del grads
        if step == steps:
            break
        loss = loss_fn()
        if step % loss_every == 0:
            losses.append(loss.item())
        gr = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for t, d in zip(params, gr):
                t -= lr * d
    return time.perf_counter() - t0, sharp, losses, hvps


def run(x, y, lr, every, steps, seed):
    wall, sharp, losses, hvps = gd_with_sharpness(x, y, [196, 64, 64, 10], lr, every, 20, steps,
                                                  seed)
    return {"lr": lr, "steps": steps, "every": every, "wall_s": round(wall, 3), "hvps": hvps,
            "hvps_per_estimate": round(hvps / len(sharp), 2), "final_sharpness": round(sharp[-1], 3),
            "max_sharpness_x_eta_over_2": round(max(sharp) * lr / 2, 3), "final_loss": losses[-1]}


def main():
    threads = int(sys.argv[1])
    every = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 6000
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    x, y = load()
    for lr in (0.1, 0.08, 0.04):
        print(json.dumps(run(x, y, lr, every, steps, 0)), flush=True)
    print(json.dumps({"torch_threads": threads, "total_wall_s": round(time.perf_counter() - t0, 3)}))


if __name__ == "__main__":
    main()
