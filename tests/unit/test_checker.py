import random

import numpy as np
import torch

from studio.tiny.checker import check, check_objects
from studio.tiny.data import random_objects
from studio.tiny.language import ObjectSpec
from studio.tiny.render import render_scene, sample_scene


def _hwc(t: torch.Tensor) -> np.ndarray:
    return (t.permute(1, 2, 3, 0) if t.dim() == 4 else t.permute(1, 2, 0)).numpy()


def _renders(video: bool, n: int, seed: int = 3):
    rng = random.Random(seed)
    for _ in range(n):
        objs = random_objects(rng, video, held_out=True)
        yield objs, [_hwc(render_scene(sample_scene(objs, rng, 8 if video else 1))) for _ in range(4)]


def test_accepts_true_image_renders():
    results = [check_objects(objs, renders[0]) for objs, renders in _renders(False, 80)]
    assert np.mean([r.adherent for r in results]) >= 0.95


def test_accepts_true_video_renders():
    results = [check_objects(objs, renders[0]) for objs, renders in _renders(True, 40)]
    assert np.mean([r.adherent for r in results]) >= 0.95


def test_rejects_wrong_attributes():
    rng = random.Random(0)
    spec = ObjectSpec("circle", "red", "large", "top left")
    image = _hwc(render_scene(sample_scene([spec], rng)))
    assert check("a large red circle at the top left", image).adherent
    for wrong, attribute in [("a large red square at the top left", "shape"),
                             ("a large red triangle at the top left", "shape"),
                             ("a small red circle at the top left", "size"),
                             ("a large red circle at the bottom right", "position"),
                             ("a large blue circle at the top left", "missing")]:
        verdict = check(wrong, image)
        assert not verdict.adherent, wrong
        assert attribute in verdict.objects[0].errors


def test_rejects_wrong_motion():
    rng = random.Random(1)
    video = _hwc(render_scene(sample_scene([ObjectSpec("square", "yellow", "large", "center", "moving right")], rng,
                                           8)))
    assert check("a large yellow square at the center moving right", video).adherent
    for wrong in ("moving left", "moving up", "growing"):
        assert "motion" in check(f"a large yellow square at the center {wrong}", video).objects[0].errors


def test_fidelity_penalises_blur_and_mode_averaging():
    true, blurred, averaged = [], [], []
    for objs, renders in _renders(False, 40, seed=7):
        t = torch.from_numpy(renders[0]).permute(2, 0, 1)
        blur = torch.nn.functional.avg_pool2d(t[None], 5, 1, 2)[0].permute(1, 2, 0).numpy()
        true.append(check_objects(objs, renders[0]).fidelity)
        blurred.append(check_objects(objs, blur).fidelity)
        averaged.append(check_objects(objs, np.mean(renders, axis=0)).fidelity)
    assert np.mean(true) > 0.8
    assert np.mean(blurred) < np.mean(true) - 0.2
    assert np.mean(averaged) < np.mean(true) - 0.3
