"""Each exported module imports on its own in a fresh interpreter (a notebook's test cells can hide a missing import)."""
import subprocess, sys
from pathlib import Path
import pytest

MODULES = sorted(p.stem for p in (Path(__file__).resolve().parents[1]/"myvlm_art").glob("[a-z]*.py"))

@pytest.mark.parametrize("mod", MODULES)
def test_module_imports_alone(mod):
    r = subprocess.run([sys.executable, "-c", f"import myvlm_art.{mod}"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
