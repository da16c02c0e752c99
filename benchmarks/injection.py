"""Injection overhead: a VLM forward with the gate's concept tokens spliced in, against the same forward without.

Usage: .venv/bin/python benchmarks/injection.py [--quick]      (or through benchmarks/run_all.py --only injection)

The batch: 8 SynthArt test images (the first 8 by name, loaded into memory first) under the natural prompt, built
by `reasoning.integrated_inputs` (left-padded). The injected side gates with a `MultiTokenConceptLayer` over the
default concept set (artist/style/genre of the corpus, 8 + 6 + 6) at the default knobs (τ 0.75, B 3, K 2,
max_tokens 4) on signals that select each image's three labels: 12 concept tokens per image, 11 on every third
image (its genre backs off at 0.72, 3 tokens), so the rows differ and the padding is exercised. The forward is
what generation's prefill does: the language model on `inputs_embeds` plus the lm_head on the last position
(`logits_to_keep=1`), no_grad.

Workloads, timed interleaved in one process (one call per sample, medians):
  base      integrated_inputs(layer=None) + forward            (tokenise, vision tower, projector, LM)
  injected  integrated_inputs(layer, signals) + forward        (the same + gate + splice, and 11-12 more tokens)
  fwd       forward alone on the base inputs
  fwd_inj   forward alone on the injected inputs
  fwd_uniform  forward alone on injected inputs where every row gets 12 tokens (no padding): the extra tokens alone
  splice    gate + splice alone (`dataset.inject_concepts`, exactly as integrated_inputs calls it) on the base inputs
Figures: (a) injected/base - 1 (goal <= 3 %); (b) splice/fwd (goal <= 3 %); and the decomposition of (a): the
forward's share (fwd_inj/fwd - 1) against the sequence-length ratio, which is the structural floor of (a) — the
language model must process the extra tokens, whatever the gate costs. For context (not --quick, bf16): the same
comparison end to end, input building + greedy generation of 32 tokens, where the extra tokens cost the prefill but
the decoding steps barely (their keys/values are cached).
Real VLM in bf16 and fp32 (--quick: bf16 only); the tiny VLM only if data/models lacks the parts (see notes).
"""
from __future__ import annotations
import argparse, sys, time
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import main, median_time, row, write_results
import _vlm
from _vlm import THREADS, get_vlm, interleaved, spread, profile_top

NAME = "injection"
GOAL = 0.03
BATCH = 8

def setup(precision:str):
    from myvlm_art.prompts import prompt_for
    from myvlm_art.gating import GateConfig, MultiTokenConceptLayer
    info = get_vlm(precision); vlm = info.vlm
    recs = _vlm.records(BATCH); ims = _vlm.pil_images(recs)
    concepts = _vlm.default_concepts()
    layer = MultiTokenConceptLayer(concepts, vlm.hidden_size, GateConfig())
    sig = torch.from_numpy(_vlm.label_signals(recs, concepts))
    prompts = [prompt_for("natural")] * BATCH
    return info, vlm, ims, layer, sig, prompts

def measure_generate(precision:str, reps:int, max_new_tokens:int=32) -> list:
    """End to end: greedy generation of `max_new_tokens` tokens (the study's decoding, min_new_tokens = max_new_tokens so
    both sides generate the same number of tokens) from the base and the injected inputs, input building included."""
    from myvlm_art.answers import DECODING, integrated_inputs
    info, vlm, ims, layer, sig, prompts = setup(precision)
    def gen(inj:bool):
        x = integrated_inputs(vlm, prompts, ims, layer if inj else None, sig if inj else None)
        return vlm.generate(x["inputs_embeds"], x["attention_mask"], max_new_tokens, min_new_tokens=max_new_tokens, **DECODING)
    with torch.no_grad():
        assert gen(True).shape[1] == gen(False).shape[1] == max_new_tokens
        t = interleaved({"base": lambda: gen(False), "injected": lambda: gen(True)}, reps=reps, warmup=0)
    med = {k: v[0] for k, v in t.items()}
    a = med["injected"]/med["base"] - 1; a_cpu = t["injected"][2]/t["base"][2] - 1
    case = f"{precision},batch={BATCH},natural,generate{max_new_tokens}"
    print(f"  {case}: base {med['base']*1e3:.0f} ms  injected {med['injected']*1e3:.0f} ms  overhead {a:+.2%} (CPU time {a_cpu:+.2%})", flush=True)
    return [row(NAME, case, "overhead_build_plus_generate", a,
                notes=f"context, not the goal's figure (3 % is for the forward): integrated_inputs + generate({max_new_tokens} tokens, greedy, {DECODING}), injected/base - 1; "
                      f"spread base {spread(t['base'][1]):.1%}, injected {spread(t['injected'][1]):.1%}; {info.note}; threads {THREADS}"),
            row(NAME, case, "overhead_build_plus_generate_cpu_time", a_cpu, notes="the same on process CPU time"),
            row(NAME, case, "base_ms", med["base"]*1e3), row(NAME, case, "injected_ms", med["injected"]*1e3)]

