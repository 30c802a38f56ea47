#!/usr/bin/env bash
# Every instrument on a transformer (issue 16): model.arch "gpt" (one block, d_model 16, 2 heads)
# on bytes of a text (next-byte prediction at every position). lmech train in float64 and
# float32 with the sharpness, probe, repr and weight observers; lmech eval of the saved
# checkpoint; lmech hessian (Lanczos against the dense LAPACK spectrum) on a gpt over modular
# addition as tokens; lmech features of every representation layer; lmech weights with the
# reference module's tensor names; lmech kernel --empirical by Jacobian blocks; the analytic
# kernel refused naming the model.
. "$(dirname "$0")/lib/common.bash" "$@"
"$PY" - "$T" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(0)
words = [b"the ", b"gradient ", b"flows ", b"down ", b"and ", b"sharpness ", b"rises "]
open(sys.argv[1] + '/t.txt', 'wb').write(b"".join(words[i] for i in rng.integers(0, 7, 900)))
PY
cat >"$T/gpt.json" <<JSON
{"seed": 2, "data": {"source": "text", "path": "$T/t.txt", "context": 16, "train_size": 96,
  "test_size": 32},
 "model": {"arch": "gpt", "vocab": 256, "context": 16, "d_model": 16, "heads": 2, "blocks": 1},
 "loss": "ce", "optimizer": {"name": "adam", "lr": 0.01}, "batch_size": 0, "steps": 40,
 "eval_every": 20, "sharpness_every": 20, "probe_every": 20, "probe_size": 32,
 "repr_every": 20, "weights_every": 40, "threads": 1}
JSON

for dt in float64 float32; do
    out=$("$LM" train "$T/gpt.json" --set dtype=$dt --db "$T/db" --save "$T/$dt.safetensors" --json 2>"$T/err")
    if [ $? -eq 0 ] && $PY -c "
import json, sys, math, sqlite3
r = json.loads(sys.argv[1])
assert r['status'] == 'finished', r
# accuracy over every position of the test windows
assert 0 < r['final']['test_acc'] <= 1, r
db = sqlite3.connect(sys.argv[2])
m = dict(db.execute('SELECT name, value FROM metrics WHERE run = ? ORDER BY step', (r['run_id'],)))
first = db.execute('SELECT value FROM metrics WHERE run = ? AND name = ? ORDER BY step',
                   (r['run_id'], 'train_loss')).fetchone()[0]
assert m['train_loss'] < 0.8 * first, (first, m['train_loss'])
for k in ('sharpness', 'cka_init.1', 'cka_init.4', 'act_rms.0', 'lin_dist', 'wchange_fro.0',
          'log_norm.1', 'stable_rank.3'):
    assert k in m and m[k] is not None and math.isfinite(m[k]), (k, sorted(m))
assert m['sharpness'] > 0
# the run's dtype takes the products: float32 JVP and R-operator of every gpt layer
assert m['sharpness_hvp_bits'] == (32.0 if sys.argv[3] == 'float32' else 64.0), m['sharpness_hvp_bits']
# 16 positions x 256 bytes: one example's NTK kernels exceed the observer's budget (obs_ntk.c)
assert 'ntk_change' not in m
" "$out" "$T/db" "$dt"; then
        ok "train $dt: loss falls, test accuracy, sharpness, repr, features, weight observers"
    else
        bad "train $dt" "$(head -c 400 "$T/err") ${out:0:400}"
    fi
done

ev=$("$LM" eval "$T/gpt.json" --init "$T/float64.safetensors" --json 2>"$T/err")
[ $? -eq 0 ] && ok "eval reads the transformer checkpoint" || bad "eval" "$(head -c 300 "$T/err")"

cat >"$T/small.json" <<'EOF2'
{"seed": 1, "data": {"source": "modadd", "modulus": 5, "encoding": "tokens", "train_size": 12},
 "model": {"arch": "gpt", "vocab": 6, "context": 3, "d_model": 4, "heads": 2, "blocks": 1,
  "mlp_ratio": 2}, "loss": "ce"}
EOF2
lan=$("$LM" hessian "$T/small.json" --top 3 --tol 1e-9 --json 2>"$T/err")
rc=$?
den=$("$LM" hessian "$T/small.json" --top 3 --method dense --json 2>>"$T/err")
if [ $rc -eq 0 ] && [ $? -eq 0 ] && $PY -c "
import json, sys
a, d = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a['n_params'] == d['n_params'] > 0
# Lanczos at residual 1e-9 against LAPACK's eigenvalues of the dense Hessian built from the
# same R-operator products: 1e-7 relative is far above the residual's effect
for x, y in zip(a['eigenvalues'], d['eigenvalues']):
    assert abs(x - y) <= 1e-7 * abs(y), (a['eigenvalues'], d['eigenvalues'])
" "$lan" "$den"; then
    ok "hessian: Lanczos agrees with the dense spectrum on a transformer"
else
    bad "hessian" "$(head -c 300 "$T/err") ${lan:0:200}"
fi

