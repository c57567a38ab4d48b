"""Sweeps: search a space of specs with Optuna, on this machine's cores or on a Dask cluster.

A sweep file is a spec (usually ``extends = "base.toml"``) with a ``[sweep]`` table
(:mod:`mlpspec.sweep.file`); ``mlpspec sweep FILE`` runs its trials, each a normal run folder,
in worker processes (:mod:`mlpspec.sweep.executors`), coordinated through an Optuna journal in
the sweep's folder (:mod:`mlpspec.sweep.study`). Executors are plugins: the contract is
:class:`Executor`. Optuna is the ``sweep`` extra, ``distributed`` the ``dask`` one; neither is
imported until a sweep runs.

From Python::

    from mlpspec.sweep import load_sweep, check_sweep, create_sweep, run_sweep
    from mlpspec.sweep.executors import LocalExecutor

    sweep = load_sweep("specs/sweeps/mnist_lr_width.toml")
    check_sweep(sweep, registry)
    folder = create_sweep(sweep, Path("sweeps"), registry)
    result = run_sweep(folder, registry, LocalExecutor(workers=2))
    result.best          # the best trial's TrialRecord; result.best_spec: best.toml
"""

from mlpspec.sweep.executor import Executor, ExecutorError
from mlpspec.sweep.file import SweepFile, check_sweep, load_sweep
from mlpspec.sweep.records import SweepRecord, TrialRecord
from mlpspec.sweep.study import SweepOptions, SweepResult, create_sweep, run_sweep
from mlpspec.sweep.trial import TrialOutcome, TrialTask, run_trial

__all__ = [
    "Executor",
    "ExecutorError",
    "SweepFile",
    "SweepOptions",
    "SweepRecord",
    "SweepResult",
    "TrialOutcome",
    "TrialRecord",
    "TrialTask",
    "check_sweep",
    "create_sweep",
    "load_sweep",
    "run_sweep",
    "run_trial",
]
