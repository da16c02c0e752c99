"""Encoding throughput of each encoder on this machine (images/s), without the cache.

Usage: .venv/bin/python benchmarks/encoders.py [--n 64] [--reps 3]
Writes benchmarks/encoders.csv (with provenance). Uses SynthArt images from data/ (run `make report` first)
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

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--n", type=int, default=64); ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--encoders", default="effnet-lite0,magenta-style,synthclip,open_clip-random")
    a = ap.parse_args()
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
    write_text_atomic(out, pd.DataFrame(rows).to_csv(index=False, lineterminator="\n"))
    write_provenance(out, vars(a), machine=f"{__import__('os').cpu_count()} cpus")
    print(pd.DataFrame(rows).to_string(index=False))

if __name__ == "__main__": main()
