"""A whole run, as ``mlpspec run`` does it and as Python code can: data, build, train,
test, save. And a saved run, loaded back."""

from __future__ import annotations

import platform
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mlpspec._version import __version__
from mlpspec.core.errors import DataError, MlpspecError, Problem, SpecError
from mlpspec.core.plugins import load_registry
from mlpspec.core.registry import ComponentConfig, Registry
from mlpspec.core.spec import Spec, read_toml, validate_spec
from mlpspec.data import DataContext, Splits, prepare, preprocess_rows
from mlpspec.data.dataset import env_data_dirs
from mlpspec.engine.model import Model
from mlpspec.engine.training import History, Plan, Reporter, Trainer
from mlpspec.run import checkpoint
from mlpspec.run.builder import (
    SAMPLING_STREAM,
    build_model,
    build_optimizer,
    build_scheduler,
    rng_for,
)
from mlpspec.run.interrupt import Interrupted, stop_on_signals
from mlpspec.run.predictions import prediction_arrays
from mlpspec.run.rundir import COMPONENTS, PREDICTIONS, SPEC, SUMMARY, RunDirectory, new_run_dir


@dataclass
class RunResult:
    """What a run produced; ``run_dir`` is ``None`` when nothing was saved."""

    spec: Spec
    model: Model
    history: History
    test_loss: float | None
    test_accuracy: float | None
    run_dir: Path | None
    seconds: float


def load_data(
    spec: Spec,
    registry: Registry,
    data_dirs: Sequence[Path] = (),
    progress: bool = False,
    base_dir: Path | None = None,
) -> Splits:
    """The spec's dataset, preprocessed and split, in the model's dtype.

    Folders are searched in order: the spec's ``data_dir`` (relative to ``base_dir``, by
    default the spec's folder), ``data_dirs`` (``--data-dir``), ``$MLPSPEC_DATA_DIR``, the
    cache, system folders.
    """
    base = base_dir or spec_dir(spec)
    explicit = [base / spec.data.data_dir] if spec.data.data_dir else []
    ctx = DataContext(
        data_dirs=[*explicit, *data_dirs, *env_data_dirs()],
        download=spec.data.download,
        progress=progress,
        base_dir=base,
    )
    dataset = registry.create(spec.data.dataset, ctx)
    return prepare(
        dataset,
        preprocess=spec.data.preprocess,
        validation=spec.data.validation,
        dtype=np.dtype(spec.model.dtype),
    )


def spec_dir(spec: Spec) -> Path:
    """The folder a spec's relative paths start from: its own, or the current one."""
    return Path(spec.source).parent.resolve() if Path(spec.source).is_file() else Path.cwd()


def original_spec_dir(summary: dict[str, Any]) -> Path | None:
    """The folder a saved run's spec came from, where its relative data paths start."""
    return Path(summary["spec_dir"]) if summary.get("spec_dir") else None


def provenance(spec: Spec, registry: Registry) -> list[dict[str, Any]]:
    """Which plugin and package supplied each component the spec names."""
    records = []
    for config in iter_components(spec):
        provider = registry.get(config.kind, config.name).provider
        record = {
            "kind": config.kind,
            "name": config.name,
            "plugin": provider.plugin,
            "distribution": provider.distribution,
            "version": provider.version,
        }
        if record not in records:
            records.append(record)
    return records


def iter_components(node: Any):
    """Every component reference in a spec or a component's params, depth first."""
    if isinstance(node, ComponentConfig):
        yield node
        node = node.params
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from iter_components(item)
    elif hasattr(type(node), "model_fields"):
        for name in type(node).model_fields:
            yield from iter_components(getattr(node, name))


def run(
    spec: Spec,
    registry: Registry,
    *,
    data_dirs: Sequence[Path] = (),
    out_dir: Path | None = Path("runs"),
    reporter: Reporter | None = None,
) -> RunResult:
    """Train the spec's model and test it; save everything under ``out_dir`` unless None.

    A run that fails in training still leaves its spec, its metrics so far, the weights of
    its last good evaluation and a summary saying what went wrong. One stopped by SIGINT or
    SIGTERM leaves a checkpoint that :func:`resume` continues from.
    """
    started = time.perf_counter()
    splits, trainer = _prepare(spec, registry, data_dirs, reporter)
    folder = None
    if out_dir is not None:
        folder = RunDirectory(new_run_dir(Path(out_dir), spec.model.name))
        folder.write_spec(spec.to_dict())
        folder.write_json(COMPONENTS, provenance(spec, registry))
    summary: dict[str, Any] = {
        "name": spec.model.name,
        "spec": spec.source,
        "spec_dir": str(spec_dir(spec)),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": spec.data.dataset.name,
        "features": splits.features,
        "classes": splits.classes,
        "image_shape": splits.image_shape,
        "preprocessing": splits.preprocessing,
        "examples": {
            "train": len(splits.x_train),
            "validation": 0 if splits.x_val is None else len(splits.x_val),
            "test": 0 if splits.x_test is None else len(splits.x_test),
        },
        "mlpspec": __version__,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "platform": platform.platform(),
        },
    }
    if folder is not None:  # a run killed outright is still recognisable, and resumable
        folder.write_json(SUMMARY, summary | {"status": "running"})
    return _train(spec, splits, trainer, folder, summary, started)


