"""The conformance kit: every installed component passes it, and it catches broken ones, by
class of defect: each test below registers a deliberately broken component and checks that
the kit names what is wrong, and that the same component without the flaw passes."""

from __future__ import annotations

import importlib.util
import types
import warnings

import numpy as np
import pytest
from pydantic import ConfigDict, Field

import mlpspec.testing
from mlpspec import Layer, Loss, Parameter, Params, load_registry
from mlpspec.core.plugins import PluginSource, discover
from mlpspec.core.registry import Provider
from mlpspec.testing import (
    CONTRACTS,
    ConformanceWarning,
    assert_conforms,
    check_component,
    check_layer_gradients,
    sample,
)

INSTALLED = [(c.kind, c.name) for c in load_registry().components()]


@pytest.mark.parametrize(("kind", "name"), INSTALLED, ids=[f"{k}:{n}" for k, n in INSTALLED])
def test_every_installed_component_conforms(registry, kind, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConformanceWarning)  # nor does any draw a warning
        assert_conforms(registry, kind, name)


def test_every_kind_has_a_contract(registry):
    results = {
        kind: [r.check for r in check_component(registry, kind, registry.names(kind)[0])]
        for kind in CONTRACTS
        if registry.names(kind)  # trackers and executors come with their packages
    }
    onnx = ["onnx"] if importlib.util.find_spec("onnxruntime") else []  # mlpspec.export.check
    layer = ["params", "gradient", "float32", "determinism", "inference", "size", *onnx]
    assert results["layer"] == layer
    assert results["optimizer"] == ["params", "descent", "lr", "float32", "state"]
    assert results["scheduler"] == ["params", "range", "determinism", "state"]
    assert results["metric"] == ["params", "result", "streaming", "reset", "float32"]
    assert results["dataset"] == ["params"]


def test_every_name_the_single_module_kit_exported_is_still_there():
    """Plugins' tests import these from mlpspec.testing (it was one module until the kit
    became a package)."""
    exported = [
        "ATOL", "BATCH", "CLASSES", "CONTRACTS", "CURVATURE", "EPS", "IN_FEATURES", "RTOL",
        "SCHEDULE", "Activation", "Array", "BuildContext", "Check", "CheckResult", "Component",
        "Layer", "Loss", "Parameter", "Registry", "Schedule", "Table", "assert_close",
        "assert_conforms", "build_layer", "check_activation_determinism", "check_activation_dtype",
        "check_activation_gradients", "check_activation_gradients_contract", "check_component",
        "check_initializer_determinism", "check_initializer_shape", "check_layer_determinism",
        "check_layer_dtype", "check_layer_gradients", "check_layer_gradients_contract",
        "check_layer_inference", "check_loss_determinism", "check_loss_dtype",
        "check_loss_gradients", "check_loss_gradients_contract", "check_optimizer_descent",
        "check_optimizer_dtype", "check_optimizer_state", "check_params_schema",
        "check_scheduler_determinism", "check_scheduler_range", "component_schema", "create",
        "examples", "numerical_gradient", "sample", "validate_ref",
    ]
    assert [name for name in exported if not hasattr(mlpspec.testing, name)] == []
    assert set(mlpspec.testing.__all__) >= set(exported)


def registry_with(**hooks):
    module = types.ModuleType("broken_plugin")
    for name, hook in hooks.items():
        setattr(module, name, hook)
    source = PluginSource(Provider("broken_plugin", "broken", "0"), lambda: module)
    return load_registry(sources=[*discover(), source])


def failures(registry, kind, name) -> dict[str, str]:
    return {r.check: r.detail for r in check_component(registry, kind, name) if not r.passed}


def flawed(base: type, flaw: str) -> type:
    return type(f"{base.__name__}With_{flaw}", (base,), {flaw: True})


def assert_caught(kind, base, flaw, check, message, params=None):
    """The kit fails ``check`` of ``base`` with ``flaw`` switched on, with ``message`` in its
    detail, and passes ``base`` itself."""
    hook = f"mlpspec_register_{'losses' if kind == 'loss' else kind + 's'}"
    broken_class = flawed(base, flaw)
    broken = registry_with(**{hook: lambda register: register("subject", broken_class, params)})
    found = failures(broken, kind, "subject")
    assert check in found, f"{flaw} was not caught: {found}"
    assert message in found[check], found[check]
    ok = registry_with(**{hook: lambda register: register("subject", base, params)})
    assert failures(ok, kind, "subject") == {}
    return found[check]


# Layers --------------------------------------------------------------------------------------


class ScaleParams(Params):
    def parameter_count(self, in_features: int) -> int:
        return in_features

    def out_features(self, in_features: int) -> int:
        return in_features


