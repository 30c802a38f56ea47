#!/usr/bin/env bash
# Layer-graph checkpoints between lmech's CLI and PyTorch (docs/models.md): a small CNN with a
# residual block and layer norm (model.layers) on .npy data.
#   PyTorch -> lmech: lmech_torch.Net's state_dict (float32 and float64) loads with
#     `lmech eval --init` and gives torch's loss and gradient norm (1e-10; float32 weights widened
#     in both);
#   lmech -> PyTorch: `lmech train --save` writes a checkpoint that Net loads strictly
#     (check_torch_load.py --model CONFIG), with lmech eval's loss;
#   six models drawn at random (conv kernels/strides/paddings/biases, pools, nested residual
#     blocks, layer norm, every activation): PyTorch's checkpoint gives torch's loss and gradient
#     norm in lmech eval (1e-10);
#   errors: a conv weight flattened to [out, in*k*k], a missing body tensor, an MLP checkpoint.
# The torch parts are skipped (with a note) when /usr/bin/python3 has no torch; the error cases
# need numpy only.
. "$(dirname "$0")/lib/common.bash" "$@"
FIX="$(cd "$(dirname "$0")/../fixtures" && pwd)"

cat >"$T/cnn.json" <<EOF
{
  "seed": 3,
  "data": {"source": "npy", "x": "$T/x.npy", "y": "$T/y.npy", "normalize": "none"},
  "model": {
    "input_shape": [2, 5, 5],
    "layers": [
      {"type": "conv2d", "out": 3, "kernel": 3, "padding": 1},
      {"type": "tanh"},
      {"type": "residual", "body": [
        {"type": "conv2d", "out": 3, "kernel": 3, "padding": 1, "bias": false},
        {"type": "gelu"}
      ]},
      {"type": "avgpool2d", "kernel": 2},
      {"type": "flatten"},
      {"type": "layernorm"},
      {"type": "linear", "out": 4}
    ]
  },
  "loss": "mse",
  "optimizer": {"name": "sgd", "lr": 0.05},
  "batch_size": 8,
  "epochs": 2,
  "dtype": "float64",
  "threads": 1
}
EOF

$PY - "$T" <<'PY'
import sys
import numpy as np
t = sys.argv[1]
rng = np.random.default_rng(5)
np.save(t + "/x.npy", rng.normal(size=(24, 50)))
np.save(t + "/y.npy", rng.normal(size=(24, 4)))
PY

have_torch=0
if $PY -c "import torch" 2>/dev/null; then have_torch=1; fi

if [ $have_torch = 1 ]; then
    # PyTorch -> lmech: Net's state_dict (moved off PyTorch's init) in float64 and float32
    if $PY - "$T" "$FIX" <<'PY'
import sys
t, fix = sys.argv[1], sys.argv[2]
sys.path.insert(0, fix)
import json, numpy as np, torch
from lmech_torch import Net, load_model
from safetensors_np import write_safetensors
torch.manual_seed(0)
net = Net(load_model(t + "/cnn.json"))
with torch.no_grad():
    for p in net.parameters():
        p.add_(0.2 * torch.randn_like(p))
x = torch.from_numpy(np.load(t + "/x.npy"))
y = torch.from_numpy(np.load(t + "/y.npy"))
out = {}
for tag, dt in (("f64", np.float64), ("f32", np.float32)):
    sd = {k: v.detach().numpy().astype(dt) for k, v in net.state_dict().items()}
    write_safetensors(f"{t}/torch_{tag}.safetensors", sd, {"format": "pt"})
    with torch.no_grad():  # the widened float32 weights, as lmech reads them
        for k, v in net.state_dict().items():
            v.copy_(torch.from_numpy(sd[k].astype(np.float64)))
    net.zero_grad()
    f = net(x)
    loss = 0.5 * ((f - y) ** 2).sum() / x.shape[0]  # lmech's mse: 1/(2n) sum ||f - y||^2
    loss.backward()
    gn = torch.sqrt(sum((p.grad ** 2).sum() for p in net.parameters())).item()
    out[tag] = {"loss": loss.item(), "grad_norm": gn}
json.dump(out, open(t + "/torch.json", "w"))
PY
    then ok "torch writes Net's state_dict"; else bad "torch writes Net's state_dict" "python failed"; fi
    for tag in f64 f32; do
        if "$LM" eval "$T/cnn.json" --init "$T/torch_$tag.safetensors" --json >"$T/eval_$tag.json" \
            2>"$T/eval.err" && $PY - "$T" "$tag" <<'PY'
