"""The whole study from one config file (DESIGN §12): a real-format dataset the test writes itself (four dimensions
named unlike SynthArt's, unequal class sizes, some empty `target_reason` cells, non-square images of another size),
a tiny llava-hf folder and a tiny OpenCLIP checkpoint saved to disk, run end to end through
`myvlm-art report --config … --quick`; a study the runner picks up from one YAML plus one notebook (no Python edit);
and bad configs, each refused with one line and exit code 2, before anything is written."""
import contextlib, io, json, os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent/"myvlm-art"
DIMS = ("painter", "movement", "subject", "mood")
RENAME = {"artist": "painter", "style": "movement", "genre": "subject"}


def four_dim_dataset(data_dir:Path, n_images:int=72) -> None:
    "SynthArt paintings relabelled as a real-format dataset `fourdim` under `data_dir` (its dataset/ and images/)."
    import pandas as pd
    from PIL import Image
    from myvlm_art.core import Paths
    from myvlm_art.synthart import SynthArtConfig, generate_synthart
    scratch = Paths(data_dir.parent/"scratch")
    data = generate_synthart(SynthArtConfig(n_images=n_images, image_size=48, minimal_pairs=0, workers=1), scratch)
    recs = json.loads(data.spec.json_path.read_text())
    first = recs[0]["artist"]
    recs = [r for i, r in enumerate(recs) if r["artist"] != first or i % 3 == 0]          # one painter with a third of the images
    out = []
    for r in recs:                                                                          # the real format: labels, no evidence field
        mood = "sombre" if r["valence"] < 0.4 else ("calm" if r["valence"] < 0.6 else "bright")
        out.append({"image": r["image"], **{RENAME[k]: r[k] for k in RENAME}, "mood": mood})
    (data_dir/"dataset").mkdir(parents=True); (data_dir/"images"/"fourdim").mkdir(parents=True)
    (data_dir/"dataset"/"fourdim.json").write_text(json.dumps(out, indent=1))
    tg = pd.read_csv(data.spec.targets_path).rename(columns=RENAME)
    tg = tg.set_index("image_path").loc[[r["image"] for r in out]].reset_index()
    tg.insert(4, "mood", [r["mood"] for r in out])
    tg.loc[tg.index % 4 == 1, "target_reason"] = ""                                          # some rows without a reason
    tg.to_csv(data_dir/"dataset"/"fourdim_targets.csv", index=False)
    for r in out:                                                                           # another size, not square
        Image.open(data.spec.images_root/r["image"]).convert("RGB").resize((56, 40)).save(data_dir/"images"/"fourdim"/r["image"])
    shutil.rmtree(scratch.root)


TEST_STUDY = """# a study added without touching Python: this YAML and the notebook beside it
name: classes
notebook: count_classes
description: concepts per dimension of the study's dataset
base: {scale: 2}
runs:
  - {}
report:
  order: 9
  title: "Concepts per dimension (a study added as one YAML + one notebook)"
  view: table
  text: The number of concepts of each dimension the study config names, read through the config.
"""

def count_classes_notebook(path:Path) -> None:
    import nbformat
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('root = ""\nout = ""\nconfig = ""\nseed = 0\nscale = 1')
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "import pandas as pd\nfrom pathlib import Path\nfrom myvlm_art.core import *\nfrom myvlm_art.config import load_study_config\n"
        "from myvlm_art.system import study_data\n"
        "study = load_study_config(config)\ndata = study_data(study, Paths(root))\n"
        "t = pd.DataFrame({'dimension': list(study.dims), 'metric': 'n_concepts', 'value': [scale * len(data.vocab[d]) for d in study.dims]})\n"
        "write_text_atomic(Path(out), t.to_csv(index=False, lineterminator='\\n'))")
    nb.cells = [params, body]; nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    "A project folder with the four-dimension dataset, a tiny llava-hf folder, a tiny OpenCLIP checkpoint and a study config."
    from myvlm_art.vlm import tiny_vlm
    from myvlm_art.encoders import tiny_open_clip_checkpoint
    root = tmp_path_factory.mktemp("fourdim")
    four_dim_dataset(root/"data")
    tiny_vlm(seed=0).save_pretrained(root/"weights"/"llava-tiny")
    arch, ck = tiny_open_clip_checkpoint(root/"weights"/"openclip")
    studies = root/"studies"; studies.mkdir()
    for f in (ROOT/"studies").glob("*.yaml"): shutil.copy(f, studies/f.name)          # the project's studies, on this config
    (studies/"classes.yaml").write_text(TEST_STUDY); count_classes_notebook(studies/"count_classes.ipynb")
    cfg = root/"fourdim.yaml"
    cfg.write_text(f"""name: fourdim-tiny
dataset: fourdim
dimensions:
  - {{name: painter, caption: by}}
  - movement
  - subject
  - mood
encoder: open_clip:{arch}:weights/openclip/{ck.name}
vlm: llava-hf:weights/llava-tiny
studies: {studies}
presets:
  quick: {{limit: 8, per_class: 1, steps_b: 1, max_runs: 1, epochs_a: 0.5, epochs_b: 0.25}}
""")
    return root, cfg


