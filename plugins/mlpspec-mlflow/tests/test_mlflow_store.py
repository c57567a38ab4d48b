"""Runs logged to a real MLflow store (SQLite in a temporary folder) and read back with
MlflowClient: params, tags, metric histories by epoch, files, and the status of a completed,
a failed, and an interrupted then resumed run; a sweep's trials under one parent run."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow_runs import EPOCHS, artifact_names, history, run_tracked, runs_of, tracker

import mlpspec

RUN_FILES = {"spec.toml", "metrics.jsonl", "summary.json", "components.json", "model.npz"}


def load(spec_file: Path, registry: mlpspec.Registry, **overrides) -> mlpspec.Spec:
    return mlpspec.load_spec(spec_file, registry, overrides)


def test_a_completed_run_is_logged_whole(spec_file, registry, tmp_path, store_uri, experiment):
    spec = load(spec_file, registry)
    result = run_tracked(spec, registry, tmp_path / "runs", store_uri, experiment)
    assert result.record.warnings == []
    (run,) = runs_of(store_uri, experiment)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == result.run_dir.name
    assert result.record.tracking["mlflow"] == run.info.run_id
    saved = json.loads((result.run_dir / "summary.json").read_text())
    assert saved["tracking"] == {"mlflow": run.info.run_id}  # kept for --resume

    params = run.data.params
    assert params["optimizer.type"] == "adam" and params["optimizer.lr"] == "0.02"
    assert params["layers.0.units"] == "24" and params["layers.1.units"] == "3"
    assert params["train.metrics.1.type"] == "macro_f1"
    assert params["train.early_stopping"] == "false"

    tags = run.data.tags
    assert tags["mlpspec.version"] == mlpspec.__version__
    assert tags["mlpspec.run_dir"] == str(result.run_dir.resolve())
    assert tags["mlpspec.component.optimizer.adam"].startswith("mlpspec-optim ")
    assert tags["mlpspec.component.layer.dense"] == f"mlpspec {mlpspec.__version__}"
    assert tags["mlpspec.status"] == "completed"

    run_id = run.info.run_id
    steps = list(range(1, EPOCHS + 1))
    evaluations = result.history.evaluations
    for key in ("train_loss", "val_loss", "train_accuracy", "val_macro_f1", "lr"):
        logged = history(store_uri, run_id, key)
        assert [step for step, _ in logged] == steps, key
        assert [value for _, value in logged] == pytest.approx(
            [e.to_dict()[key] for e in evaluations]
        )
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.test_accuracy)
    assert history(store_uri, run_id, "test_loss") == [(EPOCHS, pytest.approx(result.test_loss))]
    assert run.data.metrics["best_val_loss"] == pytest.approx(result.record.best_val["loss"])

    names = artifact_names(store_uri, run_id)
    assert RUN_FILES | {"predictions.npz"} <= names
    assert not {name for name in names if name.startswith(".") or name == "checkpoints"}
    client = MlflowClient(store_uri)
    logged_summary = Path(client.download_artifacts(run_id, "summary.json", str(tmp_path)))
    assert json.loads(logged_summary.read_text())["status"] == "completed"


def breaking_plugin(folder: Path, calls: int) -> str:
    """A plugin module whose activation raises on its ``calls``-th forward pass."""
    (folder / "breaking_plugin.py").write_text(
        "import numpy as np\n"
        "class Breaks:\n"
        "    calls = 0\n"
        "    def __init__(self, params):\n"
        "        pass\n"
        "    def forward(self, z):\n"
        "        Breaks.calls += 1\n"
        f"        if Breaks.calls >= {calls}:\n"
        "            raise RuntimeError('broken on purpose')\n"
        "        return np.tanh(z)\n"
        "    def backward(self, z, a, grad):\n"
        "        return grad * (1 - a * a)\n"
        "def mlpspec_register_activations(register):\n"
        "    register('test.breaks', Breaks)\n"
    )
    return "breaking_plugin"


def test_a_failed_run_is_failed_in_mlflow_with_its_reason_and_files(
    spec_file, tmp_path, store_uri, experiment, monkeypatch
):
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("breaking_plugin", None)
    # 37 forward passes an epoch (10 steps, and evaluations): it breaks in the third epoch
    registry = mlpspec.load_registry([breaking_plugin(tmp_path, calls=80)])
    spec = load(spec_file, registry, **{"layers[0].activation": "test.breaks"})
    with pytest.raises(mlpspec.MlpspecError) as failure:
        run_tracked(spec, registry, tmp_path / "runs", store_uri, experiment)
    assert failure.value.exit_code == 1
    (run,) = runs_of(store_uri, experiment)
    assert run.info.status == "FAILED"
    tags = run.data.tags
    assert tags["mlpspec.status"] == "failed"
    assert "broken on purpose" in tags["mlpspec.error"]
    assert tags["mlpspec.culprit"].startswith("layers[0].activation (activation 'test.breaks'")
    assert tags["mlpspec.component.activation.test.breaks"] == "breaking_plugin (local module)"
    assert [step for step, _ in history(store_uri, run.info.run_id, "train_loss")] == [1, 2]
    assert artifact_names(store_uri, run.info.run_id) >= RUN_FILES


class Interrupt:
    """Ctrl-C during an evaluation, as a user would press it: a real SIGINT to this process.
    ``times=2`` aborts at once (a second signal), without a checkpoint at that epoch; it is
    called after every other observer (trylast), so the tracker logs that epoch first."""

    def __init__(self, at_epoch: int, times: int = 1) -> None:
        self.at_epoch, self.times = at_epoch, times

    @mlpspec.hookimpl(trylast=True)
    def mlpspec_run_evaluation(self, run: mlpspec.RunContext, evaluation) -> None:
        if evaluation.epoch == self.at_epoch and not run.resumed:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)


def test_an_interrupted_run_is_killed_and_its_resumption_finishes_the_same_mlflow_run(
    spec_file, registry, tmp_path, store_uri, experiment
):
    spec = load(spec_file, registry)
    with pytest.raises(mlpspec.MlpspecError) as stopped:
        run_tracked(
            spec, registry, tmp_path / "runs", store_uri, experiment,
            observers=[("ctrl-c", Interrupt(at_epoch=2))],
        )  # fmt: skip
    assert stopped.value.exit_code == 128 + signal.SIGINT
    (run_dir,) = (tmp_path / "runs").iterdir()
    (run,) = runs_of(store_uri, experiment)
    assert run.info.status == "KILLED"
    assert run.data.tags["mlpspec.status"] == "interrupted"
    assert [step for step, _ in history(store_uri, run.info.run_id, "val_loss")] == [1, 2]
    assert artifact_names(store_uri, run.info.run_id) >= RUN_FILES

    result = mlpspec.resume(run_dir, registry, observers=[("mlflow", tracker(store_uri))])
    assert result.record.warnings == []
    (again,) = runs_of(store_uri, experiment)  # the same MLflow run, not a second one
    assert again.info.run_id == run.info.run_id
    assert again.info.status == "FINISHED"
    assert again.data.tags["mlpspec.status"] == "completed"
    assert [step for step, _ in history(store_uri, run.info.run_id, "val_loss")] == list(
        range(1, EPOCHS + 1)
    )
    assert "test_accuracy" in again.data.metrics


def test_epochs_logged_after_the_last_checkpoint_are_not_logged_twice_on_resume(
    spec_file, registry, tmp_path, store_uri, experiment
):
    """Aborted at epoch 3 with its last checkpoint at epoch 2, the resumed run trains epoch
    3 again: MLflow already has it, from the same state, and keeps one value per epoch."""
    spec = load(spec_file, registry, **{"train.checkpoint_every": 2})
    with pytest.raises(mlpspec.MlpspecError):
        run_tracked(
            spec, registry, tmp_path / "runs", store_uri, experiment,
            observers=[("ctrl-c", Interrupt(at_epoch=3, times=2))],
        )  # fmt: skip
    (run_dir,) = (tmp_path / "runs").iterdir()
    (run,) = runs_of(store_uri, experiment)
    before = history(store_uri, run.info.run_id, "train_loss")
    assert [step for step, _ in before] == [1, 2, 3]

    mlpspec.resume(run_dir, registry, observers=[("mlflow", tracker(store_uri))])
    after = history(store_uri, run.info.run_id, "train_loss")
    assert [step for step, _ in after] == list(range(1, EPOCHS + 1))
    assert after[:3] == before  # epoch 3 kept as first logged (the resumed value is the same)


def test_a_run_resumed_with_the_tracker_gets_its_earlier_epochs_from_the_run_folder(
    spec_file, registry, tmp_path, store_uri, experiment
):
    """Interrupted while not tracked, resumed with --track mlflow: the MLflow run still has
    every epoch, the ones before the checkpoint read from metrics.jsonl."""
    with pytest.raises(mlpspec.MlpspecError):
        mlpspec.run(
            load(spec_file, registry), registry, out_dir=tmp_path / "runs",
            observers=[("ctrl-c", Interrupt(at_epoch=2))],
        )  # fmt: skip
    (run_dir,) = (tmp_path / "runs").iterdir()
    observers = [("mlflow", tracker(store_uri, experiment))]
    result = mlpspec.resume(run_dir, registry, observers=observers)
    (run,) = runs_of(store_uri, experiment)
    assert run.info.status == "FINISHED"
    assert run.info.run_id == result.record.tracking["mlflow"]
    assert [step for step, _ in history(store_uri, run.info.run_id, "train_loss")] == list(
        range(1, EPOCHS + 1)
    )


def test_a_run_without_a_folder_logs_everything_but_files(
    spec_file, registry, store_uri, experiment
):
    result = run_tracked(load(spec_file, registry), registry, None, store_uri, experiment)
    assert result.record.warnings == []
    (run,) = runs_of(store_uri, experiment)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "tracked"
    assert "mlpspec.run_dir" not in run.data.tags
    assert run.data.params["optimizer.lr"] == "0.02"
    assert artifact_names(store_uri, run.info.run_id) == set()


def test_a_sweeps_trials_are_children_of_one_parent_run_finished_with_them(
    spec_file, registry, tmp_path, store_uri, experiment
):
    sweep = tmp_path / "sweeps" / "lr-20260101-000000"
    sweep.mkdir(parents=True)
    spec = load(spec_file, registry, **{"train.epochs": 2})
    for trial in ("0", "1"):
        labels = {"sweep": str(sweep), "sweep_name": "lr", "trial": trial}
        out = sweep / "trials" / trial
        run_tracked(spec, registry, out, store_uri, experiment, labels=labels)
    other = {"sweep": str(tmp_path / "another"), "sweep_name": "other", "trial": "0"}
    run_tracked(spec, registry, None, store_uri, experiment, labels=other)

    runs = runs_of(store_uri, experiment)
    names = sorted(run.info.run_name for run in runs)
    assert names == ["lr", "other", "trial 0", "trial 0", "trial 1"]
    parents = [run for run in runs if "mlpspec.sweep_parent" in run.data.tags]
    assert sorted(parent.info.run_name for parent in parents) == ["lr", "other"]
    lr = next(parent for parent in parents if parent.info.run_name == "lr")
    assert lr.info.status == "FINISHED"
    assert lr.data.tags["mlpspec.sweep"] == str(sweep)
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == lr.info.run_id]
    assert sorted(run.data.tags["mlpspec.label.trial"] for run in children) == ["0", "1"]
    assert {run.info.run_name for run in children} == {"trial 0", "trial 1"}


def test_a_deleted_experiment_is_a_warning_and_the_run_goes_on(
    spec_file, registry, tmp_path, store_uri, experiment
):
    client = MlflowClient(store_uri)
    client.delete_experiment(client.create_experiment(experiment))
    spec = load(spec_file, registry)
    result = run_tracked(spec, registry, tmp_path / "runs", store_uri, experiment)
    assert result.record.status == "completed"
    (warning,) = result.record.warnings
    assert f"experiment {experiment!r} is deleted" in warning
    assert "nothing of this run was logged to MLflow" in warning
    assert "mlflow" not in result.record.tracking


def test_trials_looking_for_their_sweeps_parent_at_the_same_moment_find_one(
    store_uri, experiment, tmp_path
):
    """The lookup and the creation of a sweep's parent are one step for every process (and
    thread) of the machine: trials released together make one parent, not one each."""
    from mlpspec_mlflow.store import Store

    store = Store(store_uri)
    experiment_id = store.experiment_id(experiment)
    trials = 6
    together = threading.Barrier(trials)
    parents: list[str] = []

    def trial() -> None:
        together.wait()
        parents.append(store.sweep_parent(experiment_id, str(tmp_path), "together", {}))

    threads = [threading.Thread(target=trial) for _ in range(trials)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(parents) == trials
    assert len(set(parents)) == 1
    assert [run.info.run_name for run in runs_of(store_uri, experiment)] == ["together"]
