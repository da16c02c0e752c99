"""Encode once, gate many: the cost of an ablation grid of N gate configs against a single config.

Usage: .venv/bin/python benchmarks/encode_once.py [--quick]      (or through benchmarks/run_all.py --only encode_once)

What a grid point costs. DESIGN §10 lets a grid "score the keys by teacher-forced log-likelihood of each candidate
concept name (one batched forward instead of a generation)". Here a grid point is scored by ONE batched teacher-
forced forward of the batch under the keys prompt (`ConceptCollate`, Stage A: "artist: …\\nstyle: …\\ngenre: …"),
returning each image's log-likelihood of its key names: the cheapest scoring any grid runner can do per config
(ranking every candidate name needs that forward at least once more per candidate, or a larger batch). The gate
knobs change which concept tokens are spliced in after the visual tokens, so every config needs its own language-
model pass over at least the tokens from the splice onwards; only the vision tower, the projector, the prompt
embeddings (and, in the prefix variant, the LM's keys/values of the tokens before the splice) can be shared.

Paths, each evaluating the same N configs on the same images (timed interleaved; cost(N) measured whole):
  study     the path the gate studies run, and the one the goal is checked on: `scoring.score_candidates` per config
            (every candidate name of every dimension, one prompt forward per image) with its per-image score cache,
            keyed by the image's exact prompt embeddings; from an empty cache per sample. A config that changes no
            image's injection costs only the cache lookups (`cached_config_share_of_cost1`, goal <= 0.05); a config
            that changes it needs that image's forward, so the floor of cost(N)/cost(1) is the number of distinct
            injections per image (`predicted_ratio_from_distinct_injections`).
  cached    "the cached path": visual tokens (tower + projector) and the prompt embeddings computed once; per
            config: gate + splice (`dataset.inject_concepts`) + the scoring forward over the whole sequence.
  prefix    cached, and the language model's KV cache of everything before the splice (system prompt, user turn
            opening, the 144 visual tokens) computed once; per config: gate + splice + a forward of the suffix only
            (concept tokens, prompt text, target) on that cache (cropped back after each config). Its scores are
            checked against the cached path's.
  uncached  everything per config (`dataset.concept_inputs` recomputes the visual tokens each time).
Figures: cost(N)/cost(1) of the cached path for N = 1, 8, 32 (goal <= 1 + 0.05·N) and of the prefix variant; the
per-config marginal cost as a fraction of cost(1); uncached/cached at N = 8; and how many distinct injections the
N configs produce per image (what de-duplicating identical gate outputs could save).
Configs vary τ (0.6 … 0.9), B (1 … 4), K (1 … 3) and fairness; the default config first, the rest in a fixed order.
Signals: each image's three labels high (12 tokens under the defaults) plus two distractors per dimension in
[0.55, 0.9], so that the knobs change the selections.
"""
from __future__ import annotations
import argparse, itertools, shutil, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import main, row, write_results
import _vlm
from _vlm import THREADS, get_vlm, interleaved, spread

NAME = "encode_once"
NS = (1, 8, 32)
GOAL = lambda n: 1 + 0.05*n

def grid(n:int) -> list:
    "The first `n` gate configs of the grid: the default first, then τ × B × K × fairness in a fixed shuffled order."
    from myvlm_art.gating import GateConfig
    full = [GateConfig(tau=t, budget=b, top_k=k, fairness=f)
            for t, b, k, f in itertools.product((0.6, 0.7, 0.75, 0.8, 0.9), (1, 2, 3, 4), (1, 2, 3), (True, False))]
    default = GateConfig()
    rest = [c for c in full if c != default]
    order = np.random.default_rng(0).permutation(len(rest))
    return ([default] + [rest[i] for i in order])[:n]

def grid_signals(recs:list, concepts:dict, seed:int=0) -> np.ndarray:
    "Label signals plus two distractors per dimension in [0.55, 0.9]."
    S = _vlm.label_signals(recs, concepts, seed=seed, weaken_every=0)
    rng = np.random.default_rng(seed + 1); start = 0
    for names in concepts.values():
        for i in range(len(recs)):
            free = [c for c in range(len(names)) if S[i, start + c] < 0.5]
            for c in rng.choice(free, size=min(2, len(free)), replace=False): S[i, start + c] = rng.uniform(0.55, 0.9)
        start += len(names)
    return S.astype(np.float32)

