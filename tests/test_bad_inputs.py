"""A table of distinct bad inputs across myvlm-art's entry points, each with an id and a one-line description.

For every case the library entry point is called on a fresh temporary project root and must either
- refuse it with a `MyVLMArtError` whose message is one line and names the record, file or field (`names`), or
- (where the table says so) accept it in a documented way, e.g. grayscale/CMYK/alpha images are converted to RGB,
  malformed model output parses as a miss.
Where `myvlm-art data --dataset bad` (or `myvlm-art synthart ...`) reaches the input, the CLI is run too, with
`MYVLM_ART_ROOT` at the temp root: exit code 2, one `myvlm-art: error: ...` line on stderr naming the same thing,
and no file created or changed under the root (no splits CSV, no provenance sidecar, no `.tmp` leftovers).
The CLI is called in-process (`myvlm_art.cli.main`, the console script's own function) for every case, and as the
installed `myvlm-art` binary for a few representative ones (`REAL_BINARY`).
Cases that expose a library bug are strict xfails whose reason says what goes wrong (`bug=`). The bugs first pinned
this way (deep/huge JSON, odd characters in image paths, rows longer than the CSV header, empty/binary splits files,
malformed signals files, truncated/bomb `.pt` files, bad prototype-head metadata, casefold traps in the alias
matcher, a mis-shaped `visual_norm`) are fixed in the library; their cases now name what the error must say.
"""
from __future__ import annotations
import hashlib, json, os, struct, subprocess, sys, zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd, pytest, torch
from PIL import Image
from safetensors.torch import save as st_save

from myvlm_art.core import MyVLMArtError, Paths, config_from_dict, load_checkpoint, save_checkpoint
from myvlm_art.data import DatasetSpec, load_image, load_targets, prepare_dataset
from myvlm_art.gating import GateConfig, MultiTokenConceptLayer, select_concepts
from myvlm_art.prototypes import PrototypeConfig, PrototypeHead, read_signals
from myvlm_art.answers import AliasMatcher, parse_answer
from myvlm_art.synthart import SynthArtConfig

ERROR = "error"

@dataclass
class Case:
    id: str                                    # short, unique
    desc: str                                  # what is bad about the input
    setup: Callable[[Path], Callable[[], Any]] # writes files under a fresh root, returns the call to make
    names: tuple = ()                          # an error's message must contain each of these (record / file / field)
    want: Any = ERROR                          # ERROR, or a predicate the call's result must satisfy (documented acceptance)
    cli: list | None = None                    # argv of the CLI command that reaches this input, if any
    bug: tuple | None = None                   # (exception type the bug raises, reason): a strict xfail

CASES: list[Case] = []
def case(*a, **k): CASES.append(Case(*a, **k))

# ---------------------------------------------------------------------------------------------------------
# A small valid dataset in the real format under <root>, named "bad"; each case breaks one thing.

DATA_CLI = ["data", "--dataset", "bad"]
BASE = [("ann/0.png", "ann", "cubism", "portrait"), ("ann/1.png", "ann", "cubism", "landscape"),
        ("bob/0.png", "bob", "pointillism", "portrait"), ("bob/1.png", "bob", "pointillism", "landscape"),
        ("cyd/0.png", "cyd", "cubism", "abstract"), ("cyd/1.png", "cyd", "pointillism", "abstract")]
HEADER = ["image_path", "artist", "style", "genre", "target_keys", "target_reason"]

def png_declaring(w: int, h: int) -> bytes:
    "A PNG whose header declares w x h pixels with almost no pixel data (a decompression bomb)."
    def chunk(t, data): return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))

def csv_text(rows, header=HEADER) -> str:
    return pd.DataFrame(rows, columns=header).to_csv(index=False, lineterminator="\n") if rows else ",".join(header) + "\n"

def write_dataset(root: Path, recs=None, rows=None, json_raw=None, csv_raw=None, extra=None) -> DatasetSpec:
    spec = DatasetSpec.named("bad", Paths(root))
    for i, (rel, *_) in enumerate(BASE):
        p = spec.images_root/rel; p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 16), (40 * i, 90, 200)).save(p)
    recs = [{"image": r, "artist": a, "style": s, "genre": g} for r, a, s, g in BASE] if recs is None else recs
    rows = [[r, a, s, g, f"artist: {a}\nstyle: {s}\ngenre: {g}", "flat colour"] for r, a, s, g in BASE] if rows is None else rows
    spec.json_path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(json_raw, bytes): spec.json_path.write_bytes(json_raw)
    else: spec.json_path.write_text(json_raw if json_raw is not None else json.dumps(recs, ensure_ascii=False), encoding="utf-8")
    if isinstance(csv_raw, bytes): spec.targets_path.write_bytes(csv_raw)
    else: spec.targets_path.write_text(csv_raw if csv_raw is not None else csv_text(rows), encoding="utf-8")
    if extra: extra(spec, root)
    return spec

def base_recs(): return [{"image": r, "artist": a, "style": s, "genre": g} for r, a, s, g in BASE]
def base_rows(): return [[r, a, s, g, f"artist: {a}", "flat colour"] for r, a, s, g in BASE]

def ds(recs_fn=None, rows_fn=None, json_raw=None, csv_raw=None, extra=None):
    "A setup writing the base dataset after `recs_fn(records)` / `rows_fn(rows)` changed them in place; the call is prepare_dataset."
    def setup(root):
        recs, rows = base_recs(), base_rows()
        if recs_fn: recs_fn(recs)
        if rows_fn: rows_fn(rows)
        spec = write_dataset(root, recs, rows, json_raw, csv_raw, extra)
        return lambda: prepare_dataset(spec)
    return setup

def setitem(i, k, v):
    def f(recs): recs[i][k] = v
    return f

def image_file(rel, writer):
    "An `extra` that (re)writes image `rel` under the images root with `writer(path)`."
    def f(spec, root):
        p = spec.images_root/rel; p.parent.mkdir(parents=True, exist_ok=True)
        if p.exists() or p.is_symlink(): p.unlink()
        writer(p)
    return f

