"""The spec: valid specs load, and every problem of an invalid one is reported at its place."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlpspec import SpecError, load_spec, validate_spec
from mlpspec.core.spec import SPEC_VERSION, parse_toml

from .conftest import SPECS, SPIRALS_SPEC, write_spec


def problems_of(registry, text: str) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        validate_spec(parse_toml(text), registry, "test.toml")
    return {p.location: p.message for p in caught.value.problems}


def test_every_shipped_spec_validates(registry):
    paths = sorted(SPECS.glob("*.toml"))
    assert len(paths) >= 17
    for path in paths:
        spec = load_spec(path, registry)
        assert spec.layers, path


def test_bare_names_and_inline_tables_resolve_to_components(registry):
    spec = validate_spec(
        parse_toml(
            SPIRALS_SPEC.replace(
                'activation = "tanh"',
                'activation = "relu"\ninit = { type = "normal", scale = 0.5 }',
            )
        ),
        registry,
    )
    dense = spec.layers[0]
    assert (dense.kind, dense.name) == ("layer", "dense")
    assert dense.params.activation.name == "relu"
    assert dense.params.init.name == "normal" and dense.params.init.params.scale == 0.5
    assert dense.params.bias_init.name == "zeros"  # a default, resolved like a written one


def test_resolved_spec_round_trips(registry):
    spec = validate_spec(parse_toml(SPIRALS_SPEC), registry)
    again = validate_spec(spec.to_dict(), registry)
    assert again.to_dict() == spec.to_dict()
    assert spec.to_dict()["spec_version"] == SPEC_VERSION


def test_all_problems_are_reported_at_once_with_their_places(registry):
    text = (
        SPIRALS_SPEC.replace("units = 16", "units = -3\nunitz = 4")
        .replace("epochs = 5", 'epochs = "many"')
        .replace('type = "sgd_momentum"', 'type = "sgd_momentum"\nmomentum = 1.5')
    )
    problems = problems_of(registry, text)
    assert set(problems) == {
        "layers[0].units",
        "layers[0].unitz",
        "train.epochs",
        "optimizer.momentum",
    }
    assert "greater than 0" in problems["layers[0].units"]
    assert "(got -3)" in problems["layers[0].units"]
    assert "did you mean 'units'" in problems["layers[0].unitz"]
    assert "dense" in problems["layers[0].unitz"]


def test_unknown_component_names_kind_suggestion_and_choices(registry):
    problems = problems_of(registry, SPIRALS_SPEC.replace('"tanh"', '"tanhh"'))
    message = problems["layers[0].activation"]
    assert "unknown activation 'tanhh'" in message
    assert "did you mean 'tanh'?" in message
    assert "relu" in message and "sigmoid" in message


def test_unknown_layer_type_is_located_at_its_type_key(registry):
    problems = problems_of(
        registry, SPIRALS_SPEC.replace('type = "dense"\nunits = 2', 'type = "dens"\nunits = 2')
    )
    assert "unknown layer 'dens'" in problems["layers[1].type"]
    assert "did you mean 'dense'?" in problems["layers[1].type"]


def test_unknown_keys_in_sections_are_errors_with_suggestions(registry):
    problems = problems_of(registry, SPIRALS_SPEC.replace("batch_size = 16", "batch_sise = 16"))
    assert problems == {"train.batch_sise": "unknown key 'batch_sise' (did you mean 'batch_size'?)"}
    problems = problems_of(registry, SPIRALS_SPEC + "\n[extra]\nx = 1\n")
    assert "extra" in problems


def test_missing_sections_and_keys(registry):
    problems = problems_of(registry, "[model]\nseed = 1\n")
    assert {"model.name", "data", "layers", "loss", "optimizer", "train"} <= set(problems)
    assert all("required" in message for message in problems.values())


def test_table_without_type_and_wrong_reference_types(registry):
    problems = problems_of(
        registry,
        SPIRALS_SPEC.replace('type = "dense"\nunits = 2', "units = 2").replace(
            'activation = "tanh"', "activation = 3"
        ),
    )
    assert "needs a 'type' key" in problems["layers[1]"]
    assert "activation name" in problems["layers[0].activation"]


def test_component_that_takes_no_params_says_so(registry):
    problems = problems_of(registry, SPIRALS_SPEC.replace('"tanh"', '{ type = "tanh", slope = 1 }'))
    assert "takes no parameters" in problems["layers[0].activation.slope"]


def test_epochs_and_iterations_are_exclusive(registry):
    problems = problems_of(
        registry, SPIRALS_SPEC.replace("epochs = 5", "epochs = 5\niterations = 9")
    )
    assert "exactly one of 'epochs' and 'iterations'" in problems["train"]


def test_early_stopping_takes_a_tenth_for_validation_unless_told(registry):
    text = SPIRALS_SPEC.replace("validation = 40\n", "").replace(
        "epochs = 5", "epochs = 5\nearly_stopping = true"
    )
    assert validate_spec(parse_toml(text), registry).data.validation == 0.1
    problems = problems_of(registry, text.replace("[data]", "[data]\nvalidation = 0"))
    assert "needs a validation set" in problems["train.early_stopping"]


def test_validation_fraction_must_be_below_one(registry):
    problems = problems_of(registry, SPIRALS_SPEC.replace("validation = 40", "validation = 1.5"))
    assert "fraction below 1" in problems["data"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[model\nname = 1", "line 1, column 7"),
        ('[model]\nname = "x"\nname = "y"\n', "line 3, column"),
        ("a = [1, 2", "end of file"),
    ],
)
def test_malformed_toml_gives_line_and_column(text, where):
    with pytest.raises(SpecError) as caught:
        parse_toml(text, "bad.toml")
    assert str(caught.value).startswith("bad.toml: 1 problem")
    assert where in caught.value.problems[0].location
    assert "invalid TOML" in caught.value.problems[0].message


def test_newer_spec_version_is_refused_with_advice(registry):
    problems = problems_of(registry, f"spec_version = {SPEC_VERSION + 1}\n" + SPIRALS_SPEC)
    assert "upgrade mlpspec" in problems["spec_version"]


def test_overrides_use_dotted_paths_and_are_validated(registry, tmp_path):
    path = write_spec(tmp_path, SPIRALS_SPEC)
    spec = load_spec(path, registry, {"train.epochs": 7, "layers[0].units": 32})
    assert spec.train.epochs == 7 and spec.layers[0].params.units == 32
    with pytest.raises(SpecError) as caught:
        load_spec(path, registry, {"layers[0].units": 0})
    assert caught.value.problems[0].location == "layers[0].units"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("layers[9].units", "layers has 2 entries, so no entry [9]"),
        ("train.epochs.count", "train.epochs is a value (5), not a table"),
        ("layers.units", "layers is an array, not a table"),
        ("model[0]", "model is not an array"),
        ("layers[0].activation.type", "layers[0].activation is a string ('tanh')"),
        ("train..epochs", "not a dotted path"),
        ("layers[-1].units", "not a dotted path"),
    ],
)
def test_an_override_path_the_spec_does_not_have_is_a_located_spec_error(
    registry, tmp_path, key, message
):
    """Before: IndexError and TypeError escaped as internal errors (exit 1, not 2)."""
    path = write_spec(tmp_path, SPIRALS_SPEC)
    with pytest.raises(SpecError) as caught:
        load_spec(path, registry, {key: 3, "train.epochs": 4})
    (problem,) = caught.value.problems
    assert problem.location == key and message in problem.message


def test_missing_and_binary_files_are_spec_errors(tmp_path, registry):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "absent.toml", registry)
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(tmp_path / "bin.toml", registry)


def test_loading_a_spec_never_imports_or_evaluates_what_it_names(tmp_path):
    """Names are looked up in the registry only: a module path is just an unknown name."""
    spec = tmp_path / "evil.toml"
    spec.write_text(
        SPIRALS_SPEC.replace('type = "dense"\nunits = 16', 'type = "antigravity"\nunits = 16')
        .replace("units = 2\n", 'units = 2\nactivation = "this"\n')
        .replace('type = "sgd_momentum"', 'type = "os.system"')
        .replace('type = "softmax_cross_entropy"', "type = \"__import__('this')\"")
    )
    probe = f"""
import builtins, sys
from mlpspec import load_registry, load_spec, SpecError
registry = load_registry()
before = set(sys.modules)
builtins.eval = builtins.exec = lambda *a, **k: sys.exit("eval called")
try:
    load_spec({str(spec)!r}, registry)
except SpecError as error:
    print(error)
print(sorted(set(sys.modules) - before))
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "unknown layer 'antigravity'" in out and "unknown optimizer 'os.system'" in out
    assert "unknown activation 'this'" in out
    new_modules = out.strip().splitlines()[-1]
    assert "antigravity" not in new_modules and "'this'" not in new_modules


def test_values_must_have_their_toml_type(registry):
    data = parse_toml(SPIRALS_SPEC)
    data["layers"][0]["units"] = "16"
    data["train"]["epochs"] = 5.0
    with pytest.raises(SpecError) as caught:
        validate_spec(data, registry)
    assert [p.location for p in caught.value.problems] == ["layers[0].units", "train.epochs"]
