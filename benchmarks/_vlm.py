"""Shared set-up of the VLM benchmarks (injection, encode_once, roofline, memory): the VLM, the corpus, concept sets
and signals, and a few timing helpers. Not a benchmark itself (the leading underscore keeps run_all from running it).

The VLM is the embedded default, `build_vlm(VLMConfig(precision=...))` (SmolLM2-135M-Instruct + the synthclip tower)
with the stage-1 projector from data/models/align when present. When data/models lacks the parts (or the
environment sets MYVLM_BENCH_TINY=1, for development) it falls back to `tiny_vlm`; `VLMInfo.note` then says so and
every row's notes carry it. The corpus is SynthArt from data/ (or, without it, a small freshly painted one).

Threads: THREADS torch threads (default 1; MYVLM_BENCH_THREADS overrides). This 2-core machine is shared: with two
threads a nice'd process whose second thread lands on a busy core waits on it (measured: a forward 2.2x slower
with 2 threads than with 1 under one competing process), which would make every time measure the neighbour.
"""
from __future__ import annotations
import contextlib, os, statistics, tempfile, time
from dataclasses import dataclass
from pathlib import Path
import numpy as np, torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
THREADS = int(os.environ.get("MYVLM_BENCH_THREADS", "1"))
FORCE_TINY = os.environ.get("MYVLM_BENCH_TINY", "") not in ("", "0")
DIMS = ("artist", "style", "genre")

@contextlib.contextmanager
def threads(n:int=THREADS):
    "Run the block with `n` torch intra-op threads (restored afterwards)."
    old = torch.get_num_threads(); torch.set_num_threads(n)
    try: yield
    finally: torch.set_num_threads(old)

# ---------------------------------------------------------------------------------------------------- the VLM
@dataclass
class VLMInfo:
    vlm: object
    real: bool          # the embedded default (True) or the tiny fallback
    projector: bool     # the stage-1 projector was loaded
    note: str           # for the notes column

_VLMS: dict = {}

def paths():
    from myvlm_art.core import Paths
    return Paths.default()

def real_parts_present() -> bool:
    m = paths().data/"models"
    return (m/"synthclip"/"vision"/"config.json").is_file() and (m/"smollm2-135m-instruct"/"config.json").is_file()

def get_vlm(precision:str="auto", attn:str="auto") -> VLMInfo:
    "The embedded default VLM in `precision` (`auto`: the study's, bf16 only where native; memoised per precision), or the tiny fallback."
    from myvlm_art.core import resolve_precision
    precision = resolve_precision(precision); key = (precision, attn)
    if key in _VLMS: return _VLMS[key]
    from myvlm_art.vlm import VLMConfig, build_vlm, tiny_vlm
    P = paths()
    if FORCE_TINY or not real_parts_present():
        why = "MYVLM_BENCH_TINY set" if FORCE_TINY else "data/models lacks the embedded VLM"
        v = tiny_vlm(0, precision=precision, attn_implementation=attn)
        info = VLMInfo(v, False, False, f"TINY VLM fallback ({why}): not the embedded default")
    else:
        v = build_vlm(VLMConfig(precision=precision), P, attn)
        pf = P.data/"models"/"align"/"projector.safetensors"
        loaded = False
        if pf.is_file():
            try: v.load_projector(pf); loaded = True
            except Exception as e: print(f"  (projector not loaded: {e})")
        info = VLMInfo(v, True, loaded, f"real VLM smollm2-135m+synthclip {precision}" + ("" if loaded else " (random projector)"))
    _VLMS[key] = info
    return info

def drop_vlms():
    "Forget the memoised VLMs (free their memory)."
    _VLMS.clear()
    import gc; gc.collect()

# ---------------------------------------------------------------------------------------------------- the corpus
_DATA = {}

def corpus():
    "The SynthArt corpus (ArtData): data/ when present, else a small one painted into a temporary folder."
    if "d" in _DATA: return _DATA["d"]
    from myvlm_art.data import DatasetSpec, prepare_dataset
    spec = DatasetSpec.named("synthart", paths())
    if spec.json_path.exists() and not FORCE_TINY:
        d = prepare_dataset(spec, seed=0)
    else:
        from myvlm_art.core import Paths
        from myvlm_art.synthart import SynthArtConfig, generate_synthart
        d = generate_synthart(SynthArtConfig(n_images=96, minimal_pairs=0), Paths(tempfile.mkdtemp(prefix="bench-synthart-")))
    _DATA["d"] = d
    return d

def records(n:int, split:str="test") -> list:
    "The first `n` records of `split` (sorted by image), as dicts."
    return corpus().split(split).sort_values("image").head(n).to_dict("records")

