"""Leaky ReLU, GELU and He-uniform: values by hand, and the conformance kit."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mlpspec
from mlpspec.testing import assert_conforms, check_activation_gradients, create

REGISTRY = mlpspec.load_registry()


@pytest.mark.parametrize(
    ("kind", "name"),
    [("activation", "leaky_relu"), ("activation", "gelu"), ("initializer", "he_uniform")],
)
def test_conforms_to_its_contract(kind, name):
    assert_conforms(REGISTRY, kind, name)


def test_leaky_relu_values_and_gradient():
    leaky = create(REGISTRY, "activation", {"type": "leaky_relu", "slope": 0.1})
    z = np.array([[-2.0, 3.0]])
    a = leaky.forward(z)
    np.testing.assert_allclose(a, [[-0.2, 3.0]])
    np.testing.assert_allclose(leaky.backward(z, a, np.array([[1.0, 1.0]])), [[0.1, 1.0]])


def test_gelu_values():
    gelu = create(REGISTRY, "activation", "gelu")
    z = np.array([[-3.0, 0.0, 1.0]])
    inner = math.sqrt(2 / math.pi) * (1 + 0.044715)
    expected_at_1 = 0.5 * (1 + math.tanh(inner))  # 0.841192; the exact z·Φ(z) is 0.841345
    np.testing.assert_allclose(gelu.forward(z), [[-0.0036373, 0.0, expected_at_1]], rtol=1e-4)


@pytest.mark.parametrize("name", ["leaky_relu", "gelu"])
def test_gradients_in_float64_over_a_wide_range(name):
    z = np.linspace(-4, 4, 24).reshape(4, 6) + 0.01  # no entry at the kink of leaky ReLU
    check_activation_gradients(create(REGISTRY, "activation", name), z)


def test_he_uniform_bounds_and_variance():
    init = create(REGISTRY, "initializer", "he_uniform")
    w = init(np.random.default_rng(0), (400, 100), 400, 100)
    limit = math.sqrt(6 / 400)
    assert np.all(np.abs(w) <= limit) and np.abs(w).max() > 0.99 * limit
    assert w.std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
