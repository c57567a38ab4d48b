"""Built-in activations: relu, sigmoid, tanh, linear (identity) and softmax (row-wise).

``backward(z, a, grad_a)`` is the vector-Jacobian product: it returns dL/dz given dL/da,
reusing the forward output where the derivative is cheapest in terms of it.
"""

from __future__ import annotations

import numpy as np

from mlpspec.components import Array
from mlpspec.hookspec import hookimpl
from mlpspec.registry import Params


class ReLU:
    """max(0, z); its derivative is 1 where z > 0 and 0 elsewhere."""

    def __init__(self, params: Params) -> None:
        pass

    def forward(self, z: Array) -> Array:
        return np.maximum(z, 0, dtype=z.dtype)

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        grad_a[z <= 0] = 0
        return grad_a


class Sigmoid:
    """1 / (1 + e^-z), computed without overflow; derivative a·(1 − a)."""

    def __init__(self, params: Params) -> None:
        pass

    def forward(self, z: Array) -> Array:
        # tanh form: exact, stable for large |z|, and one transcendental call
        return 0.5 * (1 + np.tanh(0.5 * z))

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        return grad_a * a * (1 - a)


class Tanh:
    """tanh(z); derivative 1 − a²."""

    def __init__(self, params: Params) -> None:
        pass

    def forward(self, z: Array) -> Array:
        return np.tanh(z)

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        return grad_a * (1 - a * a)


class Linear:
    """The identity: for output layers whose loss applies its own link (softmax, sigmoid)."""

    def __init__(self, params: Params) -> None:
        pass

    def forward(self, z: Array) -> Array:
        return z

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        return grad_a


class Softmax:
    """Row-wise softmax; its vector-Jacobian product is a·(g − Σ g·a).

    Prefer a linear output with the ``softmax_cross_entropy`` loss, which fuses the two stably;
    this is for networks that want probabilities as a layer's output.
    """

    def __init__(self, params: Params) -> None:
        pass

    def forward(self, z: Array) -> Array:
        return softmax(z)

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        return a * (grad_a - np.sum(grad_a * a, axis=1, keepdims=True))


def softmax(z: Array) -> Array:
    """Row-wise softmax, shifted by each row's maximum so that exp cannot overflow."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


@hookimpl
def mlpspec_register_activations(register) -> None:
    register("relu", ReLU)
    register("sigmoid", Sigmoid)
    register("tanh", Tanh)
    register("linear", Linear)
    register("softmax", Softmax)
