"""The callbacks a run adds to training: the metrics file, checkpoints, signals, run hooks.

Each does one thing at the points of :class:`~mlpspec.engine.training.Callback`; the runner
passes them to the Trainer when it builds it, in this order: signals (so that a stop asked
for during an epoch is known at its end), the metrics file, checkpoints, run hooks.
"""

from __future__ import annotations

from pathlib import Path

from mlpspec.core.hooks import RunHooks
from mlpspec.engine.training import Callback, Evaluation, Trainer
from mlpspec.run import checkpoint
from mlpspec.run.interrupt import StopRequest
from mlpspec.run.record import RunContext
from mlpspec.run.rundir import RunDirectory


class StopOnSignal(Callback):
    """At an epoch's end, turn a SIGINT or SIGTERM received during it into a stop."""

    def __init__(self, request: StopRequest) -> None:
        self.request = request

    def on_epoch_end(self, trainer: Trainer, epochs_done: int) -> None:
        if self.request.signum is not None:
            trainer.request_interrupt(self.request.signum)


class MetricsFile(Callback):
    """Append every evaluation to the run folder's ``metrics.jsonl`` as it happens."""

    def __init__(self, folder: RunDirectory) -> None:
        self.folder = folder

    def on_evaluation(self, trainer: Trainer, evaluation: Evaluation) -> None:
        self.folder.append_metrics(evaluation.to_dict())


class Checkpoints(Callback):
    """Write a checkpoint every ``every`` epochs (if set) and when training is to stop on a
    signal, keeping the latest ``keep``."""

    def __init__(self, folder: Path, fingerprint: str, every: int | None, keep: int) -> None:
        self.folder, self.fingerprint, self.every, self.keep = folder, fingerprint, every, keep

    def on_epoch_end(self, trainer: Trainer, epochs_done: int) -> None:
        due = bool(self.every) and epochs_done % self.every == 0
        if due or trainer.interrupt_requested:
            checkpoint.write(self.folder, trainer, self.fingerprint, self.keep)


class RunHookEvents(Callback):
    """Tell the run hooks of every evaluation, and let them stop training (a pruner)."""

    def __init__(self, hooks: RunHooks, context: RunContext) -> None:
        self.hooks, self.context = hooks, context

    def on_train_start(self, trainer: Trainer) -> None:
        self.context.stop = trainer.request_stop

    def on_evaluation(self, trainer: Trainer, evaluation: Evaluation) -> None:
        failures = self.hooks.call(
            "mlpspec_run_evaluation", run=self.context, evaluation=evaluation
        )
        self.context.record.warn(*failures)
