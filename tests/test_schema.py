"""The JSON Schema of specs: every spec validates against it, with the jsonschema package and
with taplo (what editors run); invalid specs are rejected by both."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from mlpspec.core.schema import spec_schema
from mlpspec.core.spec import parse_toml, read_toml

from .conftest import ROOT, SPECS, SPIRALS_SPEC

EVERY_SPEC = sorted([*SPECS.glob("*.toml"), *ROOT.glob("plugins/*/specs/*.toml")])
TAPLO = shutil.which("taplo", path=str(Path(sys.executable).parent)) or shutil.which("taplo")

INVALID = {
    "a typo in a key": ("batch_size = 16", "batch_sise = 16"),
    "an unknown activation": ('activation = "tanh"', 'activation = "tanhh"'),
    "a negative width": ("units = 16", "units = -16"),
    "an unknown optimizer param": ("lr = 0.1", "lr = 0.1\nnesterov = true"),
    "an unknown layer type": ('type = "dense"\nunits = 2', 'type = "dense2"\nunits = 2'),
}


@pytest.fixture(scope="module")
def schema(registry) -> dict:
    return spec_schema(registry)


@pytest.fixture(scope="module")
def schema_file(schema, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "mlpspec.schema.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    return path


def taplo_check(schema_file: Path, spec: Path) -> subprocess.CompletedProcess:
    if TAPLO is None:
        pytest.fail("the taplo CLI is not installed: pip install -e '.[test]' installs it")
    return subprocess.run(
        [TAPLO, "check", "--schema", schema_file.as_uri(), str(spec)],
        capture_output=True,
        text=True,
        check=False,
    )


def invalid_spec(folder: Path, what: str) -> Path:
    old, new = INVALID[what]
    assert old in SPIRALS_SPEC
    path = folder / "invalid.toml"
    path.write_text(SPIRALS_SPEC.replace(old, new, 1), encoding="utf-8")
    return path


def branch(schema: dict, kind: str, name: str) -> dict:
    return schema["$defs"][f"component.{kind}.{name}"]


def test_the_schema_is_draft_7_with_a_definition_per_kind_dispatched_on_type(schema, registry):
    jsonschema.Draft7Validator.check_schema(schema)
    layers = schema["$defs"]["component.layer"]
    assert layers["properties"]["type"]["enum"] == registry.names("layer")
    thens = [rule["then"]["$ref"] for rule in layers["allOf"]]
    assert thens == [f"#/$defs/component.layer.{name}" for name in registry.names("layer")]
    assert schema["properties"]["layers"]["items"] == {"$ref": "#/$defs/component.layer"}
    dense = branch(schema, "layer", "dense")
    assert dense["properties"]["type"] == {"const": "dense"}
    assert dense["properties"]["activation"]["$ref"] == "#/$defs/component.activation"
    assert layers["description"] == "a layer: a name, or a table with 'type' and its params"
    assert schema["$defs"]["component.activation"]["description"].startswith("an activation:")


def test_plugin_components_and_their_params_are_in_the_schema(schema):
    adamw = branch(schema, "optimizer", "adamw")
    assert adamw["required"] == ["type", "lr"]
    assert "Decoupled decay" in adamw["properties"]["weight_decay"]["description"]


def test_editors_find_every_component_in_an_anyof_that_validates_nothing(schema, registry):
    """taplo gathers completions from anyOf members, not from if/then."""
    members = schema["$defs"]["component.layer"]["anyOf"]
    assert members[0] == {}
    assert [m["$ref"] for m in members if "$ref" in m] == [
        f"#/$defs/component.layer.{name}" for name in registry.names("layer")
    ]


def test_bare_names_only_for_components_without_required_params(schema):
    def bare(kind: str) -> list[str]:
        union = schema["$defs"][f"component.{kind}"]
        return union["then"]["enum"] if "then" in union else []

    assert bare("optimizer") == []  # every optimizer needs lr
    assert sorted(bare("layer")) == ["batchnorm", "dropout"]  # dense needs units
    assert {"tanh", "gelu", "leaky_relu"} <= set(bare("activation"))


PLUGIN_PARAMS_ERRORS = """
[[layers]]
type = "batchnorm"
momentum = "0.5"
bogus = 1
"""


def test_errors_in_a_plugins_params_name_the_field_once_for_jsonschema(schema, tmp_path):
    data = parse_toml(SPIRALS_SPEC + PLUGIN_PARAMS_ERRORS)
    errors = sorted(
        (list(e.absolute_path), e.message)
        for e in jsonschema.Draft7Validator(schema).iter_errors(data)
    )
    assert [path for path, _ in errors] == [["layers", 2, "bogus"], ["layers", 2, "momentum"]]
    assert "unknown key: layer 'batchnorm' takes momentum, eps" in errors[0][1]
    assert errors[1][1] == "'0.5' is not of type 'number'"


def test_errors_in_a_plugins_params_name_the_field_once_for_taplo(schema_file, tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(SPIRALS_SPEC + PLUGIN_PARAMS_ERRORS, encoding="utf-8")
    errors = [
        line
        for line in taplo_check(schema_file, path).stderr.splitlines()
        if line.startswith("error:")
    ]
    assert errors == [
        'error: "0.5" is not of type "number"',
        'error: {"title":"unknown key: layer \'batchnorm\' takes momentum, eps"} is not allowed '
        "for 1",
    ]


def test_an_unknown_component_type_is_named_once(schema, tmp_path):
    data = parse_toml(SPIRALS_SPEC.replace('activation = "tanh"', 'activation = {type = "tanhh"}'))
    (error,) = jsonschema.Draft7Validator(schema).iter_errors(data)
    assert list(error.absolute_path) == ["layers", 0, "activation", "type"]
    assert error.message.startswith("'tanhh' is not one of ['gelu'")


@pytest.mark.parametrize("spec", EVERY_SPEC, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_spec_is_valid_for_jsonschema(schema, spec):
    jsonschema.Draft7Validator(schema).validate(read_toml(spec))


@pytest.mark.parametrize("spec", EVERY_SPEC, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_spec_is_valid_for_taplo(schema_file, spec):
    result = taplo_check(schema_file, spec)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("what", INVALID)
def test_invalid_specs_are_rejected_by_jsonschema(schema, tmp_path, what):
    data = read_toml(invalid_spec(tmp_path, what))
    assert not jsonschema.Draft7Validator(schema).is_valid(data)


@pytest.mark.parametrize("what", INVALID)
def test_invalid_specs_are_rejected_by_taplo(schema_file, tmp_path, what):
    result = taplo_check(schema_file, invalid_spec(tmp_path, what))
    assert result.returncode != 0
    assert "error:" in result.stderr  # (taplo's closing summary line is not always flushed)


def test_taplo_follows_a_schema_directive_in_the_spec(schema_file, tmp_path):
    path = invalid_spec(tmp_path, "a typo in a key")
    path.write_text(f"#:schema {schema_file.as_uri()}\n" + path.read_text(), encoding="utf-8")
    result = subprocess.run([TAPLO, "check", str(path)], capture_output=True, text=True)
    assert result.returncode != 0 and "batch_sise" in result.stderr


def test_nested_params_models_and_clashing_model_names_resolve():
    """A params model used inside another keeps its definition; two plugins' models of one
    class name get distinct ones."""
    import types

    from mlpspec import Params, load_registry
    from mlpspec.core.plugins import PluginSource, discover
    from mlpspec.core.registry import Provider

    class Inner(Params):
        size: int = 1

    class Outer(Params):
        inner: Inner = Inner()

    class Activation:
        def __init__(self, params) -> None:
            pass

    def named_p(module: str, field: str) -> type[Params]:
        return type("P", (Params,), {"__module__": module, "__annotations__": {field: int}})

    module = types.ModuleType("nested_plugin")
    module.mlpspec_register_activations = lambda register: [
        register("outer", Activation, Outer),
        register("inner", Activation, Inner),
        register("p_one", Activation, named_p("one", "alpha")),
        register("p_two", Activation, named_p("two", "beta")),
    ]
    source = PluginSource(Provider("nested_plugin", "nested", "0"), lambda: module)
    schema = spec_schema(load_registry(sources=[*discover(), source]))
    validator = jsonschema.Draft7Validator(schema)
    spec = parse_toml(SPIRALS_SPEC)

    def valid(activation) -> bool:
        spec["layers"][0]["activation"] = activation
        return validator.is_valid(spec)

    assert valid({"type": "outer", "inner": {"size": 3}})
    assert not valid({"type": "outer", "inner": {"size": "big"}})
    assert valid({"type": "p_one", "alpha": 1}) and valid({"type": "p_two", "beta": 1})
    assert not valid({"type": "p_one", "beta": 1})
    assert not valid("p_one")  # alpha is required
