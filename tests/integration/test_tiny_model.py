"""The embedded pipelines behave like diffusers' own (shipped weights, pixel or latent), and the latent machinery
(autoencoder round trip, token packing) moves no number it should not."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import PIL.Image
import pytest
import torch

from studio.tiny.autoencoder import edge_weights, reconstruction_adherence
from studio.tiny.language import parse_prompt
from studio.tiny.model import build_pipeline
from studio.tiny.pipeline import TinyDiffusionPipeline, _FluxAdapter
from studio.tiny.render import render_scene, sample_scene

PROMPTS = {"image": "a large red circle at the top left", "video": "a small blue square at the left moving right"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", params=["image", "video"])
def shipped(request):
    pipe = TinyDiffusionPipeline.from_pretrained(f"assets/tiny-{request.param}", dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return request.param, pipe


@pytest.fixture(scope="module", params=["image", "video", "video8"])
def latent(request):
    """A freshly built latent pipeline (untrained autoencoder and transformer): the machinery, not the quality."""
    pipe = build_pipeline(request.param, seed=0)
    pipe.set_progress_bar_config(disable=True)
    return "video" if request.param.startswith("video") else "image", pipe


def test_latent_pipelines_denoise_autoencoder_latents(latent):
    kind, pipe = latent
    assert pipe.vae is not None and pipe.is_video == (kind == "video")
    expected = (8, 8, 16, 16) if kind == "video" else (8, 16, 16)
    assert pipe.latent_shape(64, 64, 8) == expected
    pixels = torch.rand(1, 3, 8, 64, 64) if kind == "video" else torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        z = pipe.encode_pixels(pixels * 2 - 1)
        assert z.shape == (1, *expected)
        assert pipe.decode_latents(z).shape == pixels.shape


def test_shipped_models_fit_the_weights_budget():
    """The embedded image and video models (autoencoders included) ship in 30 MB of safetensors at most."""
    files = [f for kind in ("image", "video") for f in Path(f"assets/tiny-{kind}").rglob("*.safetensors")]
    total = sum(f.stat().st_size for f in files)
    assert 5e6 < total <= 30e6


def test_shipped_pipeline_api_matches_diffusers(shipped):
    _check_pipeline_api(*shipped)


def test_latent_pipeline_api_matches_diffusers(latent):
    _check_pipeline_api(*latent)


def _check_pipeline_api(kind, pipe):
    """latents=, callback_on_step_end and every output_type behave as on diffusers' pipelines."""
    noise = torch.randn(1, *pipe.latent_shape(64, 64, 8), generator=torch.Generator().manual_seed(0))
    seen = []

    def callback(_pipe, i, _t, tensors):
        seen.append((i, tuple(tensors["latents"].shape)))
        return tensors

    latent = pipe(PROMPTS[kind], num_inference_steps=3, latents=noise, output_type="latent",
                  callback_on_step_end=callback, return_dict=False)[0]
    assert seen == [(i, tuple(noise.shape)) for i in range(3)] and latent.shape == noise.shape
    arr = pipe(PROMPTS[kind], num_inference_steps=3, latents=noise, output_type="np", return_dict=False)[0]
    with torch.no_grad():
        pixels = (pipe.decode_latents(latent).clamp(-1, 1) + 1) / 2
    channels_last = pixels.permute(0, 2, 3, 4, 1) if kind == "video" else pixels.permute(0, 2, 3, 1)
    np.testing.assert_allclose(arr, channels_last.numpy(), atol=1e-6)
    pil = pipe(PROMPTS[kind], num_inference_steps=3, latents=noise, return_dict=False)[0]
    first = pil[0][0] if kind == "video" else pil[0]
    assert isinstance(first, PIL.Image.Image) and first.size == (64, 64)


def test_wrong_latent_shape_is_a_clear_error(latent):
    kind, pipe = latent
    pixels_shaped = torch.randn(1, 3, 8, 64, 64) if kind == "video" else torch.randn(1, 3, 64, 64)
    with pytest.raises(ValueError, match=r"latents must have shape \(1, 8, .*16, 16\) for 64x64.*got"):
        pipe(PROMPTS[kind], num_inference_steps=2, latents=pixels_shaped)


