"""Batch normalization: values by hand, running statistics, and the conformance kit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mlpspec
from mlpspec.testing import assert_conforms, build_layer, check_layer_gradients

REGISTRY = mlpspec.load_registry()
SPEC = Path(__file__).resolve().parents[1] / "specs" / "spirals_batchnorm_gelu.toml"
EPS = 1e-5


def test_conforms_to_the_layer_contract():
    assert_conforms(REGISTRY, "layer", "batchnorm")


def test_training_uses_the_batch_and_updates_running_statistics():
    layer, _ = build_layer(REGISTRY, {"type": "batchnorm", "momentum": 0.9}, in_features=1)
    x = np.array([[1.0], [3.0]])  # mean 2, biased variance 1, unbiased variance 2
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, [[-1 / np.sqrt(1 + EPS)], [1 / np.sqrt(1 + EPS)]])
    np.testing.assert_allclose(layer.running_mean, [0.9 * 0 + 0.1 * 2])
    np.testing.assert_allclose(layer.running_var, [0.9 * 1 + 0.1 * 2])


def test_inference_uses_the_running_statistics():
    layer, _ = build_layer(REGISTRY, {"type": "batchnorm", "momentum": 0.9}, in_features=1)
    layer.forward(np.array([[1.0], [3.0]]), training=True)
    layer.gamma.value[...] = 2.0
    layer.beta.value[...] = 0.5
    y = layer.forward(np.array([[1.0]]), training=False)
    np.testing.assert_allclose(y, [[2.0 * (1.0 - 0.2) / np.sqrt(1.1 + EPS) + 0.5]])


@pytest.mark.parametrize("training", [True, False])
def test_gradients_in_float64(training):
    layer, rng = build_layer(REGISTRY, {"type": "batchnorm"}, in_features=4)
    x = np.random.default_rng(0).standard_normal((7, 4)) * 3 + 1
    layer.forward(x, training=True)  # running statistics away from their start
    layer.gamma.value[...] = [0.5, 1.5, -1.0, 2.0]
    check_layer_gradients(layer, x, rng, training=training)


def test_running_statistics_are_saved_with_the_model(tmp_path):
    spec = mlpspec.load_spec(SPEC, REGISTRY, {"train.epochs": 2, "model.name": "saved-batchnorm"})
    result = mlpspec.run(spec, REGISTRY, out_dir=tmp_path)
    with np.load(result.run_dir / "model.npz", allow_pickle=False) as saved:
        running_var = saved["layers.1.running_var"]
    assert running_var.shape == (64,) and not np.allclose(running_var, 1.0)
    loaded = mlpspec.load_run(result.run_dir, REGISTRY)
    np.testing.assert_array_equal(loaded.model.layers[1].running_var, running_var)
    splits = mlpspec.load_data(loaded.spec, REGISTRY)
    accuracy = float(np.mean(loaded.predict(splits.x_test) == splits.y_test))
    assert accuracy == result.test_accuracy
