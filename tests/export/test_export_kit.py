"""The conformance kit's ONNX check (mlpspec.export.check): every built-in and mlpspec-layers
component of an exported kind passes it, and it catches a wrong export."""

from __future__ import annotations

import warnings

import pytest

from mlpspec import load_registry
from mlpspec.cli.main import main
from mlpspec.testing import CONTRACTS, check_component, examples

from . import require

require("onnx")
require("onnxruntime")

from mlpspec.export.check import check_onnx_export  # noqa: E402  (needs onnxruntime)

REGISTRY = load_registry(["tests.export.plugin_components"])
OURS = [
    (c.kind, c.name)
    for c in REGISTRY.components()
    if c.kind in ("layer", "activation", "loss")
    and c.provider.distribution in ("mlpspec", "mlpspec-layers")
]


def test_the_kit_checks_export_for_the_kinds_that_run_at_inference():
    for kind in ("layer", "activation", "loss"):
        assert CONTRACTS[kind]["onnx"] is check_onnx_export
    assert "onnx" not in CONTRACTS["optimizer"]


@pytest.mark.parametrize(("kind", "name"), OURS, ids=[f"{k}:{n}" for k, n in OURS])
def test_every_built_in_and_mlpspec_layers_component_exports_itself(kind, name):
    component = REGISTRY.get(kind, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "no to_onnx" is a warning: make it fail here
        for params in examples(component):
            check_onnx_export(REGISTRY, component, params)


def test_the_kit_catches_an_export_that_computes_something_else():
    results = {r.check: r for r in check_component(REGISTRY, "layer", "plug.wrong")}
    assert not results["onnx"].passed
    assert results["onnx"].detail.startswith("opset 13: onnxruntime gives ")
    assert all(r.passed for check, r in results.items() if check != "onnx")


def test_a_component_without_to_onnx_passes_with_a_warning():
    with pytest.warns(UserWarning, match="layer 'plug.twice' has no to_onnx method"):
        results = {r.check: r for r in check_component(REGISTRY, "layer", "plug.twice")}
    assert results["onnx"].passed


def test_a_custom_domain_is_not_run_and_says_so():
    with pytest.warns(UserWarning, match="custom domain 'com.example.twice'.*was not run"):
        results = check_component(REGISTRY, "layer", "plug.custom_domain")
    assert all(r.passed for r in results)


def test_mlpspec_check_shows_the_onnx_check(capsys):
    assert main(["check", "gelu", "batchnorm", "softmax_cross_entropy"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum("onnx:ok" in line for line in lines) == 3
    assert main(["check", "layer:plug.wrong", "--plugin", "tests.export.plugin_components"]) == 1
    assert "onnx:FAIL" in capsys.readouterr().out
