#!/usr/bin/env bash
# Transformer checkpoints between lmech's CLI and PyTorch (docs/models.md, "Transformers"):
# model.arch "gpt" on .npy token data (data.encoding "tokens").
#   PyTorch -> lmech: lmech_torch.GPT's state_dict (float64 and float32) loads with
#     `lmech eval --init` and gives torch's loss and gradient norm (1e-10; float32 weights widened
#     in both);
#   eight GPTs drawn at random (vocab, context, d_model, heads, blocks, mlp_ratio, predict last or
#     every, sp, ntp with sw2 and sb2 or mup with base_width, output and embedding multipliers,
#     ce or mse): PyTorch's checkpoint gives torch's loss and gradient norm in lmech eval (1e-10);
#   lmech -> PyTorch: `lmech train --save` writes a checkpoint that GPT loads strictly
#     (check_torch_load.py --model CONFIG), with lmech eval's loss;
#   errors: a misnamed qkv weight, a transposed one, a checkpoint of a one-block GPT.
# The torch parts are skipped (with a note) when /usr/bin/python3 has no torch; the error cases
# need numpy only.
. "$(dirname "$0")/lib/common.bash" "$@"
FIX="$(cd "$(dirname "$0")/../fixtures" && pwd)"

cat >"$T/gpt.json" <<EOF
{
  "seed": 3,
  "data": {"source": "npy", "encoding": "tokens", "vocab": 9, "x": "$T/x.npy", "y": "$T/y.npy"},
  "model": {"arch": "gpt", "vocab": 9, "context": 6, "d_model": 8, "heads": 2, "blocks": 2,
            "predict": "every"},
  "loss": "ce",
  "optimizer": {"name": "adam", "lr": 0.01},
  "batch_size": 6,
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
np.save(t + "/x.npy", rng.integers(0, 9, size=(12, 6)).astype(np.int64))
np.save(t + "/y.npy", rng.integers(0, 9, size=(12, 6)).astype(np.int64))
PY

have_torch=0
if $PY -c "import torch" 2>/dev/null; then have_torch=1; fi

if [ $have_torch = 1 ]; then
    # PyTorch -> lmech: GPT's state_dict (moved off PyTorch's init) in float64 and float32
    if $PY - "$T" "$FIX" <<'PY'
import sys
t, fix = sys.argv[1], sys.argv[2]
sys.path.insert(0, fix)
import json, numpy as np, torch
from lmech_torch import GPT, load_model
from safetensors_np import write_safetensors
torch.manual_seed(0)
gpt = GPT.from_config(load_model(t + "/gpt.json"))
with torch.no_grad():
    for p in gpt.parameters():
        p.add_(0.2 * torch.randn_like(p))
x = torch.from_numpy(np.load(t + "/x.npy"))
y = torch.from_numpy(np.load(t + "/y.npy"))
out = {}
for tag, dt in (("f64", np.float64), ("f32", np.float32)):
    sd = {k: v.detach().numpy().astype(dt) for k, v in gpt.state_dict().items()}
    write_safetensors(f"{t}/torch_{tag}.safetensors", sd, {"format": "pt"})
    with torch.no_grad():  # the widened float32 weights, as lmech reads them
        for k, v in gpt.state_dict().items():
            v.copy_(torch.from_numpy(sd[k].astype(np.float64)))
    gpt.zero_grad()
    f = gpt(x).reshape(-1, 9)  # n*T rows of vocab logits: lmech's ce is their mean
    loss = torch.nn.functional.cross_entropy(f, y.reshape(-1))
    loss.backward()
    gn = torch.sqrt(sum((p.grad ** 2).sum() for p in gpt.parameters())).item()
    out[tag] = {"loss": loss.item(), "grad_norm": gn}
json.dump(out, open(t + "/torch.json", "w"))
PY
    then ok "torch writes GPT's state_dict"; else bad "torch writes GPT's state_dict" "python failed"; fi
    for tag in f64 f32; do
        if "$LM" eval "$T/gpt.json" --init "$T/torch_$tag.safetensors" --json >"$T/eval_$tag.json" \
            2>"$T/eval.err" && $PY - "$T" "$tag" <<'PY'
import sys, json
t, tag = sys.argv[1], sys.argv[2]
got = json.load(open(f"{t}/eval_{tag}.json"))
want = json.load(open(t + "/torch.json"))[tag]
for k in ("loss", "grad_norm"):
    rel = abs(got[k] - want[k]) / abs(want[k])
    assert rel < 1e-10, f"{k}: lmech {got[k]!r} torch {want[k]!r} rel {rel:.3g}"
PY
        then ok "PyTorch $tag GPT checkpoint: lmech eval's loss and gradient norm are torch's"
        else bad "PyTorch $tag GPT checkpoint in lmech eval" "$(head -c 300 "$T/eval.err")"; fi
    done

    # PyTorch -> lmech on GPTs drawn at random (seeded)
    if $PY - "$T" "$FIX" <<'PY'
import sys
t, fix = sys.argv[1], sys.argv[2]
sys.path.insert(0, fix)
import json, random, numpy as np, torch
from lmech_torch import GPT
from safetensors_np import write_safetensors
rng = random.Random(17)
torch.manual_seed(17)
for case in range(8):
    heads = rng.choice([1, 2, 4])
    dh = rng.choice([2, 3, 4])
    d = heads * dh
    vocab, ctx = rng.choice([3, 5, 13]), rng.choice([1, 2, 5, 7])
    every = rng.random() < 0.5
    model = {"arch": "gpt", "vocab": vocab, "context": ctx, "d_model": d, "heads": heads,
             "blocks": rng.choice([1, 2, 3]), "mlp_ratio": rng.choice([1, 2, 4]),
             "predict": "every" if every else "last"}
    r = rng.random()
    if r < 0.4:
        model["parameterization"] = "mup"
        model["base_width"] = rng.choice([heads, 2 * heads, 4 * heads])
    elif r < 0.7:
        model["parameterization"] = "ntp"
        model["sw2"], model["sb2"] = rng.choice([0.5, 2.0]), rng.choice([0.0, 0.3])
    if rng.random() < 0.5:
        model["output_multiplier"] = rng.choice([0.5, 2.0])
    if rng.random() < 0.5:
        model["embed_multiplier"] = rng.choice([0.25, 3.0])
    loss_name = rng.choice(["ce", "mse"])
    n = rng.choice([3, 8])
    x = torch.randint(0, vocab, (n, ctx))
    y = torch.randint(0, vocab, (n, ctx) if every else (n,))
    np.save(f"{t}/gx{case}.npy", x.numpy())
    np.save(f"{t}/gy{case}.npy", y.numpy())
    cfg = {"seed": 1,
           "data": {"source": "npy", "encoding": "tokens", "vocab": vocab,
                    "x": f"{t}/gx{case}.npy", "y": f"{t}/gy{case}.npy"},
           "model": model, "loss": loss_name, "threads": 1}
    json.dump(cfg, open(f"{t}/g{case}.json", "w"), indent=1)
    gpt = GPT.from_config(model)
    with torch.no_grad():
        for p in gpt.parameters():
            p.add_(0.1 * torch.randn_like(p))
    write_safetensors(f"{t}/g{case}.safetensors",
                      {k: v.detach().numpy() for k, v in gpt.state_dict().items()})
    f = gpt(x.double()).reshape(-1, vocab)
    onehot = torch.nn.functional.one_hot(y.reshape(-1), vocab).double()
    rows = f.shape[0]
    if loss_name == "ce":
        loss = -(onehot * torch.log_softmax(f, dim=1)).sum() / rows
    else:  # lmech's mse: 1/(2 rows) sum ||f - y||^2
        loss = 0.5 * ((f - onehot) ** 2).sum() / rows
    loss.backward()
    gn = torch.sqrt(sum((p.grad ** 2).sum() for p in gpt.parameters())).item()
    json.dump({"loss": loss.item(), "grad_norm": gn}, open(f"{t}/g{case}.torch.json", "w"))
PY
    then
        for i in 0 1 2 3 4 5 6 7; do
            if "$LM" eval "$T/g$i.json" --init "$T/g$i.safetensors" --json >"$T/g$i.lm.json" \
                2>"$T/eval.err" && $PY - "$T/g$i" <<'PY'
import sys, json
b = sys.argv[1]
got, want = json.load(open(b + ".lm.json")), json.load(open(b + ".torch.json"))
for k in ("loss", "grad_norm"):
    assert abs(got[k] - want[k]) < 1e-10 * abs(want[k]), (k, got[k], want[k])
PY
            then ok "random GPT $i: PyTorch's checkpoint gives torch's loss and gradient norm"
            else
                bad "random GPT $i ($(tr -d ' \n' <"$T/g$i.json" | grep -o '"model".*' |
                    head -c 300))" "$(head -c 300 "$T/eval.err")"
            fi
        done
    else
        bad "random GPTs" "python failed"
    fi
