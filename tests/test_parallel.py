"""Splitting elementwise updates across threads changes nothing but the time taken."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from mlpspec.core.components import Parameter
from mlpspec.core.errors import UsageError
from mlpspec.engine import parallel
from mlpspec.testing import create

from .conftest import SPIRALS_SPEC, write_spec


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


@pytest.mark.parametrize("value", ["abc", "-3", "2.5", "5000", "1e3"])
def test_a_bad_thread_count_is_a_usage_error_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("MLPSPEC_THREADS", value)
    monkeypatch.setattr(parallel, "THREADS", None)
    with pytest.raises(UsageError, match=r"MLPSPEC_THREADS: expected a number of threads"):
        parallel.threads()


@pytest.mark.parametrize(("value", "expected"), [("", 1), ("0", None), (" 3 ", 3), ("1", 1)])
def test_the_thread_count_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("MLPSPEC_THREADS", value)
    monkeypatch.setattr(parallel, "THREADS", None)
    assert parallel.threads() == (expected or len(os.sched_getaffinity(0)))


def test_updates_stay_on_one_thread_unless_asked(monkeypatch):
    """Split while the BLAS's own threads wait for the next product, the update competed with
    them and whole steps got slower (W3: 0.88× the time without it, W5: 0.96×), so
    splitting is for who asks: with $MLPSPEC_THREADS, e.g. beside OPENBLAS_NUM_THREADS=1."""
    monkeypatch.delenv("MLPSPEC_THREADS", raising=False)
    monkeypatch.setattr(parallel, "THREADS", None)
    assert parallel.threads() == 1


def test_a_bad_thread_count_stops_a_run_before_it_starts_and_no_plugin_fails(tmp_path):
    """It was read when the module was imported: every built-in plugin importing it failed to
    load, and the spec was then said to name unknown optimizers."""
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    done = subprocess.run(
        [sys.executable, "-m", "mlpspec", "run", str(spec), "--out", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=120,
        env=os.environ | {"MLPSPEC_THREADS": "two"},
    )
    assert done.returncode == 2
    assert "MLPSPEC_THREADS: expected a number of threads" in done.stderr
    assert "not loaded" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()