$PY -c "
import numpy as np
np.save('$T/x.npy', np.random.default_rng(0).integers(97, 120, (5, 16)).astype(np.float64))"
for L in 0 1 2 3 4 5; do
    "$LM" features "$T/gpt.json" --init "$T/float64.safetensors" --inputs "$T/x.npy" --layer $L \
        --out "$T/h$L.npy" 2>"$T/err" || bad "features --layer $L" "$(head -c 300 "$T/err")"
done
if $PY -c "
import numpy as np
shapes = {L: np.load('$T/h%d.npy' % L).shape for L in range(6)}
# 0 token ids, 1 embeddings, 2 after attention, 3 after the MLP, 4 ln_f, 5 logits: per position
want = {0: (5, 16), 1: (5, 16 * 16), 2: (5, 16 * 16), 3: (5, 16 * 16), 4: (5, 16 * 16),
        5: (5, 16 * 256)}
assert shapes == want, shapes
"; then
    ok "features: every block's output per position, and the logits"
else
    bad "features shapes" "see above"
fi
$PY -c "import numpy as np; np.save('$T/xb.npy', np.full((2, 16), 97.5))"
expect_fail "features refuses inputs that are not token ids" "not a token id" \
    "$LM" features "$T/gpt.json" --init "$T/float64.safetensors" --inputs "$T/xb.npy" --layer 2 --out "$T/h.npy"

w=$("$LM" weights "$T/float64.safetensors" --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json, sys
r = json.loads(sys.argv[1])
names = {t['name']: t['shape'] for t in r['layers']}
assert names['blocks.0.attn.qkv.weight'] == [48, 16], names
assert names['blocks.0.mlp.proj.weight'] == [16, 64], names
assert names['head.weight'] == [256, 16], names
" "$w"; then
    ok "weights: the transformer's tensors by the reference module's names"
else
    bad "weights" "$(head -c 300 "$T/err") ${w:0:300}"
fi

$PY -c "import numpy as np; np.save('$T/x3.npy', np.array([[0., 1., 5.], [2., 3., 5.], [4., 4., 5.]]))"
k=$("$LM" kernel --empirical "$T/small.json" --inputs "$T/x3.npy" --max-memory 64K --json 2>"$T/err")
if [ $? -eq 0 ] && $PY -c "
import json, sys
import numpy as np
r = json.loads(sys.argv[1])
K = np.array(r['ntk'])
# 3 inputs x 6 logits: symmetric positive semi-definite
assert K.shape == (18, 18) or K.shape == (3, 3, 6, 6) or K.size == 324, K.shape
K = K.reshape(18, 18) if K.size == 324 else K
assert np.allclose(K, K.T, rtol=1e-10, atol=1e-12)
assert np.linalg.eigvalsh(K).min() > -1e-9 * np.abs(K).max()
" "$k"; then
    ok "empirical NTK of a transformer by Jacobian blocks within --max-memory"
else
    bad "empirical kernel" "$(head -c 300 "$T/err")"
fi
expect_fail "analytic kernel refuses a transformer" "needs a model.widths network" \
    "$LM" kernel "$T/small.json" --inputs "$T/x3.npy"
# npy token arrays exactly as the issue words them (integer x [n, T], integer targets [n] or
# [n, T]) without data.encoding: a transformer reads them as tokens over its own vocabulary
"$PY" - "$T" <<'PY'
import sys, numpy as np
r = np.random.default_rng(0)
x = r.integers(0, 12, (40, 6)).astype(np.int64)
np.save(sys.argv[1] + '/tx.npy', x)
np.save(sys.argv[1] + '/ty.npy', (x.sum(1) % 12).astype(np.int64))
np.save(sys.argv[1] + '/tyy.npy', (np.cumsum(x, 1) % 12).astype(np.int64))
PY
for mode in last every; do
    y=ty.npy; [ $mode = every ] && y=tyy.npy
    cat >"$T/np_$mode.json" <<JSON
{"seed": 1, "data": {"source": "npy", "x": "$T/tx.npy", "y": "$T/$y"},
 "model": {"arch": "gpt", "vocab": 16, "context": 6, "d_model": 8, "heads": 2, "blocks": 1,
           "predict": "$mode"},
 "loss": "ce", "optimizer": {"name": "adam", "lr": 0.01}, "batch_size": 8, "steps": 5, "threads": 1}
JSON
    o=$("$LM" train "$T/np_$mode.json" --db "$T/np.db" --json 2>"$T/err")
    if [ $? -eq 0 ] && $PY -c "
import json, sys; r = json.loads(sys.argv[1]); assert r['status'] == 'finished', r" "$o"; then
        ok "npy integer tokens, predict $mode, vocabulary from the model"
    else
        bad "npy $mode" "$(head -c 300 "$T/err")"
    fi
done
sed 's/"predict": "every"/"predict": "last"/' "$T/np_every.json" >"$T/np_bad.json"
expect_fail "every-position targets under predict last name the fix" 'set model.predict "every"' \
    "$LM" train "$T/np_bad.json" --db "$T/np.db"
finish
