"""Plugins: discovery, registration through the hooks, conflicts, failures, blocking."""

from __future__ import annotations

import sys
import types

import pytest

from mlpspec import UnknownComponentError, hookimpl
from mlpspec.core.plugins import PluginSource, discover, load_registry
from mlpspec.core.registry import Params, Provider


def plugin(name: str, **hooks) -> PluginSource:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, function)
    return PluginSource(Provider(name, f"{name}-dist", "1.0"), lambda: module)


class Shift:
    """Adds a constant."""

    def __init__(self, params) -> None:
        self.by = params.by

    def forward(self, z):
        return z + self.by

    def backward(self, z, a, grad):
        return grad


class ShiftParams(Params):
    by: float = 1.0


def register_shift(register) -> None:
    register("shift", Shift, ShiftParams)


def test_builtins_come_through_the_entry_point_group():
    sources = discover()
    builtins = {s.provider.plugin for s in sources if s.provider.distribution == "mlpspec"}
    assert builtins == {
        "mlpspec.activations",
        "mlpspec.initializers",
        "mlpspec.layers",
        "mlpspec.losses",
        "mlpspec.optimizers",
        "mlpspec.schedulers",
        "mlpspec.datasets",
        "mlpspec.metrics",
        "mlpspec.executors",
    }


def test_every_kind_has_its_builtins():
    # the built-ins alone: the extension packages of plugins/ are installed in the tests too
    registry = load_registry(disabled=["mlpspec_optim", "mlpspec_layers"])
    assert registry.names("layer") == ["activation", "dense", "dropout"]
    assert set(registry.names("activation")) == {"linear", "relu", "sigmoid", "softmax", "tanh"}
    assert set(registry.names("loss")) == {"mse", "sigmoid_cross_entropy", "softmax_cross_entropy"}
    assert set(registry.names("optimizer")) == {"sgd", "sgd_momentum"}
    assert set(registry.names("scheduler")) == {"constant", "exponential", "linear"}
    assert set(registry.names("initializer")) == {"glorot", "he", "normal", "xavier", "zeros"}
    assert set(registry.names("dataset")) == {
        "csv",
        "fashion_mnist",
        "idx",
        "mnist",
        "npz",
        "spirals",
    }


def test_a_third_party_component_registers_like_a_builtin():
    registry = load_registry(
        sources=[
            *discover(),
            plugin("shifty", mlpspec_register_activations=hookimpl(register_shift)),
        ]
    )
    component = registry.get("activation", "shift")
    assert component.provider == Provider("shifty", "shifty-dist", "1.0")
    assert component.params is ShiftParams
    assert component.summary == "Adds a constant."


def test_unmarked_hook_functions_count_too():
    registry = load_registry(sources=[plugin("plain", mlpspec_register_activations=register_shift)])
    assert registry.names("activation") == ["shift"]


def test_a_second_plugin_claiming_a_name_is_skipped_naming_both():
    """One plugin's clash must not take down every command (attack report D14): the plugin
    that came second is reported and skipped, the first keeps its name."""
    registry = load_registry(
        sources=[
            plugin("one", mlpspec_register_activations=register_shift),
            plugin("two", mlpspec_register_activations=register_shift),
        ]
    )
    assert registry.get("activation", "shift").provider.plugin == "one"
    ((name, reason),) = [(f.plugin, f.reason) for f in registry.failures]
    assert name == "two" and "one-dist 1.0 (one)" in reason and "'shift'" in reason


def test_a_plugin_that_raises_is_named_and_the_others_still_load():
    def broken(register):
        register("half", Shift, ShiftParams)
        raise RuntimeError("database not reachable")

    registry = load_registry(
        sources=[
            plugin("broken", mlpspec_register_activations=broken),
            plugin("good", mlpspec_register_activations=register_shift),
        ]
    )
    assert registry.names("activation") == ["shift"]  # nothing of the broken plugin is kept
    assert [(f.plugin, f.reason) for f in registry.failures] == [
        ("broken", "RuntimeError: database not reachable")
    ]
    with pytest.raises(UnknownComponentError) as caught:
        registry.get("activation", "half")
    assert "plugin 'broken' failed to load (RuntimeError: database not reachable)" in str(
        caught.value
    )


