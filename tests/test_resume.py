"""Interruption and resume: a real signal to a real process, then ``run --resume``, must end
with the weights and metrics of a run that was never interrupted, bit for bit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mlpspec import run, validate_spec
from mlpspec.core.errors import Interrupted, UsageError
from mlpspec.core.spec import parse_toml
from mlpspec.engine.training import Callback, Trainer
from mlpspec.run import checkpoint
from mlpspec.run.builder import build_optimizer
from mlpspec.run.interrupt import stop_on_signals
from mlpspec.run.runner import resume

from .conftest import write_spec

# about 0.07 s an epoch on two cores: long enough to signal mid-run, short enough for CI;
# dropout, momentum, a scheduler and early stopping all carry state across epochs
RESUMABLE_SPEC = """
[model]
name = "resumable"
seed = 7

[data]
dataset = { type = "spirals", classes = 3, points = 2000 }
validation = 400

[[layers]]
type = "dense"
units = 64
activation = "tanh"
dropout = 0.1

[[layers]]
type = "dense"
units = 3

[loss]
type = "softmax_cross_entropy"

[optimizer]
type = "sgd_momentum"
lr = 0.05

[scheduler]
type = "exponential"
final_lr = 0.01

[train]
epochs = 20
batch_size = 16
early_stopping = true
patience = 40
"""

# wall-clock times, and where each run was started from
WALL_CLOCK = {"seconds", "train_seconds", "started", "resumed_at_epoch"}


def metrics(folder: Path) -> list[dict]:
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]


WHERE_FROM = {"spec", "spec_dir"}
"""Where each run's spec file was: the two runs compared start from different folders."""


def summary(folder: Path) -> dict:
    data = json.loads((folder / "summary.json").read_text())
    return {k: v for k, v in data.items() if k not in WALL_CLOCK | WHERE_FROM}


def assert_same_run(a: Path, b: Path) -> None:
    with np.load(a / "model.npz") as first, np.load(b / "model.npz") as second:
        assert first.files == second.files
        for name in first.files:
            assert np.array_equal(first[name], second[name]), name
    assert metrics(a) == metrics(b)
    assert summary(a) == summary(b)


class StopInFirstEpoch(Callback):
    """Ask for a stop during the first epoch, as a SIGINT would: the run checkpoints at the
    epoch's end and stops."""

    def on_step_end(self, trainer: Trainer, epoch: int, done: int, total: int) -> None:
        if epoch == 0:
            trainer.request_interrupt(signal.SIGINT)


