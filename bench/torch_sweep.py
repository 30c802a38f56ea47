#!/usr/bin/python3
"""PyTorch's side of the sweep benchmark (bench/sweep.sh): the 32 runs of
examples/experiments/lr-seed-sweep.json (8 seeds x 4 learning rates; 784-64-64-10 ReLU, float32,
cross-entropy, SGD momentum 0.9, batch 32, 500 steps, the first 4096 Fashion-MNIST training
images and 1000 test images, pixels/255) as a plain loop, as a PyTorch user would write it: the
data loaded once, every run evaluated on train and test at its end. Usage:
torch_sweep.py THREADS [STEPS]; prints one JSON line with the wall time and the mean accuracy
per rate."""
import gzip, json, sys, time
import numpy as np
import torch


def load(name, n, off):
    with gzip.open(f"/usr/share/datasets/fashion-mnist/{name}.gz") as f:
        return np.frombuffer(f.read(), np.uint8, offset=off)


def main():
    threads = int(sys.argv[1])
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    X = torch.tensor(load("train-images-idx3-ubyte", 4096, 16).reshape(-1, 784)[:4096] / 255.0,
                     dtype=torch.float32)
    Y = torch.tensor(load("train-labels-idx1-ubyte", 4096, 8)[:4096].astype(np.int64))
    Xt = torch.tensor(load("t10k-images-idx3-ubyte", 1000, 16).reshape(-1, 784)[:1000] / 255.0,
                      dtype=torch.float32)
    Yt = torch.tensor(load("t10k-labels-idx1-ubyte", 1000, 8)[:1000].astype(np.int64))
    lossf = torch.nn.CrossEntropyLoss()
    acc = {}
    for lr in (0.003, 0.01, 0.03, 0.1):
        for seed in range(8):
            torch.manual_seed(seed)
            net = torch.nn.Sequential(torch.nn.Linear(784, 64), torch.nn.ReLU(),
                                      torch.nn.Linear(64, 64), torch.nn.ReLU(),
                                      torch.nn.Linear(64, 10))
            opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
            g = torch.Generator().manual_seed(seed)
            perm = torch.randperm(4096, generator=g)
            pos = 0
            for _ in range(steps):
                if pos + 32 > 4096:
                    perm = torch.randperm(4096, generator=g)
                    pos = 0
                idx = perm[pos:pos + 32]
                pos += 32
                opt.zero_grad(set_to_none=True)
                loss = lossf(net(X[idx]), Y[idx])
                loss.backward()
                opt.step()
            with torch.no_grad():
                tr = lossf(net(X), Y).item()
                a = (net(Xt).argmax(1) == Yt).float().mean().item()
            acc.setdefault(lr, []).append(a)
    wall = time.perf_counter() - t0
    print(json.dumps({"threads": threads, "runs": 32, "steps": steps, "wall_s": round(wall, 3),
                      "mean_test_acc": {str(k): round(sum(v) / len(v), 4) for k, v in acc.items()}}))


if __name__ == "__main__":
    main()
