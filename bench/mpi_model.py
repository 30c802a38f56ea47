#!/usr/bin/env python3
"""mpi_model.py: the time per step of data-parallel `lmech train --mpi` extrapolated on paper to
64 ranks (docs/mpi.md): T(R) = T1 / R + 2 (R-1) alpha + 2 (R-1)/R * S / beta, the compute of one
rank split evenly, plus a ring all-reduce of S bytes (latency alpha per message, bandwidth beta).
Usage: bench/mpi_model.py T1_MS N_PARAMS   (prints a Markdown table)"""
import sys

t1_ms, n_params = float(sys.argv[1]), int(sys.argv[2])
S = (n_params + 3) * 8  # bytes summed per step: the gradient in float64 + loss, weight, stop
links = [("one host, shared memory", 1e-6, 5e9),
         ("10 GbE, TCP", 30e-6, 1.25e9),
         ("100 Gb/s InfiniBand", 2e-6, 12e9)]
print(f"S = {S:,} bytes per step; T1 = {t1_ms} ms (measured, R = 1)\n")
print("| R | sent per rank per step | " + " | ".join(f"{n}: ms/step (steps/s)" for n, _, _ in links) + " |")
print("|---|---|" + "---|" * len(links))
for R in (1, 2, 4, 8, 16, 32, 64):
    sent = 2 * (R - 1) / R * S
    cells = []
    for _, alpha, beta in links:
        t = t1_ms / R + 1e3 * (2 * (R - 1) * alpha + sent / beta)
        cells.append(f"{t:.2f} ({1e3 / t:.0f})")
    print(f"| {R} | {sent / 1e6:.2f} MB | " + " | ".join(cells) + " |")
