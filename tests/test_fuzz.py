"""Property-based fuzzing (hypothesis) of the surfaces that read untrusted input: the dataset loaders, the
parsers of what the VLM says, and the concept gate.

- Loaders (`myvlm_art.data`): whatever the JSON/CSV text, only a `MyVLMArtError` may escape, in one line; a
  failed `prepare_dataset` writes nothing; what loads satisfies the loaders' documented guarantees.
- Parsers (`myvlm_art.answers`): never raise; always `{dim: None or a concept of the vocabulary}`.
- Gate (`myvlm_art.gating`): DESIGN §7's invariants, and agreement with `ref_select`, a plain per-sample
  Python reading of §7 written here.

Every property runs `max_examples=1000`. The bugs these fuzzers found (NUL/newline/surrogate/over-long image
paths, deep or huge JSON, CSV rows longer than the header, casefold traps in the alias matcher, repeated names
in the gate's priority, an empty alias matching everywhere) are fixed in the library; their exact inputs are
kept at the end of the file as regression tests, and the strategies now generate those inputs on purpose
(`ODD_PATH_CHARS`, `CASEFOLD_TRAPS`, longer CSV rows, repeated priority names).
"""
from __future__ import annotations
import csv, io, json, math, os, re, string, struct, sys, tempfile, zlib
from pathlib import Path

import numpy as np, pandas as pd, pytest, torch
from hypothesis import HealthCheck, assume, event, given, settings, strategies as st
from hypothesis.control import currently_in_test_context
from PIL import Image

from myvlm_art.core import MyVLMArtError
from myvlm_art.data import (DEFAULT_DIMENSIONS, SPLITS, TARGET_TEXT_COLUMNS, DatasetSpec, load_records, load_splits,
                            load_targets, prepare_dataset)
from myvlm_art.prototypes import read_signals
from myvlm_art.answers import JSON_CLOSE, JSON_OPEN, AliasMatcher, aliases_for, extract_json, parse_answer, parse_natural, parse_structured
from myvlm_art.gating import GateConfig, MultiTokenConceptLayer, select_concepts

N_EXAMPLES = int(os.environ.get("MYVLM_FUZZ_EXAMPLES", "500"))    # 500 per property (5x hypothesis' default; CI time); raise it for a deeper pass
FUZZ = settings(max_examples=N_EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                       HealthCheck.large_base_example])

def one_line(e: BaseException) -> str:
    "The error's message, asserted to be a single line (and counted in the hypothesis statistics when inside a property)."
    msg = str(e)
    if currently_in_test_context(): event(f"refused: {type(e).__name__}")
    assert "\n" not in msg and "\r" not in msg, f"multi-line error: {msg!r}"
    return msg

# ---------------------------------------------------------------------------------------------------------
# Inputs that once triggered the bugs kept as regression tests at the end of this file; the strategies mix them in.
ODD_PATH_CHARS = "\x00\n\r\t\x1b\x7f\ud800\udcff\u2028\u202e"   # control characters, lone surrogates, a line separator, a bidi override

def _casefold_traps() -> str:
    "Characters `re.IGNORECASE` treats as equal to a letter whose `str.lower()` differs (ſ~s, ı~i, µ~μ, İ, ...): once a KeyError in AliasMatcher."
    extra = getattr(getattr(re, "_casefix", None), "_EXTRA_CASES", None)
    chars = {chr(c) for c in extra} | {chr(x) for v in extra.values() for x in v} if extra else set("ſıµςϐϑϰϱϕϖẛιͅ")
    chars |= {chr(i) for i in range(sys.maxunicode + 1) if len(chr(i).lower()) != 1}          # İ
    ascii_ok = set(string.ascii_letters)
    return "".join(sorted(c for c in chars if c not in ascii_ok))
CASEFOLD_TRAPS = _casefold_traps()

# ---------------------------------------------------------------------------------------------------------
# A tiny images root, written once for the module.
def png_declaring(w: int, h: int) -> bytes:
    "A PNG whose header declares `w`x`h` pixels (a decompression bomb: the pixel data is not there)."
    def chunk(t, data): return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))

VALID_IMAGES = ("a.png", "b.png", "sub/c.png", "d.jpg", "link_in.png")
BAD_IMAGES = ("tiny.png", "text.png", "empty.png", "trunc.png", "huge.png", "sub", "link_out.png", "missing.png")

def write_images(base: Path) -> Path:
    root = base/"images"; (root/"sub").mkdir(parents=True)
    Image.new("RGB", (16, 16), (200, 30, 30)).save(root/"a.png")
    Image.new("L", (16, 12), 90).save(root/"b.png")
    Image.new("RGBA", (12, 16), (0, 90, 0, 128)).save(root/"sub"/"c.png")
    Image.new("CMYK", (16, 16), (0, 50, 90, 0)).save(root/"d.jpg")
    Image.new("RGB", (4, 4)).save(root/"tiny.png")
    (root/"text.png").write_text("this is not a picture\n")
    (root/"empty.png").write_bytes(b"")
    (root/"trunc.png").write_bytes((root/"a.png").read_bytes()[:40])
    (root/"huge.png").write_bytes(png_declaring(100_000, 100_000))
    (root/"link_in.png").symlink_to(root/"a.png")
    (base/"outside").mkdir(); Image.new("RGB", (16, 16)).save(base/"outside"/"secret.png")
    (root/"link_out.png").symlink_to(base/"outside"/"secret.png")
    return root

@pytest.fixture(scope="module")
def images_root(tmp_path_factory) -> Path:
    return write_images(tmp_path_factory.mktemp("fuzz_images"))

def inside(root: Path, rel: str) -> bool:
    r, p = root.resolve(), (root/rel).resolve()
    return p == r or r in p.parents

# ---------------------------------------------------------------------------------------------------------
# Strategies for dataset files
ANY_CHARS = st.characters() | st.sampled_from(ODD_PATH_CHARS)      # every category, surrogates included, odd characters often
json_leaf = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
json_value = st.recursive(json_leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4), max_leaves=12)

