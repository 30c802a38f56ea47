#!/usr/bin/env bash
# End-to-end tests of the lmech command line on real Fashion-MNIST data: the JSON contract of
# train/eval, ls/show/export, --set, checkpoints (and loading them in PyTorch when it is
# installed), divergence as a result, killed runs found interrupted, concurrent writers, and bad
# input (each a clear message naming the file or key, a non-zero exit below 128, no crash).
. "$(dirname "$0")/lib/common.bash" "$@"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
# jq-like: py 'expression over o' JSON
py() { $PY -c "import json,sys; o=json.loads(sys.argv[2]); print($1)" "$@"; }

cat > "$T/a.json" <<J
{"seed": 3, "data": {"source": "fashion-mnist", "train_size": 256, "test_size": 128},
 "model": {"widths": [784, 32, 10], "activation": "tanh"},
 "loss": "ce", "optimizer": {"name": "momentum", "lr": 0.05}, "batch_size": 32, "steps": 40,
 "eval_every": 20, "dtype": "float64", "threads": 1}
J

# --- train --json: the contract keys, a finished run, a checkpoint
out=$("$LM" train "$T/a.json" --db "$T/r.db" --save "$T/m.safetensors" --json 2>"$T/err")
if [ $? -eq 0 ] && [ "$(py "o['status']" "$out")" = finished ] &&
    [ "$(py "all(k in o['final'] for k in ('train_loss','train_acc','test_loss','test_acc')) and o['steps']==40 and o['run_id']>=1 and o['wall_s']>0" "$out")" = True ]; then
    ok "train --json"
else
    bad "train --json" "$out $(cat "$T/err")"
fi
train_loss=$(py "o['final']['train_loss']" "$out")

# --- eval at the saved checkpoint reproduces the final training loss (same theta, float64)
ev=$("$LM" eval "$T/a.json" --init "$T/m.safetensors" --json 2>"$T/err")
if [ $? -eq 0 ] && [ "$(py "abs(o['loss']-$train_loss) <= 1e-12*abs($train_loss) and o['n_params']==784*32+32+32*10+10 and o['grad_norm']>0" "$ev")" = True ]; then
    ok "eval --init matches the final train loss"
else
    bad "eval" "$ev vs $train_loss $(cat "$T/err")"
fi

# --- same config and seed: bitwise-identical results
out2=$("$LM" train "$T/a.json" --db "$T/r.db" --json 2>/dev/null)
[ "$(py "o['final']" "$out")" = "$(py "o['final']" "$out2")" ] && ok "deterministic rerun" || bad "determinism" "$out vs $out2"
rid=$(py "o['run_id']" "$out2")

# --- ls / show / export
"$LM" ls --db "$T/r.db" >"$T/ls" 2>&1 && grep -q finished "$T/ls" && ok "ls" || bad "ls" "$(cat "$T/ls")"
"$LM" show "$rid" --db "$T/r.db" >"$T/show" 2>&1 && grep -q train_loss "$T/show" && ok "show" || bad "show" "$(head -c 300 "$T/show")"
"$LM" export "$rid" --format csv --db "$T/r.db" >"$T/csv" 2>&1 && head -1 "$T/csv" | grep -q '^step,' &&
    [ "$(wc -l <"$T/csv")" -eq 4 ] && ok "export csv (steps 0, 20, 40)" || bad "export csv" "$(head -c 300 "$T/csv")"
"$LM" export "$rid" --format json --db "$T/r.db" >"$T/json" 2>&1 &&
    $PY -c "import json,sys; o=json.load(open(sys.argv[1])); assert o['run']['status']=='finished' and 'train_loss' in o['metrics'] and o['run']['config']['model']['widths']==[784,32,10]" "$T/json" &&
    ok "export json" || bad "export json" "$(head -c 300 "$T/json")"
"$LM" show 9999 --db "$T/r.db" >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q 9999 "$T/err" && ok "show missing run" || bad "show missing" "rc=$rc $(cat "$T/err")"

# --- --set overrides
out=$("$LM" train "$T/a.json" --db "$T/r.db" --set optimizer.lr=0.01 --set steps=3 --set model.widths=[784,8,10] --json 2>"$T/err")
[ "$(py "o['steps']" "$out" 2>/dev/null)" = 3 ] && ok "--set" || bad "--set" "$out $(cat "$T/err")"

# --- the checkpoint loads in PyTorch (strict state_dict: layers.{i}.weight [out,in], bias)
if $PY -c "import torch" 2>/dev/null; then
    $PY "$SRC/tests/fixtures/check_torch_load.py" "$T/m.safetensors" 784,32,10 >"$T/pt" 2>&1 && ok "checkpoint loads in PyTorch" || bad "PyTorch load" "$(cat "$T/pt")"
else
    echo "skip  PyTorch load (python3-torch not installed)"
fi

# --- divergence is a result: status diverged, recorded step, exit 0
out=$("$LM" train "$T/a.json" --db "$T/r.db" --set loss='"mse"' --set optimizer='{"name":"sgd","lr":1e6}' --set batch_size=0 --json 2>"$T/err")
if [ $? -eq 0 ] && [ "$(py "o['status']" "$out")" = diverged ] && [ "$(py "'diverged_step' in o" "$out")" = True ]; then
    ok "divergence recorded"
else
    bad "divergence" "$out $(cat "$T/err")"
fi

