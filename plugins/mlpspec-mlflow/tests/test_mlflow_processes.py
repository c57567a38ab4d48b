"""In processes of their own, as users run them: ``mlpspec run --track mlflow`` logging to
./mlflow.db with its plots, and a sweep's trials starting together in parallel processes,
which must share one parent run."""

from __future__ import annotations

import subprocess
import sys

import pytest
from mlflow_runs import PLOTS, artifact_names, environment, history, runs_of


@pytest.mark.slow  # a new process imports MLflow and creates the store's tables: ~10 s
def test_track_mlflow_logs_to_mlflow_db_in_the_current_folder_with_the_plots(spec_file, tmp_path):
    pytest.importorskip("matplotlib")
    done = subprocess.run(
        [sys.executable, "-m", "mlpspec", "run", str(spec_file), "--track", "mlflow", "-q"],
        cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    assert not (tmp_path / "mlruns" / "0" / "meta.yaml").exists()  # not the old file store
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (run,) = runs_of(uri, "tracked")  # the spec's model.name
    assert run.info.status == "FINISHED"
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run.data.tags["mlpspec.run_dir"] == str(run_dir.resolve())
    logged = artifact_names(uri, run.info.run_id)
    assert {"spec.toml", "summary.json", "model.npz", *PLOTS} <= logged


TRIAL = """
import sys, time
from pathlib import Path

import mlpspec
import mlpspec_mlflow.store  # MLflow is imported before the trials line up to start together
from mlpspec_mlflow import MlflowTracker, TrackerParams

spec_path, uri, experiment, sweep, trial, trials = sys.argv[1:]
registry = mlpspec.load_registry()
spec = mlpspec.load_spec(spec_path, registry, {"train.epochs": 2})
(Path(sweep) / f".ready-{trial}").touch()
while len(list(Path(sweep).glob(".ready-*"))) < int(trials):
    time.sleep(0.01)
tracker = MlflowTracker(TrackerParams(tracking_uri=uri, experiment=experiment))
result = mlpspec.run(
    spec, registry, out_dir=Path(sweep) / "trials" / trial, observers=[("mlflow", tracker)],
    labels={"sweep": sweep, "sweep_name": "race", "trial": trial},
)
print(result.record.warnings)
"""


@pytest.mark.slow  # three processes importing MLflow on two cores: ~15 s
def test_trials_starting_together_in_parallel_processes_share_one_parent_run(
    spec_file, tmp_path
):
    """Each trial looks for its sweep's parent run and creates it if there is none: done at
    the same moment by several processes, that must still make one parent, and one
    experiment, in a store none of them had created yet."""
    uri, trials = f"sqlite:///{tmp_path / 'mlflow.db'}", 3
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    arguments = [str(spec_file), uri, "race", str(sweep)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", TRIAL, *arguments, str(trial), str(trials)],
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for trial in range(trials)
    ]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert out.strip() == "[]", err  # no warnings: every trial was logged
    runs = runs_of(uri, "race")
    parents = [run for run in runs if "mlpspec.sweep_parent" in run.data.tags]
    assert len(parents) == 1
    (parent,) = parents
    assert parent.info.status == "FINISHED"
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId")]
    assert sorted(run.info.run_name for run in children) == ["trial 0", "trial 1", "trial 2"]
    assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parent.info.run_id}
    for child in children:
        assert [step for step, _ in history(uri, child.info.run_id, "train_loss")] == [1, 2]