import sys, json
t, tag = sys.argv[1], sys.argv[2]
got = json.load(open(f"{t}/eval_{tag}.json"))
want = json.load(open(t + "/torch.json"))[tag]
for k in ("loss", "grad_norm"):
    rel = abs(got[k] - want[k]) / abs(want[k])
    assert rel < 1e-10, f"{k}: lmech {got[k]!r} torch {want[k]!r} rel {rel:.3g}"
print(f"{tag}: loss rel err {abs(got['loss'] - want['loss']) / want['loss']:.2g}")
PY
        then ok "PyTorch $tag checkpoint: lmech eval's loss and gradient norm are torch's"
        else bad "PyTorch $tag checkpoint in lmech eval" "$(head -c 300 "$T/eval.err")"; fi
    done
else
    echo "skip: python3 has no torch (PyTorch -> lmech)"
fi

# PyTorch -> lmech on models drawn at random (seeded): conv2d kernels, strides, paddings and
# biases, both pools with strides, nested residual blocks, layer norm eps, every activation
if [ $have_torch = 1 ]; then
    if $PY - "$T" "$FIX" <<'PY'
import sys
t, fix = sys.argv[1], sys.argv[2]
sys.path.insert(0, fix)
import json, random, numpy as np, torch
from lmech_torch import Net, ACTIVATIONS
from safetensors_np import write_safetensors
rng = random.Random(11)
torch.manual_seed(11)
acts = sorted(ACTIVATIONS)

def act():
    return {"type": rng.choice(acts)}

def conv_block(c, h):
    """conv2d entries on [c, h, h]; returns (layers, c, h)."""
    k = rng.choice([1, 2, 3])
    s = rng.choice([1, 1, 2])
    p = rng.choice([0, 1]) if k > 1 else 0
    out = rng.choice([2, 3])
    e = {"type": "conv2d", "out": out, "kernel": k, "stride": s, "padding": p,
         "bias": rng.choice([True, False])}
    return [e, act()], out, (h + 2 * p - k) // s + 1

for case in range(6):
    c, h = rng.choice([1, 2]), rng.choice([5, 6, 7])
    shape = [c, h, h]
    layers = []
    L, c, h = conv_block(c, h)
    layers += L
    if rng.random() < 0.7:  # a residual conv block keeps [c, h, h]
        layers.append({"type": "residual", "body": [
            {"type": "conv2d", "out": c, "kernel": 3, "padding": 1}, act()]})
    if h >= 2:
        k = rng.choice([2, min(3, h)])
        s = rng.choice([1, k])
        layers.append({"type": rng.choice(["avgpool2d", "maxpool2d"]), "kernel": k, "stride": s})
        h = (h - k) // s + 1
    layers.append({"type": "flatten"})
    d = c * h * h
    if rng.random() < 0.5:
        layers.append({"type": "layernorm", "eps": rng.choice([1e-5, 1e-3, 0.1])})
    w = rng.choice([4, 5])
    layers += [{"type": "linear", "out": w, "bias": rng.choice([True, False])}, act()]
    inner = [{"type": "linear", "out": w}, act()]
    if rng.random() < 0.5:
        inner.append({"type": "residual", "body": [{"type": "layernorm"},
                                                   {"type": "linear", "out": w}]})
    layers.append({"type": "residual", "body": inner})
    k_out = rng.choice([1, 3])
    layers.append({"type": "linear", "out": k_out})
    n = 9
    cfg = {"seed": 1,
           "data": {"source": "npy", "x": f"{t}/rx{case}.npy", "y": f"{t}/ry{case}.npy",
                    "normalize": "none"},
           "model": {"input_shape": shape, "layers": layers},
           "loss": "mse", "threads": 1}
    json.dump(cfg, open(f"{t}/r{case}.json", "w"), indent=1)
    net = Net(cfg["model"])
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(n, int(np.prod(shape)), dtype=torch.float64)
    y = torch.randn(n, k_out, dtype=torch.float64)
    np.save(f"{t}/rx{case}.npy", x.numpy())
    np.save(f"{t}/ry{case}.npy", y.numpy())
    write_safetensors(f"{t}/r{case}.safetensors",
                      {k: v.detach().numpy() for k, v in net.state_dict().items()})
    loss = 0.5 * ((net(x) - y) ** 2).sum() / n
    loss.backward()
    gn = torch.sqrt(sum((p.grad ** 2).sum() for p in net.parameters())).item()
    json.dump({"loss": loss.item(), "grad_norm": gn}, open(f"{t}/r{case}.torch.json", "w"))
