#!/usr/bin/env bash
# lmech features: every layer (0 inputs .. L outputs) of a checkpoint PyTorch wrote equals the
# same layer of the PyTorch model (float64, to 1e-12), for relu and tanh; without --init the
# untrained network of the config; and the error paths (wrong input width named with both
# shapes, layer out of range, NaN input, missing flags, a checkpoint of the wrong shape).
. "$(dirname "$0")/lib/common.bash" "$@"
cd "$T" || exit 1
cat >ref.py <<'PYEOF'
import json, struct, subprocess, sys
import numpy as np, torch
LM, act = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
widths = [7, 13, 11, 4]
layers = [torch.nn.Linear(a, b).double() for a, b in zip(widths[:-1], widths[1:])]
# a safetensors file in PyTorch's layout, written by hand (the format is 8 bytes + JSON + data)
tensors = {}
for i, l in enumerate(layers):
    tensors[f"layers.{i}.weight"] = l.weight.detach().numpy()
    tensors[f"layers.{i}.bias"] = l.bias.detach().numpy()
header, blobs, off = {}, [], 0
for k, v in tensors.items():
    b = np.ascontiguousarray(v).astype("<f8").tobytes()
    header[k] = {"dtype": "F64", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)
h = json.dumps(header).encode()
open("torch.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
json.dump({"data": {"source": "teacher", "dim": 7, "outputs": 4, "train_size": 20},
           "model": {"widths": widths, "activation": act}, "steps": 1}, open("cfg.json", "w"))
X = np.random.default_rng(1).normal(size=(37, 7))
np.save("X.npy", X)
a = torch.tensor(X)
ref = [a.numpy().copy()]
for i, l in enumerate(layers):
    a = l(a)
    if i < len(layers) - 1:
        a = torch.relu(a) if act == "relu" else torch.tanh(a)
    ref.append(a.detach().numpy().copy())
bad = 0
for L in range(len(widths)):
    r = subprocess.run([LM, "features", "cfg.json", "--init", "torch.safetensors", "--inputs", "X.npy",
                        "--layer", str(L), "--out", f"H{L}.npy"], capture_output=True, text=True)
    if r.returncode:
        print("BAD", L, r.stderr); bad += 1; continue
    H = np.load(f"H{L}.npy")
    err = np.abs(H - ref[L]).max()
    ok = H.shape == ref[L].shape and err < 1e-12
    print("ok " if ok else "BAD", act, "layer", L, H.shape, err)
    bad += not ok
sys.exit(bad)
PYEOF
for act in relu tanh; do
    if $PY ref.py "$LM" $act; then ok "$act: layers 0..3 equal PyTorch's to 1e-12"; else bad "$act" "see above"; fi
done
# without --init: the config's initial parameters, the same network every time (seeded)
"$LM" features cfg.json --inputs X.npy --layer 2 --out u1.npy 2>/dev/null &&
    "$LM" features cfg.json --inputs X.npy --layer 2 --out u2.npy 2>/dev/null &&
    cmp -s u1.npy u2.npy && ok "untrained: deterministic" || bad "untrained" "differs"
"$LM" features cfg.json --inputs X.npy --layer 2 --out u3.npy --set seed=5 2>/dev/null &&
    ! cmp -s u1.npy u3.npy && ok "untrained: --set seed changes the network" || bad "seed" "same"
$PY -c "
import numpy as np
r = np.random.default_rng(2)
np.save('X6.npy', r.normal(size=(5, 6)))
x = r.normal(size=(5, 7)); x[3, 4] = np.nan; np.save('Xnan.npy', x)
np.save('X0.npy', np.zeros((0, 7)))
"
expect_fail "wrong input width" "but the network of cfg.json takes inputs of width 7 (model.widths.0.); need .n, 7." \
    "$LM" features cfg.json --inputs X6.npy --layer 1 --out o.npy
expect_fail "layer out of range" "has layers 0 (inputs) to 3 (outputs)" \
    "$LM" features cfg.json --inputs X.npy --layer 4 --out o.npy
expect_fail "NaN input" "element .3, 4. is nan" "$LM" features cfg.json --inputs Xnan.npy --layer 1 --out o.npy
expect_fail "missing --out" "--inputs, --layer and --out are required" \
    "$LM" features cfg.json --inputs X.npy --layer 1
expect_fail "checkpoint of another shape" "layers.0.weight" \
    "$LM" features cfg.json --set 'model.widths=[7,12,11,4]' --init torch.safetensors --inputs X.npy --layer 1 --out o.npy
expect_fail "missing inputs" "nope.npy" "$LM" features cfg.json --inputs nope.npy --layer 1 --out o.npy
[ ! -e o.npy ] && ok "no output file after an error" || bad "output" "o.npy written"
finish