PATH_SAMPLES = [*VALID_IMAGES, *BAD_IMAGES, "./a.png", "sub/../a.png", "sub//c.png", "a.png/", ".", "..", "../outside/secret.png",
                "../../etc/passwd", "sub/../../outside/secret.png", "/etc/passwd", "/abs/a.png", "", "   ", " a.png", "A.PNG",
                "ä/ö.png", "\U0001f3a8.png", "C:\\a.png", "~/a.png", "\\\\server\\share\\a.png", "a.png\t", "%2e%2e/a.png",
                "\u202eevil.png", "a" * 255, "/".join([".."] * 40), "a" * 256, "sub/" + "x" * 300 + ".png", "a.png\x00", "a\x00.png",
                "a\nb.png", "a.png\r", "\ud800.png", "\udcff.png", "sub\u2028/c.png", "\x1b[31ma.png"]
valid_path = st.sampled_from(VALID_IMAGES)
path_value = (valid_path | valid_path | valid_path | st.sampled_from(PATH_SAMPLES)
              | st.lists(st.sampled_from(["..", ".", "sub", "a.png", "", "outside", "secret.png", "c.png", "~"]), min_size=1, max_size=6).map("/".join)
              | st.text(ANY_CHARS, max_size=24)
              | st.none() | st.integers() | st.booleans() | st.lists(st.text(max_size=3), max_size=2) | st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))
good_label = st.sampled_from(["ann", "bob", "cyd", " ann ", "cubism", "Ann", "ann\n", "x" * 200, "日本画", "a,b", '"q"'])
label_value = (good_label | good_label | good_label | st.sampled_from(["", "   ", "\u00a0", "\t"])
               | st.text(max_size=10) | st.none() | st.integers() | st.floats() | st.booleans() | st.lists(st.text(max_size=3), max_size=2))

@st.composite
def a_record(draw, dims=("artist", "style", "genre", "emotion")):
    kind = draw(st.integers(0, 19))
    if kind == 0: return draw(json_value)                                     # not an object at all
    if kind < 10:                                                             # a valid record, perhaps with one field dropped or replaced
        r = {"image": draw(valid_path), **{d: draw(good_label) for d in dims}}
        if draw(st.booleans()):
            k = draw(st.sampled_from(["image", *dims]))
            if draw(st.booleans()): r.pop(k)
            else: r[k] = draw(path_value if k == "image" else label_value)
        return r
    r = {}
    if draw(st.integers(0, 9)): r["image"] = draw(path_value)
    for d in dims:
        if draw(st.integers(0, 9)): r[d] = draw(label_value)
    extra = draw(st.dictionaries(st.text(max_size=6), json_leaf, max_size=2))
    return {**extra, **r} if draw(st.booleans()) else {**r, **extra}     # extra keys may also overwrite fields

dims_value = st.sampled_from([DEFAULT_DIMENSIONS, ("artist",), ("genre", "artist"), ("artist", "emotion"),
                              ("artist", "artist"), ("image",), ("",), ("artist", "style", "genre", "emotion")])

def check_records(df: pd.DataFrame, n_in: int, root: Path, dims, on_error: str):
    "The guarantees of a successful `load_records`."
    assert {"image", *dims} <= set(df.columns)
    keys = [os.path.normpath(x) for x in df["image"]]
    assert len(set(keys)) == len(keys), "duplicate images were accepted"
    for rel in df["image"]:
        assert isinstance(rel, str) and not os.path.isabs(rel) and inside(root, rel), rel
        assert (root/rel).resolve().is_file()
    for d in dims:
        for v in df[d]: assert isinstance(v, str) and v == v.strip() and v, (d, v)
    skipped = df.attrs.get("skipped", [])
    for m in skipped: assert "\n" not in m and "\r" not in m, m
    if on_error == "raise": assert len(df) == n_in and not skipped
    else: assert len(df) + len(skipped) == n_in

# ---------------------------------------------------------------------------------------------------------
# 1. Dataset loaders

@FUZZ
@given(records=st.lists(a_record(), max_size=8), dims=dims_value, on_error=st.sampled_from(["raise", "skip"]),
       check_images=st.booleans())
def test_load_records_fuzzed_records(images_root, records, dims, on_error, check_images):
    "Random records (random, missing or wrong-typed fields; `..`, absolute, unicode and odd paths): only one-line library errors."
    with tempfile.TemporaryDirectory() as t:
        p = Path(t)/"fz.json"; p.write_text(json.dumps(records), encoding="utf-8")
        try: df = load_records(p, images_root, dims, on_error=on_error, check_images=check_images)
        except MyVLMArtError as e: one_line(e); return
        event("loaded"); event(f"skipped {min(len(df.attrs['skipped']), 3)}+ record(s)")
        if check_images: check_records(df, len(records), images_root, tuple(dict.fromkeys(dims)), on_error)
        else:
            assert all(inside(images_root, r) for r in df["image"])

@FUZZ
@given(text=st.one_of(json_value.map(json.dumps), st.text(ANY_CHARS, max_size=60), st.binary(max_size=60),
                      st.lists(st.sampled_from(['[', ']', '{', '}', '"image"', ':', ',', '"a.png"', '"artist"', '"x"', 'null',
                                                 'NaN', '1e999', '-0', '1' + '0' * 5000 + '.5', '"\\u00e9"', '"\\t"', ' ', '\ufeff',
                                                 '[' * 2000, '9' * 5000, '"\\ud800"', '"a\\u0000.png"']),
                               max_size=30).map("".join)),
       on_error=st.sampled_from(["raise", "skip"]))
def test_load_records_arbitrary_text(images_root, text, on_error):
    "Arbitrary JSON values, text, bytes and JSON fragments (huge floats, NaN, BOM) as the dataset JSON: only one-line library errors."
    with tempfile.TemporaryDirectory() as t:
        p = Path(t)/"fz.json"
        if isinstance(text, bytes): p.write_bytes(text)
        else: p.write_text(text, encoding="utf-8", errors="surrogatepass")
        try: df = load_records(p, images_root, on_error=on_error)
        except MyVLMArtError as e: one_line(e); return
        event("loaded"); data = json.loads(p.read_bytes().decode("utf-8", "surrogatepass"))
        check_records(df, len(data), images_root, DEFAULT_DIMENSIONS, on_error)

