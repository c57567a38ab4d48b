"""The parts of a sweep on their own: the objective of a run, the space's values, the run
folder a trial is given, the executors as plugins, and the command line's refusals."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from mlpspec import load_spec, run
from mlpspec.cli.main import main
from mlpspec.core.errors import UsageError
from mlpspec.engine.training import Evaluation
from mlpspec.run.record import Examples, RunRecord
from mlpspec.sweep.executor import ExecutorError
from mlpspec.sweep.executors import LocalExecutor
from mlpspec.sweep.records import TrialRecord, best, ranked
from mlpspec.sweep.space import Parameter, Range, Values
from mlpspec.sweep.trial import objective

from ..conftest import SPIRALS_SPEC, write_spec
from .helpers import run_cli, sweep_file


def evaluation(epoch: int, accuracy: float) -> Evaluation:
    val = {"loss": 1.0, "accuracy": accuracy}
    return Evaluation(epoch, epoch * 10, 0.1, 0.0, {"loss": 1.0}, val)


def record(**outcome: object) -> RunRecord:
    return RunRecord(name="r", features=2, classes=["a", "b"], examples=Examples(train=1),
                     status="completed", **outcome)


def test_the_objective_is_the_kept_model_s_value():
    history = [evaluation(1, 0.5), evaluation(2, 0.9), evaluation(3, 0.7)]
    assert objective(history, record(), "val_accuracy") == 0.7  # the last evaluation
    early = record(stop_reason="val_loss did not improve for 1 evaluation", best_epoch=2)
    assert objective(history, early, "val_accuracy") == 0.9  # the weights early stopping kept
    pruned = record(stop_reason="pruned at epoch 3 by the median pruner", best_epoch=2)
    assert objective(history, pruned, "val_accuracy") == 0.7  # where the pruner stopped it
    assert objective(history, record(), "val_top_k_accuracy") is None
    assert objective([evaluation(1, float("nan"))], record(), "val_accuracy") is None
    assert objective([], record(), "val_accuracy") is None


def test_values_of_every_kind_go_to_the_study_and_come_back():
    listed = Parameter(path="x", form=Values(values=[8, "tanh", {"type": "normal"}, [1, 2]]))
    assert listed.form.choices == [8, "tanh", '{"type":"normal"}', "[1,2]"]
    for choice, value in zip(listed.form.choices, listed.form.values, strict=True):
        assert listed.value_of(choice) == value
    assert listed.distribution().choices == (8, "tanh", '{"type":"normal"}', "[1,2]")
    units = Parameter(path="u", form=Range(distribution="log_int_uniform", min=4, max=64))
    assert units.value_of(16.0) == 16 and isinstance(units.value_of(16.0), int)
    assert units.distribution().log and units.log
    assert Range(distribution="uniform", min=0, max=1).corners() == [0.0, 1.0]


def test_trials_rank_best_first_then_pruned_then_failed():
    trials = [
        TrialRecord(number=0, params={}, state="complete", value=0.8),
        TrialRecord(number=1, params={}, state="failed"),
        TrialRecord(number=2, params={}, state="pruned", value=0.95),
        TrialRecord(number=3, params={}, state="complete", value=0.9),
        TrialRecord(number=4, params={}, state="complete", value=0.9),
    ]
    assert [t.number for t in ranked(trials, "maximize")] == [3, 4, 0, 2, 1]
    assert [t.number for t in ranked(trials, "minimize")] == [0, 3, 4, 2, 1]
    assert best(trials, "maximize").number == 3  # the first of equals
    assert best(trials[1:3], "maximize") is None


def test_a_run_can_be_given_its_exact_folder_once(registry, tmp_path):
    spec = load_spec(write_spec(tmp_path, SPIRALS_SPEC), registry, {"train.epochs": 1})
    folder = tmp_path / "trials" / "0003"
    result = run(spec, registry, run_dir=folder)
    assert result.run_dir == folder and (folder / "summary.json").is_file()
    with pytest.raises(UsageError, match="holds a run already"):
        run(spec, registry, run_dir=folder)


def test_the_executors_are_plugins_listed_like_any_component(capsys):
    assert main(["list", "executor"]) == 0
    out = capsys.readouterr().out
    assert "local" in out and "Trials in worker processes on this machine" in out
    assert "dask" in out and "address: str (required)" in out
    assert main(["check", "executor:local", "executor:dask"]) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "executor 'local': workers: Input should be greater than 0"),
        (["--executor", "ray"], "unknown executor 'ray'"),
        (["--executor", "local", "--dask", "tcp://h:1"], "--dask runs the trials with the dask"),
        (["--executor", "dask"], "executor 'dask': address: Field required"),
        (["--dask", "tcp://h:1", "--workers", "2"], "--workers does not apply to the dask"),
    ],
)
def test_executor_options_that_do_not_fit_are_bad_input(tmp_path, capsys, args, message):
    path = sweep_file(tmp_path, '[sweep]\nmetric = "val_loss"\ntrials = 2\n'
                      '[sweep.parameters]\n"optimizer.lr" = { values = [0.1, 0.2] }\n')
    assert run_cli(str(path), "--out", str(tmp_path / "sweeps"), *args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "sweeps").exists()


def test_resume_wants_a_sweep_folder_and_sweep_wants_one_of_file_or_resume(tmp_path, capsys):
    assert run_cli("--resume", str(tmp_path)) == 2
    assert "not a sweep folder (it has no sweep.toml)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        run_cli()
    assert caught.value.code == 2
    assert "give a SWEEP_FILE to run, or --resume SWEEP_DIR" in capsys.readouterr().err


def test_a_sweep_folder_in_use_or_that_cannot_be_locked_is_refused_naming_it(
    tmp_path, capsys, monkeypatch, registry
):
    from mlpspec.run import rundir
    from mlpspec.sweep.file import load_sweep
    from mlpspec.sweep.study import create_sweep

    table = """
