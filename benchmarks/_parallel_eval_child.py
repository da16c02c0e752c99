"""Child of `benchmarks/parallel_eval.py` (not a benchmark itself): evaluate N test images once, in this process group.

    python benchmarks/_parallel_eval_child.py N THREADS TOKENS OUT                       # one process
    ACCELERATE_USE_CPU=1 python -m accelerate.commands.launch --multi_gpu --num_processes 2 \\
        benchmarks/_parallel_eval_child.py N THREADS TOKENS OUT                          # two CPU processes

Every process loads the embedded VLM (`_vlm.get_vlm`, `auto` precision), the first N test images (in memory), the
corpus's artist/style/genre concepts and signals that make the default gate inject each image's labels; runs one
untimed warm-up batch of each path; then times, between barriers, the likelihood scores of every candidate name
(`parallel_scores`, 16 images per forward) and the natural-prompt answers (`parallel_answers`, 16 per call, TOKENS new
tokens). The main process writes OUT (JSON): the times, the setting, the scores and the answers.
"""
import json, os, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))

def main(n:str, threads:str, tokens:str, out:str):
    t_start = time.perf_counter()
    import numpy as np, torch
    torch.set_num_threads(int(threads))
    import _vlm
    from myvlm_art.gating import MultiTokenConceptLayer, GateConfig
    from myvlm_art.distributed import processes, parallel_answers, parallel_scores
    st = processes()
    info = _vlm.get_vlm(); vlm = info.vlm
    recs = _vlm.records(int(n)); ims = _vlm.pil_images(recs); concepts = _vlm.default_concepts()
    layer = MultiTokenConceptLayer(concepts, vlm.hidden_size, GateConfig(), seed=0)
    S = _vlm.label_signals(recs, concepts)
    k = 2 * st.num_processes                                    # warm-up: one image per process and path
    parallel_scores(vlm, ims[:k], concepts, layer, S[:k], batch_size=2, progress=False)
    parallel_answers(vlm, ims[:k], "natural", 2, signals=S[:k], layer=layer, max_new_tokens=4, progress=False)
    st.wait_for_everyone(); ready = time.perf_counter()
    t = time.perf_counter(); scores = parallel_scores(vlm, ims, concepts, layer, S, batch_size=16, progress=False); t_score = time.perf_counter() - t
    st.wait_for_everyone()
    t = time.perf_counter(); answers = parallel_answers(vlm, ims, "natural", 16, signals=S, layer=layer, max_new_tokens=int(tokens), progress=False)
    t_gen = time.perf_counter() - t
    st.wait_for_everyone()
    if st.is_main_process:
        Path(out).write_text(json.dumps({"processes": st.num_processes, "threads": torch.get_num_threads(), "images": len(ims),
                                         "score_s": t_score, "generate_s": t_gen, "startup_s": ready - t_start,
                                         "total_s": time.perf_counter() - t_start, "vlm": info.note,
                                         "scores": {d: s.tolist() for d, s in scores.items()}, "answers": answers}))

if __name__ == "__main__":
    if len(sys.argv) != 5: sys.exit(__doc__)
    main(*sys.argv[1:])
