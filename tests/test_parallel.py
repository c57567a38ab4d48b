"""Splitting elementwise updates across threads changes nothing but the time taken."""

from __future__ import annotations

import numpy as np

from mlpspec.core.components import Parameter
from mlpspec.engine import parallel
from mlpspec.testing import create


def momentum_steps(registry, monkeypatch, threads: int) -> np.ndarray:
    monkeypatch.setattr(parallel, "THREADS", threads)
    monkeypatch.setattr(parallel, "_pool", None)
    rng = np.random.default_rng(0)
    p = Parameter(rng.standard_normal((700, 400)).astype(np.float32))
    opt = create(registry, "optimizer", {"type": "sgd_momentum", "lr": 0.1})
    for _ in range(3):
        p.grad[...] = rng.standard_normal(p.value.shape)
        opt.step([p], lr=0.1)
    return p.value


def test_threaded_updates_are_bit_identical(registry, monkeypatch):
    assert parallel.MIN_SPLIT <= 700 * 400
    one = momentum_steps(registry, monkeypatch, 1)
    three = momentum_steps(registry, monkeypatch, 3)
    assert np.array_equal(one, three)


def test_every_element_is_updated_once(monkeypatch):
    monkeypatch.setattr(parallel, "THREADS", 4)
    monkeypatch.setattr(parallel, "_pool", None)
    for size in (10, parallel.MIN_SPLIT + 3):
        counts = np.zeros(size, np.int64)

        def bump(part: np.ndarray) -> None:
            part += 1

        parallel.elementwise(bump, [counts])
        assert counts.min() == counts.max() == 1
