"""The conformance kit's checks: every contract a component of a kind must meet, one function
each, collected by kind in :data:`CONTRACTS`.

A check takes the registry, the component and one table of its params, and raises
``AssertionError`` saying what is wrong when the component breaks the contract. A check may
also issue a :class:`ConformanceWarning` for what works but costs the user something (a layer
the memory guard cannot estimate). :func:`mlpspec.testing.check_component` runs a kind's
checks on every example its params model gives.

Each check tries the component the way the engine will use it, in every mode the engine uses:
both ``need_input_grad`` values of a layer's backward pass, float32 throughout, an optimizer
at the learning rates a scheduler hands it, state saved and restored in the middle of a run,
a metric fed in chunks. What passes here and fails in a run is a gap in the kit.
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from pydantic import ValidationError

from mlpspec.core.components import Array, Parameter, Schedule
from mlpspec.core.registry import Component, Registry
from mlpspec.core.schema import component_schema
from mlpspec.core.spec import problems, validate_ref
from mlpspec.engine.training import check_optimizer_slots
from mlpspec.testing.gradients import (
    build_layer,
    check_activation_gradients,
    check_layer_gradients,
    check_loss_gradients,
    create,
    sample,
)

Table = dict[str, Any]
"""A component's params as a spec writes them, without ``type``."""

BATCH, IN_FEATURES, CLASSES = 6, 5, 3
SCHEDULE = Schedule(base_lr=0.1, epochs=12, steps_per_epoch=5)


class ConformanceWarning(UserWarning):
    """Something a component does that works, but costs its users (``mlpspec check`` prints
    it below the component's row; under pytest it is a warning of the test)."""


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


def _expect_float(what: str, value: Any) -> None:
    """A finite Python float (``numpy.float64`` is one; ``numpy.float32`` is not)."""
    _expect(
        isinstance(value, float),
        f"{what} is {type(value).__name__} {value!r}, expected a Python float",
    )
    _expect(math.isfinite(value), f"{what} is {value}, expected a finite float")


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
            reasons = "; ".join(str(problem) for problem in problems(exc))
            raise AssertionError(f"example {example!r} is not valid: {reasons}") from None
        if validator is not None:
            found_problems = [e.message for e in validator.iter_errors(_ref(component, example))]
            _expect(
                not found_problems, f"example {example!r} fails its JSON Schema: {found_problems}"
            )


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


def _in_mode(training: bool, check: Callable[[], None]) -> None:
    """Run ``check``, saying in its message which mode of ``forward`` it failed in."""
    try:
        check()
    except AssertionError as exc:
        raise AssertionError(f"in {'training' if training else 'inference'}: {exc}") from None


def check_layer_gradients_contract(registry: Registry, component: Component, params: Table) -> None:
    """Float64: backward matches central differences, in training and in inference, with
    ``need_input_grad`` true and false (the first layer's backward pass)."""
    for training in (True, False):
        layer, rng = build_layer(registry, _ref(component, params), IN_FEATURES)
        x = sample((BATCH, IN_FEATURES))
        _in_mode(training, partial(check_layer_gradients, layer, x, rng, training=training))


def check_layer_dtype(registry: Registry, component: Component, params: Table) -> None:
    """Float32 in, float32 out, everywhere: outputs in both modes, the input gradient,
    parameters and their gradients after both kinds of backward pass, buffers after training;
    the shapes the contract says; a scalar penalty."""
    layer, _ = build_layer(registry, _ref(component, params), IN_FEATURES, dtype=np.float32)
    x = sample((BATCH, IN_FEATURES), np.float32)
    for training in (True, False):
        out = layer.forward(x, training=training)
        _expect_dtype(f"forward(training={training})", out, np.float32)
        _expect_shape(f"forward(training={training})", out, (BATCH, layer.out_features))
    for need_input_grad in (True, False):
        layer.forward(x, training=True)
        grad_x = layer.backward(
            np.ones((BATCH, layer.out_features), np.float32), need_input_grad=need_input_grad
        )
        how = "" if need_input_grad else " after backward(need_input_grad=False)"
        if need_input_grad:
            _expect(grad_x is not None, "backward returned None although need_input_grad is true")
            _expect_dtype("backward", grad_x, np.float32)
            _expect_shape("backward", grad_x, x.shape)
        for name, parameter in layer.parameters().items():
            _expect_dtype(f"parameter {name}{how}", parameter.value, np.float32)
            _expect_dtype(f"gradient of {name}{how}", parameter.grad, np.float32)
    for name, buffer in layer.buffers().items():
        _expect_dtype(f"buffer {name} after training", buffer, np.float32)
    penalty = layer.penalty()
    _expect(
        np.ndim(penalty) == 0 and math.isfinite(float(penalty)),
        f"penalty() is {penalty!r}, expected a finite number",
    )


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


