"""Data-parallel evaluation on this 2-core machine: two processes of one thread each against one process of two threads.

Usage: .venv/bin/python benchmarks/parallel_eval.py [--quick]      (or through benchmarks/run_all.py --only parallel_eval)

The same evaluation — likelihood scores of every candidate name and greedy natural-prompt answers (32 new tokens) for
the first 64 test images (32 with --quick), 16 images per forward, concept tokens injected — run by
`benchmarks/_parallel_eval_child.py` in two settings that use both cores:

* one process with two torch threads (`python ...`), what a single process does here;
* two processes with one thread each (`ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2`, gloo),
  each scoring and answering its whole batches (`myvlm_art.distributed`), the results gathered in image order.

Each setting is a fresh launch; the two alternate (one, two, one, two, ...) so that the machine's drift hits both, and
the medians are compared. The timed part is the evaluation alone, between barriers, after the model is loaded and one
warm-up batch has run; the start-up (interpreter, imports, model, warm-up) is reported beside it, and is paid once per
process. The figure is the throughput ratio, images per second with two processes over one process of two threads
(> 1: the processes win); one process of one thread is timed too (once per repetition), for the speed-up over one core.

Correctness: two processes of one thread must give what one process of one thread gives — the same batches on the
same kernels — the same answers and scores within 1e-4 nats. Against one process of two threads the bf16 rounding
differs (a matmul split over two threads sums in another order): the gap, the share of the same best names and of the
same answers are recorded, not asserted. The VLM is the embedded default with the stage-1 projector
(`_vlm.get_vlm`, `auto` precision).
"""
from __future__ import annotations
import json, os, socket, statistics, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import main, row, ROOT

NAME = "parallel_eval"
CHILD = Path(__file__).resolve().with_name("_parallel_eval_child.py")
TOKENS = 32

def _port() -> int:
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def launch(n:int, processes:int, out:Path, threads:int) -> dict:
    "Run the child once (`processes` processes of `threads` threads each); its JSON, with the launch's wall time."
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    args = [str(CHILD), str(n), str(threads), str(TOKENS), str(out)]
    if processes == 1: cmd = [sys.executable] + args
    else:
        env["ACCELERATE_USE_CPU"] = "1"
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_port())] + args
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if r.returncode: raise RuntimeError(f"{processes}-process evaluation failed ({r.returncode}): {r.stdout[-1500:]}{r.stderr[-2500:]}")
    got = json.loads(out.read_text()); got["launch_s"] = time.perf_counter() - t
    if got["processes"] != processes: raise RuntimeError(f"asked for {processes} processes, {got['processes']} ran")
    print(f"  {processes} process(es) x {threads} thread(s): score {got['score_s']:.1f} s, generate {got['generate_s']:.1f} s, "
          f"start-up {got['startup_s']:.1f} s", flush=True)
    return got

SETTINGS = {"one": (1, 2), "two": (2, 1), "one_thread": (1, 1)}   # name: (processes, threads per process)

def run(quick:bool=False) -> list:
    t0 = time.perf_counter()
    n, reps = (32, 1) if quick else (64, 2)
    res = {k: [] for k in SETTINGS}
    with tempfile.TemporaryDirectory() as d:
        for i in range(reps):                                   # interleaved: one, two, one thread, one, two, ...
            for k, (p, t) in SETTINGS.items(): res[k].append(launch(n, p, Path(d)/f"{k}-{i}.json", t))
    one, two, ref = res["one"][-1], res["two"][-1], res["one_thread"][-1]
    def gap(a, b): return max(float(np.abs(np.subtract(a["scores"][k], b["scores"][k])).max()) for k in a["scores"])
    def same(a, b): return float(np.mean(np.concatenate([np.argmax(a["scores"][k], 1) == np.argmax(b["scores"][k], 1) for k in a["scores"]])))
    def same_answers(a, b): return float(np.mean([x == y for x, y in zip(a["answers"], b["answers"])]))
    if gap(two, ref) > 1e-4 or same_answers(two, ref) < 1.0:
        raise AssertionError(f"two processes differ from one process on the same kernels: score gap {gap(two, ref):.2g} nats, "
                             f"same answers {same_answers(two, ref):.1%}")
    med = {(k, m): statistics.median(r[m] for r in res[k]) for k in res for m in ("score_s", "generate_s", "startup_s")}
    ev = {k: med[(k, "score_s")] + med[(k, "generate_s")] for k in res}
    note = f"{n} test images, {reps} interleaved launches of each setting, median; {one['vlm']}"
    print(f"  throughput, 2 processes x 1 thread over 1 process x 2 threads: scoring {med[('one', 'score_s')] / med[('two', 'score_s')]:.2f}x, "
          f"generation {med[('one', 'generate_s')] / med[('two', 'generate_s')]:.2f}x, both {ev['one'] / ev['two']:.2f}x; "
          f"over 1 process x 1 thread: {ev['one_thread'] / ev['two']:.2f}x", flush=True)
    case = f"n={n}"; rows = []
    for k, label in (("one", "one_process_two_threads"), ("two", "two_processes_one_thread"), ("one_thread", "one_process_one_thread")):
        rows += [row(NAME, case, f"{label}_score_s", med[(k, "score_s")], notes=note),
                 row(NAME, case, f"{label}_generate_s", med[(k, "generate_s")], notes=note + f"; {TOKENS} new tokens"),
                 row(NAME, case, f"{label}_startup_s", med[(k, "startup_s")], notes="interpreter, imports, model, warm-up: not in the timed part")]
    return rows + [
        row(NAME, case, "throughput_ratio_score", med[("one", "score_s")] / med[("two", "score_s")], notes="images/s, 2 processes x 1 thread over 1 process x 2 threads"),
        row(NAME, case, "throughput_ratio_generate", med[("one", "generate_s")] / med[("two", "generate_s")], notes="images/s, 2 processes x 1 thread over 1 process x 2 threads"),
        row(NAME, case, "throughput_ratio_evaluation", ev["one"] / ev["two"], notes="scoring + generation, 2 processes x 1 thread over 1 process x 2 threads"),
        row(NAME, case, "speedup_over_one_thread", ev["one_thread"] / ev["two"], notes="scoring + generation, 2 processes x 1 thread over 1 process x 1 thread"),
        row(NAME, case, "max_abs_score_gap_vs_one_thread_nats", gap(two, ref), notes="same batches, same kernels: must be ~0"),
        row(NAME, case, "max_abs_score_gap_vs_two_threads_nats", gap(two, one), notes="bf16 rounding of a 2-thread matmul"),
        row(NAME, case, "same_choice_share_vs_two_threads", same(two, one), notes="argmax agreement, (image, dimension) pairs"),
        row(NAME, case, "same_answer_share_vs_two_threads", same_answers(two, one), notes="identical generated answers"),
        row(NAME, "all", "runtime_s", time.perf_counter() - t0, notes=f"quick={quick}")]

if __name__ == "__main__":
    main(run, NAME, __doc__)
