"""Numerical-gradient checks, in float64, of every built-in layer, activation and loss."""

from __future__ import annotations

import numpy as np
import pytest

from mlpspec.engine.model import one_hot
from mlpspec.testing import (
    build_layer,
    check_activation_gradients,
    check_layer_gradients,
    check_loss_gradients,
    create,
    sample,
)

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "linear", "softmax"])
def test_activation_gradients(registry, name):
    check_activation_gradients(create(registry, "activation", name), sample((5, 4)))


def test_activations_keep_float32():
    from mlpspec import load_registry

    registry = load_registry()
    z = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    for name in registry.names("activation"):
        activation = create(registry, "activation", name)
        a = activation.forward(z)
        assert a.dtype == np.float32, name
        assert activation.backward(z, a, np.ones_like(z)).dtype == np.float32, name


@pytest.mark.parametrize(
    "ref",
    [
        {"type": "dense", "units": 3},
        {"type": "dense", "units": 4, "activation": "tanh", "l2": 0.3},
        {"type": "dense", "units": 4, "activation": "relu", "init": "he"},
        {"type": "dense", "units": 4, "activation": "sigmoid", "dropout": 0.5},
        {
            "type": "dense",
            "units": 4,
            "activation": "tanh",
            "dropout": 0.2,
            "dropout_scaling": "inference",
        },
        {
            "type": "dense",
            "units": 3,
            "activation": "softmax",
            "init": {"type": "normal", "scale": 0.5},
        },
        {"type": "activation", "activation": "tanh"},
        {"type": "dropout", "rate": 0.3},
        {"type": "dropout", "rate": 0.3, "scaling": "inference"},
    ],
)
def test_layer_gradients(registry, ref):
    layer, rng = build_layer(registry, ref, in_features=5)
    x = sample((6, 5))
    check_layer_gradients(layer, x, rng, training=True)
    check_layer_gradients(layer, x, rng, training=False)


def test_the_check_catches_a_wrong_gradient(registry):
    layer, rng = build_layer(registry, {"type": "dense", "units": 3, "l2": 0.5}, in_features=4)
    layer.l2 = 0.0  # the penalty says 0.5·λ·ΣW², the gradient now leaves out λW
    layer.penalty = lambda: 0.25 * float(np.sum(layer.weight.value**2))
    with pytest.raises(AssertionError, match="weight"):
        check_layer_gradients(layer, RNG.standard_normal((3, 4)), rng)


@pytest.mark.parametrize(
    "ref",
    [
        "softmax_cross_entropy",
        {"type": "softmax_cross_entropy", "reduction": "sum"},
        "sigmoid_cross_entropy",
        {"type": "sigmoid_cross_entropy", "reduction": "sum"},
        "mse",
        {"type": "mse", "reduction": "sum"},
    ],
)
def test_loss_gradients(registry, ref):
    loss = create(registry, "loss", ref)
    target = one_hot(np.array([0, 2, 1, 2]), 3, np.float64)
    check_loss_gradients(loss, RNG.standard_normal((4, 3)) * 3, target)


def test_normalized_mse_gradient_includes_the_normalization(registry):
    loss = create(registry, "loss", {"type": "mse", "normalize": True})
    target = one_hot(np.array([0, 2, 1]), 3, np.float64)
    output = RNG.uniform(0.1, 1.0, (3, 3))  # positive, as sigmoid outputs are
    check_loss_gradients(loss, output, target)


def test_softmax_cross_entropy_is_stable_for_huge_logits(registry):
    loss = create(registry, "loss", "softmax_cross_entropy")
    output = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0]], dtype=np.float32)
    target = one_hot(np.array([0, 0]), 3, np.float32)
    value, grad = loss.value_and_grad(output, target)
    assert value == pytest.approx(500.0)  # (0 + 1000) / 2
    assert np.all(np.isfinite(grad)) and grad.dtype == np.float32


def test_sigmoid_cross_entropy_matches_its_formula(registry):
    loss = create(registry, "loss", {"type": "sigmoid_cross_entropy", "reduction": "sum"})
    z = np.array([[0.5, -1.0]])
    t = np.array([[1.0, 0.0]])
    s = 1 / (1 + np.exp(-z))
    expected = float(np.sum(-t * np.log(s) - (1 - t) * np.log(1 - s)))
    assert loss.value(z, t) == pytest.approx(expected)


def test_sigmoid_keeps_relative_precision_for_very_negative_inputs(registry):
    """σ(−20) ≈ 2.06e-9: a form that computes 1 − something near 1 returns 0 in float32, and a
    normalized loss then divides 0 by 0 (document 004's E2 diverged to NaN that way)."""
    sigmoid = create(registry, "activation", "sigmoid")
    z = np.array([[-20.0, -60.0, 0.0, 20.0]], dtype=np.float32)
    a = sigmoid.forward(z)
    expected = 1 / (1 + np.exp(-z.astype(np.float64)))
    np.testing.assert_allclose(a, expected, rtol=1e-5)
    assert a.dtype == np.float32 and a[0, 1] > 0


def test_normalized_mse_stays_finite_when_every_output_is_tiny(registry):
    sigmoid = create(registry, "activation", "sigmoid")
    loss = create(registry, "loss", {"type": "mse", "normalize": True})
    outputs = sigmoid.forward(np.full((2, 3), -30.0, dtype=np.float32)).copy()
    value, grad = loss.value_and_grad(outputs, one_hot(np.array([0, 1]), 3, np.float32))
    assert np.isfinite(value) and np.all(np.isfinite(grad))
