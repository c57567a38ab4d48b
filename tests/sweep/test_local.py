"""Sweeps on local worker processes: every trial recorded once, failures and pruning kept,
a killed worker costing one trial, and Ctrl-C then ``--resume`` losing none."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from mlpspec import load_run
from mlpspec.cli.main import main
from mlpspec.core.spec import read_toml

from ..conftest import SPIRALS_SPEC, png_size
from .helpers import (
    BOOM_PLUGIN,
    COUNTING_PLUGIN,
    SLOW_SPEC,
    attempts,
    cli_process,
    evaluations,
    run_cli,
    running_trial,
    status,
    sweep_file,
    the_sweep,
    trials,
    wait_until,
)

pytestmark = pytest.mark.slow

FAILING = """
[sweep]
metric = "val_loss"
sampler = "grid"
[sweep.parameters]
"optimizer.lr" = { values = [0.05, 1e30] }
"layers[0].activation" = { values = ["relu", "boom"] }
"model.seed" = { values = [1, 2] }
"""


def test_two_workers_run_every_grid_point_once_and_record_failures(
    tmp_path, monkeypatch, capsys
):
    (tmp_path / "boomplug.py").write_text(BOOM_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))  # the workers get the coordinator's path
    path = sweep_file(tmp_path, FAILING)
    out = tmp_path / "sweeps"
    assert run_cli(str(path), "--workers", "2", "--out", str(out), "--plugin", "boomplug") == 0
    printed = capsys.readouterr().out
    folder = the_sweep(out)
    found = trials(folder)
    assert sorted(t["number"] for t in found) == list(range(8))
    points = {(t["params"]["optimizer.lr"], t["params"]["layers[0].activation"],
               t["params"]["model.seed"]) for t in found}
    assert len(points) == 8  # the grid, each point exactly once
    for trial in found:
        lr, activation = trial["params"]["optimizer.lr"], trial["params"]["layers[0].activation"]
        run_dir = folder / trial["run_dir"]
        assert status(run_dir) == ("completed" if trial["state"] == "complete" else "failed")
        if activation == "boom":
            assert trial["state"] == "failed"
            assert "layers[0].activation (activation 'boom' from boomplug" in trial["reason"]
            assert "RuntimeError: boom" in trial["reason"]
        elif lr > 1:
            assert trial["state"] == "failed" and "the loss became nan" in trial["reason"]
        else:
            assert trial["state"] == "complete" and trial["value"] > 0
            assert load_run(run_dir).record.status == "completed"  # a normal run folder
    assert len({t["pid"] for t in found}) == 2  # both workers ran trials
    assert "8 trials: 2 complete, 6 failed" in printed
    # best.toml stands alone, and is the best trial's spec
    best = min((t for t in found if t["state"] == "complete"), key=lambda t: t["value"])
    saved = read_toml(folder / "best.toml")
    assert "extends" not in saved and "sweep" not in saved
    assert saved["model"]["seed"] == best["params"]["model.seed"]
    assert main(["run", str(folder / "best.toml"), "--no-save", "-q"]) == 0
    for name in ("history.png", "parameters.png", "parallel.png"):
        assert png_size(folder / name)[0] > 300
    record = json.loads((folder / "sweep.json").read_text())
    assert record["status"] == "completed" and record["executor"] == "2 local worker processes"


RANDOM = """
[sweep]
metric = "val_accuracy"
trials = 4
sampler = "random"
seed = 11
[sweep.parameters]
"optimizer.lr" = { distribution = "log_uniform", min = 0.001, max = 0.5 }
"layers[0].units" = { distribution = "int_uniform", min = 2, max = 32 }
"""


def test_the_random_sampler_with_one_worker_is_reproducible(tmp_path, capsys):
    path = sweep_file(tmp_path, RANDOM)
    runs = []
    for out in (tmp_path / "one", tmp_path / "two"):
        assert run_cli(str(path), "--workers", "1", "--out", str(out), "--json") == 0
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [line["event"] for line in lines] == ["trial"] * 4 + ["sweep_result"]
        runs.append([(t["number"], t["params"], t["value"]) for t in trials(the_sweep(out))])
        result = lines[-1]
        assert result["status"] == "completed" and result["trials"]["complete"] == 4
        assert Path(result["best_spec"]).is_file()
    assert runs[0] == runs[1]
    assert len({str(params) for _, params, _ in runs[0]}) == 4
    assert all(isinstance(params["layers[0].units"], int) for _, params, _ in runs[0])


PRUNED = """
[sweep]
metric = "val_accuracy"
sampler = "grid"
pruner = "median"
[sweep.parameters]
"optimizer.lr" = { values = [0.2, 0.0002] }
"model.seed" = { values = [1, 2, 3, 4, 5, 6] }
"train.epochs" = { value = 12 }
"""


def test_the_median_pruner_stops_poor_trials_and_says_at_which_epoch(tmp_path):
    path = sweep_file(tmp_path, PRUNED)
    out = tmp_path / "sweeps"
    assert run_cli(str(path), "--workers", "1", "--out", str(out)) == 0
    folder = the_sweep(out)
    found = trials(folder)
    pruned = [t for t in found if t["state"] == "pruned"]
    assert pruned, found
    for trial in pruned:
        assert trial["params"]["optimizer.lr"] == 0.0002
        assert trial["epochs"] == trial["pruned_at"] < 12
        summary = json.loads((folder / trial["run_dir"] / "summary.json").read_text())
        assert summary["status"] == "completed"
        assert summary["stop_reason"] == (
            f"pruned at epoch {trial['pruned_at']} by the median pruner"
        )
        assert evaluations(folder / trial["run_dir"])[-1] == trial["pruned_at"]
    assert all(t["state"] == "complete" for t in found if t["params"]["optimizer.lr"] == 0.2)


KILLED = """
[sweep]
metric = "val_accuracy"
trials = 4
sampler = "random"
[sweep.parameters]
"optimizer.lr" = { distribution = "log_uniform", min = 0.01, max = 0.1 }
"""


def test_a_worker_killed_mid_trial_loses_that_trial_only(tmp_path):
    path = sweep_file(tmp_path, KILLED, base=SLOW_SPEC)
    out = tmp_path / "sweeps"
    process = cli_process(str(path), "--workers", "2", "--out", str(out), cwd=tmp_path)
    try:
        folder = wait_until(lambda: out.is_dir() and any(out.iterdir()) and the_sweep(out),
                            "the sweep folder")
        victim = wait_until(lambda: running_trial(folder), "a trial in the middle")
        number = int(victim.name)
        pid = wait_until(lambda: attempts(folder, "sweep").get(number), "its worker's pid")[0]
        os.kill(pid, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    found = {t["number"]: t for t in trials(folder)}
    assert sorted(found) == [0, 1, 2, 3]
    lost = found.pop(number)
    assert lost["state"] == "failed" and lost["pid"] == pid
    assert lost["reason"] == f"lost: its worker process (pid {pid}) died, killed by SIGKILL"
    assert lost["epochs"] >= 2
    assert status(victim) == "failed"  # not left "running"
    assert all(t["state"] == "complete" for t in found.values())
    assert f"trial {number:>4}  failed" in stdout


INTERRUPTED = """
[sweep]
metric = "val_accuracy"
trials = 5
sampler = "random"
[sweep.parameters]
"optimizer.lr" = { distribution = "log_uniform", min = 0.01, max = 0.1 }
"""


def test_ctrl_c_stops_cleanly_and_resume_loses_no_trial_and_runs_none_twice(tmp_path):
    path = sweep_file(tmp_path, INTERRUPTED, base=SLOW_SPEC)
    out = tmp_path / "sweeps"
    process = cli_process(str(path), "--workers", "2", "--out", str(out), cwd=tmp_path)
    try:
        folder = wait_until(lambda: out.is_dir() and any(out.iterdir()) and the_sweep(out),
                            "the sweep folder")
        wait_until(lambda: running_trial(folder, min_evaluations=3), "a trial in the middle")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "trials:" in stdout  # the table of what finished, before the advice
    assert f"continue it with: mlpspec sweep --resume {folder}" in stderr
    stopped = [p for p in (folder / "trials").iterdir() if status(p) == "interrupted"]
    assert stopped and all((p / "checkpoints").is_dir() for p in stopped)
    before = {t["number"] for t in trials(folder)}
    assert len(before) < 5
    assert json.loads((folder / "sweep.json").read_text())["status"] == "interrupted"

    assert run_cli("--resume", str(folder), "--workers", "2") == 0
    found = trials(folder)
    assert sorted(t["number"] for t in found) == [0, 1, 2, 3, 4]
    for trial in found:
        run_dir = folder / trial["run_dir"]
        assert trial["state"] == "complete"
        assert evaluations(run_dir) == list(range(1, 41))  # every epoch once
    for run_dir in stopped:
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "completed" and len(summary["resumed_at_epoch"]) == 1
    assert json.loads((folder / "sweep.json").read_text())["status"] == "completed"


def test_a_worker_reads_and_prepares_the_data_once_for_all_its_trials(
    tmp_path, monkeypatch, capsys
):
    (tmp_path / "countplug.py").write_text(COUNTING_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    loads = tmp_path / "loads.txt"
    monkeypatch.setenv("LOADS_FILE", str(loads))
    base = SPIRALS_SPEC.replace('type = "spirals"', 'type = "counted_spirals"')
    table = """
[sweep]
metric = "val_loss"
sampler = "grid"
[sweep.parameters]
"optimizer.lr" = { values = [0.05, 0.1] }
"layers[0].units" = { values = [4, 8] }
"""
    path = sweep_file(tmp_path, table, base=base)
    out = tmp_path / "sweeps"
    assert run_cli(str(path), "--workers", "1", "--out", str(out), "--plugin", "countplug") == 0
    assert [t["state"] for t in trials(the_sweep(out))] == ["complete"] * 4
    pids = loads.read_text().split()
    assert len(pids) == 1, pids  # four trials, one read