[sweep]
metric = "val_loss"
sampler = "grid"
[sweep.parameters]
"model.seed" = { values = [1] }
"""
    sweep = load_sweep(sweep_file(tmp_path, table))
    folder = create_sweep(sweep, tmp_path / "sweeps", registry)
    with rundir.exclusive(folder, "sweep folder"):
        assert run_cli("--resume", str(folder)) == 2
    assert "another mlpspec process is using this sweep folder" in capsys.readouterr().err

    def refuse(self, timeout=None):
        raise PermissionError(13, "Permission denied", str(folder / rundir.LOCK))

    monkeypatch.setattr(rundir.FileLock, "acquire", refuse)
    assert run_cli("--resume", str(folder)) == 1
    assert "cannot lock the sweep folder" in capsys.readouterr().err


def test_a_local_worker_that_cannot_start_is_an_error_not_a_lost_trial(monkeypatch):
    monkeypatch.setattr(sys, "executable", shutil.which("false"))
    executor = LocalExecutor(1)
    executor.start()
    try:
        with pytest.raises(ExecutorError, match="exited with status 1 before running a trial"):
            for _ in range(50):
                assert executor.wait(0.2) == []
    finally:
        executor.close()


def test_without_optuna_a_sweep_says_which_extra_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    path = sweep_file(tmp_path, '[sweep]\nmetric = "val_loss"\ntrials = 2\n'
                      '[sweep.parameters]\n"optimizer.lr" = { values = [0.1, 0.2] }\n')
    assert run_cli(str(path), "--out", str(tmp_path / "sweeps")) == 1
    assert "pip install 'mlpspec[sweep]'" in capsys.readouterr().err
    assert not (tmp_path / "sweeps").exists()
    assert main(["validate", str(path)]) == 0  # checking a sweep file needs no Optuna


FAULTS = """
import resource, sys
import numpy as np
from mlpspec.sweep.executors import _roomy_heap
if sys.argv[1] == "roomy":
    _roomy_heap()
np.ones(1 << 18)  # 2 MiB: numpy and malloc settled
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    np.ones(1 << 18).sum()  # a 2 MiB temporary, made and freed, as a training step does
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings")
def test_a_dask_worker_s_trim_threshold_no_longer_maps_every_large_temporary():
    environment = os.environ | {"MALLOC_TRIM_THRESHOLD_": "65536"}  # as Dask's nanny sets it

    def faults(mode: str) -> int:
        command = [sys.executable, "-c", FAULTS, mode]
        return int(subprocess.run(command, env=environment, capture_output=True, text=True,
                                  check=True).stdout)

    churn, roomy = faults("as-is"), faults("roomy")
    assert churn > 50 * 400  # each 2 MiB array mapped and faulted in again: 512 pages
    assert roomy < churn / 10