EXPECTED_COLS = ("image_path", *DEFAULT_DIMENSIONS, *TARGET_TEXT_COLUMNS)
cell_value = (st.sampled_from(["a.png", "b.png", "sub/c.png", "ann", "bob", "cubism", "portrait", "", " ", "k", '"', ",", "\n", "a,b",
                               'x"y', "\x00", "NaN", "null", "\ufeff", "=cmd|' /C calc'!A0"])
              | st.text(max_size=8))

@st.composite
def a_header(draw):
    cols = list(EXPECTED_COLS)
    for _ in range(draw(st.integers(0, 2))):
        op = draw(st.sampled_from(["drop", "extra", "misspell", "dup", "shuffle", "space", "case"]))
        i = draw(st.integers(0, len(cols) - 1)) if cols else 0
        if op == "drop" and cols: cols.pop(i)
        elif op == "extra": cols.insert(i, draw(st.sampled_from(["emotion", "notes", "", "Unnamed: 0", "image"]) | st.text(max_size=6)))
        elif op == "misspell" and cols: cols[i] = cols[i][::-1] if len(cols[i]) > 1 else cols[i] + "x"
        elif op == "dup" and cols: cols.insert(i, cols[i])
        elif op == "shuffle": cols = draw(st.permutations(cols))
        elif op == "space" and cols: cols[i] = " " + cols[i]
        elif op == "case" and cols: cols[i] = cols[i].upper()
    return cols

VALID_ROWS = [["a.png", "ann", "cubism", "portrait", "artist: ann", "flat"], ["b.png", "bob", "cubism", "k", "k", ""],
              ["sub/c.png", "ann", "x", "y", "z", "w"]]
random_row = st.lists(cell_value, min_size=12, max_size=12)
valid_row = st.sampled_from(VALID_ROWS).map(lambda r: r + [""] * 6)

@FUZZ
@given(header=a_header(), rows=st.lists(st.tuples(st.sampled_from([0, 0, 0, 0, 1, 2, -1, -2]), valid_row | valid_row | random_row), max_size=6),
       cross=st.booleans(), bom=st.booleans(), crlf=st.booleans())
def test_load_targets_fuzzed_csv(images_root, header, rows, cross, bom, crlf):
    "Random columns (missing, extra, misspelt, duplicated), cells and row lengths (shorter or longer than the header), with or without the records cross-check: only one-line library errors; a row longer than the header never loads."
    recs = pd.DataFrame([{"image": "a.png", "artist": "ann", "style": "cubism", "genre": "portrait"},
                         {"image": "b.png", "artist": "bob", "style": "cubism", "genre": "k"}]) if cross else None
    buf = io.StringIO(); w = csv.writer(buf, lineterminator="\r\n" if crlf else "\n"); w.writerow(header)
    for short, cells in rows: w.writerow(cells[:max(len(header) - short, 0)])   # short < 0: a row longer than the header
    too_long = any(len(cells[:max(len(header) - short, 0)]) > len(header) for short, cells in rows)
    with tempfile.TemporaryDirectory() as t:
        p = Path(t)/"fz_targets.csv"; p.write_text(("\ufeff" if bom else "") + buf.getvalue(), encoding="utf-8", errors="surrogatepass")
        try: df = load_targets(p, recs)
        except MyVLMArtError as e: one_line(e); return
    event("loaded"); assert not too_long, "a row longer than the header was accepted"
    assert sorted(df.columns) == sorted(EXPECTED_COLS)          # in any order
    assert len(df) and df["image_path"].is_unique
    for c in ("image_path", *DEFAULT_DIMENSIONS, "target_keys"): assert all(str(v).strip() for v in df[c])
    if recs is not None:
        r = recs.set_index("image")
        for row in df.itertuples(index=False):
            assert row.image_path in r.index and all(getattr(row, d) == r.at[row.image_path, d] for d in DEFAULT_DIMENSIONS)

BASE_LABELS = {"a.png": ("ann", "cubism", "portrait"), "b.png": ("bob", "pointillism", "landscape"),
               "sub/c.png": ("ann", "pointillism", "abstract"), "d.jpg": ("cyd", "cubism", "portrait"),
               "link_in.png": ("bob", "cubism", "landscape")}
MUTATIONS = ["drop_record", "drop_row", "dup_record", "dup_row", "bad_path", "json_label", "csv_label", "empty_label",
             "extra_col", "drop_col", "rename_col", "extra_field", "not_list", "extra_row", "splits_ok", "splits_random",
             "splits_wrong_cols", "label_type", "reorder_rows"]

