"""The model: prediction in chunks, saved state, and the reused workspaces of the hot path."""

from __future__ import annotations

import numpy as np
import pytest

from mlpspec import validate_spec
from mlpspec.core.components import Workspace
from mlpspec.core.spec import parse_toml
from mlpspec.engine import model as model_module
from mlpspec.run.builder import build_model

from .conftest import SPIRALS_SPEC


def built(registry, text=SPIRALS_SPEC):
    spec = validate_spec(parse_toml(text), registry)
    return build_model(spec, registry, 2, ["a", "b"])


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "mse", "sigmoid_cross_entropy"])
def test_chunked_prediction_equals_row_by_row(registry, monkeypatch, loss):
    """Layers return reused workspace arrays: chunks must not overwrite each other."""
    model = built(registry, SPIRALS_SPEC.replace('"softmax_cross_entropy"', f'"{loss}"'))
    x = np.random.default_rng(0).standard_normal((7, 2)).astype(np.float32)
    monkeypatch.setattr(model_module, "EVAL_CHUNK", 3)
    chunked = model.predict_proba(x)
    rows = np.concatenate([model.predict_proba(x[i : i + 1]) for i in range(7)])
    np.testing.assert_allclose(chunked, rows, rtol=1e-6)
    assert len({tuple(row) for row in chunked.round(6)}) == 7


def test_state_round_trip_and_mismatch(registry):
    a, b = built(registry), built(registry, SPIRALS_SPEC.replace("seed = 3", "seed = 9"))
    assert not np.array_equal(a.state()["layers.0.weight"], b.state()["layers.0.weight"])
    b.load_state(a.snapshot())
    for name, array in a.state().items():
        assert np.array_equal(array, b.state()[name])
    with pytest.raises(ValueError, match="missing"):
        b.load_state({"layers.0.weight": a.state()["layers.0.weight"]})
    bad = a.snapshot()
    bad["layers.0.weight"] = bad["layers.0.weight"][:1]
    with pytest.raises(ValueError, match="shape"):
        b.load_state(bad)


def test_workspace_reuses_arrays_until_the_shape_changes():
    work = Workspace(np.float32)
    first = work("z", (4, 3))
    assert work("z", (4, 3)) is first and first.dtype == np.float32
    assert work("z", (2, 3)) is not first
    assert work("mask", (4, 3), np.bool_).dtype == np.bool_


def test_a_training_step_allocates_no_new_workspace_arrays(registry):
    model = built(
        registry, SPIRALS_SPEC.replace('activation = "tanh"', 'activation = "tanh"\ndropout = 0.5')
    )
    x = np.ones((5, 2), np.float32)
    t = np.eye(2, dtype=np.float32)[[0, 1, 0, 1, 1]]
    model.train_step(x, t)
    arrays = {id(a) for layer in model.layers for a in layer.work._arrays.values()}
    model.train_step(x, t)
    assert {id(a) for layer in model.layers for a in layer.work._arrays.values()} == arrays
