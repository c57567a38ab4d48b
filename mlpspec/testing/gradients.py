"""Numerical gradients, and building components the way a run builds them, for tests.

The gradient checks take a component in float64, compare its analytic gradient with central
differences, and raise ``AssertionError`` naming the worst entry when they differ. mlpspec's
own tests run them on every built-in; a plugin's tests run them the same way, on cases of
their own (the conformance kit, :mod:`mlpspec.testing.contracts`, runs them on the examples
of a component's params).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mlpspec.core.components import Activation, Array, BuildContext, Layer, Loss
from mlpspec.core.registry import Registry
from mlpspec.core.spec import create, validate_ref

__all__ = [
    "ATOL",
    "EPS",
    "RTOL",
    "assert_close",
    "build_layer",
    "check_activation_gradients",
    "check_layer_gradients",
    "check_loss_gradients",
    "create",
    "numerical_gradient",
    "sample",
    "validate_ref",
]

EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-7


def numerical_gradient(f: Callable[[], float], array: Array, eps: float = EPS) -> Array:
    """Central differences of ``f()`` with respect to each entry of ``array`` (changed in place
    and restored)."""
    grad = np.zeros_like(array, dtype=np.float64)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = f()
        flat[i] = original - eps
        minus = f()
        flat[i] = original
        flat_grad[i] = (plus - minus) / (2 * eps)
    return grad


def assert_close(
    name: str, analytic: Array, numeric: Array, rtol: float = RTOL, atol: float = ATOL
) -> None:
    """Raise naming the worst entry where ``analytic`` is not within tolerance of ``numeric``
    (a NaN or infinity counts as the worst: it never compares close)."""
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise AssertionError(f"{name}: gradient shape {analytic.shape}, expected {numeric.shape}")
    error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    error = np.where(np.isfinite(error), error, np.inf)
    if np.any(error > 0):
        worst = np.unravel_index(np.argmax(error), error.shape)
        raise AssertionError(
            f"{name}: backward gives {analytic[worst]:.8g} at {tuple(int(i) for i in worst)}, "
            f"numerical gradient {numeric[worst]:.8g}"
        )


def build_layer(
    registry: Registry,
    ref: str | Mapping[str, Any],
    in_features: int,
    *,
    seed: int = 0,
    dtype: np.dtype | type = np.float64,
) -> tuple[Layer, np.random.Generator]:
    """A layer from the registry as the builder would make it, and its random generator."""
    rng = np.random.default_rng(seed)
    ctx = BuildContext(np.dtype(dtype), rng, lambda config: registry.create(config))
    return create(registry, "layer", ref, in_features, ctx), rng


def check_layer_gradients(
    layer: Layer, x: Array, rng: np.random.Generator | None = None, *, training: bool = True
) -> None:
    """Check the input and parameter gradients of ``sum(R · forward(x)) + penalty``, in both
    ways the engine calls ``backward``: with ``need_input_grad`` true (every layer but the
    first) and false (the first layer, whose input gradient nothing needs).

    Before each backward pass every parameter's gradient is filled with NaN, so that a layer
    that skips writing a gradient, or adds to the old one instead of writing it, is caught:
    the engine never clears gradients between steps, and a first layer that writes nothing
    when ``need_input_grad`` is false never trains.

    ``rng`` is the generator the layer draws from (dropout masks): its state is rewound before
    every forward pass so that each sees the same mask.
    """
    state = rng.bit_generator.state if rng is not None else None

    def forward() -> Array:
        if rng is not None:
            rng.bit_generator.state = state
        return layer.forward(x, training=training)

    weights = np.random.default_rng(1234).standard_normal(forward().shape)

    def objective() -> float:
        return float(np.sum(forward() * weights)) + layer.penalty()

    def backward(need_input_grad: bool) -> tuple[Array | None, dict[str, Array]]:
        forward()
        for parameter in layer.parameters().values():
            parameter.grad.fill(np.nan)
        grad_x = layer.backward(weights.copy(), need_input_grad=need_input_grad)
        return grad_x, {name: p.grad.copy() for name, p in layer.parameters().items()}

    grad_x, analytic = backward(need_input_grad=True)
    _, first_layer = backward(need_input_grad=False)
    assert_close("input", grad_x, numerical_gradient(objective, x))
    for name, parameter in layer.parameters().items():
        numeric = numerical_gradient(objective, parameter.value)
        for grad, how in ((analytic[name], ""), (first_layer[name], _FIRST_LAYER)):
            unwritten = np.argwhere(np.isnan(grad))
            if len(unwritten):
                raise AssertionError(
                    f"{name}{how}: backward did not write the gradient at "
                    f"{tuple(int(i) for i in unwritten[0])} (it kept the value it had before "
                    "the pass): write every entry of p.grad, do not skip or add to it"
                )
            assert_close(f"{name}{how}", grad, numeric)


_FIRST_LAYER = " (need_input_grad=False, as the first layer is called)"


def check_activation_gradients(activation: Activation, z: Array) -> None:
    """Check ``backward`` against the numerical gradient of ``sum(R · forward(z))``."""
    weights = np.random.default_rng(1234).standard_normal(z.shape)

    def objective() -> float:
        return float(np.sum(activation.forward(z) * weights))

    a = activation.forward(z)
    analytic = activation.backward(z, a, weights.copy())
    assert_close("input", analytic, numerical_gradient(objective, z))


def check_loss_gradients(loss: Loss, output: Array, target: Array) -> None:
    """Check ``value_and_grad`` against the numerical gradient of ``value``."""
    value, analytic = loss.value_and_grad(output.copy(), target)
    analytic = analytic.copy()  # it may be the loss's workspace, reused by the calls below
    if not np.isclose(value, loss.value(output, target)):
        raise AssertionError("value_and_grad and value disagree on the loss")
    assert_close("output", analytic, numerical_gradient(lambda: loss.value(output, target), output))


def sample(shape: tuple[int, ...], dtype: Any = np.float64, seed: int = 7) -> Array:
    """Standard normal values with none near 0, where ReLU-like derivatives jump."""
    z = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(z) < 0.05, 0.3, z).astype(dtype)
