"""Tests of ONNX export (the ``onnx`` extra): they skip without it, except in CI, which
installs it."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from mlpspec.core.spec import validate_spec
from mlpspec.data import DataContext, preprocess_rows
from mlpspec.data.dataset import env_data_dirs
from mlpspec.run.builder import build_model
from mlpspec.run.saved import LoadedRun


def require(module: str) -> ModuleType:
    """Import ``module``, or skip the test module without it (fail in CI, which has it)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{module} is not installed (pip install '.[onnx]')", allow_module_level=True)


def raw_test_rows(loaded: LoadedRun) -> np.ndarray:
    """The run's test set as it comes from its dataset: raw values, before preprocessing."""
    ctx = DataContext(
        data_dirs=env_data_dirs(),
        base_dir=Path(loaded.record.spec_dir) if loaded.record.spec_dir else Path.cwd(),
    )
    dataset = loaded.registry.create(loaded.spec.data.dataset, ctx)
    raw = dataset.x_test
    return raw.reshape(len(raw), -1).astype(loaded.model.dtype)


def run_onnx(path: Path, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``probabilities`` and ``label`` from onnxruntime for raw ``rows``."""
    ort = require("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probabilities, label = session.run(["probabilities", "label"], {"input": rows})
    return probabilities, label


def float32_error(loaded: LoadedRun, raw: np.ndarray) -> float:
    """How far the run's own float32 ``predict_proba(preprocess(raw))`` is from the same
    weights computed in float64: the rounding error two float32 implementations may each
    make, in their own order of summation (numpy's BLAS, onnxruntime's MLAS)."""
    data = loaded.spec.to_dict()
    data["model"]["dtype"] = "float64"
    spec = validate_spec(data, loaded.registry)
    exact = build_model(spec, loaded.registry, raw.shape[1], loaded.model.classes)
    # float32 values are exact in float64
    exact.load_state({name: a.astype(np.float64) for name, a in loaded.model.state().items()})
    rows = preprocess_rows(raw, loaded.record.preprocessing, np.dtype(np.float64))
    own = loaded.predict_proba(loaded.preprocess(raw))
    return float(np.max(np.abs(own - exact.predict_proba(rows))))


def assert_matches(path: Path, loaded: LoadedRun, raw: np.ndarray, tolerance: float) -> float:
    """onnxruntime on raw rows gives the run's ``predict_proba(preprocess(raw))`` within
    ``tolerance``, and its labels are their argmax; returns the largest difference."""
    probabilities, label = run_onnx(path, raw)
    expected = loaded.predict_proba(loaded.preprocess(raw))
    assert probabilities.dtype == expected.dtype
    assert probabilities.shape == expected.shape
    difference = float(np.max(np.abs(probabilities.astype(np.float64) - expected)))
    assert difference <= tolerance, f"largest difference {difference:.3g}"
    assert label.dtype == np.int64
    np.testing.assert_array_equal(label, np.argmax(probabilities, axis=1))
    top_two = np.sort(expected, axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 2 * tolerance  # no near-tie to break otherwise
    np.testing.assert_array_equal(label[clear], loaded.predict(loaded.preprocess(raw))[clear])
    return difference