def with_image(rel, writer):
    "Record 1 and its target row point at `rel`, written by `writer`."
    def recs_fn(recs): recs[1]["image"] = rel
    def rows_fn(rows): rows[1][0] = rel
    return ds(recs_fn, rows_fn, extra=image_file(rel, writer))

def rgb(path): return load_image(path).mode == "RGB"

# -- dataset JSON --------------------------------------------------------------------------------------------
case("json-missing", "the dataset JSON does not exist", ds(extra=lambda s, r: s.json_path.unlink()), ("bad.json", "dataset JSON not found"), cli=DATA_CLI)
case("json-invalid", "the dataset JSON is not JSON", ds(json_raw='[{"image": "ann/0.png",'), ("bad.json", "not valid JSON"), cli=DATA_CLI)
case("json-non-utf8", "the dataset JSON is Latin-1, not UTF-8", ds(json_raw='[{"artist": "André"}]'.encode("latin-1")), ("bad.json", "not valid JSON"), cli=DATA_CLI)
case("json-not-a-list", "the top level is an object, not a list of records", ds(json_raw='{"records": []}'), ("bad.json", "expected a JSON list of records, got dict"), cli=DATA_CLI)
case("json-empty-list", "the dataset has no records", ds(json_raw="[]"), ("bad.json", "has no records"), cli=DATA_CLI)
case("json-record-not-object", "a record is a string", ds(lambda r: r.__setitem__(2, "bob/0.png")), ("bad.json record 2", "expected an object, got str"), cli=DATA_CLI)
case("json-missing-label", "a record has no 'style'", ds(lambda r: r[1].pop("style")), ("bad.json record 1", "label 'style' is missing"), cli=DATA_CLI)
case("json-empty-label", "an artist label is whitespace", ds(setitem(3, "artist", "  ")), ("bad.json record 3", "label 'artist' is empty"), cli=DATA_CLI)
case("json-label-wrong-type", "a genre label is a number", ds(setitem(0, "genre", 7)), ("bad.json record 0", "label 'genre' is not a string (7)"), cli=DATA_CLI)
def _rename_genre(recs):
    for r in recs: r["genra"] = r.pop("genre")
case("json-misspelt-dimension", "every record spells 'genre' as 'genra'", ds(_rename_genre),
     ("bad.json", "unknown dimension(s) ['genre']", "'genra'"), cli=DATA_CLI)
case("json-missing-image-key", "a record has no 'image'", ds(lambda r: r[4].pop("image")), ("bad.json record 4", "empty or non-string image path None"), cli=DATA_CLI)
case("json-image-not-string", "a record's image is a list", ds(setitem(4, "image", ["cyd/0.png"])), ("bad.json record 4", "non-string image path"), cli=DATA_CLI)
case("json-duplicate-record", "the same image twice (once as ./ann/0.png)", ds(lambda r: r.append(dict(r[0], image="./ann/0.png"))),
     ("bad.json record 6", "duplicate record (same image as record 0)"), cli=DATA_CLI)
case("json-deeply-nested", "100k nested brackets", ds(json_raw="[" * 100_000 + "]" * 100_000), ("bad.json", "not valid JSON (nested too deeply)"), cli=DATA_CLI)
case("json-huge-integer", "a 5000-digit integer literal", ds(json_raw="[" + "9" * 5000 + "]"), ("bad.json", "not valid JSON (Exceeds the limit (4300 digits)"), cli=DATA_CLI)

# -- image paths ---------------------------------------------------------------------------------------------
case("path-dotdot", "an image path climbs out of the images root", ds(setitem(1, "image", "../../../outside.png")),
     ("bad.json record 1", "'../../../outside.png'", "escapes the images root"), cli=DATA_CLI)
case("path-absolute", "an image path is absolute", ds(setitem(1, "image", "/etc/hostname")), ("bad.json record 1", "is absolute"), cli=DATA_CLI)
def _outside_png(spec, root):
    Image.new("RGB", (16, 16)).save(root/"secret.png")
    (spec.images_root/"ann"/"link.png").symlink_to(root/"secret.png")
case("path-symlink-file-out", "an image is a symlink to a file outside the root", ds(setitem(1, "image", "ann/link.png"), extra=_outside_png),
     ("bad.json record 1", "'ann/link.png'", "escapes the images root"), cli=DATA_CLI)
def _outside_dir(spec, root):
    (root/"elsewhere").mkdir(); Image.new("RGB", (16, 16)).save(root/"elsewhere"/"x.png")
    (spec.images_root/"evil").symlink_to(root/"elsewhere", target_is_directory=True)
case("path-symlink-dir-out", "an image lies in a symlinked folder outside the root", ds(setitem(1, "image", "evil/x.png"), extra=_outside_dir),
     ("bad.json record 1", "'evil/x.png'", "escapes the images root"), cli=DATA_CLI)
case("path-nul-byte", "an image path contains a NUL byte", ds(setitem(1, "image", "ann/1.png\x00.txt")),
     ("bad.json record 1", "'ann/1.png\\x00.txt' contains a control character"), cli=DATA_CLI)
case("path-lone-surrogate", "an image path contains a lone UTF-16 surrogate (JSON \\ud800)", ds(json_raw='[{"image": "\\ud800.png", "artist": "a", "style": "b", "genre": "c"}]'),
     ("bad.json record 0", "contains invalid Unicode (a lone surrogate)"), cli=DATA_CLI)
case("path-newline", "a missing image whose path contains a newline", ds(setitem(1, "image", "ann/new\nline.png")),
     ("bad.json record 1", "'ann/new\\nline.png' contains a control character '\\n'"), cli=DATA_CLI)
case("path-name-too-long", "an image file name of 300 bytes", ds(setitem(1, "image", "ann/" + "x" * 300 + ".png")),
     ("bad.json record 1", "cannot access image file (File name too long)"), cli=DATA_CLI)
