"""Peak memory of concept training and of evaluation, each in a fresh process; and how the training step's time and
memory scale with the number of concepts and with the budget.

Usage: .venv/bin/python benchmarks/memory.py [--quick]      (or through benchmarks/run_all.py --only memory)

* training    `trainer.train_concepts` itself for a few steps (3; --quick 2) at the default ConceptTrainConfig in the
              study's precision (bf16 VLM, bf16 autocast; step 0 is a regularised step: eager attention and
              output_attentions), real VLM, SynthArt's train split, the default concepts (8 + 6 + 6) with label
              signals; checkpoint written to a temporary folder. Peak RSS of the whole process (interpreter, torch,
              the VLM built from its fp32 files and cast to bf16, the steps) in a spawned process (`common.peak_rss_of`);
              goal <= 4 GiB. The peak of building the VLM is recorded apart from the peak of the steps.
* evaluation  `reasoning.generate_answers` on 16 SynthArt test images (one batch of 16), bf16, natural prompt,
              max_new_tokens 32, the integrated system (gate + concept tokens), likewise; goal <= 4 GiB.
* scaling     in one spawned process with the real VLM (bf16): the training step (roofline.Step: collate ->
              concept_inputs -> weighted_loss -> backward -> clip -> SGD) with 10, 100, 1000 synthetic concepts over 3
              dimensions (B = 3: 12 concept tokens per image whatever N) and with B = 1, 3, 8 at N = 100
              (K = max(2, B); 4, 12, 32 concept tokens per image). Step time relative to the 10-concept case (and to
              B = 1), timed interleaved; the peak RSS of one step of each case (heap trimmed and the peak reset before
              it, cases in increasing size), relative likewise; and the gate's own share of the step (its forward +
              backward on the same signals), to show that the gate and the concept table are not the bottleneck: what
              grows with B is the language model's sequence.
"""
from __future__ import annotations
import argparse, ctypes, gc, json, os, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import main, median_time, peak_rss_of, row, write_results, _reset_peak, _status_kb
import _vlm
from _vlm import THREADS, spread

NAME = "memory"
GOAL_BYTES = 4*2**30
GiB = 2**30

def _rss() -> int: return (_status_kb("VmRSS") or 0)*1024
def _hwm() -> int: return (_status_kb("VmHWM") or 0)*1024
def _trim():
    gc.collect()
    try: ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError: pass

def _prec() -> str:
    from myvlm_art.core import resolve_precision
    return resolve_precision("auto")

def _load(precision:str="auto"):
    "In a child: the VLM, with the peak RSS of building it."
    torch.set_num_threads(THREADS)
    before = _rss()
    info = _vlm.get_vlm(precision)
    return info, {"rss_before_load": before, "load_peak": _hwm(), "rss_after_load": _rss()}

def _train_child(out:str, steps:int):
    "Spawned: build the VLM, then train_concepts for `steps` steps; phase peaks to `out` (JSON)."
    from myvlm_art.gating import MultiTokenConceptLayer
    from myvlm_art.trainer import ConceptTrainConfig, train_concepts
    info, rec = _load()
    data = _vlm.corpus(); recs = data.split("train").to_dict("records")
    concepts = _vlm.default_concepts()
    S = _vlm.label_signals(recs, concepts)
    signals = {str(r["image"]): S[i] for i, r in enumerate(recs)}
    layer = MultiTokenConceptLayer(concepts, info.vlm.hidden_size)
    _trim(); rec["rss_before_steps"] = _rss(); rec["reset"] = _reset_peak()
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        st = train_concepts(info.vlm, layer, data, signals, ConceptTrainConfig(precision=_prec()), out_dir=d, resume=False, progress=False, max_steps=steps)
        rec["steps_seconds"] = time.perf_counter() - t
    rec.update(steps_peak=_hwm(), step_seconds=st.get("step_seconds"), note=info.note, steps=steps)
    Path(out).write_text(json.dumps(rec))

def _eval_child(out:str, n_images:int, max_new_tokens:int):
    "Spawned: build the VLM, then generate_answers (integrated) on `n_images` test images; phase peaks to `out`."
    from myvlm_art.gating import MultiTokenConceptLayer
    from myvlm_art.answers import generate_answers
    info, rec = _load()
    recs = _vlm.records(n_images, "test"); root = _vlm.corpus().spec.images_root
    concepts = _vlm.default_concepts()
    S = _vlm.label_signals(recs, concepts)
    layer = MultiTokenConceptLayer(concepts, info.vlm.hidden_size)
    _trim(); rec["rss_before_generate"] = _rss(); rec["reset"] = _reset_peak()
    t = time.perf_counter()
    ans = generate_answers(info.vlm, [root/r["image"] for r in recs], "natural", batch_size=16, max_new_tokens=max_new_tokens,
                           progress=False, layer=layer, signals=S)
    rec.update(generate_seconds=time.perf_counter() - t, generate_peak=_hwm(), n_answers=len(ans), note=info.note,
               answer_chars=int(np.mean([len(a) for a in ans])))
    Path(out).write_text(json.dumps(rec))

