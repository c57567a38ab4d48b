"""Callbacks that belong to the engine: early stopping on a monitored value.

The run layer adds its own (the metrics file, checkpoints, signals, run hooks) and the
command line its progress display; all share :class:`~mlpspec.engine.training.Callback`.
"""

from __future__ import annotations

import math
from typing import Literal

from mlpspec.engine.training import Callback, Evaluation, Trainer, TrainerState

Mode = Literal["min", "max"]


class EarlyStopping(Callback):
    """Stop when ``monitor`` (``val_loss``, ``val_accuracy``...) has not improved for
    ``patience`` evaluations in a row, and end with the weights of its best evaluation.

    Refuses, when built, a trainer with no rows for a validation monitor: the rule lives where
    the rows are known, so a spec that leaves none fails before training rather than after.
    """

    key = "early_stopping"

    def __init__(self, monitor: str, mode: Mode, patience: int) -> None:
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.best_state: dict | None = None
        self.worse = 0

    def on_train_start(self, trainer: Trainer) -> None:
        if self.monitor.startswith("val_") and trainer.splits.x_val is None:
            raise ValueError(
                f"early stopping monitors {self.monitor}, but there is no validation set"
            )

    def on_evaluation(self, trainer: Trainer, evaluation: Evaluation) -> None:
        value = evaluation.value(self.monitor)
        if value is None:
            raise ValueError(f"early stopping monitors {self.monitor!r}, which is not recorded")
        if value < self.best if self.mode == "min" else value > self.best:
            self.best, self.best_epoch, self.worse = value, evaluation.epoch, 0
            self.best_state = trainer.last_good
            trainer.history.best_epoch = evaluation.epoch
            return
        self.worse += 1
        if self.worse >= self.patience:
            trainer.request_stop(
                f"{self.monitor} did not improve for {self.patience} evaluation"
                f"{'s' if self.patience != 1 else ''}"
            )

    def on_train_end(self, trainer: Trainer) -> None:
        if trainer.history.stopped_early and self.best_state is not None:
            trainer.model.load_state(self.best_state)

    def state_dict(self) -> TrainerState:
        arrays = {f"best/{k}": a for k, a in (self.best_state or {}).items()}
        meta = {"best": self.best, "best_epoch": self.best_epoch, "worse": self.worse}
        return TrainerState(arrays, meta)

    def load_state_dict(self, state: TrainerState) -> None:
        self.best = float(state.meta["best"])
        self.best_epoch = state.meta["best_epoch"]
        self.worse = int(state.meta["worse"])
        best = state.section("best")
        self.best_state = best or None