case("path-tab", "an image path ends in a tab", ds(setitem(1, "image", "ann/1.png\t")), ("bad.json record 1", "contains a control character '\\t'"), cli=DATA_CLI)
def _loop(spec, root): (spec.images_root/"loop").symlink_to(spec.images_root/"loop")
case("path-symlink-loop", "an image lies in a folder that is a symlink to itself", ds(setitem(1, "image", "loop/x.png"), extra=_loop), ("bad.json record 1", "'loop/x.png'"), cli=DATA_CLI)

# -- image files ---------------------------------------------------------------------------------------------
case("image-missing", "a record names an image that does not exist", ds(setitem(1, "image", "ann/nope.png")), ("bad.json record 1", "image file not found", "nope.png"), cli=DATA_CLI)
case("image-is-directory", "a record's image is a folder", ds(setitem(1, "image", "ann")), ("bad.json record 1", "not a file"), cli=DATA_CLI)
case("image-not-an-image", "a .png that is a text file", with_image("ann/notes.png", lambda p: p.write_text("hello\n")),
     ("bad.json record 1", "not an image file", "notes.png"), cli=DATA_CLI)
case("image-zero-bytes", "a zero-byte .png", with_image("ann/empty.png", lambda p: p.write_bytes(b"")), ("bad.json record 1", "empty (0 bytes)", "empty.png"), cli=DATA_CLI)
def _truncated(p):
    Image.new("RGB", (64, 64), (1, 2, 3)).save(p.with_suffix(".full.png")); p.write_bytes(p.with_suffix(".full.png").read_bytes()[:60])
case("image-truncated", "a PNG cut after 60 bytes", with_image("ann/cut.png", _truncated), ("bad.json record 1", "corrupt or truncated image", "cut.png"), cli=DATA_CLI)
case("image-decompression-bomb", "a PNG declaring 100000x100000 pixels", with_image("ann/bomb.png", lambda p: p.write_bytes(png_declaring(100_000, 100_000))),
     ("bad.json record 1", "bomb.png", "exceeds limit"), cli=DATA_CLI)
case("image-over-pixel-limit", "a PNG declaring 9000x9000 pixels (over MAX_IMAGE_PIXELS, under PIL's own limit)",
     with_image("ann/big.png", lambda p: p.write_bytes(png_declaring(9000, 9000))), ("bad.json record 1", "image is too large (9000x9000", "big.png"), cli=DATA_CLI)
case("image-too-small", "a 4x4 image", with_image("ann/tiny.png", lambda p: Image.new("RGB", (4, 4)).save(p)), ("bad.json record 1", "too small (4x4", "tiny.png"), cli=DATA_CLI)

# accepted image modes (documented by data.load_image: converted to RGB, alpha composited on white)
def _accepted(rel):
    def ok(data):
        p = data.spec.images_root/rel
        return rel in set(data.records.image) and rgb(p)
    return ok
case("image-grayscale", "an 8-bit grayscale PNG: accepted, loaded as RGB", with_image("ann/gray.png", lambda p: Image.new("L", (16, 16), 100).save(p)),
     want=_accepted("ann/gray.png"), cli=DATA_CLI)
case("image-gray16", "a 16-bit grayscale PNG: accepted, loaded as RGB", with_image("ann/g16.png", lambda p: Image.new("I;16", (16, 16), 4000).save(p)),
     want=_accepted("ann/g16.png"), cli=DATA_CLI)
case("image-cmyk", "a CMYK JPEG: accepted, loaded as RGB", with_image("ann/cmyk.jpg", lambda p: Image.new("CMYK", (16, 16), (0, 90, 90, 0)).save(p)),
     want=_accepted("ann/cmyk.jpg"), cli=DATA_CLI)
def _alpha_on_white(data):
    im = load_image(data.spec.images_root/"ann/alpha.png")
    return im.mode == "RGB" and im.getpixel((0, 0)) == (255, 255, 255)
case("image-alpha", "a fully transparent RGBA PNG: accepted, composited on white", with_image("ann/alpha.png", lambda p: Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(p)),
     want=_alpha_on_white, cli=DATA_CLI)

# -- targets CSV -----------------------------------------------------------------------------------------------
case("csv-missing", "the targets CSV does not exist", ds(extra=lambda s, r: s.targets_path.unlink()), ("bad_targets.csv", "targets CSV not found"), cli=DATA_CLI)
case("csv-empty-file", "the targets CSV is empty", ds(csv_raw=""), ("bad_targets.csv", "unreadable CSV"), cli=DATA_CLI)
case("csv-header-only", "the targets CSV has a header and no rows", ds(csv_raw=",".join(HEADER) + "\n"), ("bad_targets.csv", "no rows"), cli=DATA_CLI)
case("csv-non-utf8", "the targets CSV is Latin-1", ds(csv_raw=(",".join(HEADER) + "\nann/0.png,André,cubism,portrait,k,r\n").encode("latin-1")),
     ("bad_targets.csv", "unreadable CSV"), cli=DATA_CLI)
case("csv-unclosed-quote", "a cell opens a quote that never closes", ds(csv_raw=",".join(HEADER) + '\nann/0.png,"ann,cubism,portrait,k,r\n'),
     ("bad_targets.csv", "unreadable CSV"), cli=DATA_CLI)
case("csv-missing-column", "no target_reason column", ds(csv_raw=csv_text([r[:5] for r in base_rows()], HEADER[:5])),
     ("bad_targets.csv", "missing column 'target_reason'"), cli=DATA_CLI)
case("csv-misspelt-column", "'artist' spelt 'artst'", ds(csv_raw=csv_text(base_rows(), ["image_path", "artst", *HEADER[2:]])),
     ("bad_targets.csv", "missing column 'artist'", "did you mean 'artst'?"), cli=DATA_CLI)
case("csv-extra-column", "an unknown 'notes' column", ds(csv_raw=csv_text([r + ["n"] for r in base_rows()], HEADER + ["notes"])),
     ("bad_targets.csv", "unknown column 'notes'"), cli=DATA_CLI)