class Scale(Layer):
    """Multiplies by a weight; its flaws are switched on by the tests below."""

    wrong_gradient = upcasts = batch_dependent = False
    first_layer_skips = first_layer_doubles = accumulates = False
    first_layer_upcasts = buffer_upcasts = False

    def __init__(self, params, in_features, ctx) -> None:
        self.out_features = in_features
        self.w = Parameter(np.full(in_features, 2.0, dtype=ctx.dtype))
        self.seen = np.zeros(in_features, dtype=ctx.dtype)

    def forward(self, x, *, training):
        self._x = x
        y = x * self.w.value
        if training:
            mean = x.mean(axis=0)
            if self.buffer_upcasts:
                self.seen = 0.5 * self.seen + mean.astype(np.float64)  # a new float64 array
            else:
                self.seen *= 0.5
                self.seen += mean
        if self.batch_dependent and not training:
            y = y - y.mean(axis=0)
        return y.astype(np.float64) if self.upcasts else y

    def backward(self, grad_out, *, need_input_grad=True):
        if not need_input_grad and self.first_layer_skips:
            return None  # the trial's M1: the first layer's weights never train
        grad_w = np.sum(grad_out * self._x, axis=0)
        if not need_input_grad and self.first_layer_doubles:
            grad_w *= 2
        if self.accumulates:
            self.w.grad += grad_w
        elif not need_input_grad and self.first_layer_upcasts:
            self.w.grad = grad_w.astype(np.float64)
        else:
            self.w.grad[...] = grad_w
        if not need_input_grad:
            return None
        return grad_out * self.w.value * (1.5 if self.wrong_gradient else 1.0)

    def parameters(self):
        return {"w": self.w}

    def buffers(self):
        return {"seen": self.seen}


@pytest.mark.parametrize(
    ("flaw", "check", "message"),
    [
        ("wrong_gradient", "gradient", "in training: input: backward gives"),
        ("upcasts", "float32", "forward(training=True) is float64, expected float32"),
        ("batch_dependent", "inference", "depends on the other rows"),
    ],
)
def test_the_kit_catches_a_broken_layer(flaw, check, message):
    assert_caught("layer", Scale, flaw, check, message, ScaleParams)


@pytest.mark.parametrize(
    ("flaw", "message"),
    [
        (
            "first_layer_skips",
            "in training: w (need_input_grad=False, as the first layer is called): backward "
            "did not write the gradient at (0,)",
        ),
        (
            "first_layer_doubles",
            "w (need_input_grad=False, as the first layer is called): backward gives",
        ),
        ("accumulates", "w: backward did not write the gradient at (0,)"),
    ],
)
def test_the_kit_catches_parameter_gradients_skipped_or_corrupted_in_any_mode(flaw, message):
    """The first layer's backward runs with need_input_grad=False: a layer that writes its
    parameters' gradients only when the input gradient is wanted, or adds to the old ones,
    passed the kit before, and then never trained."""
    assert_caught("layer", Scale, flaw, "gradient", message, ScaleParams)


def test_the_gradient_check_alone_tries_the_first_layers_mode(registry):
    layer = flawed(Scale, "first_layer_skips")(None, 4, types.SimpleNamespace(dtype=np.float64))
    with pytest.raises(AssertionError, match="need_input_grad=False"):
        check_layer_gradients(layer, sample((3, 4)))


@pytest.mark.parametrize(
    ("flaw", "message"),
    [
        ("first_layer_upcasts", "gradient of w after backward(need_input_grad=False) is float64"),
        ("buffer_upcasts", "buffer seen after training is float64, expected float32"),
    ],
)
def test_the_kit_catches_float64_from_a_float32_layer_anywhere(flaw, message):
    assert_caught("layer", Scale, flaw, "float32", message, ScaleParams)


class NoSizeParams(Params):
    """A layer's params without the memory guard's two methods."""


class WrongSizeParams(ScaleParams):
    def out_features(self, in_features: int) -> int:
        return in_features + 1


def test_a_layer_the_memory_guard_cannot_estimate_passes_with_a_warning():
    registry = registry_with(
        mlpspec_register_layers=lambda register: register("subject", Scale, NoSizeParams)
    )
    (size,) = [r for r in check_component(registry, "layer", "subject") if r.check == "size"]
    assert size.passed
    assert "has no parameter_count(in_features) or out_features(in_features)" in size.warnings[0]
    with pytest.warns(ConformanceWarning, match="the memory guard cannot estimate"):
        assert_conforms(registry, "layer", "subject")


def test_a_wrong_size_estimate_fails():
    registry = registry_with(
        mlpspec_register_layers=lambda register: register("subject", Scale, WrongSizeParams)
    )
    assert failures(registry, "layer", "subject") == {
        "size": "out_features(5) says 6, the layer built has 5 (default params)"
    }


# Losses --------------------------------------------------------------------------------------


