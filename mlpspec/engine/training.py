"""The training loop: batches, steps, evaluations, and what may interrupt them.

The :class:`Trainer` owns everything a run's future depends on (the model, the optimizer, the
scheduler, the sampling generator, the loop's counters, the last good weights) and gives it
out as one :class:`TrainerState` (``state_dict`` / ``load_state_dict``), which is all a
checkpoint is. Everything else a run does while it trains (early stopping, writing metrics and
checkpoints, progress on screen, stopping on a signal, run hooks) is a :class:`Callback`
passed in at construction; the loop itself knows none of them.

The learning rate has one owner: the scheduler computes it for every step, the trainer hands
it to the optimizer, and records it for each epoch.

The engine knows plain values only (a :class:`Plan`, a :class:`LoopConfig`, arrays): it
imports neither the spec nor anything of a run folder.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mlpspec.core.components import Array, Metric, Optimizer, Parameter, Scheduler
from mlpspec.core.errors import Interrupted, TrainingError
from mlpspec.data import Splits
from mlpspec.engine.model import Model, one_hot

Sampling = Literal["shuffle", "sequential", "replacement"]


@dataclass(frozen=True)
class Plan:
    """How long training runs, worked out from the batch size and the training set's size."""

    batch_size: int
    steps_per_epoch: int
    total_steps: int
    epochs: int

    @classmethod
    def of(
        cls,
        batch_size: int | Literal["full"],
        sampling: Sampling,
        examples: int,
        *,
        epochs: int | None = None,
        iterations: int | None = None,
    ) -> Plan:
        """Exactly one of ``epochs`` and ``iterations``; a batch is never larger than the set."""
        batch = examples if batch_size == "full" else min(batch_size, examples)
        if sampling == "replacement":
            steps_per_epoch = max(examples // batch, 1)
        else:
            steps_per_epoch = math.ceil(examples / batch)
        total = iterations if iterations is not None else (epochs or 0) * steps_per_epoch
        return cls(batch, steps_per_epoch, total, math.ceil(total / steps_per_epoch))


@dataclass(frozen=True)
class LoopConfig:
    """What the loop needs besides the plan: the order of examples, and how often to evaluate."""

    sampling: Sampling = "shuffle"
    eval_every: int = 1


@dataclass(frozen=True)
class Evaluation:
    """One evaluation, after ``epoch`` epochs (``step`` steps) of training.

    ``train`` and ``val`` map each metric's name (``loss`` first) to its value on that split;
    ``val`` is ``None`` without a validation set. ``lr`` is the rate of the last step.
    """

    epoch: int
    step: int
    lr: float
    seconds: float
    train: Mapping[str, float]
    val: Mapping[str, float] | None = None

    def value(self, key: str) -> float | None:
        """A recorded value by its key: ``train_loss``, ``val_accuracy``..."""
        split, _, name = key.partition("_")
        values = {"train": self.train, "val": self.val}.get(split) or {}
        return values.get(name)

    def to_dict(self) -> dict[str, float | int]:
        """The flat form of ``metrics.jsonl``: ``epoch``, ``step``, ``lr``, ``seconds``, then
        ``train_NAME`` and ``val_NAME`` for every metric."""
        flat: dict[str, float | int] = {
            "epoch": self.epoch,
            "step": self.step,
            "lr": self.lr,
            "seconds": self.seconds,
        }
        flat |= {f"train_{name}": value for name, value in self.train.items()}
        flat |= {f"val_{name}": value for name, value in (self.val or {}).items()}
        return flat

    @classmethod
    def from_dict(cls, flat: Mapping[str, Any]) -> Evaluation:
        """Read :meth:`to_dict`'s form back (and 0.1's, whose ``val_*`` were null without a
        validation set)."""
        splits: dict[str, dict[str, float]] = {"train": {}, "val": {}}
        for key, value in flat.items():
            split, _, name = key.partition("_")
            if split in splits and name and value is not None:
                splits[split][name] = float(value)
        return cls(
            int(flat["epoch"]),
            int(flat["step"]),
            float(flat["lr"]),
            float(flat["seconds"]),
            splits["train"],
            splits["val"] or None,
        )

    @property
    def train_loss(self) -> float:
        return self.train["loss"]

    @property
    def val_loss(self) -> float | None:
        return None if self.val is None else self.val["loss"]


@dataclass
class History:
    """What happened in training: every evaluation, the learning rate of every epoch, and how
    it ended. ``seconds`` is the training time so far (wall clock: not part of the
    bit-for-bit guarantee)."""

    plan: Plan
    evaluations: list[Evaluation] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)
    """The rate of each epoch's first step, as the scheduler gave it."""
    epochs_run: int = 0
    steps: int = 0
    stop_reason: str | None = None
    """Why training ended before its plan (early stopping, a sweep's pruner), if it did."""
    best_epoch: int | None = None
    """The epoch whose weights were kept, when a callback kept other than the last ones."""
    seconds: float = 0.0

    @property
    def stopped_early(self) -> bool:
        return self.stop_reason is not None


