"""The command line: exit statuses, messages without tracebacks, the run folder."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mlpspec import load_run
from mlpspec.cli.main import main
from mlpspec.core.spec import read_toml

from .conftest import SPECS, SPIRALS_SPEC, write_spec


def test_run_writes_a_complete_run_folder(tmp_path, capsys, registry):
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    assert main(["run", str(spec), "--out", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "epoch 5/5" in out and "test accuracy" in out
    (folder,) = (tmp_path / "runs").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == [
        ".lock",
        "accuracy.png",
        "components.json",
        "confusion.png",
        "learning_rate.png",
        "loss.png",
        "metrics.jsonl",
        "model.npz",
        "predictions.npz",
        "spec.toml",
        "summary.json",
    ]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_run"] == 5
    metrics = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2, 3, 4, 5]
    resolved = read_toml(folder / "spec.toml")
    assert resolved["layers"][0]["activation"] == {"type": "tanh"}
    components = json.loads((folder / "components.json").read_text())
    assert {
        "kind": "activation",
        "name": "tanh",
        "plugin": "mlpspec.activations",
        "distribution": "mlpspec",
        "version": summary["mlpspec"],
    } in components
    # the saved model gives back the run's own test accuracy
    loaded = load_run(folder, registry)
    splits = loaded.data()
    accuracy = float(np.mean(loaded.predict(splits.x_test) == splits.y_test))
    assert accuracy == summary["test"]["accuracy"] == loaded.record.test_accuracy


def test_quickstart_runs_with_no_data_files(tmp_path, capsys):
    assert main(["run", str(SPECS / "quickstart.toml"), "--no-save", "-q"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("test accuracy") and "saved" not in out


def test_overrides_on_the_command_line(tmp_path, capsys):
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    assert (
        main(
            ["run", str(spec), "--no-save", "--set", "train.epochs=2", "--set", "layers[0].units=4"]
        )
        == 0
    )
    assert "epoch 2/2" in capsys.readouterr().out
    assert main(["run", str(spec), "--no-save", "--set", "train.epochs=-1"]) == 2
    assert "train.epochs" in capsys.readouterr().err
    assert main(["run", str(spec), "--set", "nonsense"]) == 2
    assert main(["run", str(spec), "--no-save", "--set", "layers[5].units=3"]) == 2
    assert "layers[5].units: layers has 2 entries" in capsys.readouterr().err


def test_bad_spec_exits_2_with_every_problem_and_no_traceback(tmp_path, capsys):
    spec = write_spec(
        tmp_path, SPIRALS_SPEC.replace("units = 16", "units = 0").replace('"tanh"', '"tanhh"')
    )
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "2 problems" in err and "layers[0].units" in err and "did you mean 'tanh'" in err
    assert "Traceback" not in err


def test_shape_mismatch_is_caught_before_training(tmp_path, capsys):
    spec = write_spec(tmp_path, SPIRALS_SPEC.replace("units = 2", "units = 3"))
    assert main(["run", str(spec), "--no-save"]) == 2
    err = capsys.readouterr().err
    assert "layers[1]" in err and "3 outputs" in err and "2 classes" in err


def test_failed_run_exits_1(tmp_path, capsys):
    spec = write_spec(
        tmp_path, SPIRALS_SPEC.replace("lr = 0.1", "lr = 1e35").replace('"tanh"', '"relu"')
    )
    assert main(["run", str(spec), "--out", str(tmp_path / "runs")]) == 1
    assert "the loss became" in capsys.readouterr().err


def test_missing_data_exits_1_saying_where_it_looked(tmp_path, capsys):
    text = SPIRALS_SPEC.replace(
        'dataset = { type = "spirals", classes = 2, points = 100 }',
        'dataset = "mnist"\ndownload = false',
    )
    spec = write_spec(tmp_path, text)
    assert main(["run", str(spec), "--data-dir", str(tmp_path / "nowhere"), "--no-save"]) == 1
    err = capsys.readouterr().err
    assert "missing train-images-idx3-ubyte.gz" in err and str(tmp_path / "nowhere") in err


def test_validate_reports_each_file(tmp_path, capsys):
    good = write_spec(tmp_path, SPIRALS_SPEC, "good.toml")
    bad = write_spec(tmp_path, "[model\n", "bad.toml")
    assert main(["validate", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert "good.toml: ok" in captured.out and "bad.toml: 1 problem" in captured.err
    assert main(["validate", *map(str, sorted(SPECS.glob("*.toml")))]) == 0


def test_list_shows_components_params_and_providers(capsys):
    assert main(["list", "layer"]) == 0
    out = capsys.readouterr().out
    assert "dense" in out and "units: int (required)" in out and "from mlpspec" in out
    assert "activation: component = 'linear'" in out
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for kind in (
        "layers:",
        "activations:",
        "losses:",
        "optimizers:",
        "schedulers:",
        "initializers:",
        "datasets:",
    ):
        assert kind in out


def test_blocking_a_builtin_plugin_makes_its_names_unknown(tmp_path, capsys):
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    assert main(["validate", str(spec), "-p", "no:mlpspec.activations"]) == 2
    assert "plugin 'mlpspec.activations' is disabled" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["mlpspec.activations", "no:", "NO:mlpspec.activations"])
def test_a_p_option_that_is_not_no_name_is_refused_not_ignored(tmp_path, capsys, value):
    """pytest's ``-p NAME`` loads a plugin; mlpspec's only blocks one, and a value without
    ``no:`` was silently dropped (``mlpspec check -p broken`` checked everything, exit 0)."""
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    for command in ("validate", "check"):
        with pytest.raises(SystemExit) as caught:
            main([command, str(spec) if command == "validate" else "dense", "-p", value])
        assert caught.value.code == 2
        err = capsys.readouterr().err
        assert "-p takes no:NAME" in err and "--plugin MODULE" in err


def test_the_installed_command_exits_2_without_traceback(tmp_path):
    spec = write_spec(tmp_path, "[model]\nname = 3\n")
    done = subprocess.run(
        [sys.executable, "-m", "mlpspec", "validate", str(spec)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "model.name" in done.stderr and "Traceback" not in done.stderr


def test_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert "usage: mlpspec" in capsys.readouterr().out
    with pytest.raises(SystemExit) as caught:
        main(["run"])
    assert caught.value.code == 2