SCALING_N = (10, 100, 1000)
SCALING_B = (1, 3, 8)

def _scaling_child(out:str, reps:int):
    "Spawned: the training step per scaling case; per-case step times, peaks and the gate's share to `out`."
    from roofline import Step
    from myvlm_art.gating import GateConfig
    info, rec = _load()
    cases = {}
    for n in SCALING_N: cases[f"concepts={n},budget=3"] = (n, 3)
    for b in SCALING_B:
        if b != 3: cases[f"concepts=100,budget={b}"] = (100, b)
    steps, gate_fns, n_tok = {}, {}, {}
    for k, (n, b) in cases.items():
        concepts = _vlm.split_concepts(n)
        S = _vlm.random_signals(8, concepts, seed=n)
        steps[k] = Step(info.vlm, _prec(), concepts=concepts, gate=GateConfig(budget=b, top_k=max(2, b)), signals=S)
        sig, vn = torch.from_numpy(S), torch.full((8,), 1.0)
        with torch.no_grad(): n_tok[k] = float(steps[k].layer(sig).lengths.float().mean())
        def gate_fb(layer=steps[k].layer, sig=sig, vn=vn):
            out = layer(sig, vn); out.tokens.sum().backward(); layer.values.grad = None
        gate_fns[k] = gate_fb
    res = {k: {} for k in cases}
    order = sorted(cases, key=lambda k: (cases[k][0]*cases[k][1], cases[k]))     # increasing size
    for k in order:                                         # memory: one step each, heap trimmed and peak reset first
        _trim(); before = _rss(); _reset_peak()
        steps[k](record=False)
        res[k].update(rss_before=before, peak=_hwm(), table_bytes=steps[k].layer.values.numel()*4, L=steps[k].shape[1],
                      concept_tokens=n_tok[k])
    ts = {k: [] for k in cases}; cs = {k: [] for k in cases}
    for _ in range(reps):                                   # time: interleaved (the memory pass was the warm-up)
        for k in cases:
            c = time.process_time(); t = time.perf_counter(); steps[k](record=False)
            ts[k].append(time.perf_counter() - t); cs[k].append(time.process_time() - c)
    for k in cases:
        res[k]["step_s"] = float(np.median(ts[k])); res[k]["step_samples"] = ts[k]
        res[k]["step_cpu_s"] = float(np.median(cs[k]))
        res[k]["gate_fb_s"] = median_time(gate_fns[k], reps=5, warmup=1, min_time=0.05)
        res[k]["n"], res[k]["budget"] = cases[k]
    rec.update(cases=res, note=info.note)
    Path(out).write_text(json.dumps(rec))

def _spawn(fn, *args, timeout=900) -> tuple[dict, dict]:
    "Run `fn(out_json, *args)` in a fresh spawned process; (what it wrote, peak_rss_of's figures)."
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        outer = peak_rss_of(fn, out, *args, timeout=timeout)
        return json.loads(Path(out).read_text()), outer