def test_edge_weights_single_out_shape_outlines():
    """The autoencoder's loss weights are 1 on flat areas and high only along an object's outline."""
    prompt = "a large red square at the center"
    x = render_scene(sample_scene(parse_prompt(prompt), random.Random(0), 1))[None] * 2 - 1
    w = edge_weights(x)[0, 0]
    outline = (w > 3).nonzero().float()
    assert (w >= 1).all() and w.max() > 8
    assert 20 < len(outline) < 64 * 64 // 8  # a thin outline, not the whole frame
    centre = outline.mean(0) / 64
    assert torch.allclose(centre, torch.tensor([0.5, 0.5]), atol=0.08)


def test_reconstruction_adherence_accepts_a_perfect_autoencoder(monkeypatch):
    """The ceiling measure scores an identity autoencoder at 100% (true renders pass the checker) and a
    blurring one far lower: it measures what the checker sees, not the loss."""
    class Identity(torch.nn.Module):
        def encode(self, x):
            return SimpleNamespace(latents=x)

        def decode(self, z):
            return SimpleNamespace(sample=z)

    class Blur(Identity):
        def decode(self, z):
            return SimpleNamespace(sample=torch.nn.functional.avg_pool2d(z, 9, 1, 4, count_include_pad=False))

    perfect = reconstruction_adherence(Identity(), count=20)
    blurred = reconstruction_adherence(Blur(), count=20)
    assert perfect["adherence"] == 1.0 and perfect["l1"] == 0.0
    assert blurred["adherence"] < 0.7 and blurred["fidelity"] < perfect["fidelity"] - 0.2


@pytest.mark.parametrize("shape, frames_per_token", [((2, 8, 16, 16), 1), ((2, 8, 8, 16, 16), 2),
                                                     ((2, 8, 8, 16, 16), 8)])
def test_flux_adapter_packs_and_unpacks_exactly(shape, frames_per_token):
    """Tokens are cut and pasted back without moving a number; a clip's rotary ids are (frame, row, col)."""
    clip = len(shape) == 5
    seen = {}

    def identity(hidden_states, img_ids, **_):
        seen["ids"] = img_ids
        return (hidden_states,)

    in_channels = 8 * 2 * 2 * frames_per_token
    adapter = _FluxAdapter(SimpleNamespace(config=SimpleNamespace(in_channels=in_channels)))
    x = torch.randn(shape)
    out = adapter(identity, x, torch.ones(2), torch.zeros(2, 2, 4), torch.zeros(2, 4))
    torch.testing.assert_close(out, x, rtol=0, atol=0)
    frames = 8 // frames_per_token if clip else 1  # token positions along time
    assert seen["ids"].shape == (frames * 8 * 8, 3)
    assert seen["ids"].max(0).values.tolist() == [frames - 1, 7, 7]


def test_autoencoder_cli_refuses_a_folder_without_an_autoencoder(tmp_path, capsys):
    from studio.tiny.autoencoder import main

    with pytest.raises(SystemExit) as info:
        main(["--evaluate", str(tmp_path)])
    assert info.value.code == 2
    assert "no autoencoder saved there" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["--steps", "10"])
    assert info.value.code == 2
    assert "--out DIR is required" in capsys.readouterr().err


@pytest.mark.parametrize("kind, frames", [("video", 2), ("video8", 8)])
def test_inflated_video_model_starts_as_the_image_model_on_each_frame(kind, frames):
    """A clip whose frames all show the same latent gets, in every frame, the image model's own prediction."""
    from studio.tiny.autoencoder import build_autoencoder
    from studio.tiny.inflate import inflate_image_to_video
    from studio.tiny.pipeline import predict_x0

    vae = build_autoencoder(0)
    image, video = build_pipeline("image", seed=1, vae=vae), build_pipeline(kind, seed=2, vae=vae)
    x = torch.randn(1, 8, 16, 16, generator=torch.Generator().manual_seed(0))
    sigma, clip = torch.tensor([0.6]), torch.stack([x] * frames, dim=2)
    with torch.no_grad():
        before = predict_x0(video.transformer, clip, sigma, *video.encode_prompt(PROMPTS["image"]))
        inflate_image_to_video(video, image)
        expected = predict_x0(image.transformer, x, sigma, *image.encode_prompt(PROMPTS["image"]))
        after = predict_x0(video.transformer, clip, sigma, *video.encode_prompt(PROMPTS["image"]))
    assert (before[:, :, 0] - expected).abs().max() > 0.1  # different weights before
    for frame in range(frames):
        torch.testing.assert_close(after[:, :, frame], expected, atol=1e-5, rtol=1e-4)


