"""The installed `myvlm-art` command on bad input: one-line error on stderr, non-zero exit, nothing half-written."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

BIN = Path(sys.executable).parent/"myvlm-art"

def run(args, root):
    return subprocess.run([str(BIN), *args], env={**os.environ, "MYVLM_ART_ROOT": str(root)}, capture_output=True, text=True, timeout=600)

def test_unknown_dataset_is_one_line_error(tmp_path):
    r = run(["data", "--dataset", "nope"], tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "nope.json: dataset JSON not found" in r.stderr

def test_out_of_range_config_is_refused(tmp_path):
    r = run(["synthart", "--n-artists", "99"], tmp_path)
    assert r.returncode == 2 and "SynthArtConfig.n_artists is out of range: 99" in r.stderr
    assert not (tmp_path/"data").exists() or not any((tmp_path/"data").rglob("*.json"))

def test_bad_record_leaves_no_split_file(tmp_path):
    r = run(["synthart", "--n-images", "24", "--image-size", "48", "--minimal-pairs", "0"], tmp_path)
    assert r.returncode == 0, r.stderr
    ds = tmp_path/"data"/"dataset"
    recs = json.loads((ds/"synthart.json").read_text())
    recs[3]["image"] = "../../secret.png"
    (ds/"bad.json").write_text(json.dumps(recs))
    (ds/"bad_targets.csv").write_text((ds/"synthart_targets.csv").read_text())
    (tmp_path/"data"/"images"/"bad").symlink_to(tmp_path/"data"/"images"/"synthart")
    r = run(["data", "--dataset", "bad"], tmp_path)
    assert r.returncode == 2
    assert "bad.json record 3 ('../../secret.png'): image path '../../secret.png' escapes the images root" in r.stderr
    assert not (ds/"bad_splits.csv").exists()
