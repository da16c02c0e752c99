"""Interrupted concept training (issue #8): a run killed with SIGKILL resumes to exactly the uninterrupted result.

A real child process (`tests/_train_child.py`) runs `train_concepts` on a tiny setup (a 48-image SynthArt corpus,
a tiny synthclip, prototype signals and a tiny random VLM, built once per module), fp32, one thread, seed 0, with a
checkpoint after every step. The test

1. runs the child once uninterrupted (the reference values, losses and step count);
2. starts it in a fresh folder, watches `<out>/checkpoint/state.json` until its step reaches a randomly drawn step
   k1, waits a random 0-0.1 s more (so the kill does not always land just after a checkpoint was written) and kills
   the child with SIGKILL; asserts that nothing final was written (no `values.safetensors`, no `train.json`, no
   result file) and that a checkpoint survived; then starts the child again (it resumes) and kills it the same way
   at a second random step k2 later than the first kill;
3. starts the child a third time and lets it finish; asserts that its `train.json` records `resumed_from` equal to
   the two steps the killed runs left, and that the final concept values are bitwise equal to the uninterrupted
   run's (`torch.equal`, both the child's result file and every `*.safetensors` of the output folder), and so are
   the per-step losses.

The kill steps come from `random.Random(seed)`; the seed is `$MYVLM_ART_KILL_SEED` or a fresh one, and every
assertion message names it together with the drawn and the actual kill steps. Every wait has a timeout and a
child still running when the test fails is killed.
"""
import json, os, random, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest, torch
from safetensors.torch import load_file
from tiny_setup import build_tiny_setup

CHILD = Path(__file__).resolve().with_name("_train_child.py")
TIMEOUT = 240                  # seconds, for every wait on a child
POLL = 0.005                   # seconds between looks at the checkpoint
MAX_DELAY = 0.1                # the kill comes up to this long after the checkpoint reached the drawn step
N_KILLS = 2
SEED = int(os.environ.get("MYVLM_ART_KILL_SEED") or random.SystemRandom().randrange(2**31))

@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    "Build the shared tiny setup once: corpus, synthclip, signals (saved), tiny VLM parts (saved)."
    return build_tiny_setup(tmp_path_factory.mktemp("interrupt"), 48)

class Child:
    "One run of `_train_child.py`, its output in `<out>.log`."
    def __init__(self, setup:Path, out:Path):
        self.out, self.result, self.log = out, out.with_name(out.name + "-result.safetensors"), out.with_name(out.name + ".log")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
               "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        with open(self.log, "ab") as f:
            self.p = subprocess.Popen([sys.executable, str(CHILD), str(setup), str(out), str(self.result)],
                                      stdout=f, stderr=subprocess.STDOUT, env=env, cwd=setup)

    def tail(self, n=3000) -> str:
        try: return self.log.read_text(errors="replace")[-n:]
        except OSError: return "(no log)"

    def kill(self):
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGKILL)
            self.p.wait(timeout=TIMEOUT)

    def wait(self, why:str):
        try: rc = self.p.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill(); pytest.fail(f"{why}: the child ran longer than {TIMEOUT}s; log:\n{self.tail()}")
        assert rc == 0, f"{why}: the child exited with {rc}; log:\n{self.tail()}"

def checkpoint_step(out:Path) -> int|None:
    "The step of `<out>/checkpoint` (None while there is none, or it is being replaced)."
    try: return json.loads((out/"checkpoint"/"state.json").read_text())["step"]
    except (OSError, ValueError, KeyError, TypeError): return None

def kill_at(child:Child, k:int, delay:float, why:str) -> int:
    "Wait until the child's checkpoint holds step >= k, then `delay` seconds more, SIGKILL it; return the step its checkpoint holds then."
    deadline = time.monotonic() + TIMEOUT
    while (s := checkpoint_step(child.out)) is None or s < k:
        if child.p.poll() is not None:
            pytest.fail(f"{why}: the child exited ({child.p.returncode}) before its checkpoint reached step {k} "
                        f"(checkpoint at {s}); log:\n{child.tail()}")
        if time.monotonic() > deadline:
            child.kill(); pytest.fail(f"{why}: no checkpoint at step >= {k} after {TIMEOUT}s (at {s}); log:\n{child.tail()}")
        time.sleep(POLL)
    time.sleep(delay)                                    # somewhere inside a later step, not only just after a save
    os.kill(child.p.pid, signal.SIGKILL)
    try: rc = child.p.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired: pytest.fail(f"{why}: the child did not die within {TIMEOUT}s of SIGKILL")
    assert rc == -signal.SIGKILL, f"{why}: the child exited with {rc} before the kill reached it; log:\n{child.tail()}"
    left = checkpoint_step(child.out)
    assert left is not None and left >= s, (f"{why}: after the kill, {child.out/'checkpoint'} holds step {left} (seen {s} before); "
                                            f"folder now: {sorted(p.name for p in child.out.iterdir())}")
    return left

def test_sigkill_and_resume_equal_uninterrupted(setup, tmp_path):
    children = []
    def start(out:Path) -> Child:
        children.append(Child(setup, out)); return children[-1]
    try:
        ref = start(tmp_path/"uninterrupted"); ref.wait("uninterrupted run")
        ref_rec = json.loads((ref.out/"train.json").read_text())
        ref_values = load_file(str(ref.result))["values"]
        total = ref_rec["total_steps"]
        assert total >= 8 and ref_rec["resumed_from"] == [], ref_rec

        rng = random.Random(SEED); out = tmp_path/"interrupted"
        targets, killed = [], []
        msg = lambda: f"seed {SEED} (MYVLM_ART_KILL_SEED), {total} steps, kill targets (step, delay s) {targets}, killed at steps {killed}"
        lo = 1
        for i in range(N_KILLS):
            hi = total // 2 if i == 0 else total - 3      # room left after each kill: the child must not finish first
            assert lo <= hi, f"no step left to kill at: {msg()}"
            targets.append((rng.randint(lo, hi), round(rng.uniform(0, MAX_DELAY), 3)))
            killed.append(kill_at(start(out), *targets[-1], f"kill {i + 1}: {msg()}"))
            for f in (out/"values.safetensors", out/"train.json", children[-1].result):
                assert not f.exists(), f"{f.name} written by a run killed before its end: {msg()}"
            lo = killed[-1] + 1

        final = start(out); final.wait(f"resumed run: {msg()}")
        rec = json.loads((out/"train.json").read_text())
        assert rec["resumed_from"] == killed, f"train.json resumed_from {rec['resumed_from']}: {msg()}"
        assert rec["step"] == total and not (out/"checkpoint").exists(), msg()
        values = load_file(str(final.result))["values"]
        assert torch.equal(values, ref_values), f"resumed values differ (max |diff| {(values - ref_values).abs().max().item():.3g}): {msg()}"
        for f in sorted(ref.out.glob("*.safetensors")):  # values.safetensors (and any other tensor artifact of the run)
            assert (out/f.name).is_file(), f"no {f.name} after the resumed run: {msg()}"
            a, b = load_file(str(f)), load_file(str(out/f.name))
            assert a.keys() == b.keys() and all(torch.equal(a[t], b[t]) for t in a), f"{f.name} differs: {msg()}"
        assert rec["losses"] == ref_rec["losses"], f"per-step losses differ: {msg()}"
        print(f"interrupted and resumed: {msg()}")
    finally:
        for c in children: c.kill()