@dataclass
class TrainerState:
    """Everything a run's future depends on: named arrays, and JSON-ready values (``meta``).

    Array names are prefixed by their owner (``model/layers.0.weight``,
    ``optimizer/velocity.0``, ``callbacks/early_stopping/best/...``)."""

    arrays: dict[str, Array]
    meta: dict[str, Any]

    def section(self, prefix: str) -> dict[str, Array]:
        """The arrays under ``prefix/``, without it."""
        head = prefix + "/"
        return {k.removeprefix(head): a for k, a in self.arrays.items() if k.startswith(head)}


class Callback:
    """Something that takes part in training; every method is optional (a no-op here).

    Called in the order the callbacks were given, at: the start of :meth:`Trainer.fit`
    (``on_train_start``), the end of every step (``on_step_end``), every evaluation
    (``on_evaluation``), the end of every epoch but the last (``on_epoch_end``: checkpoints
    and signals are handled here, where nothing is half-updated), the end (``on_train_end``),
    and a failure (``on_failure``, with the exception, before it propagates).

    A callback with state a resumed run needs gives it through ``state_dict`` (a
    :class:`TrainerState`, or ``None``) and takes it back in ``load_state_dict``; ``key``
    names it in checkpoints.
    """

    key: str = ""

    def on_train_start(self, trainer: Trainer) -> None:
        pass

    def on_step_end(self, trainer: Trainer, epoch: int, done: int, total: int) -> None:
        pass

    def on_evaluation(self, trainer: Trainer, evaluation: Evaluation) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, epochs_done: int) -> None:
        pass

    def on_train_end(self, trainer: Trainer) -> None:
        pass

    def on_failure(self, trainer: Trainer, error: BaseException) -> None:
        pass

    def state_dict(self) -> TrainerState | None:
        return None

    def load_state_dict(self, state: TrainerState) -> None:
        pass


class NumericalFault(TrainingError):
    """The loss or the weights became NaN or infinite; ``source`` says where it started
    (``data``, ``layers[i]``, ``loss``, or ``None`` when the weights overflowed)."""

    def __init__(self, message: str, source: str | None) -> None:
        self.source = source
        super().__init__(message)