else
    echo "skip: python3 has no torch (PyTorch -> lmech)"
fi

# lmech -> PyTorch
if "$LM" train "$T/gpt.json" --db "$T/runs.db" --save "$T/lm.safetensors" --quiet \
    >"$T/train.out" 2>&1; then
    ok "lmech train --save on a GPT"
else
    bad "lmech train --save" "$(head -c 300 "$T/train.out")"
fi
if [ $have_torch = 1 ]; then
    "$LM" eval "$T/gpt.json" --init "$T/lm.safetensors" --json >"$T/eval_lm.json" 2>"$T/eval.err"
    if $PY "$FIX/check_torch_load.py" "$T/lm.safetensors" --model "$T/gpt.json" >"$T/ctl.out" \
        2>&1 && $PY - "$T" "$FIX" <<'PY'
import sys
t, fix = sys.argv[1], sys.argv[2]
sys.path.insert(0, fix)
import json, numpy as np, torch
from lmech_torch import GPT, load_model
from safetensors_np import read_safetensors
gpt = GPT.from_config(load_model(t + "/gpt.json"))
tensors, meta = read_safetensors(t + "/lm.safetensors")
gpt.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
x = torch.from_numpy(np.load(t + "/x.npy"))
y = torch.from_numpy(np.load(t + "/y.npy"))
with torch.no_grad():
    loss = torch.nn.functional.cross_entropy(gpt(x).reshape(-1, 9), y.reshape(-1)).item()
