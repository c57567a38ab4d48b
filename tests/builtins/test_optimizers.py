"""Optimizers and schedulers against steps computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mlpspec.core.components import Parameter, Schedule
from mlpspec.testing import create


def parameter(value, grad) -> Parameter:
    p = Parameter(np.array(value, dtype=np.float64))
    p.grad[...] = grad
    return p


def test_sgd_step(registry):
    sgd = create(registry, "optimizer", {"type": "sgd", "lr": 0.5})
    p = parameter([1.0, -2.0], [0.2, 0.4])
    sgd.step([p], lr=0.5)
    np.testing.assert_allclose(p.value, [0.9, -2.2])
    assert sgd.lr == 0.5


def test_momentum_steps_fold_the_learning_rate_into_the_velocity(registry):
    opt = create(registry, "optimizer", {"type": "sgd_momentum", "lr": 0.1, "momentum": 0.9})
    p = parameter([1.0], [1.0])
    opt.step([p], lr=0.1)  # v = 0.1;            w = 0.9
    np.testing.assert_allclose(p.value, [0.9])
    p.grad[...] = 2.0
    opt.step([p], lr=0.05)  # v = 0.09 + 0.1 = 0.19; w = 0.71
    np.testing.assert_allclose(p.value, [0.71])
    state = opt.state()
    np.testing.assert_allclose(state["velocity.0"], [0.19])
    fresh = create(registry, "optimizer", {"type": "sgd_momentum", "lr": 0.1})
    fresh.load_state({k: v.copy() for k, v in state.items()})
    q = parameter([0.71], [0.0])
    fresh.step([q], lr=0.1)  # v = 0.171
    np.testing.assert_allclose(q.value, [0.71 - 0.171])


def test_optimizers_decrease_a_quadratic(registry):
    for ref in ({"type": "sgd", "lr": 0.1}, {"type": "sgd_momentum", "lr": 0.05}):
        opt = create(registry, "optimizer", ref)
        p = parameter([3.0, -4.0], [0.0, 0.0])
        for _ in range(200):
            p.grad[...] = 2 * p.value  # d/dw of |w|²
            opt.step([p], lr=ref["lr"])
        assert np.linalg.norm(p.value) < 1e-3, ref


SCHEDULE = Schedule(base_lr=0.2, epochs=5, steps_per_epoch=10)


def lrs(registry, ref) -> list[float]:
    scheduler = create(registry, "scheduler", ref, SCHEDULE)
    return [scheduler.lr(epoch, epoch * 10) for epoch in range(5)]


def test_constant(registry):
    assert lrs(registry, "constant") == [0.2] * 5


def test_linear_decay_reaches_final_lr_at_the_last_epoch(registry):
    assert lrs(registry, {"type": "linear", "final_lr": 0.04}) == pytest.approx(
        [0.2, 0.16, 0.12, 0.08, 0.04]
    )


def test_exponential_decay_reaches_final_lr_at_the_last_epoch(registry):
    assert lrs(registry, {"type": "exponential", "final_lr": 0.0125}) == pytest.approx(
        [0.2, 0.1, 0.05, 0.025, 0.0125]
    )


def test_decays_hold_their_final_lr_for_a_single_epoch_run(registry):
    scheduler = create(
        registry,
        "scheduler",
        {"type": "linear", "final_lr": 0.1},
        Schedule(base_lr=0.2, epochs=1, steps_per_epoch=3),
    )
    assert scheduler.lr(0, 0) == 0.2


@pytest.mark.parametrize(
    ("ref", "std"),
    [
        ({"type": "normal", "scale": 0.01}, 0.01),
        ("glorot", np.sqrt(2 / (400 + 100))),
        ("xavier", np.sqrt(1 / 400)),
        ("he", np.sqrt(2 / 400)),
    ],
)
def test_initializer_scales(registry, ref, std):
    init = create(registry, "initializer", ref)
    w = init(np.random.default_rng(0), (400, 100), 400, 100)
    assert w.shape == (400, 100)
    assert abs(w.mean()) < 0.02 * std * 10
    assert w.std() == pytest.approx(std, rel=0.02)


def test_zeros_and_determinism(registry):
    zeros = create(registry, "initializer", "zeros")
    assert not zeros(np.random.default_rng(0), (3,), 2, 3).any()
    glorot = create(registry, "initializer", "glorot")
    a = glorot(np.random.default_rng(5), (4, 3), 4, 3)
    b = glorot(np.random.default_rng(5), (4, 3), 4, 3)
    assert np.array_equal(a, b)
