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
import torch

from torch_eos import gd_with_sharpness  # the GD-with-sharpness loop, shared


def load(n):
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16)[: n * 784].reshape(n, 784) / 255.0
    with gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz") as f:
        lab = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return torch.tensor(x, dtype=torch.float32), torch.tensor(np.eye(10)[lab], dtype=torch.float32)


def run(x, y, lr, every, steps, seed):
    wall, sharp, losses, hvps = gd_with_sharpness(x, y, [784, 200, 200, 10], lr, every, every,
                                                  steps, seed)
    return {"side": "pytorch", "torch_threads": torch.get_num_threads(), "n": x.shape[0], "lr": lr,
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