def resume(
    path: str | Path,
    registry: Registry,
    *,
    data_dirs: Sequence[Path] = (),
    reporter: Reporter | None = None,
) -> RunResult:
    """Continue an interrupted run from its latest checkpoint, in its own folder.

    The run's resolved ``spec.toml`` is rebuilt (not the spec file it started from, which may
    have changed since), the checkpoint restored, and ``metrics.jsonl`` rewritten to the
    checkpoint's history before training goes on: the run ends with the weights, metrics and
    summary an uninterrupted run would have had.
    """
    started = time.perf_counter()
    folder = RunDirectory(Path(path))
    summary = folder.read_json(SUMMARY)
    if summary.get("status") == "completed":
        raise SpecError(str(folder.path), [Problem("", "this run is complete: nothing to resume")])
    spec = read_run_spec(folder, registry)
    checkpoint_path, arrays = checkpoint.latest(folder.path)
    splits, trainer = _prepare(spec, registry, data_dirs, reporter, original_spec_dir(summary))
    checkpoint.restore(trainer, arrays, checkpoint_path)
    folder.write_metrics([e.to_dict() for e in trainer.state.history.evaluations])
    resumed = [*summary.get("resumed_at_epoch", []), trainer.state.history.epochs_run]
    summary = {key: summary[key] for key in RUN_FACTS if key in summary}
    summary["resumed_at_epoch"] = resumed
    return _train(spec, splits, trainer, folder, summary, started)


RUN_FACTS = (
    "name",
    "spec",
    "spec_dir",
    "preprocessing",
    "started",
    "dataset",
    "features",
    "classes",
    "image_shape",
    "examples",
    "mlpspec",
    "machine",
)
"""The summary's facts about a run that hold from its start, kept when it is resumed."""


def _prepare(
    spec: Spec,
    registry: Registry,
    data_dirs: Sequence[Path],
    reporter: Reporter | None,
    base_dir: Path | None = None,
) -> tuple[Splits, Trainer]:
    """The data, and a trainer with the model, optimizer and scheduler the spec describes.

    ``base_dir`` is the folder the spec's relative data paths start from (for a resumed run,
    the original spec's folder, not the run folder's copy).
    """
    splits = load_data(spec, registry, data_dirs, progress=reporter is not None, base_dir=base_dir)
    model = build_model(
        spec, registry, splits.features, splits.classes, examples=len(splits.x_train)
    )
    optimizer = build_optimizer(spec, registry)
    plan = Plan.of(spec.train, len(splits.x_train))
    scheduler = build_scheduler(spec, registry, optimizer, plan.epochs, plan.steps_per_epoch)
    trainer = Trainer(
        model,
        optimizer,
        scheduler,
        splits,
        spec.train,
        rng_for(spec.model.seed, SAMPLING_STREAM),
        reporter,
    )
    return splits, trainer


def _train(
    spec: Spec,
    splits: Splits,
    trainer: Trainer,
    folder: RunDirectory | None,
    summary: dict[str, Any],
    started: float,
) -> RunResult:
    """Train, test, and leave the outcome in ``folder``: completed, failed or interrupted.

    SIGINT and SIGTERM are caught until the outcome is saved: during training they stop it at
    the next epoch boundary with a checkpoint; once training is over, the run completes.
    """
    with stop_on_signals() as stop:
        trainer.stop = stop
        model = trainer.model
        if folder is not None:
            trainer.reporter = _Saving(trainer.reporter, folder)
            trainer.checkpoint = lambda t: checkpoint.write(
                folder.path, t, spec.train.keep_checkpoints
            )
        try:
            history = trainer.fit()
        except Interrupted as exc:
            if folder is None:
                raise Interrupted(exc.signum, f"{exc}; nothing was saved (--no-save)") from None
            folder.write_weights(model.state())
            summary |= _outcome(trainer.state.history, started) | {
                "status": "interrupted",
                "signal": signal.Signals(exc.signum).name,
            }
            folder.write_json(SUMMARY, summary)
            raise Interrupted(
                exc.signum, f"{exc}; resume with: mlpspec run --resume {folder.path}"
            ) from None
        except MlpspecError as exc:
            if folder is not None:
                folder.write_weights(model.state())
                summary |= {
                    "status": "failed",
                    "error": str(exc),
                    "seconds": round(time.perf_counter() - started, 3),
                }
                folder.write_json(SUMMARY, summary)
            raise
        test_loss = test_accuracy = None
        if splits.x_test is not None:
            test_loss, test_accuracy = model.evaluate(splits.x_test, splits.y_test)
        seconds = time.perf_counter() - started
        if folder is not None:
            folder.write_weights(model.state())
            if splits.x_test is not None:
                folder.write_arrays(
                    PREDICTIONS,
                    prediction_arrays(model, splits.x_test, splits.y_test, splits.image_shape),
                )
            last = history.evaluations[-1]
            best_val = max(
                (e.val_accuracy for e in history.evaluations if e.val_accuracy is not None),
                default=None,
            )
            summary |= {
                "status": "completed",
                "epochs_run": history.epochs_run,
                "steps": history.steps,
                "stopped_early": history.stopped_early,
                "best_epoch": history.best_epoch,
                "train_loss": last.train_loss,
                "train_accuracy": last.train_accuracy,
                "val_loss": last.val_loss,
                "val_accuracy": last.val_accuracy,
                "best_val_accuracy": best_val,
                "test_loss": test_loss,
                "test_accuracy": test_accuracy,
                "train_seconds": round(history.seconds, 3),
                "seconds": round(seconds, 3),
            }
            folder.write_json(SUMMARY, summary)
        return RunResult(
            spec,
            model,
            history,
            test_loss,
            test_accuracy,
            None if folder is None else folder.path,
            seconds,
        )


