"""Checks for component authors: the contract of each kind, and numerical gradients.

:func:`check_component` checks one registered component against everything its kind must
meet (see :data:`CONTRACTS`) and returns a result per check; :func:`assert_conforms` is the
same for a test. ``mlpspec check`` runs it on installed components. Underneath, the
gradient checks build or take a component in float64, compare its analytic gradient with
central differences, and raise ``AssertionError`` naming the worst entry when they differ.
mlpspec's own tests run them on every built-in; a plugin's tests run them the same way.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import TypeAdapter, ValidationError

from mlpspec.core.components import (
    Activation,
    Array,
    BuildContext,
    Layer,
    Loss,
    Parameter,
    Schedule,
)
from mlpspec.core.registry import Component, ComponentConfig, Registry
from mlpspec.core.schema import component_schema
from mlpspec.core.spec import component_ref

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


def validate_ref(registry: Registry, kind: str, ref: str | dict[str, Any]) -> ComponentConfig:
    """Check a reference (``"tanh"`` or ``{"type": ..., **params}``) as a spec would."""
    return TypeAdapter(component_ref(kind)).validate_python(ref, context={"registry": registry})


def create(registry: Registry, kind: str, ref: str | dict[str, Any], *args: Any) -> Any:
    """Validate a reference (``"tanh"`` or ``{"type": ..., **params}``) and build it."""
    return registry.create(validate_ref(registry, kind, ref), *args)


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


# ---------------------------------------------------------------------------------------------
# The conformance kit: every contract a component of a kind must meet, one function each.
#
# A contract check takes the registry, the component and one table of its params, and raises
# AssertionError when the component breaks the contract. ``check_component`` runs all of a
# kind's checks on every example the params model gives (or on the defaults) and reports one
# result per check: what ``mlpspec check`` prints and what a plugin's tests assert.

Table = dict[str, Any]
"""A component's params as a spec writes them, without ``type``."""

