"""Constrained structured decoding: what the JSON constraint costs per generated token, and which library.

Usage: .venv/bin/python benchmarks/constrained.py [--quick]      (or through benchmarks/run_all.py --only constrained)

Two measurements, in one process:

1. **Overhead (the figure).** The structured prompt answered for the same test images by the same VLM, greedy,
   `max_new_tokens` 64, once free and once under the JSON schema (`09_answers.JsonConstraint`, xgrammar), timed
   side by side, interleaved; the figure is the ratio of seconds per generated token, json / free (1.0 = free). The
   parse rates of both runs are recorded beside it. The VLM is the embedded default with the stage-1 projector and,
   when data/models/instruct holds it, stage 2 merged (the base VLM that answers JSON); otherwise the tiny fallback,
   said in the notes.
2. **Library choice.** The constrained run's token sequences are replayed through each JSON-schema library's own
   mask computation (advance by the chosen token, compute the next-token mask, apply it to a [batch, vocab] logits
   tensor), for the whole batch: the cost per generated token of the constraint alone, as a share of the free
   decoding's time per token. xgrammar is pinned; lm-format-enforcer and outlines (outlines-core) are measured when
   installed (`pip install lm-format-enforcer==0.11.3 outlines==1.3.3`), else recorded as not installed. Their
   one-time compile (index) cost is recorded too.
Two torch threads (the full report's setting).
"""
from __future__ import annotations
import json, re, statistics, sys, time
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import main, row

NAME = "constrained"

def _base_vlm():
    "The base VLM (stage 1 + stage 2 when present) and a note; the tiny fallback otherwise."
    import _vlm
    from myvlm_art.core import resolve_precision
    if _vlm.FORCE_TINY or not _vlm.real_parts_present():
        info = _vlm.get_vlm(); return info.vlm, info.note
    from myvlm_art.vlm import VLMConfig, build_vlm
    from myvlm_art.instruct import load_instructed
    P = _vlm.paths(); prec = resolve_precision("auto")
    v = build_vlm(VLMConfig(precision=prec), P)
    note = f"real VLM smollm2-135m+synthclip {prec}"
    if (P.data/"models"/"align"/"projector.safetensors").is_file(): v.load_projector(P.data/"models"/"align"/"projector.safetensors"); note += ", stage-1 projector"
    if (P.data/"models"/"instruct").is_dir():
        try: load_instructed(v, P.data/"models"/"instruct"); note += ", stage 2"
        except Exception as e: note += f" (stage 2 not loaded: {e})"
    return v, note

def _generated(ids:torch.Tensor, eos:int) -> tuple[int, list]:
    "Tokens generated per row up to and including the first end-of-sequence token; the rows' token lists."
    rows = []
    for r in ids.tolist(): rows.append(r[:r.index(eos) + 1] if eos in r else r)
    return sum(map(len, rows)), rows

def _replay_xgrammar(tok, V, prefill, seqs, dims):
    import xgrammar as xgr
    from myvlm_art.answers import json_grammar, structured_schema, JSON_OPEN, JSON_CLOSE
    t = time.perf_counter()                                  # the compile, timed apart from the project's cache of it
    info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=V, stop_token_ids=[tok.eos_token_id])
    xgr.GrammarCompiler(info, max_threads=1).compile_grammar(xgr.Grammar.concat(xgr.Grammar.from_ebnf(f"root ::= {json.dumps(JSON_OPEN)}"),
        xgr.Grammar.from_json_schema(json.dumps(structured_schema(dims)), any_whitespace=False, separators=(", ", ": ")), xgr.Grammar.from_ebnf(f"root ::= {json.dumps(JSON_CLOSE)}")))
    compile_s = time.perf_counter() - t; g = json_grammar(tok, V, dims)
    def run():
        ms = [xgr.GrammarMatcher(g) for _ in seqs]
        for m in ms: m.accept_string(prefill)
        mask, logits, bm = xgr.allocate_token_bitmask(len(seqs), V), torch.zeros(len(seqs), V), xgr.BatchGrammarMatcher(max_threads=1)
        for step in range(max(map(len, seqs))):
            act = [i for i, s in enumerate(seqs) if step < len(s)]
            bm.batch_fill_next_token_bitmask([ms[i] for i in act], mask, indices=act)
            xgr.apply_token_bitmask_inplace(logits, mask, indices=act)
            for i in act: assert ms[i].accept_token(seqs[i][step])
    return run, compile_s