PY
    then
        for i in 0 1 2 3 4 5; do
            if "$LM" eval "$T/r$i.json" --init "$T/r$i.safetensors" --json >"$T/r$i.lm.json" \
                2>"$T/eval.err" && $PY - "$T/r$i" <<'PY'
import sys, json
b = sys.argv[1]
got, want = json.load(open(b + ".lm.json")), json.load(open(b + ".torch.json"))
for k in ("loss", "grad_norm"):
    assert abs(got[k] - want[k]) < 1e-10 * abs(want[k]), (k, got[k], want[k])
PY
            then ok "random model $i: PyTorch's checkpoint gives torch's loss and gradient norm"
            else
                bad "random model $i ($(tr -d ' \n' <"$T/r$i.json" | grep -o '"layers".*' |
                    head -c 400))" "$(head -c 300 "$T/eval.err")"
            fi
        done
    else
        bad "random models" "python failed"
    fi
fi

# lmech -> PyTorch
if "$LM" train "$T/cnn.json" --db "$T/runs.db" --save "$T/lm.safetensors" --quiet \
    >"$T/train.out" 2>&1; then
    ok "lmech train --save on a model.layers CNN"
else
    bad "lmech train --save" "$(head -c 300 "$T/train.out")"
fi
if [ $have_torch = 1 ]; then
    "$LM" eval "$T/cnn.json" --init "$T/lm.safetensors" --json >"$T/eval_lm.json" 2>"$T/eval.err"
    if $PY "$FIX/check_torch_load.py" "$T/lm.safetensors" --model "$T/cnn.json" >"$T/ctl.out" \
        2>&1 && $PY - "$T" "$FIX" <<'PY'
import sys
t, fix = sys.argv[1], sys.argv[2]
sys.path.insert(0, fix)
import json, numpy as np, torch
from lmech_torch import Net, load_model
from safetensors_np import read_safetensors
net = Net(load_model(t + "/cnn.json"))
tensors, meta = read_safetensors(t + "/lm.safetensors")
net.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
x = torch.from_numpy(np.load(t + "/x.npy"))
y = torch.from_numpy(np.load(t + "/y.npy"))
with torch.no_grad():
    loss = (0.5 * ((net(x) - y) ** 2).sum() / x.shape[0]).item()
got = json.load(open(t + "/eval_lm.json"))["loss"]
assert abs(got - loss) < 1e-10 * abs(loss), (got, loss)
assert meta["input_shape"] == "2,5,5" and meta["model"].startswith("conv2d(3) tanh"), meta
PY
    then ok "lmech's checkpoint loads into Net (strict) with lmech eval's loss"
    else bad "lmech checkpoint into torch" "$(head -c 300 "$T/ctl.out")"; fi
else
    echo "skip: python3 has no torch (lmech -> PyTorch)"
fi

# errors (numpy only): edit lmech's own checkpoint
$PY - "$T" "$FIX" <<'PY'
import sys
t, fix = sys.argv[1], sys.argv[2]
sys.path.insert(0, fix)
from safetensors_np import read_safetensors, write_safetensors
tensors, meta = read_safetensors(t + "/lm.safetensors")
flat = dict(tensors)
flat["layers.0.weight"] = tensors["layers.0.weight"].reshape(3, 18)
write_safetensors(t + "/flat.safetensors", flat)
miss = {k: v for k, v in tensors.items() if k != "layers.2.body.0.weight"}
write_safetensors(t + "/miss.safetensors", miss)
PY
expect_fail "a flattened conv weight is refused with both shapes" \
    "layers.0.weight has shape \[3, 18\], the model expects \[3, 2, 3, 3\]" \
    "$LM" eval "$T/cnn.json" --init "$T/flat.safetensors"
expect_fail "a missing residual-body tensor is named" "missing tensor layers.2.body.0.weight" \
    "$LM" eval "$T/cnn.json" --init "$T/miss.safetensors"
cat >"$T/mlp.json" <<EOF
{"data": {"source": "npy", "x": "$T/x.npy", "y": "$T/y.npy"},
 "model": {"widths": [50, 8, 4]}, "loss": "mse", "epochs": 1, "threads": 1}
EOF
"$LM" train "$T/mlp.json" --db "$T/mlp.db" --save "$T/mlp.safetensors" --quiet >/dev/null 2>&1
expect_fail "an MLP checkpoint into the CNN names what is wrong" \
    "mlp.safetensors: layers.0.weight has shape \[8, 50\], the model expects \[3, 2, 3, 3\]" \
    "$LM" eval "$T/cnn.json" --init "$T/mlp.safetensors"
finish
