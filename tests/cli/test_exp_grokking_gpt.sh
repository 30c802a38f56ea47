#!/usr/bin/env bash
# grokking-gpt, quick variant (a one-block transformer on modadd tokens, p = 31, AdamW lr 3e-3,
# 2 seeds per arm, 2500 steps), on a temp database: 4 transformer runs (model.arch gpt, token
# inputs) record the grok observer on tok_emb's rows (fourier_sparsity, fourier_sparsity_unit,
# erank.1 of tok_emb[:p]) beside accuracy and param_norm; the delay, the norm's fall and the
# control pass, the sparsity rise is measured near 2x, the per-unit rise is reported; the figure
# is written; and the observer agrees with numpy on a saved transformer.
. "$(dirname "$0")/lib/common.bash" "$@"
set -e
out=$("$LM" exp grokking-gpt --quick --jobs 2 --db "$T/r.db" --json)
run=$(/usr/bin/python3 -c "
import json, sys
o = json.loads(sys.argv[1])
assert o['experiment'] == 'grokking-gpt' and o['quick'], o
assert len(o['runs']) == 4, len(o['runs'])
c = {x['name']: x for x in o['claims']}
assert len(c) == 5, list(c)
assert c['per-unit Fourier sparsity rise']['verdict'] == 'reported', c['per-unit Fourier sparsity rise']
# docs/experiments/grokking-gpt.md: the norm's fall and the control pass; the delay is far
# above 3 but its interval over 2 seeds (one t_test ranges 1000-2000 steps from a change in
# rounding) can straddle the edge, so it must pass or be inconclusive with its value above 3;
# the sparsity rise sits at 2x (1.95 +- 0.05 at 2 seeds: undecided), so only its value is checked
for k in ('weight norm falls between t_train and t_test',
          'without weight decay: test < 95 % or the delay at least doubles'):
    assert c[k]['verdict'] == 'pass', c[k]
dl = c['grokking delay t(test >= 95%) / t(train >= 99%)']
assert dl['verdict'] in ('pass', 'inconclusive') and dl['measured'] > 3, dl
s = c['Fourier sparsity rises between t_train and t_test']
assert 1.5 < s['measured'] < 2.5 and s['uncertainty'] > 0, s
print(o['runs'][0])
" "$out")
echo "ok  grokking-gpt quick: norm and control pass; delay above 3; sparsity rise measured"
"$LM" show "$run" --db "$T/r.db" | grep -q '"arch": "gpt"'
"$LM" export "$run" --format csv --db "$T/r.db" >"$T/m.csv"
/usr/bin/python3 -c "
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
for k in ('fourier_sparsity', 'fourier_sparsity_unit', 'erank.1', 'param_norm', 'test_acc'):
    assert k in r[0], (k, list(r[0]))
# tok_emb's first p = 31 rows over 15 frequencies: near 5/15 at init, far from 1
s0 = float(r[0]['fourier_sparsity'])
assert 0.2 < s0 < 0.6, s0
# the erank of tok_emb[:31] [31, 32] is at most 31
assert 1 < float(r[0]['erank.1']) <= 31, r[0]['erank.1']
" "$T/m.csv"
echo "ok  a transformer run: fourier_sparsity and erank.1 of tok_emb recorded"
d=$(ls -d "$T"/r.db.artifacts/exp-*)
grep -q "Fourier sparsity" "$d/grokking-gpt.tsv" "$d/grokking-gpt.gp"
echo "ok  figure"
# the observer against numpy on a saved transformer: fourier_sparsity(_unit) and erank.1 recomputed
# from tok_emb.weight's first p rows of the checkpoint (numpy's FFT along the token axis, its SVD)
cat >"$T/g.json" <<'JSON'
{"seed": 3, "data": {"source": "modadd", "modulus": 31, "train_frac": 0.5, "encoding": "tokens"},
 "model": {"arch": "gpt", "vocab": 32, "context": 3, "d_model": 32, "heads": 4, "blocks": 1,
           "predict": "last"},
 "loss": "ce", "optimizer": {"name": "adamw", "lr": 0.003, "weight_decay": 1.0},
 "batch_size": 0, "steps": 40, "eval_every": 40}
JSON
"$LM" train "$T/g.json" --db "$T/g.db" --save "$T/g.safetensors" --quiet
"$LM" export 1 --format csv --db "$T/g.db" >"$T/g.csv"
"$PY" - "$T/g.safetensors" "$T/g.csv" <<'PYEOF'
import csv, json, struct, sys
import numpy as np
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
t = h["tok_emb.weight"]
s, e = t["data_offsets"]
E = np.frombuffer(b[8 + n + s:8 + n + e], dtype={"F64": np.float64, "F32": np.float32}[t["dtype"]])
E = E.reshape(t["shape"])
p = 31
assert E.shape == (32, 32), E.shape
X = E[:p]
P = np.abs(np.fft.fft(X, axis=0)) ** 2
pk = np.array([P[k] + P[p - k] for k in range(1, p // 2 + 1)])  # [15 frequencies, d features]
agg = np.sort(pk.sum(1))[::-1]
sp = agg[:5].sum() / agg.sum()
su = np.mean([np.sort(pk[:, j])[::-1][:5].sum() / pk[:, j].sum() for j in range(X.shape[1])])
sv = np.linalg.svd(X, compute_uv=False)
q = sv / sv.sum()
er = np.exp(-(q * np.log(q)).sum())
r = list(csv.DictReader(open(sys.argv[2])))[-1]
assert r["step"] == "40", r["step"]
for name, want in (("fourier_sparsity", sp), ("fourier_sparsity_unit", su), ("erank.1", er)):
    got = float(r[name])
    # float64 throughout; the FFTs (GSL, numpy) and SVDs differ only in rounding
    assert abs(got - want) <= 1e-12 * max(1.0, abs(want)), (name, got, want)
print("ok  grok observer = numpy on tok_emb[:31]:", sp, su, er)
PYEOF
