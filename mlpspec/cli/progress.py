"""The console display of a run: a progress bar within long epochs, a line per evaluation;
or, for scripts, one JSON object per evaluation. Both are Trainer callbacks."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from tqdm import tqdm

from mlpspec.core.text import printable
from mlpspec.engine.training import Callback, Evaluation, Trainer

GREEN, YELLOW, BOLD, RESET = "\033[32m", "\033[33m", "\033[1m", "\033[0m"


def use_colour(stream: TextIO) -> bool:
    """Colour only for a person at a terminal who has not asked for none (no-color.org)."""
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def paint(text: str, colour: str, enabled: bool) -> str:
    return f"{colour}{text}{RESET}" if enabled else text


def is_share(metric: str) -> bool:
    """Metrics shown in percent: accuracies, precision, recall, F1."""
    return metric.endswith("accuracy") or metric in ("precision", "recall", "macro_f1")


def format_value(name: str, value: float, *, aligned: bool = True) -> str:
    """``91.20%`` for shares (accuracies, precision, recall, F1), ``0.3120`` for the rest;
    ``aligned`` pads shares to one width, for columns of lines."""
    if is_share(name):
        return f"{value:7.2%}" if aligned else f"{value:.2%}"
    return f"{value:.4f}"


class ConsoleProgress(Callback):
    """Prints a line per evaluation to ``out``; shows a bar on ``bar_stream`` if a terminal.

    With ``colour`` (by default: when ``out`` is a terminal and NO_COLOR is unset), a new best
    validation accuracy (or loss, without accuracy) is green and the early-stopping note
    yellow.
    """

    def __init__(
        self,
        out: TextIO | None = None,
        bar_stream: TextIO | None = None,
        colour: bool | None = None,
    ) -> None:
        self.out = out or sys.stdout
        self.bar_stream = bar_stream or sys.stderr
        self.bar: tqdm | None = None
        self.colour = use_colour(self.out) if colour is None else colour
        self.best_val: float | None = None

    def on_train_start(self, trainer: Trainer) -> None:
        plan = trainer.plan
        self._print(
            f"training {plan.epochs} epoch{'s' if plan.epochs != 1 else ''} of "
            f"{plan.steps_per_epoch} step{'s' if plan.steps_per_epoch != 1 else ''} "
            f"(batch {plan.batch_size})"
        )

    def on_step_end(self, trainer: Trainer, epoch: int, done: int, total: int) -> None:
        if self.bar is None:
            # shown only on a terminal, and only for epochs that last more than a second
            self.bar = tqdm(
                total=total,
                desc=f"epoch {epoch + 1}",
                unit="step",
                leave=False,
                delay=1.0,
                file=self.bar_stream,
                disable=None,
            )
        self.bar.update(1)
        if done == total:
            self.bar.close()
            self.bar = None

    def on_evaluation(self, trainer: Trainer, evaluation: Evaluation) -> None:
        e, epochs = evaluation, trainer.plan.epochs
        parts = [f"epoch {e.epoch:>{len(str(epochs))}}/{epochs}"]
        parts += [_split("train", e.train)]
        if e.val is not None:
            val = _split("val", e.val)
            if self._improves(e.val):
                val = paint(val, GREEN, self.colour)
            parts.append(val)
        parts += [f"lr {e.lr:.4g}", f"{e.seconds:.1f}s"]
        self._print(" | ".join(parts))

    def _improves(self, val: Mapping[str, float]) -> bool:
        """Whether these validation values are the best yet (higher accuracy, or lower loss)."""
        score = val["accuracy"] if "accuracy" in val else -val["loss"]
        if self.best_val is None or score > self.best_val:
            self.best_val = score
            return True
        return False

    def on_train_end(self, trainer: Trainer) -> None:
        history = trainer.history
        if history.stopped_early:
            kept = f"; weights of epoch {history.best_epoch} kept" if history.best_epoch else ""
            self._print(
                paint(
                    f"stopped after epoch {history.epochs_run}: {history.stop_reason}{kept}",
                    YELLOW,
                    self.colour,
                )
            )

    def on_failure(self, trainer: Trainer, error: BaseException) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def _split(name: str, values: Mapping[str, float]) -> str:
    """``train loss 0.3120, accuracy 91.20%``: the loss first, then every metric."""
    ordered = sorted(values.items(), key=lambda item: item[0] != "loss")
    return f"{name} " + ", ".join(f"{metric} {format_value(metric, v)}" for metric, v in ordered)


class JsonProgress(Callback):
    """One JSON object per evaluation on ``out`` (``{"event": "evaluation", ...}``), flushed
    at once so that a script reading the pipe sees each as it happens."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def on_evaluation(self, trainer: Trainer, evaluation: Evaluation) -> None:
        self.emit({"event": "evaluation", **evaluation.to_dict(), "epochs": trainer.plan.epochs})

    def emit(self, record: dict[str, Any]) -> None:
        print_json(record, self.out)


def print_json(record: Any, out: TextIO | None = None) -> None:
    """One line of strict JSON (:func:`strict_json`), flushed at once for a reading script."""
    print(json.dumps(strict_json(record)), file=out or sys.stdout, flush=True)


def warn(text: str) -> None:
    """``warning: text`` on stderr, escaped (the text may quote a plugin's or a file's)."""
    print(f"warning: {printable(text)}", file=sys.stderr)


def strict_json(value: Any) -> Any:
    """``value`` with NaN and infinities as ``null``: strict JSON parsers reject the bare
    tokens Python writes for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value
