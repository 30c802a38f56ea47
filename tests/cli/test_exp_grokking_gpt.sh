#!/usr/bin/env bash
# grokking-gpt, quick variant (a one-block transformer on modadd tokens, p = 31, AdamW lr 3e-3,
# 2 seeds per arm, 2500 steps), on a temp database: 4 transformer runs (model.arch gpt, token
# inputs) record the grok observer on tok_emb's rows (fourier_sparsity, fourier_sparsity_unit,
# erank.1 of tok_emb[:p]) beside accuracy and param_norm; the four claims of grok_analysis.c are
# decided (pass or fail, not inconclusive) and the per-unit rise is reported; the figure is written.
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
for k, x in c.items():
    if k != 'per-unit Fourier sparsity rise':
        assert x['verdict'] in ('pass', 'fail'), x
print(o['runs'][0])
" "$out")
echo "ok  grokking-gpt quick: 4 claims decided, the per-unit rise reported"
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