case("csv-empty-cell", "a row's style is empty", ds(rows_fn=lambda rows: rows[1].__setitem__(2, "")), ("bad_targets.csv row 3", "'ann/1.png'", "column 'style' is empty"), cli=DATA_CLI)
case("csv-duplicate-row", "an image_path appears twice", ds(rows_fn=lambda rows: rows.append(list(rows[0]))), ("bad_targets.csv row 8", "'ann/0.png'", "duplicate image_path"), cli=DATA_CLI)
case("csv-label-mismatch", "a row's artist disagrees with the dataset JSON", ds(rows_fn=lambda rows: rows[0].__setitem__(1, "bob")),
     ("bad_targets.csv row 2", "artist is 'bob' here but 'ann' in the dataset JSON"), cli=DATA_CLI)
case("csv-unknown-image", "a row names an image the JSON does not have", ds(rows_fn=lambda rows: rows.append(["zed/0.png", "ann", "cubism", "portrait", "k", "r"])),
     ("bad_targets.csv row 8", "'zed/0.png'", "not in the dataset JSON"), cli=DATA_CLI)
case("csv-missing-row", "an image of the JSON has no target row", ds(rows_fn=lambda rows: rows.pop(4)), ("bad_targets.csv", "no target row for image 'cyd/0.png'"), cli=DATA_CLI)
case("csv-extra-cells-every-row", "every row has two cells more than the header (pandas would shift them into an index)",
     ds(csv_raw=csv_text(base_rows()).splitlines()[0] + "\n" + "".join(",".join(r + ["x", "y"]) + "\n" for r in base_rows())),
     ("bad_targets.csv line 2", "8 cells, but the header has 6"), cli=DATA_CLI)
case("csv-extra-cell-one-row", "one row has one cell more than the header", ds(csv_raw=",".join(HEADER) + "\n" + "\n".join(
     ",".join(r + (["EXTRA"] if i == 2 else [])) for i, r in enumerate(base_rows())) + "\n"), ("bad_targets.csv line 4", "7 cells, but the header has 6"), cli=DATA_CLI)
def _targets_alone(root):
    rows = [["a.png", "ann", "cubism", "portrait", "k", "r"], ["b.png", "bob", "cubism", "portrait", "k", "r"], ["c.png", "cyd", "cubism", "portrait", "k", "r"]]
    p = root/"t.csv"; p.write_text(",".join(HEADER) + "\n" + "".join(",".join(r + ["x"]) + "\n" for r in rows))
    return lambda: load_targets(p)
case("targets-extra-cells-alone", "load_targets without records: every row has one cell more (pandas alone would shift every column)", _targets_alone,
     ("t.csv line 2", "7 cells, but the header has 6"))

# -- splits file (exists from an earlier run) ------------------------------------------------------------------
def splits(text_or_bytes):
    def extra(spec, root):
        (spec.splits_path.write_bytes if isinstance(text_or_bytes, bytes) else spec.splits_path.write_text)(text_or_bytes)
    return ds(extra=extra)
ALL_SPLIT = "image_path,split\n" + "".join(f"{r},train\n" for r, *_ in BASE)
case("splits-unknown-split", "a saved split is 'holdout'", splits(ALL_SPLIT.replace("ann/1.png,train", "ann/1.png,holdout")),
     ("bad_splits.csv row 3", "'ann/1.png'", "unknown split 'holdout'"), cli=DATA_CLI)
case("splits-missing-image", "the saved split lacks an image", splits(ALL_SPLIT.replace("cyd/1.png,train\n", "")), ("bad_splits.csv", "no split for image 'cyd/1.png'"), cli=DATA_CLI)
case("splits-wrong-columns", "the saved split has other columns", splits("image,fold\nann/0.png,1\n"), ("bad_splits.csv", "expected columns ['image_path', 'split']"), cli=DATA_CLI)
case("splits-empty-file", "the saved split file is empty", splits(""), ("bad_splits.csv", "unreadable CSV"), cli=DATA_CLI)
case("splits-binary", "the saved split file is binary garbage", splits(b"\xff\xfe\x00\x81garbage"), ("bad_splits.csv", "unreadable CSV (not UTF-8"), cli=DATA_CLI)
case("splits-extra-cell", "a saved split row has a third cell", splits(ALL_SPLIT.replace("bob/0.png,train", "bob/0.png,train,x")),
     ("bad_splits.csv line 4", "3 cells, but the header has 2"), cli=DATA_CLI)

# -- signals files (prototypes.read_signals) ---------------------------------------------------------------------
IDX3 = [("artist", "ann"), ("artist", "bob"), ("style", "cubism")]
def sig_json(obj_or_text, index=IDX3, name="s.json"):
    def setup(root):
        p = root/name
        if isinstance(obj_or_text, bytes): p.write_bytes(obj_or_text)
        else: p.write_text(obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text))
        return lambda: read_signals(p, index)
    return setup
def sig(signals, index=[list(c) for c in IDX3], images=("a.png", "b.png")): return {"index": index, "images": list(images), "signals": signals}
case("signals-nan", "a signal is NaN", sig_json('{"index": [["artist","ann"],["artist","bob"],["style","cubism"]], "images": ["a.png"], "signals": [[0.1, NaN, 0.3]]}'),
     ("s.json", "image 'a.png'", "('artist', 'bob') is not a number"))
case("signals-out-of-range", "a signal is 1.5", sig_json(sig([[0.1, 0.2, 1.5], [0, 0, 0]])), ("s.json", "image 'a.png'", "('style', 'cubism') is 1.5, outside [0, 1]"))
case("signals-wrong-concept-count", "the file has 2 concepts where 3 are expected", sig_json(sig([[0.1, 0.2]], IDX3[:2], ["a.png"])),
     ("s.json", "concept index does not match (2 concepts in the file, 3 expected)"))
