"""Child process of `tests/test_interrupt.py`: one concept-training run on the shared tiny setup.

    python tests/_train_child.py SETUP OUT_DIR RESULT

SETUP is the folder the test's fixture built once: `project/` (the SynthArt corpus), `tiny/lm` and `tiny/vision`
(the tiny random VLM's parts, written once by `write_tiny_parts`), `signals.npz` and `setup.json` (the prototype
signals, thresholds and concept index). The run trains the concept values into OUT_DIR with a checkpoint after every
step (`train_concepts(..., resume=True)`, so a second start continues from `OUT_DIR/checkpoint`), then writes the
final values to RESULT (safetensors, `{"values": ...}`) and exits 0. Everything is fp32 on the CPU, one thread, seed 0.
"""
import json, os, sys
from pathlib import Path

CFG = dict(epochs_a=1, epochs_b=1, batch_size=4, precision="fp32", checkpoint_every=1, seed=0)

def main(setup:str, out_dir:str, result:str):
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import numpy as np, torch
    torch.set_num_threads(1)
    from safetensors.torch import save_file
    from myvlm_art.core import Paths, seed_everything
    from myvlm_art.data import DatasetSpec, prepare_dataset
    from myvlm_art.vlm import VLMConfig, build_vlm
    from myvlm_art.gating import GateConfig, MultiTokenConceptLayer
    from myvlm_art.trainer import ConceptTrainConfig, train_concepts
    setup = Path(setup); paths = Paths(setup/"project")
    seed_everything(0)
    data = prepare_dataset(DatasetSpec.named("synthart", paths), seed=0)         # the saved split, read back
    meta = json.loads((setup/"setup.json").read_text())
    with np.load(setup/"signals.npz") as z: S = z["signals"]
    signals = {im: S[i] for i, im in enumerate(meta["images"])}
    # as `tiny_vlm(seed=0)`, from the parts the fixture wrote once (no tokenizer copy needed here)
    vlm = build_vlm(VLMConfig(lm=str(setup/"tiny"/"lm"), vision=str(setup/"tiny"/"vision"), precision="fp32", projector_seed=0), paths)
    vlm.info.update(lm="tiny-llama-0", vision="tiny-clip-0")
    layer = MultiTokenConceptLayer(meta["concepts"], vlm.hidden_size, GateConfig(thresholds=meta["thresholds"]), seed=0)
    print(f"child {os.getpid()}: training", flush=True)
    train_concepts(vlm, layer, data, signals, ConceptTrainConfig(**CFG), out_dir=out_dir, resume=True, progress=False)
    tmp = Path(result).with_name(Path(result).name + ".tmp")
    save_file({"values": layer.values.detach().float().contiguous()}, str(tmp)); os.replace(tmp, result)
    print(f"child {os.getpid()}: done", flush=True)

if __name__ == "__main__":
    if len(sys.argv) != 4: sys.exit(__doc__)
    main(*sys.argv[1:])
