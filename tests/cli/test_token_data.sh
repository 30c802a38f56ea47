#!/usr/bin/env bash
# Token-sequence data through the CLI (data.h, "Token sets"): a transformer trains on the bytes of
# a text file (next-token prediction at every position) and on .npy token arrays made by numpy
# (every-position targets [n, T]); refusals name the key or the file: normalize on tokens, a
# missing text file, a float x with encoding tokens, data.context against model.context.
. "$(dirname "$0")/lib/common.bash" "$@"
"$PY" - "$T" <<'PY'
import sys, numpy as np
T = sys.argv[1]
rng = np.random.default_rng(0)
open(T + '/t.txt', 'wb').write(bytes(rng.integers(97, 105, size=3000).astype(np.uint8)))
x = rng.integers(0, 12, size=(40, 6)).astype(np.int32)
np.save(T + '/x.npy', x)
np.save(T + '/y.npy', np.cumsum(x, axis=1) % 12)
np.save(T + '/xf.npy', x.astype(np.float64))
PY
cat > "$T/text.json" <<JSON
{"seed": 1, "data": {"source": "text", "path": "$T/t.txt", "context": 16, "stride": 8},
 "model": {"arch": "gpt", "vocab": 256, "context": 16, "d_model": 16, "heads": 2, "blocks": 1,
  "predict": "every"},
 "loss": "ce", "optimizer": {"name": "adam", "lr": 0.01}, "batch_size": 32, "steps": 5,
 "eval_every": 5, "threads": 1}
JSON
if "$LM" train "$T/text.json" --db "$T/r.db" > "$T/text.out" 2>&1 && grep -q 'test  loss' "$T/text.out"; then
    ok "text: a gpt trains on every position, with a test set"
else
    bad "text" "$(head -c 300 "$T/text.out")"
fi
cat > "$T/npy.json" <<JSON
{"seed": 1, "data": {"source": "npy", "encoding": "tokens", "x": "$T/x.npy", "y": "$T/y.npy"},
 "model": {"arch": "gpt", "vocab": 12, "context": 6, "d_model": 16, "heads": 2, "blocks": 1,
  "predict": "every"},
 "loss": "ce", "optimizer": {"name": "adam", "lr": 0.01}, "batch_size": 0, "steps": 5,
 "eval_every": 5, "threads": 1}
JSON
if "$LM" train "$T/npy.json" --db "$T/r.db" > "$T/npy.out" 2>&1 && grep -q 'train loss' "$T/npy.out"; then
    ok "npy tokens: every-position targets [n, T]"
else
    bad "npy" "$(head -c 300 "$T/npy.out")"
fi
expect_fail "normalize refused on tokens" 'data.normalize' \
    "$LM" train "$T/text.json" --db "$T/r.db" --set data.normalize=standardize
expect_fail "missing text file named" "$T/none.txt: cannot open" \
    "$LM" train "$T/text.json" --db "$T/r.db" --set "data.path=$T/none.txt"
expect_fail "float x refused" 'xf.npy: x is float64' \
    "$LM" train "$T/npy.json" --db "$T/r.db" --set "data.x=$T/xf.npy"
expect_fail "data.context against model.context" 'context 8' \
    "$LM" train "$T/text.json" --db "$T/r.db" --set data.context=8
finish