def test_a_clip_must_fill_whole_tokens():
    from studio.tiny.pipeline import predict_x0

    video = build_pipeline("video8", seed=0)
    with pytest.raises(ValueError, match="tokens hold 8 frames: the number of frames must be a multiple of 8, got 4"):
        predict_x0(video.transformer, torch.zeros(1, 8, 4, 16, 16), torch.tensor([0.5]),
                   *video.encode_prompt(PROMPTS["image"]))


def test_inflation_refuses_two_image_models():
    from studio.tiny.inflate import inflate_image_to_video

    with pytest.raises(ValueError, match="latent video pipeline"):
        inflate_image_to_video(build_pipeline("image", seed=1), build_pipeline("image", seed=2))


@pytest.mark.parametrize("argv", [["--kind", "image"], ["--kind", "video"]])
def test_train_cli_refuses_init_from_a_folder_without_a_pipeline(argv, tmp_path, capsys):
    from studio.tiny.train import main

    with pytest.raises(SystemExit) as info:
        main([*argv, "--init-from", str(tmp_path), "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    assert "--init-from needs a saved pipeline folder (with model_index.json)" in capsys.readouterr().err


def test_training_continues_from_a_saved_pipeline_of_the_same_kind():
    """--init-from a saved image pipeline: the fresh model gets exactly its weights (the checkpoint may be gone)."""
    from studio.tiny.autoencoder import build_autoencoder
    from studio.tiny.pipeline import predict_x0
    from studio.tiny.train import start_from

    vae = build_autoencoder(0)
    trained, fresh = build_pipeline("image", seed=1, vae=vae), build_pipeline("image", seed=2, vae=vae)
    x, sigma = torch.randn(1, 8, 16, 16, generator=torch.Generator().manual_seed(0)), torch.tensor([0.6])

    def predict(pipe):
        with torch.no_grad():
            return predict_x0(pipe.transformer, x, sigma, *pipe.encode_prompt(PROMPTS["image"]))

    assert (predict(fresh) - predict(trained)).abs().max() > 0.1
    assert start_from(fresh, trained) == "continuing the training of"
    torch.testing.assert_close(predict(fresh), predict(trained), atol=0, rtol=0)


@pytest.mark.parametrize("shallow,deep", [("image", "image-deep"), ("video8", "video8-deep")])
def test_a_deepened_model_starts_as_the_trained_one_and_its_new_blocks_can_learn(shallow, deep):
    """--init-from a shallower pipeline of the same layout: the same predictions, and the new blocks get gradients."""
    from studio.tiny.autoencoder import build_autoencoder
    from studio.tiny.deepen import block_order
    from studio.tiny.pipeline import predict_x0
    from studio.tiny.train import start_from

    vae = build_autoencoder(0)
    trained, grown = build_pipeline(shallow, seed=1, vae=vae), build_pipeline(deep, seed=2, vae=vae)
    assert start_from(grown, trained).startswith("deepened")
    frames = 8 if grown.is_video else 1
    x = torch.randn((1, 8, frames, 16, 16) if grown.is_video else (1, 8, 16, 16),
                    generator=torch.Generator().manual_seed(0))
    sigma, prompt = torch.tensor([0.6]), PROMPTS["video" if grown.is_video else "image"]
    with torch.no_grad():
        expected = predict_x0(trained.transformer, x, sigma, *trained.encode_prompt(prompt))
    got = predict_x0(grown.transformer, x, sigma, *grown.encode_prompt(prompt))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    got.square().mean().backward()
    order = block_order(4, 7)
    assert order == [0, None, 1, None, 2, None, 3]
    for index, copied in enumerate(order):
        block = grown.transformer.single_transformer_blocks[index]
        if copied is None:  # new: silent at first, but trainable
            assert block.proj_out.weight.abs().max() == 0 and block.proj_out.weight.grad.abs().max() > 0
        else:
            torch.testing.assert_close(block.proj_out.weight,
                                       trained.transformer.single_transformer_blocks[copied].proj_out.weight)


def test_deepening_refuses_fewer_blocks():
    from studio.tiny.autoencoder import build_autoencoder
    from studio.tiny.deepen import block_order
    from studio.tiny.train import start_from

    with pytest.raises(ValueError, match="cannot deepen 7 single blocks into 4"):
        block_order(7, 4)
    vae = build_autoencoder(0)
    with pytest.raises(ValueError, match="different architecture"):
        start_from(build_pipeline("image", seed=1, vae=vae), build_pipeline("image-deep", seed=2, vae=vae))


def test_continuing_refuses_another_autoencoder_or_kind():
    from studio.tiny.autoencoder import build_autoencoder
    from studio.tiny.train import start_from

    trained = build_pipeline("image", seed=1, vae=build_autoencoder(0))
    with pytest.raises(ValueError, match="autoencoder differs from --autoencoder"):
        start_from(build_pipeline("image", seed=2, vae=build_autoencoder(1)), trained)
    with pytest.raises(ValueError, match="same kind"):
        start_from(build_pipeline("image-pixels", seed=2), trained)


def test_train_cli_refuses_to_inflate_from_a_pixel_image_pipeline(tmp_path):
    from studio.tiny.autoencoder import build_autoencoder
    from studio.tiny.train import main

    build_pipeline("image-pixels", seed=0).save_pretrained(tmp_path / "pixels")
    build_autoencoder(0).save_pretrained(tmp_path / "ae")
    with pytest.raises(SystemExit) as info:
        main(["--kind", "video", "--autoencoder", str(tmp_path / "ae"), "--init-from", str(tmp_path / "pixels"),
              "--steps", "1", "--workdir", str(tmp_path / "w"), "--out", str(tmp_path / "out")])
    assert "inflation needs a latent video pipeline and a trained latent image pipeline" in str(info.value.code)
    assert not (tmp_path / "out").exists()


def test_rotary_memo_gives_the_same_samples_and_recomputes_for_new_ids(shipped):
    """The kept rotary tables must change nothing (bit-identical samples against the unmemoized transformer), be
    rebuilt when the token grid changes, and add nothing to the saved weights."""
    from studio.tiny.pipeline import RotaryMemo

    kind, pipe = shipped
    memo = pipe.transformer.pos_embed
    assert isinstance(memo, RotaryMemo)
    assert not any("pos_embed" in k for k in pipe.transformer.state_dict())
    latents = torch.randn((1, *pipe.latent_shape(64, 64, 8)), generator=torch.Generator().manual_seed(5))

    def sample():
        return pipe(PROMPTS[kind], num_inference_steps=3, latents=latents, output_type="latent", return_dict=False)[0]

    kept = sample()
    pipe.transformer.pos_embed = memo.inner
    try:
        assert torch.equal(kept, sample())
    finally:
        pipe.transformer.pos_embed = memo
    ids = torch.zeros(7, 3)
    first = memo(ids)
    assert memo(ids.clone()) is first  # same ids: the kept tables
    other = memo(torch.ones(7, 3))
    assert other is not first and not torch.equal(other[0], first[0])


def test_a_run_resets_the_cache_hooks_state(shipped):
    """The pipeline resets stateful cache hooks at the end of a run (its own short version of diffusers'):
    a First-Block Cache left holding the last run's residuals would leak them into the next prompt."""
    from diffusers.hooks import FirstBlockCacheConfig

    kind, pipe = shipped
    calls = []
    pipe.transformer.enable_cache(FirstBlockCacheConfig(threshold=0.2))
    original = pipe.transformer._reset_stateful_cache
    pipe.transformer._reset_stateful_cache = lambda *a, **k: (calls.append(1), original(*a, **k))
    try:
        pipe(PROMPTS[kind], num_inference_steps=2, output_type="latent", generator=torch.Generator().manual_seed(0))
    finally:
        del pipe.transformer._reset_stateful_cache
        pipe.transformer.disable_cache()
    assert calls == [1]


def test_time_shift_moves_training_noise_levels_up_and_one_changes_nothing():
    from studio.tiny.train import noise_levels

    def levels(shift):
        return noise_levels(4096, torch.Generator().manual_seed(0), shift)

    plain = torch.sigmoid(torch.randn(4096, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(levels(1.0), plain, atol=0, rtol=0)  # the shipped models' training, unchanged
    shifted = levels(2.0)
    assert shifted.median() > 0.6 > plain.median()  # shift 2 sends t = 0.5 to 2/3
    assert torch.all(shifted >= plain) and torch.all((shifted > 0) & (shifted < 1))


def test_colour_dropout_drops_only_colours_of_about_that_share_of_objects():
    from studio.tiny.data import random_objects
    from studio.tiny.text_encoder import objects_to_ids
    from studio.tiny.train import COLOR, drop_colors

    rng = random.Random(0)
    ids = objects_to_ids([random_objects(rng, video=False) for _ in range(2000)])
    dropped = drop_colors(ids, 0.25, torch.Generator().manual_seed(0))
    present = ids[..., 0] > 0
    lost = present & (dropped[..., COLOR] == 0)
    assert 0.2 < lost.sum() / present.sum() < 0.3
    others = [a for a in range(ids.shape[-1]) if a != COLOR]
    assert torch.equal(dropped[..., others], ids[..., others])  # shape, size, place, motion untouched
    assert torch.equal(drop_colors(ids, 0.0, torch.Generator().manual_seed(0)), ids)


@pytest.mark.parametrize("shift", ["0", "20"])
def test_train_cli_refuses_a_time_shift_out_of_range(shift, tmp_path, capsys):
    from studio.tiny.train import main

    with pytest.raises(SystemExit) as info:
        main(["--kind", "image", "--time-shift", shift, "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    assert "--time-shift in [0.1, 10]" in capsys.readouterr().err


def test_train_cli_refuses_dropping_every_colour(tmp_path, capsys):
    from studio.tiny.train import main

    with pytest.raises(SystemExit) as info:
        main(["--kind", "image", "--drop-color", "1", "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    assert "--drop-color in [0, 1)" in capsys.readouterr().err


def test_a_training_workdir_refuses_other_settings_but_stretches_to_more_steps(tmp_path, capsys):
    from studio.tiny.train import main

    run = ["--kind", "image-pixels", "--batch", "2", "--threads", "1", "--workdir", str(tmp_path / "w"),
           "--out", str(tmp_path / "out")]
    main([*run, "--steps", "1", "--time-shift", "2"])
    for other in (["--lr", "2e-3"], ["--seed", "1"], ["--time-shift", "1"], ["--uncond-prob", "0.1"]):
        with pytest.raises(SystemExit) as info:
            main([*run, "--steps", "2", "--time-shift", "2", *other])
        assert info.value.code == 2
        flag = other[0].lstrip("-").replace("-", "_")
        assert f"holds a run with other settings ({flag})" in capsys.readouterr().err
    main([*run, "--steps", "2", "--time-shift", "2"])  # the same run, its schedule stretched: resumes
    assert "resumed from" in capsys.readouterr().err
    assert len((tmp_path / "out" / "loss.csv").read_text().splitlines()) == 1 + 2


@pytest.mark.parametrize("extra, message", [
    (["--workdir", "{tmp}/a-file"], "--workdir '{tmp}/a-file' exists and is not a folder"),
    (["--out", "{tmp}/a-file"], "--out '{tmp}/a-file' exists and is not a folder"),
    (["--workdir", "{tmp}/broken"], "--workdir '{tmp}/broken': settings.json is unreadable"),
    (["--workdir", "{tmp}/empty", "--export-only"], "--workdir '{tmp}/empty' holds no checkpoint.pt to export"),
    (["--threads", "-1"], "--threads must be a positive whole number, got -1"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be positive"),
    (["--ema-decay", "1.5"], "--ema-decay and --drop-color in [0, 1)"),
])
def test_train_cli_refuses_unusable_folders_and_flags_before_training(extra, message, tmp_path, capsys):
    from studio.tiny.train import main

    (tmp_path / "a-file").write_text("x")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "settings.json").write_text("{ not json")
    (tmp_path / "empty").mkdir()
    argv = ["--kind", "image-pixels", "--steps", "1", "--workdir", str(tmp_path / "w"), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as info:
        main([*argv, *(a.replace("{tmp}", str(tmp_path)) for a in extra)])
    assert info.value.code == 2
    assert message.replace("{tmp}", str(tmp_path)) in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_autoencoder_stages_keep_apart_workdirs(tmp_path, capsys):
    from studio.tiny.autoencoder import main

    work = tmp_path / "w"
    work.mkdir()
    (work / "settings.json").write_text('{"stage": "autoencoder", "batch": 32, "lr": 0.002, "seed": 0}')
    (tmp_path / "ae").mkdir()
    (tmp_path / "ae" / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as info:  # stage 2 in stage 1's workdir would resume stage 1's checkpoint
        main(["--sharpen-decoder", str(tmp_path / "ae"), "--workdir", str(work), "--out", str(tmp_path / "o")])
    assert info.value.code == 2
    assert "holds a run with other settings (source, stage)" in capsys.readouterr().err