@st.composite
def a_dataset(draw):
    "A valid dataset over the module's images, then 0-3 random corruptions; returns (records, csv rows, header, splits text or None)."
    names = draw(st.lists(st.sampled_from(sorted(BASE_LABELS)), min_size=1, max_size=5, unique=True))
    recs = [{"image": n, **dict(zip(DEFAULT_DIMENSIONS, BASE_LABELS[n]))} for n in names]
    header = list(EXPECTED_COLS)
    rows = [[r["image"], r["artist"], r["style"], r["genre"], f"artist: {r['artist']}", "flat colour"] for r in recs]
    splits = None
    for m in draw(st.lists(st.sampled_from(MUTATIONS), max_size=3)):
        i = draw(st.integers(0, 10**6))
        if m == "drop_record" and recs: recs.pop(i % len(recs))
        elif m == "drop_row" and rows: rows.pop(i % len(rows))
        elif m == "dup_record" and recs and isinstance(recs[i % len(recs)].get("image"), str):
            recs.append(dict(recs[i % len(recs)], image=draw(st.sampled_from(["", "./"])) + recs[i % len(recs)]["image"]))
        elif m == "dup_row" and rows: rows.append(list(rows[i % len(rows)]))
        elif m == "bad_path" and recs: recs[i % len(recs)]["image"] = draw(path_value)
        elif m == "json_label" and recs: recs[i % len(recs)][draw(st.sampled_from(DEFAULT_DIMENSIONS))] = draw(label_value)
        elif m == "csv_label" and rows: r = rows[i % len(rows)]; r[draw(st.integers(0, 5)) % len(r)] = draw(cell_value)
        elif m == "empty_label" and recs: recs[i % len(recs)]["style"] = " "
        elif m == "extra_col": header.append(draw(st.sampled_from(["notes", "emotion", ""]))); rows = [r + ["x"] for r in rows]
        elif m == "drop_col": j = i % len(header); header.pop(j); rows = [r[:j] + r[j + 1:] for r in rows]
        elif m == "rename_col": header[i % len(header)] = draw(st.sampled_from(["artst", "Image_Path", "genres", "target-keys"]))
        elif m == "extra_field" and recs: recs[i % len(recs)][draw(st.text(max_size=5))] = draw(json_leaf)
        elif m == "not_list": recs = {"records": recs}
        elif m == "extra_row": rows.append(["missing.png", "ann", "cubism", "portrait", "k", "r"])
        elif m == "label_type" and recs: recs[i % len(recs)]["genre"] = draw(st.integers() | st.none() | st.lists(st.text(max_size=2), max_size=2))
        elif m == "reorder_rows": rows = rows[::-1]
        elif m.startswith("splits"):
            buf = io.StringIO(); w = csv.writer(buf, lineterminator="\n")
            w.writerow(["image_path", "split"] if m != "splits_wrong_cols" else ["image", "split", "x"])
            for n in names:
                if m == "splits_random" and draw(st.booleans()): w.writerow([draw(cell_value), draw(st.sampled_from([*SPLITS, "holdout", ""]))])
                else: w.writerow([n, draw(st.sampled_from(SPLITS))])
            splits = buf.getvalue()
        if isinstance(recs, dict): break
    return recs, rows, header, splits

@FUZZ
@given(ds=a_dataset(), on_error=st.sampled_from(["raise", "skip"]), resplit=st.booleans(), seed=st.integers(0, 2**32))
def test_prepare_dataset_fuzzed(images_root, ds, on_error, resplit, seed):
    "A dataset with random corruptions: a one-line library error and nothing written, or a consistent split on disk."
    recs, rows, header, splits = ds
    with tempfile.TemporaryDirectory() as t:
        d = Path(t)
        spec = DatasetSpec("fz", d/"fz.json", d/"fz_targets.csv", d/"fz_splits.csv", images_root)
        spec.json_path.write_text(json.dumps(recs), encoding="utf-8")
        buf = io.StringIO(); w = csv.writer(buf, lineterminator="\n"); w.writerow(header); w.writerows(rows)
        spec.targets_path.write_text(buf.getvalue(), encoding="utf-8", errors="surrogatepass")
        if splits is not None: spec.splits_path.write_text(splits, encoding="utf-8", errors="surrogatepass")
        before = {p.name: p.read_bytes() for p in d.iterdir()}
        try: data = prepare_dataset(spec, seed=seed, on_error=on_error, resplit=resplit)
        except MyVLMArtError as e:
            one_line(e)
            after = {p.name: p.read_bytes() for p in d.iterdir()}
            assert after == before, f"a failed prepare_dataset changed files: {sorted(set(after) ^ set(before))}"
            return
        event("prepared"); assert spec.splits_path.is_file() and not list(d.glob("*.tmp")) and not list(d.glob(".*.tmp"))
        assert set(data.records.split) <= set(SPLITS)
        assert list(load_splits(spec.splits_path, data.records)) == list(data.records.split)
        assert list(data.targets.image_path) == list(data.records.image)
        check_records(data.records.drop(columns="split"), len(recs), images_root, DEFAULT_DIMENSIONS, on_error)

@FUZZ
@given(index=st.lists(st.tuples(st.sampled_from(["artist", "style", ""]), st.text(max_size=4)).map(list), max_size=4),
       images=st.lists(st.text(max_size=6), max_size=4),
       signals=st.lists(st.lists(st.floats() | st.integers(-3, 3) | st.none() | st.text(max_size=3) | st.booleans(), max_size=5), max_size=5),
       expect=st.booleans(), as_csv=st.booleans(), longer=st.sampled_from([0, 0, 0, 1]))
def test_read_signals_fuzzed(index, images, signals, expect, as_csv, longer):
    "Signals files with random shapes and values (NaN, inf, out of range, strings, nulls): only one-line library errors; what loads is finite and in [0, 1]."
    with tempfile.TemporaryDirectory() as t:
        if as_csv:
            p = Path(t)/"s.csv"; buf = io.StringIO(); w = csv.writer(buf, lineterminator="\n")
            w.writerow(["image", *[f"{a}:{b}" for a, b in index]])
            for im, row in zip(images, signals): w.writerow([im, *(row + [""] * len(index))[:len(index) + longer]])   # longer: a cell past the header
            p.write_text(buf.getvalue(), encoding="utf-8", errors="surrogatepass")
        else:
            p = Path(t)/"s.json"; p.write_text(json.dumps({"index": index, "images": images, "signals": signals}), encoding="utf-8")
        try: ims, sig, idx = read_signals(p, [tuple(c) for c in index] if expect else None)
        except MyVLMArtError as e: one_line(e); return
    assert not (as_csv and longer and any(len(r) > len(index) for r in signals[:len(images)])), "a CSV row longer than the header was accepted"
    event("loaded"); assert sig.shape == (len(ims), len(idx)) and np.isfinite(sig).all() and ((sig >= 0) & (sig <= 1)).all()

# ---------------------------------------------------------------------------------------------------------
# 2. Parsers of model output

NAME_POOL = ["Pablo Picasso", "Claude Monet", "Vincent van Gogh", "Georges Seurat", "Ann", "cubism", "impressionism",
             "pointillism", "colour field", "geometric abstraction", "expressionism", "landscape", "portrait", "still life",
             "cityscape", "abstract", "seascape", "awe", "sadness", "C++", "a.b", "(x)", "ann_lee", "x|y", "\\d+", "é", "日本画",
             " _ ", "\r", "cubiſm", "İmpressionism", "ſa", "sa", "Kelvin"]          # names with no alias; casefold twins
