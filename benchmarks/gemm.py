"""This machine's matmul throughput (GFLOP/s) in fp32 and bf16 with torch: the roofline denominators of the
concept-training benchmark (the LM's hidden size is 576, its MLP 1536; 2048 tokens).

Usage: .venv/bin/python benchmarks/gemm.py [--quick]      (or through benchmarks/run_all.py --only gemm)

Shapes are written N x K x M: y[M, N] = x[M, K] @ W[K, N], 2·M·K·N flops a call (N: output features, K: input
features, M: tokens). fp32 and bf16 are timed interleaved, and bf16/fp32 is reported as a ratio. Rows for CUDA
are added when a GPU is visible. Absolute GFLOP/s depend on what else the machine is running (see the provenance's load).
"""
from __future__ import annotations
import argparse, statistics, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import gemm_gflops, row, write_results

NAME = "gemm"
SHAPES = ((576, 576, 2048), (1536, 576, 2048), (576, 1536, 2048))     # (N, K, M)

def measure(device:str, reps:int, rounds:int, min_time:float) -> list:
    rows = []
    for n, k, m in SHAPES:
        g = {torch.float32: [], torch.bfloat16: []}
        for _ in range(rounds):                                    # interleave the dtypes, median over rounds
            for dt in g: g[dt].append(gemm_gflops(dt, n=n, k=k, m=m, reps=reps, warmup=1, device=device, min_time=min_time))
        f32, b16 = statistics.median(g[torch.float32]), statistics.median(g[torch.bfloat16])
        case = f"{device} {n}x{k}x{m}"
        note = f"N x K x M, x[M,K] @ W[K,N]; torch threads {torch.get_num_threads()}"
        rows += [row(NAME, case, "fp32_gflops", f32, notes=note), row(NAME, case, "bf16_gflops", b16, notes=note),
                 row(NAME, case, "bf16_over_fp32", b16/f32, notes="throughput ratio, measured side by side")]
        print(f"  {case:24s} fp32 {f32:8.1f} GFLOP/s   bf16 {b16:8.1f} GFLOP/s   bf16/fp32 {b16/f32:5.2f}", flush=True)
    return rows

def run(quick:bool=False) -> list:
    t0 = time.perf_counter()
    reps, rounds, min_time = (3, 1, 0.02) if quick else (5, 3, 0.1)
    rows = measure("cpu", reps, rounds, min_time)
    if torch.cuda.is_available(): rows += measure("cuda", reps, rounds, min_time)
    rows.append(row(NAME, "all", "runtime_s", time.perf_counter() - t0, notes=f"quick={quick}, reps={reps}, rounds={rounds}"))
    return rows

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0]); ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    print(write_results(run(a.quick), config={"benchmark": NAME, **vars(a)}))
