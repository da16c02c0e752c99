"""The concept-training step against its matmul roofline: how close one optimizer step comes to the time its matmul
FLOPs would take at this machine's GEMM throughput, measured in the same run.

Usage: .venv/bin/python benchmarks/roofline.py [--quick]      (or through benchmarks/run_all.py --only roofline)

The step is the body of `trainer.train_concepts` at the default `ConceptTrainConfig` (batch 8, SGD lr 1.0, grad-norm
clip 0.05, tail loss) in the study's precision (bf16: the VLM in bf16 and accelerate's bf16 autocast, which on CPU is
`torch.autocast("cpu", torch.bfloat16)`), Stage A, on a regulariser-free step (attn_every = 4 puts the attention
regulariser on one step in four; it is timed separately as a case), with the trainer's attention kernel
(`ConceptTrainConfig.attention = "auto"`: eager on the CPU): collate -> concept_inputs (vision tower, projector,
gate, splice) -> weighted_loss -> backward -> clip -> SGD step -> zero_grad. Signals select each image's three
labels (11-12 concept tokens). The fp32 step (fp32 VLM, no autocast) is a second case (not --quick). The same step
with SDPA attention (the trainer's kernel before it chose eager on the CPU) is timed beside it as the "before".

Matmul FLOPs, counted from the model config (multiply-add = 2 FLOPs). Notation: B rows, L padded tokens per row
after the splice (every padded position is computed), T_lab labelled positions (the tail), H hidden, I MLP width,
n_h / n_kv heads, d head size, V vocabulary, n_L layers; vision: D_v hidden, I_v MLP, n_v layers, T_v = patches + 1.

    linear_fwd   = n_L · B·L · 2·(H·n_h·d + 2·H·n_kv·d + n_h·d·H + 3·H·I)      q, k, v, o; MLP gate, up, down
    attn_fwd     = n_L · B · 4·n_h·d·L²                                         scores Q·Kᵀ and P·V, the full L×L
                                                                                (the padding mask is explicit)
    head_fwd     = 2·H·V·T_lab                                                  lm_head on the tail only
    vision_fwd   = B·(2·3·p²·D_v·(T_v-1) + n_v·T_v·(8·D_v² + 4·D_v·I_v) + n_v·4·D_v·T_v²)
                   + B·(T_v-1)·2·(D_v·H + H·H)                                  tower + projector (no grad)
    backward     = linear_fwd + 2·attn_fwd + head_fwd                           weights frozen: input gradients
                                                                                only (dX = dY·Wᵀ, one matmul per
                                                                                linear); attention: dP, dV, dQ, dK
    step         = linear_fwd + attn_fwd + head_fwd + vision_fwd + backward
The bound is Σ_group FLOPs_group / throughput_group with each group's throughput measured here by
`common.gemm_gflops` at its own shape (M = B·L tokens; for backward the transposed shape, y = dY[M, N]·W[N, K];
the lm_head at M = T_lab) and, for attention, a batched matmul of the attention shape [B·n_h, L, d]·[d, L], in
the step's dtype. Achieved fraction = bound / measured step time (goal >= 50 %). Everything that is not a matmul
(norms, RoPE, softmax, SiLU, the loss, the optimizer, Python) counts as overhead against the bound.
"""
from __future__ import annotations
import argparse, statistics, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import gemm_gflops, main, median_time, row, write_results
import _vlm
from _vlm import THREADS, get_vlm, interleaved, spread, profile_top

NAME = "roofline"
GOAL = 0.5

