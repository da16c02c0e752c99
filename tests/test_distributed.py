"""Data-parallel training and evaluation (issue #22): two CPU processes under `accelerate launch` give the one-process run.

A child (`tests/_parallel_child.py`) trains concept values on a tiny setup (a 47-image SynthArt corpus, a tiny
synthclip, prototype signals and a tiny random VLM, built once per module; Stage A then Stage B with the attention
regulariser every 2nd step; 31 training images in steps of 5, so that the last step of Stage A's epoch holds one image
and one process has none; fp32, one thread per process, seed 0) and then evaluates them: both prompts' generated
answers and the likelihood keys on the validation and test images, parsed and scored (`metrics.evaluate`). It runs
once as one plain process and once as two processes:

    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 tests/_parallel_child.py ...

(In accelerate 1.15 `accelerate launch --cpu --num_processes 2` starts a single process unless an MPI launcher and a
host file are given; `--multi_gpu` is the launcher that starts several processes, torchrun style, and
`ACCELERATE_USE_CPU=1` makes them CPU processes talking over gloo. The test asserts two processes really ran.)

What must hold, and why not bit for bit: each process computes its share of every step and the gradients are summed
over the processes, so the sums run in another order (the processes' partial sums, then an all-reduce) over
batches padded to their own lengths. So

* the trained values equal the one-process values to `VALUE_TOL` in absolute value (they are unit-norm rows, entries
  up to about 0.5) and the per-step losses to a relative `LOSS_RTOL`;
* the evaluation forms the same batches on either side (whole batches dealt out), so the answers are identical and
  the metrics table is identical, byte for byte; the likelihood scores agree to `SCORE_TOL` nats and pick the same
  names.
"""
import json, os, socket, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from safetensors.torch import load_file
from tiny_setup import build_tiny_setup

CHILD = Path(__file__).resolve().with_name("_parallel_child.py")
TIMEOUT = 300
VALUE_TOL = 1e-5          # absolute, on entries of magnitude <= ~0.5 (measured: 7e-7)
LOSS_RTOL = 1e-5          # relative, per step (measured: 3e-7)
SCORE_TOL = 1e-3          # nats, summed log-probabilities of a name (measured: 5e-5)

@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    "Build the shared tiny setup once: corpus, synthclip, signals (saved), tiny VLM parts (saved)."
    return build_tiny_setup(tmp_path_factory.mktemp("distributed"), 47)

def _free_port() -> int:
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def run_child(setup:Path, out:Path, processes:int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, str(CHILD), str(setup), str(out)]
    if processes > 1:
        env["ACCELERATE_USE_CPU"] = "1"
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port())] + cmd[1:]
    return subprocess.Popen(cmd, env=env, cwd=setup, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

def finish(p:subprocess.Popen, what:str) -> str:
    try: log, _ = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill(); log, _ = p.communicate(); pytest.fail(f"{what}: ran longer than {TIMEOUT}s; log:\n{log[-3000:]}")
    assert p.returncode == 0, f"{what}: exited with {p.returncode}; log:\n{log[-4000:]}"
    return log

def test_two_processes_equal_one(setup, tmp_path):
    one, two = tmp_path/"one", tmp_path/"two"
    procs = {"one process": run_child(setup, one, 1), "two processes": run_child(setup, two, 2)}   # side by side: 2 cores
    logs = {k: finish(p, k) for k, p in procs.items()}
    for k, log in logs.items(): print(k, "|", " | ".join(l for l in log.splitlines() if ": done" in l))
    r1, r2 = (json.loads((d/"run.json").read_text()) for d in (one, two))
    assert (r1["processes"], r2["processes"], r2["train_processes"]) == (1, 2, 2), (r1, r2, logs["two processes"][-2000:])
    assert logs["two processes"].count(": done") == 2, logs["two processes"][-2000:]
    v1, v2 = (load_file(str(d/"values.safetensors"))["values"] for d in (one, two))
    gap = float((v1 - v2).abs().max())
    print(f"{r1['train_steps']} steps; values: max |diff| {gap:.2e} (entries up to {float(v1.abs().max()):.2f}); "
          f"losses: max rel diff {float(np.max(np.abs(np.subtract(r1['losses'], r2['losses'])) / np.abs(r1['losses']))):.2e}")
    assert gap <= VALUE_TOL, f"trained values differ by {gap:.3g} > {VALUE_TOL}"
    assert not torch.equal(v1, torch.zeros_like(v1)) and r1["losses"][0] != r1["losses"][-1]
    np.testing.assert_allclose(r2["losses"], r1["losses"], rtol=LOSS_RTOL)
    assert [a is None for a in r1["attn"]] == [a is None for a in r2["attn"]] and any(a is not None for a in r1["attn"])
    np.testing.assert_allclose([a for a in r2["attn"] if a is not None], [a for a in r1["attn"] if a is not None], rtol=1e-4)
    assert json.loads((one/"answers.json").read_text()) == json.loads((two/"answers.json").read_text())
    s1, s2 = np.load(one/"scores.npz"), np.load(two/"scores.npz")
    print("likelihood scores: max |diff| %.2e nats" % max(float(np.abs(s1[d] - s2[d]).max()) for d in s1.files))
    for d in s1.files:
        np.testing.assert_allclose(s2[d], s1[d], atol=SCORE_TOL, rtol=0)
        assert (s1[d].argmax(1) == s2[d].argmax(1)).all()
    m1, m2 = (one/"metrics.csv").read_bytes(), (two/"metrics.csv").read_bytes()
    assert m1 == m2, f"metrics tables differ:\n{pd.read_csv(one/'metrics.csv').compare(pd.read_csv(two/'metrics.csv'))}"
    assert len(pd.read_csv(one/"metrics.csv")) > 10
