"""A whole run, as ``mlpspec run`` does it and as Python code can: data, build, train, test,
save; and an interrupted run, resumed.

The life of a run: the spec's components are built (:class:`~mlpspec.run.builder.Builder`),
the run folder is created and locked, the record written as ``running``, and the run hooks
told (``mlpspec_run_start``). The Trainer trains with the run's callbacks (metrics file,
checkpoints, signals, early stopping, run hooks, and whatever the caller adds, such as the
progress display); then the model is tested, and the weights, predictions and record saved.

Whatever ends a run once its folder exists, the folder says so: ``completed``;
``interrupted`` (a signal: a checkpoint to resume from, or, for a second signal, the last
good weights); or ``failed``, with the reason, the component to blame and its package when a
component's code raised, and the weights of the last good evaluation. No run is left
``running`` by anything but the process being killed outright.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlpspec.core.errors import Interrupted, MlpspecError, UsageError, describe, error_text
from mlpspec.core.registry import Registry
from mlpspec.core.spec import Spec
from mlpspec.data import Dataset, Splits
from mlpspec.engine.callbacks import EarlyStopping
from mlpspec.engine.model import Model
from mlpspec.engine.training import Callback, History, NumericalFault, Trainer
from mlpspec.run import checkpoint
from mlpspec.run.builder import (
    SAMPLING_STREAM,
    Builder,
    DataCache,
    load_data,
    rng_for,
    spec_dir,
)
from mlpspec.run.callbacks import Checkpoints, MetricsFile, RunHookEvents, StopOnSignal
from mlpspec.run.interrupt import Aborted, stop_on_signals
from mlpspec.run.predictions import prediction_arrays
from mlpspec.run.record import Culprit, Examples, RunContext, RunFacts, RunRecord
from mlpspec.run.rundir import (
    COMPONENTS,
    PREDICTIONS,
    SUMMARY,
    RunDirectory,
    exclusive,
    load_record,
    new_run_dir,
)
from mlpspec.run.saved import provenance, read_run_spec


class RunFailed(MlpspecError):
    """A run that failed in training or testing; its folder records why (exit status 1)."""


@dataclass
class RunResult:
    """What a run produced; ``run_dir`` is ``None`` when nothing was saved."""

    spec: Spec
    model: Model
    history: History
    record: RunRecord
    run_dir: Path | None
    seconds: float
    splits: Splits = field(repr=False)

    @property
    def test_loss(self) -> float | None:
        return self.record.test_loss

    @property
    def test_accuracy(self) -> float | None:
        return self.record.test_accuracy


def run(
    spec: Spec,
    registry: Registry,
    *,
    data_dirs: Sequence[Path] = (),
    out_dir: Path | None = Path("runs"),
    run_dir: Path | None = None,
    callbacks: Sequence[Callback] = (),
    observers: Sequence[tuple[str, object]] = (),
    labels: Mapping[str, str] | None = None,
    dataset: Dataset | None = None,
    data_cache: DataCache | None = None,
) -> RunResult:
    """Train the spec's model and test it; save everything under ``out_dir`` unless None.

    ``run_dir`` names the run folder exactly instead (a sweep's ``trials/0003``): it is
    created if missing, and refused if it holds a run already. ``callbacks`` take part in
    training (a progress display); ``observers`` are ``(name, object)`` plugins implementing
    run hooks for this run only (a tracker, a pruner); ``labels`` are passed to the run hooks
    (a sweep's trial number); ``dataset`` replaces the spec's ``[data] dataset`` with arrays
    already in memory; ``data_cache`` keeps the prepared data for the next run in this process
    (see :class:`~mlpspec.run.builder.DataCache`).
    """
    started = time.perf_counter()
    builder = Builder(spec, registry)
    splits = load_data(
        spec,
        registry,
        data_dirs,
        progress=bool(callbacks),
        builder=builder,
        dataset=dataset,
        cache=data_cache,
    )
    trainer = _trainer(builder, splits)
    record = RunRecord.starting(spec, _facts(spec, splits))
    if out_dir is None and run_dir is None:
        return _Run(spec, registry, builder, trainer, record, None, started).go(
            callbacks, observers, labels, resumed=False
        )
    if run_dir is not None:
        folder = RunDirectory(Path(run_dir))
        folder.path.mkdir(parents=True, exist_ok=True)
    else:
        folder = RunDirectory(new_run_dir(Path(out_dir), spec.model.name))
    with exclusive(folder.path, "run folder"):
        if (folder.path / SUMMARY).exists():
            raise UsageError(f"{folder.path}: holds a run already")
        return _Run(spec, registry, builder, trainer, record, folder, started).go(
            callbacks, observers, labels, resumed=False
        )


def resume(
    path: str | Path,
    registry: Registry,
    *,
    data_dirs: Sequence[Path] = (),
    callbacks: Sequence[Callback] = (),
    observers: Sequence[tuple[str, object]] = (),
    labels: Mapping[str, str] | None = None,
    data_cache: DataCache | None = None,
) -> RunResult:
    """Continue an interrupted run from its latest usable checkpoint, in its own folder.

    The run's resolved ``spec.toml`` is rebuilt (not the spec file it started from, which may
    have changed since), the checkpoint checked against it and restored, and
    ``metrics.jsonl`` rewritten to the checkpoint's history before training goes on: the run
    ends with the weights, metrics and record an uninterrupted run would have had. Nothing in
    the folder is written before the checkpoint was found usable.
    """
    started = time.perf_counter()
    folder = RunDirectory(Path(path))
    with exclusive(folder.path, "run folder"):
        previous = load_record(folder.path / SUMMARY)
        if previous.status == "completed":
            raise UsageError(f"{folder.path}: this run is complete: nothing to resume")
        spec = read_run_spec(folder, registry)
        base_dir = Path(previous.spec_dir) if previous.spec_dir else None
        builder = Builder(spec, registry)
        splits = load_data(
            spec,
            registry,
            data_dirs,
            bool(callbacks),
            base_dir=base_dir,
            builder=builder,
            cache=data_cache,
        )
        trainer = _trainer(builder, splits)
        checkpoint.restore(trainer, folder.path, spec.fingerprint())
        folder.write_metrics([e.to_dict() for e in trainer.history.evaluations])
        record = previous.resumed(trainer.history.epochs_run)
        return _Run(spec, registry, builder, trainer, record, folder, started).go(
            callbacks, observers, labels, resumed=True
        )


def _trainer(builder: Builder, splits: Splits) -> Trainer:
    spec = builder.spec
    model = builder.model(splits.features, splits.classes, examples=len(splits.x_train))
    plan = builder.plan(len(splits.x_train))
    metrics = builder.metrics()
    trainer = Trainer(
        model,
        builder.optimizer(),
        builder.scheduler(plan),
        splits,
        plan,
        rng_for(spec.model.seed, SAMPLING_STREAM),
        loop=builder.loop(),
        metrics=metrics,
    )
    if spec.train.early_stopping:
        trainer.callbacks.append(
            EarlyStopping(spec.train.monitor, builder.monitor_mode(metrics), spec.train.patience)
        )
    return trainer


def _facts(spec: Spec, splits: Splits) -> RunFacts:
    return RunFacts(
        spec_dir=spec_dir(spec),
        features=splits.features,
        classes=[str(c) for c in splits.classes],
        image_shape=splits.image_shape,
        preprocessing=splits.preprocessing,
        examples=Examples(
            train=len(splits.x_train),
            validation=0 if splits.x_val is None else len(splits.x_val),
            test=0 if splits.x_test is None else len(splits.x_test),
        ),
    )


@dataclass
class _Run:
    """One run's training, from the start hooks to its saved outcome."""

    spec: Spec
    registry: Registry
    builder: Builder
    trainer: Trainer
    record: RunRecord
    folder: RunDirectory | None
    started: float

    def go(
        self,
        callbacks: Sequence[Callback],
        observers: Sequence[tuple[str, object]],
        labels: Mapping[str, str] | None,
        *,
        resumed: bool,
    ) -> RunResult:
        context = RunContext(self.spec, self.path, self.record, resumed, dict(labels or {}))
        hooks = self.registry.hooks
        saving = self.folder is not None
        with hooks.scoped(observers), stop_on_signals(checkpointing=saving) as request:
            trainer, folder = self.trainer, self.folder
            own: list[Callback] = [StopOnSignal(request)]
            if folder is not None:
                own.append(MetricsFile(folder))
                train = self.spec.train
                own.append(
                    Checkpoints(
                        folder.path,
                        self.spec.fingerprint(),
                        train.checkpoint_every,
                        train.keep_checkpoints,
                    )
                )
            trainer.callbacks[:0] = own
            trainer.callbacks += [*callbacks, RunHookEvents(hooks, context)]
            try:
                if folder is not None and not resumed:
                    folder.write_spec(self.spec.to_dict())
                    folder.write_json(COMPONENTS, provenance(self.spec, self.registry))
                self._save_record()
                self.record.warn(*hooks.call("mlpspec_run_start", run=context))
                self._save_record()  # with what the start hooks noted (a tracker's run id)
                history = trainer.fit()
                self._test_and_save(history)
            except BaseException as error:
                request.recording = True  # a signal now would lose the outcome being saved
                self._end_badly(error, context)
                if isinstance(error, (Interrupted, Aborted)) and request.last is not None:
                    error.signum = request.last  # exit as the latest signal says
                raise self._reported(error) from (
                    None if isinstance(error, MlpspecError) else error
                )
            self._save_record()  # the run-end hooks find the folder whole, its record included
            self.record.warn(*hooks.call("mlpspec_run_end", run=context, record=self.record))
            self._save_record()
        return RunResult(
            self.spec,
            trainer.model,
            trainer.history,
            self.record,
            self.path,
            time.perf_counter() - self.started,
            trainer.splits,
        )

    @property
    def path(self) -> Path | None:
        return None if self.folder is None else self.folder.path

    def _test_and_save(self, history: History) -> None:
        trainer, splits, record = self.trainer, self.trainer.splits, self.record
        test = {}
        if splits.x_test is not None and len(splits.x_test):
            test = trainer.model.evaluate(splits.x_test, splits.y_test, trainer.metrics)
        self._outcome(history)
        record.test = test
        record.status = "completed"
        if self.folder is not None:
            self.folder.write_weights(trainer.model.state())
            if test:
                self.folder.write_arrays(
                    PREDICTIONS,
                    prediction_arrays(
                        trainer.model, splits.x_test, splits.y_test, splits.image_shape
                    ),
                )

    def _outcome(self, history: History) -> None:
        """What the history says, into the record."""
        record = self.record
        record.epochs_run, record.steps = history.epochs_run, history.steps
        record.stop_reason, record.best_epoch = history.stop_reason, history.best_epoch
        record.schedule = list(history.learning_rates)
        record.train_seconds = round(history.seconds, 3)
        record.seconds = round(time.perf_counter() - self.started, 3)
        if history.evaluations:
            last = history.evaluations[-1]
            record.train, record.val = dict(last.train), dict(last.val or {})
            record.best_val = _best(history, self.trainer.metrics)

    def _end_badly(self, error: BaseException, context: RunContext) -> None:
        """Record an interruption or a failure, with the weights worth keeping."""
        record, trainer = self.record, self.trainer
        self._outcome(trainer.history)
        if isinstance(error, (Interrupted, Aborted)):
            record.status = "interrupted"
            record.signal = signal.Signals(error.signum).name
        else:
            record.status = "failed"
            record.error = error_text(error)
            record.culprit = self._culprit(error)
        if self.folder is not None:
            # a clean stop checkpointed the current weights; anything else keeps the last good
            weights = trainer.model.state() if isinstance(error, Interrupted) else None
            try:
                self.folder.write_weights(weights or trainer.last_good)
            except OSError as exc:
                record.warn(f"the weights could not be saved: {describe(exc)}")
        self._try_save_record()
        hooks = self.registry.hooks
        if record.status == "failed":
            record.warn(*hooks.call("mlpspec_run_failure", run=context, error=error, record=record))
        record.warn(*hooks.call("mlpspec_run_end", run=context, record=record))
        self._try_save_record()

    def _try_save_record(self) -> None:
        """Save the record of a run that went wrong; a disk that refuses is a warning."""
        try:
            self._save_record()
        except OSError as exc:
            self.record.warn(f"the record could not be saved: {describe(exc)}")

    def _culprit(self, error: BaseException) -> Culprit | None:
        place = error.source if isinstance(error, NumericalFault) else None
        placed = self.builder.culprit(error, place)
        return None if placed is None else placed.culprit()

    def _reported(self, error: BaseException) -> BaseException:
        """The error the caller sees: one line naming what to do or whom to blame."""
        record, where = self.record, self.path
        if isinstance(error, Aborted):
            saved = f"; recorded as interrupted in {where}" if where else ""
            return Interrupted(error.signum, f"{error}{saved}")
        if isinstance(error, Interrupted):
            if where is None:
                return Interrupted(error.signum, f"{error}; nothing was saved (--no-save)")
            return Interrupted(error.signum, f"{error}; resume with: mlpspec run --resume {where}")
        message = record.error or describe(error)
        if record.culprit is not None and record.culprit.place not in message:
            message = f"{record.culprit.describe()} raised {message}"
        if isinstance(error, NumericalFault) and record.culprit is not None:
            nested = self.builder.nested(record.culprit.place)
            if nested:
                inside = ", ".join(p.culprit().describe() for p in nested)
                message += f" (inside it: {inside})"
        if where is not None:
            message += f"; the run is saved as failed in {where}"
            evaluations = self.trainer.history.evaluations
            if evaluations:
                message += f", with the weights of epoch {evaluations[-1].epoch}"
        if isinstance(error, MlpspecError):  # its type says what failed: keep it, say more
            error.args = (message,)
            return error
        return RunFailed(message)

    def _save_record(self) -> None:
        if self.folder is not None:
            self.folder.write_record(self.record)


def _best(history: History, metrics: Mapping[str, object]) -> dict[str, float]:
    """Each validation value's best over the evaluations: lowest loss, else as the metric
    says is better."""
    best: dict[str, float] = {}
    for evaluation in history.evaluations:
        for name, value in (evaluation.val or {}).items():
            higher = name != "loss" and getattr(metrics.get(name), "greater_is_better", True)
            if name not in best or (value > best[name] if higher else value < best[name]):
                best[name] = value
    return best
