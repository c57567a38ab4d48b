"""What mlpspec run prints: lines for people (colour only on a terminal), -q, --json; and
--set overrides, recorded in the run's resolved spec."""

from __future__ import annotations

import io
import json

import pytest

from mlpspec.cli.main import main
from mlpspec.cli.progress import ConsoleProgress, use_colour
from mlpspec.core.spec import read_toml

from .conftest import SPIRALS_SPEC, make_run, write_spec


def test_json_mode_prints_one_object_per_evaluation_and_a_result(tmp_path, capsys):
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    assert main(["run", str(spec), "--json", "--out", str(tmp_path / "runs")]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["event"] for r in records] == ["evaluation"] * 5 + ["result"]
    assert [r["epoch"] for r in records[:5]] == [1, 2, 3, 4, 5]
    assert {"train_loss", "val_accuracy", "lr", "seconds", "epochs"} <= set(records[0])
    result = records[-1]
    summary = json.loads(
        (tmp_path / "runs" / result["run_dir"].split("/")[-1] / "summary.json").read_text()
    )
    assert result["test"]["accuracy"] == summary["test"]["accuracy"]
    assert result["epochs_run"] == 5 and len(result["plots"]) == 4
    assert "\033[" not in captured.out


def test_quiet_mode_prints_only_the_final_line(tmp_path, capsys):
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    assert main(["run", str(spec), "-q", "--no-save"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1 and captured.out.startswith("test accuracy")
    assert captured.err == ""


def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(Terminal()) and not use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(Terminal())
    assert not ConsoleProgress(out=Terminal()).colour


def test_colour_marks_a_new_best_validation_accuracy(tmp_path):
    from types import SimpleNamespace

    from mlpspec.engine.training import Evaluation, Plan

    out = io.StringIO()
    progress = ConsoleProgress(out=out, colour=True)
    trainer = SimpleNamespace(plan=Plan(10, 1, 2, 2))
    train = {"loss": 0.5, "accuracy": 0.8}
    better, worse = {"loss": 0.5, "accuracy": 0.8}, {"loss": 0.6, "accuracy": 0.7}
    progress.on_evaluation(trainer, Evaluation(1, 1, 0.1, 1.0, train, better))
    progress.on_evaluation(trainer, Evaluation(2, 2, 0.1, 2.0, train, worse))
    first, second = out.getvalue().splitlines()
    assert "\033[32mval loss 0.5000, accuracy  80.00%\033[0m" in first
    assert "\033[" not in second


def test_overrides_are_validated_and_recorded_in_the_resolved_spec(tmp_path, capsys):
    run = make_run(
        tmp_path,
        SPIRALS_SPEC,
        "--set",
        "train.epochs=3",
        "--set",
        "layers[0].units=7",
        "--set",
        'layers[0].activation="relu"',
        "--set",
        "optimizer.momentum=0.5",
    )
    resolved = read_toml(run / "spec.toml")
    assert resolved["train"]["epochs"] == 3
    assert resolved["layers"][0]["units"] == 7
    assert resolved["layers"][0]["activation"] == {"type": "relu"}
    assert resolved["optimizer"]["momentum"] == 0.5
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    assert main(["run", str(spec), "--no-save", "--set", "layers[0].unitz=7"]) == 2
    assert "layers[0].unitz: unknown key" in capsys.readouterr().err
    assert main(["run", str(spec), "--no-save", "--set", "layers[0].units=many"]) == 2
    assert "layers[0].units" in capsys.readouterr().err


def test_quiet_and_json_exclude_each_other(tmp_path, capsys):
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(spec), "-q", "--json"])
    assert exit_.value.code == 2
    assert "not allowed with" in capsys.readouterr().err
