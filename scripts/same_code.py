"""Check that a notebook refactor changed no code (issue #21): the package's syntax trees against a git revision.

Usage: .venv/bin/python scripts/same_code.py REV [module ...]        # per module: same top-level statements, same order
       .venv/bin/python scripts/same_code.py REV --moved              # package-wide: same statements, wherever they live

Comments, blank lines, nbdev's `# %%` cell markers and `__all__` are ignored (splitting a cell changes only those);
A module's statements are compared as a multiset (a definition may move next to its test; its
module then runs the same statements in another order, which its tests check). `--moved` also ignores imports, for definitions moved to another module. Prints what differs; exit status 1 if anything does.
"""
import ast, subprocess, sys
from collections import Counter
from pathlib import Path

PKG = "myvlm_art"

def statements(src:str, imports:bool=True) -> list:
    out = []
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets): continue
        if not imports and isinstance(node, (ast.Import, ast.ImportFrom)): continue
        out.append(ast.dump(node))
    return out

def old_source(rev:str, path:str) -> str|None:
    r = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None

def modules(rev:str) -> set:
    r = subprocess.run(["git", "ls-tree", "--name-only", rev, f"{PKG}/"], capture_output=True, text=True, check=True)
    return {Path(p).stem for p in r.stdout.split()} | {p.stem for p in Path(PKG).glob("*.py")}

def name(dump:str) -> str:
    return dump.split("name='")[1].split("'")[0] if "name='" in dump else dump[:80]

if __name__ == "__main__":
    if len(sys.argv) < 2: sys.exit(__doc__)
    rev, rest = sys.argv[1], sys.argv[2:]
    names = sorted(m for m in modules(rev) if m not in ("_modidx",))
    bad = 0
    if rest == ["--moved"]:
        old, new = Counter(), Counter()
        for m in names:
            o = old_source(rev, f"{PKG}/{m}.py"); p = Path(PKG)/f"{m}.py"
            if o is not None: old.update(statements(o, imports=False))
            if p.exists(): new.update(statements(p.read_text(), imports=False))
        for d in (old - new): print(f"only in {rev}: {name(d)}"); bad += 1
        for d in (new - old): print(f"only now: {name(d)}"); bad += 1
    else:
        for m in (rest or names):
            o = old_source(rev, f"{PKG}/{m}.py"); p = Path(PKG)/f"{m}.py"
            if o is None or not p.exists(): print(f"{m}: {'new' if o is None else 'removed'}"); bad += 1; continue
            a, b = Counter(statements(o)), Counter(statements(p.read_text()))
            if a != b:
                bad += 1; diff = [name(x) for x in (b - a)] + [name(x) for x in (a - b)]
                print(f"{m}: differs ({', '.join(sorted(set(diff))[:8])})")
    print("same code" if not bad else f"{bad} difference(s)"); sys.exit(bool(bad))