def resume_with_cli(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlpspec", "run", "--resume", str(folder), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def reference(registry, tmp_path_factory) -> Path:
    """The same spec, trained without interruption."""
    out = tmp_path_factory.mktemp("reference")
    spec = validate_spec(parse_toml(RESUMABLE_SPEC), registry)
    return run(spec, registry, out_dir=out).run_dir


def start(spec_path: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mlpspec", "run", str(spec_path), "--out", str(out), "-q", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_metrics(out: Path, lines: int, process: subprocess.Popen) -> Path:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        for path in out.glob("*/metrics.jsonl"):
            if path.read_bytes().count(b"\n") >= lines:
                return path.parent
        time.sleep(0.01)
    raise AssertionError("the run wrote no metrics in time")


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signalled_run_resumes_to_the_uninterrupted_result(tmp_path, reference, signum, status):
    spec_path = write_spec(tmp_path, RESUMABLE_SPEC)
    process = start(spec_path, tmp_path / "runs")
    folder = wait_for_metrics(tmp_path / "runs", 1, process)
    os.kill(process.pid, signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    assert "Traceback" not in err
    assert f"resume with: mlpspec run --resume {folder}" in err
    stopped = json.loads((folder / "summary.json").read_text())
    assert stopped["status"] == "interrupted"
    assert stopped["signal"] == signal.Signals(signum).name
    assert 1 <= stopped["epochs_run"] < 20  # stopped early, at an epoch boundary
    assert checkpoint.find(folder)[-1].name == f"epoch-{stopped['epochs_run']:04d}.npz"
    assert len(metrics(folder)) == stopped["epochs_run"]

    resumed = resume_with_cli(folder)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(reference, folder)
    done = json.loads((folder / "summary.json").read_text())
    assert done["resumed_at_epoch"] == [stopped["epochs_run"]]


def test_a_killed_run_resumes_from_its_last_periodic_checkpoint(tmp_path, reference):
    """SIGKILL gives no chance to clean up: the periodic checkpoint is all there is."""
    spec_path = write_spec(tmp_path, RESUMABLE_SPEC)
    process = start(spec_path, tmp_path / "runs", "--set", "train.checkpoint_every=3")
    folder = wait_for_metrics(tmp_path / "runs", 7, process)
    process.kill()
    process.communicate(timeout=60)
    assert json.loads((folder / "summary.json").read_text())["status"] == "running"
    newest = checkpoint.find(folder)[-1]
    assert len(metrics(folder)) >= int(newest.stem.split("-")[1])  # metrics ran ahead of it
    result = resume_with_cli(folder)
    assert result.returncode == 0, result.stderr
    # checkpoint_every is in this run's resolved spec but not the reference's
    with np.load(reference / "model.npz") as a, np.load(folder / "model.npz") as b:
        assert all(np.array_equal(a[name], b[name]) for name in a.files)
    assert metrics(reference) == metrics(folder)


def test_checkpoints_every_n_epochs_keep_the_last_k(tmp_path, registry):
    text = RESUMABLE_SPEC.replace("epochs = 20", "epochs = 10\ncheckpoint_every = 2")
    text = text.replace("patience = 40", "patience = 40\nkeep_checkpoints = 3")
    folder = run(validate_spec(parse_toml(text), registry), registry, out_dir=tmp_path).run_dir
    assert [p.name for p in checkpoint.find(folder)] == [
        "epoch-0004.npz",
        "epoch-0006.npz",
        "epoch-0008.npz",
    ]
    with np.load(checkpoint.find(folder)[-1], allow_pickle=False) as archive:
        meta = json.loads(bytes(archive["meta"]))
        assert meta["epochs_run"] == 8 and len(meta["evaluations"]) == 8
        assert {
            "model/layers.0.weight",
            "optimizer/velocity.0",
            "callbacks/early_stopping/best/layers.0.weight",
        } <= set(archive.files)
        assert set(meta["generators"]) == {"sampling", "layers.0", "layers.1"}


@pytest.mark.parametrize("key", ["checkpoint_every", "keep_checkpoints"])
@pytest.mark.parametrize("value", [0, -1, "2", 1.5])
def test_checkpoint_settings_are_validated(registry, key, value):
    from mlpspec import SpecError

    data = parse_toml(RESUMABLE_SPEC)
    data["train"][key] = value
    with pytest.raises(SpecError) as caught:
        validate_spec(data, registry)
    assert [p.location for p in caught.value.problems] == [f"train.{key}"]


def test_in_process_resume_after_a_stop_request(tmp_path, registry, reference):
    """The same guarantee from Python, stopping after the first epoch; the signal handlers
    are put back afterwards."""
    spec = validate_spec(parse_toml(RESUMABLE_SPEC), registry)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as caught:
        run(spec, registry, out_dir=tmp_path, callbacks=[StopInFirstEpoch()])
    assert caught.value.exit_code == 130
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    (folder,) = tmp_path.iterdir()
    resume(folder, registry)
    assert_same_run(reference, folder)


def test_optimizer_state_restores_before_the_first_step(registry):
    """Momentum creates its velocities on the first step: an empty state must load too."""
    spec = validate_spec(parse_toml(RESUMABLE_SPEC), registry)
    optimizer = build_optimizer(spec, registry)
    assert optimizer.state() == {}
    optimizer.load_state({})
    from mlpspec.core.components import Parameter

    p = Parameter(np.ones(3))
    p.grad[:] = 1.0
    optimizer.step([p], 0.1)
    assert np.allclose(p.value, 0.9)


def test_resuming_a_completed_run_or_a_folder_without_checkpoint_is_refused(
    tmp_path, registry, reference
):
    from mlpspec import DataError

    with pytest.raises(UsageError, match="nothing to resume"):
        resume(reference, registry)
    text = RESUMABLE_SPEC.replace("epochs = 20", "epochs = 1")
    folder = run(validate_spec(parse_toml(text), registry), registry, out_dir=tmp_path).run_dir
    data = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps(data | {"status": "running"}))
    with pytest.raises(DataError, match="no checkpoint to resume from"):
        resume(folder, registry)


def test_an_unreadable_newest_checkpoint_falls_back_to_the_one_before(tmp_path, registry):
    text = RESUMABLE_SPEC.replace("epochs = 20", "epochs = 6\ncheckpoint_every = 2")
    folder = run(validate_spec(parse_toml(text), registry), registry, out_dir=tmp_path).run_dir
    assert [p.name for p in checkpoint.find(folder)] == ["epoch-0002.npz", "epoch-0004.npz"]
    newest = checkpoint.find(folder)[-1]
    newest.write_bytes(newest.read_bytes()[:100])
    data = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps(data | {"status": "running"}))
    assert resume(folder, registry).record.resumed_at_epoch == [2]


def test_signal_handlers_are_restored_and_a_second_signal_aborts():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.signum == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before


class _Plateau:
    """A stateful scheduler, as a plugin might have: it counts the steps it was asked about."""

    def __init__(self) -> None:
        self.calls = np.zeros(1)

    def lr(self, epoch: int, step: int) -> float:
        self.calls += 1
        return 0.05

    def state(self) -> dict[str, np.ndarray]:
        return {"calls": self.calls}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.calls = state["calls"].copy()


def test_a_stateful_scheduler_and_every_generator_are_checkpointed(registry):
    from mlpspec.run.builder import Builder, load_data
    from mlpspec.run.runner import _trainer

    text = RESUMABLE_SPEC.replace("epochs = 20", "iterations = 400")
    spec = validate_spec(parse_toml(text), registry)

    def trainer() -> Trainer:
        built = _trainer(Builder(spec, registry), load_data(spec, registry))
        built.scheduler = _Plateau()
        return built

    first = trainer()
    first.callbacks.append(StopInFirstEpoch())
    with pytest.raises(Interrupted):
        first.fit()
    second = trainer()
    second.load_state_dict(first.state_dict())
    assert second.scheduler.calls[0] == first.scheduler.calls[0] > 0
    assert second.rng.bit_generator.state == first.rng.bit_generator.state
    for name, generator in first.model.generators.items():
        assert second.model.generators[name].bit_generator.state == generator.bit_generator.state
    assert second.history.steps == 350 and second.history.epochs_run == 1


def test_a_signal_after_the_last_epoch_lets_the_run_complete_and_save(
    tmp_path, registry, monkeypatch
):
    import mlpspec.engine.training as training

    text = RESUMABLE_SPEC.replace("epochs = 20", "epochs = 2")
    original = training.Trainer.evaluate

    def signalled(self, epoch, *args):
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # during the last evaluation
        return original(self, epoch, *args)

    monkeypatch.setattr(training.Trainer, "evaluate", signalled)
    result = run(validate_spec(parse_toml(text), registry), registry, out_dir=tmp_path)
    assert json.loads((result.run_dir / "summary.json").read_text())["status"] == "completed"
    assert result.test_accuracy is not None


@pytest.mark.parametrize(
    "argv",
    [["run"], ["run", "spec.toml", "--resume", "runs/x"], ["run", "--resume", "x", "--set", "a=1"]],
)
def test_run_takes_a_spec_or_resume_not_both(argv, capsys):
    from mlpspec.cli.main import main

    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "--resume" in capsys.readouterr().err


def test_a_resumed_run_finds_relative_data_from_the_original_spec_folder(
    tmp_path, registry, monkeypatch
):
    """A spec naming its data by a relative path is resumed from another folder."""

    project = tmp_path / "project"
    project.mkdir()
    rng = np.random.default_rng(0)
    np.savez(
        project / "points.npz",
        x_train=rng.standard_normal((200, 2)),
        y_train=rng.integers(0, 2, 200),
    )
    text = (
        RESUMABLE_SPEC.replace(
            'dataset = { type = "spirals", classes = 3, points = 2000 }',
            'dataset = { type = "npz", path = "points.npz" }',
        )
        .replace("validation = 400", "validation = 40")
        .replace("units = 3", "units = 2")
    )
    spec_path = write_spec(project, text)
    from mlpspec import load_spec

    with pytest.raises(Interrupted):
        run(
            load_spec(spec_path, registry),
            registry,
            out_dir=tmp_path / "runs",
            callbacks=[StopInFirstEpoch()],
        )
    monkeypatch.chdir(tmp_path)  # neither the spec's folder nor the run's
    (folder,) = (tmp_path / "runs").iterdir()
    result = resume(folder, registry)
    assert result.history.epochs_run == 20
