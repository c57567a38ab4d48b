"""Sweeps on a real Dask cluster, started here on 127.0.0.1 (``dask scheduler`` and two
``dask worker`` processes, as the README starts one) and stopped at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers import (
    SLOW_SPEC,
    attempts,
    cli_process,
    run_cli,
    running_trials,
    status,
    sweep_file,
    the_sweep,
    trials,
    wait_until,
)

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
pytestmark = pytest.mark.slow


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]


def _dask(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "dask"), *args]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A scheduler and two single-threaded worker processes on 127.0.0.1. The workers run
    without a nanny, so that killing one is a worker lost, not a worker restarted."""
    environment = os.environ | {
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }
    address_file = tmp_path / "scheduler.json"
    log = open(tmp_path / "cluster.log", "wb")  # noqa: SIM115 (closed at the end)
    scheduler = subprocess.Popen(
        _dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(address_file)),
        env=environment, stdout=log, stderr=log,
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        wait_until(lambda: address_file.is_file() and address_file.stat().st_size, "scheduler",
                   timeout=60)
        address = json.loads(address_file.read_text())["address"]
        workers = [
            subprocess.Popen(
                _dask("worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                      "--host", "127.0.0.1"),
                env=environment, stdout=log, stderr=log,
            )
            for _ in range(2)
        ]
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield Cluster(address, scheduler, workers)
    finally:
        for process in [*workers, scheduler]:
            process.send_signal(signal.SIGTERM)
        for process in [*workers, scheduler]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


SWEEP = """
[sweep]
metric = "val_accuracy"
trials = 5
sampler = "random"
[sweep.parameters]
"optimizer.lr" = { distribution = "log_uniform", min = 0.01, max = 0.1 }
"""


def test_a_dask_cluster_runs_the_trials_and_a_killed_worker_loses_one(tmp_path, cluster):
    path = sweep_file(tmp_path, SWEEP, base=SLOW_SPEC)
    out = tmp_path / "sweeps"
    process = cli_process(str(path), "--dask", cluster.address, "--out", str(out), cwd=tmp_path)
    victim_pid = cluster.workers[0].pid
    try:
        folder = wait_until(lambda: out.is_dir() and any(out.iterdir()) and the_sweep(out),
                            "the sweep folder")

        def trial_of_the_victim() -> int | None:
            # two trials run at once, one a worker: the victim's need not be the first
            for run_dir in running_trials(folder):
                if victim_pid in attempts(folder, "sweep").get(int(run_dir.name), []):
                    return int(run_dir.name)
            return None

        number = wait_until(trial_of_the_victim, "a trial in the middle on the first worker")
        cluster.workers[0].kill()
        stdout, stderr = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    found = {t["number"]: t for t in trials(folder)}
    assert sorted(found) == [0, 1, 2, 3, 4]  # every trial recorded, none twice
    lost = found.pop(number)
    assert lost["state"] == "failed" and lost["pid"] == victim_pid
    assert lost["reason"].startswith("lost: the worker running it (")
    assert f"pid {victim_pid}) died" in lost["reason"]
    assert status(folder / "trials" / f"{number:04d}") == "failed"
    assert all(t["state"] == "complete" for t in found.values())
    survivor = cluster.workers[1].pid
    assert {t["pid"] for t in found.values()} <= {victim_pid, survivor}
    assert any(t["pid"] == survivor for t in found.values())
    assert f"trial {number:>4}  failed" in stdout
    record = json.loads((folder / "sweep.json").read_text())
    assert record["executor"].startswith(f"the Dask cluster at {cluster.address} (2 workers")


def test_an_address_with_no_scheduler_is_bad_input(tmp_path, capsys):
    path = sweep_file(tmp_path, SWEEP)
    out = tmp_path / "sweeps"
    assert run_cli(str(path), "--dask", "tcp://127.0.0.1:9", "--out", str(out)) == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert not out.exists()