def _replay_lmfe(tok, V, prefill, seqs, dims):
    from lmformatenforcer import JsonSchemaParser, SequenceParser, StringParser, TokenEnforcer
    from lmformatenforcer.integrations.transformers import build_token_enforcer_tokenizer_data
    from myvlm_art.answers import structured_schema, JSON_OPEN, JSON_CLOSE
    t = time.perf_counter(); data = build_token_enforcer_tokenizer_data(tok, vocab_size=V); compile_s = time.perf_counter() - t
    def parser():
        p = SequenceParser([StringParser(JSON_OPEN), JsonSchemaParser(structured_schema(dims)), StringParser(JSON_CLOSE)])
        for ch in prefill: p = p.add_character(ch)
        return p
    def run():
        enf = [TokenEnforcer(data, parser()) for _ in seqs]; logits = torch.zeros(len(seqs), V)
        for step in range(max(map(len, seqs))):
            for i, s in enumerate(seqs):
                if step >= len(s): continue
                allowed = enf[i].get_allowed_tokens([tok.bos_token_id or 0] + s[:step])
                ids = allowed if isinstance(allowed, list) else allowed.allowed_tokens if hasattr(allowed, "allowed_tokens") else list(allowed)
                m = torch.full((V,), float("-inf")); m[torch.as_tensor(ids, dtype=torch.long)] = 0; logits[i] += m
    return run, compile_s

def _replay_outlines(tok, V, prefill, seqs, dims):
    from outlines_core import Guide, Index
    from outlines_core.json_schema import build_regex_from_schema
    from outlines_core.kernels.torch import allocate_token_bitmask, fill_next_token_bitmask, apply_token_bitmask_inplace
    from outlines.backends.outlines_core import OutlinesCoreBackend
    from myvlm_art.answers import structured_schema, JSON_OPEN, JSON_CLOSE
    t = time.perf_counter()
    vocab = OutlinesCoreBackend.create_outlines_core_vocabulary(tok.get_vocab(), tok.eos_token_id, tok.eos_token, lambda s: tok.convert_tokens_to_string([s]))
    regex = re.escape(JSON_OPEN) + build_regex_from_schema(json.dumps(structured_schema(dims)), r"[ ]?") + re.escape(JSON_CLOSE)
    index = Index(regex, vocab); compile_s = time.perf_counter() - t
    pre = tok(prefill, add_special_tokens=False).input_ids
    def run():
        gs = [Guide(index) for _ in seqs]
        for g in gs:
            for p in pre: g.advance(token_id=p, return_tokens=False)
        masks, logits = [allocate_token_bitmask(V) for _ in seqs], torch.zeros(len(seqs), V)
        for step in range(max(map(len, seqs))):
            for i, s in enumerate(seqs):
                if step >= len(s): continue
                fill_next_token_bitmask(gs[i], masks[i]); apply_token_bitmask_inplace(logits[i:i + 1], masks[i])
                if not gs[i].is_finished(): gs[i].advance(token_id=s[step], return_tokens=False)
    return run, compile_s

LIBRARIES = {"xgrammar": _replay_xgrammar, "lm-format-enforcer": _replay_lmfe, "outlines": _replay_outlines}

