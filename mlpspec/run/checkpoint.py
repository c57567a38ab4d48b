"""Checkpoints: everything a training run's future depends on, in one ``.npz`` file.

A checkpoint is taken at an epoch boundary and holds the model's parameters and buffers, the
optimizer's state (momentum velocities), a stateful scheduler's state, the state of every
random generator (batch sampling and each layer's own stream), the loop's counters, early
stopping's best weights and patience, the weights of the last good evaluation, and the
history so far. Restoring all of it into a freshly built trainer makes the rest of the run
identical, bit for bit, to a run that was never interrupted.

The file loads with ``allow_pickle=False``: arrays are stored under prefixed names
(``model/layers.0.weight``, ``optimizer/velocity.0``) and everything else as one JSON
document in a ``uint8`` array named ``meta``. It is written atomically, like every file of
a run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from mlpspec.core.components import Array
from mlpspec.core.errors import DataError
from mlpspec.engine.training import Evaluation, History, LoopState, Trainer
from mlpspec.run.rundir import load_arrays, save_arrays

FORMAT = 1
FOLDER = "checkpoints"
_NAME = re.compile(r"epoch-(\d+)\.npz")


def capture(trainer: Trainer) -> dict[str, Array]:
    """The trainer's whole state as named arrays, ready for :func:`write`."""
    state = trainer.state
    arrays: dict[str, Array] = {}
    sections: dict[str, Mapping[str, Array] | None] = {
        "model": trainer.model.state(),
        "optimizer": trainer.optimizer.state(),
        "scheduler": _scheduler_state(trainer),
        "last_good": state.last_good,
        "best": state.best_state,
    }
    for section, values in sections.items():
        arrays.update({f"{section}/{name}": np.asarray(a) for name, a in (values or {}).items()})
    history = state.history
    meta = {
        "format": FORMAT,
        "plan": asdict(history.plan),
        "epochs_run": history.epochs_run,
        "steps": history.steps,
        "seconds": history.seconds,
        "best_epoch": history.best_epoch,
        "evaluations": [e.to_dict() for e in history.evaluations],
        "best_loss": state.best_loss,
        "worse": state.worse,
        "has_best": state.best_state is not None,
        "generators": {
            "sampling": trainer.rng.bit_generator.state,
            **{name: g.bit_generator.state for name, g in trainer.model.generators.items()},
        },
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return arrays


def restore(trainer: Trainer, arrays: Mapping[str, Array], source: Path) -> None:
    """Put a checkpoint's state into a trainer built from the same spec and data."""
    meta = json.loads(bytes(arrays["meta"]).decode())
    sections: dict[str, dict[str, Array]] = {}
    for key, array in arrays.items():
        section, _, name = key.partition("/")
        if name:
            sections.setdefault(section, {})[name] = array
    if meta.get("format") != FORMAT:
        raise DataError(f"{source}: checkpoint format {meta.get('format')}, expected {FORMAT}")
    history = History(trainer.plan)
    if meta["plan"] != asdict(trainer.plan):
        raise DataError(
            f"{source}: the checkpoint was made for a plan of {meta['plan']}, but the data now "
            f"gives {asdict(trainer.plan)}: has the dataset changed?"
        )
    generators = {"sampling": trainer.rng, **trainer.model.generators}
    if set(meta["generators"]) != set(generators):
        raise DataError(f"{source}: the checkpoint's random generators do not fit this model")
    last_good = sections.get("last_good", {})
    try:
        trainer.model.load_state(last_good)  # only to check that its names and shapes fit
        trainer.model.load_state(sections.get("model", {}))
    except ValueError as exc:
        raise DataError(f"{source}: {exc}") from None
    trainer.optimizer.load_state(sections.get("optimizer", {}))
    if hasattr(trainer.scheduler, "load_state"):
        trainer.scheduler.load_state(sections.get("scheduler", {}))
    for name, generator in generators.items():
        generator.bit_generator.state = meta["generators"][name]
    history.evaluations = [Evaluation(**e) for e in meta["evaluations"]]
    history.epochs_run, history.steps = meta["epochs_run"], meta["steps"]
    history.seconds, history.best_epoch = meta["seconds"], meta["best_epoch"]
    trainer.state = LoopState(
        history,
        last_good,
        best_loss=meta["best_loss"],
        best_state=sections.get("best", {}) if meta["has_best"] else None,
        worse=meta["worse"],
    )


def _scheduler_state(trainer: Trainer) -> Mapping[str, Array] | None:
    state = getattr(trainer.scheduler, "state", None)
    return state() if callable(state) else None


def write(folder: Path, trainer: Trainer, keep: int) -> Path:
    """Write the trainer's checkpoint into ``folder/checkpoints``, keeping the latest ``keep``."""
    path = folder / FOLDER / f"epoch-{trainer.state.history.epochs_run:04d}.npz"
    save_arrays(path, capture(trainer))
    for old in find(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def find(folder: Path) -> list[Path]:
    """The checkpoints of a run folder, oldest first."""
    paths = [p for p in (folder / FOLDER).glob("epoch-*.npz") if _NAME.fullmatch(p.name)]
    return sorted(paths, key=lambda p: int(_NAME.fullmatch(p.name)[1]))


def read(path: Path) -> dict[str, Array]:
    """The arrays of a checkpoint file; a damaged file is a :class:`DataError` naming it."""
    arrays = load_arrays(path, "checkpoint")
    try:
        json.loads(bytes(arrays["meta"]).decode())
    except Exception as exc:  # JSON and missing-key errors alike
        raise DataError(
            f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})"
        ) from None
    return arrays


def latest(folder: Path) -> tuple[Path, dict[str, Any]]:
    """The newest readable checkpoint of a run folder (an unreadable one is passed over)."""
    problems = []
    for path in reversed(find(folder)):
        try:
            return path, read(path)
        except DataError as exc:
            problems.append(str(exc))
    if problems:
        raise DataError("no readable checkpoint:\n  " + "\n  ".join(problems))
    raise DataError(
        f"{folder}: no checkpoint to resume from (one is written when a run is interrupted, "
        "and every train.checkpoint_every epochs)"
    )
