#!/usr/bin/python3
"""PyTorch's side of the CNN benchmark (see bench_cnn.c): the same network (conv 1->16 3x3 pad 1,
ReLU, AvgPool2d(2), conv 16->32 3x3 pad 1, ReLU, AvgPool2d(2), Flatten, Linear 1568->10), data,
loss, optimizer (SGD lr 0.05) and minibatch order, float32, at torch.set_num_threads(T) for each
T given (default 1 and 2), with the process CPU time per step; one float64 gradient and one
float64 HVP (double backward) on one batch at the best thread setting (torch_bench.py). Prints
one JSON line.
    torch_cnn.py BATCH SECONDS [THREADS...]"""
import gzip
import numpy as np
import torch

from torch_bench import main


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


def loss_of(model, x, y):
    return torch.nn.functional.cross_entropy(model(x), y)


X, Y, data = load()
main(net, lambda params: torch.optim.SGD(params, lr=0.05), loss_of,
     torch.tensor(X, dtype=torch.float32), torch.tensor(Y), data, lambda x: x.double())
