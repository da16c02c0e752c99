"""Encoding throughput of each encoder on this machine (images/s), without the cache.

Usage: .venv/bin/python benchmarks/encoders.py [--n 64] [--reps 3]
Writes benchmarks/encoders.csv (with provenance). `run(quick)` (used by benchmarks/run_all.py) does the same and
also returns rows for benchmarks/results.csv: images/s of each encoder and its speed relative to effnet-lite0
measured in the same run. Uses SynthArt images from data/ (run `make report` first)
or, if there are none, freshly painted ones. The median of `reps` timed passes after one warm-up pass.
"""
import argparse, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, torch
from myvlm_art.core import *
from myvlm_art.data import DatasetSpec, prepare_dataset, load_image
from myvlm_art.synthart import SynthArtConfig, generate_synthart
from myvlm_art.encoders import get_encoder, tiny_open_clip_checkpoint

def images(n):
    spec = DatasetSpec.named("synthart")
    if spec.json_path.exists():
        data = prepare_dataset(spec)
    else:
        data = generate_synthart(SynthArtConfig(n_images=max(n, 24), minimal_pairs=0), Paths(tempfile.mkdtemp()))
    return [load_image(data.spec.images_root/p) for p in data.records.image[:n]]

ENCODERS = "effnet-lite0,magenta-style,synthclip,open_clip-random"

def measure(n:int=64, reps:int=3, encoders:str=ENCODERS, write:bool=True) -> list:
    "One row per encoder (encoders.csv's columns); writes encoders.csv and its provenance (if `write`)."
    a = argparse.Namespace(n=n, reps=reps, encoders=encoders)
    ims = images(a.n); rows = []
    for name in a.encoders.split(","):
        try:
            if name == "open_clip-random":
                arch, ck = tiny_open_clip_checkpoint(Path(tempfile.mkdtemp())); enc = get_encoder(f"open_clip:{arch}:{ck}")
            else: enc = get_encoder(name)
        except MyVLMArtError as e:
            print(f"skip {name}: {e}", file=sys.stderr); continue
        enc.encode(ims[:enc.batch_size])                       # warm-up
        ts = []
        for _ in range(a.reps):
            t = time.perf_counter(); enc.encode(ims); ts.append(time.perf_counter() - t)
        med = statistics.median(ts)
        rows.append({"encoder": name, "cache_key": enc.name, "dim": enc.dim, "image_size": enc.image_size, "batch_size": enc.batch_size,
                     "n_images": len(ims), "median_seconds": round(med, 3), "images_per_s": round(len(ims) / med, 1),
                     "torch_threads": torch.get_num_threads()})
        print(rows[-1], flush=True)
    out = Path(__file__).resolve().parent/"encoders.csv"
    if write:
        write_text_atomic(out, pd.DataFrame(rows).to_csv(index=False, lineterminator="\n"))
        write_provenance(out, vars(a), machine=f"{__import__('os').cpu_count()} cpus")
    print(pd.DataFrame(rows).to_string(index=False))
    return rows

def run(quick:bool=False) -> list:
    "Rows for benchmarks/results.csv (benchmark, case, metric, value, goal, ok, notes)."
    t0 = time.perf_counter()
    got = measure(n=16 if quick else 64, reps=1 if quick else 3, write=not quick)   # --quick leaves encoders.csv alone
    ref = next((r for r in got if r["encoder"] == "effnet-lite0"), None)
    rows = []
    for r in got:
        note = f"n_images={r['n_images']}, batch {r['batch_size']}, {r['image_size']}px, torch threads {r['torch_threads']}"
        rows.append(dict(benchmark="encoders", case=r["encoder"], metric="images_per_s", value=r["images_per_s"], goal=None, ok=None, notes=note))
        if ref: rows.append(dict(benchmark="encoders", case=r["encoder"], metric="speed_over_effnet-lite0",
                                 value=r["images_per_s"]/ref["images_per_s"], goal=None, ok=None, notes="images/s ratio, same run"))
    rows.append(dict(benchmark="encoders", case="all", metric="runtime_s", value=time.perf_counter() - t0, goal=None, ok=None, notes=f"quick={quick}"))
    return rows

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--n", type=int, default=64); ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--encoders", default=ENCODERS)
    a = ap.parse_args()
    measure(a.n, a.reps, a.encoders)

if __name__ == "__main__": main()
