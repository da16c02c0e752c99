"""Shared helpers for the benchmarks in this folder: timing, peak memory, GEMM throughput and the results table.

Every figure a benchmark reports is a ratio of two things measured side by side in the same process (medians of
several repetitions, interleaved where two workloads are compared), so that a noisy or busy machine moves both
sides together. Absolute times are recorded as well, for context.

`results.csv` has one row per measured figure: benchmark, case, metric, value, goal, ok, notes.
"""
from __future__ import annotations
import io, math, multiprocessing as mp, os, resource, statistics, sys, time
from pathlib import Path
import pandas as pd, torch
from myvlm_art.core import write_text_atomic, write_provenance, resolve_precision, bf16_blocker

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE/"results.csv"
COLUMNS = ["benchmark", "case", "metric", "value", "goal", "ok", "notes"]

# ---------------------------------------------------------------------------------------------------- timing
def _number_for(fn, min_time:float) -> int:
    "How many calls make one timed sample last at least `min_time` seconds (1, 2, 5, 10, 20, ...)."
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n): fn()
        dt = time.perf_counter() - t
        if dt >= min_time or n >= 1_000_000: return n
        n = n*2 if str(n)[0] in "15" else n*5//2    # 1, 2, 5, 10, 20, 50 ... (the 2 → 5 step: 2*5//2 = 5)

def median_time(fn, # the workload, called with no arguments
                reps:int=5, # timed samples; the median is returned
                warmup:int=1, # untimed calls first
                number:int|None=None, # calls per sample (None: enough for `min_time` seconds)
                min_time:float=0.02, # seconds per sample when `number` is None
               ) -> float:
    "Median seconds per call of `fn` over `reps` samples of `number` calls each (time.perf_counter)."
    for _ in range(warmup): fn()
    number = number or _number_for(fn, min_time)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(number): fn()
        ts.append((time.perf_counter() - t)/number)
    return statistics.median(ts)

def compare_times(fns:dict, # {name: workload}
                  reps:int=5, warmup:int=1, min_time:float=0.02,
                 ) -> dict:
    "Median seconds per call of each workload, the samples interleaved (a, b, a, b, ...) so that drift hits all alike."
    for f in fns.values():
        for _ in range(warmup): f()
    number = {k: _number_for(f, min_time) for k, f in fns.items()}
    ts = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            n = number[k]; t = time.perf_counter()
            for _ in range(n): f()
            ts[k].append((time.perf_counter() - t)/n)
    return {k: statistics.median(v) for k, v in ts.items()}

# ---------------------------------------------------------------------------------------------------- memory
def _status_kb(field:str) -> int|None:
    "A `kB` field of /proc/self/status (VmRSS, VmHWM), None where there is none."
    try:
        for l in open("/proc/self/status"):
            if l.startswith(field + ":"): return int(l.split()[1])
    except OSError: pass
    return None

def _reset_peak() -> bool:
    "Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."
    try:
        with open("/proc/self/clear_refs", "w") as f: f.write("5")
        return True
    except OSError: return False

def _child(fn, args, q):
    import psutil
    reset = _reset_peak()
    before = psutil.Process().memory_info().rss
    fn(*args)
    after = psutil.Process().memory_info().rss
    hwm = _status_kb("VmHWM")
    peak = hwm*1024 if reset and hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss*1024   # Linux: kB
    q.put({"before": before, "peak": peak, "added": max(0, peak - before), "after": after, "retained": after - before, "reset": reset})

