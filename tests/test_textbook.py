"""The speed benchmark's textbook loop trains the very network mlpspec trains, step for step
(same initial weights, batches and dropout masks), so that timing them side by side compares
the same work."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mlpspec import load_spec
from mlpspec.run.builder import Builder, load_data
from mlpspec.run.runner import _trainer

from .conftest import ROOT, SPIRALS_SPEC, write_spec

sys.path.insert(0, str(ROOT / "benchmarks"))
import textbook

VARIANTS = {
    "momentum, classic dropout": {
        "layers": [
            {"type": "dense", "units": 16, "activation": "tanh", "dropout": 0.2,
             "dropout_scaling": "inference"},
            {"type": "dense", "units": 2},
        ],
    },
    "sgd, sigmoid, L2, logistic loss summed": {
        "optimizer": {"type": "sgd", "lr": 0.01},
        "loss": {"type": "sigmoid_cross_entropy", "reduction": "sum"},
        "layers": [
            {"type": "dense", "units": 16, "activation": "sigmoid", "l2": 0.01},
            {"type": "dense", "units": 2, "l2": 0.01},
        ],
        "train.sampling": "shuffle",
    },
    "relu, inverted dropout, replacement": {
        "layers": [
            {"type": "dense", "units": 16, "activation": "relu", "dropout": 0.3},
            {"type": "dense", "units": 8, "activation": "tanh"},
            {"type": "dense", "units": 2},
        ],
        "train.sampling": "replacement",
    },
}


@pytest.mark.parametrize("overrides", VARIANTS.values(), ids=VARIANTS.keys())
def test_textbook_loop_follows_mlpspec(registry, tmp_path, overrides):
    spec = load_spec(write_spec(tmp_path, SPIRALS_SPEC), registry, overrides)
    splits = load_data(spec, registry)
    trainer = _trainer(Builder(spec, registry), splits)
    model = trainer.model
    network, epoch = textbook.twin(spec, registry, splits)
    initial = [layer.W.copy() for layer in network.layers]
    for _ in range(3):
        trainer.train_epoch(0, 0)
        epoch()
    for ours, theirs, start in zip(model.layers, network.layers, initial, strict=True):
        assert not np.allclose(theirs.W, start, rtol=1e-3, atol=1e-4), "the weights barely moved"
        np.testing.assert_allclose(theirs.W, ours.weight.value, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(theirs.b, ours.bias.value, rtol=1e-4, atol=1e-5)
