"""The conformance kit: every installed component passes it, and it catches broken ones."""

from __future__ import annotations

import importlib.util
import types

import numpy as np
import pytest

from mlpspec import Layer, Parameter, Params, load_registry
from mlpspec.core.plugins import PluginSource, discover
from mlpspec.core.registry import Provider
from mlpspec.testing import CONTRACTS, assert_conforms, check_component

INSTALLED = [(c.kind, c.name) for c in load_registry().components()]


@pytest.mark.parametrize(("kind", "name"), INSTALLED, ids=[f"{k}:{n}" for k, n in INSTALLED])
def test_every_installed_component_conforms(registry, kind, name):
    assert_conforms(registry, kind, name)


def test_every_kind_has_a_contract(registry):
    results = {
        kind: [r.check for r in check_component(registry, kind, registry.names(kind)[0])]
        for kind in CONTRACTS
    }
    onnx = ["onnx"] if importlib.util.find_spec("onnxruntime") else []  # mlpspec.export.check
    assert results["layer"] == ["params", "gradient", "float32", "determinism", "inference", *onnx]
    assert results["optimizer"] == ["params", "descent", "float32", "state"]
    assert results["scheduler"] == ["params", "range", "determinism"]
    assert results["dataset"] == ["params"]


def registry_with(**hooks):
    module = types.ModuleType("broken_plugin")
    for name, hook in hooks.items():
        setattr(module, name, hook)
    source = PluginSource(Provider("broken_plugin", "broken", "0"), lambda: module)
    return load_registry(sources=[*discover(), source])


def failures(registry, kind, name) -> dict[str, str]:
    return {r.check: r.detail for r in check_component(registry, kind, name) if not r.passed}


class Scale(Layer):
    """Multiplies by a weight; its flaws are switched on by the tests below."""

    wrong_gradient = upcasts = batch_dependent = False

    def __init__(self, params, in_features, ctx) -> None:
        self.out_features = in_features
        self.w = Parameter(np.full(in_features, 2.0, dtype=ctx.dtype))

    def forward(self, x, *, training):
        self._x = x
        y = x * self.w.value
        if self.batch_dependent and not training:
            y = y - y.mean(axis=0)
        return y.astype(np.float64) if self.upcasts else y

    def backward(self, grad_out, *, need_input_grad=True):
        np.sum(grad_out * self._x, axis=0, out=self.w.grad)
        return grad_out * self.w.value * (1.5 if self.wrong_gradient else 1.0)

    def parameters(self):
        return {"w": self.w}


@pytest.mark.parametrize(
    ("flaw", "check", "message"),
    [
        ("wrong_gradient", "gradient", "input: backward gives"),
        ("upcasts", "float32", "forward(training=True) is float64, expected float32"),
        ("batch_dependent", "inference", "depends on the other rows"),
    ],
)
def test_the_kit_catches_a_broken_layer(flaw, check, message):
    flawed = type("Flawed", (Scale,), {flaw: True})
    registry = registry_with(mlpspec_register_layers=lambda register: register("scale", flawed))
    assert message in failures(registry, "layer", "scale")[check]
    ok = registry_with(mlpspec_register_layers=lambda register: register("scale", Scale))
    assert failures(ok, "layer", "scale") == {}


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


class LrParams(Params):
    lr: float = 0.1


def test_the_kit_catches_a_broken_optimizer():
    registry = registry_with(
        mlpspec_register_optimizers=lambda register: register("ascent", Ascent, LrParams)
    )
    found = failures(registry, "optimizer", "ascent")
    assert set(found) == {"descent", "float32"}
    assert "in 200 steps at lr 0.1" in found["descent"]
    assert "replaced a parameter's array" in found["float32"]


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


def test_an_invalid_example_fails_the_params_check():
    from pydantic import ConfigDict, Field

    class BadExample(Params):
        model_config = ConfigDict(json_schema_extra={"examples": [{"lr": -1.0}]})
        lr: float = Field(gt=0)

    registry = registry_with(
        mlpspec_register_optimizers=lambda register: register("ascent", Ascent, BadExample)
    )
    assert (
        "example {'lr': -1.0} is not valid" in failures(registry, "optimizer", "ascent")["params"]
    )
