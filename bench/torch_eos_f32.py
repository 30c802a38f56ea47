#!/usr/bin/python3
"""torch_eos_f32.py: PyTorch's side of bench/eos_f32.sh, as a PyTorch user would write it: a
784-200-200-10 tanh MLP with biases in float32, lmech's `sp` initialisation (W ~ N(0, 1/fan_in),
b = 0), the first N Fashion-MNIST training images scaled to [0, 1] (lmech's "scale01"), one-hot
targets, lmech's `mse` (1/(2n)) sum ||f - y||^2, full-batch GD for STEPS steps at rate LR, the
training loss recorded every EVERY steps, and the sharpness every EVERY steps (and at the last
step) by scipy.sparse.linalg.eigsh(k=1, which='LA', tol=1e-3) over float32 double-backward
Hessian-vector products, warm-started from the previous eigenvector (v0).
Usage: torch_eos_f32.py THREADS [N] [STEPS] [EVERY] [LR]; prints one JSON line."""
import gzip, json, sys, time

import numpy as np
import scipy.sparse.linalg as sla
import torch


def load(n):
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16)[: n * 784].reshape(n, 784) / 255.0
    with gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz") as f:
        lab = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return torch.tensor(x, dtype=torch.float32), torch.tensor(np.eye(10)[lab], dtype=torch.float32)


def run(x, y, lr, every, steps, seed):
    n = x.shape[0]
    g = torch.Generator().manual_seed(seed)
    widths = [784, 200, 200, 10]
    params = []
    for i in range(3):
        w = torch.randn(widths[i + 1], widths[i], generator=g) / widths[i] ** 0.5
        params += [w.requires_grad_(), torch.zeros(widths[i + 1], requires_grad=True)]

    def loss_fn():
        h = x
        for i in range(2):
            h = torch.tanh(h @ params[2 * i].T + params[2 * i + 1])
        f = h @ params[4].T + params[5]
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
                v = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32).ravel())
                vs, off = [], 0
                for t in params:
                    vs.append(v[off: off + t.numel()].view_as(t))
                    off += t.numel()
                hv = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=True)
                return torch.cat([h.reshape(-1) for h in hv]).numpy()

            op = sla.LinearOperator((p, p), matvec=hvp, dtype=np.float32)
            ev, evec = sla.eigsh(op, k=1, which="LA", tol=1e-3, v0=v0)
            v0 = evec[:, 0]
            sharp.append(float(ev[0]))
            del grads
        if step == steps:
            break
        loss = loss_fn()
        if step % every == 0:
            losses.append(loss.item())
        gr = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for t, d in zip(params, gr):
                t -= lr * d
    wall = time.perf_counter() - t0
    return {"side": "pytorch", "torch_threads": torch.get_num_threads(), "n": n, "lr": lr,
            "steps": steps, "every": every, "wall_s": round(wall, 3), "estimates": len(sharp),
            "hvps": hvps, "hvps_per_estimate": round(hvps / len(sharp), 2),
            "first_sharpness": round(sharp[0], 4), "final_sharpness": round(sharp[-1], 4),
            "max_sharpness": round(max(sharp), 4), "final_loss": losses[-1]}


def main():
    threads = int(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    every = int(sys.argv[4]) if len(sys.argv) > 4 else 25
    lr = float(sys.argv[5]) if len(sys.argv) > 5 else 0.1
    torch.set_num_threads(threads)
    x, y = load(n)
    print(json.dumps(run(x, y, lr, every, steps, 0)), flush=True)


if __name__ == "__main__":
    main()
