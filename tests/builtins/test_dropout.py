"""Dropout's two scalings: where the 1/(1 − rate) goes, and why it changes training."""

from __future__ import annotations

import numpy as np
import pytest

from mlpspec.testing import build_layer

RATE = 0.2
KEEP = 1 - RATE


def dense(registry, scaling: str, seed: int = 0):
    ref = {"type": "dense", "units": 7, "activation": "tanh", "dropout": RATE}
    return build_layer(registry, ref | {"dropout_scaling": scaling}, in_features=5, seed=seed)


def test_each_scaling_keeps_the_expected_output_of_training_at_inference(registry):
    x = np.random.default_rng(1).standard_normal((4000, 5))
    for scaling in ("training", "inference"):
        layer, _ = dense(registry, scaling)
        trained = layer.forward(x, training=True).copy()
        inferred = layer.forward(x, training=False)
        undropped = np.tanh(x @ layer.weight.value + layer.bias.value)
        kept = trained != 0
        survivors = undropped / KEEP if scaling == "training" else undropped
        np.testing.assert_allclose(trained[kept], survivors[kept], rtol=1e-12)
        expected = undropped if scaling == "training" else KEEP * undropped
        np.testing.assert_allclose(inferred, expected, rtol=1e-12)
        assert np.mean(~kept) == pytest.approx(RATE, abs=0.01)


def test_the_two_scalings_differ_in_training_as_a_learning_rate_of_one_over_keep_squared(
    registry,
):
    """Inverted dropout feeding weights W̃ computes what classic dropout feeding W = W̃/keep
    computes, but an SGD step of lr on W̃ is a step of lr/keep² on W: the reason document 004's
    dropout network, tuned with classic dropout, trains worse with inverted."""
    x = np.random.default_rng(2).standard_normal((8, 5))
    upstream = np.random.default_rng(3).standard_normal((8, 7))
    nets = {}
    for scaling in ("training", "inference"):
        first, rng = dense(registry, scaling, seed=11)
        second, _ = build_layer(registry, {"type": "dense", "units": 3}, in_features=7, seed=5)
        nets[scaling] = (first, second, rng)
    second_inverted, second_classic = nets["training"][1], nets["inference"][1]
    second_classic.weight.value[...] = second_inverted.weight.value / KEEP

    outputs, grads = {}, {}
    for scaling, (first, second, _) in nets.items():
        # same seed, so the same mask in both forms
        outputs[scaling] = second.forward(first.forward(x, training=True), training=True)
        second.backward(upstream[:, :3])
        grads[scaling] = second.weight.grad.copy()
        outputs[scaling, "inference"] = second.forward(
            first.forward(x, training=False), training=False
        )
    np.testing.assert_allclose(outputs["training"], outputs["inference"], rtol=1e-12)
    np.testing.assert_allclose(
        outputs["training", "inference"], outputs["inference", "inference"], rtol=1e-12
    )
    lr = 0.1
    step_inverted = -lr * grads["training"] / KEEP  # W̃ − lr·g̃, seen as a change of W = W̃/keep
    step_classic = -(lr / KEEP**2) * grads["inference"]
    np.testing.assert_allclose(step_inverted, step_classic, rtol=1e-12)


def test_the_dropout_layer_scales_as_it_is_told(registry):
    x = np.random.default_rng(5).standard_normal((3, 6))
    for scaling, at_inference in (("training", x), ("inference", KEEP * x)):
        layer, _ = build_layer(
            registry, {"type": "dropout", "rate": RATE, "scaling": scaling}, in_features=6
        )
        np.testing.assert_allclose(layer.forward(x, training=False), at_inference, rtol=1e-12)


def test_a_rate_of_zero_is_the_identity_in_both_scalings(registry):
    x = np.random.default_rng(4).standard_normal((3, 6))
    for scaling in ("training", "inference"):
        layer, _ = build_layer(
            registry, {"type": "dropout", "rate": 0.0, "scaling": scaling}, in_features=6
        )
        for training in (True, False):
            assert layer.forward(x, training=training) is x
