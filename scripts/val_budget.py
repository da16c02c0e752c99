# Choose the full preset's concept-training step budget on the VALIDATION split (never test):
# concept values and the LoRA peer at the current budget (Stage A 1 epoch + Stage B 0.5) and at half of it.
from pathlib import Path
import sys, time, json, dataclasses, numpy as np, pandas as pd, torch
from myvlm_art.core import *
from myvlm_art.config import load_study_config
from myvlm_art.trainer import ConceptTrainConfig
from myvlm_art.system import integrated_system, study_instruct, base_vlm
from myvlm_art.peers import trained_values, ensure_lora_peer, LoraPeerConfig
from myvlm_art.answers import generate_answers, answer_table, AliasMatcher
from myvlm_art.scoring import score_candidates, likelihood_predictions
from myvlm_art.metrics import evaluate
prec = resolve_precision("auto"); paths = Paths("."); study = load_study_config("")
tcfg = ConceptTrainConfig(precision=prec, seed=0)
icfg = study_instruct(study, 1200, 1, prec, 0)
sysm = integrated_system(paths, tcfg, study=study, instruct=icfg, progress=False)
vlm, data, dims = sysm.vlm, sysm.data, study.dims
ev = data.split("val"); ims = [data.spec.images_root/p for p in ev.image]
S = np.stack([sysm.signals[str(p)] for p in ev.image]); truth = ev.reset_index(drop=True)
matcher = AliasMatcher({d: sysm.concepts[d] for d in dims}); cands = {d: sysm.concepts[d] for d in dims}
out = Path("data/validation"); out.mkdir(parents=True, exist_ok=True)
rows = []
def score(name, model, layer, sig):
    for kind in ("natural",):
        t = time.perf_counter()
        a = generate_answers(model, ims, kind, 120, 64, progress=False, layer=layer, signals=sig, dims=dims)
        e = evaluate(truth, answer_table(a, list(ev.image), kind, matcher).reset_index(drop=True), dims, n_boot=200)
        for r in e[e.metric.isin(["macro_f1", "all_correct"])].itertuples(): rows.append(dict(system=name, prompt=kind, dim=r.dimension, metric=r.metric, value=round(r.value, 3)))
        print(name, kind, round(time.perf_counter() - t, 1), "s", flush=True)
    p = likelihood_predictions(score_candidates(model, ims, cands, layer, sig, progress=False, batch_size=16), cands)
    e = evaluate(truth, p, dims, n_boot=200)
    for r in e[e.metric.isin(["macro_f1", "all_correct"])].itertuples(): rows.append(dict(system=name, prompt="likelihood", dim=r.dimension, metric=r.metric, value=round(r.value, 3)))
    pd.DataFrame(rows).to_csv(out/"val_budget.csv", index=False)
budgets = {"full (A 1.0, B 0.5)": (1.0, 0.5), "half (A 0.5, B 0.25)": (0.5, 0.25), "third (A 0.33, B 0.17)": (0.33, 0.17)}
for bname, (ea, eb) in budgets.items():
    tr = dataclasses.replace(sysm.train, epochs_a=ea, epochs_b=eb)
    t = time.perf_counter()
    layer = sysm.layer if ea == 1.0 else trained_values(vlm, data, sysm.signals, sysm.concepts, tr, sysm.layer.cfg, out/f"concepts_{ea}", progress=False)
    print("concepts", bname, round(time.perf_counter() - t, 1), "s", flush=True)
    score(f"integrated {bname}", vlm, layer, S)
    if "lora" in sys.argv[1:] and ea >= 0.5:
        t = time.perf_counter()
        fresh = base_vlm(study, paths, data, prec, 1, icfg, seed=0, progress=False)
        peer = ensure_lora_peer(fresh, data, tr, LoraPeerConfig(), out/f"lora_{ea}", progress=False)
        print("lora", bname, round(time.perf_counter() - t, 1), "s", flush=True)
        score(f"LoRA {bname}", peer, None, None); del peer, fresh
print(pd.DataFrame(rows).pivot_table(index=["system", "prompt"], columns=["dim"], values="value", aggfunc="first").to_string())