case("signals-ragged", "rows of different lengths", sig_json(sig([[0.1, 0.2, 0.3], [0.1]])), ("s.json", "not a numeric matrix"))
case("signals-missing-key", "no 'images' key", sig_json({"index": [], "signals": []}), ("s.json", "expected keys index, images, signals"))
case("signals-csv-non-numeric", "a CSV signal is 'high'", sig_json("image,artist:ann,artist:bob,style:cubism\na.png,0.1,high,0.3\n", name="s.csv"), ("s.csv", "non-numeric"))
case("signals-csv-negative", "a CSV signal is -0.2", sig_json("image,artist:ann,artist:bob,style:cubism\na.png,0.1,-0.2,0.3\n", name="s.csv"), ("s.csv", "is -0.2, outside [0, 1]"))
case("signals-unknown-format", "a .npy signals file", sig_json("x", name="s.npy"), ("s.npy", "unknown signals format"))
case("signals-csv-empty", "an empty CSV signals file", sig_json("", name="s.csv"), ("s.csv", "unreadable CSV"))
case("signals-index-not-pairs", "index entries are numbers, not [dim, name]", sig_json(sig([[0.1, 0.2]], [1, 2], ["a.png"])), ("s.json", "index must be a list of [dimension, name] pairs"))
case("signals-images-not-list", "'images' is a number", sig_json({"index": [["artist", "ann"]], "images": 5, "signals": [[0.5]]}), ("s.json", "images must be a list of image paths"))
case("signals-json-non-utf8", "a Latin-1 JSON signals file", sig_json('{"images": ["André"]}'.encode("latin-1")), ("s.json", "not valid JSON ('utf-8' codec can't decode"))
case("signals-strings-as-numbers", "signals written as strings", sig_json(sig([["0.1", "0.2", "0.3"], ["0", "0", "0"]])), ("s.json", "signals are not a numeric matrix"))
case("signals-booleans-as-numbers", "signals written as true/false", sig_json(sig([[True, False, True], [0, 0, 0]])), ("s.json", "signals are not a numeric matrix"))
case("signals-csv-extra-cell", "a CSV signals row with a cell more than the header", sig_json("image,artist:ann,artist:bob,style:cubism\na.png,0.1,0.2,0.3,0.4\n", name="s.csv"),
     ("s.csv line 2", "5 cells, but the header has 4"))
case("signals-csv-not-dim-name", "a CSV signals column without 'dimension:'", sig_json("image,ann\na.png,0.1\n", name="s.csv"), ("s.csv", "column 'ann' is not 'dimension:name'"))

# -- checkpoints -------------------------------------------------------------------------------------------------
HEAD_META = {"kind": "prototype-head", "encoder": "enc", "dims": ["artist", "style"], "concepts": {"artist": ["a", "b"], "style": ["x", "y", "z"]}, "dim": 4}
HEAD_T = {"prototypes.artist": torch.ones(2, 4), "prototypes.style": torch.ones(3, 4)}
def head_ckpt(tensors=HEAD_T, meta=HEAD_META, name="head.safetensors", **load_kw):
    def setup(root):
        p = save_checkpoint(root/name, tensors, meta)
        return lambda: PrototypeHead.load(p, **load_kw)
    return setup
def raw_ckpt(data: bytes | Callable, name, loader=None):
    def setup(root):
        p = root/name
        if callable(data): data(p)
        else: p.write_bytes(data)
        return lambda: (loader or load_checkpoint)(p)
    return setup
def _cut_pt(n):
    def w(p):
        torch.save({"w": torch.ones(64, 64)}, p); b = p.read_bytes(); p.write_bytes(b[:n if n > 0 else len(b) + n])
    return w
class _Evil:
    def __reduce__(self): return (os.system, ("touch /tmp/myvlm_art_bad_inputs_PWNED",))
class _Bomb:
    def __reduce__(self): return (bytearray, (10**17,))

case("ckpt-not-found", "the checkpoint file does not exist", lambda root: (lambda: PrototypeHead.load(root/"nope.safetensors")), ("nope.safetensors", "checkpoint not found"))
case("ckpt-wrong-shape", "prototypes of width 5 where the metadata says 4", head_ckpt({"prototypes.artist": torch.ones(2, 5), "prototypes.style": torch.ones(3, 5)}),
     ("head.safetensors", "prototypes.artist has shape (2, 5), expected (2, 4)"))
case("ckpt-wrong-rows", "3 artist prototypes for 2 artist concepts", head_ckpt({"prototypes.artist": torch.ones(3, 4), "prototypes.style": torch.ones(3, 4)}),
     ("head.safetensors", "prototypes.artist has shape (3, 4), expected (2, 4)"))
case("ckpt-wrong-encoder", "a head made for encoder 'enc' loaded for 'synthclip'", head_ckpt(encoder="synthclip"), ("head.safetensors", "encoder is 'enc', expected 'synthclip'"))
case("ckpt-wrong-dims", "a head for (artist, style) loaded for (artist,)", head_ckpt(dims=["artist"]), ("head.safetensors", "dims is ['artist', 'style'], expected ['artist']"))
case("ckpt-wrong-kind", "a projector checkpoint loaded as a prototype head", head_ckpt(meta={"kind": "llava-projector"}), ("head.safetensors", "kind is 'llava-projector', expected 'prototype-head'"))
case("ckpt-truncated-safetensors", "a safetensors file cut in half", raw_ckpt(lambda p: (save_checkpoint(p, HEAD_T, HEAD_META), p.write_bytes(p.read_bytes()[:200])), "h.safetensors", PrototypeHead.load),
     ("h.safetensors", "not a readable safetensors checkpoint"))
case("ckpt-metadata-not-json", "safetensors metadata that is not JSON", raw_ckpt(lambda p: p.write_bytes(st_save({"x": torch.ones(1)}, metadata={"kind": "{oops"})), "m.safetensors"),
     ("m.safetensors", "not a readable safetensors checkpoint (JSONDecodeError"))
