"""One SmolLM2 conversion per machine: linking the project's finished copy into another root vs converting the GGUF again.

Usage: .venv/bin/python benchmarks/model_copy.py [--quick]      (or through benchmarks/run_all.py --only model_copy)

`vlm.ensure_smollm2` de-quantises the packaged GGUF to an fp32 safetensors folder under a root's `data/models/`. A
second root on the same machine (the quick preset's `data/quick/`, a test's temporary project) links the project's
finished copy of the same GGUF instead (hard links, a copy where links fail). Both paths are timed side by side,
interleaved, each into a fresh temporary root: `convert` is `ensure_smollm2(root, force=True)`, `link` is
`ensure_smollm2(root)` with the project's copy present. The linked folder must hold the same files, byte for byte.
Goal: link at least 10x faster than convert.
"""
from __future__ import annotations
import hashlib, shutil, statistics, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import main, row

NAME = "model_copy"
GOAL = 10.0

def _digest(folder:Path) -> dict:
    "`{file name: sha256}` of a folder's files."
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir()) if f.is_file()}

def _timed(fn) -> tuple[float, Path]:
    t = time.perf_counter(); out = fn(); return time.perf_counter() - t, out

def run(quick:bool=False) -> list:
    from myvlm_art.core import Paths
    from myvlm_art.vlm import ensure_smollm2
    t0 = time.perf_counter()
    project = ensure_smollm2(Paths.default())                   # the project's copy (converted here if absent)
    want = _digest(project)
    times = {"convert": [], "link": []}
    for _ in range(1 if quick else 3):
        for how in ("convert", "link"):                          # interleaved: the machine's drift hits both
            root = Path(tempfile.mkdtemp(prefix=f"bench-{how}-"))
            try:
                s, out = _timed(lambda: ensure_smollm2(Paths(root), force=how == "convert"))
                if _digest(out) != want and how == "link": raise AssertionError(f"{out}: the linked copy differs from {project}")
                times[how].append(s)
            finally: shutil.rmtree(root, ignore_errors=True)
    conv, link = statistics.median(times["convert"]), statistics.median(times["link"])
    note = f"median of {len(times['link'])} interleaved pairs; fresh temporary root each"
    print(f"  convert {conv:.2f} s   link {link:.3f} s   convert/link {conv / link:.0f}x", flush=True)
    return [row(NAME, "smollm2-135m", "convert_s", conv, notes=note), row(NAME, "smollm2-135m", "link_s", link, notes=note),
            row(NAME, "smollm2-135m", "speedup_convert_over_link", conv / link, goal=GOAL, notes="time ratio, measured side by side"),
            row(NAME, "all", "runtime_s", time.perf_counter() - t0, notes=f"quick={quick}")]

if __name__ == "__main__":
    main(run, NAME, __doc__)