SIZE_METHODS = ("parameter_count", "out_features")
"""What a layer's params model defines for the memory guard (:mod:`mlpspec.run.budget`)."""


def check_layer_size(registry: Registry, component: Component, params: Table) -> None:
    """The params model's ``parameter_count(in_features)`` and ``out_features(in_features)``
    agree with the layer built from it; without them, a warning: the memory guard cannot
    estimate a network that holds the layer, so absurd sizes are no longer refused."""
    config = validate_ref(registry, "layer", _ref(component, params))
    missing = [m for m in SIZE_METHODS if not callable(getattr(config.params, m, None))]
    if missing:
        warnings.warn(
            ConformanceWarning(
                f"its params model {component.params.__name__} has no "
                f"{' or '.join(f'{m}(in_features)' for m in missing)}: the memory guard "
                "cannot estimate a network holding this layer (nor any layer after it), so "
                "an absurd size is allocated instead of refused"
            ),
            stacklevel=2,
        )
        return
    layer, _ = build_layer(registry, _ref(component, params), IN_FEATURES)
    said = config.params.out_features(IN_FEATURES)
    _expect(
        said == layer.out_features,
        f"out_features({IN_FEATURES}) says {said!r}, the layer built has {layer.out_features}",
    )
    held = sum(p.value.size for p in layer.parameters().values())
    said = config.params.parameter_count(IN_FEATURES)
    _expect(
        said == held,
        f"parameter_count({IN_FEATURES}) says {said!r}, the layer built has {held} "
        "parameter values",
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
    """Float32 in, float32 out: each example's loss value (with and without the gradient),
    the gradient and the probabilities, of the contract's shapes; a finite loss."""
    loss = create(registry, "loss", _ref(component, params))
    output, target = _loss_inputs(np.float32)
    for grad in (False, True):
        values, _ = loss.per_example(output.copy(), target, grad=grad)
        _expect_dtype(f"the values of per_example(grad={grad})", values, np.float32)
        _expect_shape(f"the values of per_example(grad={grad})", values, (BATCH,))
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


def _optimizer(registry: Registry, component: Component, params: Table) -> tuple[Any, float]:
    """A new optimizer, and the base learning rate its ``lr`` param gives (the scheduler's
    start, and what a run without a scheduler hands to every step)."""
    config = validate_ref(registry, "optimizer", _ref(component, params))
    lr = getattr(config.params, "lr", None)
    _expect(
        isinstance(lr, int | float) and not isinstance(lr, bool),
        "its params have no 'lr': every optimizer takes its base learning rate as 'lr'",
    )
    return registry.create(config), float(lr)


def _steps(optimizer: Any, parameters: list[Parameter], lr: float, count: int) -> None:
    for _ in range(count):
        _quadratic(parameters)
        optimizer.step(parameters, lr)


def _values(parameters: list[Parameter]) -> list[Array]:
    return [p.value.copy() for p in parameters]


def check_optimizer_descent(registry: Registry, component: Component, params: Table) -> None:
    """200 steps at the optimizer's own lr at least halve a convex quadratic."""
    optimizer, lr = _optimizer(registry, component, params)
    parameters = _quadratic_parameters(np.float64)
    start = _quadratic(parameters)
    _steps(optimizer, parameters, lr, 200)
    end = _quadratic(parameters)
    _expect(
        np.isfinite(end) and end < 0.5 * start,
        f"the quadratic went from {start:.4g} to {end:.4g} in 200 steps at lr {lr}",
    )


def check_optimizer_lr(registry: Registry, component: Component, params: Table) -> None:
    """``step`` moves by the learning rate it is given: from one start, a first step at half
    the lr moves the parameters half as far, and later steps at different lrs differ. An
    optimizer that uses ``self.lr`` (or the lr of an earlier step) silently ignores the
    scheduler."""
    lr = _optimizer(registry, component, params)[1]
    moves = []
    for rate in (lr, lr / 2):
        optimizer, _ = _optimizer(registry, component, params)
        parameters = _quadratic_parameters(np.float64)
        start = np.concatenate([p.value.ravel() for p in parameters])
        _steps(optimizer, parameters, rate, 1)
        moves.append(np.concatenate([p.value.ravel() for p in parameters]) - start)
    full, half = moves
    _expect(bool(np.any(full != 0)), f"a step at lr {lr} did not move the parameters")
    _expect(
        not np.array_equal(full, half),
        f"a step at lr {lr / 2} moves the parameters exactly as one at lr {lr}: step must use "
        "the lr it is given, not self.lr, or the scheduler is silently ignored",
    )
    ratio = float(np.dot(half, full) / np.dot(full, full))
    _expect(
        np.allclose(half, 0.5 * full, rtol=1e-6, atol=1e-12),
        f"from one start, a step at lr {lr / 2} should move the parameters half as far as one "
        f"at lr {lr}; it moves them {ratio:.4g} times as far (does part of the update use "
        "self.lr rather than the lr given?)",
    )
    later = []
    for rate in (lr, lr / 2):
        optimizer, _ = _optimizer(registry, component, params)
        parameters = _quadratic_parameters(np.float64)
        _steps(optimizer, parameters, lr, 3)
        _steps(optimizer, parameters, rate, 1)
        later.append(_values(parameters))
    _expect(
        any(not np.array_equal(a, b) for a, b in zip(*later, strict=True)),
        f"after 3 steps at lr {lr}, a step at lr {lr / 2} moves the parameters exactly as one "
        f"at lr {lr}: step must use the lr it is given at every step, not one it kept",
    )


def check_optimizer_dtype(registry: Registry, component: Component, params: Table) -> None:
    """Updates in place: float32 parameters stay float32, and stay the same arrays."""
    optimizer, lr = _optimizer(registry, component, params)
    parameters = _quadratic_parameters(np.float32)
    arrays = [p.value for p in parameters]
    _steps(optimizer, parameters, lr, 3)
    for p, array in zip(parameters, arrays, strict=True):
        _expect(p.value is array, "step replaced a parameter's array instead of updating it")
        _expect_dtype("a parameter after step", p.value, np.float32)


def _saved_and_loaded(state: dict[str, Array]) -> dict[str, Array]:
    """``state`` after a trip through an .npz file, as a checkpoint makes it."""
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        return {key: loaded[key] for key in loaded.files}


def _check_state_arrays(state: Any, parameters: list[Parameter]) -> None:
    """What a checkpoint can hold and a resumed run accepts: a dict of numpy arrays by name,
    each a scalar or of one parameter's shape and dtype, all finite."""
    _expect(isinstance(state, dict), f"state() returned {type(state).__name__}, expected a dict")
    for key, value in state.items():
        _expect(isinstance(key, str), f"state key {key!r} is not a string")
        _expect(isinstance(value, np.ndarray), f"state {key!r} is not a numpy array")
    try:
        check_optimizer_slots(state, parameters)
    except ValueError as exc:
        raise AssertionError(
            f"{exc}: state arrays are scalars or have a parameter's shape and dtype (here "
            "float32), or a resumed run refuses the checkpoint"
        ) from None


def check_optimizer_state(registry: Registry, component: Component, params: Table) -> None:
    """Resuming works at any point: ``state()`` taken before the first step or in the middle
    of a run, written to a checkpoint file and loaded into a fresh optimizer, continues
    exactly as the first one for many steps, and gives back the same ``state()``."""
    for taken_after in (0, 3):
        first, lr = _optimizer(registry, component, params)
        parameters = _quadratic_parameters(np.float32)
        _steps(first, parameters, lr, taken_after)
        state = first.state()
        _check_state_arrays(state, parameters)
        saved = _saved_and_loaded(state)
        second, _ = _optimizer(registry, component, params)
        second.load_state({key: value.copy() for key, value in saved.items()})
        when = f"after {taken_after} steps" if taken_after else "before the first step"
        again = second.state()
        _expect(
            isinstance(again, dict)
            and set(again) == set(saved)
            and all(np.array_equal(np.asarray(again[k]), saved[k]) for k in saved),
            f"state() of an optimizer that loaded a state taken {when} differs from that state",
        )
        twin = [Parameter(p.value.copy()) for p in parameters]
        for step in range(1, 11):
            _steps(first, parameters, lr, 1)
            _steps(second, twin, lr, 1)
            _expect(
                all(map(np.array_equal, _values(parameters), _values(twin))),
                f"a restored optimizer takes a different step (restored {when}, differs at "
                f"the {_ordinal(step)} step after)",
            )


def _ordinal(n: int) -> str:
    return f"{n}{'st' if n == 1 else 'nd' if n == 2 else 'rd' if n == 3 else 'th'}"


# Schedulers ----------------------------------------------------------------------------------


def _run_steps() -> list[tuple[int, int]]:
    """``(epoch, step)`` for every step of :data:`SCHEDULE`."""
    steps = SCHEDULE.steps_per_epoch
    return [(e, e * steps + i) for e in range(SCHEDULE.epochs) for i in range(steps)]


def _learning_rates(registry: Registry, component: Component, params: Table) -> list[float]:
    scheduler = create(registry, "scheduler", _ref(component, params), SCHEDULE)
    return [scheduler.lr(epoch, step) for epoch, step in _run_steps()]


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


def check_scheduler_state(registry: Registry, component: Component, params: Table) -> None:
    """A scheduler that keeps state (``state()`` and ``load_state()``, both or neither), saved
    halfway through a run and loaded into a new one, gives the same learning rates from there
    on; asked twice for one step, it answers the same (the trainer asks again at each epoch's
    start)."""
    first = create(registry, "scheduler", _ref(component, params), SCHEDULE)
    has = [hasattr(first, name) for name in ("state", "load_state")]
    _expect(has[0] == has[1], "it has one of state() and load_state() but not the other")
    steps = _run_steps()
    half = len(steps) // 2
    for epoch, step in steps[:half]:
        lr = first.lr(epoch, step)
        _expect(first.lr(epoch, step) == lr, f"asked twice for step {step}, it answers differently")
    if not has[0]:
        return
    state = first.state()
    _expect(isinstance(state, dict), f"state() returned {type(state).__name__}, expected a dict")
    for key, value in state.items():
        _expect(isinstance(value, np.ndarray), f"state {key!r} is not a numpy array")
    second = create(registry, "scheduler", _ref(component, params), SCHEDULE)
    second.load_state(_saved_and_loaded(state))
    for epoch, step in steps[half:]:
        _expect(
            first.lr(epoch, step) == second.lr(epoch, step),
            f"a restored scheduler gives another lr at step {step}",
        )


# Metrics -------------------------------------------------------------------------------------

METRIC_ROWS = 48
METRIC_CHUNKS = ((1, 7, 40), (16, 16, 16), (30, 18))
"""Chunkings of :data:`METRIC_ROWS` rows: an evaluation feeds a metric in chunks, and the
last one is usually shorter."""


def _metric_inputs(dtype: Any, seed: int) -> tuple[Array, Array]:
    """Softmax probabilities over four classes and integer labels with every class present."""
    rng = np.random.default_rng(seed)
    logits = 2 * rng.standard_normal((METRIC_ROWS, 4))
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    labels = rng.integers(0, 4, METRIC_ROWS)
    labels[:4] = np.arange(4)
    return probabilities.astype(dtype), labels.astype(np.int64)


def _metric_result(metric: Any, probabilities: Array, labels: Array, chunks: Any = None) -> Any:
    """Reset, update in ``chunks`` of rows (one update when None), and the result."""
    metric.reset()
    start = 0
    for size in chunks or (len(labels),):
        metric.update(probabilities[start : start + size], labels[start : start + size])
        start += size
    return metric.result()


def check_metric_result(registry: Registry, component: Component, params: Table) -> None:
    """``result()`` is a finite Python float, and ``greater_is_better`` a bool of the class."""
    metric = create(registry, "metric", _ref(component, params))
    better = getattr(type(metric), "greater_is_better", None)
    _expect(
        isinstance(better, bool),
        f"greater_is_better is {better!r}: set it on the class, True when a larger value is "
        "better (accuracy), False when a smaller one is (a loss)",
    )
    _expect_float("result()", _metric_result(metric, *_metric_inputs(np.float64, 1)))


def check_metric_streaming(registry: Registry, component: Component, params: Table) -> None:
    """Updating in chunks gives the result of one update with every row."""
    probabilities, labels = _metric_inputs(np.float64, 2)
    metric = create(registry, "metric", _ref(component, params))
    whole = _metric_result(metric, probabilities, labels)
    for chunks in METRIC_CHUNKS:
        chunked = _metric_result(metric, probabilities, labels, chunks)
        _expect(
            math.isclose(chunked, whole, rel_tol=1e-9, abs_tol=1e-12),
            f"updates of {', '.join(map(str, chunks))} rows give {chunked!r}, one update of "
            f"all {METRIC_ROWS} rows gives {whole!r}: the result must not depend on how an "
            "evaluation is cut into chunks",
        )


def check_metric_reset(registry: Registry, component: Component, params: Table) -> None:
    """``reset()`` forgets every row updated before it."""
    earlier, later = _metric_inputs(np.float64, 3), _metric_inputs(np.float64, 4)
    fresh = _metric_result(create(registry, "metric", _ref(component, params)), *later)
    metric = create(registry, "metric", _ref(component, params))
    _metric_result(metric, *earlier)
    after_reset = _metric_result(metric, *later)
    _expect(
        math.isclose(after_reset, fresh, rel_tol=1e-9, abs_tol=1e-12),
        f"after reset() the result is {after_reset!r}, a new metric gives {fresh!r} for the "
        "same rows: reset() must forget the rows updated before it",
    )


def check_metric_dtype(registry: Registry, component: Component, params: Table) -> None:
    """Float32 and float64 probabilities give the same result (to float32's precision), a
    Python float in both cases."""
    metric = create(registry, "metric", _ref(component, params))
    results = {}
    for dtype in (np.float32, np.float64):
        results[dtype] = _metric_result(metric, *_metric_inputs(dtype, 5))
        _expect_float(f"result() for {np.dtype(dtype)} probabilities", results[dtype])
    single, double = results[np.float32], results[np.float64]
    _expect(
        math.isclose(single, double, rel_tol=1e-5, abs_tol=1e-6),
        f"float32 probabilities give {single!r}, the same in float64 give {double!r}",
    )


# The contracts -------------------------------------------------------------------------------

Check = Callable[[Registry, Component, Table], None]

CONTRACTS: dict[str, dict[str, Check]] = {
    "layer": {
        "gradient": check_layer_gradients_contract,
        "float32": check_layer_dtype,
        "determinism": check_layer_determinism,
        "inference": check_layer_inference,
        "size": check_layer_size,
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
        "lr": check_optimizer_lr,
        "float32": check_optimizer_dtype,
        "state": check_optimizer_state,
    },
    "scheduler": {
        "range": check_scheduler_range,
        "determinism": check_scheduler_determinism,
        "state": check_scheduler_state,
    },
    "dataset": {},  # datasets read files or the network: only their params are checked
    "metric": {
        "result": check_metric_result,
        "streaming": check_metric_streaming,
        "reset": check_metric_reset,
        "float32": check_metric_dtype,
    },
    "tracker": {},  # trackers and executors talk to services: only their params are checked
    "executor": {},
}
"""The checks of each kind, by the name ``mlpspec check`` prints."""

# ONNX export (mlpspec.export.check): added where onnx and onnxruntime are installed
if importlib.util.find_spec("onnx") and importlib.util.find_spec("onnxruntime"):
    from mlpspec.export.check import check_onnx_export

    for _kind in ("layer", "activation", "loss"):
        CONTRACTS[_kind]["onnx"] = check_onnx_export