class Squares(Loss):
    """½‖output − target‖² per row."""

    values_upcast = False

    def __init__(self, params) -> None:
        self.reduction = "mean"

    def per_example(self, output, target, *, grad):
        diff = output - target
        values = 0.5 * np.sum(diff * diff, axis=1)
        if self.values_upcast:
            values = values.astype(np.float64)  # the trial's F4
        return values, (diff if grad else None)

    def probabilities(self, output):
        return output.copy()


def test_the_kit_catches_a_loss_whose_values_are_float64_from_float32():
    assert_caught(
        "loss",
        Squares,
        "values_upcast",
        "float32",
        "the values of per_example(grad=False) is float64, expected float32",
    )


# Optimizers ----------------------------------------------------------------------------------


class LrParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{"lr": 0.1}]})

    lr: float = Field(0.1, gt=0)
    decay: float = 0.01


class Decaying:
    """SGD with decoupled weight decay and a pull towards zero every 5 steps; its flaws are
    switched on by the tests below."""

    own_lr = decay_own_lr = first_lr_kept = False
    state_float64 = counter_not_saved = state_after_step_only = False

    def __init__(self, params) -> None:
        self.lr, self.decay = params.lr, params.decay
        self.kept: float | None = None
        self.velocity: list[np.ndarray] = []
        self.steps = 0
        self.saved: dict[str, np.ndarray] = {}

    def step(self, parameters, lr):
        if self.own_lr:
            lr = self.lr  # the trial's M3: the scheduler is silently ignored
        if self.first_lr_kept:
            self.kept = lr if self.kept is None else self.kept
            lr = self.kept
        decay_lr = self.lr if self.decay_own_lr else lr
        if not self.velocity:
            dtype = np.float64 if self.state_float64 else None
            self.velocity = [np.zeros_like(p.value, dtype=dtype) for p in parameters]
        self.steps += 1
        for p, v in zip(parameters, self.velocity, strict=True):
            v *= 0.5
            v += p.grad
            p.value -= lr * v.astype(p.value.dtype) + decay_lr * self.decay * p.value
            if self.steps % 5 == 0:
                p.value *= 0.99
        self.saved = self._arrays()

    def _arrays(self):
        arrays = {f"velocity.{i}": v for i, v in enumerate(self.velocity)}
        if not self.counter_not_saved:
            arrays["steps"] = np.array(self.steps)
        return arrays

    def state(self):
        return self.saved if self.state_after_step_only else self._arrays()

    def load_state(self, state):
        self.velocity = [state[k] for k in sorted(state) if k.startswith("velocity.")]
        self.steps = int(state.get("steps", 0))


@pytest.mark.parametrize(
    ("flaw", "message"),
    [
        ("own_lr", "a step at lr 0.05 moves the parameters exactly as one at lr 0.1: step must "),
        ("decay_own_lr", "should move the parameters half as far as one at lr 0.1; it moves"),
        ("first_lr_kept", "after 3 steps at lr 0.1, a step at lr 0.05 moves the parameters"),
    ],
)
def test_the_kit_catches_an_optimizer_that_ignores_the_lr_it_is_given(flaw, message):
    assert_caught("optimizer", Decaying, flaw, "lr", message, LrParams)


@pytest.mark.parametrize(
    ("flaw", "message"),
    [
        ("state_float64", "state 'velocity.0' (float64, shape (2, 3)) fits no parameter"),
        ("counter_not_saved", "restored after 3 steps, differs at the 2nd step after"),
        ("state_after_step_only", "state() of an optimizer that loaded a state taken after 3"),
    ],
)
def test_the_kit_catches_optimizer_state_that_does_not_round_trip_mid_run(flaw, message):
    assert_caught("optimizer", Decaying, flaw, "state", message, LrParams)


class Ascent:
    """Steps up the gradient, and forgets its state."""

    def __init__(self, params) -> None:
        self.lr = params.lr

    def step(self, parameters, lr):
        for p in parameters:
            p.value = p.value + lr * p.grad  # a new array, not an update in place

    def state(self):
        return {}

    def load_state(self, state):
        pass


def test_the_kit_catches_a_broken_optimizer():
    registry = registry_with(
        mlpspec_register_optimizers=lambda register: register("ascent", Ascent, LrParams)
    )
    found = failures(registry, "optimizer", "ascent")
    assert set(found) == {"descent", "float32"}
    assert "in 200 steps at lr 0.1" in found["descent"]
    assert "replaced a parameter's array" in found["float32"]


class NoLr(Params):
    momentum: float = 0.9


def test_an_optimizer_without_an_lr_param_fails():
    registry = registry_with(
        mlpspec_register_optimizers=lambda register: register("ascent", Decaying, NoLr)
    )
    assert "its params have no 'lr'" in failures(registry, "optimizer", "ascent")["descent"]


