"""Notebook shape metrics (issue #21): exported-cell length, definitions per exported cell, tests at the end, kept outputs.

Usage: .venv/bin/python scripts/notebook_metrics.py [nbs]
- exported cell: a code cell with `#| export` (or `#|export`); its length in non-blank lines
- definitions: top-level `def`, `class` and `@patch`-decorated functions (ast) in an exported cell
- "tests at the end": more than half of the notebook's test cells (code cells without export that call test_* or assert)
  come after its last exported cell
- kept outputs: code cells whose outputs are non-empty in the committed notebook
"""
import ast, json, statistics, sys
from pathlib import Path

def cells(nb): return [c for c in nb["cells"] if c["cell_type"] == "code"]
def src(c): return "".join(c["source"])
def exported(c): return any(l.strip().replace(" ", "") in ("#|export", "#|exporti") for l in src(c).splitlines()[:3])
def n_lines(c): return sum(1 for l in src(c).splitlines() if l.strip() and not l.strip().startswith("#|"))
def n_defs(c):
    try: tree = ast.parse(src(c))
    except SyntaxError: return 0
    return sum(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for n in tree.body)
def is_test(c): return not exported(c) and any(k in src(c) for k in ("test_eq", "test_fail", "test_close", "test_ne", "assert "))

def metrics(folder="nbs"):
    rows = []
    for p in sorted(Path(folder).glob("[0-9]*.ipynb")):
        nb = json.loads(p.read_text()); cs = cells(nb)
        ex = [i for i, c in enumerate(cs) if exported(c)]
        tests = [i for i, c in enumerate(cs) if is_test(c)]
        late = sum(i > ex[-1] for i in tests) if ex else 0
        rows.append({"notebook": p.name, "exported": len(ex), "lines": [n_lines(cs[i]) for i in ex], "defs": [n_defs(cs[i]) for i in ex],
                     "tests": len(tests), "tests_at_end": bool(tests) and late > len(tests) / 2,
                     "kept_outputs": sum(bool(c.get("outputs")) for c in cs)})
    lines = [l for r in rows for l in r["lines"]]; defs = [d for r in rows for d in r["defs"]]
    return rows, {"notebooks": len(rows), "exported_cells": len(lines), "median_exported_lines": statistics.median(lines), "max_exported_lines": max(lines),
                  "mean_defs_per_exported_cell": round(statistics.mean(defs), 2), "cells_with_more_than_one_def": sum(d > 1 for d in defs),
                  "notebooks_with_tests_at_end": [r["notebook"] for r in rows if r["tests_at_end"]], "cells_with_kept_outputs": sum(r["kept_outputs"] for r in rows)}

if __name__ == "__main__":
    rows, summary = metrics(sys.argv[1] if len(sys.argv) > 1 else "nbs")
    for r in rows: print(f"{r['notebook']:24s} exported {r['exported']:3d}  median {statistics.median(r['lines']) if r['lines'] else 0:5.1f}  max {max(r['lines'], default=0):4d}  defs/cell {statistics.mean(r['defs']) if r['defs'] else 0:4.2f}  tests at end {r['tests_at_end']}  outputs {r['kept_outputs']}")
    print(json.dumps(summary, indent=1))
