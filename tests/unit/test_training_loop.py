"""The shared training loop: a run killed mid-way and resumed ends exactly where an uninterrupted one ends."""

from __future__ import annotations

import pytest
import torch

from studio.training import lr_at, train_loop


class Crash(RuntimeError):
    pass


def _setup(crash_at: int | None = None):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)

    def loss_at(step: int) -> torch.Tensor:
        if step == crash_at:
            raise Crash(step)
        gen = torch.Generator().manual_seed(step)  # data from the step number alone
        x = torch.randn(8, 4, generator=gen)
        return ((model(x) - x.sum(1, keepdim=True)) ** 2).mean()

    return model, loss_at


def test_resumed_run_matches_uninterrupted_run(tmp_path):
    model, loss_at = _setup()
    ema = train_loop(model, loss_at, steps=30, lr=5e-2, workdir=tmp_path / "a", desc="a", checkpoint_every=2)
    straight = [float(v) for v in (tmp_path / "a" / "loss.csv").read_text().splitlines()[1:] for v in [v.split(",")[1]]]

    model2, crashing = _setup(crash_at=15)
    with pytest.raises(Crash):
        train_loop(model2, crashing, steps=30, lr=5e-2, workdir=tmp_path / "b", desc="b", checkpoint_every=2)
    model3, loss_at3 = _setup()  # a fresh process: new model, state comes from the checkpoint at step 14
    ema3 = train_loop(model3, loss_at3, steps=30, lr=5e-2, workdir=tmp_path / "b", desc="b", checkpoint_every=2)
    resumed = [float(v) for v in (tmp_path / "b" / "loss.csv").read_text().splitlines()[1:] for v in [v.split(",")[1]]]
    assert resumed == pytest.approx(straight, rel=1e-5)
    for a, b in zip(ema.parameters(), ema3.parameters(), strict=True):
        assert torch.allclose(a, b)
    assert sum(straight[-3:]) < sum(straight[:3]) / 2  # it did learn


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    assert lr_at(0, 1000, 1.0) < lr_at(150, 1000, 1.0) <= 1.0
    assert lr_at(999, 1000, 1.0) == pytest.approx(0.1, abs=1e-3)


def test_parts_of_a_module_dict_are_clipped_each_on_its_own(tmp_path):
    """A critic's large gradients must not shrink its student's steps: with a ModuleDict each part's gradient
    norm is clipped alone, so the small part moves exactly as it would if trained by itself."""
    def run(modules, small):
        def loss_at(step: int) -> torch.Tensor:
            x = torch.randn(8, 4, generator=torch.Generator().manual_seed(step))
            loss = ((small(x) - x.sum(1, keepdim=True)) ** 2).mean()
            if isinstance(modules, torch.nn.ModuleDict):  # a second part with a huge gradient
                loss = loss + 1e4 * modules["large"](x).pow(2).mean()
            return loss
        train_loop(modules, loss_at, steps=3, lr=1e-2, workdir=tmp_path / str(id(modules)), desc="clip",
                   warmup=1, ema_decay=0.0)
        return small.weight.detach().clone()

    torch.manual_seed(0)
    alone = torch.nn.Linear(4, 1)
    together = torch.nn.Linear(4, 1)
    together.load_state_dict(alone.state_dict())
    large = torch.nn.Linear(4, 1)
    expected = run(alone, alone)
    assert torch.allclose(run(torch.nn.ModuleDict({"small": together, "large": large}), together), expected)