def _outcome(history: History, started: float) -> dict[str, Any]:
    return {
        "epochs_run": history.epochs_run,
        "steps": history.steps,
        "seconds": round(time.perf_counter() - started, 3),
    }


class _Saving:
    """Wraps a reporter so that each evaluation is also appended to metrics.jsonl."""

    def __init__(self, inner: Reporter, folder: RunDirectory) -> None:
        self.inner, self.folder = inner, folder

    def start(self, plan: Plan) -> None:
        self.inner.start(plan)

    def epoch_progress(self, epoch: int, done: int, total: int) -> None:
        self.inner.epoch_progress(epoch, done, total)

    def evaluation(self, evaluation, plan: Plan) -> None:
        self.folder.append_metrics(evaluation.to_dict())
        self.inner.evaluation(evaluation, plan)

    def end(self, history: History) -> None:
        self.inner.end(history)


@dataclass
class LoadedRun:
    """A saved run: its spec, its summary, and its model with the saved weights.

    ``predict`` and ``predict_proba`` take rows as the network sees them (preprocessed, as
    :meth:`data` returns them); :meth:`preprocess` turns raw rows (pixel values, the
    dataset's own units) into those, with the statistics the run saved.
    """

    path: Path
    spec: Spec
    summary: dict[str, Any]
    model: Model
    registry: Registry

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x)

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        """Raw rows (or images), scaled as the run's training data was."""
        stats = self.summary.get("preprocessing")
        if stats is None:
            raise DataError(
                f"{self.path}: the run did not save its preprocessing statistics "
                "(made by an older mlpspec); run it again"
            )
        return preprocess_rows(np.asarray(raw), stats, self.model.dtype)

    def data(self, data_dirs: Sequence[Path] = ()) -> Splits:
        """The run's dataset, read and split as the run did (relative paths start from the
        original spec's folder)."""
        return load_data(
            self.spec, self.registry, data_dirs, base_dir=original_spec_dir(self.summary)
        )


def load_run(path: str | Path, registry: Registry | None = None) -> LoadedRun:
    """Load a run folder, with the installed plugins unless ``registry`` is given; a
    component whose plugin is missing names the package to install."""
    registry = registry or load_registry()
    folder = RunDirectory(Path(path))
    summary = folder.read_json(SUMMARY)
    spec = read_run_spec(folder, registry)
    model = build_model(spec, registry, int(summary["features"]), summary["classes"])
    try:
        model.load_state(folder.read_weights())
    except ValueError as exc:
        raise MlpspecError(f"{folder.path}: {exc}") from None
    return LoadedRun(folder.path, spec, summary, model, registry)


def read_run_spec(folder: RunDirectory, registry: Registry) -> Spec:
    """The resolved spec a run folder holds."""
    try:
        return validate_spec(read_toml(folder.path / SPEC), registry, str(folder.path / SPEC))
    except SpecError as exc:
        raise _explain_missing(exc, folder) from None


def _explain_missing(error: SpecError, folder: RunDirectory) -> SpecError:
    """Add, to each unknown component, the package that supplied it when the run was made."""
    try:
        records = folder.read_json(COMPONENTS)
    except MlpspecError:
        return error
    notes = []
    for record in records:
        if record.get("distribution") and any(
            f"unknown {record['kind']} {record['name']!r}" in p.message for p in error.problems
        ):
            notes.append(
                f"{record['kind']} {record['name']!r} came from {record['distribution']} "
                f"{record['version']}: install it (pip install {record['distribution']})"
            )
    if not notes:
        return error
    return SpecError(error.source, [*error.problems, *(Problem("", note) for note in notes)])
