"""Preprocessing statistics: saved as plain numbers, and applying them again gives exactly
the rows training used."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlpspec.data import Dataset, prepare, preprocess_rows


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
