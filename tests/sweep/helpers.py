"""What the sweep tests share: small specs, a sweep file writer, the trials a sweep left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlpspec.cli.main import main

from ..conftest import ROOT, SPIRALS_SPEC, write_spec

SLOW_SPEC = """
[model]
name = "slow"
seed = 1

[data]
dataset = { type = "spirals", classes = 3, points = 2000, noise = 0.1 }
validation = 200

[[layers]]
type = "dense"
units = 64
activation = "tanh"

[[layers]]
type = "dense"
units = 3

[loss]
type = "softmax_cross_entropy"

[optimizer]
type = "sgd_momentum"
lr = 0.05

[train]
epochs = 40
batch_size = 16
"""
"""A trial of a few seconds: long enough to be stopped or killed in the middle."""

BOOM_PLUGIN = '''
from mlpspec import hookimpl


class Boom:
    def forward(self, z):
        raise RuntimeError("boom")

    def backward(self, z, a, grad_a):
        raise RuntimeError("boom")


@hookimpl
def mlpspec_register_activations(register):
    register("boom", lambda params: Boom())
'''


def sweep_file(folder: Path, table: str, base: str = SPIRALS_SPEC, name: str = "sweep") -> Path:
    """A sweep file extending ``base`` (written beside it as base.toml)."""
    write_spec(folder, base, "base.toml")
    return write_spec(folder, f'extends = "base.toml"\n{table}', f"{name}.toml")


def the_sweep(out: Path) -> Path:
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return folder


def trials(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "trials.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def run_cli(*args: str) -> int:
    return main(["sweep", *args])


def cli_process(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``mlpspec sweep ARGS`` in a process of its own (to be signalled or watched)."""
    environment = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "mlpspec", "sweep", *args],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def evaluations(run_dir: Path) -> list[int]:
    """The epochs of a run folder's evaluations, in order."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    lines = [line for line in path.read_text(encoding="utf-8").split("\n")[:-1] if line]
    return [json.loads(line)["epoch"] for line in lines]


def status(run_dir: Path) -> str | None:
    path = run_dir / "summary.json"
    return json.loads(path.read_text(encoding="utf-8"))["status"] if path.is_file() else None


def running_trials(folder: Path, min_evaluations: int = 2) -> list[Path]:
    """The trial folders still training that have evaluated at least this often."""
    return [
        run_dir
        for run_dir in sorted((folder / "trials").glob("*"))
        if status(run_dir) == "running" and len(evaluations(run_dir)) >= min_evaluations
    ]


def running_trial(folder: Path, min_evaluations: int = 2) -> Path | None:
    """One trial folder still training that has evaluated at least this often."""
    return next(iter(running_trials(folder, min_evaluations)), None)


def attempts(folder: Path, name: str) -> dict[int, list[int]]:
    """The pids that started each trial, from the study's journal."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    study = optuna.load_study(study_name=name, storage=storage)
    return {
        t.number: [v["pid"] for k, v in t.user_attrs.items() if k.startswith("attempt:")]
        for t in study.get_trials(deepcopy=False)
    }


COUNTING_PLUGIN = '''
import os
from pathlib import Path

from mlpspec import hookimpl
from mlpspec.builtins.datasets import SpiralParams, spirals


def counted(params, ctx):
    with open(Path(os.environ["LOADS_FILE"]), "a") as file:
        file.write(f"{os.getpid()}\\n")
    return spirals(params, ctx)


@hookimpl
def mlpspec_register_datasets(register):
    register("counted_spirals", counted, SpiralParams)
'''
"""A dataset that writes its worker's pid to $LOADS_FILE each time it is read."""