SAFE_TEXT = st.characters() | st.sampled_from(CASEFOLD_TRAPS)       # the casefold traps often
concept_name = st.sampled_from(NAME_POOL) | st.text(SAFE_TEXT, min_size=1, max_size=8)

@st.composite
def a_vocab(draw):
    dims = draw(st.lists(st.sampled_from(["artist", "style", "genre", "emotion"]), min_size=1, max_size=4, unique=True))
    return {d: draw(st.lists(concept_name, min_size=1, max_size=6, unique=True)) for d in dims}

def _case_variant(draw, s):
    "`s` in another case (only case changes that keep `lower()`, e.g. not ß -> SS), or with spaces as - or _."
    cased = [v for v in (s.lower(), s.upper(), s.title(), s.swapcase()) if v.lower() == s.lower()]
    return draw(st.sampled_from([s, *cased, s.replace(" ", "-"), s.replace(" ", "_")]))

@st.composite
def an_answer(draw, vocab):
    "Text built from markers, JSON pieces, concept names/aliases, nesting and huge numbers, plus random text."
    frags = [JSON_OPEN, JSON_CLOSE, "<json", "json>", "</json", "{", "}", "[", "]", ":", ",", '"', "\\", "null", "true", "NaN",
             "Infinity", "1e999", "-0", "9" * 4400, "\x00", "\n", " ", "'", '"artist"', '"style"', '"genre"', '"evidence"',
             '{"artist": "', '"}', '__import__("os").system("true")', "\ufeff"]
    names = [a for d, ns in vocab.items() for n in ns for a in [n, *aliases_for(d, n)[:4]]]
    parts = []
    for _ in range(draw(st.integers(0, 25))):
        k = draw(st.integers(0, 9))
        if k < 4: parts.append(draw(st.sampled_from(frags)))
        elif k < 7 and names: parts.append(_case_variant(draw, draw(st.sampled_from(names))))
        elif k == 7:
            n = draw(st.integers(1, 30000)); parts.append(draw(st.sampled_from(["[" * n, "{\"a\":" * n, "[" * n + "]" * n])))
        else: parts.append(draw(st.text(SAFE_TEXT, max_size=12)))
    return "".join(parts)

def check_parsed(out, vocab):
    assert isinstance(out, dict) and list(out) == list(vocab)
    for d, v in out.items(): assert v is None or v in vocab[d], (d, v)

def no_closed_block(text: str) -> bool:
    i = text.find(JSON_OPEN)
    return i < 0 or text.find(JSON_CLOSE, i + len(JSON_OPEN)) < 0

@FUZZ
@given(data=st.data())
def test_parsers_never_raise(data):
    "Arbitrary and adversarial answers: every parser returns `{dim: None or a vocabulary name}` and never raises."
    vocab = data.draw(a_vocab(), "vocab")
    text = data.draw(an_answer(vocab) | st.text(SAFE_TEXT, max_size=80) | st.none() | st.integers() | st.binary(max_size=8), "text")
    m = AliasMatcher(vocab)
    obj = extract_json(text)
    assert obj is None or isinstance(obj, dict)
    s = parse_structured(text, m); check_parsed(s, vocab)
    check_parsed(parse_natural(text, m), vocab)
    check_parsed(parse_answer(text, "structured", m), vocab); check_parsed(parse_answer(text, "natural", m), vocab)
    if not isinstance(text, str) or no_closed_block(text):
        assert obj is None and all(v is None for v in s.values()), "structured parse without a closed <json> block must be all None"
    for d in vocab:
        v = m.value(d, text); assert v is None or v in vocab[d]
    if isinstance(text, str):
        for pos, d, n in m.find(text): assert 0 <= pos < max(len(text), 1) and n in vocab[d]

@FUZZ
@given(data=st.data())
def test_structured_parse_of_valid_json(data):
    "A closed block with valid JSON, between random text and beside extra keys: each dimension's value is read exactly as its JSON field alone."
    vocab = data.draw(a_vocab(), "vocab")
    m = AliasMatcher(vocab)
    obj = data.draw(st.dictionaries(st.text(max_size=5), json_leaf, max_size=2))
    obj |= {d: _case_variant(data.draw, data.draw(st.sampled_from(ns))) for d, ns in vocab.items()}
    pre, post = data.draw(st.text(SAFE_TEXT, max_size=20)), data.draw(st.text(SAFE_TEXT, max_size=20))
    body = json.dumps(obj, ensure_ascii=data.draw(st.booleans()))
    assume(JSON_OPEN not in pre and JSON_CLOSE not in body)
    out = parse_structured(f"{pre}{JSON_OPEN}{body}{JSON_CLOSE}{post}", m); check_parsed(out, vocab)
    assert out == {d: m.value(d, obj[d]) for d in vocab}
    for d in vocab:
        if obj[d] in vocab[d] and m.value(d, obj[d]) is not None: assert out[d] == obj[d]   # a canonical name reads as itself

@FUZZ
@given(kind=st.text(max_size=12) | st.sampled_from(["natural", "structured", "Natural", "json", ""]), text=st.text(SAFE_TEXT, max_size=30))
def test_parse_answer_kind(kind, text):
    "An unknown prompt kind is a one-line ConfigError; a known one parses."
    m = AliasMatcher({"artist": ["Pablo Picasso"], "style": ["cubism"]})
    if kind in ("natural", "structured"): check_parsed(parse_answer(text, kind, m), m.vocab)
    else:
        with pytest.raises(MyVLMArtError) as e: parse_answer(text, kind, m)
        one_line(e.value)

# ---------------------------------------------------------------------------------------------------------
# 3. The gate (DESIGN §7)

f32 = np.float32

