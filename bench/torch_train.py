#!/usr/bin/python3
"""PyTorch's side of the training benchmark (see bench_train.c): the same network, data, loss,
optimizer and minibatch order. Run with torch 1 intra-op thread and OpenBLAS 2 threads
(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2, shared/baselines.md). Prints one JSON line."""
import gzip, json, sys, time
import numpy as np
import torch

def main():
    dtype_name, W, B, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    torch.set_num_threads(1)
    dt = torch.float32 if dtype_name == "float32" else torch.float64
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
        X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz") as f:
        Y = np.frombuffer(f.read(), np.uint8, offset=8)
    perm = np.random.default_rng(1).permutation(len(X))
    X = torch.tensor(X[perm] / 255.0, dtype=dt)
    Y = torch.tensor(Y[perm].astype(np.int64))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, W), torch.nn.ReLU(), torch.nn.Linear(W, W),
                              torch.nn.ReLU(), torch.nn.Linear(W, 10)).to(dt)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    lossf = torch.nn.CrossEntropyLoss()
    nb = len(X) // B
    state = {"step": 0, "loss": 0.0}

    def step():
        b = state["step"] % nb
        xb, yb = X[b * B:(b + 1) * B], Y[b * B:(b + 1) * B]
        opt.zero_grad(set_to_none=True)
        loss = lossf(net(xb), yb)
        loss.backward()
        opt.step()
        state["step"] += 1
        return loss

    t = time.perf_counter()
    while state["step"] < 5 or time.perf_counter() - t < 0.1:
        step()
    rates = []
    for _ in range(3):
        t, s0 = time.perf_counter(), state["step"]
        while time.perf_counter() - t < seconds / 3 or state["step"] - s0 < 3:
            loss = step()
        rates.append((state["step"] - s0) / (time.perf_counter() - t))
    med = sorted(rates)[1]
    macs = B * (2 * (784 * W + W * W + 10 * W) + (W * W + 10 * W))
    print(json.dumps({"impl": "torch", "dtype": dtype_name, "width": W, "batch": B,
                      "steps_per_s": med, "gemm_gflops": med * 2 * macs / 1e9,
                      "loss": float(loss)}))

main()
