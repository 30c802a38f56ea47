#!/usr/bin/python3
"""PyTorch's side of the transformer benchmark (see bench_gpt.c): the same model (the reference
module GPT of tests/fixtures/lmech_torch.py: vocab 256, context 64, d_model 128, 4 heads, 2
blocks, MLP ratio 4, next-byte prediction at every position), data (windows of 65 bytes of
/usr/share/common-licenses/GPL-3 at stride 64, shuffled once, or random bytes), loss (mean
cross-entropy over the batch's positions), optimizer (Adam lr 3e-4) and minibatch order, float32,
at torch.set_num_threads(T) for each T given (default 1 and 2), with the process CPU time per
step. Also times one float64 gradient and one float64 HVP (double backward) on one batch at the
best thread setting. Prints one JSON line.
    torch_gpt.py BATCH SECONDS [THREADS...]"""
import json, os, sys, time
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "fixtures"))
from lmech_torch import GPT  # noqa: E402

CTX, VOCAB = 64, 256
MODEL = {"arch": "gpt", "vocab": VOCAB, "context": CTX, "d_model": 128, "heads": 4, "blocks": 2,
         "mlp_ratio": 4, "predict": "every"}


def load():
    try:
        with open("/usr/share/common-licenses/GPL-3", "rb") as f:
            text = np.frombuffer(f.read(), np.uint8)
        data = "GPL-3"
    except OSError:
        text, data = None, "synthetic"
    if text is None or len(text) < 64 * (CTX + 1):
        text = np.random.default_rng(1).integers(0, VOCAB, 1 << 16).astype(np.uint8)
        data = "synthetic"
    n = (len(text) - 1) // CTX
    perm = np.random.default_rng(1).permutation(n)
    X = np.stack([text[s * CTX:s * CTX + CTX] for s in perm]).astype(np.int64)
    Y = np.stack([text[s * CTX + 1:s * CTX + CTX + 1] for s in perm]).astype(np.int64)
    return X, Y, data


def net(dt):
    torch.manual_seed(0)
    return GPT.from_config(MODEL, dtype=dt)


def loss_of(model, x, y):
    return torch.nn.functional.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))


def train_rate(X, Y, B, seconds):
    model = net(torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    nb = len(X) // B
    state = {"step": 0}

    def step():
        b = state["step"] % nb
        opt.zero_grad(set_to_none=True)
        loss = loss_of(model, X[b * B:(b + 1) * B], Y[b * B:(b + 1) * B])
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
    x, y = X[:B], Y[:B]
    v = [torch.randn_like(q) for q in params]
    tg, th = [], []
    for rep in range(8):
        t = time.perf_counter()
        torch.autograd.grad(loss_of(model, x, y), params)
        t = time.perf_counter() - t
        if rep:
            tg.append(t)
    for rep in range(8):
        t = time.perf_counter()
        g = torch.autograd.grad(loss_of(model, x, y), params, create_graph=True)
        torch.autograd.grad(g, params, grad_outputs=v)
        t = time.perf_counter() - t
        if rep:
            th.append(t)
    return sorted(tg)[3], sorted(th)[3]


def main():
    B, seconds = int(sys.argv[1]), float(sys.argv[2])
    threads = [int(a) for a in sys.argv[3:]] or [1, 2]
    X, Y, data = load()
    X, Y = torch.tensor(X), torch.tensor(Y)
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