class Grid:
    "The three paths over one batch."
    def __init__(self, vlm, n_images:int):
        from myvlm_art.prompts import ConceptCollate, ConceptDataConfig
        from myvlm_art.gating import MultiTokenConceptLayer
        self.vlm = vlm
        recs = _vlm.records(n_images)
        concepts = _vlm.default_concepts()
        S = grid_signals(recs, concepts)
        self.layer = MultiTokenConceptLayer(concepts, vlm.hidden_size)
        collate = ConceptCollate(vlm, ConceptDataConfig(), _vlm.corpus().spec.images_root, {str(r["image"]): S[i] for i, r in enumerate(recs)})
        self.batch = collate(recs, "A")                               # keys prompt, keys target (teacher forcing)
        self.concepts, self.signals, self.images = concepts, S, _vlm.pil_images(recs)
        self.lm, self.head = vlm.language_model, vlm.model.get_output_embeddings()

    # ------------------------------------------------------------------ scoring
    def loglik(self, embeds, mask, labels, position_ids, past=None) -> torch.Tensor:
        "[B] sum of log p(target token) over each row's labelled tokens (tail logits only)."
        v = self.vlm
        out = self.lm(inputs_embeds=embeds.to(v.device, v.dtype), attention_mask=mask.to(v.device), position_ids=position_ids,
                      past_key_values=past, use_cache=past is not None)
        tgt = labels[:, 1:].to(v.device); sel = tgt != -100
        lp = torch.log_softmax(self.head(out.last_hidden_state[:, :-1][sel]).float(), -1).gather(1, tgt[sel][:, None])[:, 0]
        rows = sel.nonzero()[:, 0]
        return torch.zeros(len(labels), device=lp.device).index_add_(0, rows, lp)

    def encode(self) -> dict:
        "What is computed once: the visual tokens and the prompt embeddings with them in place."
        from myvlm_art.prompts import embed_with_images
        b, v = self.batch, self.vlm
        it = v.image_tokens(b["pixels"])
        return {"inputs_embeds": embed_with_images(v, b["input_ids"], b["image_positions"], it),
                "labels": b["labels"].to(v.device), "weights": b["weights"].to(v.device)}

    def score_cached(self, enc:dict, cfg) -> torch.Tensor:
        from myvlm_art.prompts import inject_concepts
        from myvlm_art.vlm import padded_positions
        b = self.batch; self.layer.cfg = cfg
        seq, mask, _, _ = inject_concepts(self.layer, dict(enc), b["attention_mask"], b["image_positions"], b["signals"],
                                          fill={"labels": -100, "weights": 0.0})
        return self.loglik(seq["inputs_embeds"], mask, seq["labels"], padded_positions(mask.to(self.vlm.device)))

    def score_uncached(self, cfg) -> torch.Tensor:
        from myvlm_art.prompts import concept_inputs
        from myvlm_art.vlm import padded_positions
        self.layer.cfg = cfg
        x = concept_inputs(self.vlm, self.layer, self.batch)
        return self.loglik(x["inputs_embeds"], x["attention_mask"], x["labels"], padded_positions(x["attention_mask"]))

    # ------------------------------------------------------------------ prefix KV
    def encode_prefix(self) -> dict:
        """`encode` plus the LM's KV cache of each row's tokens up to its last visual token (the same P tokens in every
        row: one prompt, one image each), and the rest of the batch as a left-padded suffix batch."""
        enc = self.encode(); b, v = self.batch, self.vlm
        E, mask, ipos = enc["inputs_embeds"], b["attention_mask"].to(v.device), b["image_positions"].to(v.device)
        B, L, H = E.shape
        first = L - mask.sum(1); p_end = ipos[:, -1] + 1; P = p_end - first
        if not bool((P == P[0]).all()): raise RuntimeError(f"rows have different prefix lengths {P.tolist()}")
        P = int(P[0]); p0 = int(p_end.min())
        idx = first[:, None] + torch.arange(P, device=E.device)[None]
        prefix = E.gather(1, idx[..., None].expand(B, P, H))
        out = self.lm(inputs_embeds=prefix.to(v.dtype), attention_mask=torch.ones(B, P, dtype=mask.dtype, device=v.device),
                      position_ids=torch.arange(P, device=v.device)[None].expand(B, P), use_cache=True)
        j = torch.arange(p0, L, device=E.device)[None]
        rest_mask = (j >= p_end[:, None]).to(mask.dtype)                        # left-padded: the columns before p_end are not the row's
        rest = {"inputs_embeds": E[:, p0:], "labels": enc["labels"][:, p0:].masked_fill(rest_mask == 0, -100),
                "weights": enc["weights"][:, p0:] * rest_mask}
        visual = E.gather(1, ipos[..., None].expand(-1, -1, H))
        return {"cache": out.past_key_values, "P": P, "rest": rest, "rest_mask": rest_mask, "insert_at": p_end - p0,
                "visual_norm": visual.detach().float().norm(dim=-1).mean(1)}

    def score_prefix(self, pre:dict, cfg) -> torch.Tensor:
        from myvlm_art.prompts import insert_tokens
        b, v = self.batch, self.vlm; self.layer.cfg = cfg
        gate = self.layer(b["signals"], pre["visual_norm"])
        seq, smask, _ = insert_tokens(pre["rest"], pre["rest_mask"], pre["insert_at"], {"inputs_embeds": gate.tokens}, gate.mask,
                                      fill={"labels": -100, "weights": 0.0})
        B, P = len(smask), pre["P"]
        full = torch.cat([torch.ones(B, P, dtype=smask.dtype, device=smask.device), smask], 1)
        pos = (full.long().cumsum(-1) - 1).clamp(min=0)[:, P:]
        try: return self.loglik(seq["inputs_embeds"], full, seq["labels"], pos, past=pre["cache"])
        finally:
            extra = pre["cache"].get_seq_length() - P
            if extra > 0: pre["cache"].crop(-extra)                           # back to the shared prefix

    # ------------------------------------------------------------------ the study path
    def score_study(self, cfgs:list, cache_dir) -> list:
        """What a gate study runs per config: `scoring.score_candidates` (every candidate name of every dimension,
        teacher-forced) with its per-image score cache in `cache_dir`, which keys each image by its exact prompt
        embeddings: a config that injects what an earlier one injected into an image costs no forward for it."""
        from myvlm_art.scoring import score_candidates
        out = []
        for c in cfgs:
            self.layer.cfg = c
            out.append(score_candidates(self.vlm, self.images, self.concepts, self.layer, self.signals, kind="keys", progress=False, cache=cache_dir))
        return out