BATCH, IN_FEATURES, CLASSES = 6, 5, 3
SCHEDULE = Schedule(base_lr=0.1, epochs=12, steps_per_epoch=5)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one contract check on one component."""

    check: str
    passed: bool
    detail: str = ""


def examples(component: Component) -> list[Table]:
    """The params tables to check a component with: its params model's JSON Schema
    ``examples``, else the defaults (``{}``)."""
    found = component.params.model_json_schema(mode="validation").get("examples")
    return [dict(example) for example in found] if found else [{}]


def sample(shape: tuple[int, ...], dtype: Any = np.float64, seed: int = 7) -> Array:
    """Standard normal values with none near 0, where ReLU-like derivatives jump."""
    z = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(z) < 0.05, 0.3, z).astype(dtype)


def _ref(component: Component, params: Table) -> Table:
    return {"type": component.name, **params}


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _expect_dtype(what: str, array: Any, dtype: Any) -> None:
    actual = getattr(array, "dtype", type(array).__name__)
    _expect(actual == np.dtype(dtype), f"{what} is {actual}, expected {np.dtype(dtype)}")


def _expect_shape(what: str, array: Array, shape: tuple[int, ...]) -> None:
    _expect(array.shape == shape, f"{what} has shape {array.shape}, expected {shape}")


# Every kind ----------------------------------------------------------------------------------


def check_params_schema(registry: Registry, component: Component) -> None:
    """The params model becomes a JSON Schema, and its examples are valid params, for
    mlpspec and (when the ``jsonschema`` package is installed) for that schema."""
    schema = component_schema(component)
    json.dumps(schema)
    validator = _schema_validator(schema)
    required = [name for name, f in component.params.model_fields.items() if f.is_required()]
    found = schema.get("examples")
    _expect(
        bool(found) or not required,
        f"required params ({', '.join(required)}) need examples to check the component with: "
        f'model_config = ConfigDict(json_schema_extra={{"examples": [{{...}}]}})',
    )
    for example in found or []:
        _expect(isinstance(example, dict), f"example {example!r} is not a table")
        try:
            validate_ref(registry, component.kind, _ref(component, example))
        except ValidationError as exc:
            raise AssertionError(f"example {example!r} is not valid: {exc}") from None
        if validator is not None:
            problems = [e.message for e in validator.iter_errors(_ref(component, example))]
            _expect(not problems, f"example {example!r} fails its JSON Schema: {problems}")


def _schema_validator(schema: Table) -> Any:
    """A draft-7 validator of ``schema`` (after checking it is one), or None without the
    optional ``jsonschema`` package."""
    try:
        import jsonschema
    except ImportError:
        return None
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise AssertionError(f"the params' JSON Schema is not valid: {exc.message}") from None
    return jsonschema.Draft7Validator(schema)


# Layers --------------------------------------------------------------------------------------


def check_layer_gradients_contract(registry: Registry, component: Component, params: Table) -> None:
    """Float64: backward matches central differences, in training and in inference."""
    for training in (True, False):
        layer, rng = build_layer(registry, _ref(component, params), IN_FEATURES)
        check_layer_gradients(layer, sample((BATCH, IN_FEATURES)), rng, training=training)


def check_layer_dtype(registry: Registry, component: Component, params: Table) -> None:
    """Float32 in, float32 out: outputs, input gradients, parameters and buffers; and the
    shapes the contract says."""
    layer, _ = build_layer(registry, _ref(component, params), IN_FEATURES, dtype=np.float32)
    x = sample((BATCH, IN_FEATURES), np.float32)
    for training in (True, False):
        out = layer.forward(x, training=training)
        _expect_dtype(f"forward(training={training})", out, np.float32)
        _expect_shape(f"forward(training={training})", out, (BATCH, layer.out_features))
    layer.forward(x, training=True)
    grad_x = layer.backward(np.ones((BATCH, layer.out_features), np.float32))
    _expect(grad_x is not None, "backward returned None although need_input_grad is true")
    _expect_dtype("backward", grad_x, np.float32)
    _expect_shape("backward", grad_x, x.shape)
    for name, parameter in layer.parameters().items():
        _expect_dtype(f"parameter {name}", parameter.value, np.float32)
        _expect_dtype(f"gradient of {name}", parameter.grad, np.float32)
    for name, buffer in layer.buffers().items():
        _expect_dtype(f"buffer {name}", buffer, np.float32)


def check_layer_determinism(registry: Registry, component: Component, params: Table) -> None:
    """Two layers built with one seed start equal and compute equal outputs."""
    x = sample((BATCH, IN_FEATURES))
    (a, _), (b, _) = (
        build_layer(registry, _ref(component, params), IN_FEATURES, seed=3) for _ in range(2)
    )
    for name, parameter in a.parameters().items():
        _expect(
            np.array_equal(parameter.value, b.parameters()[name].value),
            f"parameter {name} differs between two builds with the same seed",
        )
    for training in (True, False):
        _expect(
            np.array_equal(a.forward(x, training=training), b.forward(x, training=training)),
            f"forward(training={training}) differs between two builds with the same seed",
        )


def check_layer_inference(registry: Registry, component: Component, params: Table) -> None:
    """After some training steps, inference is a pure function of each row: the same output
    twice, buffers untouched, and a row's output independent of the rest of the batch."""
    layer, _ = build_layer(registry, _ref(component, params), IN_FEATURES)
    for seed in range(3):
        layer.forward(sample((BATCH, IN_FEATURES), seed=seed) * 2 + 1, training=True)
    buffers = {name: buffer.copy() for name, buffer in layer.buffers().items()}
    x = sample((BATCH, IN_FEATURES), seed=11)
    first = layer.forward(x, training=False)
    _expect(
        np.array_equal(first, layer.forward(x, training=False)),
        "two inference passes on one batch differ",
    )
    for name, buffer in layer.buffers().items():
        _expect(np.array_equal(buffer, buffers[name]), f"inference changed buffer {name}")
    _expect(
        np.allclose(layer.forward(x[:2], training=False), first[:2], rtol=1e-12, atol=1e-12),
        "in inference, a row's output depends on the other rows of the batch",
    )


# Activations ---------------------------------------------------------------------------------


def check_activation_gradients_contract(
    registry: Registry, component: Component, params: Table
) -> None:
    """Float64: backward matches central differences."""
    activation = create(registry, "activation", _ref(component, params))
    check_activation_gradients(activation, sample((BATCH, IN_FEATURES)))


def check_activation_dtype(registry: Registry, component: Component, params: Table) -> None:
    """Float32 in, float32 out, of the input's shape, forward and backward."""
    activation = create(registry, "activation", _ref(component, params))
    z = sample((BATCH, IN_FEATURES), np.float32)
    a = activation.forward(z)
    _expect_dtype("forward", a, np.float32)
    _expect_shape("forward", a, z.shape)
    grad = activation.backward(z, a, np.ones_like(z))
    _expect_dtype("backward", grad, np.float32)
    _expect_shape("backward", grad, z.shape)


def check_activation_determinism(registry: Registry, component: Component, params: Table) -> None:
    """Two instances give the same output for the same input."""
    z = sample((BATCH, IN_FEATURES))
    a, b = (create(registry, "activation", _ref(component, params)) for _ in range(2))
    _expect(np.array_equal(a.forward(z), b.forward(z)), "two instances differ on one input")


# Losses --------------------------------------------------------------------------------------