def run(quick:bool=False) -> list:
    t0 = time.perf_counter(); rows = []
    train_steps, scale_reps = (2, 1) if quick else (3, 3)
    # ---------------------------------------------------------------- training
    tr, outer = _spawn(_train_child, train_steps)
    peak = max(tr["load_peak"], tr["steps_peak"])
    note = f"{tr['note']}; torch threads {THREADS}; fresh spawned process; peak reset after building the VLM: {tr['reset']}"
    rows += [row(NAME, "training", "peak_rss_gib", peak/GiB, GOAL_BYTES/GiB, ok=bool(peak <= GOAL_BYTES),
                 notes=f"max(building the VLM, {tr['steps']} train_concepts steps at the default config, {_prec()}; step 0 regularised (eager)); {note}"),
             row(NAME, "training", "peak_rss_over_goal", peak/GOAL_BYTES, notes="peak / 4 GiB"),
             row(NAME, "training", "load_peak_rss_gib", tr["load_peak"]/GiB, notes=f"building the VLM (RSS before {tr['rss_before_load']/GiB:.2f} GiB: interpreter + torch)"),
             row(NAME, "training", "steps_peak_rss_gib", tr["steps_peak"]/GiB, notes=f"the steps (RSS before them {tr['rss_before_steps']/GiB:.2f} GiB; step seconds {tr['step_seconds']})"),
             row(NAME, "training", "steps_added_rss_gib", (tr["steps_peak"] - tr["rss_before_steps"])/GiB, notes="peak during the steps - RSS before them")]
    print(f"  training: peak {peak/GiB:.2f} GiB (load {tr['load_peak']/GiB:.2f}, steps {tr['steps_peak']/GiB:.2f}, "
          f"+{(tr['steps_peak'] - tr['rss_before_steps'])/GiB:.2f} over {tr['rss_before_steps']/GiB:.2f}); step s {tr['step_seconds']}", flush=True)
    # ---------------------------------------------------------------- evaluation
    ev, outer = _spawn(_eval_child, 16, 32)
    peak = max(ev["load_peak"], ev["generate_peak"])
    rows += [row(NAME, "evaluation", "peak_rss_gib", peak/GiB, GOAL_BYTES/GiB, ok=bool(peak <= GOAL_BYTES),
                 notes=f"max(building the VLM, generate_answers: 16 images in one batch, natural, max_new_tokens 32, integrated, {_prec()}); "
                       f"{ev['generate_seconds']:.1f} s to generate; {ev['note']}; torch threads {THREADS}; fresh spawned process"),
             row(NAME, "evaluation", "peak_rss_over_goal", peak/GOAL_BYTES, notes="peak / 4 GiB"),
             row(NAME, "evaluation", "load_peak_rss_gib", ev["load_peak"]/GiB),
             row(NAME, "evaluation", "generate_peak_rss_gib", ev["generate_peak"]/GiB, notes=f"RSS before generating {ev['rss_before_generate']/GiB:.2f} GiB"),
             row(NAME, "evaluation", "generate_added_rss_gib", (ev["generate_peak"] - ev["rss_before_generate"])/GiB)]
    print(f"  evaluation: peak {peak/GiB:.2f} GiB (load {ev['load_peak']/GiB:.2f}, generate {ev['generate_peak']/GiB:.2f}, "
          f"+{(ev['generate_peak'] - ev['rss_before_generate'])/GiB:.2f}); {ev['generate_seconds']:.1f} s", flush=True)
    # ---------------------------------------------------------------- scaling
    sc, outer = _spawn(_scaling_child, scale_reps)
    cs = sc["cases"]; ref_n, ref_b = "concepts=10,budget=3", "concepts=100,budget=1"
    for k, c in cs.items():
        vs = []
        if c["budget"] == 3: vs.append(("10_concepts", ref_n))
        if c["n"] == 100: vs.append(("budget_1", ref_b))
        for lab, ref in vs:
            r = cs[ref]
            rows += [row(NAME, k, f"step_time_ratio_vs_{lab}", c["step_s"]/r["step_s"],
                         notes=f"median of {len(c['step_samples'])} interleaved steps (spread {spread(c['step_samples']):.0%}, ref {spread(r['step_samples']):.0%}); {c['concept_tokens']:.1f} concept tokens/image, L={c['L']} "
                               f"(ref L={r['L']}); {sc['note']}; threads {THREADS}"),
                     row(NAME, k, f"step_cpu_time_ratio_vs_{lab}", c["step_cpu_s"]/r["step_cpu_s"], notes="the same on process CPU time (not counting waits for a core)"),
                     row(NAME, k, f"step_peak_rss_ratio_vs_{lab}", c["peak"]/r["peak"], notes="peak RSS of one step (heap trimmed, peak reset before it)"),
                     row(NAME, k, f"step_added_rss_ratio_vs_{lab}", (c["peak"] - c["rss_before"])/max(1, r["peak"] - r["rss_before"]),
                         notes=f"(peak - RSS before) of one step: {(c['peak'] - c['rss_before'])/2**20:.0f} MiB vs {(r['peak'] - r['rss_before'])/2**20:.0f} MiB")]
        rows += [row(NAME, k, "step_s", c["step_s"]), row(NAME, k, "step_peak_rss_gib", c["peak"]/GiB),
                 row(NAME, k, "concept_table_mib", c["table_bytes"]/2**20, notes="N x max_tokens x H x 4 bytes"),
                 row(NAME, k, "gate_share_of_step", c["gate_fb_s"]/c["step_s"], notes=f"gate forward + backward {c['gate_fb_s']*1e3:.2f} ms / step")]
        ref = cs[ref_n if c['budget'] == 3 else ref_b]
        print(f"  {k:24s} step {c['step_s']*1e3:7.0f} ms  x{c['step_s']/ref['step_s']:.3f} (CPU time x{c['step_cpu_s']/ref['step_cpu_s']:.3f})  "
              f"peak {c['peak']/GiB:.2f} GiB (+{(c['peak'] - c['rss_before'])/2**20:.0f} MiB)  tokens {c['concept_tokens']:.1f}  L {c['L']}  "
              f"table {c['table_bytes']/2**20:.2f} MiB  gate {c['gate_fb_s']*1e3:.2f} ms = {c['gate_fb_s']/c['step_s']:.2%}", flush=True)
    rows.append(row(NAME, "all", "runtime_s", time.perf_counter() - t0,
                    notes=f"quick={quick}, training steps {train_steps}, scaling reps {scale_reps} (+ the memory pass), torch threads {THREADS}; 3 VLM loads"))
    return rows

if __name__ == "__main__": main(run, NAME, __doc__)