def distinct_injections(g:Grid, cfgs:list) -> float:
    "Mean over images of the number of distinct (concept, token count) injections the configs produce."
    keys = [set() for _ in range(len(g.batch["signals"]))]
    for c in cfgs:
        g.layer.cfg = c
        with torch.no_grad(): out = g.layer(g.batch["signals"])
        for i in range(len(keys)):
            m = out.mask[i]; keys[i].add((tuple(out.concept_ids[i][m].tolist()), tuple(out.token_index[i][m].tolist())))
    return float(np.mean([len(k) for k in keys]))

def run(quick:bool=False) -> list:
    t0 = time.perf_counter()
    n_images, reps = (2, 2) if quick else (4, 3)
    rows = []
    with _vlm.threads(), torch.no_grad():
        info = get_vlm("auto"); g = Grid(info.vlm, n_images)   # the study's precision
        cfgs = grid(max(NS))
        # the paths agree: prefix-KV scores = full-sequence scores (bf16 tolerance), uncached = cached (bit for bit)
        enc, pre = g.encode(), g.encode_prefix()
        diffs = []
        for c in cfgs[:4]:
            a, p, u = g.score_cached(enc, c), g.score_prefix(pre, c), g.score_uncached(c)
            assert torch.equal(a, u), (a, u)
            diffs.append(float((a - p).abs().max())); scale = float(a.abs().max())
        tol = 0.02*scale + 0.5 if info.vlm.dtype == torch.bfloat16 else 1e-3*scale + 1e-3
        if max(diffs) > tol: raise AssertionError(f"prefix-KV scores differ from the full forward by {max(diffs):.3g} (> {tol:.3g})")
        L = g.batch["input_ids"].shape[1]; P = pre["P"]
        del enc, pre

        def cached(n): enc = g.encode(); return [g.score_cached(enc, c) for c in cfgs[:n]]
        def prefix(n): pre = g.encode_prefix(); return [g.score_prefix(pre, c) for c in cfgs[:n]]
        def uncached(n): return [g.score_uncached(c) for c in cfgs[:n]]
        small = {"cached1": lambda: cached(1), "prefix1": lambda: prefix(1), "uncached1": lambda: uncached(1),
                 "cached8": lambda: cached(8), "prefix8": lambda: prefix(8), "uncached8": lambda: uncached(8)}
        t = interleaved(small, reps=reps)
        big = interleaved({"cached32": lambda: cached(32), "prefix32": lambda: prefix(32)}, reps=max(1, reps - 1), warmup=0)
        t.update(big)
        # the study path: score_candidates with its per-image score cache, from an empty cache for each sample
        def study(n):
            d = tempfile.mkdtemp(prefix="bench-scores-")
            try: return g.score_study(cfgs[:n], d)
            finally: shutil.rmtree(d, ignore_errors=True)
        warm = tempfile.mkdtemp(prefix="bench-scores-warm-")
        try:
            fresh = g.score_study(cfgs[:4], warm)                                 # the cache's scores = a forward's scores
            again = g.score_study(cfgs[3:4], None)[0]
            for dim in again: assert np.array_equal(fresh[3][dim], again[dim]), f"cached scores differ for {dim}"
            from myvlm_art import training
            def hit_rehash(): training._DIGESTS.clear(); return g.score_study(cfgs[:1], warm)   # as before the digest memo
            t.update(interleaved({"study1": lambda: study(1), "study_hit": lambda: g.score_study(cfgs[:1], warm),
                                  "study_hit_rehash": hit_rehash, "study8": lambda: study(8)}, reps=reps))
            t.update(interleaved({"study32": lambda: study(32)}, reps=max(1, reps - 1), warmup=0))
        finally: shutil.rmtree(warm, ignore_errors=True)
        # components, for the explanation: encode alone, and one config's gate + splice alone
        from myvlm_art.prompts import inject_concepts
        enc = g.encode(); b = g.batch
        comp = interleaved({"encode": g.encode, "encode_prefix": g.encode_prefix,
                            "gate_splice": lambda: inject_concepts(g.layer, dict(enc), b["attention_mask"], b["image_positions"], b["signals"],
                                                                   fill={"labels": -100, "weights": 0.0})}, reps=reps)
        n_distinct = {n: distinct_injections(g, cfgs[:n]) for n in NS}
    med = {k: v[0] for k, v in t.items()}; cm = {k: v[0] for k, v in comp.items()}
    base = (f"{info.note}; torch threads {THREADS}; batch {n_images} images, keys prompt, {L} tokens/row before the splice-in "
            f"({P} of them before the splice); scoring = one teacher-forced forward of the batch per config (tail logits)")
    what = {"study": f"cost(N)/cost(1); goal 1+0.05N = {{:.2f}}; the study path (score_candidates: every candidate name, per-image score cache)",
            "cached": "what-if without the score cache: visual tokens once, one keys forward per config; goal would be {:.2f}",
            "prefix": "what-if: the cached path with the prefix KV shared as well; goal would be {:.2f}"}
    for path in ("study", "cached", "prefix"):
        for n in NS:
            r = med[f"{path}{n}"]/med[f"{path}1"]
            marg = (med[f"{path}{n}"] - med[f"{path}1"])/((n - 1)*med[f"{path}1"]) if n > 1 else float("nan")
            k = f"{path}{n}"
            rows.append(row(NAME, f"{path},N={n}", "cost_ratio_vs_1_config", r, GOAL(n) if path == "study" else None,
                            ok=bool(r <= GOAL(n)) if path == "study" else None,
                            notes=what[path].format(GOAL(n))
                                  + f"; {len(t[k][1])} samples, spread {spread(t[k][1]):.0%}; distinct injections/image {n_distinct[n]:.1f}; {base}"))
            rows.append(row(NAME, f"{path},N={n}", "seconds", med[k]))
            if n > 1: rows.append(row(NAME, f"{path},N={n}", "marginal_per_config_over_cost1", marg,
                                      notes="(cost(N) - cost(1)) / ((N-1)·cost(1)); the goal needs <= 0.05"))
            print(f"  {path:8s} N={n:<3d} {med[k]:8.2f} s  ratio {r:6.2f}  (goal {GOAL(n):.2f})"
                  + (f"  marginal/config {marg:.2f} of cost(1)" if n > 1 else "") + f"  distinct injections/image {n_distinct[n]:.1f}", flush=True)
    for n in (1, 8):
        rows.append(row(NAME, f"uncached,N={n}", "uncached_over_cached", med[f"uncached{n}"]/med[f"cached{n}"],
                        notes="every config recomputing the visual tokens (concept_inputs), over the cached path"))
        print(f"  uncached N={n}: {med[f'uncached{n}']:.2f} s = {med[f'uncached{n}']/med[f'cached{n}']:.3f}x cached", flush=True)
    one = med["cached1"]
    hit = med["study_hit"]/med["study1"]
    rows += [row(NAME, "study,N=1", "cached_config_share_of_cost1", hit, 0.05, ok=bool(hit <= 0.05),
                 notes=f"a config whose injections are all in the score cache: {med['study_hit']*1e3:.0f} ms vs cost(1) {med['study1']*1e3:.0f} ms "
                       "(the grid's marginal cost for a config that changes no image's injection)")]
    for n in NS[1:]:
        pred = n_distinct[n] + (n - n_distinct[n])*hit
        rows.append(row(NAME, f"study,N={n}", "predicted_ratio_from_distinct_injections", pred,
                        notes=f"distinct injections/image {n_distinct[n]:.1f} forwards + the rest at the cache-hit cost: the floor for this grid "
                              "(each distinct injection needs its own language-model pass)"))
    hit_before = med["study_hit_rehash"]/med["study1"]
    rows.append(row(NAME, "study,N=1", "cached_config_share_of_cost1_before_digest_memo", hit_before,
                    notes=f"the same, re-hashing the VLM's weights per call as before frozen_digest remembered them: {med['study_hit_rehash']*1e3:.0f} ms"))
    print(f"  study    cache-hit config {med['study_hit']*1e3:.0f} ms = {hit:.1%} of cost(1) (goal <= 5%);"
          f" re-hashing the weights per call (before): {med['study_hit_rehash']*1e3:.0f} ms = {hit_before:.1%}", flush=True)
    rows += [row(NAME, "cached,N=1", "encode_share_of_cost1", cm["encode"]/one,
                 notes=f"encode once (tower + projector + embeddings) {cm['encode']*1e3:.0f} ms of cost(1) {one*1e3:.0f} ms; the rest is the per-config work"),
             row(NAME, "cached,N=1", "gate_splice_share_of_cost1", cm["gate_splice"]/one,
                 notes=f"gate + splice {cm['gate_splice']*1e3:.2f} ms per config"),
             row(NAME, "prefix,N=1", "encode_share_of_cost1", cm["encode_prefix"]/med["prefix1"],
                 notes=f"encode + prefix KV {cm['encode_prefix']*1e3:.0f} ms of {med['prefix1']*1e3:.0f} ms; prefix {P} of {L} tokens"),
             row(NAME, "all", "prefix_vs_full_max_abs_loglik_diff", max(diffs), notes=f"max |Δ log-lik| per image over 4 configs (tolerance {tol:.3g}); {info.vlm.info['precision']}")]
    print(f"  encode {cm['encode']*1e3:.0f} ms = {cm['encode']/one:.1%} of cost(1); gate+splice {cm['gate_splice']*1e3:.2f} ms;"
          f" encode+prefix {cm['encode_prefix']*1e3:.0f} ms = {cm['encode_prefix']/med['prefix1']:.1%} of prefix cost(1); |Δ| {max(diffs):.3g}", flush=True)
    rows.append(row(NAME, "all", "runtime_s", time.perf_counter() - t0,
                    notes=f"quick={quick}, {n_images} images, reps {reps} (N=32: {max(1, reps - 1)}), torch threads {THREADS}"))
    return rows

if __name__ == "__main__": main(run, NAME, __doc__)
