"""torch_bench.py: what PyTorch's sides of the training benchmarks share (torch_cnn.py,
torch_gpt.py): the timed float32 training loop (3 repeats after a 0.2 s warm-up, the median
rate, the process CPU time per step), one float64 gradient against one float64 HVP by double
backward (median of 7 after a warm-up), and the driver over thread settings that prints the JSON
line bench/cnn.sh and bench/gpt.sh read."""
import json, sys, time
import torch


def train_rate(model, opt, loss_of, X, Y, B, seconds):
    """model trained by opt on minibatches sliced in order from X, Y; loss_of(model, x, y)."""
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


def hvp_times(model, loss_of, x, y):
    """float64 model: the median times of one gradient and one HVP on (x, y)."""
    params = list(model.parameters())
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


def main(net, make_opt, loss_of, X, Y, data, to64):
    """sys.argv: BATCH SECONDS [THREADS...]. net(dtype) builds the model (seeded), make_opt(params)
    its optimizer, to64(x) a float64 batch of inputs."""
    B, seconds = int(sys.argv[1]), float(sys.argv[2])
    threads = [int(a) for a in sys.argv[3:]] or [1, 2]
    out = {"impl": "torch", "batch": B, "data": data, "torch": torch.__version__}
    best = (0.0, 1)
    for T in threads:
        torch.set_num_threads(T)
        model = net(torch.float32)
        rate, loss, cpu_ms = train_rate(model, make_opt(model.parameters()), loss_of, X, Y, B,
                                        seconds)
        out["steps_per_s_threads_%d" % T] = rate
        out["cpu_ms_per_step_threads_%d" % T] = cpu_ms
        if rate > best[0]:
            best = (rate, T)
    out["steps_per_s"], out["best_threads"] = best
    torch.set_num_threads(best[1])
    out["f64_grad_s"], out["f64_hvp_s"] = hvp_times(net(torch.float64), loss_of, to64(X[:B]),
                                                    Y[:B])
    out["hvp_over_grad"] = out["f64_hvp_s"] / out["f64_grad_s"]
    print(json.dumps(out))