case("ckpt-unknown-format", "a .ckpt file", raw_ckpt(b"whatever", "model.ckpt"), ("model.ckpt", "unknown checkpoint format '.ckpt'"))
case("ckpt-pt-truncated-header", "a torch.save file cut after 10 bytes", raw_ckpt(_cut_pt(10), "cut10.pt"), ("cut10.pt", "refused or unreadable with weights_only=True"))
case("ckpt-pt-truncated-body", "a torch.save file missing its last byte", raw_ckpt(_cut_pt(-1), "cut.pt"), ("cut.pt", "refused or unreadable with weights_only=True (OSError"))
case("ckpt-pt-not-a-dict", "a .pt holding a bare tensor", raw_ckpt(lambda p: torch.save(torch.ones(2), p), "t.pt"), ("t.pt", "expected a dict of tensors, got Tensor"))
case("ckpt-pt-code-payload", "a .pt whose pickle calls os.system", raw_ckpt(lambda p: torch.save({"w": _Evil()}, p), "evil.pt", PrototypeHead.load),
     ("evil.pt", "refused or unreadable with weights_only=True", "GLOBAL posix.system"))
case("ckpt-pt-pickle-bomb", "a .pt whose (weights_only-legal) pickle asks for a 10**17-byte bytearray", raw_ckpt(lambda p: torch.save({"w": _Bomb()}, p), "bomb.pt"),
     ("bomb.pt", "refused or unreadable with weights_only=True (MemoryError"))
case("ckpt-metadata-missing-keys", "a prototype-head checkpoint whose metadata has only 'kind'", head_ckpt(meta={"kind": "prototype-head"}),
     ("head.safetensors", "prototype-head metadata lacks ['encoder', 'dims', 'concepts', 'dim']"))
case("ckpt-1d-prototypes", "1-D prototype tensors", head_ckpt({"prototypes.artist": torch.ones(2), "prototypes.style": torch.ones(3)}),
     ("head.safetensors", "prototypes.artist has shape (2,), expected (2, 4)"))
case("ckpt-no-dimensions", "a prototype head with an empty dims list", head_ckpt({}, {**HEAD_META, "dims": [], "concepts": {}}), ("head.safetensors", "dims must be a non-empty list"))
case("ckpt-missing-tensor", "the metadata names a style tensor the file lacks", head_ckpt({"prototypes.artist": torch.ones(2, 4)}), ("head.safetensors", "tensor prototypes.style is missing"))
case("ckpt-nan-prototypes", "NaN prototypes", head_ckpt({"prototypes.artist": torch.full((2, 4), float("nan")), "prototypes.style": torch.ones(3, 4)}),
     ("head.safetensors", "prototypes.artist contains NaN or infinite values"))
case("ckpt-dim-string", "the metadata's dim is the string '4'", head_ckpt(meta={**HEAD_META, "dim": "4"}), ("head.safetensors", "dim must be a positive integer, got '4'"))

# -- configs (core.config_from_dict + .validate()) ---------------------------------------------------------------------
def cfg(cls, d, where="config"): return lambda root: (lambda: config_from_dict(cls, d, where))
def synthart_cli(*args): return ["synthart", *args]
case("cfg-wrong-type", "GateConfig.top_k given as a string", cfg(GateConfig, {"top_k": "2"}, "gate"), ("gate.top_k", "expected an integer, got '2'"))
case("cfg-bool-for-int", "PrototypeConfig.epochs given as true", cfg(PrototypeConfig, {"epochs": True}, "proto"), ("proto.epochs", "expected an integer, got True"))
case("cfg-unknown-key", "GateConfig with 'topk' for 'top_k'", cfg(GateConfig, {"topk": 2}, "gate"), ("gate", "unknown key(s) ['topk'] for GateConfig"))
case("cfg-not-a-mapping", "a list where a mapping of parameters is expected", cfg(GateConfig, [("tau", 0.5)], "gate"), ("gate", "expected a mapping of parameters, got list"))
case("cfg-tau-out-of-range", "GateConfig.tau = 1.5", cfg(GateConfig, {"tau": 1.5}), ("GateConfig.tau must be in [0, 1], got 1.5",))
case("cfg-budget-zero", "GateConfig.budget = 0", cfg(GateConfig, {"budget": 0}), ("GateConfig.budget must be >= 1, got 0",))
case("cfg-threshold-out-of-range", "a per-dimension threshold of 2", cfg(GateConfig, {"thresholds": {"artist": 2}}), ("GateConfig.thresholds['artist'] must be in [0, 1], got 2",))
case("cfg-priority-wrong-type", "priority given as numbers", cfg(GateConfig, {"priority": [1, 2]}, "gate"), ("gate.priority[0]", "expected a string, got 1"))
case("cfg-nan", "PrototypeConfig.lr = NaN", cfg(PrototypeConfig, {"lr": float("nan")}), ("PrototypeConfig.lr must be > 0, got nan",))
case("cfg-inf", "PrototypeConfig.lr = inf", cfg(PrototypeConfig, {"lr": float("inf")}), ("PrototypeConfig.lr must be > 0, got inf",))
case("cfg-bad-choice", "PrototypeConfig.negatives = 'easy'", cfg(PrototypeConfig, {"negatives": "easy"}), ("PrototypeConfig.negatives", "'easy'"))
case("cfg-synthart-name-traversal", "a corpus name that would write outside data/dataset", cfg(SynthArtConfig, {"name": "../evil"}, "synthart"),
     ("SynthArtConfig.name must be alphanumeric", "'../evil'"), cli=synthart_cli("--name", "../evil"))
case("cfg-synthart-too-few-images", "SynthArtConfig.n_images = 3", cfg(SynthArtConfig, {"n_images": 3}, "synthart"), ("SynthArtConfig.n_images is out of range: 3",),
     cli=synthart_cli("--n-images", "3"))
case("cfg-synthart-noise-out-of-range", "SynthArtConfig.noise = 2.5", cfg(SynthArtConfig, {"noise": 2.5}, "synthart"), ("SynthArtConfig.noise is out of range: 2.5",),
     cli=synthart_cli("--noise", "2.5"))

