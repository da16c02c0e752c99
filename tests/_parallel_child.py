"""Child of `tests/test_distributed.py`: a small concept training and an evaluation, on one process or under
`accelerate launch`.

    python tests/_parallel_child.py SETUP OUT                                                      # one process
    ACCELERATE_USE_CPU=1 python -m accelerate.commands.launch --multi_gpu --num_processes 2 \\
        tests/_parallel_child.py SETUP OUT                                                        # two CPU processes (gloo)

SETUP is the folder the test's fixture built once: `project/` (a 47-image SynthArt corpus and its saved split),
`tiny/lm` and `tiny/vision` (the tiny random VLM's parts), `signals.npz` and `setup.json` (prototype signals,
thresholds, concept index). Every process trains the concept values (`train_concepts`, Stage A for an epoch then two steps of
Stage B, the attention regulariser every 2nd step, a checkpoint every 3rd step, fp32, one thread, seed 0) into OUT/concepts, then answers
both prompts for the validation and test images (`parallel_answers`) and scores every candidate name
(`parallel_scores`), in batches of 3. The main process writes OUT/values.safetensors, OUT/answers.json,
OUT/scores.npz, OUT/metrics.csv (macro F1, accuracy and all-correct of each prompt and of the likelihood keys, with
bootstrap CIs) and OUT/run.json (how many processes ran).
"""
import json, os, sys
from pathlib import Path

CFG = dict(epochs_a=1, epochs_b=0.3, batch_size=5, attn_every=2, checkpoint_every=3, precision="fp32", seed=0)
EVAL_BATCH, NEW_TOKENS = 3, 8

def main(setup:str, out:str):
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import numpy as np, pandas as pd, torch
    torch.set_num_threads(1)
    from safetensors.torch import save_file
    from myvlm_art.core import Paths, seed_everything, write_text_atomic, write_json_atomic
    from myvlm_art.data import DatasetSpec, prepare_dataset
    from myvlm_art.vlm import VLMConfig, build_vlm
    from myvlm_art.gating import GateConfig, MultiTokenConceptLayer
    from myvlm_art.trainer import ConceptTrainConfig, train_concepts
    from myvlm_art.answers import AliasMatcher, answer_table
    from myvlm_art.scoring import likelihood_predictions
    from myvlm_art.metrics import evaluate
    from myvlm_art.distributed import processes, parallel_answers, parallel_scores
    import time; t0 = time.perf_counter()
    setup, out = Path(setup), Path(out); paths = Paths(setup/"project")
    seed_everything(0)
    data = prepare_dataset(DatasetSpec.named("synthart", paths), seed=0)         # the saved split, read back
    meta = json.loads((setup/"setup.json").read_text())
    with np.load(setup/"signals.npz") as z: S = z["signals"]
    signals = {im: S[i] for i, im in enumerate(meta["images"])}
    vlm = build_vlm(VLMConfig(lm=str(setup/"tiny"/"lm"), vision=str(setup/"tiny"/"vision"), precision="fp32", projector_seed=0), paths)
    vlm.info.update(lm="tiny-llama-0", vision="tiny-clip-0")
    layer = MultiTokenConceptLayer(meta["concepts"], vlm.hidden_size, GateConfig(thresholds=meta["thresholds"]), seed=0)
    rec = train_concepts(vlm, layer, data, signals, ConceptTrainConfig(**CFG), out_dir=out/"concepts", resume=False, progress=False)

    t1 = time.perf_counter(); st = processes(); dims = tuple(meta["concepts"])
    ev = data.records[data.records.split.isin(["val", "test"])].sort_values("image").reset_index(drop=True)
    images = [data.spec.images_root/p for p in ev.image]; sig = np.stack([signals[str(p)] for p in ev.image])
    matcher = AliasMatcher(meta["concepts"]); tables, answers = [], {}
    for kind in ("natural", "structured"):
        answers[kind] = parallel_answers(vlm, images, kind, EVAL_BATCH, signals=sig, layer=layer, max_new_tokens=NEW_TOKENS, dims=dims, progress=False)
        pred = answer_table(answers[kind], list(ev.image), kind, matcher)
        tables.append(evaluate(ev, pred, dims, n_boot=200, seed=0).assign(scoring=f"generated, {kind}"))
    scores = parallel_scores(vlm, images, meta["concepts"], layer, sig, batch_size=EVAL_BATCH, progress=False)
    tables.append(evaluate(ev, likelihood_predictions(scores, meta["concepts"]), dims, n_boot=200, seed=0).assign(scoring="likelihood"))
    if st.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        save_file({"values": layer.values.detach().float().contiguous()}, str(out/"values.safetensors"))
        np.savez(out/"scores.npz", **scores)
        write_json_atomic(out/"answers.json", answers)
        table = pd.concat(tables, ignore_index=True).assign(precision="fp32")
        write_text_atomic(out/"metrics.csv", table.to_csv(index=False, lineterminator="\n", float_format="%.6f"))
        write_json_atomic(out/"run.json", {"processes": st.num_processes, "train_processes": rec.get("processes", 1), "images": len(images),
                                           "train_steps": rec["total_steps"], "losses": rec["losses"], "attn": rec["attn"]})
    print(f"process {st.process_index} of {st.num_processes}: done (set-up and training {t1 - t0:.1f} s, evaluation {time.perf_counter() - t1:.1f} s)", flush=True)

if __name__ == "__main__":
    if len(sys.argv) != 3: sys.exit(__doc__)
    main(*sys.argv[1:])
