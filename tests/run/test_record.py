"""The run record: one typed form written and read in one place; folders written by mlpspec
0.1 still load; a damaged record is a located error, and ``runs`` lists it as damaged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlpspec import DataError, load_run
from mlpspec.cli import plots
from mlpspec.cli.main import main
from mlpspec.run.record import RECORD_VERSION, RunRecord
from mlpspec.run.rundir import load_record


def as_version_1(folder: Path) -> dict:
    """Rewrite a run folder's record as mlpspec 0.1 wrote it: no version, flat metric keys,
    and metrics.jsonl lines with null validation values."""
    record = json.loads((folder / "summary.json").read_text())
    old = {
        key: record[key]
        for key in (
            "name", "spec", "spec_dir", "started", "dataset", "features", "classes",
            "image_shape", "preprocessing", "examples", "mlpspec", "machine", "status",
            "epochs_run", "steps", "best_epoch", "train_seconds", "seconds",
        )
    }  # fmt: skip
    old["stopped_early"] = record["stop_reason"] is not None
    for split in ("train", "val", "test"):
        for name in ("loss", "accuracy"):
            old[f"{split}_{name}"] = record[split].get(name)
    old["best_val_accuracy"] = record["best_val"].get("accuracy")
    (folder / "summary.json").write_text(json.dumps(old, indent=2))
    return old


@pytest.fixture
def old_run(image_run, tmp_path) -> Path:
    folder = shutil.copytree(image_run, tmp_path / "old-run")
    as_version_1(folder)
    return folder


def test_a_version_1_record_loads_with_its_values(old_run, image_run):
    new = load_record(image_run / "summary.json")
    old = load_record(old_run / "summary.json")
    assert old.record_version == 1 and new.record_version == RECORD_VERSION
    assert old.test == {k: v for k, v in new.test.items() if k in ("loss", "accuracy")}
    assert old.best_val_accuracy == new.best_val_accuracy
    assert (old.features, old.classes, old.preprocessing) == (
        new.features,
        new.classes,
        new.preprocessing,
    )


def test_a_version_1_folder_still_loads_predicts_lists_and_plots(old_run, capsys):
    saved = load_run(old_run)
    splits = saved.data()
    assert saved.predict(splits.x_test).shape == (90,)
    assert main(["runs", str(old_run.parent), "--json"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["status"] == "completed" and row["test_accuracy"] == saved.record.test_accuracy
    assert plots.plot_run(old_run)
    assert main(["evaluate", str(old_run)]) == 0
    assert "the run reported the same" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"name": "x"}', "damaged run record at features: Field required"),
        ("[1, 2]", "not a run record"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("{not json", "not valid JSON"),
        ('{"record_version": 99}', "newer than this mlpspec reads"),
    ],
)
def test_a_damaged_record_is_an_error_naming_the_file_and_the_place(
    image_run, tmp_path, text, words
):
    folder = shutil.copytree(image_run, tmp_path / "run")
    (folder / "summary.json").write_text(text)
    with pytest.raises(DataError, match=words) as caught:
        load_record(folder / "summary.json")
    assert str(folder / "summary.json") in str(caught.value)


def test_a_value_of_the_wrong_type_is_located(image_run, tmp_path):
    folder = shutil.copytree(image_run, tmp_path / "run")
    record = json.loads((folder / "summary.json").read_text())
    record["test"]["accuracy"] = "n/a"
    (folder / "summary.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match=r"at test\.accuracy"):
        load_record(folder / "summary.json")


def test_runs_lists_a_damaged_folder_as_damaged_and_the_others_as_usual(
    image_run, tmp_path, capsys
):
    """D10: one bad folder (deep nesting, a string where a number belongs, an escape-laden
    name) hides no other run, and sorting still works."""
    root = tmp_path / "runs"
    shutil.copytree(image_run, root / "good")
    for name, text in (
        ("deep", "[" * 100_000 + "]" * 100_000),
        ("string", None),
    ):
        folder = shutil.copytree(image_run, root / name)
        if text is None:
            record = json.loads((folder / "summary.json").read_text())
            record["test"]["accuracy"] = "n/a"
            text = json.dumps(record)
        (folder / "summary.json").write_text(text)
    hostile = shutil.copytree(image_run, root / "hostile")
    record = json.loads((hostile / "summary.json").read_text())
    record["name"] = "\u001b[2J\u001b[31mOWNED\u001b]0;pwned-title\u0007"
    (hostile / "summary.json").write_text(json.dumps(record))
    for sort in ("date", "test", "val", "time"):
        assert main(["runs", str(root), "--sort", sort]) == 0
        out = capsys.readouterr().out
        assert "\u001b" not in out and "\\x1b[2J" in out
        rows = {line.split()[0]: line for line in out.splitlines()[1:]}
        assert "completed" in rows["good"]
        assert "damaged" in rows["deep"] and "damaged" in rows["string"]


def test_the_record_round_trips_through_json(image_run):
    record = load_record(image_run / "summary.json")
    again = RunRecord.from_json(json.loads(record.to_json()), "copy")
    assert again == record


@pytest.mark.parametrize("name", ["summary.json", "components.json", "metrics.jsonl"])
def test_a_fifo_in_a_run_folder_is_refused_at_once_not_waited_on(image_run, tmp_path, name):
    """A run folder's files are read as any file a user points at: a FIFO (or a device) in
    place of one is an error naming it, not a command that hangs (attack class D16)."""
    import os

    from mlpspec.run.rundir import RunDirectory

    folder = shutil.copytree(image_run, tmp_path / "run")
    (folder / name).unlink()
    os.mkfifo(folder / name)
    reads = {
        "summary.json": lambda f: f.read_record(),
        "components.json": lambda f: f.read_json(name),
        "metrics.jsonl": lambda f: f.read_metrics(),
    }
    with pytest.raises(DataError, match=r"a FIFO \(named pipe\), not a file"):
        reads[name](RunDirectory(folder))