# -- the report's gate knobs (cli.parse_gate, `myvlm-art report --gate`): refused before any stage runs ---------------------
def gate_knobs(*items): return lambda root: (lambda: __import__("myvlm_art.cli", fromlist=["parse_gate"]).parse_gate(list(items)))
case("report-gate-unknown-knob", "--gate with a knob the report does not expose", gate_knobs("bugdet=2"), ("--gate 'bugdet=2'", "KNOB one of"),
     cli=["report", "--gate", "bugdet=2"])
case("report-gate-not-a-number", "--gate budget=two", gate_knobs("budget=two"), ("--gate 'budget=two'", "not a number"),
     cli=["report", "--gate", "budget=two"])
case("report-gate-out-of-range", "--gate budget=0", gate_knobs("budget=0"), ("GateConfig.budget must be >= 1, got 0",),
     cli=["report", "--gate", "budget=0"])
case("report-gate-no-value", "--gate delta (no =VALUE)", gate_knobs("delta"), ("--gate 'delta'", "KNOB=VALUE"), cli=["report", "--gate", "delta"])
case("report-gate-wrong-type", "--gate top_k=1.5 (an integer knob)", gate_knobs("top_k=1.5"), ("--gate.top_k", "expected an integer, got 1.5"),
     cli=["report", "--gate", "top_k=1.5"])

# -- model outputs (answers.parse_answer) -- ------------------------------------------------------------------------------
M = AliasMatcher({"artist": ["Pablo Picasso", "Paloma Picasso", "Claude Monet"], "style": ["cubism", "impressionism"], "genre": ["portrait", "landscape"]})
MISS = {"artist": None, "style": None, "genre": None}
def answer(text, kind="structured"): return lambda root: (lambda: parse_answer(text, kind, M))
def parsed(**want): return lambda out: out == {**MISS, **want}
case("out-unclosed-block", "a <json> block without </json>", answer('<json>{"artist": "Claude Monet", "style": "impressionism"}'), want=parsed())
case("out-no-markers", "bare JSON without the markers", answer('{"artist": "Claude Monet"}'), want=parsed())
case("out-trailing-comma", "JSON with a trailing comma", answer('<json>{"artist": "Claude Monet",}</json>'), want=parsed())
case("out-python-literal", "a Python dict with single quotes", answer("<json>{'artist': 'Claude Monet'}</json>"), want=parsed())
case("out-json-array", "a JSON array instead of an object", answer('<json>["Claude Monet", "cubism"]</json>'), want=parsed())
case("out-wrong-types", "fields that are a number, a list and an object", answer('<json>{"artist": 5, "style": ["cubism"], "genre": {"name": "portrait"}}</json>'), want=parsed())
case("out-deep-nesting", "50k nested arrays inside the block", answer("<json>" + "[" * 50_000 + "]" * 50_000 + "</json>"), want=parsed())
case("out-huge-number", "a 5000-digit number in the block", answer('<json>{"artist": ' + "9" * 5000 + ', "style": "cubism"}</json>'), want=parsed())
case("out-nan-and-infinity", "NaN/Infinity literals beside a valid field", answer('<json>{"artist": NaN, "genre": Infinity, "style": "cubism"}</json>'), want=parsed(style="cubism"))
case("out-partial", "only the artist is given", answer('<json>{"artist": "claude monet"}</json>'), want=parsed(artist="Claude Monet"))
case("out-first-block-wins", "an invalid block followed by a valid one", answer('<json>{oops}</json> <json>{"artist": "Claude Monet"}</json>'), want=parsed())
case("out-ambiguous-surname", "a surname two artists share names neither", answer("It is clearly a Picasso, in the cubist manner.", "natural"), want=parsed(style="cubism"))
case("out-code-injection", "Python code in the fields and prose", answer('<json>{"artist": "__import__(\'os\').system(\'touch /tmp/myvlm_art_bad_inputs_PWNED\')", "style": "eval(\'1\')"}</json>'),
     want=lambda out: out == MISS and not Path("/tmp/myvlm_art_bad_inputs_PWNED").exists())
case("out-not-a-string", "the answer is None", answer(None), want=parsed())
case("out-unknown-prompt-kind", "parse_answer with kind 'xml'", answer("<json>{}</json>", "xml"), ("prompt must be one of", "'xml'"))
case("out-casefold-trap", "'cubiſm' with a long s (re.IGNORECASE matches it to 'cubism')", answer("A fine example of cubiſm.", "natural"), want=parsed(style="cubism"))
case("out-dotted-capital-i", "'İmpressionism' with a dotted capital I (lower() gives two characters)", answer("<json>{\"style\": \"İmpressionism\"}</json>"), want=parsed(style="impressionism"))

# -- the gate ----------------------------------------------------------------------------------------------------------------
C3 = {"artist": ["a", "b"], "style": ["x", "y"]}
def gate(signals, visual_norm=None):
    return lambda root: (lambda: MultiTokenConceptLayer(C3, 4)(torch.tensor(signals, dtype=torch.float32), visual_norm))
case("gate-nan-signal", "a NaN signal", gate([[0.9, float("nan"), 0.1, 0.2]]), ("signals contain NaN or infinite values",))
case("gate-out-of-range", "a signal of 1.2", gate([[0.9, 1.2, 0.1, 0.2]]), ("signals must lie in [0, 1]",))
case("gate-wrong-concept-count", "3 signals for 4 concepts", gate([[0.9, 0.1, 0.2]]), ("signals have 3 concepts, the concept index has 4",))
case("gate-1d-signals", "signals without a batch dimension", lambda root: (lambda: select_concepts(torch.tensor([0.9, 0.1, 0.2, 0.3]), C3, GateConfig())),
     ("signals must be [batch, concepts], got shape (4,)",))
