"""``mlpspec export``: where it writes, what the model holds, every opset in range, float64,
and clean failures (exit 2, the component and its package named)."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from mlpspec._version import __version__
from mlpspec.cli.main import main
from mlpspec.core.spec import parse_toml, read_toml
from mlpspec.run.saved import load_run

from ..conftest import make_run
from . import assert_matches, raw_test_rows, require, run_onnx

onnx = require("onnx")
ort = require("onnxruntime")

PLUGIN = ("--plugin", "tests.export.plugin_components")

SPEC = """
[model]
name = "export-cli"
seed = 4
{dtype}

[data]
dataset = {{ type = "spirals", classes = 3, points = 90 }}
validation = 30
preprocess = "standardize"

{layers}

[[layers]]
type = "dense"
units = 3

[loss]
type = "softmax_cross_entropy"

[optimizer]
type = "sgd_momentum"
lr = 0.05

[train]
epochs = 3
batch_size = 16
"""

EVERY_BUILT_IN = """
[[layers]]
type = "dropout"
rate = 0.1
scaling = "inference"

[[layers]]
type = "dense"
units = 12
activation = "tanh"
dropout = 0.2
dropout_scaling = "inference"

[[layers]]
type = "activation"
activation = "sigmoid"

[[layers]]
type = "dense"
units = 12
activation = "relu"
dropout = 0.3
"""

EVERY_PLUGIN_LAYER = """
[[layers]]
type = "dense"
units = 12
init = "he_uniform"

[[layers]]
type = "batchnorm"

[[layers]]
type = "activation"
activation = "gelu"

[[layers]]
type = "dense"
units = 12
activation = { type = "leaky_relu", slope = 0.1 }
dropout = 0.25
dropout_scaling = "inference"
"""

PINNED_IR = {13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10}
"""The lowest IR version each opset needs, which onnxruntime accepts (onnx's default, the
newest, it refuses)."""


def spec_text(layers: str, dtype: str = "") -> str:
    return SPEC.format(layers=layers, dtype=dtype)


@pytest.fixture(scope="module")
def built_in_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("built-in"), spec_text(EVERY_BUILT_IN), "--no-plots")


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugin")
    return make_run(folder, spec_text(EVERY_PLUGIN_LAYER), "--no-plots")


def exported(run, *args: str):
    assert main(["export", str(run), *args]) == 0
    return onnx.load(run / "model.onnx")


def test_export_writes_model_onnx_into_the_run_folder_with_its_metadata(built_in_run, capsys):
    model = exported(built_in_run)
    out = capsys.readouterr().out
    assert f"wrote {built_in_run / 'model.onnx'} (opset 17, IR version 8)" in out
    assert "input float32 [N, 2] -> probabilities float32 [N, 3], label int64 [N]" in out
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["mlpspec_version"] == __version__
    assert parse_toml(meta["spec"]) == read_toml(built_in_run / "spec.toml")
    assert json.loads(meta["classes"]) == ["arm 0", "arm 1", "arm 2"]
    assert json.loads(meta["preprocessing"])["name"] == "standardize"
    components = json.loads(meta["components"])
    assert {"kind": "activation", "name": "tanh"} in [
        {"kind": c["kind"], "name": c["name"]} for c in components
    ]
    assert all(c["distribution"] == "mlpspec" for c in components)
    assert model.producer_name == "mlpspec"


def test_classic_dropout_scales_by_the_keep_rate_and_inverted_dropout_does_nothing(
    built_in_run,
):
    model = exported(built_in_run)
    ops = [node.op_type for node in model.graph.node]
    assert ops == [
        *["Sub", "Div"],  # the preprocessing
        *["Gemm", "Tanh"],  # classic dropout on the inputs: folded into this Gemm's weights
        *["Mul"],  # classic dropout after tanh: a Mul by 0.8, as the sigmoid comes next
        *["Sigmoid"],  # activation layer
        *["Gemm", "Relu"],  # dense, inverted dropout: nothing at inference
        *["Gemm", "Softmax", "ArgMax", "Identity", "Identity"],
    ]
    values = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    (mul,) = [node for node in model.graph.node if node.op_type == "Mul"]
    assert values[mul.input[1]] == np.float32(0.8)
    weights = load_run(built_in_run).model.layers[1].weight.value
    (first,) = [node for node in model.graph.node if node.op_type == "Gemm"][:1]
    np.testing.assert_array_equal(values[first.input[1]], weights * np.float32(0.9))
    used = {name for node in model.graph.node for name in node.input}
    assert set(values) <= used  # the unscaled weights are not left behind


def test_export_matches_predict_proba_on_raw_rows(built_in_run, plugin_run):
    for run in (built_in_run, plugin_run):
        exported(run)
        loaded = load_run(run)
        assert assert_matches(run / "model.onnx", loaded, raw_test_rows(loaded), 1e-5) < 1e-5


def test_output_option_writes_elsewhere(built_in_run, tmp_path):
    target = tmp_path / "deep" / "served.onnx"
    assert main(["export", str(built_in_run), "-o", str(target)]) == 0
    onnx.checker.check_model(onnx.load(target), full_check=True)


@pytest.mark.parametrize("opset", sorted(PINNED_IR))
def test_every_opset_in_range_loads_in_onnxruntime_and_matches(plugin_run, tmp_path, opset):
    target = tmp_path / f"opset{opset}.onnx"
    assert main(["export", str(plugin_run), "--opset", str(opset), "-o", str(target)]) == 0
    model = onnx.load(target)
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", opset)]
    assert model.ir_version == PINNED_IR[opset]
    assert ("Gelu" in [n.op_type for n in model.graph.node]) == (opset >= 20)
    loaded = load_run(plugin_run)
    assert_matches(target, loaded, raw_test_rows(loaded), 1e-5)


@pytest.mark.parametrize("opset", ["12", "999"])
def test_an_opset_out_of_range_is_refused(built_in_run, opset, capsys, tmp_path):
    target = tmp_path / "m.onnx"
    assert main(["export", str(built_in_run), "--opset", opset, "-o", str(target)]) == 2
    assert f"error: opset {opset} is out of range" in capsys.readouterr().err
    assert not target.exists()


def test_a_float64_spec_exports_a_double_graph(tmp_path):
    run = make_run(tmp_path, spec_text(EVERY_BUILT_IN, 'dtype = "float64"'), "--no-plots")
    model = exported(run)
    double = onnx.TensorProto.DOUBLE
    assert model.graph.input[0].type.tensor_type.elem_type == double
    assert model.graph.output[0].type.tensor_type.elem_type == double
    assert {t.data_type for t in model.graph.initializer} == {double}
    loaded = load_run(run)
    raw = raw_test_rows(loaded)
    assert raw.dtype == np.float64
    assert assert_matches(run / "model.onnx", loaded, raw, 1e-12) <= 1e-12


def plugin_spec_run(folder, layer: str, activation: str = "relu"):
    layers = f"""
