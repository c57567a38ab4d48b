"""The executor contract: where a sweep's trials run.

The coordinator (``mlpspec sweep``) asks the study for trials and hands each to an executor as
a :class:`~mlpspec.sweep.trial.TrialTask`; the executor runs
:func:`~mlpspec.sweep.trial.run_trial` on it in some worker process and gives back its
:class:`~mlpspec.sweep.trial.TrialOutcome`. mlpspec has two (``local``: processes on this
machine; ``dask``: the workers of a Dask cluster); a package adds another (Ray, Slurm) with the
``mlpspec_register_executors`` hook: ``register(name, factory, params=ParamsModel)``, where
``factory(params)`` returns an :class:`Executor`. ``mlpspec sweep --executor NAME`` uses it,
built with its params' defaults.

What an executor must do:

- run each trial in a process of its own (never in the coordinator), single-threaded:
  ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` set to 1 before numpy
  loads, and mlpspec's own pool kept to one thread (``MLPSPEC_THREADS=1``, or
  :func:`mlpspec.engine.parallel.use_threads` in a process that has loaded it already), so
  that N trials on N cores do not fight over them;
- give the worker a ``should_stop`` that turns true after :meth:`Executor.interrupt`;
- report a trial whose worker died as an outcome with status ``lost`` (never drop it);
- raise from :meth:`Executor.wait` (an :class:`ExecutorError`) when a worker cannot run trials
  at all, that is when :func:`run_trial` raised instead of returning an outcome.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from mlpspec.core.errors import MlpspecError
from mlpspec.sweep.trial import TrialOutcome, TrialTask


class ExecutorError(MlpspecError):
    """The executor cannot run trials (no workers, a worker that cannot see the sweep)."""


class Executor(ABC):
    """Runs trials in worker processes; see the module for the contract."""

    @abstractmethod
    def start(self) -> None:
        """Start or connect to the workers; an :class:`MlpspecError` saying why if it cannot."""

    @abstractmethod
    def slots(self) -> int:
        """How many more trials the workers can take now."""

    @abstractmethod
    def submit(self, task: TrialTask) -> None:
        """Start ``run_trial(task, should_stop)`` in a free worker."""

    @abstractmethod
    def wait(self, timeout: float) -> list[TrialOutcome]:
        """The outcomes of trials that ended since the last call, waiting up to ``timeout``
        seconds for one when none has."""

    @abstractmethod
    def interrupt(self) -> None:
        """Ask every running trial to stop at its epoch's end, with a checkpoint (its outcome:
        ``interrupted``); called again, stop them sooner if the executor can."""

    @abstractmethod
    def close(self) -> None:
        """Release the workers; called once, however the sweep ended."""

    @abstractmethod
    def describe(self) -> str:
        """Where the trials run, for the console: ``2 local worker processes``."""