def pil_images(recs:list) -> list:
    "The records' images, loaded into memory (so that the timed work reads no files)."
    from myvlm_art.data import load_image
    root = corpus().spec.images_root
    return [load_image(root/r["image"]) for r in recs]

def default_concepts() -> dict:
    "The corpus's artist/style/genre vocabulary (8 + 6 + 6 on SynthArt)."
    v = corpus().vocab
    return {d: list(v[d]) for d in DIMS}

def split_concepts(n:int, dims=DIMS) -> dict:
    "`n` synthetic concept names split as evenly as possible over `dims`."
    q, r = divmod(n, len(dims))
    return {d: [f"{d}{i}" for i in range(q + (j < r))] for j, d in enumerate(dims)}

def label_signals(recs:list, concepts:dict, high=(0.95, 0.90, 0.80), low:float=0.05, seed:int=0, weaken_every:int=3) -> np.ndarray:
    """[n, N] signals that make the default gate select each record's three labels: the label of each dimension at
    `high[d]` (> 0.75, hence 4 tokens each: 12 tokens with B = 3), the rest at most 0.45. Every `weaken_every`-th row
    has its genre at 0.72 instead (below τ, picked by the backoff with ceil(0.72·4) = 3 tokens), so rows differ in
    length and the left padding is exercised (up to 12 tokens, as the brief asks)."""
    rng = np.random.default_rng(seed)
    N = sum(len(v) for v in concepts.values()); S = rng.uniform(low, 0.45, size=(len(recs), N)).astype(np.float32)
    start = 0
    for j, (d, names) in enumerate(concepts.items()):
        for i, r in enumerate(recs):
            lab = str(r[d]) if d in r else None
            c = names.index(lab) if lab in names else int(rng.integers(len(names)))
            S[i, start + c] = 0.72 if (d == "genre" and weaken_every and i % weaken_every == 1) else high[min(j, len(high) - 1)]
        start += len(names)
    return S

def random_signals(n_rows:int, concepts:dict, seed:int=0) -> np.ndarray:
    """[n, N] random signals: background uniform in [0, 0.7), a quarter of the concepts boosted into [0.76, 1], and
    at least one concept per dimension boosted (so that every selected concept gets 4 tokens and every dimension
    has a candidate: B = 3 selects 12 tokens whatever N is)."""
    rng = np.random.default_rng(seed)
    N = sum(len(v) for v in concepts.values())
    S = rng.uniform(0, 0.7, size=(n_rows, N))
    boost = rng.uniform(size=(n_rows, N)) < 0.25
    start = 0
    for names in concepts.values():
        pick = rng.integers(len(names), size=n_rows)
        boost[np.arange(n_rows), start + pick] = True
        start += len(names)
    S = np.where(boost, rng.uniform(0.76, 1.0, size=(n_rows, N)), S)
    return S.astype(np.float32)

# ---------------------------------------------------------------------------------------------------- timing
def interleaved(fns:dict, # {name: workload}
                reps:int, # timed samples of each
                warmup:int=1, # untimed calls of each first
               ) -> dict:
    """Median seconds per call of each workload, one call per sample, samples interleaved (a, b, c, a, b, c ...):
    for workloads of a second or more, where common.compare_times' calibration calls would only add time.
    Returns {name: (median wall seconds, [wall samples], median CPU seconds, [CPU samples])}: the CPU time
    (`time.process_time`, this process's threads) does not count the time spent waiting for a core that another
    process holds, so on this shared machine it is the steadier measure of the work (with THREADS = 1 it is close
    to the wall time of an idle machine)."""
    for _ in range(warmup):
        for f in fns.values(): f()
    ts = {k: [] for k in fns}; cs = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            c = time.process_time(); t = time.perf_counter(); f()
            ts[k].append(time.perf_counter() - t); cs[k].append(time.process_time() - c)
    return {k: (statistics.median(ts[k]), ts[k], statistics.median(cs[k]), cs[k]) for k in fns}

def spread(samples:list) -> float:
    "(max - min) / median of the samples: how noisy a median is."
    m = statistics.median(samples)
    return (max(samples) - min(samples))/m if m else float("nan")

def profile_top(fn, calls:int=1, top:int=8) -> list:
    "torch.profiler over `calls` calls of `fn`: [(op, self CPU seconds per call, share of the total self CPU)] of the top ops."
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as p:
        for _ in range(calls): fn()
    ev = sorted(p.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in ev) or 1
    return [(e.key, e.self_cpu_time_total/1e6/calls, e.self_cpu_time_total/total, e.count//calls) for e in ev[:top]]