[[layers]]
type = "dense"
units = 6
activation = "{activation}"

[[layers]]
type = "{layer}"
"""
    return make_run(folder, spec_text(layers), "--no-plots", *PLUGIN)


def test_components_without_to_onnx_are_all_named_with_their_package(tmp_path, capsys):
    run = plugin_spec_run(tmp_path, "plug.twice", activation="plug.square")
    capsys.readouterr()
    assert main(["export", str(run), *PLUGIN]) == 2
    err = capsys.readouterr().err
    source = "from tests.export.plugin_components (local module)"
    assert f"error: {run}: cannot export to ONNX: 2 components have no to_onnx method" in err
    assert f"  layers[0].activation: activation 'plug.square' {source}" in err
    assert f"  layers[1]: layer 'plug.twice' {source}" in err
    assert "Traceback" not in err
    assert not (run / "model.onnx").exists()


def test_a_declared_custom_domain_exports_with_a_warning(tmp_path, capsys):
    run = plugin_spec_run(tmp_path, "plug.custom_domain")
    capsys.readouterr()
    assert main(["export", str(run), *PLUGIN]) == 0
    err = capsys.readouterr().err
    domain = "the custom domain 'com.example.twice' (version 1)"
    assert f"warning: layers[1] uses ops of {domain}: " in err
    assert "plain onnxruntime will not run this model" in err
    model = onnx.load(run / "model.onnx")
    assert ("com.example.twice", 1) in [(o.domain, o.version) for o in model.opset_import]
    with pytest.raises(Exception, match=r"com\.example\.twice"):  # as the warning says
        ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            "plug.undeclared_domain",
            "layers[1]: layer 'plug.undeclared_domain' cannot be exported: op 'Twice' of domain "
            "'com.example.twice': declare the domain first",
        ),
        (
            "plug.crashing",
            "layers[1]: layer 'plug.crashing' from tests.export.plugin_components (local module) "
            "failed to export: RuntimeError: a bug in the plugin",
        ),
    ],
)
def test_a_component_that_fails_to_export_is_named(tmp_path, capsys, layer, message):
    run = plugin_spec_run(tmp_path, layer)
    capsys.readouterr()
    assert main(["export", str(run), *PLUGIN]) == 2
    err = capsys.readouterr().err
    assert f"error: {message}" in err
    assert "Traceback" not in err


def test_a_run_without_preprocessing_statistics_is_refused(built_in_run, tmp_path, capsys):
    run = shutil.copytree(built_in_run, tmp_path / "old-run")
    summary = json.loads((run / "summary.json").read_text())
    del summary["preprocessing"]
    (run / "summary.json").write_text(json.dumps(summary))
    assert main(["export", str(run)]) == 2
    assert "did not save its preprocessing statistics" in capsys.readouterr().err


def test_without_the_onnx_package_export_says_what_to_install(
    built_in_run, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    monkeypatch.delitem(sys.modules, "mlpspec.export.onnx", raising=False)
    assert main(["export", str(built_in_run)]) == 2
    assert "exporting needs the onnx package: pip install 'mlpspec[onnx]'" in (
        capsys.readouterr().err
    )


def test_labels_are_the_most_likely_class(built_in_run):
    exported(built_in_run)
    loaded = load_run(built_in_run)
    probabilities, label = run_onnx(built_in_run / "model.onnx", raw_test_rows(loaded))
    np.testing.assert_array_equal(label, probabilities.argmax(axis=1))