def test_four_dimensions_llava_and_openclip_end_to_end(project):
    root, cfg = project
    r = subprocess.run([str(BIN), "report", "--config", str(cfg), "--root", str(root), "--quick"], capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    import pandas as pd
    R = root/"data"/"quick"/"results"
    tm = pd.read_csv(R/"timings.csv").set_index("stage")
    assert tm.loc["VLM stage-1 alignment", "status"] == "skipped" and tm.loc["synthclip", "status"] == "skipped", tm   # llava-hf: no stage 1
    assert tm.loc["VLM stage-2 instruction tuning", "status"] == "skipped", tm                                        # ... and no stage 2
    assert "ablation: classes" in tm.index                                                                          # the YAML-only study ran
    for f in ("main_table.csv", "baseline.csv", "fourdim_probe.csv", "studies/gate.csv", "studies/training.csv", "studies/prototypes.csv"):
        t = pd.read_csv(R/f)
        assert set(DIMS) <= set(t.dimension.astype(str)), (f, sorted(set(t.dimension)))
    mt = pd.read_csv(R/"main_table.csv")
    assert not mt.source.str.contains("paper").any() and set(mt.system) == {"baseline", "names in prompt", "LoRA on base VLM", "MyVLM (linear head, 1 token)", "integrated", "integrated + graph", "prototype argmax", "linear head argmax"}   # no paper rows for other dimensions
    dif = pd.read_csv(R/"main_table_differences.csv")                                       # integrated - each peer, paired
    assert set(dif.versus) == {"baseline", "names in prompt", "LoRA on base VLM", "MyVLM (linear head, 1 token)", "integrated + graph", "prototype argmax", "linear head argmax"} and set(DIMS) <= set(dif.dimension)
    kn = pd.read_csv(R/"studies"/"knowledge.csv")                                           # llava-hf: no stage 2, so the prior-knowledge sweep does not apply
    assert kn.system.str.startswith("not applicable").all() and kn.value.isna().all(), kn
    cls = pd.read_csv(R/"studies"/"classes.csv")
    assert list(cls.scale.unique()) == [2] and set(cls.dimension) == set(DIMS) and "config" not in cls.columns    # the config reached the run, not its table
    assert cls.set_index("dimension").value.to_dict() == {"painter": 16, "movement": 12, "subject": 12, "mood": 6}
    heads = pd.read_csv(R/"prototypes.csv")
    assert any(e.startswith("open_clip:tiny-vit-test:") for e in heads.encoder)
    # the rendered report: every table and figure is there and decodes; each that shows dimensions shows all four
    sys.path.insert(0, str(Path(__file__).parent))
    from report_check import check_report, report_problems
    manifest = json.loads((R/"report"/"manifest.json").read_text())
    assert "ablation_classes" in manifest["tables"]
    assert manifest["dims"] and all(set(DIMS) <= set(v) for k, v in manifest["dims"].items()), manifest["dims"]
    res = check_report(R/"report"/"report.html", R/"report"/"manifest.json")
    assert report_problems(res, res["manifest"]) == []
    html = (R/"report"/"report.html").read_text()
    assert html.count("mood") >= 8 and "fourdim" in html


def _main(args):
    from myvlm_art.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err): code = main(args)
    return code, err.getvalue()


def _files(root:Path) -> set:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("case", ["unknown key", "unknown dimension", "missing checkpoint", "other architecture", "encoder does not parse",
                                  "dataset lacks a dimension", "synthart lacks a dimension", "llava folder without config"])
def test_bad_config_is_one_line_exit_2_nothing_written(project, tmp_path, case):
    root, good = project
    text = good.read_text()
    (tmp_path/"gpt").mkdir(); (tmp_path/"gpt"/"config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}))
    (tmp_path/"empty").mkdir()
    enc = next(l for l in text.splitlines() if l.startswith("encoder:"))
    vlm = next(l for l in text.splitlines() if l.startswith("vlm:"))
    abs_ = lambda s: s.replace("weights/", f"{root}/weights/")
    text = abs_(text)
    bad, expect = {
        "unknown key": (text + "colour: red\n", "unknown key 'colour'"),
        "unknown dimension": (text.replace("  - mood\n", "  - {name: mood, weight: 2}\n"), "dimensions[3]: unknown key(s) ['weight']"),
        "missing checkpoint": (text.replace(abs_(enc), enc.replace("weights/openclip/", f"{tmp_path}/")), "not found"),
        "other architecture": (text.replace(abs_(vlm), f"vlm: llava-hf:{tmp_path/'gpt'}"), "holds a 'GPT2LMHeadModel' model"),
        "encoder does not parse": (text.replace(abs_(enc), "encoder: open_clip:ViT-L-14"), "does not parse"),
        "dataset lacks a dimension": (text.replace("  - mood\n", "  - school\n"), "dimensions: 'school' is not in"),
        "synthart lacks a dimension": ("dimensions: [artist, style, mood]\n", "SynthArt has no dimension 'mood'"),
        "llava folder without config": (text.replace(abs_(vlm), f"vlm: llava-hf:{tmp_path/'empty'}"), "config.json not found"),
    }[case]
    cfg = tmp_path/"bad.yaml"; cfg.write_text(bad)
    before = _files(root)
    code, err = _main(["report", "--config", str(cfg), "--root", str(root), "--quick"])
    assert code == 2, (case, err)
    assert err.startswith("myvlm-art: error: ") and err.count("\n") == 1 and expect in err, (case, err)
    assert str(cfg) in err or "dimensions" in err, err                                  # names the file (or the key)
    assert _files(root) == before, (case, _files(root) ^ before)                        # nothing written
