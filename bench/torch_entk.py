#!/usr/bin/python3
"""torch_entk.py: the PyTorch side of the empirical-NTK benchmark (issue 5).

784-W-W-W-1 ReLU MLP in the NTK parameterisation (f = sqrt(2/fan_in) W a + sqrt(0.05) b, W and
b ~ N(0, 1), drawn by NumPy with seed 0), the first 256 Fashion-MNIST training images
(pixels / 255), float64. Writes the network as OUT/net.safetensors (layers.{i}.weight / bias, the
layout lmech loads), the inputs as OUT/x.npy, then builds Theta = J J^T from autograd per-example
gradients: functorch.vmap(functorch.grad(f)) over the 256 examples gives J [256, p] (one output),
and Theta is the sum over parameter tensors of J_t J_t^T. This is PyTorch's cheapest Jacobian here:
jacrev on the batch would backpropagate all 256 cotangents through the whole batch (256x the work).
Times the best of 2 calls, then saves Theta as OUT/torch_ntk.npy and prints one JSON line with the
wall time and this process's peak RSS (getrusage ru_maxrss), also written to OUT/torch.json.

Run: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/torch_entk.py OUT [W [METHOD]]
(bench/run.sh runs it and then build/bench/bench_entk OUT, which compares.)
"""
import gzip, json, os, resource, sys, time

import numpy as np
import torch
from functorch import grad, vmap

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
from make_fixture import write_safetensors  # noqa: E402

N, SW2, SB2 = 256, 2.0, 0.05


def main():
    out = sys.argv[1]
    W = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)  # shared/baselines.md: torch 1 intra-op thread + OpenBLAS 2
    widths = [784, W, W, W, 1]
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16)[: N * 784].reshape(N, 784) / 255.0
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal((widths[i + 1], widths[i])) for i in range(4)]
    bs = [rng.standard_normal(widths[i + 1]) for i in range(4)]
    tensors = {}
    for i in range(4):
        tensors[f"layers.{i}.weight"] = ws[i]
        tensors[f"layers.{i}.bias"] = bs[i]
    write_safetensors(os.path.join(out, "net.safetensors"), tensors)
    np.save(os.path.join(out, "x.npy"), x)

    params = tuple(torch.tensor(t) for pair in zip(ws, bs) for t in pair)
    X = torch.tensor(x)
    wm = [(SW2 / widths[i]) ** 0.5 for i in range(4)]
    bm = SB2 ** 0.5

    def f(p, xi):  # one example -> the scalar output
        h = xi
        for i in range(4):
            z = wm[i] * (p[2 * i] @ h) + bm * p[2 * i + 1]
            h = torch.relu(z) if i < 3 else z
        return h[0]

    def ntk_vmap():  # functorch per-example gradients, batched over the examples
        g = vmap(grad(f), in_dims=(None, 0))(params, X)
        K = torch.zeros(N, N, dtype=torch.float64)
        for t in g:
            j = t.reshape(N, -1)
            K += j @ j.T
        return K

    leaves = tuple(t.clone().requires_grad_(True) for t in params)
    p_total = sum(t.numel() for t in params)

    def ntk_loop():  # one backward pass per example into the rows of J [N, p], then J J^T
        J = torch.empty(N, p_total, dtype=torch.float64)
        for i in range(N):
            gs = torch.autograd.grad(f(leaves, X[i]), leaves)
            off = 0
            for g in gs:
                J[i, off: off + g.numel()] = g.reshape(-1)
                off += g.numel()
        return J @ J.T

    method = sys.argv[3] if len(sys.argv) > 3 else "loop"
    ntk = {"vmap": ntk_vmap, "loop": ntk_loop}[method]
    reps = int(os.environ.get("ENTK_TORCH_REPS", "2"))
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        K = ntk()
        best = min(best, time.perf_counter() - t0)
    np.save(os.path.join(out, "torch_ntk.npy"), K.numpy())
    res = {"width": W, "n": N, "params": int(sum(t.numel() for t in params)),
           "method": method, "reps": reps, "wall_s": best, "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           "torch": torch.__version__, "threads": torch.get_num_threads()}
    with open(os.path.join(out, "torch.json"), "w") as fh:
        json.dump(res, fh)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