def measure(precision:str, reps:int) -> list:
    from myvlm_art.answers import integrated_inputs
    from myvlm_art.prompts import inject_concepts
    info, vlm, ims, layer, sig, prompts = setup(precision)
    pad = vlm.tokenizer.pad_token_id if vlm.tokenizer.pad_token_id is not None else vlm.tokenizer.eos_token_id

    def fwd(x): return vlm.forward(x["inputs_embeds"], x["attention_mask"], logits_to_keep=1).logits
    def build(inj:bool): return integrated_inputs(vlm, prompts, ims, layer if inj else None, sig if inj else None)
    def splice(x): return inject_concepts(layer, {"inputs_embeds": x["inputs_embeds"], "input_ids": x["input_ids"]},
                                          x["attention_mask"], x["image_positions"], sig, fill={"input_ids": pad})
    sig_u = torch.from_numpy(_vlm.label_signals(_vlm.records(BATCH), layer.concepts, weaken_every=0))   # 12 tokens in every row
    with torch.no_grad():
        xb, xi = build(False), build(True)
        xu = integrated_inputs(vlm, prompts, ims, layer, sig_u)
        assert bool((xu["attention_mask"] == 1).all()) and bool((xb["attention_mask"] == 1).all())
        Lb, Li = xb["inputs_embeds"].shape[1], xi["inputs_embeds"].shape[1]
        n_tok = xi["gate"].lengths.tolist()
        # the injected forward's last-position logits differ (concept tokens change the context), but the base part must be intact
        assert torch.equal(xi["attention_mask"].sum(1) - xb["attention_mask"].sum(1), xi["gate"].lengths.to(xi["attention_mask"].device))
        t_splice = median_time(lambda: splice(xb), reps=max(reps, 5), warmup=1, min_time=0.05)    # ms-scale: many calls a sample
        t = interleaved({"base": lambda: fwd(build(False)), "injected": lambda: fwd(build(True)),
                         "fwd": lambda: fwd(xb), "fwd_inj": lambda: fwd(xi), "fwd_uniform": lambda: fwd(xu),
                         "splice": lambda: [splice(xb) for _ in range(10)]}, reps=reps)
    t = {k: (v[0]/10, [s/10 for s in v[1]], v[2]/10, [s/10 for s in v[3]]) if k == "splice" else v for k, v in t.items()}
    med = {k: v[0] for k, v in t.items()}
    cpu = {k: v[2] for k, v in t.items()}
    case = f"{precision},batch={BATCH},natural"
    note = (f"{info.note}; {vlm.attn_implementation} attention; torch threads {THREADS}; {reps} interleaved samples; tokens/row base {Lb}, injected {Li} "
            f"(concept tokens per row {n_tok}); forward = LM + lm_head on the last position (prefill)")
    a = med["injected"]/med["base"] - 1
    b = med["splice"]/med["fwd"]
    fwd_share = med["fwd_inj"]/med["fwd"] - 1
    len_ratio = Li/Lb - 1
    build_share = (med["base"] - med["fwd"])/med["base"]
    rows = [
        row(NAME, case, "overhead_build_plus_forward", a, GOAL, ok=bool(a <= GOAL),
            notes=f"(a) injected/base - 1, input building + forward; spread base {spread(t['base'][1]):.1%}, injected {spread(t['injected'][1]):.1%}; {note}"),
        row(NAME, case, "gate_splice_over_forward", b, GOAL, ok=bool(b <= GOAL),
            notes=f"(b) inject_concepts (gate + splice) / forward; splice alone by median_time: {t_splice*1e3:.2f} ms; {note}"),
        row(NAME, case, "forward_extra_tokens_overhead", fwd_share,
            notes="fwd_inj/fwd - 1: what the 11-12 extra tokens cost the language model (part of (a))"),
        row(NAME, case, "forward_uniform_12_tokens_overhead", med["fwd_uniform"]/med["fwd"] - 1,
            notes=f"fwd on inputs where every row gets 12 concept tokens (no padding: {Lb}->{Lb + 12} tokens) / fwd - 1: the extra tokens alone"),
        row(NAME, case, "forward_ragged_over_uniform", med["fwd_inj"]/med["fwd_uniform"] - 1,
            notes="fwd_inj (rows with 11 or 12 tokens: left padding, so the attention gets an explicit padding mask; SDPA would otherwise use is_causal) "
                  "/ fwd_uniform (12 tokens every row, no padding) - 1: the cost of the padding mask (with one token fewer in some rows)"),
        row(NAME, case, "sequence_length_overhead", len_ratio,
            notes=f"{Li}/{Lb} - 1: the structural floor of (a) if the forward is linear in tokens (it is, at this length)"),
        row(NAME, case, "input_building_share_of_base", build_share, notes="(base - fwd)/base: tokeniser, chat template, vision tower, projector"),
        row(NAME, case, "overhead_build_plus_forward_cpu_time", cpu["injected"]/cpu["base"] - 1,
            notes=f"(a) on process CPU time instead of wall time (waiting for a core held by another process not counted); "
                  f"spread base {spread(t['base'][3]):.1%}, injected {spread(t['injected'][3]):.1%}"),
        row(NAME, case, "gate_splice_over_forward_cpu_time", cpu["splice"]/cpu["fwd"], notes="(b) on CPU time"),
        row(NAME, case, "forward_extra_tokens_overhead_cpu_time", cpu["fwd_inj"]/cpu["fwd"] - 1, notes="fwd_inj/fwd - 1 on CPU time"),
        row(NAME, case, "forward_uniform_12_tokens_overhead_cpu_time", cpu["fwd_uniform"]/cpu["fwd"] - 1, notes="fwd_uniform/fwd - 1 on CPU time"),
        row(NAME, case, "base_ms", med["base"]*1e3), row(NAME, case, "injected_ms", med["injected"]*1e3),
        row(NAME, case, "forward_ms", med["fwd"]*1e3), row(NAME, case, "forward_injected_ms", med["fwd_inj"]*1e3),
        row(NAME, case, "gate_splice_ms", med["splice"]*1e3),
    ]
    if a > GOAL:          # what the extra time is: torch.profiler over fwd(base) and fwd(injected), the ops whose self time grew most
        with torch.no_grad():
            pb = {op: sec for op, sec, _, _ in profile_top(lambda: fwd(xb), calls=2, top=1000)}
            pi = {op: (sec, cnt) for op, sec, _, cnt in profile_top(lambda: fwd(xi), calls=2, top=1000)}
        grow = sorted(((pi[o][0] - pb.get(o, 0.0), o) for o in pi), reverse=True)[:5]
        extra = sum(pi[o][0] for o in pi) - sum(pb.values())
        for d, o in grow:
            rows.append(row(NAME, f"{case} profile: {o}".replace(",", ";"), "share_of_added_self_cpu", d/extra if extra > 0 else float("nan"),
                            notes=f"+{d*1e3:.0f} ms self CPU (fwd_inj {pi[o][0]*1e3:.0f} ms vs fwd {pb.get(o, 0.0)*1e3:.0f} ms, {pi[o][1]} call(s)) "
                                  f"of +{extra*1e3:.0f} ms in all, under torch.profiler"))
            print(f"    profile: {o:55s} +{d*1e3:6.0f} ms ({pb.get(o, 0.0)*1e3:.0f} -> {pi[o][0]*1e3:.0f} ms)", flush=True)
    print(f"  {case}: base {med['base']*1e3:.0f} ms  injected {med['injected']*1e3:.0f} ms  (a) {a:+.2%}  | fwd {med['fwd']*1e3:.0f} ms"
          f"  fwd_inj {med['fwd_inj']*1e3:.0f} ms ({fwd_share:+.2%}; tokens {Lb}->{Li}, {len_ratio:+.2%}; uniform 12 tokens, no padding:"
          f" {med['fwd_uniform']/med['fwd'] - 1:+.2%})  | splice {med['splice']*1e3:.2f} ms"
          f"  (b) {b:.3%}  | build {build_share:.1%} of base", flush=True)
    print(f"    on CPU time: (a) {cpu['injected']/cpu['base'] - 1:+.2%}  fwd_inj {cpu['fwd_inj']/cpu['fwd'] - 1:+.2%}"
          f"  fwd_uniform {cpu['fwd_uniform']/cpu['fwd'] - 1:+.2%}  (b) {cpu['splice']/cpu['fwd']:.3%}", flush=True)
    return rows

from myvlm_art.core import resolve_precision

def run(quick:bool=False) -> list:
    t0 = time.perf_counter()
    reps = 3 if quick else 5
    rows = []
    study = resolve_precision("auto")      # the study's precision; bf16 is measured only where it is native (emulated: hours)
    precs = (study,) if quick or study == "fp32" else ("bf16", "fp32")
    with _vlm.threads():
        for prec in precs:
            rows += measure(prec, reps if prec == study else max(3, reps - 2))
            if prec == study and not quick: rows += measure_generate(prec, 3)
    rows.append(row(NAME, "all", "runtime_s", time.perf_counter() - t0,
                    notes=f"quick={quick}, precisions {list(precs)} (study: {study}), reps {study} {reps}, other {max(3, reps - 2)}, torch threads {THREADS}, VLM loads included"))
    return rows

if __name__ == "__main__": main(run, NAME, __doc__)
