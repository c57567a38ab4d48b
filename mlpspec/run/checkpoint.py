"""Checkpoints: a trainer's whole state (:meth:`Trainer.state_dict`) in one ``.npz`` file.

Taken at an epoch boundary, a checkpoint holds the model's parameters and buffers, the
optimizer's and a stateful scheduler's state, every random generator's state, the loop's
counters and history, the last good weights and the callbacks' state (early stopping's best
weights). Restoring it into a freshly built trainer makes the rest of the run identical, bit
for bit, to a run that was never interrupted.

The file loads with ``allow_pickle=False``: arrays are stored under prefixed names
(``model/layers.0.weight``) and everything else as one JSON document in a ``uint8`` array
named ``meta``, with the fingerprint of the resolved spec it was made for. What a checkpoint
says is checked before anything is restored or written: one made for another spec, or
malformed (counters beyond the plan, arrays of another shape or dtype, a generator state of
another kind), is refused with the reason, and an older readable checkpoint is used instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlpspec.core.errors import DataError, format_location
from mlpspec.data.npz import read_npz
from mlpspec.engine.training import Trainer, TrainerState
from mlpspec.run.rundir import save_arrays

FORMAT = 2
FOLDER = "checkpoints"
_NAME = re.compile(r"epoch-(\d+)\.npz")


class _Meta(BaseModel):
    """The JSON part of a checkpoint, as :meth:`Trainer.state_dict` gives it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    format: Literal[2]
    fingerprint: str | None
    plan: dict[str, int]
    epochs_run: int = Field(ge=1)
    steps: int = Field(ge=1)
    seconds: float = Field(ge=0, allow_inf_nan=False)
    best_epoch: int | None
    learning_rates: list[float]
    evaluations: list[dict[str, int | float]]
    generators: dict[str, dict[str, Any]]
    callbacks: dict[str, dict[str, Any]]


def write(folder: Path, trainer: Trainer, fingerprint: str, keep: int) -> Path:
    """Write the trainer's checkpoint into ``folder/checkpoints``, keeping the latest ``keep``."""
    state = trainer.state_dict()
    meta = {"format": FORMAT, "fingerprint": fingerprint, **state.meta}
    path = folder / FOLDER / f"epoch-{trainer.history.epochs_run:04d}.npz"
    save_arrays(path, {**state.arrays, "meta": _encode(meta)})
    for old in find(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def _encode(meta: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


def find(folder: Path) -> list[Path]:
    """The checkpoints of a run folder, oldest first."""
    paths = [p for p in (folder / FOLDER).glob("epoch-*.npz") if _NAME.fullmatch(p.name)]
    return sorted(paths, key=lambda p: int(_NAME.fullmatch(p.name)[1]))


def read(path: Path) -> TrainerState:
    """A checkpoint file as a :class:`TrainerState`; a damaged or malformed one is a
    :class:`DataError` naming it and saying what is wrong."""
    arrays = read_npz(path, what="checkpoint")
    try:
        raw = json.loads(bytes(arrays.pop("meta")).decode())
    except Exception as exc:  # a missing meta, bytes that are not JSON: all one damage
        raise DataError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    if isinstance(raw, dict) and raw.get("format") == 1:
        raw, arrays = _from_format_1(raw, arrays)
    try:
        meta = _Meta.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = format_location(first["loc"]) or "meta"
        raise DataError(f"{path}: malformed checkpoint at {where}: {first['msg']}") from None
    return TrainerState(arrays, meta.model_dump(exclude={"format"}))


def restore(trainer: Trainer, folder: Path, fingerprint: str) -> Path:
    """Put the newest usable checkpoint of ``folder`` into ``trainer``; returns its path.

    A checkpoint that cannot be read, was made for another spec, or does not fit the trainer
    is passed over for the one before it; when none is usable, the reasons are the error.
    """
    problems = []
    for path in reversed(find(folder)):
        try:
            state = read(path)
            made_for = state.meta.pop("fingerprint")
            if made_for is not None and made_for != fingerprint:
                raise DataError(
                    f"{path}: made for another spec (its fingerprint {made_for[:12]}..., this "
                    f"run's spec.toml {fingerprint[:12]}...): was spec.toml edited?"
                )
            try:
                trainer.load_state_dict(state)
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(f"{path}: does not fit this run: {exc}") from None
            return path
        except DataError as exc:
            problems.append(str(exc))
    if problems:
        raise DataError("no usable checkpoint:\n  " + "\n  ".join(problems))
    raise DataError(
        f"{folder}: no checkpoint to resume from (one is written when a run is interrupted, "
        "and every train.checkpoint_every epochs)"
    )


def _from_format_1(meta: dict[str, Any], arrays: dict[str, Any]) -> tuple[dict, dict]:
    """mlpspec 0.1's checkpoint: early stopping's state was the loop's own, and evaluations
    had fixed fields."""
    arrays = {
        (f"callbacks/early_stopping/{k}" if k.startswith("best/") else k): a
        for k, a in arrays.items()
    }
    callbacks = {}
    if meta.get("has_best") is not None:
        callbacks["early_stopping"] = {
            "best": meta.get("best_loss"),
            "best_epoch": meta.get("best_epoch"),
            "worse": meta.get("worse"),
        }
    evaluations = [
        {k: v for k, v in e.items() if v is not None} for e in meta.get("evaluations", [])
    ]
    converted = {
        "format": FORMAT,
        "fingerprint": None,
        "plan": meta.get("plan"),
        "epochs_run": meta.get("epochs_run"),
        "steps": meta.get("steps"),
        "seconds": meta.get("seconds"),
        "best_epoch": meta.get("best_epoch"),
        "learning_rates": [],
        "evaluations": evaluations,
        "generators": meta.get("generators"),
        "callbacks": callbacks,
    }
    return converted, arrays