class Trainer:
    """Runs the optimization a plan describes, calling its callbacks along the way."""

    def __init__(
        self,
        model: Model,
        optimizer: Optimizer,
        scheduler: Scheduler,
        splits: Splits,
        plan: Plan,
        rng: np.random.Generator,
        *,
        loop: LoopConfig = LoopConfig(),
        metrics: Mapping[str, Metric] | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.splits = splits
        self.plan = plan
        self.rng = rng
        self.loop = loop
        self.metrics = dict(metrics or {})
        self.callbacks = list(callbacks)
        self.targets = one_hot(splits.y_train, len(splits.classes), model.dtype)
        self.history = History(plan)
        self.last_good: dict[str, Array] = model.snapshot()
        """The weights of the last evaluation with finite values: what a fault goes back to,
        and what a failed run saves."""
        self._stop_reason: str | None = None
        self._interrupt: int | None = None

    # -- what callbacks may ask for ----------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        """End training after the current evaluation (early stopping, pruning)."""
        self._stop_reason = self._stop_reason or reason

    def request_interrupt(self, signum: int) -> None:
        """Stop at the end of this epoch, after the callbacks have checkpointed."""
        self._interrupt = signum

    @property
    def interrupt_requested(self) -> bool:
        return self._interrupt is not None

    # -- the loop ------------------------------------------------------------------------------

    def fit(self) -> History:
        """Train to the end of the plan, or until a callback stops it or a numerical fault."""
        try:
            # overflow shows up as a non-finite loss, which stops the run with a clear message
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return self._fit()
        except BaseException as error:
            for callback in self.callbacks:
                callback.on_failure(self, error)
            raise

    def _fit(self) -> History:
        plan, history = self.plan, self.history
        self._notify("on_train_start")
        started = time.perf_counter() - history.seconds
        step = history.steps
        for epoch in range(history.epochs_run, plan.epochs):
            history.learning_rates.append(self.scheduler.lr(epoch, step))
            step, lr = self.train_epoch(epoch, step)
            history.epochs_run, history.steps = epoch + 1, step
            history.seconds = time.perf_counter() - started
            last_epoch = epoch + 1 == plan.epochs
            if last_epoch or not (epoch + 1) % self.loop.eval_every:
                self._evaluate_epoch(epoch + 1, step, lr, history.seconds)
            if self._stop_reason is not None:
                history.stop_reason = self._stop_reason
                break
            if not last_epoch:
                self._notify("on_epoch_end", epoch + 1)
                if self._interrupt is not None:
                    raise Interrupted(self._interrupt, f"training stopped after epoch {epoch + 1}")
        history.seconds = time.perf_counter() - started
        self._notify("on_train_end")
        return history

    def batches(self, epoch_steps: int) -> Iterator[tuple[Array, Array]]:
        """One epoch's batches: views of the data in order, or rows gathered by fancy indexing
        when the order is random (the dataset itself is never copied). Gathering into a reused
        array (``np.take(..., out=)``) measured twice as slow as ``x[rows]`` here."""
        x, t, size = self.splits.x_train, self.targets, self.plan.batch_size
        if self.loop.sampling == "sequential":
            for start in range(0, epoch_steps * size, size):
                yield x[start : start + size], t[start : start + size]
            return
        if self.loop.sampling == "replacement":
            chosen = (self.rng.integers(0, len(x), size) for _ in range(epoch_steps))
        else:
            order = self.rng.permutation(len(x))
            chosen = (order[start : start + size] for start in range(0, epoch_steps * size, size))
        for rows in chosen:
            yield x[rows], t[rows]

    def train_epoch(self, epoch: int, step: int) -> tuple[int, float]:
        """The steps of one epoch, from global step ``step``: returns the new step count and the
        learning rate of the last step. A non-finite loss goes back to the last good weights
        and stops training, naming where the fault started."""
        model, optimizer, scheduler = self.model, self.optimizer, self.scheduler
        epoch_steps = min(self.plan.steps_per_epoch, self.plan.total_steps - step)
        # a step costs a few hundred microseconds: call only the callbacks that listen to it
        listening = [c for c in self.callbacks if type(c).on_step_end is not Callback.on_step_end]
        lr = scheduler.lr(epoch, step)
        for done, (x, t) in enumerate(self.batches(epoch_steps), start=1):
            lr = scheduler.lr(epoch, step)
            value = model.train_step(x, t)
            if not math.isfinite(value):
                where = f"epoch {epoch + 1}, step {step + 1}"
                self._fault(f"the loss became {value}", where, lr, x, t)
            optimizer.step(model.parameters, lr)
            step += 1
            for callback in listening:
                callback.on_step_end(self, epoch, done, epoch_steps)
        return step, lr

    def _evaluate_epoch(self, epoch: int, step: int, lr: float, seconds: float) -> None:
        evaluation = self.evaluate(epoch, step, lr, seconds)
        values = [*evaluation.train.values(), *(evaluation.val or {}).values()]
        if not all(math.isfinite(v) for v in values):
            self._fault(
                f"the loss became {evaluation.train_loss}",
                f"the evaluation after epoch {epoch}",
                lr,
                self.splits.x_train[:256],
                self.targets[:256],
            )
        if not all(np.all(np.isfinite(p.value)) for p in self.model.parameters):
            self._fault("the weights became NaN or infinite", f"epoch {epoch}, step {step}", lr)
        self.history.evaluations.append(evaluation)
        self.last_good = self.model.snapshot()
        self._notify("on_evaluation", evaluation)

    def evaluate(self, epoch: int, step: int, lr: float, seconds: float) -> Evaluation:
        """Every metric on the training set and, when there is one, the validation set."""
        splits = self.splits
        train = self.model.evaluate(splits.x_train, splits.y_train, self.metrics)
        val = None
        if splits.x_val is not None:
            val = self.model.evaluate(splits.x_val, splits.y_val, self.metrics)
        return Evaluation(epoch, step, lr, seconds, train, val)

    def _notify(self, event: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, event)(self, *args)

    def _fault(
        self,
        what: str,
        where: str,
        lr: float,
        x: Array | None = None,
        target: Array | None = None,
    ) -> None:
        """Stop on a non-finite loss or weights, going back to the last good weights, and say
        where the first non-finite value came from before blaming the learning rate."""
        source = None if x is None else self.model.trace_nonfinite(x, target)
        self.model.load_state(self.last_good)
        if source == "data":
            cause = "the training data holds NaN or infinite values"
        elif source is not None:
            cause = f"{source} gave the first non-finite values from finite inputs"
        else:
            cause = f"the learning rate ({lr:g}) may be too high, or the initial weights too large"
        raise NumericalFault(
            f"{what} at {where}: {cause}; the weights of the last good evaluation are kept",
            source,
        )

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> TrainerState:
        """The whole state of training, for a checkpoint."""
        history = self.history
        arrays: dict[str, Array] = {}
        sections: dict[str, Mapping[str, Array]] = {
            "model": self.model.state(),
            "optimizer": self.optimizer.state(),
            "scheduler": _optional_state(self.scheduler),
            "last_good": self.last_good,
        }
        for prefix, values in sections.items():
            arrays |= {f"{prefix}/{name}": np.asarray(a) for name, a in values.items()}
        callbacks = {}
        for callback in self.callbacks:
            state = callback.state_dict()
            if state is not None:
                arrays |= {f"callbacks/{callback.key}/{k}": a for k, a in state.arrays.items()}
                callbacks[callback.key] = state.meta
        meta = {
            "plan": vars(self.plan),
            "epochs_run": history.epochs_run,
            "steps": history.steps,
            "seconds": history.seconds,
            "best_epoch": history.best_epoch,
            "learning_rates": history.learning_rates,
            "evaluations": [e.to_dict() for e in history.evaluations],
            "generators": {
                name: g.bit_generator.state for name, g in self.generators().items()
            },
            "callbacks": callbacks,
        }
        return TrainerState(arrays, meta)

    def load_state_dict(self, state: TrainerState) -> None:
        """Continue from ``state``, taken from a trainer built from the same spec and data.

        Raises ``ValueError`` saying what does not fit; nothing is changed until all of it was
        checked against this trainer.
        """
        meta = state.meta
        if meta["plan"] != vars(self.plan):
            raise ValueError(
                f"it was made for a plan of {meta['plan']}, but the data now gives "
                f"{vars(self.plan)}: has the dataset changed?"
            )
        epochs, steps = meta["epochs_run"], meta["steps"]
        expected_steps = min(epochs * self.plan.steps_per_epoch, self.plan.total_steps)
        if not (isinstance(epochs, int) and 0 < epochs < self.plan.epochs) or steps != (
            expected_steps
        ):
            raise ValueError(
                f"its counters ({epochs} epochs, {steps} steps) do not fit a plan of "
                f"{self.plan.epochs} epochs of {self.plan.steps_per_epoch} steps"
            )
        generators = self.generators()
        if set(meta["generators"]) != set(generators):
            raise ValueError("its random generators do not fit this model")
        self.model.check_state(state.section("last_good"))
        self.model.check_state(state.section("model"))
        check_optimizer_slots(state.section("optimizer"), self.model.parameters)
        checked = {}
        for name, generator in generators.items():
            twin = type(generator.bit_generator)()
            twin.state = meta["generators"][name]  # raises for a state of another kind
            checked[name] = twin.state
        evaluations = [Evaluation.from_dict(e) for e in meta["evaluations"]]
        # everything fits: take it
        self.model.load_state(state.section("model"))
        self.optimizer.load_state(state.section("optimizer"))
        if hasattr(self.scheduler, "load_state"):
            self.scheduler.load_state(state.section("scheduler"))
        for name, generator in generators.items():
            generator.bit_generator.state = checked[name]
        self.last_good = state.section("last_good")
        self.history = History(
            self.plan,
            evaluations,
            list(meta["learning_rates"]),
            meta["epochs_run"],
            meta["steps"],
            best_epoch=meta["best_epoch"],
            seconds=meta["seconds"],
        )
        for callback in self.callbacks:
            if callback.key in meta["callbacks"]:
                arrays = state.section(f"callbacks/{callback.key}")
                callback.load_state_dict(TrainerState(arrays, meta["callbacks"][callback.key]))

    def generators(self) -> dict[str, np.random.Generator]:
        """Every random generator of the run by name: batch sampling and each layer's own."""
        return {"sampling": self.rng, **self.model.generators}


def _optional_state(component: object) -> Mapping[str, Array]:
    state = getattr(component, "state", None)
    return state() if callable(state) else {}


def check_optimizer_slots(state: Mapping[str, Array], parameters: Sequence[Parameter]) -> None:
    """Optimizer state holds per-parameter arrays (of a parameter's shape and dtype) and
    scalars, all finite: anything else is not these parameters'. The rule a resumed run
    applies, and the conformance kit checks optimizers against."""
    shapes = {(p.value.shape, p.value.dtype) for p in parameters}
    for name, array in state.items():
        if array.ndim and (array.shape, array.dtype) not in shapes:
            raise ValueError(
                f"optimizer state {name!r} ({array.dtype}, shape {array.shape}) fits no "
                "parameter of this model"
            )
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            raise ValueError(f"optimizer state {name!r} holds NaN or infinite values")
