#!/usr/bin/python3
"""PyTorch's side of the transformer benchmark (see bench_gpt.c): the same model (the reference
module GPT of tests/fixtures/lmech_torch.py: vocab 256, context 64, d_model 128, 4 heads, 2
blocks, MLP ratio 4, next-byte prediction at every position), data (windows of 65 bytes of
/usr/share/common-licenses/GPL-3 at stride 64, shuffled once, or random bytes), loss (mean
cross-entropy over the batch's positions), optimizer (Adam lr 3e-4) and minibatch order, float32,
at torch.set_num_threads(T) for each T given (default 1 and 2), with the process CPU time per
step. Also times one float64 gradient and one float64 HVP (double backward) on one batch at the
best thread setting (torch_bench.py). Prints one JSON line.
    torch_gpt.py BATCH SECONDS [THREADS...]"""
import os, sys
import numpy as np
import torch

from torch_bench import main

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


X, Y, data = load()
main(net, lambda params: torch.optim.Adam(params, lr=3e-4), loss_of, torch.tensor(X),
     torch.tensor(Y), data, lambda x: x)
