"""Run folders under concurrency and foreign state (attack report D6, D11, D15): one writer
per folder, checkpoints checked against the spec and the model before anything is written,
and a second signal still recorded."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mlpspec import DataError, run, validate_spec
from mlpspec.core.errors import Interrupted, UsageError
from mlpspec.core.spec import parse_toml
from mlpspec.run import checkpoint
from mlpspec.run.rundir import exclusive
from mlpspec.run.runner import resume

from ..test_resume import RESUMABLE_SPEC, StopInFirstEpoch, start, wait_for_metrics, write_spec


@pytest.fixture
def stopped(registry, tmp_path) -> Path:
    """A run stopped after its first epoch, with one checkpoint; copy-free, made per test."""
    spec = validate_spec(parse_toml(RESUMABLE_SPEC), registry)
    with pytest.raises(Interrupted):
        run(spec, registry, out_dir=tmp_path, callbacks=[StopInFirstEpoch()])
    (folder,) = tmp_path.iterdir()
    return folder


def rewrite(path: Path, change) -> None:
    """Rewrite a checkpoint's arrays and meta through ``change(arrays, meta)``."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(bytes(arrays.pop("meta")))
    meta = change(arrays, meta)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    path.write_bytes(buffer.getvalue())


def untouched(folder: Path):
    """The folder's files and their bytes: a refused resume must leave them as they were."""
    return {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != ".lock"}


def test_a_checkpoint_of_another_spec_is_refused_before_anything_is_written(stopped, registry):
    spec_file = stopped / "spec.toml"
    spec_file.write_text(spec_file.read_text().replace("lr = 0.05", "lr = 0.5"))
    before = untouched(stopped)
    with pytest.raises(DataError, match="made for another spec"):
        resume(stopped, registry)
    assert untouched(stopped) == before


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda a, m: m | {"epochs_run": -5}, "epochs_run"),
        (lambda a, m: [m], "malformed checkpoint"),
        (lambda a, m: {k: v for k, v in m.items() if k != "plan"}, "plan"),
        (lambda a, m: m | {"epochs_run": 99, "steps": 99 * 100}, "do not fit a plan"),
        (lambda a, m: m | {"evaluations": [{"epoch": "x"}]}, "malformed checkpoint"),
        (lambda a, m: m | {"evaluations": [{"epoch": 1}]}, "does not fit"),
        (lambda a, m: m | {"generators": {"sampling": {"bit_generator": "MT"}}}, "does not fit"),
    ],
)
def test_a_malformed_checkpoint_is_refused_with_its_reason(stopped, registry, change, reason):
    (path,) = checkpoint.find(stopped)
    rewrite(path, lambda arrays, meta: change(arrays, meta))
    before = untouched(stopped)
    with pytest.raises(DataError, match=reason):
        resume(stopped, registry)
    assert untouched(stopped) == before


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.update({"model/layers.0.weight": a["model/layers.0.weight"].astype(float)}),
        lambda a: a.update({"optimizer/velocity.0": np.zeros((3, 3), np.float32)}),
        lambda a: a.update({"optimizer/velocity.1": np.full(64, np.nan, np.float32)}),
        lambda a: a.pop("last_good/layers.1.bias"),
    ],
)
def test_arrays_that_do_not_fit_the_model_are_refused(stopped, registry, change):
    (path,) = checkpoint.find(stopped)

    def edit(arrays, meta):
        change(arrays)
        return meta

    rewrite(path, edit)
    with pytest.raises(DataError, match="does not fit this run"):
        resume(stopped, registry)


def test_a_malformed_newest_checkpoint_falls_back_to_an_older_usable_one(registry, tmp_path):
    text = RESUMABLE_SPEC.replace("epochs = 20", "epochs = 6\ncheckpoint_every = 2")
    folder = run(validate_spec(parse_toml(text), registry), registry, out_dir=tmp_path).run_dir
    older, newest = checkpoint.find(folder)
    rewrite(newest, lambda arrays, meta: meta | {"epochs_run": -5})
    record = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps(record | {"status": "running"}))
    assert resume(folder, registry).record.resumed_at_epoch == [2]
    assert older.name == "epoch-0002.npz"


def test_one_writer_per_run_folder(stopped, registry):
    """A second resume while one holds the folder is refused, never two writers (D6)."""
    busy = pytest.raises(UsageError, match="another mlpspec process")
    with exclusive(stopped, "run folder"), busy:
        resume(stopped, registry)
    assert resume(stopped, registry).record.status == "completed"


def test_two_resumes_at_once_from_the_command_line(stopped):
    command = [sys.executable, "-m", "mlpspec", "run", "--resume", str(stopped), "-q"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    statuses = sorted(p.returncode for p in (first, second))
    assert statuses == [0, 2], outputs
    assert any("another mlpspec process" in err for _, err in outputs)
    lines = (stopped / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, 21))


@pytest.mark.parametrize(
    ("first", "second"), [(signal.SIGTERM, signal.SIGTERM), (signal.SIGINT, signal.SIGTERM)]
)
def test_a_second_signal_aborts_but_the_run_is_recorded(tmp_path, first, second):
    """D15: the abort is recorded as interrupted, with the weights of the last good
    evaluation, and the exit status is the second signal's."""
    text = RESUMABLE_SPEC.replace("epochs = 20", "epochs = 2000")
    spec_path = write_spec(tmp_path, text)
    process = start(spec_path, tmp_path / "runs")
    folder = wait_for_metrics(tmp_path / "runs", 1, process)
    os.kill(process.pid, first)
    time.sleep(0.01)
    os.kill(process.pid, second)
    _, err = process.communicate(timeout=60)
    # exit status 128 + n, or (when the second signal lands after the outcome is saved and the
    # handlers are back to the default) death by that signal, which a shell also shows as 128 + n
    assert process.returncode in (128 + second, -second), err
    assert "Traceback" not in err
    record = json.loads((folder / "summary.json").read_text())
    # the signal that stopped training: the second, or the first when the second came late
    assert record["status"] == "interrupted"
    assert record["signal"] in {signal.Signals(first).name, signal.Signals(second).name}
    with np.load(folder / "model.npz", allow_pickle=False) as saved:
        assert all(np.all(np.isfinite(saved[k])) for k in saved.files)