# Schedulers ----------------------------------------------------------------------------------


class Collapsing:
    """Falls to zero halfway through the run."""

    def __init__(self, params, schedule) -> None:
        self.half = schedule.epochs // 2

    def lr(self, epoch, step):
        return 0.1 if epoch < self.half else 0.0


def test_the_kit_catches_a_scheduler_that_reaches_zero():
    registry = registry_with(
        mlpspec_register_schedulers=lambda register: register("collapsing", Collapsing)
    )
    assert "lr at step 30 is 0.0" in failures(registry, "scheduler", "collapsing")["range"]


class Halving:
    """Halves the lr every 7 calls: a scheduler with state."""

    forgets = counts_calls = False

    def __init__(self, params, schedule) -> None:
        self.base, self.calls, self.last = schedule.base_lr, 0, -1

    def lr(self, epoch, step):
        if step != self.last or self.counts_calls:
            self.calls += 1
            self.last = step
        return self.base * 0.5 ** (self.calls // 7)

    def state(self):
        return {"calls": np.array(self.calls), "last": np.array(self.last)}

    def load_state(self, state):
        if not self.forgets:
            self.calls, self.last = int(state["calls"]), int(state["last"])


@pytest.mark.parametrize(
    ("flaw", "message"),
    [
        ("forgets", "a restored scheduler gives another lr at step 30"),
        ("counts_calls", "asked twice for step 6, it answers differently"),
    ],
)
def test_the_kit_catches_a_scheduler_whose_state_breaks_a_resumed_run(flaw, message):
    assert_caught("scheduler", Halving, flaw, "state", message)


# Metrics -------------------------------------------------------------------------------------


class MeanOwnProbability:
    """The mean probability given to the label; its flaws are switched on below."""

    greater_is_better = True
    chunk_average = keeps_rows = float32_result = dtype_threshold = False

    def __init__(self, params) -> None:
        self.reset()

    def reset(self):
        if not self.keeps_rows or not hasattr(self, "total"):
            self.total, self.rows, self.chunks = 0.0, 0, []

    def update(self, probabilities, labels):
        own = probabilities[np.arange(len(labels)), labels]
        if self.dtype_threshold:  # an epsilon from the dtype, scaled far too much
            own = own * (own > np.finfo(probabilities.dtype).eps * 1e6)
        self.chunks.append(float(np.mean(own, dtype=np.float64)))
        self.total += float(np.sum(own, dtype=np.float64))
        self.rows += len(labels)

    def result(self):
        if self.chunk_average:
            return float(np.mean(self.chunks))
        value = self.total / self.rows
        return np.float32(value) if self.float32_result else value


@pytest.mark.parametrize(
    ("flaw", "check", "message"),
    [
        ("chunk_average", "streaming", "updates of 1, 7, 40 rows give"),
        ("keeps_rows", "reset", "reset() must forget the rows updated before it"),
        ("float32_result", "result", "result() is float32"),
        ("dtype_threshold", "float32", "float32 probabilities give"),
    ],
)
def test_the_kit_catches_a_broken_metric(flaw, check, message):
    assert_caught("metric", MeanOwnProbability, flaw, check, message)


def test_a_metric_must_say_which_way_is_better():
    unsure = type("Unsure", (MeanOwnProbability,), {"greater_is_better": None})
    registry = registry_with(mlpspec_register_metrics=lambda register: register("unsure", unsure))
    assert "greater_is_better is None" in failures(registry, "metric", "unsure")["result"]


# Params --------------------------------------------------------------------------------------


class NeedsUnits(Params):
    units: int


def test_required_params_without_examples_fail_the_params_check():
    registry = registry_with(
        mlpspec_register_layers=lambda register: register("scale", Scale, NeedsUnits)
    )
    assert "required params (units) need examples" in failures(registry, "layer", "scale")["params"]


def test_assert_conforms_lists_what_failed():
    registry = registry_with(
        mlpspec_register_optimizers=lambda register: register("ascent", Ascent, LrParams)
    )
    with pytest.raises(AssertionError, match=r"optimizer 'ascent' breaks its contract:\n  descent"):
        assert_conforms(registry, "optimizer", "ascent")


def test_an_invalid_example_fails_the_params_check_in_the_words_of_a_spec_error():
    class BadExample(Params):
        model_config = ConfigDict(json_schema_extra={"examples": [{"lr": -1.0}]})
        lr: float = Field(gt=0)

    registry = registry_with(
        mlpspec_register_optimizers=lambda register: register("ascent", Ascent, BadExample)
    )
    assert failures(registry, "optimizer", "ascent")["params"] == (
        "example {'lr': -1.0} is not valid: lr: input should be greater than 0 (got -1.0)"
    )