def test_a_plugin_that_fails_to_import_is_reported():
    def fail():
        raise ImportError("No module named 'torch'")

    registry = load_registry(
        sources=[
            PluginSource(Provider("needs-torch"), fail),
            plugin("good", mlpspec_register_activations=register_shift),
        ]
    )
    assert registry.failures[0].plugin == "needs-torch"
    assert "torch" in registry.failures[0].reason
    assert registry.names("activation") == ["shift"]


def test_a_misspelled_hook_is_an_error_not_silence():
    registry = load_registry(sources=[plugin("typo", mlpspec_register_activation=register_shift)])
    assert registry.failures and "mlpspec_register_activation" in registry.failures[0].reason


def test_a_wrong_hook_argument_is_an_error():
    registry = load_registry(
        sources=[plugin("args", mlpspec_register_activations=lambda registrar: None)]
    )
    assert registry.failures and "registrar" in registry.failures[0].reason


def test_an_incompatible_hook_api_is_refused_at_load():
    source = plugin("old", mlpspec_register_activations=register_shift)
    module = source.load()
    module.MLPSPEC_HOOK_API = 99
    registry = load_registry(sources=[source])
    assert "hook API 99" in registry.failures[0].reason


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("Bad Name", None, "not valid"),
        ("ok", dict, "pydantic model"),
    ],
)
def test_bad_registrations_fail_the_plugin(name, params, message):
    def register_bad(register):
        register(name, Shift, params)

    registry = load_registry(sources=[plugin("bad", mlpspec_register_activations=register_bad)])
    assert message in registry.failures[0].reason


def test_params_models_must_forbid_unknown_keys():
    from pydantic import BaseModel

    class Loose(BaseModel):
        by: float = 1.0

    def register_loose(register):
        register("loose", Shift, Loose)

    registry = load_registry(sources=[plugin("loose", mlpspec_register_activations=register_loose)])
    assert "must forbid unknown keys" in registry.failures[0].reason


def test_plugins_can_be_blocked_by_option_or_environment(monkeypatch):
    sources = [plugin("a", mlpspec_register_activations=register_shift)]
    registry = load_registry(disabled=["a"], sources=sources)
    assert registry.names("activation") == [] and registry.disabled == ["a"]
    monkeypatch.setenv("MLPSPEC_DISABLE_PLUGINS", "x, a")
    registry = load_registry(sources=sources)
    assert registry.names("activation") == []
    with pytest.raises(UnknownComponentError, match="plugin 'a' is disabled"):
        registry.get("activation", "shift")


def test_local_module_plugins_load_with_plugin_option(tmp_path, monkeypatch):
    (tmp_path / "my_local_plugin.py").write_text(
        "from mlpspec import hookimpl, Params\n"
        "class P(Params):\n    by: float = 2.0\n"
        "class Twice:\n    '''Doubles.'''\n    def __init__(self, params): pass\n"
        "    def forward(self, z): return 2 * z\n"
        "    def backward(self, z, a, g): return 2 * g\n"
        "@hookimpl\ndef mlpspec_register_activations(register):\n"
        "    register('twice', Twice, P)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_registry(modules=["my_local_plugin"])
    assert (
        registry.get("activation", "twice").provider.describe() == "my_local_plugin (local module)"
    )
    assert registry.get("activation", "tanh")  # built-ins still there
    sys.modules.pop("my_local_plugin", None)


def test_loading_a_run_whose_plugin_is_missing_names_the_package(tmp_path):
    from mlpspec import SpecError, load_run, run, validate_spec
    from mlpspec.core.spec import parse_toml

    from .conftest import SPIRALS_SPEC

    with_plugin = load_registry(
        sources=[*discover(), plugin("shifty", mlpspec_register_activations=register_shift)]
    )
    spec = validate_spec(parse_toml(SPIRALS_SPEC.replace('"tanh"', '"shift"')), with_plugin)
    result = run(spec, with_plugin, out_dir=tmp_path)
    assert load_run(result.run_dir, with_plugin).model is not None
    with pytest.raises(SpecError) as caught:
        load_run(result.run_dir, load_registry())
    assert "unknown activation 'shift'" in str(caught.value)
    assert "came from 'shifty-dist' '1.0': install it (pip install shifty-dist)" in str(
        caught.value
    )
