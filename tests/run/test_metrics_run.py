"""The metric kind end to end: named in a spec, recorded at every evaluation and in the
record, shown, monitored for early stopping, listed, and drawn."""

from __future__ import annotations

import json

import pytest

from mlpspec import SpecError, run, validate_spec
from mlpspec.cli.main import main
from mlpspec.core.spec import parse_toml

from ..conftest import SPIRALS_SPEC, make_run

METRICS = 'metrics = ["accuracy", { type = "top_k_accuracy", k = 1 }, "macro_f1", "log_loss"]'


def with_metrics(extra: str = "") -> str:
    return SPIRALS_SPEC.replace("batch_size = 16", f"batch_size = 16\n{METRICS}\n{extra}")


def test_every_metric_is_recorded_for_each_split_and_the_test_set(tmp_path, capsys):
    folder = make_run(tmp_path, with_metrics())
    lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    for name in ("loss", "accuracy", "top_k_accuracy", "macro_f1", "log_loss"):
        assert all(f"train_{name}" in line and f"val_{name}" in line for line in lines)
    # top-1 accuracy is accuracy
    assert all(line["val_top_k_accuracy"] == line["val_accuracy"] for line in lines)
    record = json.loads((folder / "summary.json").read_text())
    assert set(record["test"]) == {"loss", "accuracy", "top_k_accuracy", "macro_f1", "log_loss"}
    assert record["metrics"] == ["accuracy", "top_k_accuracy", "macro_f1", "log_loss"]
    assert record["best_val"]["log_loss"] == min(line["val_log_loss"] for line in lines)
    assert record["best_val"]["accuracy"] == max(line["val_accuracy"] for line in lines)
    for name in ("accuracy", "top_k_accuracy", "macro_f1", "log_loss", "loss"):
        assert (folder / f"{name}.png").stat().st_size > 5000


def test_the_progress_line_shows_every_metric(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text(with_metrics())
    assert main(["run", str(spec), "--no-save", "--no-plots"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("epoch 5/5"))
    assert "val loss" in line and "macro_f1" in line and "log_loss" in line


def test_early_stopping_monitors_a_metric_and_keeps_its_best_epoch(registry):
    text = with_metrics(
        'monitor = "val_log_loss"\nearly_stopping = true\npatience = 2'
    ).replace("epochs = 5", "epochs = 200").replace("lr = 0.1", "lr = 0.9")
    result = run(validate_spec(parse_toml(text), registry), registry, out_dir=None)
    history = result.history
    assert history.stopped_early and "val_log_loss did not improve" in history.stop_reason
    best = min(history.evaluations, key=lambda e: e.val["log_loss"])
    assert history.best_epoch == best.epoch == result.record.best_epoch
    maximize = with_metrics('monitor = "val_macro_f1"\nearly_stopping = true\npatience = 3')
    spec = validate_spec(parse_toml(maximize.replace("epochs = 5", "epochs = 60")), registry)
    result = run(spec, registry, out_dir=None)
    if result.history.stopped_early:
        best = max(result.history.evaluations, key=lambda e: e.val["macro_f1"])
        assert result.history.best_epoch == best.epoch


@pytest.mark.parametrize(
    ("extra", "place", "words"),
    [
        ('monitor = "val_f1"', "train.monitor", "'val_f1' is not recorded"),
        ('metrics = ["accuracy", "accuracy"]', "train.metrics[1]", "named twice"),
        ('metrics = ["acuracy"]', "train.metrics[0]", "did you mean 'accuracy'"),
        ('mode = "biggest"', "train.mode", "'min' or 'max'"),
    ],
)
def test_metric_settings_are_validated_at_their_place(registry, extra, place, words):
    text = SPIRALS_SPEC.replace("batch_size = 16", f"batch_size = 16\n{extra}")
    with pytest.raises(SpecError) as caught:
        validate_spec(parse_toml(text), registry)
    problems = {p.location: p.message for p in caught.value.problems}
    assert place in problems and words in problems[place], problems


def test_list_shows_the_metrics_and_their_package(capsys):
    assert main(["list", "metric"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("metrics:")
    for name in ("accuracy", "top_k_accuracy", "precision", "recall", "macro_f1", "log_loss"):
        assert f"  {name} " in out
    assert "from mlpspec" in out


def test_evaluate_gives_every_metric_again(tmp_path, capsys):
    folder = make_run(tmp_path, with_metrics())
    record = json.loads((folder / "summary.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(folder), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for name, value in record["test"].items():
        assert result[name] == value