def peak_rss_of(fn, # a module-level (picklable) function
                *args, # its (picklable) arguments
                timeout:float=300,
               ) -> dict:
    """Peak resident set size of `fn(*args)` run in a fresh spawned process (no inherited heap or thread pools).
    The child imports `fn`'s module first, then resets its peak-RSS counter, so imports do not count. Returns bytes:
    {"before": RSS just before the call, "peak": peak RSS during it, "added": peak - before, "after": RSS after it,
    "retained": after - before, "reset": whether the peak could be reset (if not, "peak" is the lifetime peak,
    imports included)}. `fn`'s return value is discarded after "after" is read, so return what should stay alive."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue(); p = ctx.Process(target=_child, args=(fn, args, q))
    p.start()
    try: res = q.get(timeout=timeout)
    finally: p.join(timeout=30)
    if p.exitcode not in (0, None): raise RuntimeError(f"peak_rss_of({fn.__name__}) child exited with {p.exitcode}")
    return res

def peak_rss_of_code(code:str, timeout:float=300) -> int:
    "Peak RSS in bytes of `python -c code` in this interpreter's environment (the child reports its own ru_maxrss)."
    import subprocess
    tail = "\nimport resource as _r; print('PEAK_RSS_KB', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss)"
    r = subprocess.run([sys.executable, "-c", code + tail], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if r.returncode: raise RuntimeError(f"child failed ({r.returncode}): {r.stderr[-2000:]}")
    return int(r.stdout.rsplit("PEAK_RSS_KB", 1)[1].split()[0])*1024

# ---------------------------------------------------------------------------------------------------- GEMM
def gemm_gflops(dtype:torch.dtype=torch.float32, # torch.float32 or torch.bfloat16
                n:int=576, # N: output features (x @ W with W [k, n])
                k:int|None=None, # K: input features (default n)
                m:int|None=None, # M: rows, e.g. tokens in a batch (default n)
                reps:int=5, warmup:int=2, device:str="cpu", min_time:float=0.05,
               ) -> float:
    "Measured matmul throughput in GFLOP/s (2·M·K·N flops per call) of `x[M, K] @ W[K, N]`, median of `reps` samples."
    k, m = k or n, m or n
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(m, k, generator=g, device=device).to(dtype)
    w = torch.randn(k, n, generator=g, device=device).to(dtype)
    out = torch.empty(m, n, device=device, dtype=dtype)
    if device.startswith("cuda"):
        def f(): torch.mm(x, w, out=out); torch.cuda.synchronize()
    else:
        def f(): torch.mm(x, w, out=out)
    with torch.inference_mode():
        t = median_time(f, reps=reps, warmup=warmup, min_time=min_time)
    return 2*m*k*n/t/1e9

# ---------------------------------------------------------------------------------------------------- results
def row(benchmark, case, metric, value, goal=None, ok=None, notes="") -> dict:
    "One results row; `ok` is derived from `goal` (value >= goal) when not given."
    if ok is None and goal is not None and value is not None: ok = bool(value >= goal)
    return {"benchmark": benchmark, "case": case, "metric": metric, "value": value,
            "goal": goal, "ok": ok, "notes": notes}

def _fmt(v):
    if isinstance(v, float): return float(f"{v:.4g}")
    return v

def write_results(rows:list, # dicts with the COLUMNS
                  path:Path|str=RESULTS, # the table to merge into
                  config=None, # recorded in the provenance sidecar
                 ) -> Path:
    "Merge `rows` into `path`: rows of the benchmarks present in `rows` replace that benchmark's old rows, others are kept."
    path = Path(path)
    new = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("value", "goal"): new[c] = new[c].map(_fmt)
    if path.exists() and path.stat().st_size:
        old = pd.read_csv(path, dtype=str, keep_default_na=False)
        old = old[~old.benchmark.isin(set(new.benchmark))]
        new = pd.concat([old, new.astype(object).where(new.notna(), "").astype(str)], ignore_index=True)
    else:
        new = new.astype(object).where(new.notna(), "").astype(str)
    new = new[COLUMNS]
    buf = io.StringIO(); new.to_csv(buf, index=False, lineterminator="\n")
    write_text_atomic(path, buf.getvalue())
    write_provenance(path, config, machine=machine(), benchmarks=sorted(new.benchmark.unique()), precision=resolve_precision("auto"),
                     precision_why=bf16_blocker() or "native bf16")
    return path

def machine() -> str:
    "A one-line description of where the numbers were taken."
    import platform
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor()) \
        if os.path.exists("/proc/cpuinfo") else platform.processor()
    try: load = "load %.2f" % os.getloadavg()[0]
    except OSError: load = ""
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{os.cpu_count()} cpus ({cpu}), torch {torch.__version__} {torch.get_num_threads()} threads{gpu}, {load}"


def main(run, # a benchmark's `run(quick) -> rows`
         name:str, # the benchmark's name
         doc:str, # its module docstring (first line: the description)
        ):
    "The command line of one benchmark script: `--quick`; its rows are merged into results.csv."
    import argparse
    ap = argparse.ArgumentParser(description=doc.splitlines()[0]); ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    print(write_results(run(a.quick), config={"benchmark": name, **vars(a)}))
