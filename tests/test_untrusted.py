"""Untrusted files and text never run code: no unsafe deserialisation or eval/exec in the package, malicious or
broken checkpoints are refused by every loader with a one-line library error, and model output is only ever parsed.

(a) `test_no_unsafe_calls`: an `ast` scan of every `myvlm_art/*.py` for calls that can execute code from data.
(b) Crafted checkpoints (a `__reduce__` payload that would create a marker file; a pickle bomb; truncated,
    mislabelled and wrong-shape safetensors) against each public loader that reads a checkpoint.
(c) Answers containing Python code are parsed as plain text (misses), with eval/exec booby-trapped.
The bugs this file first pinned as strict xfails (a pickle bomb's MemoryError and a cut zip's OSError escaping
`core.load_checkpoint`; 1-D or missing prototype tensors; EffNet's multi-line size-mismatch error) are fixed in the
library; their tests are now plain regression tests.
"""
from __future__ import annotations
import ast, builtins, json, os, pickle, subprocess, textwrap
from pathlib import Path

import pytest, torch

from myvlm_art.core import CheckpointError, MyVLMArtError, load_checkpoint, project_root, save_checkpoint
from myvlm_art.prototypes import PrototypeHead

PKG = Path(__file__).resolve().parents[1]/"myvlm_art"

def one_line(e: BaseException) -> str:
    msg = str(e)
    assert "\n" not in msg and "\r" not in msg, f"multi-line error: {msg!r}"
    return msg

# ---------------------------------------------------------------------------------------------------------
# (a) static scan

UNSAFE_ALWAYS = {"pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads", "cPickle.load", "cPickle.loads",
                 "dill.load", "dill.loads", "cloudpickle.load", "cloudpickle.loads", "joblib.load", "marshal.load", "marshal.loads",
                 "shelve.open", "pandas.read_pickle", "torch.jit.load", "yaml.unsafe_load", "yaml.full_load", "jsonpickle.decode",
                 "eval", "exec", "builtins.eval", "builtins.exec", "os.system",
                 "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"}
DYNAMIC = {"compile", "builtins.compile", "__import__", "importlib.import_module"}   # unsafe only with a non-literal argument

def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name: return k.value
    return None

def _is_const(node, value) -> bool: return isinstance(node, ast.Constant) and node.value is value

