"""A team's own model through its own preset file: the studio loads the weights the file names (not the base
preset's) and runs the base's recipes on them — the embedded model from a folder, and a FLUX fine-tune (a tiny
random FluxPipeline saved with `save_pretrained`, as a fine-tune would be)."""

import shutil

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from studio.cli import main
from studio.engine.request import RunRequest
from studio.engine.runner import Engine
from studio.presets import REPO_ROOT, load_preset

PROMPT = "a large red circle at the top left"


def _baseline(preset_name: str) -> np.ndarray:
    engine = Engine(load_preset(preset_name))
    return engine.run_variant(engine.preset.variants["baseline"], RunRequest(PROMPT, seed=2, steps=8)).output


def test_your_copy_of_the_embedded_model_runs_from_your_folder(presets_dir, tmp_path, one_torch_thread):
    same, changed = tmp_path / "same", tmp_path / "changed"
    for folder in (same, changed):
        shutil.copytree(REPO_ROOT / "assets" / "tiny-image", folder)
    weights = changed / "transformer" / "diffusion_pytorch_model.safetensors"
    state = load_file(weights)
    save_file({k: (v * 1.05 if v.dtype.is_floating_point else v) for k, v in state.items()}, weights)
    for name, folder in (("ours-same", same), ("ours-changed", changed)):
        assert main(["presets", "new", name, "--from", "tiny-image", "--source", str(folder)]) == 0
    shipped = _baseline("tiny-image")
    np.testing.assert_array_equal(_baseline("ours-same"), shipped)  # the same weights, loaded from your folder
    assert np.abs(_baseline("ours-changed") - shipped).mean() > 1e-3  # your weights, not the shipped ones


def test_a_flux_fine_tune_runs_every_recipe_it_inherits(presets_dir, tiny_flux_path, one_torch_thread):
    (presets_dir / "our-flux.toml").write_text(
        f'extends = "flux1-dev"\ntitle = "Our FLUX"\nsource = "{tiny_flux_path}"\n'
        "width = 32\nheight = 32\nsteps = 8\n")
    preset = load_preset("our-flux")
    assert "distilled" not in preset.variants  # FLUX.1-schnell distils FLUX.1-dev, not this model
    chosen = [preset.variants[n] for n in ("baseline", "int8", "teacache", "fbc", "naive4")]
    results = {r.name: r for r in Engine(preset).compare(RunRequest("a photo of a red cat", seed=1), chosen)}
    assert {n: r.error for n, r in results.items()} == dict.fromkeys(results)
    assert results["baseline"].output.shape[:2] == (32, 32) and results["naive4"].steps == 4
    assert results["int8"].memory["weights_bytes"] < 0.8 * results["baseline"].memory["weights_bytes"]
    assert torch.isfinite(torch.as_tensor(results["teacache"].output)).all()
