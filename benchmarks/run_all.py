"""Run every benchmark in this folder and record the results.

Usage: .venv/bin/python benchmarks/run_all.py [--quick] [--only NAME[,NAME...]] [--no-figures] [--strict]

A benchmark is any `benchmarks/<name>.py` that defines `run(quick: bool) -> list[dict]` (rows with the columns
benchmark, case, metric, value, goal, ok, notes). They run in a fixed order (ORDER, then any others by name), each
benchmark's rows replace its old rows in benchmarks/results.csv (others are kept), and the figures
figures/bench_gate.png and figures/bench_scaling.png are redrawn from the whole table (each with a provenance sidecar).
Exit status 1 if a benchmark failed (raised, e.g. the implementations disagreed); missed goals (ok == False) are
listed at the end and fail the run only with --strict.
"""
from __future__ import annotations
import argparse, importlib, io, sys, time, traceback
from pathlib import Path
import pandas as pd
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import RESULTS, ROOT, machine, row, write_results
from myvlm_art.core import atomic_write, write_provenance

ORDER = ("gemm", "gate", "injection", "encode_once", "roofline", "memory", "encoders")   # cheap and fundamental first
FIGURES = ROOT/"figures"

def discover() -> list[str]:
    "Names of the benchmark modules (files here defining `run`), in running order."
    names = []
    for p in sorted(HERE.glob("*.py")):
        if p.stem in ("common", "run_all") or p.stem.startswith("_"): continue
        if "\ndef run(" in p.read_text(): names.append(p.stem)
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))

def _save(fig, out:Path, config):
    with atomic_write(out, "wb") as f: fig.savefig(f, format="png", dpi=110, metadata={"Software": None})
    write_provenance(out, config, machine=machine(), source=str(RESULTS.relative_to(ROOT)))

def _num(df): return df.assign(value=pd.to_numeric(df.value, errors="coerce"))

def draw_gate(df:pd.DataFrame, out:Path) -> Path|None:
    "Throughput ratio (loop / vectorised) against batch, a line per dimension count, the goal as a horizontal line."
    import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
    d = _num(df[(df.benchmark == "gate") & (df.metric == "speedup_loop_over_vectorised")])
    main = d[d.case.str.match(r"^dims=\d+,N=\d+,batch=\d+$")].copy()
    if main.empty: return None
    main["dims"] = main.case.str.extract(r"dims=(\d+)")[0].astype(int)
    main["batch"] = main.case.str.extract(r"batch=(\d+)")[0].astype(int)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for nd, g in main.groupby("dims"):
        g = g.sort_values("batch"); n = g.case.str.extract(r"N=(\d+)")[0].iloc[0]
        ax.plot(g.batch, g.value, "o-", label=f"{nd} dimensions ({n} concepts)")
    dims_order = sorted(main.dims.unique())
    for extra, marker, what in (("malloc-no-trim", "x", "heap trimming off (what-if)"), ("grad", "^", "autograd on")):
        e = d[d.case.str.contains(extra)].copy()
        if e.empty: continue
        e["dims"] = e.case.str.extract(r"dims=(\d+)")[0].astype(int); e["batch"] = e.case.str.extract(r"batch=(\d+)")[0].astype(int)
        for nd, g in e.groupby("dims"):
            c = f"C{dims_order.index(nd)}" if nd in dims_order else "k"
            ax.plot(g.batch, g.value, marker=marker, ls="none", ms=8, color=c, label=f"{nd} dims, {what}")
    goal = pd.to_numeric(d.goal, errors="coerce").dropna()
    if len(goal): ax.axhline(goal.iloc[0], color="k", ls="--", lw=1, label=f"goal {goal.iloc[0]:g}x at batch 64")
    ax.set_xscale("log", base=2); ax.set_yscale("log")
    ax.set_xticks(sorted(main.batch.unique())); ax.set_xticklabels(sorted(main.batch.unique()))
    ax.set_xlabel("batch size"); ax.set_ylabel("loop time / vectorised time")
    ax.set_title("Gate: vectorised vs per-sample Python loop (same outputs)", fontsize=10)
    ax.grid(True, which="both", alpha=.3); ax.legend(fontsize=8)
    fig.tight_layout(); _save(fig, out, {"figure": "bench_gate"}); plt.close(fig)
    return out