def model_dims(vlm) -> dict:
    tc, vc = vlm.model.config.text_config, vlm.model.config.vision_config
    H, nh = tc.hidden_size, tc.num_attention_heads
    d = getattr(tc, "head_dim", None) or H // nh
    return {"H": H, "I": tc.intermediate_size, "nh": nh, "nkv": tc.num_key_value_heads, "d": d, "nL": tc.num_hidden_layers,
            "V": vlm.model.get_output_embeddings().weight.shape[0], "Dv": vc.hidden_size, "Iv": vc.intermediate_size,
            "nv": vc.num_hidden_layers, "p": vc.patch_size, "Tv": (vc.image_size // vc.patch_size)**2 + 1}

def step_flops(m:dict, B:int, L:int, T_lab:int) -> dict:
    "Matmul FLOPs of one training step, by group (see the module docstring), each with the GEMM shape that bounds it."
    H, I, nh, nkv, d, nL, V = (m[k] for k in ("H", "I", "nh", "nkv", "d", "nL", "V"))
    M = B*L
    g = {}   # name: (flops, (N, K, M) shape of the throughput measurement, or "attn")
    g["fwd q,o"] = (nL*M*2*(H*nh*d + nh*d*H), (H, H, M))
    g["fwd k,v"] = (nL*M*2*(2*H*nkv*d), (nkv*d, H, M))
    g["fwd gate,up"] = (nL*M*2*(2*H*I), (I, H, M))
    g["fwd down"] = (nL*M*2*(I*H), (H, I, M))
    g["fwd attention"] = (nL*B*4*nh*d*L*L, "attn")
    g["fwd lm_head"] = (2*H*V*T_lab, (V, H, T_lab))
    Dv, Iv, nv, p, Tv = (m[k] for k in ("Dv", "Iv", "nv", "p", "Tv"))
    vision = B*(2*3*p*p*Dv*(Tv - 1) + nv*Tv*(8*Dv*Dv + 4*Dv*Iv) + nv*4*Dv*Tv*Tv) + B*(Tv - 1)*2*(Dv*H + H*H)
    g["fwd vision+projector"] = (vision, (H, H, B*(Tv - 1)))
    g["bwd q,o"] = (g["fwd q,o"][0], (H, H, M))
    g["bwd k,v"] = (g["fwd k,v"][0], (H, nkv*d, M))
    g["bwd gate,up"] = (g["fwd gate,up"][0], (H, I, M))
    g["bwd down"] = (g["fwd down"][0], (I, H, M))
    g["bwd attention"] = (2*g["fwd attention"][0], "attn")
    g["bwd lm_head"] = (g["fwd lm_head"][0], (H, V, T_lab))
    return g

def bmm_gflops(dtype, B:int, nh:int, L:int, d:int, reps:int, min_time:float) -> float:
    "Throughput of the attention's batched matmuls ([B·n_h, L, d] @ [B·n_h, d, L], then [.., L, L] @ [.., L, d])."
    g = torch.Generator().manual_seed(0)
    q = torch.randn(B*nh, L, d, generator=g).to(dtype); k = torch.randn(B*nh, d, L, generator=g).to(dtype)
    def f(): s = torch.bmm(q, k); torch.bmm(s, q)
    with torch.inference_mode(): t = median_time(f, reps=reps, warmup=1, min_time=min_time)
    return 4*B*nh*L*L*d/t/1e9

def bound(groups:dict, dtype, m:dict, B:int, L:int, reps:int, min_time:float) -> tuple[float, dict]:
    "Seconds the step's matmuls take at the measured throughput of each group's shape; and per group (flops, GFLOP/s, s)."
    rates, out = {}, {}
    for name, (fl, shape) in groups.items():
        if shape not in rates:
            rates[shape] = (bmm_gflops(dtype, B, m["nh"], L, m["d"], reps, min_time) if shape == "attn"
                            else gemm_gflops(dtype, n=shape[0], k=shape[1], m=shape[2], reps=reps, warmup=1, min_time=min_time))
        out[name] = (fl, rates[shape], fl/(rates[shape]*1e9))
    return sum(v[2] for v in out.values()), out

class Step:
    "The trainer's step body on one fixed batch, with per-phase timings."
    def __init__(self, vlm, precision:str, batch_size:int=8, stage:str="A", attn_reg:bool=False,
                 attention:str|None=None, # the attention kernel (default: the trainer's, `ConceptTrainConfig.attention`)
                 concepts:dict|None=None, # default: the corpus's artist/style/genre concepts
                 gate=None, # a GateConfig (default: the defaults)
                 signals=None, # [batch_size, N] (default: `_vlm.label_signals`)
                ):
        from myvlm_art.prompts import ConceptCollate
        from myvlm_art.gating import MultiTokenConceptLayer
        from myvlm_art.trainer import ConceptTrainConfig
        self.vlm, self.precision, self.stage, self.attn_reg = vlm, precision, stage, attn_reg
        from myvlm_art.vlm import resolve_attention
        self.cfg = ConceptTrainConfig(precision=precision).validate()
        self.attention = resolve_attention(attention or self.cfg.attention, "cpu")
        recs = _vlm.records(batch_size, "train")
        concepts = concepts or _vlm.default_concepts()
        S = _vlm.label_signals(recs, concepts) if signals is None else signals
        self.recs = recs
        self.layer = MultiTokenConceptLayer(concepts, vlm.hidden_size, gate, seed=self.cfg.seed)
        self.layer.values.requires_grad_(True)
        self.opt = torch.optim.SGD([self.layer.values], lr=self.cfg.lr)
        self.collate = ConceptCollate(vlm, self.cfg.data_config(), _vlm.corpus().spec.images_root, {str(r["image"]): S[i] for i, r in enumerate(recs)})
        self.phases = {k: [] for k in ("collate", "inputs", "forward_loss", "backward", "clip_step")}
        self.shape = None

    def autocast(self):
        import contextlib
        return torch.autocast("cpu", dtype=torch.bfloat16) if self.precision == "bf16" else contextlib.nullcontext()

    def __call__(self, record:bool=True):
        from myvlm_art.prompts import concept_inputs
        from myvlm_art.trainer import weighted_loss, attention_penalty
        v, c = self.vlm, self.cfg
        t0 = time.perf_counter()
        batch = self.collate(self.recs, self.stage)
        t1 = time.perf_counter()
        with v.attention("eager" if self.attn_reg else self.attention):
            with self.autocast():
                x = concept_inputs(v, self.layer, batch)
                t2 = time.perf_counter()
                loss, att = weighted_loss(v, x["inputs_embeds"], x["attention_mask"], x["labels"], x["weights"], c.tail_loss, output_attentions=self.attn_reg)
                if self.attn_reg: loss = loss + c.attn_lambda*attention_penalty(att, x["concept_positions"])
            t3 = time.perf_counter()
            loss.backward()
        t4 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_([self.layer.values], c.grad_clip)
        self.opt.step(); self.opt.zero_grad(set_to_none=True)
        t5 = time.perf_counter()
        if not torch.isfinite(loss): raise RuntimeError("non-finite loss")
        lab = int((x["labels"][:, 1:] != -100).sum())
        self.shape = (x["inputs_embeds"].shape[0], x["inputs_embeds"].shape[1], lab)
        if record:
            for k, a, b in (("collate", t0, t1), ("inputs", t1, t2), ("forward_loss", t2, t3), ("backward", t3, t4), ("clip_step", t4, t5)):
                self.phases[k].append(b - a)
        return float(loss.detach())

def measure(precision:str, reps:int, gemm_reps:int, min_time:float, profile:bool, reg_case:bool) -> list:
    info = get_vlm(precision); vlm = info.vlm
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    step = Step(vlm, precision)
    steps = {"step": step}
    if step.attention != "sdpa": steps["step_sdpa"] = Step(vlm, precision, attention="sdpa")
    if reg_case: steps["step_attn_reg"] = Step(vlm, precision, attn_reg=True)
    t = interleaved({k: s for k, s in steps.items()}, reps=reps)
    B, L, T_lab = step.shape
    m = model_dims(vlm)
    groups = step_flops(m, B, L, T_lab)
    t_bound, per = bound(groups, dtype, m, B, L, gemm_reps, min_time)
    t_step = t["step"][0]
    frac = t_bound/t_step
    total_fl = sum(v[0] for v in per.values())
    ph = {k: statistics.median(v[1:] if len(v) > 1 else v) for k, v in step.phases.items()}   # the first is the warm-up
    fwd_b = sum(v[2] for k, v in per.items() if k.startswith("fwd"))
    bwd_b = sum(v[2] for k, v in per.items() if k.startswith("bwd"))
    fwd_t = ph["inputs"] + ph["forward_loss"]
    case = f"{precision},batch={B},stage=A"
    note = (f"{info.note}; {step.attention} attention; torch threads {THREADS}; B={B}, L={L} (padded, concept tokens in), T_lab={T_lab}; {total_fl/1e9:.0f} GFLOP matmul; "
            f"{reps} samples, spread {spread(t['step'][1]):.0%}")
    rows = [row(NAME, case, "achieved_fraction_of_matmul_bound", frac, GOAL,
                notes=f"bound {t_bound*1e3:.0f} ms (Σ group FLOPs / measured {precision} GEMM rate of its shape) / step {t_step*1e3:.0f} ms; {note}"),
            row(NAME, case, "step_ms", t_step*1e3), row(NAME, case, "bound_ms", t_bound*1e3),
            row(NAME, case, "matmul_gflop", total_fl/1e9),
            row(NAME, case, "achieved_gflops", total_fl/t_step/1e9, notes="matmul FLOPs / step time"),
            row(NAME, case, "forward_fraction_of_bound", fwd_b/fwd_t, notes=f"forward bound {fwd_b*1e3:.0f} ms / (concept_inputs + forward + loss) {fwd_t*1e3:.0f} ms"),
            row(NAME, case, "backward_fraction_of_bound", bwd_b/ph["backward"], notes=f"backward bound {bwd_b*1e3:.0f} ms / backward {ph['backward']*1e3:.0f} ms")]
    for k, v in ph.items():
        rows.append(row(NAME, case, f"phase_share_{k}", v/sum(ph.values()), notes=f"{v*1e3:.1f} ms (median over timed steps)"))
    for name, (fl, rate, s) in per.items():
        rows.append(row(NAME, case, f"group_gflops_measured[{name}]", rate, notes=f"{fl/1e9:.2f} GFLOP -> {s*1e3:.1f} ms at this rate"))
    print(f"  {case}: step {t_step*1e3:.0f} ms, bound {t_bound*1e3:.0f} ms ({total_fl/1e9:.0f} GFLOP) -> {frac:.1%} of the bound"
          f" (goal {GOAL:.0%}); forward {fwd_b/fwd_t:.0%}, backward {bwd_b/ph['backward']:.0%} of their bounds", flush=True)
    print("    phases: " + ", ".join(f"{k} {v*1e3:.0f} ms" for k, v in ph.items()), flush=True)
    print("    groups: " + "; ".join(f"{k} {fl/1e9:.1f} GF @ {r:.0f} GF/s = {s*1e3:.0f} ms" for k, (fl, r, s) in per.items()), flush=True)
    if "step_sdpa" in t:
        r = t["step_sdpa"][0]/t_step
        rows.append(row(NAME, case, "achieved_fraction_of_matmul_bound_with_sdpa", t_bound/t["step_sdpa"][0],
                        notes=f"before: the same step with SDPA attention (the trainer's kernel until it chose eager on the CPU), {t['step_sdpa'][0]*1e3:.0f} ms"))
        rows.append(row(NAME, case, "sdpa_step_over_step", r, notes=f"SDPA step {t['step_sdpa'][0]*1e3:.0f} ms / {step.attention} step {t_step*1e3:.0f} ms"))
        print(f"    SDPA step {t['step_sdpa'][0]*1e3:.0f} ms = {r:.2f}x -> {t_bound/t['step_sdpa'][0]:.1%} of the bound", flush=True)
    if reg_case:
        r = t["step_attn_reg"][0]/t_step
        rows.append(row(NAME, case, "attn_reg_step_over_step", r,
                        notes=f"the regularised step (eager attention, output_attentions, penalty; one step in attn_every=4) {t['step_attn_reg'][0]*1e3:.0f} ms"))
        print(f"    regularised step {t['step_attn_reg'][0]*1e3:.0f} ms = {r:.2f}x", flush=True)
    if profile and frac < GOAL:
        top = profile_top(lambda: step(record=False), calls=1, top=10)
        for op, s, share, cnt in top:
            rows.append(row(NAME, f"{case} profile: {op}".replace(",", ";"), "self_cpu_share", share,
                            notes=f"{s*1e3:.0f} ms self CPU per step (under torch.profiler), {cnt} call(s)"))
            print(f"    {share:6.1%}  {op:45s} {s*1e3:8.0f} ms  x{cnt}", flush=True)
    return rows

from myvlm_art.core import resolve_precision

def run(quick:bool=False) -> list:
    t0 = time.perf_counter()
    reps, gemm_reps, min_time = (2, 3, 0.05) if quick else (3, 5, 0.1)
    rows = []
    with _vlm.threads():
        study = resolve_precision("auto")      # the study's precision; the fp32 case beside a bf16 study (bf16 is never timed emulated)
        rows += measure(study, reps, gemm_reps, min_time, profile=True, reg_case=not quick)
        if not quick and study == "bf16": rows += measure("fp32", max(2, reps - 1), gemm_reps, min_time, profile=False, reg_case=False)
    rows.append(row(NAME, "all", "runtime_s", time.perf_counter() - t0,
                    notes=f"quick={quick}, step reps {reps} (+1 warm-up), GEMM reps {gemm_reps}, torch threads {THREADS}"))
    return rows

if __name__ == "__main__": main(run, NAME, __doc__)