def unsafe_calls(source: str, filename: str = "<src>") -> list[str]:
    "`file:line: what` for every call in `source` that could execute code coming from data."
    tree = ast.parse(source, filename)
    alias = {}                                                     # local name -> dotted origin (module-wide approximation)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names: alias[(a.asname or a.name).split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names: alias[a.asname or a.name] = f"{node.module}.{a.name}"
    def dotted(f):
        if isinstance(f, ast.Name): return alias.get(f.id, f.id)
        if isinstance(f, ast.Attribute):
            base = dotted(f.value)
            return f"{base}.{f.attr}" if base else None
        return None
    out = []
    for node in sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset)):
        name = dotted(node.func)
        if name is None: continue
        name = {"np.load": "numpy.load", "pd.read_pickle": "pandas.read_pickle"}.get(name, name)
        where = f"{filename}:{node.lineno}"
        if name in UNSAFE_ALWAYS and not (name in ("eval", "exec") and isinstance(node.func, ast.Attribute)):
            out.append(f"{where}: {name}(...)")
        elif name in DYNAMIC and not (isinstance(node.func, ast.Attribute) and name in ("compile", "__import__")) \
                and not (node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.append(f"{where}: {name}(...) with a non-literal argument")
        elif name == "torch.load" and not _is_const(_kw(node, "weights_only"), True):
            out.append(f"{where}: torch.load(...) without weights_only=True")
        elif name == "numpy.load" and not (_kw(node, "allow_pickle") is None or _is_const(_kw(node, "allow_pickle"), False)):
            out.append(f"{where}: numpy.load(...) with allow_pickle")
        elif name == "yaml.load" and not (isinstance(_kw(node, "Loader"), (ast.Attribute, ast.Name))
                                          and dotted(_kw(node, "Loader")).split(".")[-1] in ("SafeLoader", "CSafeLoader", "BaseLoader")):
            out.append(f"{where}: yaml.load(...) without a safe Loader")
        elif name.startswith("subprocess.") and _is_const(_kw(node, "shell"), True):
            out.append(f"{where}: {name}(..., shell=True)")
    return out

def test_scanner_finds_what_it_should():
    "The scanner itself: every unsafe form is caught, and look-alikes in strings, comments and methods are not."
    bad = textwrap.dedent("""
        import pickle, torch, yaml, subprocess
        import pickle as pk
        import numpy as np
        from pickle import loads as L
        pickle.load(f); pk.loads(b); L(b)
        torch.load(p); torch.load(p, weights_only=False); torch.load(p, map_location="cpu")
        eval("1"); exec("x = 1"); __import__(name)
        np.load(p, allow_pickle=True); yaml.load(s); subprocess.run(c, shell=True)
    """)
    found = unsafe_calls(bad, "bad.py")
    assert [f.split(":")[1] for f in found] == ["6", "6", "6", "7", "7", "7", "8", "8", "8", "9", "9", "9"], found
    ok = textwrap.dedent("""
        import torch, re, numpy as np, yaml, json
        # pickle.load(f) eval(x) in a comment
        s = "torch.load(p) eval('1') exec('x')"
        model.eval(); re.compile(x); obj.exec(); torch.load(p, map_location="cpu", weights_only=True); __import__("types")
        np.load(p); np.load(p, allow_pickle=False); yaml.safe_load(s); yaml.load(s, Loader=yaml.SafeLoader); json.loads(s)
    """)
    assert unsafe_calls(ok, "ok.py") == []

def test_no_unsafe_calls():
    "No `pickle.load(s)`, `torch.load` without `weights_only=True`, `eval`/`exec`, dynamic `compile`/`__import__`, `numpy.load(allow_pickle=True)`, unsafe YAML or shell=True in the package."
    files = sorted(PKG.glob("*.py"))
    assert len(files) >= 10
    found = [f for p in files for f in unsafe_calls(p.read_text(encoding="utf-8"), str(p.relative_to(PKG.parent)))]
    assert not found, "unsafe calls:\n" + "\n".join(found)

# ---------------------------------------------------------------------------------------------------------
# (b) crafted checkpoints

class _Payload:
    "Unpickling this runs `fn(*args)`."
    def __init__(self, fn, *args): self.fn, self.args = fn, args
    def __reduce__(self): return (self.fn, self.args)

def payload_files(d: Path, marker: Path) -> dict[str, Path]:
    "Checkpoint files that create `marker` (or worse) if anything unpickles them unsafely."
    d.mkdir(parents=True, exist_ok=True)
    sh = _Payload(os.system, f"touch {marker}")
    opener = _Payload(open, str(marker), "w")
    exe = _Payload(exec, f"open({str(marker)!r}, 'w').close()")
    popen = _Payload(subprocess.Popen, ["touch", str(marker)])
    out = {}
    torch.save({"prototypes.artist": sh}, d/"zip_system.pt"); out["torch.save zip, os.system"] = d/"zip_system.pt"
    torch.save({"w": torch.zeros(2), "__metadata__": {"kind": "prototype-head", "x": opener}}, d/"zip_open.pth"); out["torch.save zip, open() in metadata"] = d/"zip_open.pth"
    torch.save(exe, d/"zip_exec.bin"); out["torch.save zip, exec"] = d/"zip_exec.bin"
    (d/"raw_p2.pt").write_bytes(pickle.dumps({"w": popen}, protocol=2)); out["raw pickle protocol 2, Popen"] = d/"raw_p2.pt"
    (d/"raw_p5.pt").write_bytes(pickle.dumps(sh, protocol=5)); out["raw pickle protocol 5, os.system"] = d/"raw_p5.pt"
    (d/"pickle.safetensors").write_bytes(pickle.dumps(sh)); out["pickle bytes named .safetensors"] = d/"pickle.safetensors"
    return out

def pickle_bomb(d: Path) -> Path:
    "A weights_only-legal pickle (bytearray is an allowed global) asking for 10**17 bytes (more than any address space): MemoryError at load."
    torch.save({"w": _Payload(bytearray, 10**17)}, d/"bomb.pt"); return d/"bomb.pt"

@pytest.fixture(scope="module")
def head_file(tmp_path_factory) -> Path:
    h = PrototypeHead({"artist": ["a", "b"], "style": ["x", "y", "z"]}, {"artist": torch.randn(2, 4), "style": torch.randn(3, 4)}, "enc")
    return h.save(tmp_path_factory.mktemp("head")/"head.safetensors")

def _effnet(p): from myvlm_art.encoders import EffNetLite0Encoder; return EffNetLite0Encoder(weights=p)

def _align_opt(p):
    "load_align_checkpoint on a folder whose optimizer.pt is `p` (state.json and fingerprints consistent, so the .pt is reached)."
    from myvlm_art.align import load_align_checkpoint
    folder = p.parent/f"ckpt_{p.stem}"; folder.mkdir(exist_ok=True)
    want = {"config": {}, "data_fingerprint": "d", "vision_fingerprint": "v", "lm_fingerprint": "l"}
    (folder/"state.json").write_text(json.dumps({"step": 1, **want}))
    for n in ("optimizer.pt", "scheduler.pt"): (folder/n).write_bytes(p.read_bytes())
    class NoVLM:
        def load_projector(self, path): raise AssertionError("the projector must not be reached before the .pt files are checked")
    return load_align_checkpoint(folder, NoVLM(), None, None, want)

def _projector(p):
    "VLM.load_projector: its first act is load_checkpoint, so a malicious file is refused before the VLM is touched."
    from myvlm_art.vlm import VLM
    return VLM.load_projector(object(), p)

def _synthclip(p):
    "load_synthclip on a folder whose projection.safetensors is `p`."
    from myvlm_art.synthclip import load_synthclip, SYNTHCLIP_FILES
    folder = p.parent/f"sc_{p.stem}_{p.suffix[1:]}"
    for f in SYNTHCLIP_FILES: (folder/f).parent.mkdir(parents=True, exist_ok=True); (folder/f).write_bytes(b"{}")
    (folder/"projection.safetensors").write_bytes(p.read_bytes())
    return load_synthclip(folder)

LOADERS = {"load_checkpoint": load_checkpoint, "PrototypeHead.load": PrototypeHead.load, "EffNetLite0Encoder": _effnet,
           "align.load_align_checkpoint": _align_opt, "VLM.load_projector": _projector, "load_synthclip": _synthclip}

@pytest.mark.parametrize("loader", list(LOADERS))
def test_code_execution_payloads_are_refused(loader, tmp_path):
    "Every loader refuses each `__reduce__` payload with a one-line CheckpointError; the payload never runs."
    marker = tmp_path/"PWNED"
    files = payload_files(tmp_path/"ckpts", marker)
    for what, p in files.items():
        with pytest.raises(MyVLMArtError) as e: LOADERS[loader](p)
        assert isinstance(e.value, CheckpointError), (what, e.value)
        msg = one_line(e.value)
        assert str(p.parent) in msg, (what, msg)                    # names the file it refused
        assert not marker.exists(), f"{what}: the payload ran under {loader}"

@pytest.mark.parametrize("loader", ["load_checkpoint", "PrototypeHead.load", "EffNetLite0Encoder", "align.load_align_checkpoint"])
def test_pickle_bomb(loader, tmp_path):
    "A pickle that only uses weights_only-allowed globals but asks for 10**17 bytes is a CheckpointError naming the file, not a MemoryError."
    p = pickle_bomb(tmp_path)
    with pytest.raises(CheckpointError) as e: LOADERS[loader](p)
    msg = one_line(e.value)
    assert str(p.parent) in msg and "MemoryError" in msg, msg

def test_refusal_names_the_blocked_global(tmp_path):
    "load_checkpoint's refusal carries the unpickler's own reason (the blocked global), not torch's generic first line of advice."
    marker = tmp_path/"PWNED"
    p = payload_files(tmp_path/"ckpts", marker)["torch.save zip, os.system"]
    with pytest.raises(CheckpointError) as e: load_checkpoint(p)
    msg = one_line(e.value)
    assert "GLOBAL posix.system" in msg and "In PyTorch 2.6" not in msg, msg
    assert not marker.exists()

def _truncate(src: Path, dst: Path, n: int) -> Path:
    dst.write_bytes(src.read_bytes()[:n]); return dst

@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("cut", [0, 7, 8, 40, "half", "minus1"])
def test_truncated_safetensors(loader, cut, head_file, tmp_path):
    "A safetensors file cut anywhere is a one-line CheckpointError naming the file, for every loader."
    b = head_file.read_bytes(); n = {"half": len(b) // 2, "minus1": len(b) - 1}.get(cut, cut)
    p = _truncate(head_file, tmp_path/"cut.safetensors", n)
    with pytest.raises(CheckpointError) as e: LOADERS[loader](p)
    assert str(tmp_path) in one_line(e.value)

@pytest.mark.parametrize("loader", ["load_checkpoint", "PrototypeHead.load", "EffNetLite0Encoder", "align.load_align_checkpoint", "VLM.load_projector"])
@pytest.mark.parametrize("cut", [0, 10, "half", "minus1"])
def test_truncated_pt(loader, cut, tmp_path):
    "A torch.save file cut anywhere (a zip cut after its header makes torch raise OSError(22)) is a one-line CheckpointError naming the file."
    src = tmp_path/"full.pt"; torch.save({"w": torch.randn(64, 64)}, src)
    b = src.read_bytes(); n = {"half": len(b) // 2, "minus1": len(b) - 1}.get(cut, cut)
    p = _truncate(src, tmp_path/"cut.pt", n)
    if loader == "VLM.load_projector":
        pytest.importorskip("myvlm_art.vlm")
    with pytest.raises(CheckpointError) as e: LOADERS[loader](p)
    assert str(tmp_path) in one_line(e.value)

# wrong-shape safetensors, per loader

def test_wrong_shape_load_checkpoint(tmp_path):
    "load_checkpoint checks metadata, not shapes (its callers do): a mislabelled file is refused, a wrong-shape one is returned as is."
    p = save_checkpoint(tmp_path/"w.safetensors", {"x": torch.zeros(3, 5)}, {"kind": "other"})
    with pytest.raises(CheckpointError) as e: load_checkpoint(p, expect={"kind": "prototype-head"})
    assert "w.safetensors" in one_line(e.value) and "'other'" in str(e.value)
    t, meta = load_checkpoint(p); assert tuple(t["x"].shape) == (3, 5) and meta == {"kind": "other"}

HEAD_META = {"kind": "prototype-head", "encoder": "enc", "dims": ["artist", "style"], "concepts": {"artist": ["a", "b"], "style": ["x", "y", "z"]}, "dim": 4}

@pytest.mark.parametrize("tensors,expect_in", [
    pytest.param({"prototypes.artist": torch.randn(2, 5), "prototypes.style": torch.randn(3, 5)}, "has shape (2, 5), expected (2, 4)", id="D"),
    pytest.param({"prototypes.artist": torch.randn(2, 4), "prototypes.style": torch.randn(3, 4, 1)}, "prototypes.style has shape (3, 4, 1)", id="3-D"),
    pytest.param({"prototypes.artist": torch.randn(3, 4), "prototypes.style": torch.randn(3, 4)}, "prototypes.artist has shape (3, 4), expected (2, 4)", id="rows"),
    pytest.param({"prototypes.artist": torch.randn(2), "prototypes.style": torch.randn(3)}, "prototypes.artist has shape (2,), expected (2, 4)", id="1-D"),
    pytest.param({"prototypes.artist": torch.randn(2, 4)}, "tensor prototypes.style is missing", id="missing-tensor"),
    pytest.param({"prototypes.artist": torch.full((2, 4), float("nan")), "prototypes.style": torch.randn(3, 4)}, "prototypes.artist contains NaN", id="NaN"),
])
def test_wrong_shape_prototype_head(tensors, expect_in, tmp_path):
    "PrototypeHead.load refuses prototypes whose shape or values do not match its metadata: a one-line CheckpointError naming the file."
    p = save_checkpoint(tmp_path/"head.safetensors", tensors, HEAD_META)
    with pytest.raises(CheckpointError) as e: PrototypeHead.load(p)
    msg = one_line(e.value)
    assert expect_in in msg and str(p) in msg, msg

@pytest.mark.parametrize("meta,expect_in", [
    pytest.param({"kind": "prototype-head"}, "metadata lacks ['encoder', 'dims', 'concepts', 'dim']", id="only-kind"),
    pytest.param({**HEAD_META, "dims": []}, "dims must be a non-empty list", id="no-dims"),
    pytest.param({**HEAD_META, "dims": "artist"}, "dims must be a non-empty list", id="dims-string"),
    pytest.param({**HEAD_META, "dim": "4"}, "dim must be a positive integer, got '4'", id="dim-string"),
    pytest.param({**HEAD_META, "concepts": {"artist": ["a", "b"]}}, "concepts must map each of ['artist', 'style']", id="concepts-short"),
    pytest.param({**HEAD_META, "concepts": {"artist": "ab", "style": ["x", "y", "z"]}}, "concepts['artist'] must be a non-empty list", id="concepts-string"),
])
def test_bad_metadata_prototype_head(meta, expect_in, tmp_path):
    "PrototypeHead.load refuses metadata that does not describe a head, in one line naming the file and the fault."
    p = save_checkpoint(tmp_path/"head.safetensors", {"prototypes.artist": torch.randn(2, 4), "prototypes.style": torch.randn(3, 4)}, meta)
    with pytest.raises(CheckpointError) as e: PrototypeHead.load(p)
    msg = one_line(e.value)
    assert expect_in in msg and str(p) in msg, msg

def test_wrong_shape_effnet(tmp_path):
    "A tensor of the wrong shape (load_state_dict's multi-line size-mismatch RuntimeError) is a one-line CheckpointError naming file and tensor."
    p = save_checkpoint(tmp_path/"effnet.safetensors", {"_conv_stem.weight": torch.zeros(3)})
    with pytest.raises(CheckpointError) as e: _effnet(p)
    msg = one_line(e.value)
    assert "effnet.safetensors" in msg and "size mismatch for _conv_stem.weight" in msg, msg

def test_wrong_tensors_effnet(tmp_path):
    "Tensors with other names are refused in one line."
    p = save_checkpoint(tmp_path/"effnet.safetensors", {"foo": torch.zeros(3)})
    with pytest.raises(CheckpointError) as e: _effnet(p)
    assert "effnet.safetensors" in one_line(e.value) and "not EfficientNet-Lite0 weights" in str(e.value)

def test_wrong_shape_synthclip(tmp_path):
    "load_synthclip refuses a projection whose shape does not match the recorded config."
    from transformers import CLIPVisionConfig, CLIPVisionModel
    from myvlm_art.core import config_to_dict, write_json_atomic
    from myvlm_art.synthclip import SynthClipConfig, load_synthclip
    cfg = SynthClipConfig(image_size=16, patch_size=8, hidden_size=8, layers=1, heads=1, intermediate_size=8, proj_dim=4).validate()
    folder = tmp_path/"synthclip"
    CLIPVisionModel(CLIPVisionConfig(image_size=16, patch_size=8, hidden_size=8, intermediate_size=8, num_hidden_layers=1,
                                     num_attention_heads=1)).save_pretrained(folder/"vision")
    write_json_atomic(folder/"synthclip.json", {})
    save_checkpoint(folder/"projection.safetensors", {"proj.weight": torch.zeros(3, 8), "logit_scale": torch.zeros(())},
                    {"encoder": "synthclip", "config": config_to_dict(cfg), "proj_dim": 4})
    with pytest.raises(CheckpointError) as e: load_synthclip(folder)
    assert "projection is not [4, 8]" in one_line(e.value)

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    if not (project_root()/"data"/"models"/"smollm2-135m-instruct").exists(): pytest.skip("needs the converted SmolLM2 copy (make data)")
    from myvlm_art.vlm import tiny_vlm
    return tiny_vlm()

def test_wrong_shape_projector(tiny, tmp_path):
    "VLM.load_projector refuses a projector of another shape, and one made for another tower."
    tensors, meta = tiny.projector_state()
    bad = dict(tensors); bad["linear_1.weight"] = torch.zeros(3, 3)
    p = save_checkpoint(tmp_path/"proj.safetensors", bad, meta)
    with pytest.raises(CheckpointError) as e: tiny.load_projector(p)
    assert "proj.safetensors" in one_line(e.value) and "linear_1.weight has shape [3, 3]" in str(e.value)
    p = save_checkpoint(tmp_path/"proj2.safetensors", tensors, {**meta, "vision_fingerprint": "someone-else"})
    with pytest.raises(CheckpointError) as e: tiny.load_projector(p)
    assert "proj2.safetensors" in one_line(e.value)

def test_wrong_shape_optimizer_state(tmp_path):
    "load_align_checkpoint refuses an optimizer state that does not fit, in one line naming the file."
    from myvlm_art.align import load_align_checkpoint
    folder = tmp_path/"ckpt"; folder.mkdir()
    want = {"config": {}, "data_fingerprint": "d", "vision_fingerprint": "v", "lm_fingerprint": "l"}
    (folder/"state.json").write_text(json.dumps({"step": 1, **want}))
    other = torch.optim.Adam([torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))])
    torch.save(other.state_dict(), folder/"optimizer.pt")
    sched_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    torch.save(torch.optim.lr_scheduler.StepLR(sched_opt, 1).state_dict(), folder/"scheduler.pt")
    class StubVLM:
        def load_projector(self, path): return self
    mine = torch.optim.Adam([torch.nn.Parameter(torch.zeros(5))])
    with pytest.raises(CheckpointError) as e:
        load_align_checkpoint(folder, StubVLM(), mine, torch.optim.lr_scheduler.StepLR(mine, 1), want)
    assert "optimizer.pt" in one_line(e.value)

# ---------------------------------------------------------------------------------------------------------
# (c) model output is data, never code

INJECTIONS = ["__import__('os').system('touch {m}')", "eval(\"open('{m}','w')\")", "exec(\"open('{m}','w')\")",
              "{{{{ __import__('os').system('touch {m}') }}}}", "$(touch {m})", "`touch {m}`", "'; import os; os.system('touch {m}'); '"]

@pytest.mark.parametrize("inj", INJECTIONS)
def test_model_output_is_never_evaluated(inj, tmp_path, monkeypatch):
    "Code in an answer (in a JSON value, a key, a Python-literal block or prose) is a miss or a plain string; eval/exec are never called."
    from myvlm_art.answers import AliasMatcher, answer_table, parse_natural, parse_structured, extract_json
    marker = tmp_path/"PWNED"; code = inj.format(m=marker)
    def trap(*a, **k): raise AssertionError("eval/exec called while parsing model output")
    monkeypatch.setattr(builtins, "eval", trap); monkeypatch.setattr(builtins, "exec", trap)
    m = AliasMatcher({"artist": ["Pablo Picasso"], "style": ["cubism"], "genre": ["portrait"]})
    answers = [
        "<json>" + json.dumps({"artist": code, "style": "cubism", "genre": code, "evidence": code}) + "</json>",
        "<json>" + json.dumps({code: "Pablo Picasso", "artist": {"__class__": code}}) + "</json>",
        "<json>{'artist': " + code + ", 'style': 'cubism'}</json>",                     # a Python literal, not JSON
        "<json>{\"artist\": " + code + "}</json>",
        f"The painter is {code} and the style is cubism.",
    ]
    parsed = [parse_structured(a, m) for a in answers]
    assert parsed[0] == {"artist": None, "style": "cubism", "genre": None}
    assert parsed[1] == {"artist": None, "style": None, "genre": None}
    assert parsed[2] == parsed[3] == {"artist": None, "style": None, "genre": None}
    assert parse_natural(answers[4], m) == {"artist": None, "style": "cubism", "genre": None}
    obj = extract_json(answers[0]); assert obj["artist"] == code and isinstance(obj["artist"], str)   # kept verbatim, as data
    t = answer_table(answers, [f"im{i}.png" for i in range(len(answers))], "structured", m)
    assert list(t["answer"]) == answers and set(t.columns) >= {"artist", "style", "genre"}
    assert not marker.exists()