def draw_scaling(df:pd.DataFrame, out:Path) -> Path|None:
    "Vectorised gate time (and the concept table's bytes) relative to the smallest case, against N and against B."
    import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
    d = _num(df[df.benchmark == "gate"])
    n_t = d[d.metric == "scaling_time_ratio_vs_10_concepts"].copy(); n_m = d[d.metric == "table_bytes_ratio_vs_10_concepts"].copy()
    b_t = d[d.metric == "scaling_time_ratio_vs_budget_1"].copy()
    if n_t.empty and b_t.empty: return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.6, 4))
    for t, style, lab in ((n_t, "o-", "gate time (batch 64)"), (n_m, "s--", "concept table bytes (N·T·H·4)")):
        if t.empty: continue
        t["n"] = t.case.str.extract(r"concepts=(\d+)")[0].astype(int); t = t.sort_values("n")
        a1.plot(t.n, t.value, style, label=lab)
    a1.set_xscale("log"); a1.set_yscale("log"); a1.set_xlabel("concepts N (3 dimensions)"); a1.set_ylabel("relative to N = 10")
    a1.grid(True, which="both", alpha=.3); a1.legend(fontsize=8); a1.set_title("Scaling with the number of concepts", fontsize=10)
    if not b_t.empty:
        b_t["b"] = b_t.case.str.extract(r"budget=(\d+)")[0].astype(int); b_t = b_t.sort_values("b")
        a2.plot(b_t.b, b_t.value, "o-", label="gate time (N = 100, batch 64, K = max(2, B))")
        a2.set_xscale("log", base=2); a2.set_xticks(list(b_t.b)); a2.set_xticklabels(list(b_t.b))
    a2.set_xlabel("budget B"); a2.set_ylabel("relative to B = 1"); a2.grid(True, which="both", alpha=.3); a2.legend(fontsize=8)
    a2.set_title("Scaling with the budget", fontsize=10); a2.set_ylim(bottom=0)
    fig.tight_layout(); _save(fig, out, {"figure": "bench_scaling"}); plt.close(fig)
    return out

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (development)")
    ap.add_argument("--only", default="", help="comma-separated benchmark names")
    ap.add_argument("--no-figures", action="store_true")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    a = ap.parse_args(argv)
    names = discover()
    if a.only:
        want = [n.strip() for n in a.only.split(",") if n.strip()]
        unknown = [n for n in want if n not in names]
        if unknown: ap.error(f"unknown benchmark(s) {unknown}; known: {names}")
        names = [n for n in names if n in want]
    failed, missed = [], []
    for name in names:
        print(f"== {name}", flush=True); t0 = time.perf_counter()
        try:
            rows = importlib.import_module(name).run(quick=a.quick)
        except Exception:
            traceback.print_exc(); failed.append(name); continue
        write_results(rows, RESULTS, config={"quick": a.quick, "only": a.only, "last_run": name})
        missed += [f"{r['benchmark']} {r['case']} {r['metric']} = {r['value']:.3g} (goal {r['goal']:g})" for r in rows if r.get("ok") is False]
        print(f"== {name}: {len(rows)} rows in {time.perf_counter() - t0:.1f} s", flush=True)
    if not a.no_figures and RESULTS.exists():
        df = pd.read_csv(RESULTS, dtype=str, keep_default_na=False)
        for f in (draw_gate(df, FIGURES/"bench_gate.png"), draw_scaling(df, FIGURES/"bench_scaling.png")):
            if f: print(f"wrote {f.relative_to(ROOT)}")
    print(f"results: {RESULTS.relative_to(ROOT)}")
    for m in missed: print(f"GOAL MISSED: {m}")
    for f in failed: print(f"FAILED: {f}")
    return 1 if failed or (a.strict and missed) else 0

if __name__ == "__main__": sys.exit(main())
