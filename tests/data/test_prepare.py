"""Preprocessing statistics: saved as plain numbers, and applying them again gives exactly
the rows training used."""

from __future__ import annotations

import json
import math
import tracemalloc

import numpy as np
import pytest

from mlpspec.data import Dataset, prepare, preprocess_rows
from mlpspec.data.prepare import statistics


@pytest.mark.parametrize("preprocess", ["none", "scale", "scale_symmetric", "standardize"])
@pytest.mark.parametrize("value_range", [None, (0.0, 255.0)])
def test_saved_statistics_reproduce_the_prepared_rows(preprocess, value_range):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 4, 4)).astype(np.uint8)
    y = rng.integers(0, 2, 50)
    dataset = Dataset(x[:40], y[:40], x[40:], y[40:], ["a", "b"], value_range=value_range)
    splits = prepare(dataset, preprocess=preprocess, validation=10, dtype=np.dtype("float32"))
    stats = json.loads(json.dumps(splits.preprocessing))  # as summary.json keeps them
    assert stats["name"] == preprocess
    np.testing.assert_array_equal(
        preprocess_rows(x[40:], stats, np.dtype("float32")), splits.x_test
    )
    np.testing.assert_array_equal(
        preprocess_rows(x[30:40], stats, np.dtype("float32")), splits.x_val
    )
    if preprocess == "standardize":  # statistics of the training part only
        assert stats["mean"] == pytest.approx(x[:30].mean())


def _exact_moments(x: np.ndarray) -> tuple[float, float]:
    """Mean and (population) standard deviation computed in exact rational arithmetic."""
    from fractions import Fraction

    values = [Fraction(float(v)) for v in x.ravel()]
    mean = sum(values) / len(values)
    variance = sum((v - mean) ** 2 for v in values) / len(values)
    return float(mean), math.sqrt(variance)


@pytest.mark.parametrize(
    "dtype", ["uint8", "int8", "uint16", "int16", "int32", "float32", "float64"]
)
def test_standardize_statistics_are_exact_to_float64_rounding(dtype):
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        x = rng.integers(info.min, info.max, (300, 7), endpoint=True).astype(dtype)
    else:
        x = (rng.standard_normal((300, 7)) * 1e3 + 5e3).astype(dtype)
    stats = statistics("standardize", x, None)
    mean, std = _exact_moments(x)
    assert stats["mean"] == pytest.approx(mean, rel=1e-14, abs=1e-12)
    assert stats["std"] == pytest.approx(std, rel=1e-12)


def test_standardize_statistics_need_no_float64_copy_of_the_training_set():
    """np.std would build (x − mean) in float64: 8 bytes an element, 345 MB for MNIST's
    training images, and about a second of page faults on the first call. The statistics are
    taken in bounded pieces instead, whatever the data's dtype."""
    rng = np.random.default_rng(2)
    for x in (
        rng.integers(0, 256, (4000, 784)).astype(np.uint8),
        rng.standard_normal((4000, 784)).astype(np.float32),
    ):
        tracemalloc.start()
        try:
            statistics("standardize", x, None)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < x.size * 8 / 4, f"{x.dtype}: peak {peak} bytes for {x.size} values"


def test_a_constant_training_set_standardizes_with_a_std_of_one():
    x = np.full((20, 3), 7, np.uint8)
    assert statistics("standardize", x, None) == {"name": "standardize", "mean": 7.0, "std": 1.0}
