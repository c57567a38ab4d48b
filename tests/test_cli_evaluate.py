"""mlpspec evaluate: the saved model, tested again, gives the run's own numbers exactly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import mlpspec
from mlpspec.cli.main import main
from mlpspec.data.idx import read_idx

from .conftest import SPIRALS_SPEC, make_run, write_spec
from .test_mnist import SLICE_SPEC


def test_reproduces_the_test_accuracy_exactly(image_run, capsys):
    summary = json.loads((image_run / "summary.json").read_text())
    assert main(["evaluate", str(image_run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "test" and result["examples"] == 90
    test = summary["test"]
    assert result["accuracy"] == test["accuracy"] == result["run_reported_accuracy"]
    assert result["loss"] == test["loss"] and result["run_reported"] == test
    assert main(["evaluate", str(image_run)]) == 0
    out = capsys.readouterr().out
    assert f"test accuracy {test['accuracy']:.2%}" in out
    assert "the run reported the same" in out


def _with_reported_test(image_run: Path, folder: Path, **changed: float) -> Path:
    """A copy of ``image_run`` whose record reports other test values."""
    copy = shutil.copytree(image_run, folder / "run")
    summary = json.loads((copy / "summary.json").read_text())
    summary["test"].update(changed)
    (copy / "summary.json").write_text(json.dumps(summary))
    return copy


def test_a_loss_off_by_rounding_alone_is_the_same_up_to_rounding(image_run, tmp_path, capsys):
    """A sweep's trial runs with one BLAS thread and is evaluated with two: the matrix library
    sums in another order, and the loss differs in its ninth digit (seen on MNIST trials)."""
    test = json.loads((image_run / "summary.json").read_text())["test"]
    run = _with_reported_test(image_run, tmp_path, loss=test["loss"] * (1 + 3e-9))
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "the run reported the same, up to rounding" in out and "DIFFERENT" not in out


def test_a_real_difference_is_shown_with_the_digits_that_show_it(image_run, tmp_path, capsys):
    test = json.loads((image_run / "summary.json").read_text())["test"]
    run = _with_reported_test(image_run, tmp_path, accuracy=test["accuracy"] - 1 / 90)
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "the run reported DIFFERENT values" in out
    assert f"accuracy {test['accuracy'] - 1 / 90:.8g} against {test['accuracy']:.8g} here" in out
    assert "loss" not in out.split("DIFFERENT")[1]  # only what differs


def test_a_value_the_run_did_not_report_is_named_as_missing(image_run, tmp_path, capsys):
    run = _with_reported_test(image_run, tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    accuracy = summary["test"].pop("accuracy")
    (run / "summary.json").write_text(json.dumps(summary))
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"the run reported DIFFERENT values: accuracy: none (here {accuracy:.8g})" in out


def test_other_splits_match_the_last_evaluation(image_run, capsys):
    last = json.loads((image_run / "metrics.jsonl").read_text().splitlines()[-1])
    for split, key in (("train", "train_accuracy"), ("validation", "val_accuracy")):
        assert main(["evaluate", str(image_run), "--split", split, "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["accuracy"] == last[key] and result["run_reported_accuracy"] is None


def test_a_missing_split_exits_2(tmp_path, capsys):
    run = make_run(tmp_path, SPIRALS_SPEC.replace("validation = 40", "validation = 0"))
    assert main(["evaluate", str(run), "--split", "validation"]) == 2
    assert "no validation set" in capsys.readouterr().err


def test_relative_data_paths_start_from_the_original_spec(tmp_path, capsys):
    """A spec naming its data relative to itself is evaluated from anywhere."""
    (tmp_path / "project").mkdir()
    text = SPIRALS_SPEC.replace(
        'dataset = { type = "spirals", classes = 2, points = 100 }',
        'dataset = { type = "csv", path = "points.csv", label_column = -1 }',
    ).replace("validation = 40", "validation = 10")
    rows = "\n".join(f"{i % 7 * 0.1},{i % 5 * 0.2},{i % 2}" for i in range(60))
    (tmp_path / "project" / "points.csv").write_text(rows + "\n")
    run = make_run(tmp_path / "project", text)
    moved = shutil.move(str(run), str(tmp_path / "elsewhere"))
    assert main(["evaluate", moved, "--split", "train"]) == 0
    assert "train accuracy" in capsys.readouterr().out


def test_not_a_run_folder(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 1
    assert "is " + str(tmp_path) + " a run folder?" in capsys.readouterr().err


def test_mnist_run_evaluates_to_its_own_test_accuracy(mnist_slice, tmp_path, capsys):
    spec = write_spec(
        tmp_path, SLICE_SPEC.format(path=mnist_slice).replace("epochs = 4", "epochs = 1")
    )
    assert main(["run", str(spec), "--out", str(tmp_path / "runs"), "--json", "--no-plots"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert main(["evaluate", result["run_dir"], "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["accuracy"] == result["test_accuracy"]
    assert evaluated["examples"] == 1000


def test_load_run_needs_no_registry(image_run):
    loaded = mlpspec.load_run(image_run)
    splits = loaded.data()
    assert loaded.predict(splits.x_test).shape == (90,)
    assert loaded.predict_proba(splits.x_test).shape == (90, 3)
    # raw images, preprocessed with the saved statistics, are what the run tested on
    raw = read_idx(Path(loaded.spec.data.dataset.params.path) / "t10k-images-idx3-ubyte")
    np.testing.assert_array_equal(loaded.preprocess(raw), splits.x_test)
    assert loaded.preprocess(raw[:0]).shape == (0, 64)


@pytest.mark.parametrize("missing", ["model.npz", "summary.json"])
def test_damaged_runs_are_reported(image_run, tmp_path, missing, capsys):
    run = shutil.copytree(image_run, tmp_path / "run")
    (run / missing).unlink()
    assert main(["evaluate", str(run)]) == 1
    assert missing in capsys.readouterr().err
