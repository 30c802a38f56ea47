#!/usr/bin/python3
"""Runs the training benchmark: for each dtype, width and batch size, lmech (bench_train) and
PyTorch (torch_train.py) in the same session, interleaved, and prints a markdown table with
steps/s, GEMM GFLOP/s, the fraction of the GEMM peak measured in the same run, the ratio, and the
target of the issue (small work: max-target = min(2x PyTorch, 60% of peak rate); else 1.0x).

usage: bench/train.py BUILD_DIR [SECONDS_PER_SIDE] [--quick]"""
import json, os, subprocess, sys

build = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 and not sys.argv[2].startswith("-") else 1.5
quick = "--quick" in sys.argv
here = os.path.dirname(os.path.abspath(__file__))
env_torch = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="2")
env_lm = dict(os.environ, OPENBLAS_NUM_THREADS="2")
widths = [64, 256, 1024] if quick else [64, 256, 1024, 4096]
batches = [32, 128, 1024]
rows = []
for dt in ["float32", "float64"]:
    for W in widths:
        for B in batches:
            sec = seconds * (2 if W >= 1024 else 1)
            lm = json.loads(subprocess.run([f"{build}/bench/bench_train", dt, str(W), str(B), str(sec)],
                                           env=env_lm, check=True, capture_output=True, text=True).stdout)
            pt = json.loads(subprocess.run(["/usr/bin/python3", f"{here}/torch_train.py", dt, str(W), str(B), str(sec)],
                                           env=env_torch, check=True, capture_output=True, text=True).stdout)
            ratio = lm["steps_per_s"] / pt["steps_per_s"]
            frac_lm = lm["gemm_gflops"] / lm["peak_gflops"]
            frac_pt = pt["gemm_gflops"] / lm["peak_gflops"]
            small = W <= 256 and B <= 128
            if small:
                rate60 = 0.6 * lm["peak_gflops"] / (lm["gemm_gflops"] / lm["steps_per_s"])
                target = min(2 * pt["steps_per_s"], rate60)
            else:
                target = pt["steps_per_s"]
            ok = lm["steps_per_s"] >= target
            rows.append((dt, W, B, lm["steps_per_s"], pt["steps_per_s"], ratio, lm["gemm_gflops"],
                         frac_lm, frac_pt, target, ok, lm["allocs_after_first_step"]))
            print(f"{dt} W={W} B={B}: lmech {lm['steps_per_s']:.1f}/s  torch {pt['steps_per_s']:.1f}/s  "
                  f"ratio {ratio:.2f}  target {target:.1f}  {'ok' if ok else 'MISS'}", file=sys.stderr, flush=True)
print("| dtype | W | B | lmech steps/s | PyTorch steps/s | ratio | lmech GEMM GFLOP/s | lmech % peak | PyTorch % peak | target steps/s | met | allocs/step after 1st |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.2f} | {r[6]:.1f} | {100*r[7]:.0f} % | {100*r[8]:.0f} % | {r[9]:.1f} | {'yes' if r[10] else 'NO'} | {r[11]} |")
