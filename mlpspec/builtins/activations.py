"""Built-in activations: relu, sigmoid, tanh, linear (identity) and softmax (row-wise).

``backward(z, a, grad_a)`` is the vector-Jacobian product: it returns dL/dz given dL/da,
using the forward output where the derivative is cheapest in terms of it, and working in
place on ``grad_a`` and the activation's own workspace so that a training step allocates
nothing.
"""

from __future__ import annotations

import numpy as np

from mlpspec.core.components import Array, ExportContext, Workspace
from mlpspec.core.hookspec import hookimpl
from mlpspec.core.registry import Params


class Elementwise:
    """Shared by the built-ins: a workspace for the output and the derivative."""

    def __init__(self, params: Params | None = None) -> None:
        self.work = Workspace(np.float32)

    def buffer(self, name: str, like: Array) -> Array:
        return self.work(name, like.shape, like.dtype)


class ReLU(Elementwise):
    """max(0, z); its derivative is 1 where z > 0 and 0 elsewhere."""

    def forward(self, z: Array) -> Array:
        return np.maximum(z, 0, out=self.buffer("a", z))

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        active = np.greater(z, 0, out=self.work("active", z.shape, np.bool_))
        return np.multiply(grad_a, active, out=grad_a)

    def to_onnx(self, ctx: ExportContext, input_name: str) -> str:
        return ctx.add_node("Relu", [input_name])


class Sigmoid(Elementwise):
    """1 / (1 + e^−z), accurate even where it is tiny (see :func:`sigmoid`); derivative
    a·(1 − a)."""

    def forward(self, z: Array) -> Array:
        return sigmoid(z, out=self.buffer("a", z))

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        slope = np.subtract(1, a, out=self.buffer("slope", a))
        slope *= a
        return np.multiply(grad_a, slope, out=grad_a)

    def to_onnx(self, ctx: ExportContext, input_name: str) -> str:
        return ctx.add_node("Sigmoid", [input_name])


class Tanh(Elementwise):
    """tanh(z); derivative 1 − a²."""

    def forward(self, z: Array) -> Array:
        return np.tanh(z, out=self.buffer("a", z))

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        slope = np.multiply(a, a, out=self.buffer("slope", a))
        np.subtract(1, slope, out=slope)
        return np.multiply(grad_a, slope, out=grad_a)

    def to_onnx(self, ctx: ExportContext, input_name: str) -> str:
        return ctx.add_node("Tanh", [input_name])


class Linear(Elementwise):
    """The identity: for output layers whose loss applies its own link (softmax, sigmoid)."""

    def forward(self, z: Array) -> Array:
        return z

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        return grad_a

    def to_onnx(self, ctx: ExportContext, input_name: str) -> str:
        return input_name


class Softmax(Elementwise):
    """Row-wise softmax; its vector-Jacobian product is a·(g − Σ g·a).

    Prefer a linear output with the ``softmax_cross_entropy`` loss, which fuses the two stably;
    this is for networks that want probabilities as a layer's output.
    """

    def forward(self, z: Array) -> Array:
        return softmax(z, out=self.buffer("a", z))

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        dot = np.einsum("ij,ij->i", grad_a, a)[:, None]
        grad_a -= dot
        return np.multiply(grad_a, a, out=grad_a)

    def to_onnx(self, ctx: ExportContext, input_name: str) -> str:
        return ctx.add_node("Softmax", [input_name], axis=-1)  # per row at every opset >= 13


def sigmoid(z: Array, out: Array | None = None) -> Array:
    """σ(z) = 1 / (1 + e^−z), with full relative precision where it is tiny: for very negative z,
    e^−z is huge and the quotient exact (σ(−20) ≈ 2e-9), where 1 − (something near 1) forms
    round to 0. Past z ≈ −88 (float32) e^−z overflows to inf and σ is 0, its nearest value."""
    out = np.negative(z, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def softmax(z: Array, out: Array | None = None) -> Array:
    """Row-wise softmax, shifted by each row's maximum so that exp cannot overflow."""
    out = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


@hookimpl
def mlpspec_register_activations(register) -> None:
    register("relu", ReLU)
    register("sigmoid", Sigmoid)
    register("tanh", Tanh)
    register("linear", Linear)
    register("softmax", Softmax)
