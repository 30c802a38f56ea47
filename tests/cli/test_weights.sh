#!/usr/bin/env bash
# lmech weights: a checkpoint written by a numpy-only script in PyTorch's layout (a Gaussian
# layer, a layer with two planted spikes, a float32 layer, a bias that is skipped) checked
# against a NumPy reference (ESD = sigma^2 / N, stable rank, norms); a checkpoint written by
# `lmech train`; the text table; a missing and a truncated file.
. "$(dirname "$0")/lib/common.bash" "$@"

$PY - "$T" <<'PY'
import sys, json, struct, numpy as np
t = sys.argv[1]
rng = np.random.default_rng(0)
g = rng.normal(0, 0.1, (120, 300))          # [out, in]: N = 300, M = 120
u = rng.normal(size=(400, 2)); v = rng.normal(size=(2, 200)) / np.sqrt(200)
s = rng.normal(size=(400, 200)) + 4 * u @ v   # two spikes above the MP edge
f = rng.normal(0, 1, (64, 64)).astype(np.float32)
b = np.zeros(120)
tensors = {'layers.0.weight': g, 'layers.1.weight': s, 'layers.2.weight': f, 'layers.0.bias': b}
hdr, off, blobs = {}, 0, []
for k, a in tensors.items():
    raw = np.ascontiguousarray(a).astype(a.dtype.newbyteorder('<')).tobytes()
    hdr[k] = {'dtype': 'F64' if a.dtype == np.float64 else 'F32', 'shape': list(a.shape),
              'data_offsets': [off, off + len(raw)]}
    off += len(raw); blobs.append(raw)