# --- a killed run is found interrupted, never half-written
"$LM" train "$T/a.json" --db "$T/k.db" --set steps=1000000 --set eval_every=50 --quiet >/dev/null 2>&1 &
pid=$!
# kill it once it is recorded as running (under load, loading the data may take a while)
for _ in $(seq 1 120); do
    "$LM" ls --db "$T/k.db" 2>/dev/null | grep -q running && break
    sleep 0.25
done
sleep 0.5
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
"$LM" ls --db "$T/k.db" >"$T/ls" 2>&1
grep -q interrupted "$T/ls" && ok "killed run is interrupted" || bad "interrupted" "$(cat "$T/ls")"

# --- several processes write to one database at once: no run or row lost
for i in 1 2 3; do "$LM" train "$T/a.json" --db "$T/c.db" --set seed=$i --set eval_every=1 --quiet >/dev/null 2>&1 & done
wait
n=$(sqlite3 "$T/c.db" "select count(*) from runs where status='finished'" 2>/dev/null || $PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from runs where status='finished'\").fetchone()[0])" "$T/c.db")
m=$($PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from metrics where name='train_loss'\").fetchone()[0])" "$T/c.db")
[ "$n" = 3 ] && [ "$m" = 123 ] && ok "concurrent writers (3 runs, 123 train_loss rows)" || bad "concurrent" "finished=$n rows=$m"

# --- bad input: clear message naming the file/key, non-zero exit below 128
expect_error() { # NAME PATTERN CMD...
    local name=$1 pat=$2; shift 2
    "$@" >/dev/null 2>"$T/err"; local rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q -- "$pat" "$T/err"; then ok "$name"; else bad "$name" "rc=$rc: $(head -c 300 "$T/err")"; fi
}
echo '{"seed":0,"sede":1}' >"$T/bad.json"
expect_error "unknown key named" sede "$LM" train "$T/bad.json" --db "$T/r.db"
printf '{"seed": 0,\n "model": {"widths": [784, 10]\n' >"$T/syntax.json"
expect_error "JSON syntax error with line" "syntax.json:" "$LM" train "$T/syntax.json" --db "$T/r.db"
expect_error "missing config" nope.json "$LM" train "$T/nope.json" --db "$T/r.db"
expect_error "wrong type" "model.widths" "$LM" train "$T/a.json" --db "$T/r.db" --set 'model.widths=[784,"a",10]'
cat > "$T/other.json" <<J
{"data": {"source": "fashion-mnist", "train_size": 64, "test_size": 0}, "model": {"widths": [784, 16, 10]}, "steps": 1}
J
expect_error "checkpoint shape mismatch" "layers.0.weight" "$LM" eval "$T/other.json" --init "$T/m.safetensors"
head -c 100 "$T/m.safetensors" >"$T/trunc.safetensors"
expect_error "truncated checkpoint" trunc.safetensors "$LM" eval "$T/a.json" --init "$T/trunc.safetensors"
$PY - "$T" <<'P'
import numpy as np, sys
t = sys.argv[1]
x = np.random.default_rng(0).standard_normal((20, 5)); y = np.eye(3)[np.arange(20) % 3]
np.save(f"{t}/x.npy", x); np.save(f"{t}/y.npy", y)
xn = x.copy(); xn[7, 2] = np.nan; np.save(f"{t}/xnan.npy", xn)
open(f"{t}/xtrunc.npy", "wb").write(open(f"{t}/x.npy", "rb").read()[:300])
P
cat > "$T/npy.json" <<J
{"data": {"source": "npy", "x": "$T/x.npy", "y": "$T/y.npy", "test_size": 0}, "model": {"widths": [5, 8, 3]}, "steps": 5, "loss": "mse"}
J
out=$("$LM" train "$T/npy.json" --db "$T/r.db" --json 2>"$T/err") && [ "$(py "o['status']" "$out")" = finished ] && ok "npy data" || bad "npy data" "$(cat "$T/err")"
expect_error "NaN in data" xnan.npy "$LM" train "$T/npy.json" --db "$T/r.db" --set "data.x=\"$T/xnan.npy\""
expect_error "truncated npy" xtrunc.npy "$LM" train "$T/npy.json" --db "$T/r.db" --set "data.x=\"$T/xtrunc.npy\""
expect_error "input width mismatch" "widths" "$LM" train "$T/npy.json" --db "$T/r.db" --set "model.widths=[6,8,3]"
expect_error "unwritable database" "/nonexistent/dir/r.db" "$LM" train "$T/a.json" --db /nonexistent/dir/r.db
expect_error "unwritable checkpoint" "/nonexistent/dir/m.safetensors" "$LM" train "$T/a.json" --db "$T/r.db" --set steps=1 --save /nonexistent/dir/m.safetensors
echo "not a database" >"$T/text.db"
expect_error "not a database" text.db "$LM" ls --db "$T/text.db"
expect_error "unknown command" "unknown command" "$LM" frobnicate
# read-only commands refuse a missing database instead of creating an empty one
expect_error "ls: no such database" "no such run database" "$LM" ls --db "$T/none.db"
expect_error "report: no such database" "no such run database" "$LM" report --db "$T/none.db" --out "$T/rep"
[ -e "$T/none.db" ] && bad "missing database created" "$T/none.db exists" || ok "missing database not created"

echo "$fails failed"
[ $fails -eq 0 ]
