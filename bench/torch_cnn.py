#!/usr/bin/python3
"""PyTorch's side of the CNN benchmark (see bench_cnn.c): the same network (conv 1->16 3x3 pad 1,
ReLU, AvgPool2d(2), conv 16->32 3x3 pad 1, ReLU, AvgPool2d(2), Flatten, Linear 1568->10), data,
loss, optimizer (SGD lr 0.05) and minibatch order, float32, at torch.set_num_threads(T) for each
T given (default 1 and 2), with the process CPU time per step. Also times one float64 gradient and one float64 HVP (double backward)
on one batch at the best thread setting. Prints one JSON line.
    torch_cnn.py BATCH SECONDS [THREADS...]"""
import gzip, json, os, sys, time
import numpy as np
import torch


def load():
    root = "/usr/share/datasets/fashion-mnist/"
    try:
        with gzip.open(root + "train-images-idx3-ubyte.gz") as f:
            X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28) / 255.0
        with gzip.open(root + "train-labels-idx1-ubyte.gz") as f:
            Y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
        return X[np.random.default_rng(1).permutation(len(X))], Y, "fashion-mnist"
    except OSError:
        g = np.random.default_rng(1)
        return g.standard_normal((8192, 1, 28, 28)), g.integers(0, 10, 8192), "synthetic"


def net(dt):
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(1568, 10)).to(dt)


def train_rate(X, Y, B, seconds):
    model = net(torch.float32)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    lossf = torch.nn.CrossEntropyLoss()
    nb = len(X) // B
    state = {"step": 0}

    def step():
        b = state["step"] % nb
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(X[b * B:(b + 1) * B]), Y[b * B:(b + 1) * B])
        loss.backward()
        opt.step()
        state["step"] += 1
        return loss

    t = time.perf_counter()
    while state["step"] < 3 or time.perf_counter() - t < 0.2:
        step()
    rates = []
    c0, s0all = time.process_time(), state["step"]
    for _ in range(3):
        t, s0 = time.perf_counter(), state["step"]
        while time.perf_counter() - t < seconds / 3 or state["step"] - s0 < 3:
            loss = step()
        rates.append((state["step"] - s0) / (time.perf_counter() - t))
    cpu_ms = 1e3 * (time.process_time() - c0) / (state["step"] - s0all)
    return sorted(rates)[1], float(loss), cpu_ms


def hvp_times(X, Y, B):
    model = net(torch.float64)
    params = list(model.parameters())
    x, y = X[:B].double(), Y[:B]
    lossf = torch.nn.CrossEntropyLoss()
    v = [torch.randn_like(q) for q in params]
    tg, th = [], []
    for rep in range(8):
        t = time.perf_counter()
        g = torch.autograd.grad(lossf(model(x), y), params)
        t = time.perf_counter() - t
        if rep:
            tg.append(t)
    for rep in range(8):
        t = time.perf_counter()
        g = torch.autograd.grad(lossf(model(x), y), params, create_graph=True)
        hv = torch.autograd.grad(g, params, grad_outputs=v)
        t = time.perf_counter() - t
        if rep:
            th.append(t)
    return sorted(tg)[3], sorted(th)[3]


def main():
    B, seconds = int(sys.argv[1]), float(sys.argv[2])
    threads = [int(a) for a in sys.argv[3:]] or [1, 2]
    X, Y, data = load()
    X = torch.tensor(X, dtype=torch.float32)
    Y = torch.tensor(Y)
    out = {"impl": "torch", "batch": B, "data": data, "torch": torch.__version__}
    best = (0.0, 1)
    for T in threads:
        torch.set_num_threads(T)
        rate, loss, cpu_ms = train_rate(X, Y, B, seconds)
        out["steps_per_s_threads_%d" % T] = rate
        out["cpu_ms_per_step_threads_%d" % T] = cpu_ms
        if rate > best[0]:
            best = (rate, T)
    out["steps_per_s"], out["best_threads"] = best
    torch.set_num_threads(best[1])
    out["f64_grad_s"], out["f64_hvp_s"] = hvp_times(X, Y, B)
    out["hvp_over_grad"] = out["f64_hvp_s"] / out["f64_grad_s"]
    print(json.dumps(out))


main()
