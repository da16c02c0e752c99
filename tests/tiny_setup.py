"""The tiny training setup that the interrupt and the data-parallel tests share: a corpus, synthclip, its signals
(saved) and the tiny VLM's parts (saved), built on one thread under `root`."""
import json
from pathlib import Path
import numpy as np, torch


def build_tiny_setup(root:Path, n_images:int) -> Path:
    "Corpus, synthclip, signals (`signals.npz`, `setup.json`) and tiny VLM parts (`tiny/`) under `root`."
    from myvlm_art.core import Paths
    from myvlm_art.synthart import SynthArtConfig, generate_synthart
    from myvlm_art.synthclip import SynthClipConfig, ensure_synthclip
    from myvlm_art.vlm import ensure_smollm2, write_tiny_parts
    from myvlm_art.system import prototype_signals
    paths = Paths(root/"project")
    # the tiny LM needs the SmolLM2 tokenizer: the project's converted copy (converted here, at full threads, if no test
    # made it yet; every later root links it instead of converting again)
    tok_paths = Paths.default(); ensure_smollm2(tok_paths)
    threads = torch.get_num_threads(); torch.set_num_threads(1)
    try:
        data = generate_synthart(SynthArtConfig(n_images=n_images, image_size=48, minimal_pairs=0, seed=0, workers=1), paths)
        ensure_synthclip(data, SynthClipConfig(image_size=32, patch_size=8, hidden_size=32, layers=1, heads=2, intermediate_size=64,
                                               epochs=1, batch_size=16, seed=0), paths, progress=False)
        signals, thresholds, concepts, _ = prototype_signals(data, paths, "synthclip", ("artist", "style", "genre"), seed=0, progress=False)
        write_tiny_parts(root/"tiny", 0, tok_paths)
    finally: torch.set_num_threads(threads)
    images = sorted(signals)
    np.savez(root/"signals.npz", signals=np.stack([signals[k] for k in images]))
    (root/"setup.json").write_text(json.dumps({"images": images, "thresholds": thresholds, "concepts": concepts}))
    return root