def ref_select(s: np.ndarray, concepts: dict, cfg: GateConfig) -> list[int]:
    "DESIGN §7 steps 1-4 for one sample, in plain Python (float32 comparisons, as the signals are float32): the selected global ids in order."
    dims, cols, o = list(concepts), {}, 0
    for d in dims: cols[d] = list(range(o, o + len(concepts[d]))); o += len(concepts[d])
    cand = {}
    for d in dims:
        tau = f32((cfg.thresholds or {}).get(d, cfg.tau)); floor = f32(tau - f32(cfg.delta))
        ordered = sorted(cols[d], key=lambda j: (-s[j], j))
        active = [j for j in ordered if s[j] >= tau]                                      # 1. activate, sorted by signal
        c = active or ([ordered[0]] if s[ordered[0]] >= floor else [])                    # 2. backoff to the top-1
        cand[d] = c[:cfg.top_k]                                                           # 3. top-K per dimension
    pool = [j for d in dims for j in cand[d]]
    by_score = lambda js: sorted(js, key=lambda j: (-s[j], j))
    if not cfg.fairness: return by_score(pool)[:cfg.budget]                               # 4. budget, by global score
    order = [d for d in dict.fromkeys(cfg.priority) if d in concepts] + [d for d in dims if d not in cfg.priority]
    firsts = [cand[d][0] for d in order if cand[d]]                                       # 4. fair: each dim's top-1 in priority order
    return (firsts + by_score([j for j in pool if j not in firsts]))[:cfg.budget]

def ref_tokens(sig: float, max_tokens: int) -> int:
    return max(1, int(math.ceil(f32(sig) * f32(max_tokens))))

DIM_POOL = ["artist", "style", "genre", "emotion", "medium"]
unit_float = st.floats(0, 1, width=32)

@st.composite
def a_gate_case(draw):
    D = draw(st.integers(2, 4))
    dims = draw(st.lists(st.sampled_from(DIM_POOL), min_size=D, max_size=D, unique=True))
    concepts = {d: [f"{d}{i}" for i in range(draw(st.integers(1, 12)))] for d in dims}
    tau = draw(unit_float | st.sampled_from([0.0, 0.5, 0.75, 1.0]))
    thresholds = draw(st.none() | st.dictionaries(st.sampled_from(dims + ["other"]), unit_float | st.sampled_from([0, 1, 0.5]), max_size=4))
    # any order of names: a subset of the dimensions, possibly with names that are not dimensions, possibly repeated
    priority = tuple(draw(st.lists(st.sampled_from(dims + ["x", "y", "z", "w", "v"]), max_size=D + 5)))
    cfg = GateConfig(tau=tau, delta=draw(unit_float | st.sampled_from([0.0, 0.05, 1.0])), top_k=draw(st.integers(1, 5)),
                     budget=draw(st.integers(1, 10)), max_tokens=draw(st.integers(1, 6)), fairness=draw(st.booleans()),
                     priority=priority, thresholds=thresholds).validate()
    taus = [f32((thresholds or {}).get(d, tau)) for d in dims]
    special = sorted({float(v) for t in taus for v in (t, f32(t - f32(cfg.delta)), np.nextafter(t, f32(0)), np.nextafter(t, f32(1)),
                                                    np.nextafter(f32(t - f32(cfg.delta)), f32(1))) if 0 <= v <= 1} | {0.0, 1.0, 0.5})
    N, B = sum(map(len, concepts.values())), draw(st.integers(1, 4))
    mode = draw(st.sampled_from(["mixed", "mixed", "special", "zeros", "ties"]))
    if mode == "zeros": vals = [0.0] * (B * N)
    elif mode == "ties": vals = [draw(st.sampled_from(special))] * (B * N)
    elif mode == "special": vals = draw(st.lists(st.sampled_from(special), min_size=B * N, max_size=B * N))
    else: vals = draw(st.lists(st.sampled_from(special) | unit_float, min_size=B * N, max_size=B * N))
    S = np.asarray(vals, dtype=np.float32).reshape(B, N)
    return concepts, cfg, S

def check_selection(S, concepts, cfg, ids_row, n_sel):
    "The §7 invariants of one sample's selection (independent of the reference)."
    dims = list(concepts); dim_of = [d for d in dims for _ in concepts[d]]; o, cols = 0, {}
    for d in dims: cols[d] = list(range(o, o + len(concepts[d]))); o += len(concepts[d])
    sel = [int(j) for j in ids_row if j >= 0]
    assert len(sel) == n_sel <= cfg.budget, "more than B concepts"
    assert all(j < 0 for j in ids_row[n_sel:]) and all(j >= 0 for j in ids_row[:n_sel]), "empty slots are not at the end"
    assert len(set(sel)) == len(sel)
    for d in dims:
        mine = [j for j in sel if dim_of[j] == d]
        assert len(mine) <= cfg.top_k, "more than K concepts in one dimension"
        tau = f32((cfg.thresholds or {}).get(d, cfg.tau)); floor = f32(tau - f32(cfg.delta))
        for j in mine:
            assert S[j] >= floor, "a selected concept is below tau - delta"
            if S[j] < tau:       # only as the dimension's single backoff top-1
                assert mine == [j] and not any(S[k] >= tau for k in cols[d]), "a below-tau concept was selected beside another"
                assert j == min(cols[d], key=lambda k: (-S[k], k)), "the backoff concept is not the dimension's top-1"
    if cfg.fairness:
        has = [d for d in dims if any(S[k] >= f32(f32((cfg.thresholds or {}).get(d, cfg.tau)) - f32(cfg.delta)) for k in cols[d])]
        if cfg.budget >= len(has):
            for d in has: assert any(dim_of[j] == d for j in sel), f"fairness: dimension {d} has a candidate but got no slot"

@FUZZ
@given(case=a_gate_case(), hidden=st.integers(1, 8), seed=st.integers(0, 3), norm_kind=st.sampled_from(["none", "given", "given"]),
       data=st.data())