got = json.load(open(t + "/eval_lm.json"))["loss"]
assert abs(got - loss) < 1e-10 * abs(loss), (got, loss)
PY
    then ok "lmech's GPT checkpoint loads into GPT (strict) with lmech eval's loss"
    else bad "lmech GPT checkpoint into torch" "$(head -c 300 "$T/ctl.out")"; fi
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
renamed = {("blocks.1.attn.c_attn.weight" if k == "blocks.1.attn.qkv.weight" else k): v
           for k, v in tensors.items()}
write_safetensors(t + "/renamed.safetensors", renamed)
transposed = dict(tensors)
transposed["blocks.0.attn.qkv.weight"] = tensors["blocks.0.attn.qkv.weight"].T.copy()
write_safetensors(t + "/transposed.safetensors", transposed)
one = {k: v for k, v in tensors.items() if not k.startswith("blocks.1.")}
write_safetensors(t + "/one.safetensors", one)
PY
expect_fail "a misnamed qkv weight is named" "missing tensor blocks.1.attn.qkv.weight" \
    "$LM" eval "$T/gpt.json" --init "$T/renamed.safetensors"
expect_fail "a transposed qkv weight is refused with both shapes" \
    "blocks.0.attn.qkv.weight has shape \[8, 24\], the model expects \[24, 8\]" \
    "$LM" eval "$T/gpt.json" --init "$T/transposed.safetensors"
expect_fail "a one-block checkpoint into a two-block GPT names the missing block" \
    "missing tensor blocks.1.ln1.weight" \
    "$LM" eval "$T/gpt.json" --init "$T/one.safetensors"
finish