case("gate-visual-norm-shape", "one visual norm per token instead of per image", gate([[0.9, 0.1, 0.8, 0.2]], torch.ones(3)), ("visual_norm must have shape (1,), one norm per image, got (3,)",))
case("gate-empty-batch", "a batch of 0 images", lambda root: (lambda: MultiTokenConceptLayer(C3, 4)(torch.zeros(0, 4))), ("signals have no rows (a batch of 0 images)",))
case("gate-visual-norm-nan", "a NaN visual norm", gate([[0.9, 0.1, 0.8, 0.2]], torch.tensor([float("nan")])), ("visual_norm must hold finite non-negative norms",))
def _repeated_priority(root):
    cfg = GateConfig(tau=0.5, budget=2, top_k=2, priority=("x", "x", "x", "x", "artist")).validate()
    return lambda: select_concepts(torch.tensor([[0.9, 0.95, 0.92]]), {"artist": ["a0"], "style": ["s0", "s1"]}, cfg)
case("gate-priority-repeated", "a priority listing an unknown name four times before 'artist': accepted, artist keeps its fair slot",
     _repeated_priority, want=lambda sel: sel.concept_ids[0].tolist() == [0, 1])

# -- the CLI's dataset name ---------------------------------------------------------------------------------------------------
def _name(n): return lambda root: (lambda: DatasetSpec.named(n, Paths(root)))
case("cli-dataset-traversal", "a --dataset name climbing out of data/dataset", _name("../x"), ("dataset name must be letters, digits", "'../x'"), cli=["data", "--dataset", "../x"])
case("cli-dataset-slash", "a --dataset name with a path separator", _name("sub/x"), ("dataset name must be letters, digits", "'sub/x'"), cli=["data", "--dataset", "sub/x"])

# ---------------------------------------------------------------------------------------------------------
# The tests

def snapshot(root: Path) -> dict:
    "Every file (and symlink) under root with a hash of its bytes."
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink(): out[str(p.relative_to(root))] = "->" + os.readlink(p)
        elif p.is_file(): out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out

def marks(c: Case):
    if not c.bug: return []
    return [pytest.mark.xfail(strict=True, raises=c.bug[0], reason=c.bug[1])]

def test_table_has_at_least_30_distinct_cases():
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids), "duplicate case ids"
    assert all(c.desc and c.setup for c in CASES)
    assert len(set(c.desc for c in CASES)) == len(CASES), "duplicate descriptions"
    print(f"\n{len(CASES)} bad-input cases ({sum(c.cli is not None for c in CASES)} through the CLI, "
          f"{sum(c.bug is not None for c in CASES)} pinned bugs)")
    assert len(CASES) >= 30

@pytest.mark.parametrize("c", [pytest.param(c, id=c.id, marks=marks(c)) for c in CASES])
def test_bad_input(c: Case, tmp_path):
    "The library entry point: a one-line MyVLMArtError naming the record/file/field and nothing written, or the documented acceptance."
    call = c.setup(tmp_path)
    before = snapshot(tmp_path)
    if c.want == ERROR:
        with pytest.raises(MyVLMArtError) as e: call()
        msg = str(e.value)
        assert "\n" not in msg and "\r" not in msg, f"multi-line error: {msg!r}"
        for n in c.names: assert n in msg, f"{n!r} not in {msg!r}"
        after = snapshot(tmp_path)
        assert after == before, f"files changed by a refused input: {sorted(set(after.items()) ^ set(before.items()))}"
    else:
        result = call()
        assert c.want(result), f"unexpected result for {c.id}: {result!r}"

def run_cli_inprocess(argv, root, monkeypatch, capsys) -> tuple[int, str]:
    from myvlm_art.cli import main
    monkeypatch.setenv("MYVLM_ART_ROOT", str(root))
    try: rc = main(argv)
    except SystemExit as e: rc = e.code
    return rc, capsys.readouterr().err

def check_cli(c: Case, root: Path, before: dict, rc, err: str):
    after = snapshot(root)
    if c.want == ERROR:
        assert rc == 2, f"exit code {rc}: {err[-2000:]}"
        line = err.strip()
        assert line.count("\n") == 0 and line.startswith("myvlm-art: error: "), f"not one error line: {err!r}"
        for n in c.names: assert n in line, f"{n!r} not in {line!r}"
        assert after == before, f"the CLI left files behind: {sorted(set(after) - set(before))} changed: {[k for k in before if after.get(k) != before[k]]}"
        assert not any(k.endswith(".tmp") for k in after)
    else:
        assert rc == 0, err[-2000:]
        assert "data/dataset/bad_splits.csv" in after and "data/dataset/bad_splits.csv.provenance.json" in after

CLI_CASES = [c for c in CASES if c.cli]

@pytest.mark.parametrize("c", [pytest.param(c, id=c.id, marks=marks(c)) for c in CLI_CASES])
def test_bad_input_cli(c: Case, tmp_path, monkeypatch, capsys):
    "`myvlm-art <command>` (in-process `cli.main`) on the input: exit 2, one stderr line naming it, no partial output."
    c.setup(tmp_path)
    before = snapshot(tmp_path)
    rc, err = run_cli_inprocess(c.cli, tmp_path, monkeypatch, capsys)
    check_cli(c, tmp_path, before, rc, err)

REAL_BINARY = ["path-dotdot", "image-truncated", "csv-misspelt-column", "splits-unknown-split", "cfg-synthart-name-traversal", "image-cmyk", "splits-empty-file",
               "path-nul-byte", "cli-dataset-traversal"]
BIN = Path(sys.executable).parent/"myvlm-art"

@pytest.mark.parametrize("c", [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.bug[1])] if c.bug else [])
                               for c in CLI_CASES if c.id in REAL_BINARY])
def test_bad_input_real_binary(c: Case, tmp_path):
    "The installed `myvlm-art` binary on a few representative cases (a non-library exception shows here as exit 1 and a traceback)."
    c.setup(tmp_path)
    before = snapshot(tmp_path)
    r = subprocess.run([str(BIN), *c.cli], env={**os.environ, "MYVLM_ART_ROOT": str(tmp_path)}, capture_output=True, text=True, timeout=300)
    check_cli(c, tmp_path, before, r.returncode, r.stderr)
