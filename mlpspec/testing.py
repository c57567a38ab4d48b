"""Checks for component authors: numerical gradients against backward passes.

Every check builds or takes a component in float64, compares its analytic gradient with
central differences, and raises ``AssertionError`` naming the worst entry when they differ.
mlpspec's own tests run them on every built-in; a plugin's tests run them the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import TypeAdapter

from mlpspec.components import Activation, Array, BuildContext, Layer, Loss
from mlpspec.registry import Registry
from mlpspec.spec import component_ref

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
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise AssertionError(f"{name}: gradient shape {analytic.shape}, expected {numeric.shape}")
    error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    if np.any(error > 0):
        worst = np.unravel_index(np.argmax(error), error.shape)
        raise AssertionError(
            f"{name}: backward gives {analytic[worst]:.8g} at {tuple(int(i) for i in worst)}, "
            f"numerical gradient {numeric[worst]:.8g}"
        )


def create(registry: Registry, kind: str, ref: str | dict[str, Any], *args: Any) -> Any:
    """Validate a reference (``"tanh"`` or ``{"type": ..., **params}``) and build it."""
    config = TypeAdapter(component_ref(kind)).validate_python(ref, context={"registry": registry})
    return registry.create(config, *args)


def build_layer(
    registry: Registry,
    ref: str | dict[str, Any],
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
    """Check the input and parameter gradients of ``sum(R · forward(x)) + penalty``.

    ``rng`` is the generator the layer draws from (dropout masks): its state is rewound before
    every forward pass so that each sees the same mask.
    """
    state = rng.bit_generator.state if rng is not None else None
    weights = np.random.default_rng(1234).standard_normal(
        _output_shape(layer, x, rng, state, training)
    )

    def objective() -> float:
        if rng is not None:
            rng.bit_generator.state = state
        return float(np.sum(layer.forward(x, training=training) * weights)) + layer.penalty()

    objective()
    grad_x = layer.backward(weights.copy(), need_input_grad=True)
    analytic = {name: p.grad.copy() for name, p in layer.parameters().items()}
    assert_close("input", grad_x, numerical_gradient(objective, x))
    for name, parameter in layer.parameters().items():
        assert_close(name, analytic[name], numerical_gradient(objective, parameter.value))


def _output_shape(layer: Layer, x: Array, rng, state, training: bool) -> tuple[int, ...]:
    if rng is not None:
        rng.bit_generator.state = state
    return layer.forward(x, training=training).shape


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
