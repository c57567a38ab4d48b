"""Logging over HTTP to a real ``mlflow server``, started by the test on 127.0.0.1 (a free
port, its own SQLite store and artifact folder) and stopped at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient
from mlflow_runs import (
    EPOCHS,
    PLOTS,
    artifact_names,
    environment,
    free_port,
    history,
    run_tracked,
    runs_of,
)

import mlpspec

pytestmark = pytest.mark.slow  # the server takes seconds to start

@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The server's URI and its artifact folder."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    artifacts, uri = folder / "artifacts", f"http://127.0.0.1:{free_port()}"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination", str(artifacts),
        "--host", "127.0.0.1", "--port", uri.rsplit(":", 1)[1],
        "--workers", "1",
    ]  # fmt: skip
    # MLflow's job executor (background jobs of its GenAI features: a dozen processes) is
    # not needed to log runs
    quiet = environment(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    with (folder / "server.log").open("w") as log:
        process = subprocess.Popen(
            command, cwd=folder, env=quiet, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers too are stopped, as one process group
        )  # fmt: skip
        try:
            wait_until_up(uri, process, folder / "server.log")
            yield uri, artifacts
        finally:
            stop(process)


def wait_until_up(uri: str, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mlflow server exited ({process.returncode}):\n{log.read_text()}")
        try:
            if requests.get(f"{uri}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    pytest.fail(f"mlflow server did not answer at {uri} in {timeout} s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, then SIGKILL to whatever of it is left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait(timeout=30)


def test_a_run_is_logged_over_http_with_its_files_in_the_servers_artifact_store(
    server, spec_file, registry, tmp_path, experiment
):
    uri, artifacts = server
    spec = mlpspec.load_spec(spec_file, registry)
    result = run_tracked(spec, registry, tmp_path / "runs", uri, experiment)
    assert result.record.warnings == []
    (run,) = runs_of(uri, experiment)
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # served by the server
    assert run.data.params["layers.0.units"] == "24"
    assert run.data.tags["mlpspec.component.optimizer.adam"].startswith("mlpspec-optim ")
    logged = history(uri, run.info.run_id, "val_accuracy")
    assert [step for step, _ in logged] == list(range(1, EPOCHS + 1))
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.test_accuracy)

    assert {"spec.toml", "summary.json", "model.npz", "metrics.jsonl"} <= artifact_names(
        uri, run.info.run_id
    )
    on_server = {path.name for path in artifacts.rglob("*") if path.is_file()}
    assert {"spec.toml", "model.npz"} <= on_server
    downloaded = MlflowClient(uri).download_artifacts(run.info.run_id, "spec.toml", str(tmp_path))
    assert Path(downloaded).read_bytes() == (result.run_dir / "spec.toml").read_bytes()


def test_the_command_line_logs_a_run_and_its_plots_to_the_server(
    server, spec_file, tmp_path, experiment
):
    """``MLPSPEC_TRACK``, ``MLFLOW_TRACKING_URI`` and ``MLFLOW_EXPERIMENT_NAME`` as a shell
    sets them; with ``--json``, stdout holds JSON lines only (MLflow's link to the run, which
    it prints as it ends a run on a server, goes to stderr)."""
    pytest.importorskip("matplotlib")
    uri, _ = server
    command = ["run", str(spec_file), "--json", "--set", "train.epochs=2"]
    done = subprocess.run(
        [sys.executable, "-m", "mlpspec", *command],
        cwd=tmp_path,
        env=environment(
            MLPSPEC_TRACK="mlflow", MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_NAME=experiment
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["event"] for line in lines] == ["evaluation", "evaluation", "result"]
    (run,) = runs_of(uri, experiment)
    assert f"/runs/{run.info.run_id}" in done.stderr
    assert run.info.status == "FINISHED"
    assert artifact_names(uri, run.info.run_id) >= PLOTS
    summary = MlflowClient(uri).download_artifacts(run.info.run_id, "summary.json", str(tmp_path))
    assert json.loads(Path(summary).read_text())["tracking"] == {"mlflow": run.info.run_id}


def test_a_sweeps_trials_nest_under_one_parent_on_the_server(
    server, spec_file, registry, tmp_path, experiment
):
    uri, _ = server
    spec = mlpspec.load_spec(spec_file, registry, {"train.epochs": 2})
    sweep = tmp_path / "sweep"
    for trial in ("0", "1"):
        labels = {"sweep": str(sweep), "sweep_name": "over-http", "trial": trial}
        run_tracked(spec, registry, None, uri, experiment, labels=labels)
    runs = runs_of(uri, experiment)
    (parent,) = [run for run in runs if run.info.run_name == "over-http"]
    assert parent.info.status == "FINISHED"
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId")]
    assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parent.info.run_id}
    assert sorted(run.info.run_name for run in children) == ["trial 0", "trial 1"]
