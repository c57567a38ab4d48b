"""The training loop: batches, steps, evaluations, early stopping, numerical faults, and
stopping cleanly at an epoch boundary to checkpoint."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np

from mlpspec.core.components import Array, Optimizer, Scheduler
from mlpspec.core.errors import TrainingError
from mlpspec.core.spec import TrainSection
from mlpspec.data import Splits
from mlpspec.engine.model import Model, one_hot
from mlpspec.run.interrupt import Interrupted, StopRequest


@dataclass(frozen=True)
class Plan:
    """How long training runs, worked out from the spec and the size of the training set."""

    batch_size: int
    steps_per_epoch: int
    total_steps: int
    epochs: int

    @classmethod
    def of(cls, train: TrainSection, examples: int) -> Plan:
        batch = examples if train.batch_size == "full" else min(train.batch_size, examples)
        if train.sampling == "replacement":
            steps_per_epoch = max(examples // batch, 1)
        else:
            steps_per_epoch = math.ceil(examples / batch)
        total = train.iterations or train.epochs * steps_per_epoch
        return cls(batch, steps_per_epoch, total, math.ceil(total / steps_per_epoch))


@dataclass(frozen=True)
class Evaluation:
    """The metrics of one evaluation, after ``epoch`` epochs (``step`` steps) of training."""

    epoch: int
    step: int
    lr: float
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass
class History:
    """What happened in training: every evaluation and how it ended."""

    plan: Plan
    evaluations: list[Evaluation] = field(default_factory=list)
    epochs_run: int = 0
    steps: int = 0
    stopped_early: bool = False
    best_epoch: int | None = None
    seconds: float = 0.0


@dataclass
class LoopState:
    """Everything the rest of a run depends on besides the model, the optimizer, the scheduler
    and the random generators: what a checkpoint saves, and what a resumed run starts from.

    ``history.epochs_run`` and ``history.steps`` count what is done; ``history.seconds`` is the
    training time so far (wall clock: not part of the bit-for-bit guarantee).
    """

    history: History
    last_good: dict[str, Array]
    """The weights of the last evaluation with a finite loss: a numerical fault goes back here."""
    best_loss: float = math.inf
    best_state: dict[str, Array] | None = None
    worse: int = 0
    """Evaluations in a row without a lower validation loss (early stopping's patience)."""


class Reporter(Protocol):
    """Receives progress as training goes; the console display is one such reporter."""

    def start(self, plan: Plan) -> None: ...

    def epoch_progress(self, epoch: int, done: int, total: int) -> None: ...

    def evaluation(self, evaluation: Evaluation, plan: Plan) -> None: ...

    def end(self, history: History) -> None: ...


class Silent:
    """A reporter that reports nothing."""

    def start(self, plan: Plan) -> None:
        pass

    def epoch_progress(self, epoch: int, done: int, total: int) -> None:
        pass

    def evaluation(self, evaluation: Evaluation, plan: Plan) -> None:
        pass

    def end(self, history: History) -> None:
        pass


class Trainer:
    """Runs the optimization a spec's ``[train]`` section describes."""

    def __init__(
        self,
        model: Model,
        optimizer: Optimizer,
        scheduler: Scheduler | None,
        splits: Splits,
        train: TrainSection,
        rng: np.random.Generator,
        reporter: Reporter | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.splits = splits
        self.train = train
        self.rng = rng
        self.reporter = reporter or Silent()
        self.plan = Plan.of(train, len(splits.x_train))
        self.targets = one_hot(splits.y_train, len(splits.classes), model.dtype)
        self.state = LoopState(History(self.plan), model.snapshot())
        self.stop: StopRequest | None = None
        """Set by the caller to stop at the next epoch boundary when a signal arrives."""
        self.checkpoint: Callable[[Trainer], None] | None = None
        """Called at epoch boundaries (every ``train.checkpoint_every`` epochs, and on a stop)."""

    def lr(self, epoch: int, step: int) -> float:
        return self.optimizer.lr if self.scheduler is None else self.scheduler.lr(epoch, step)

    def batches(self, epoch_steps: int) -> Iterator[tuple[Array, Array]]:
        """One epoch's batches: views of the data in order, or rows gathered by fancy indexing
        when the order is random (the dataset itself is never copied). Gathering into a reused
        array (``np.take(..., out=)``) measured twice as slow as ``x[rows]`` here."""
        x, t, size = self.splits.x_train, self.targets, self.plan.batch_size
        if self.train.sampling == "sequential":
            for start in range(0, epoch_steps * size, size):
                yield x[start : start + size], t[start : start + size]
            return
        if self.train.sampling == "replacement":
            chosen = (self.rng.integers(0, len(x), size) for _ in range(epoch_steps))
        else:
            order = self.rng.permutation(len(x))
            chosen = (order[start : start + size] for start in range(0, epoch_steps * size, size))
        for rows in chosen:
            yield x[rows], t[rows]

    def fit(self) -> History:
        """Train to the end of the plan, or until early stopping or a numerical fault."""
        # overflow shows up as a non-finite loss, which stops the run with a clear message
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._fit()

    def _fit(self) -> History:
        plan, state = self.plan, self.state
        history = state.history
        self.reporter.start(plan)
        started = time.perf_counter() - history.seconds
        step = history.steps
        for epoch in range(history.epochs_run, plan.epochs):
            step, lr = self.train_epoch(epoch, step)
            history.epochs_run, history.steps = epoch + 1, step
            history.seconds = time.perf_counter() - started
            last_epoch = epoch + 1 == plan.epochs
            due = last_epoch or not (epoch + 1) % self.train.eval_every
            if due and self._evaluate_epoch(epoch, step, lr, started):
                history.stopped_early = True
                break
            if not last_epoch:
                self._epoch_boundary(epoch + 1)
        history.seconds = time.perf_counter() - started
        self.reporter.end(history)
        return history

    def train_epoch(self, epoch: int, step: int) -> tuple[int, float]:
        """The steps of one epoch, from global step ``step``: returns the new step count and the
        learning rate of the last step. A non-finite loss goes back to the last good weights
        and stops training."""
        model, optimizer = self.model, self.optimizer
        epoch_steps = min(self.plan.steps_per_epoch, self.plan.total_steps - step)
        lr = self.lr(epoch, step)
        for done, (x, t) in enumerate(self.batches(epoch_steps), start=1):
            lr = self.lr(epoch, step)
            value = model.train_step(x, t)
            if not math.isfinite(value):
                self._fault(f"the loss became {value}", f"epoch {epoch + 1}, step {step + 1}", lr)
            optimizer.step(model.parameters, lr)
            step += 1
            self.reporter.epoch_progress(epoch, done, epoch_steps)
        return step, lr

    def _evaluate_epoch(self, epoch: int, step: int, lr: float, started: float) -> bool:
        """Evaluate after ``epoch``; true when early stopping ends training here."""
        state, model = self.state, self.model
        evaluation = self.evaluate(epoch + 1, step, lr, time.perf_counter() - started)
        if not math.isfinite(evaluation.train_loss + (evaluation.val_loss or 0.0)):
            where = f"the evaluation after epoch {epoch + 1}"
            self._fault(f"the loss became {evaluation.train_loss}", where, lr)
        if not all(np.all(np.isfinite(p.value)) for p in model.parameters):
            self._fault("the weights became NaN or infinite", f"epoch {epoch + 1}, step {step}", lr)
        state.history.evaluations.append(evaluation)
        self.reporter.evaluation(evaluation, self.plan)
        state.last_good = model.snapshot()
        if not self.train.early_stopping:
            return False
        if evaluation.val_loss < state.best_loss:
            state.best_loss, state.best_state, state.worse = (
                evaluation.val_loss,
                state.last_good,
                0,
            )
            state.history.best_epoch = epoch + 1
            return False
        state.worse += 1
        if state.worse < self.train.patience:
            return False
        model.load_state(state.best_state)
        return True

    def _epoch_boundary(self, epochs_done: int) -> None:
        """Checkpoint when due, and stop (after checkpointing) when a signal asked to."""
        every = self.train.checkpoint_every
        stopping = self.stop is not None and self.stop.signum is not None
        if self.checkpoint is not None and (stopping or (every and epochs_done % every == 0)):
            self.checkpoint(self)
        if stopping:
            raise Interrupted(self.stop.signum, f"training stopped after epoch {epochs_done}")

    def evaluate(self, epoch: int, step: int, lr: float, seconds: float) -> Evaluation:
        splits = self.splits
        train_loss, train_accuracy = self.model.evaluate(splits.x_train, splits.y_train)
        val_loss = val_accuracy = None
        if splits.x_val is not None:
            val_loss, val_accuracy = self.model.evaluate(splits.x_val, splits.y_val)
        return Evaluation(
            epoch, step, lr, train_loss, train_accuracy, val_loss, val_accuracy, seconds
        )

    def _fault(self, what: str, where: str, lr: float) -> None:
        """Stop on a non-finite loss or weights, going back to the last good evaluation's."""
        self.model.load_state(self.state.last_good)
        raise TrainingError(
            f"{what} at {where}: the learning rate ({lr:g}) may be too high, "
            f"or the initial weights too large; the weights of the last good evaluation are kept"
        )
