"""Run every notebook's inline tests through pytest, so CI counts each notebook as a test.

Component notebooks (`nbs/NN_*.ipynb`) and experiment notebooks (`nbs/experiments/*.ipynb`, with their small
defaults) are executed cell by cell by `nbdev.test.test_nb`, skipping cells flagged `#| notest` or `#| slow`.
"""
from pathlib import Path
import pytest
from nbdev.test import test_nb as run_nb

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT/"nbs").glob("[0-9]*.ipynb")) + sorted((ROOT/"nbs"/"experiments").glob("*.ipynb"))

@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT/"nbs")))
def test_notebook(nb):
    ok, secs = run_nb(nb, skip_flags=["notest", "slow"], cell_timeout=900)
    assert ok, f"{nb.name} failed (see the cell traceback above)"

def test_found_notebooks():
    assert len(NOTEBOOKS) >= 3

def test_experiments_take_parameters():
    "Every experiment notebook has a cell tagged `parameters` (the study runner and `make report` pass theirs through it)."
    from myvlm_art.runner import notebook_parameters
    for nb in sorted((ROOT/"nbs"/"experiments").glob("*.ipynb")):
        assert notebook_parameters(nb).get("root") == "", nb.name