def test_gate_invariants_and_reference(case, hidden, seed, norm_kind, data):
    "Random vocabularies, signals (thresholds, ties, all-zero) and configs: §7's invariants hold and the gate equals `ref_select`."
    concepts, cfg, S = case
    B = S.shape[0]
    sel = select_concepts(torch.tensor(S), concepts, cfg)
    assert tuple(sel.concept_ids.shape) == (B, cfg.budget) == tuple(sel.signals.shape)
    layer = MultiTokenConceptLayer(concepts, hidden, cfg, seed=seed)
    norms = np.asarray(data.draw(st.lists(st.floats(0.015625, 128, width=32), min_size=B, max_size=B)), dtype=np.float32)
    with torch.no_grad(): out = layer(torch.tensor(S), torch.tensor(norms) if norm_kind == "given" else None)
    totals = []
    for b in range(B):
        ids = sel.concept_ids[b].tolist(); n = int(sel.n_selected[b])
        check_selection(S[b], concepts, cfg, ids, n)
        want = ref_select(S[b], concepts, cfg); event(f"selected {len(want)}")
        assert ids[:n] == want, f"sample {b}: gate {ids[:n]} != reference {want}"
        assert torch.equal(sel.signals[b, :n], torch.tensor(S[b][want])) and not sel.signals[b, n:].any()
        slots = [(j, t) for j in want for t in range(ref_tokens(S[b][j], cfg.max_tokens))]     # step 5: k tokens per concept
        totals.append(len(slots))
        L = out.mask.shape[1]
        assert int(out.mask[b].sum()) == len(slots) and out.mask[b, :len(slots)].all(), "mask length != sum of tokens"
        assert out.concept_ids[b, :len(slots)].tolist() == [j for j, _ in slots]
        assert out.token_index[b, :len(slots)].tolist() == [t for _, t in slots]
        assert (out.concept_ids[b, len(slots):] == -1).all() and (out.token_index[b, len(slots):] == -1).all()
        tn = out.tokens[b].norm(dim=-1)
        want_norm = float(norms[b]) if norm_kind == "given" else None
        for i, (j, t) in enumerate(slots):
            ref = want_norm if want_norm is not None else float(layer.values.detach()[j, t].norm())
            assert math.isclose(float(tn[i]), ref, rel_tol=1e-4, abs_tol=1e-5), f"token norm {float(tn[i])} != {ref}"
        assert not out.tokens[b, len(slots):].any(), "padding tokens are not zero"
    assert out.mask.shape[1] == max(totals) and tuple(out.tokens.shape) == (B, max(totals), hidden)

@FUZZ
@given(case=a_gate_case(), data=st.data())
def test_gate_refuses_nan_and_out_of_range(case, data):
    "A NaN, infinite or out-of-[0, 1] signal anywhere is a one-line library error, for `select_concepts` and the layer."
    concepts, cfg, S = case
    b, j = data.draw(st.integers(0, S.shape[0] - 1)), data.draw(st.integers(0, S.shape[1] - 1))
    S = S.copy(); S[b, j] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf, -1e-3, 1.001, -0.5, 2.0]))
    with pytest.raises(MyVLMArtError) as e: select_concepts(torch.tensor(S), concepts, cfg)
    one_line(e.value)
    with pytest.raises(MyVLMArtError): MultiTokenConceptLayer(concepts, 4, cfg)(torch.tensor(S), torch.ones(S.shape[0]))

# ---------------------------------------------------------------------------------------------------------
# Bugs found by the fuzzers above (and, for the gate's priority, by reading select_concepts while writing
# ref_select), kept with their exact inputs as regression tests. They were strict xfails until fixed in the
# library; the strategies above now generate these inputs too.

def test_regression_nul_in_image_path(images_root, tmp_path):
    "A NUL byte in a record's image path (once ValueError('embedded null byte') from Path.resolve) is a DataError naming the record."
    p = tmp_path/"x.json"; p.write_text(json.dumps([{"image": "a\x00.png", "artist": "a", "style": "b", "genre": "c"}]))
    with pytest.raises(MyVLMArtError) as e: load_records(p, images_root)
    assert "x.json record 0" in one_line(e.value) and "control character" in str(e.value)
    with pytest.raises(MyVLMArtError) as e: load_records(p, images_root, on_error="skip")   # skipped, then no valid records
    assert "no valid records (skipped 1)" in one_line(e.value)

def test_regression_surrogate_in_image_path(images_root, tmp_path):
    "A lone surrogate (JSON \\ud800) in an image path (once UnicodeEncodeError from Path.resolve) is a DataError naming the record."
    p = tmp_path/"x.json"; p.write_text('[{"image": "\\ud800.png", "artist": "a", "style": "b", "genre": "c"}]')
    with pytest.raises(MyVLMArtError) as e: load_records(p, images_root)
    assert "x.json record 0" in one_line(e.value) and "invalid Unicode" in str(e.value)

def test_regression_newline_in_image_path_is_one_line(images_root, tmp_path):
    "A newline in a record's path (once a multi-line 'image file not found' error) gives a one-line error."
    p = tmp_path/"x.json"; p.write_text(json.dumps([{"image": "a\nb.png", "artist": "a", "style": "b", "genre": "c"}]))
    with pytest.raises(MyVLMArtError) as e: load_records(p, images_root)
    assert "'a\\nb.png'" in one_line(e.value)

def test_regression_file_name_too_long(images_root, tmp_path):
    "A path component over 255 bytes (once OSError ENAMETOOLONG from check_image) is a DataError naming the record."
    p = tmp_path/"x.json"; p.write_text(json.dumps([{"image": "a" * 300 + ".png", "artist": "a", "style": "b", "genre": "c"}]))
    with pytest.raises(MyVLMArtError) as e: load_records(p, images_root)
    assert "x.json record 0" in one_line(e.value) and "File name too long" in str(e.value)

def test_regression_deeply_nested_dataset_json(images_root, tmp_path):
    "Deeply nested JSON (once RecursionError from json.loads in data._read_json_list) is a DataError naming the file."
    p = tmp_path/"x.json"; p.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(MyVLMArtError) as e: load_records(p, images_root)
    assert str(p) in one_line(e.value) and "nested too deeply" in str(e.value)