def run(quick:bool=False) -> list:
    import _vlm
    from myvlm_art.answers import JsonConstraint, DECODING, prompt_for, prefill_for, extract_json, DEFAULT_DIMENSIONS
    t0 = time.perf_counter(); n, new = (16, 64) if quick else (48, 64)
    with _vlm.threads(2):
        vlm, note = _base_vlm(); tok = vlm.tokenizer
        recs = _vlm.records(n); ims = _vlm.pil_images(recs)
        prefill = prefill_for("structured")
        x = vlm.build_inputs([prompt_for("structured")] * n, ims, prefill=prefill)
        def gen(dec):
            kw = {"logits_processor": [JsonConstraint(tok, prefill, new)]} if dec == "json" else {}
            t = time.perf_counter(); ids = vlm.generate(x["inputs_embeds"], x["attention_mask"], new, **DECODING, **kw); dt = time.perf_counter() - t
            k, seqs = _generated(ids, tok.eos_token_id)
            return dt, k, seqs, [prefill + a for a in vlm.decode(ids)]
        per_tok, out = {"free": [], "json": []}, {}
        for _ in range(1 if quick else 2):                 # interleaved: the machine's drift hits both sides
            for dec in ("free", "json"):
                dt, k, seqs, texts = gen(dec); per_tok[dec].append(dt / k); out[dec] = (k, seqs, texts)
        med = {d: statistics.median(v) for d, v in per_tok.items()}
        parsed = {d: float(np.mean([extract_json(a) is not None for a in out[d][2]])) for d in out}
        V = int(x["inputs_embeds"].shape[0] and vlm.model.get_output_embeddings().weight.shape[0])
        seqs = out["json"][1]; n_tok = out["json"][0]
        libs = {}
        for name, make in LIBRARIES.items():
            try: fn, compile_s = make(tok, V, prefill, seqs, DEFAULT_DIMENSIONS)
            except ImportError as e: libs[name] = str(e).splitlines()[0][:160]; continue     # not installed, or does not import with this transformers
            ts = []
            for _ in range(1 if quick or name != "xgrammar" else 3):
                t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
            libs[name] = (statistics.median(ts) / n_tok, compile_s)
    base = f"{n} test images, batch {n}, {new} new tokens max, structured prompt, greedy (repetition penalty 1.2); {note}"
    print(f"  free {med['free'] * 1e3:.2f} ms/token, json {med['json'] * 1e3:.2f} ms/token (x{med['json'] / med['free']:.3f}); parsed free {parsed['free']:.0%}, json {parsed['json']:.0%}")
    rows = [row(NAME, f"generate,n={n}", "free_s_per_token", med["free"], notes=base),
            row(NAME, f"generate,n={n}", "json_s_per_token", med["json"], notes=base + "; xgrammar, closed within the budget"),
            row(NAME, f"generate,n={n}", "overhead_json_over_free", med["json"] / med["free"], notes="seconds per generated token, json / free, side by side"),
            row(NAME, f"generate,n={n}", "parse_rate_free", parsed["free"], notes=base),
            row(NAME, f"generate,n={n}", "parse_rate_json", parsed["json"], goal=0.99, notes=base)]
    for name, v in libs.items():
        if isinstance(v, str):
            print(f"  {name}: not measured ({v})"); rows.append(row(NAME, f"replay:{name}", "mask_cost_share_of_free_token", None, notes=f"not measured: ImportError: {v}")); continue
        print(f"  {name}: constraint {v[0] * 1e3:.3f} ms per generated token ({v[0] / med['free']:.1%} of a free token), compile {v[1]:.2f} s")
        rows += [row(NAME, f"replay:{name}", "mask_cost_share_of_free_token", v[0] / med["free"], notes=f"replay of the json run's {n_tok} tokens, batch {n}: advance + mask + apply"),
                 row(NAME, f"replay:{name}", "mask_s_per_token", v[0], notes="seconds of constraint work per generated token"),
                 row(NAME, f"replay:{name}", "compile_s", v[1], notes="grammar / index / tokenizer data, once")]
    return rows + [row(NAME, "all", "runtime_s", time.perf_counter() - t0, notes=f"quick={quick}")]

if __name__ == "__main__":
    main(run, NAME, __doc__)
