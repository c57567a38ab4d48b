"""The plugin side of the command line: check, schema, list --plugins, blocking plugins;
and the two extension packages of plugins/, which the test environment must have."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, distribution

import jsonschema
import pytest

from mlpspec.cli.main import main

from .conftest import ROOT, SPIRALS_SPEC, write_spec

EXTENSIONS = {
    "mlpspec-optim": "mlpspec_optim",
    "mlpspec-layers": "mlpspec_layers",
    "mlpspec-mlflow": "mlpspec_mlflow",
}


@pytest.mark.parametrize("package", EXTENSIONS)
def test_the_extension_packages_are_installed(package):
    try:
        distribution(package)
    except PackageNotFoundError:
        pytest.fail(
            f"{package} is not installed, so its tests and specs cannot run: "
            f"pip install -e ./plugins/{package} (the README's setup command does)"
        )


def test_check_prints_a_table_and_passes_on_every_installed_component(capsys, registry):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    count = len(list(registry.components()))
    assert out.splitlines()[0].split() == ["kind", "name", "from", "result", "checks"]
    assert f"{count} of {count} components pass" in out
    row = next(line for line in out.splitlines() if line.split()[:2] == ["layer", "batchnorm"])
    assert row.split()[2:4] == ["mlpspec-layers", "pass"]
    assert "inference:ok" in row


def test_check_selects_by_name_or_kind_and_name(capsys):
    assert main(["check", "adamw", "activation:linear"]) == 0
    rows = [line.split()[:2] for line in capsys.readouterr().out.splitlines()[1:3]]
    assert rows == [["optimizer", "adamw"], ["activation", "linear"]]


def test_check_of_an_unknown_name_is_bad_input(capsys):
    assert main(["check", "adamm"]) == 2
    assert "did you mean 'adam'" in capsys.readouterr().err


def test_check_fails_on_a_broken_component(tmp_path, monkeypatch, capsys):
    (tmp_path / "uphill.py").write_text(
        "from mlpspec import Params\n"
        "class P(Params):\n    lr: float = 0.1\n"
        "class Uphill:\n"
        "    def __init__(self, params): self.lr = params.lr\n"
        "    def step(self, parameters, lr):\n"
        "        for p in parameters: p.value += lr * p.grad\n"
        "    def state(self): return {}\n"
        "    def load_state(self, state): pass\n"
        "def mlpspec_register_optimizers(register):\n    register('uphill', Uphill, P)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["check", "--plugin", "uphill", "uphill"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "descent: the quadratic went from" in out
    assert "0 of 1 components pass" in out


def test_schema_prints_the_spec_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft7Validator.check_schema(schema)
    assert "component.layer" in schema["$defs"]


def test_list_plugins_names_each_plugin_its_package_and_version(capsys):
    assert main(["list", "--plugins"]) == 0
    out = capsys.readouterr().out
    assert "hook API 2" in out.splitlines()[0]
    for package, plugin in EXTENSIONS.items():
        line = next(line for line in out.splitlines() if line.split()[0] == plugin)
        assert f"{package} {distribution(package).version}" in line


def test_list_shows_the_providing_package_and_version(capsys):
    assert main(["list", "optimizer"]) == 0
    out = capsys.readouterr().out
    assert f"from mlpspec-optim {distribution('mlpspec-optim').version} (mlpspec_optim)" in out


def test_a_plugin_is_blocked_with_p_no_or_the_environment(monkeypatch, capsys):
    assert main(["list", "--plugins", "-p", "no:mlpspec_optim"]) == 0
    assert "mlpspec_optim            disabled" in capsys.readouterr().out
    monkeypatch.setenv("MLPSPEC_DISABLE_PLUGINS", "mlpspec_layers")
    spec = ROOT / "plugins" / "mlpspec-layers" / "specs" / "spirals_batchnorm_gelu.toml"
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "unknown layer 'batchnorm'" in err and "plugin 'mlpspec_layers' is disabled" in err


def test_a_plugin_for_another_hook_api_is_refused_at_load_with_a_message(
    tmp_path, monkeypatch, capsys
):
    (tmp_path / "future_plugin.py").write_text(
        "MLPSPEC_HOOK_API = 3\ndef mlpspec_register_activations(register, context):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["list", "--plugins", "--plugin", "future_plugin"]) == 0
    captured = capsys.readouterr()
    assert (
        "warning: plugin 'future_plugin' was not loaded: PluginError: it was built for mlpspec "
        "hook API 3, this mlpspec serves 1, 2" in captured.err
    )
    assert "future_plugin            failed: PluginError" in captured.out


def test_a_version_1_plugin_loads_and_trains_unchanged(tmp_path, monkeypatch, capsys):
    """A plugin written against the first hook API (registration hooks only) keeps working."""
    (tmp_path / "old_plugin.py").write_text(
        "import numpy as np\n"
        "MLPSPEC_HOOK_API = 1\n"
        "class Cube:\n"
        "    def __init__(self, params):\n"
        "        pass\n"
        "    def forward(self, z):\n"
        "        return z * z * z\n"
        "    def backward(self, z, a, grad):\n"
        "        return grad * 3 * z * z\n"
        "def mlpspec_register_activations(register):\n"
        "    register('old.cube', Cube)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = write_spec(tmp_path, SPIRALS_SPEC.replace('"tanh"', '"old.cube"'))
    assert main(["run", str(spec), "--no-save", "-q", "--plugin", "old_plugin"]) == 0
    assert "test accuracy" in capsys.readouterr().out


SPY_TRACKER = """
import json
from pathlib import Path

class Spy:
    def __init__(self, params):
        pass

    def mlpspec_run_end(self, run, record):
        folder = Path(run.run_dir)
        seen = {
            "files": sorted(path.name for path in folder.iterdir()),
            "saved_status": json.loads((folder / "summary.json").read_text())["status"],
        }
        (folder.parent / "seen.json").write_text(json.dumps(seen))

def mlpspec_register_trackers(register):
    register("spy", Spy)
"""


@pytest.mark.parametrize("choose", ["--track", "MLPSPEC_TRACK"])
def test_a_tracker_ending_a_run_finds_its_plots_and_outcome_in_the_folder(
    tmp_path, monkeypatch, choose
):
    """The plots are drawn before any tracker's run_end, so that a tracker can log them with
    the run's other files; summary.json then says how the run ended."""
    pytest.importorskip("matplotlib")
    (tmp_path / "spy_tracker.py").write_text(SPY_TRACKER)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    out = tmp_path / "runs"
    track = ["--track", "spy"] if choose == "--track" else []
    if choose == "MLPSPEC_TRACK":
        monkeypatch.setenv("MLPSPEC_TRACK", "spy")
    assert main(["run", str(spec), "-q", "--out", str(out), "--plugin", "spy_tracker", *track]) == 0
    seen = json.loads((out / "seen.json").read_text())
    assert {"loss.png", "accuracy.png", "learning_rate.png", "confusion.png"} <= set(seen["files"])
    assert seen["saved_status"] == "completed"


def test_no_plots_are_drawn_for_a_tracker_with_no_plots(tmp_path, monkeypatch):
    (tmp_path / "spy_tracker.py").write_text(SPY_TRACKER)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    out = tmp_path / "runs"
    args = ["run", str(spec), "-q", "--out", str(out), "--no-plots"]
    assert main([*args, "--plugin", "spy_tracker", "--track", "spy"]) == 0
    seen = json.loads((out / "seen.json").read_text())
    assert not [name for name in seen["files"] if name.endswith(".png")]