def test_regression_huge_integer_in_dataset_json(images_root, tmp_path):
    "An integer literal over 4300 digits (once ValueError from json.loads, uncaught) is a DataError naming the file."
    p = tmp_path/"x.json"; p.write_text("9" * 5000)
    with pytest.raises(MyVLMArtError) as e: load_records(p, images_root)
    assert str(p) in one_line(e.value) and "not valid JSON" in str(e.value)

@pytest.mark.parametrize("text,line", [(",".join(EXPECTED_COLS) + "\na.png,x,s,g,k,r,EXTRA\nb.png,x,s,g,k,r\n", 2),
                                       (",".join(EXPECTED_COLS) + "\na.png,x,s,g,k,r\nb.png,x,s,g,k,r,1,2\n", 3),
                                       (",".join(EXPECTED_COLS) + "\n" + "".join(f"{i}.png,x,s,g,k,r,E\n" for i in range(3)), 2)],
                         ids=["one-row", "two-extra-cells", "every-row"])
def test_regression_targets_row_with_extra_cells(tmp_path, text, line):
    "A targets row with more cells than the header (once KeyError, or columns silently shifted into an index) is a DataError naming the line."
    p = tmp_path/"t.csv"; p.write_text(text)
    with pytest.raises(MyVLMArtError) as e: load_targets(p)
    assert f"t.csv line {line}:" in one_line(e.value) and "but the header has 6" in str(e.value)

@pytest.mark.parametrize("text", ["It is cubiſm.", "<json>{\"style\": \"cubiſm\"}</json>", "İmpressionism", "by Pablo Picaſſo"])
def test_regression_alias_matcher_casefold(text):
    "Casefold traps (ſ, ı, İ, µ, ...) match an alias under re.IGNORECASE; the matcher (once KeyError) maps them to the concept."
    m = AliasMatcher({"artist": ["Pablo Picasso"], "style": ["cubism", "impressionism"]})
    check_parsed(parse_natural(text, m), m.vocab); check_parsed(parse_structured(text, m), m.vocab)
    assert parse_natural("It is cubiſm by Pablo Picaſſo.", m) == {"artist": "Pablo Picasso", "style": "cubism"}
    assert parse_structured("<json>{\"style\": \"cubiſm\"}</json>", m) == {"artist": None, "style": "cubism"}

def test_regression_casefold_twin_of_a_shared_alias():
    "Found after the casefold fix: a name whose exact alias is shared (so names neither) must not read as its case-fold twin (ſ~s)."
    vocab = {"artist": ["Pablo Picasso"], "style": ["Pablo Picasso", "cubiſm"], "genre": ["Pablo Picasso", "Claude Monet", "cubism", "cubiſm"]}
    m = AliasMatcher(vocab)
    assert m.value("genre", "cubiſm") is None and m.value("genre", "cubism") == "cubism"
    assert parse_structured('<json>{"genre": "cubiſm"}</json>', m) == {"artist": None, "style": None, "genre": None}

def test_regression_empty_alias():
    "A concept name of only whitespace (once an empty alias, matching at every position, even past the end of the text) names nothing."
    m = AliasMatcher({"artist": ["Pablo Picasso"], "style": ["\r"]})
    assert m.find("<json>") == [] and m.first("Picasso, <json>") == {"artist": "Pablo Picasso", "style": None}

def test_gate_priority_with_unknown_names():
    "Regression (found while writing ref_select; fixed in gating.py during this work): names that are not dimensions in the priority must not cost a dimension its fair slot."
    concepts = {"artist": ["a0"], "style": ["s0", "s1"]}
    cfg = GateConfig(tau=0.5, budget=2, top_k=2, fairness=True, priority=("x", "y", "z", "w", "v", "artist")).validate()
    sel = select_concepts(torch.tensor([[0.9, 0.95, 0.92]]), concepts, cfg)
    assert 0 in sel.concept_ids[0].tolist(), f"artist got no slot: {sel.concept_ids[0].tolist()}"

def test_gate_default_priority_order_with_unlisted_dimension():
    "Regression (fixed in gating.py during this work): with the default priority and dimensions (emotion, genre), genre, which is listed, goes before the unlisted emotion."
    concepts = {"emotion": ["e0"], "genre": ["g0"]}
    cfg = GateConfig(tau=0.5, budget=1).validate()
    sel = select_concepts(torch.tensor([[0.9, 0.9]]), concepts, cfg)
    assert sel.concept_ids[0].tolist() == ref_select(np.array([0.9, 0.9], np.float32), concepts, cfg) == [1]

def test_regression_gate_priority_with_repeated_names():
    "A priority with repeated names (once a negative fairness weight: prio = {name: last index}) counts each name at its first place."
    concepts = {"artist": ["a0"], "style": ["s0", "s1"]}
    cfg = GateConfig(tau=0.5, budget=2, top_k=2, fairness=True, priority=("x", "x", "x", "x", "artist")).validate()
    sel = select_concepts(torch.tensor([[0.9, 0.95, 0.92]]), concepts, cfg)
    assert 0 in sel.concept_ids[0].tolist(), f"artist got no slot: {sel.concept_ids[0].tolist()}"
    cfg = GateConfig(tau=0.5, budget=1, top_k=2, fairness=True, priority=("style", "artist", "style")).validate()
    assert select_concepts(torch.tensor([[0.99, 0.6, 0.5]]), concepts, cfg).concept_ids[0].tolist() == [1]   # style keeps first place

def test_regression_gate_visual_norm_and_empty_batch():
    "A visual_norm of the wrong shape (once a RuntimeError from .view) and a batch of 0 images are one-line DataErrors."
    layer = MultiTokenConceptLayer({"artist": ["a0"], "style": ["s0", "s1"]}, 4)
    with pytest.raises(MyVLMArtError) as e: layer(torch.tensor([[0.9, 0.95, 0.92]]), torch.ones(3))
    assert "visual_norm must have shape (1,)" in one_line(e.value)
    with pytest.raises(MyVLMArtError) as e: layer(torch.zeros(0, 3))
    assert "batch of 0 images" in one_line(e.value)
