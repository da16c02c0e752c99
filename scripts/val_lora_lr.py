# The LoRA peer's learning rate at the half budget, chosen on the VALIDATION split (its own knob, as the concept values' lr is theirs).
from pathlib import Path
import sys, time, dataclasses, numpy as np, pandas as pd
from myvlm_art.core import *
from myvlm_art.config import load_study_config
from myvlm_art.trainer import ConceptTrainConfig
from myvlm_art.system import integrated_system, study_instruct, base_vlm
from myvlm_art.peers import ensure_lora_peer, LoraPeerConfig
from myvlm_art.answers import generate_answers, answer_table, AliasMatcher
from myvlm_art.scoring import score_candidates, likelihood_predictions
from myvlm_art.metrics import evaluate
prec = resolve_precision("auto"); paths = Paths("."); study = load_study_config("")
icfg = study_instruct(study, 1200, 1, prec, 0)
sysm = integrated_system(paths, ConceptTrainConfig(precision=prec, seed=0), study=study, instruct=icfg, progress=False)
data, dims = sysm.data, study.dims
ev = data.split("val"); ims = [data.spec.images_root/p for p in ev.image]; truth = ev.reset_index(drop=True)
matcher = AliasMatcher({d: sysm.concepts[d] for d in dims}); cands = {d: sysm.concepts[d] for d in dims}
out = Path("data/validation"); out.mkdir(parents=True, exist_ok=True); rows = []
for lr in [float(x) for x in sys.argv[1].split(",")]:
    tr = dataclasses.replace(sysm.train, epochs_a=0.5, epochs_b=0.25)
    t = time.perf_counter()
    peer = ensure_lora_peer(base_vlm(study, paths, data, prec, 1, icfg, seed=0, progress=False), data, tr, LoraPeerConfig(lr=lr), out/f"lora_half_lr{lr}", progress=False)
    print("lora half lr", lr, round(time.perf_counter() - t, 1), "s", flush=True)
    a = generate_answers(peer, ims, "natural", 120, 64, progress=False, dims=dims)
    for kind, p in (("natural", answer_table(a, list(ev.image), "natural", matcher).reset_index(drop=True)),
                    ("likelihood", likelihood_predictions(score_candidates(peer, ims, cands, progress=False, batch_size=16), cands))):
        e = evaluate(truth, p, dims, n_boot=200)
        for r in e[e.metric.isin(["macro_f1", "all_correct"])].itertuples(): rows.append(dict(system=f"LoRA half lr {lr}", prompt=kind, dim=r.dimension, value=round(r.value, 3)))
    pd.DataFrame(rows).to_csv(out/"val_lora_lr.csv", index=False); del peer
print(pd.DataFrame(rows).pivot_table(index=["system", "prompt"], columns="dim", values="value", aggfunc="first").to_string())
