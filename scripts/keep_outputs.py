"""Run notebooks and keep the outputs a reader should see (issue #21), nothing else.

Usage: .venv/bin/python scripts/keep_outputs.py nbs/02_synthart.ipynb [more notebooks]

A code cell whose metadata tags include `keep-output` keeps what it displayed (a painting grid, a `Selection`, a batch,
a training curve); every other cell's outputs are cleared, so tests, progress bars and warnings never land in git.
The notebook runs top to bottom in a fresh kernel from its own folder (as `nbdev-test` runs it); on any error nothing
is written. The result is written to a temporary file and renamed, then `nbdev-clean` strips execution counts and
metadata (outputs survive it: `clear_all` is off). Keep the tagged cells small and deterministic (a fixed seed,
a fixed size), so that a rerun gives the same bytes and no diff.
"""
import copy, os, subprocess, sys, tempfile
from pathlib import Path
import nbformat
from nbclient import NotebookClient

TAG = "keep-output"
KEEP = {"display_data", "execute_result", "stream"}

def kept(cell) -> bool: return cell.cell_type == "code" and TAG in cell.metadata.get("tags", [])

def keep_outputs(path:Path, timeout:int=600) -> int:
    "Execute `path`; keep the tagged cells' outputs (stderr dropped), clear the rest; returns the number of kept cells."
    nb = nbformat.read(path, as_version=4)
    run = copy.deepcopy(nb)
    NotebookClient(run, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    n = 0
    for cell, done in zip(nb.cells, run.cells):
        if cell.cell_type != "code": continue
        cell.outputs = [o for o in done.outputs if o.output_type in KEEP and o.get("name") != "stderr"] if kept(cell) else []
        n += bool(cell.outputs)
    fd, tmp = tempfile.mkstemp(suffix=".ipynb", dir=path.parent); os.close(fd)
    try:
        nbformat.write(nb, tmp); os.replace(tmp, path)
    finally:
        if os.path.exists(tmp): os.unlink(tmp)
    subprocess.run([str(Path(sys.executable).parent/"nbdev-clean"), "--fname", str(path)], check=True)
    return n

if __name__ == "__main__":
    if len(sys.argv) < 2: sys.exit(__doc__)
    for p in sys.argv[1:]:
        path = Path(p)
        if not path.is_file(): sys.exit(f"{p}: no such notebook")
        print(f"{p}: kept the outputs of {keep_outputs(path)} cell(s)")