def _loss_inputs(dtype: Any) -> tuple[Array, Array]:
    """Positive outputs (valid for every loss, normalizing ones included) and one-hot targets."""
    output = np.random.default_rng(5).uniform(0.2, 1.5, (BATCH, CLASSES)).astype(dtype)
    target = np.eye(CLASSES, dtype=dtype)[np.arange(BATCH) % CLASSES]
    return output, target


def check_loss_gradients_contract(registry: Registry, component: Component, params: Table) -> None:
    """Float64: value_and_grad matches central differences of value."""
    check_loss_gradients(create(registry, "loss", _ref(component, params)), *_loss_inputs(float))


def check_loss_dtype(registry: Registry, component: Component, params: Table) -> None:
    """Float32 in, float32 out: the gradient and the probabilities, of the output's shape."""
    loss = create(registry, "loss", _ref(component, params))
    output, target = _loss_inputs(np.float32)
    value, grad = loss.value_and_grad(output.copy(), target)
    _expect(np.isfinite(value), f"the loss is {value}")
    _expect_dtype("gradient", grad, np.float32)
    _expect_shape("gradient", grad, output.shape)
    probabilities = loss.probabilities(output)
    _expect_dtype("probabilities", probabilities, np.float32)
    _expect_shape("probabilities", probabilities, output.shape)


def check_loss_determinism(registry: Registry, component: Component, params: Table) -> None:
    """Two instances give the same value for the same batch."""
    output, target = _loss_inputs(float)
    a, b = (create(registry, "loss", _ref(component, params)) for _ in range(2))
    _expect(a.value(output, target) == b.value(output, target), "two instances differ")


# Initializers --------------------------------------------------------------------------------


def check_initializer_shape(registry: Registry, component: Component, params: Table) -> None:
    """Finite values of the shape asked for, for a weight matrix and for a bias vector."""
    init = create(registry, "initializer", _ref(component, params))
    for shape in ((IN_FEATURES, CLASSES), (CLASSES,)):
        values = np.asarray(init(np.random.default_rng(0), shape, IN_FEATURES, CLASSES))
        _expect_shape("the initial values", values, shape)
        _expect(bool(np.all(np.isfinite(values))), "the initial values are not all finite")


def check_initializer_determinism(registry: Registry, component: Component, params: Table) -> None:
    """One seed, one set of initial values."""
    init = create(registry, "initializer", _ref(component, params))
    a, b = (
        init(np.random.default_rng(9), (IN_FEATURES, CLASSES), IN_FEATURES, CLASSES)
        for _ in range(2)
    )
    _expect(np.array_equal(a, b), "two generators with one seed give different values")


# Optimizers ----------------------------------------------------------------------------------

CURVATURE = (np.array([[0.5, 1.0, 2.0], [1.5, 0.8, 1.2]]), np.array([1.0, 0.6, 1.8]))
"""A quadratic ½·Σ c·w² over two parameters (a matrix and a vector) of unequal curvatures."""


def _quadratic_parameters(dtype: Any) -> list[Parameter]:
    return [Parameter(np.full(c.shape, 3.0, dtype=dtype)) for c in CURVATURE]


def _quadratic(parameters: list[Parameter]) -> float:
    """Writes each parameter's gradient c·w and returns the objective."""
    total = 0.0
    for p, c in zip(parameters, CURVATURE, strict=True):
        p.grad[...] = c * p.value
        total += 0.5 * float(np.sum(c * p.value.astype(np.float64) ** 2))
    return total


def check_optimizer_descent(registry: Registry, component: Component, params: Table) -> None:
    """200 steps at the optimizer's own lr at least halve a convex quadratic."""
    optimizer = create(registry, "optimizer", _ref(component, params))
    parameters = _quadratic_parameters(np.float64)
    start = _quadratic(parameters)
    for _ in range(200):
        optimizer.step(parameters, optimizer.lr)
        end = _quadratic(parameters)
    _expect(
        np.isfinite(end) and end < 0.5 * start,
        f"the quadratic went from {start:.4g} to {end:.4g} in 200 steps at lr {optimizer.lr}",
    )


def check_optimizer_dtype(registry: Registry, component: Component, params: Table) -> None:
    """Updates in place: float32 parameters stay float32, and stay the same arrays."""
    optimizer = create(registry, "optimizer", _ref(component, params))
    parameters = _quadratic_parameters(np.float32)
    arrays = [p.value for p in parameters]
    for _ in range(3):
        _quadratic(parameters)
        optimizer.step(parameters, optimizer.lr)
    for p, array in zip(parameters, arrays, strict=True):
        _expect(p.value is array, "step replaced a parameter's array instead of updating it")
        _expect_dtype("a parameter after step", p.value, np.float32)


