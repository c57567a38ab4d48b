"""The compiled kernels (the ``fast`` extra) give the very bits of the numpy passes they
replace, so that a run's numbers do not depend on whether numba is installed."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mlpspec.engine import kernels


@pytest.fixture(scope="module")
def compiled():
    found = kernels.compiled()
    if found is None:
        message = "numba is not installed (the fast extra)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs every extra: a skip there would hide a break
        pytest.skip(message)
    return found


def awkward(rng: np.random.Generator, size: int, dtype) -> np.ndarray:
    """Random values of every magnitude, with zeros of both signs, subnormals, infinities and
    NaN among them."""
    values = rng.standard_normal(size) * 10.0 ** rng.integers(-45, 39, size)
    values[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-44, 3.4e38]
    with np.errstate(over="ignore"):
        return values.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_momentum_kernel_is_bit_identical_to_numpy(compiled, dtype):
    rng = np.random.default_rng(0)
    w, g, v = (awkward(rng, 10_007, dtype) for _ in range(3))
    numpy_arrays = [a.copy() for a in (w, g, v)]
    with np.errstate(all="ignore"):
        kernels.numpy_momentum(*numpy_arrays, 0.9, 0.013)
        compiled[0](w, g, v, dtype(0.9), dtype(0.013))
    for ours, theirs in ((w, numpy_arrays[0]), (v, numpy_arrays[2])):
        assert ours.tobytes() == theirs.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_kernel_is_bit_identical_to_numpy(compiled, dtype):
    rng = np.random.default_rng(1)
    w, g = (awkward(rng, 10_007, dtype) for _ in range(2))
    expected = w.copy()
    with np.errstate(all="ignore"):
        kernels.numpy_sgd(expected, g.copy(), 0.07)
        compiled[1](w, g, dtype(0.07))
    assert w.tobytes() == expected.tobytes()


def test_kernels_take_python_scalars_at_the_arrays_precision(compiled):
    """A Python float learning rate acts at float32 on float32 arrays, as numpy's in-place
    operations take it (not at float64, which would round differently)."""
    rng = np.random.default_rng(2)
    w, g, v = (rng.standard_normal((30, 7)).astype(np.float32) for _ in range(3))
    numpy_arrays = [a.copy() for a in (w, g, v)]
    kernels.numpy_momentum(*numpy_arrays, 0.9, 0.1)
    kernels.momentum(w, g, v, 0.9, 0.1)
    assert w.tobytes() == numpy_arrays[0].tobytes()


def test_small_parameters_never_load_the_compiler(compiled):
    """numba's fixed cost (import, loading the kernels) does not pay for small networks."""
    assert kernels.momentum_for(kernels.WORTH_COMPILING - 1) is kernels.numpy_momentum
    assert kernels.sgd_for(kernels.WORTH_COMPILING - 1) is kernels.numpy_sgd
    assert kernels.momentum_for(kernels.WORTH_COMPILING) is kernels.momentum
    assert kernels.sgd_for(kernels.WORTH_COMPILING) is kernels.sgd


def test_the_kernels_are_chosen_on_the_calling_thread_not_in_the_pool(monkeypatch):
    """Loading numba from several pool threads at once would race (and load it twice): the
    update is picked, and numba loaded, before the work is split."""
    import threading

    from mlpspec.engine import parallel

    loads = []
    real = kernels.compiled
    real.cache_clear()

    def recorded():
        if real.cache_info().currsize == 0:
            loads.append(threading.current_thread())
        return real()

    monkeypatch.setattr(kernels, "compiled", recorded)
    monkeypatch.setattr(parallel, "THREADS", 2)
    size = max(kernels.WORTH_COMPILING, parallel.MIN_SPLIT)
    w, g, v = (np.ones(size, np.float32) for _ in range(3))
    parallel.elementwise(kernels.momentum_for(size), (w, g, v), 0.9, 0.1)
    parallel.elementwise(kernels.sgd_for(size), (w, g), 0.1)
    assert loads == [threading.current_thread()]
