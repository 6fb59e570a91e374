import random

import torch

from studio.tiny.data import eval_prompts, is_held_out, random_objects, training_batch
from studio.tiny.language import parse_prompt


def test_training_prompts_never_use_held_out_triples():
    rng = random.Random(0)
    for _ in range(2000):
        for o in random_objects(rng, video=False):
            assert not is_held_out(o.color, o.shape, o.position)


def test_eval_prompts_are_held_out_and_parse():
    prompts = eval_prompts(200, video=False)
    assert len(set(prompts)) == 200
    for p in prompts:
        objs = parse_prompt(p)
        assert any(is_held_out(o.color, o.shape, o.position) for o in objs)


def test_trained_combination_prompts_have_only_trained_triples_and_the_held_out_form():
    import pytest

    for video in (False, True):
        prompts = eval_prompts(200, video=video, seed=1, combinations="trained")
        assert len(set(prompts)) == 200 and not set(prompts) & set(eval_prompts(200, video=video, seed=1))
        for p in prompts:
            for o in parse_prompt(p, video=video):
                assert o.position is not None and o.size is not None  # placed and sized, as held-out ones are
                assert not is_held_out(o.color, o.shape, o.position)
    assert eval_prompts(5, False, 3, "held-out") == eval_prompts(5, False, 3)  # the goal's sets unchanged
    with pytest.raises(ValueError, match="held-out, trained"):
        eval_prompts(5, False, combinations="seen")


def test_one_prompt_has_many_different_renders():
    rng = random.Random(0)
    objs = parse_prompt("a red circle")
    from studio.tiny.render import render_scene, sample_scene

    renders = torch.stack([render_scene(sample_scene(objs, rng)) for _ in range(8)])
    assert renders.std(dim=0).mean() > 0.05  # multi-modal: place, size and background vary


def test_batches_have_the_right_shapes_and_range():
    specs, images = training_batch(random.Random(0), 4, video=False, frames=8)
    assert images.shape == (4, 3, 64, 64) and images.min() >= -1 and images.max() <= 1
    specs, clips = training_batch(random.Random(0), 2, video=True, frames=8)
    assert clips.shape == (2, 3, 8, 64, 64)
