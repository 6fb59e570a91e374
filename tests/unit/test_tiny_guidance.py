"""Classifier-free guidance in the embedded pipeline: off at 1, in effect above it, validated."""

import pytest
import torch

from studio.tiny.model import build_pipeline


@pytest.fixture(scope="module")
def pipe():
    p = build_pipeline("image", seed=0)
    p.set_progress_bar_config(disable=True)
    return p


def _run(pipe, **kwargs):
    noise = torch.randn(2, *pipe.latent_shape(64, 64, 1), generator=torch.Generator().manual_seed(0))
    return pipe(["a red circle", "a small blue square at the top"], num_inference_steps=3, latents=noise,
                output_type="pt", **kwargs).images


def test_guidance_one_is_plain_sampling_and_more_changes_the_result(pipe):
    plain, one, three = _run(pipe), _run(pipe, guidance_scale=1.0), _run(pipe, guidance_scale=3.0)
    torch.testing.assert_close(plain, one, rtol=0, atol=0)
    assert three.shape == plain.shape and (three - plain).abs().max() > 1e-3


def test_guided_step_is_uncond_plus_scale_times_difference(pipe, monkeypatch):
    """The guided prediction extrapolates from the empty prompt's through the prompt's by the scale."""
    import studio.tiny.pipeline as module

    seen = []
    real = module.predict_x0

    def spy(transformer, x, sigma, tokens, pooled):
        out = real(transformer, x, sigma, tokens, pooled)
        seen.append((tokens, out))
        return out

    monkeypatch.setattr(module, "predict_x0", spy)
    noise = torch.randn(1, *pipe.latent_shape(64, 64, 1), generator=torch.Generator().manual_seed(1))
    # One Euler step from sigma 1 to 0 lands exactly on the (guided) clean-sample prediction.
    result = pipe("a red circle", num_inference_steps=1, latents=noise, output_type="latent",
                  guidance_scale=4.0).images
    tokens, out = seen[0]
    cond, uncond = out.chunk(2)
    torch.testing.assert_close(result, uncond + 4.0 * (cond - uncond))
    assert tokens.shape[0] == 2  # prompt and empty prompt in one batch
    empty = pipe.text_encoder(torch.zeros(1, tokens.shape[1], 5, dtype=torch.long))[0]
    torch.testing.assert_close(tokens[1:], empty)


@pytest.mark.parametrize("scale", [0.5, 0, -1, 31])
def test_bad_guidance_scale_is_refused(pipe, scale):
    with pytest.raises(ValueError, match="guidance_scale must be between 1"):
        _run(pipe, guidance_scale=scale)