def check_optimizer_state(registry: Registry, component: Component, params: Table) -> None:
    """state() restored into a fresh optimizer continues exactly where the first one was."""
    first = create(registry, "optimizer", _ref(component, params))
    parameters = _quadratic_parameters(np.float64)
    for _ in range(3):
        _quadratic(parameters)
        first.step(parameters, first.lr)
    state = first.state()
    for key, value in state.items():
        _expect(isinstance(value, np.ndarray), f"state {key!r} is not a numpy array")
    second = create(registry, "optimizer", _ref(component, params))
    second.load_state({key: value.copy() for key, value in state.items()})
    twin = [Parameter(p.value.copy()) for p in parameters]
    for group, optimizer in ((parameters, first), (twin, second)):
        _quadratic(group)
        optimizer.step(group, optimizer.lr)
    for a, b in zip(parameters, twin, strict=True):
        _expect(np.array_equal(a.value, b.value), "a restored optimizer takes a different step")


# Schedulers ----------------------------------------------------------------------------------


def _learning_rates(registry: Registry, component: Component, params: Table) -> list[float]:
    scheduler = create(registry, "scheduler", _ref(component, params), SCHEDULE)
    steps = SCHEDULE.steps_per_epoch
    return [
        scheduler.lr(epoch, epoch * steps + i)
        for epoch in range(SCHEDULE.epochs)
        for i in range(steps)
    ]


def check_scheduler_range(registry: Registry, component: Component, params: Table) -> None:
    """The learning rate is a positive, finite float at every step of a run."""
    for step, lr in enumerate(_learning_rates(registry, component, params)):
        _expect(
            isinstance(lr, float | int) and math.isfinite(lr) and lr > 0,
            f"lr at step {step} is {lr!r}",
        )


def check_scheduler_determinism(registry: Registry, component: Component, params: Table) -> None:
    """Two schedulers of one run give the same learning rates."""
    first = _learning_rates(registry, component, params)
    _expect(first == _learning_rates(registry, component, params), "two schedulers differ")


# The entry point -----------------------------------------------------------------------------

Check = Callable[[Registry, Component, Table], None]

CONTRACTS: dict[str, dict[str, Check]] = {
    "layer": {
        "gradient": check_layer_gradients_contract,
        "float32": check_layer_dtype,
        "determinism": check_layer_determinism,
        "inference": check_layer_inference,
    },
    "activation": {
        "gradient": check_activation_gradients_contract,
        "float32": check_activation_dtype,
        "determinism": check_activation_determinism,
    },
    "loss": {
        "gradient": check_loss_gradients_contract,
        "float32": check_loss_dtype,
        "determinism": check_loss_determinism,
    },
    "initializer": {
        "shape": check_initializer_shape,
        "determinism": check_initializer_determinism,
    },
    "optimizer": {
        "descent": check_optimizer_descent,
        "float32": check_optimizer_dtype,
        "state": check_optimizer_state,
    },
    "scheduler": {
        "range": check_scheduler_range,
        "determinism": check_scheduler_determinism,
    },
    "dataset": {},  # datasets read files or the network: only their params are checked
}
"""The checks of each kind, by the name ``mlpspec check`` prints."""

# ONNX export (mlpspec.export.check): added where onnxruntime is installed ------------------
if importlib.util.find_spec("onnx") and importlib.util.find_spec("onnxruntime"):
    from mlpspec.export.check import check_onnx_export

    for _kind in ("layer", "activation", "loss"):
        CONTRACTS[_kind]["onnx"] = check_onnx_export


def check_component(registry: Registry, kind: str, name: str) -> list[CheckResult]:
    """Run every check of ``kind``'s contract on the component ``name``: one result each.

    Kind checks run once per example of the params model (see :func:`examples`); a check
    fails on the first example that breaks it, naming the example.
    """
    component = registry.get(kind, name)
    results = [_run("params", lambda: check_params_schema(registry, component))]
    if not results[0].passed:
        return results
    tables = examples(component)
    for check_name, check in CONTRACTS[kind].items():
        for table in tables:
            result = _run(check_name, lambda c=check, t=table: c(registry, component, t))
            if not result.passed:
                where = f" (params {table})" if table else ""
                result = CheckResult(check_name, False, result.detail + where)
                break
        results.append(result)
    return results


def assert_conforms(registry: Registry, kind: str, name: str) -> None:
    """For a plugin's tests: raise AssertionError listing every failed check."""
    failed = [r for r in check_component(registry, kind, name) if not r.passed]
    if failed:
        lines = "\n".join(f"  {r.check}: {r.detail}" for r in failed)
        raise AssertionError(f"{kind} {name!r} breaks its contract:\n{lines}")


def _run(name: str, check: Callable[[], None]) -> CheckResult:
    try:
        check()
    except AssertionError as exc:
        return CheckResult(name, False, str(exc))
    except Exception as exc:  # a crash breaks the contract as surely as a wrong value
        return CheckResult(name, False, f"raised {type(exc).__name__}: {exc}")
    return CheckResult(name, True)