h = json.dumps(hdr).encode()
data = struct.pack('<Q', len(h)) + h + b''.join(blobs)
open(t + '/py.safetensors', 'wb').write(data)
open(t + '/trunc.safetensors', 'wb').write(data[:len(data) // 2])
np.save(t + '/g.npy', g); np.save(t + '/s.npy', s); np.save(t + '/f.npy', f.astype(np.float64))
PY

if "$LM" weights "$T/py.safetensors" --json > "$T/py.json" && $PY - "$T" <<'PY'
import sys, json, numpy as np
t = sys.argv[1]
o = json.load(open(t + '/py.json'))
L = {l['name']: l for l in o['layers']}
assert set(L) == {'layers.0.weight', 'layers.1.weight', 'layers.2.weight'}, list(L)
assert o['skipped'] == ['layers.0.bias'], o['skipped']
for name, f in [('layers.0.weight', 'g'), ('layers.1.weight', 's'), ('layers.2.weight', 'f')]:
    W = np.load(t + '/' + f + '.npy')
    N, M = max(W.shape), min(W.shape)
    l = L[name]
    assert l['shape'] == list(W.shape), (name, l['shape'])  # the tensor's own shape
    sv = np.linalg.svd(W, compute_uv=False)
    ev = np.sort(sv**2 / N)
    e = np.array(l['eigenvalues'])
    assert np.allclose(e, ev, rtol=1e-6 if f == 'f' else 1e-10, atol=0), (name, abs(e - ev).max())
    sr = (sv**2).sum() / sv.max()**2
    assert abs(l['stable_rank'] / sr - 1) < 1e-9, (name, l['stable_rank'], sr)
    assert abs(l['log_norm'] - np.log10(np.linalg.norm(W))) < 1e-9
    assert abs(l['log_spectral_norm'] - np.log10(sv.max())) < 1e-9
    assert abs(l['mp']['q'] - N / M) < 1e-12
    assert l['alpha'] is None or l['alpha_stderr'] > 0
    # the contract keys of issue 14
    for k in ('name', 'shape', 'alpha', 'alpha_stderr', 'xmin', 'ks', 'mp', 'spikes', 'stable_rank', 'log_norm'):
        assert k in l, (name, k)
    for k in ('sigma2', 'lambda_plus', 'ks'):
        assert k in l['mp'], (name, k)
    assert l['spikes'] == l['mp']['n_spikes'] == len(l['mp']['spike_eigenvalues'])
    # mp.ks: the KS distance between the ESD and the fitted MP law, recomputed here
    if l['mp']['sigma2'] is not None and N / M > 1:
        q, s2 = N / M, l['mp']['sigma2']
        lm, lp = s2 * (1 - q ** -0.5) ** 2, s2 * (1 + q ** -0.5) ** 2
        xs = np.linspace(lm, lp, 200001)
        dens = q * np.sqrt(np.clip((lp - xs) * (xs - lm), 0, None)) / (2 * np.pi * s2 * xs)
        cdf = np.concatenate([[0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(xs))])
        F = np.interp(ev, xs, cdf, left=0, right=1)
        m = len(ev)
        ks = max(np.max(np.abs(F - np.arange(m) / m)), np.max(np.abs(np.arange(1, m + 1) / m - F)))
        assert abs(l['mp']['ks'] - ks) < 1e-4, (name, l['mp']['ks'], ks)
g = L['layers.0.weight']
assert abs(g['mp']['sigma2'] / 0.01 - 1) < 0.05, g['mp']
assert g['mp']['n_spikes'] <= 3, g['mp']
s = L['layers.1.weight']
assert 2 <= s['mp']['n_spikes'] <= 4 and len(s['mp']['spike_eigenvalues']) == s['mp']['n_spikes'], s['mp']
assert min(s['mp']['spike_eigenvalues']) > s['mp']['lambda_plus']
assert L['layers.2.weight']['mp']['q'] == 1.0
PY
then ok "python checkpoint vs numpy reference"; else bad "python checkpoint" "$(head -c 300 "$T/py.json")"; fi

if "$LM" weights "$T/py.safetensors" > "$T/py.txt" && grep -q "layers.1.weight" "$T/py.txt" &&
    grep -q "note: layers.0.bias skipped" "$T/py.txt"; then ok "text table"; else bad "text table" "$(cat "$T/py.txt")"; fi

cfg=$(dirname "$0")/../../examples/synthetic_teacher.json
if "$LM" train "$cfg" --db "$T/r.db" --set steps=20 --set eval_every=10 \
    --set 'model.widths=[32,96,96,1]' --save "$T/tr.safetensors" --quiet > /dev/null &&
    "$LM" weights "$T/tr.safetensors" --json > "$T/tr.json" && $PY - "$T" <<'PY'
import sys, json
o = json.load(open(sys.argv[1] + '/tr.json'))
names = [l['name'] for l in o['layers']]
assert names == ['layers.0.weight', 'layers.1.weight', 'layers.2.weight'], names
sh = {l['name']: l['shape'] for l in o['layers']}
assert sh['layers.0.weight'] == [96, 32] and sh['layers.1.weight'] == [96, 96] and sh['layers.2.weight'] == [1, 96], sh  # the tensor's own [d_out, d_in]
l1 = [l for l in o['layers'] if l['name'] == 'layers.1.weight'][0]
assert l1['fitted'] and len(l1['eigenvalues']) == 96
assert not o['layers'][0]['fitted'] and o['layers'][0]['alpha'] is None  # M = 32 < 50: no fit
assert len(o['skipped']) == 3, o['skipped']
PY
then ok "lmech train checkpoint"; else bad "lmech train checkpoint" "$(head -c 300 "$T/tr.json" 2>/dev/null)"; fi

expect_fail "missing file" "nope.safetensors" "$LM" weights "$T/nope.safetensors"
expect_fail "truncated file" "trunc.safetensors" "$LM" weights "$T/trunc.safetensors"
expect_fail "no file" "missing FILE" "$LM" weights
# --gof: CSN's goodness-of-fit p-value rules out the power law for Gaussian noise (whose CSN alpha
# falls inside WeightWatcher's [2, 6]) and keeps a planted Pareto tail (alpha = 3) whose fitted
# alpha is within 2 SE of the truth; without --gof ks_p is null
if $PY - "$T" "$LM" <<'PY'; then ok "--gof: noise rejected (p < 0.1), planted alpha = 3 kept"; else bad "--gof" "see above"; fi
import json, struct, subprocess, sys
import numpy as np
t, LM = sys.argv[1], sys.argv[2]
r = np.random.default_rng(0)
W = r.normal(size=(400, 200))
U, _ = np.linalg.qr(r.normal(size=(400, 200)))
V, _ = np.linalg.qr(r.normal(size=(200, 200)))
lam = (1 - r.random(200)) ** (-1 / (3 - 1))  # density ~ lambda^-3
P = U @ np.diag(np.sqrt(400 * lam)) @ V.T
h, blobs, off = {}, [], 0
for k, v in (("gauss", W), ("pareto", P)):
    d = v.astype("<f8").tobytes()
    h[k] = {"dtype": "F64", "shape": list(v.shape), "data_offsets": [off, off + len(d)]}
    blobs.append(d)
    off += len(d)
hj = json.dumps(h).encode()
open(t + "/g.safetensors", "wb").write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))
run = lambda *a: json.loads(subprocess.run([LM, "weights", t + "/g.safetensors", "--json", *a],
                                           capture_output=True, text=True, check=True).stdout)
L = {l["name"]: l for l in run("--gof", "200")["layers"]}
g, p = L["gauss"], L["pareto"]
print("gauss alpha", g["alpha"], "p", g["ks_p"], "; pareto alpha", p["alpha"], "+-", p["alpha_stderr"], "p", p["ks_p"])
assert 2 <= g["alpha"] <= 6 and g["ks_p"] < 0.1
assert p["ks_p"] > 0.1 and abs(p["alpha"] - 3) < 2 * p["alpha_stderr"]
assert all(l["ks_p"] is None for l in run()["layers"])
PY
expect_fail "--gof negative" "expected an integer from 0 to 100000" "$LM" weights "$T/py.safetensors" --gof -1
finish
