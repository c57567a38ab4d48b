"""mlpspec-optim's schedulers: values computed by hand, and the conformance kit."""

from __future__ import annotations

import itertools
import math

import pytest

import mlpspec
from mlpspec import Schedule, SpecError
from mlpspec.testing import assert_conforms, create

REGISTRY = mlpspec.load_registry()


@pytest.mark.parametrize("name", ["step", "cosine_warmup"])
def test_conforms_to_the_scheduler_contract(name):
    assert_conforms(REGISTRY, "scheduler", name)


def test_step_decay_halves_every_two_epochs():
    scheduler = create(
        REGISTRY,
        "scheduler",
        {"type": "step", "every": 2, "gamma": 0.5},
        Schedule(base_lr=0.2, epochs=5, steps_per_epoch=3),
    )
    lrs = [scheduler.lr(epoch, epoch * 3) for epoch in range(5)]
    assert lrs == pytest.approx([0.2, 0.2, 0.1, 0.1, 0.05])


def test_cosine_warms_up_then_falls_along_half_a_cosine():
    schedule = Schedule(base_lr=0.2, epochs=2, steps_per_epoch=5)  # 10 steps
    scheduler = create(
        REGISTRY, "scheduler", {"type": "cosine_warmup", "warmup_steps": 2}, schedule
    )
    lrs = [scheduler.lr(step // 5, step) for step in range(10)]
    assert lrs[:2] == pytest.approx([0.1, 0.2])  # (s + 1)/2 of the lr
    assert lrs[2] == pytest.approx(0.2)  # the cosine starts at the top ...
    assert lrs[6] == pytest.approx(0.1)  # ... is halfway down halfway through (4 of 8) ...
    assert lrs[9] == pytest.approx(0.1 * (1 + math.cos(7 * math.pi / 8)))  # ... 7 of 8
    assert all(a > b for a, b in itertools.pairwise(lrs[2:]))


def test_cosine_floor():
    schedule = Schedule(base_lr=0.2, epochs=1, steps_per_epoch=4)
    scheduler = create(REGISTRY, "scheduler", {"type": "cosine_warmup", "min_lr": 0.05}, schedule)
    assert scheduler.lr(0, 2) == pytest.approx(0.05 + 0.15 * 0.5)
    assert scheduler.lr(0, 100) == pytest.approx(0.05)  # past the end: the floor


def test_a_floor_above_the_learning_rate_is_a_spec_error(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(
        '[model]\nname = "x"\n[data]\ndataset = "spirals"\n[[layers]]\ntype = "dense"\n'
        'units = 2\n[loss]\ntype = "softmax_cross_entropy"\n[optimizer]\ntype = "adam"\n'
        'lr = 0.01\n[scheduler]\ntype = "cosine_warmup"\nmin_lr = 0.1\n[train]\nepochs = 1\n'
    )
    with pytest.raises(SpecError, match="min_lr"):
        mlpspec.run(mlpspec.load_spec(spec, REGISTRY), REGISTRY, out_dir=None)
