"""Batch sizes of the two evaluation paths that every table pays for: teacher-forced scoring and generation.

Usage: .venv/bin/python benchmarks/batching.py [--quick]      (or through benchmarks/run_all.py --only batching)

`scoring.score_candidates` runs one prompt forward per batch of images and then every candidate name of every
dimension from the cached prefix; `reasoning.generate_answers` generates a batch of answers per call. Both are timed
side by side, interleaved, on the same test images with the same concept tokens injected: scoring one image at a
time (the old path) against 16 per forward (the default), and generation at 48 per call (the old default) against
120 (the default). Scores of the two scoring paths must agree to 0.05 nats (bf16 rounding of a padded batch) and
pick the same name for at least 98% of the (image, dimension) pairs. Goal: batched scoring at least 1.3x faster.
Two torch threads (the full report's setting); the VLM is the embedded default with the stage-1 projector
(`_vlm.get_vlm`).
"""
from __future__ import annotations
import statistics, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import main, row

NAME = "batching"
GOAL = 1.3

def run(quick:bool=False) -> list:
    import _vlm
    from myvlm_art.gating import MultiTokenConceptLayer, GateConfig
    from myvlm_art.scoring import score_candidates
    from myvlm_art.answers import generate_answers
    t0 = time.perf_counter()
    n = 32 if quick else 96
    with _vlm.threads(2):
        info = _vlm.get_vlm(); vlm = info.vlm
        recs = _vlm.records(n); ims = _vlm.pil_images(recs); concepts = _vlm.default_concepts()
        layer = MultiTokenConceptLayer(concepts, vlm.hidden_size, GateConfig(), seed=0)
        S = _vlm.label_signals(recs, concepts)
        score = {b: (lambda b=b: score_candidates(vlm, ims, concepts, layer, S, progress=False, batch_size=b)) for b in (1, 16)}
        gen = {b: (lambda b=b: generate_answers(vlm, ims, "natural", b, 32, progress=False, layer=layer, signals=S)) for b in (48, 120)}
        times = {("score", b): [] for b in score} | {("generate", b): [] for b in gen}
        out = {}
        for _ in range(1 if quick else 2):                       # interleaved: the machine's drift hits both sides
            for (kind, b) in times:
                fn = score[b] if kind == "score" else gen[b]
                t = time.perf_counter(); out[(kind, b)] = fn(); times[(kind, b)].append(time.perf_counter() - t)
    one, batched = out[("score", 1)], out[("score", 16)]
    gap = max(float(np.abs(one[d] - batched[d]).max()) for d in one)
    same = float(np.mean(np.concatenate([one[d].argmax(1) == batched[d].argmax(1) for d in one])))
    if gap > 0.05 or same < 0.98: raise AssertionError(f"batched scores differ from one-at-a-time: max gap {gap:.3f} nats, same choice {same:.1%}")
    med = {k: statistics.median(v) for k, v in times.items()}
    note = f"{n} test images, {len(times[('score', 1)])} interleaved repetitions, median; {info.note}"
    print(f"  scoring 1: {med[('score', 1)]:.1f} s  16: {med[('score', 16)]:.1f} s   generation 48: {med[('generate', 48)]:.1f} s  120: {med[('generate', 120)]:.1f} s", flush=True)
    return [row(NAME, f"score,n={n}", "batch1_s", med[("score", 1)], notes=note), row(NAME, f"score,n={n}", "batch16_s", med[("score", 16)], notes=note),
            row(NAME, f"score,n={n}", "speedup_batch16_over_batch1", med[("score", 1)] / med[("score", 16)], goal=GOAL, notes="time ratio, side by side"),
            row(NAME, f"score,n={n}", "max_abs_gap_nats", gap, notes="batch 16 vs one image at a time"),
            row(NAME, f"score,n={n}", "same_choice_share", same, notes="argmax agreement, (image, dimension) pairs"),
            row(NAME, f"generate,n={n}", "batch48_s", med[("generate", 48)], notes=note + "; 32 new tokens"),
            row(NAME, f"generate,n={n}", "batch120_s", med[("generate", 120)], notes=note + "; 32 new tokens"),
            row(NAME, f"generate,n={n}", "speedup_batch120_over_batch48", med[("generate", 48)] / med[("generate", 120)], notes="time ratio, side by side"),
            row(NAME, "all", "runtime_s", time.perf_counter() - t0, notes=f"quick={quick}")]

if __name__ == "__main__":
    main(run, NAME, __doc__)
