"""A tracker never costs a run: a store that cannot be reached, created or written is a
warning, the run finishes and saves as usual, and the warning says what was not logged."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
from mlflow_runs import free_port, history, run_tracked, runs_of

import mlpspec


def assert_saved_and_completed(result: mlpspec.RunResult) -> None:
    assert result.record.status == "completed"
    saved = json.loads((result.run_dir / "summary.json").read_text())
    assert saved["status"] == "completed"
    assert saved["warnings"] == result.record.warnings
    assert (result.run_dir / "model.npz").is_file()


def test_a_server_that_is_not_there_is_a_warning_at_once(spec_file, registry, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.perf_counter()
    result = run_tracked(
        mlpspec.load_spec(spec_file, registry), registry, tmp_path / "runs", uri, "x"
    )
    assert time.perf_counter() - started < 30  # not MLflow's minutes of retries
    assert_saved_and_completed(result)
    assert result.record.warnings == [
        f"mlflow: logging to {uri} failed at the start (no MLflow server answers at {uri} "
        "(ConnectionError)); nothing of this run was logged to MLflow"
    ]
    assert "mlflow" not in result.record.tracking


def test_a_store_that_cannot_be_created_is_a_warning(spec_file, registry, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    uri = f"sqlite:///{tmp_path / 'a-file' / 'mlflow.db'}"
    result = run_tracked(
        mlpspec.load_spec(spec_file, registry), registry, tmp_path / "runs", uri, "x"
    )
    assert_saved_and_completed(result)
    (warning,) = result.record.warnings
    assert warning.startswith(f"mlflow: logging to {uri} failed at the start (")
    assert warning.endswith("nothing of this run was logged to MLflow")


class LockTheStore:
    """Takes an exclusive lock on the SQLite store before the tracker logs ``at_epoch``, as
    another program holding the file would; released by the test."""

    def __init__(self, path: str, at_epoch: int) -> None:
        self.path, self.at_epoch = path, at_epoch
        self.connection: sqlite3.Connection | None = None

    @mlpspec.hookimpl(tryfirst=True)
    def mlpspec_run_evaluation(self, run: mlpspec.RunContext, evaluation) -> None:
        if evaluation.epoch == self.at_epoch:
            self.connection = sqlite3.connect(self.path, isolation_level=None)
            self.connection.execute("BEGIN EXCLUSIVE")


@pytest.mark.slow  # MLflow waits 20 s for a locked SQLite file before it gives up
def test_a_store_locked_in_the_middle_of_a_run_stops_the_logging_and_says_what_was_lost(
    spec_file, registry, tmp_path
):
    path = str(tmp_path / "mlflow.db")
    uri = f"sqlite:///{path}"
    lock = LockTheStore(path, at_epoch=2)
    try:
        result = run_tracked(
            mlpspec.load_spec(spec_file, registry), registry, tmp_path / "runs", uri, "locked",
            observers=[("lock", lock)],
        )  # fmt: skip
    finally:
        if lock.connection is not None:
            lock.connection.close()
    assert_saved_and_completed(result)
    run_id = result.record.tracking["mlflow"]
    (warning,) = result.record.warnings
    assert warning.startswith(f"mlflow: logging to {uri} failed at epoch 2's metrics (")
    assert "database is locked" in warning
    assert warning.endswith(
        f"not logged to MLflow run {run_id}: the metrics of epochs 2-6, the test metrics, "
        "the outcome's tags, the run folder's files, the final status FINISHED (it stays RUNNING)"
    )
    (run,) = runs_of(uri, "locked")
    assert run.info.status == "RUNNING"
    assert [step for step, _ in history(uri, run_id, "train_loss")] == [1]
