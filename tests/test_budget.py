"""Refusing absurd sizes before allocating, and build-time checks of the output's shape."""

from __future__ import annotations

import pytest

from mlpspec import SpecError, validate_spec
from mlpspec.core.spec import parse_toml
from mlpspec.run.budget import check_memory, memory_limit
from mlpspec.run.builder import build_model

from .conftest import SPIRALS_SPEC


def spec_with(registry, old: str, new: str):
    return validate_spec(parse_toml(SPIRALS_SPEC.replace(old, new)), registry)


def test_a_million_units_is_refused_at_its_layer_with_the_memory_it_needs(registry, monkeypatch):
    spec = spec_with(registry, "units = 16", "units = 1000000")
    monkeypatch.setenv("MLPSPEC_MAX_MEMORY", "2G")
    with pytest.raises(SpecError) as caught:
        build_model(spec, registry, features=784, classes=["a", "b"], examples=60000)
    (problem,) = caught.value.problems
    assert problem.location == "layers[0]"
    # 785M parameters × 5 copies + 8192 rows × 1M outputs × 4 copies, of 4 bytes
    assert "would need about 136.7 GB" in problem.message
    assert "785,000,000 parameters" in problem.message
    assert "more than the 2.0 GB allowed" in problem.message


def test_the_limit_is_the_machine_memory_unless_set(monkeypatch):
    monkeypatch.delenv("MLPSPEC_MAX_MEMORY", raising=False)
    assert memory_limit() > 2**28
    for text, size in [("512M", 2**29), ("8G", 8 * 2**30), ("1.5GiB", 3 * 2**29), ("4096", 4096)]:
        monkeypatch.setenv("MLPSPEC_MAX_MEMORY", text)
        assert memory_limit() == size
    monkeypatch.setenv("MLPSPEC_MAX_MEMORY", "lots")
    with pytest.raises(SpecError, match="MLPSPEC_MAX_MEMORY"):
        memory_limit()


def test_the_estimate_counts_parameters_copies_and_batch_activations(registry):
    spec = spec_with(registry, "batch_size = 16", 'batch_size = "full"')
    # float32: 5 copies of (2+1)·16 + (16+1)·2 parameters, 4 copies of 10000×(16+2) outputs
    need = 4 * (5 * (3 * 16 + 17 * 2) + 4 * 10000 * 18)
    check_memory(spec, features=2, examples=10000, limit=need)
    with pytest.raises(SpecError, match=r"layers\[1\]"):
        check_memory(spec, features=2, examples=10000, limit=need - 1)


def test_a_layer_that_does_not_declare_its_size_ends_the_estimate(registry):
    spec = spec_with(registry, "units = 16", "units = 16000000")
    object.__setattr__(spec.layers[0], "params", _Opaque())
    check_memory(spec, features=784, limit=1)  # nothing known: nothing refused


class _Opaque:
    """Params of a plugin layer with neither parameter_count nor out_features."""


def test_a_last_layer_of_the_wrong_width_is_named_before_training(registry):
    spec = spec_with(registry, "units = 2", "units = 3")
    with pytest.raises(SpecError) as caught:
        build_model(spec, registry, features=2, classes=["a", "b"])
    (problem,) = caught.value.problems
    assert problem.location == "layers[1]"
    assert "has 3 outputs, but the dataset has 2 classes" in problem.message


@pytest.mark.parametrize(
    "loss", ['type = "softmax_cross_entropy"', 'type = "mse"\nnormalize = true']
)
def test_a_loss_that_cannot_take_the_output_is_refused_at_build(registry, loss):
    text = SPIRALS_SPEC.replace("units = 2", "units = 1").replace(
        'type = "softmax_cross_entropy"', loss
    )
    spec = validate_spec(parse_toml(text), registry)
    with pytest.raises(SpecError) as caught:
        build_model(spec, registry, features=2, classes=["only"])
    (problem,) = caught.value.problems
    assert problem.location == "loss" and "cannot learn" in problem.message
    ok = validate_spec(parse_toml(text.replace(loss, 'type = "sigmoid_cross_entropy"')), registry)
    build_model(ok, registry, features=2, classes=["only"])
