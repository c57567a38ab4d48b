"""The console display of a run: a progress bar within long epochs, a line per evaluation;
or, for scripts, one JSON object per evaluation."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from tqdm import tqdm

from mlpspec.engine.training import Evaluation, History, Plan

GREEN, YELLOW, BOLD, RESET = "\033[32m", "\033[33m", "\033[1m", "\033[0m"


def use_colour(stream: TextIO) -> bool:
    """Colour only for a person at a terminal who has not asked for none (no-color.org)."""
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def paint(text: str, colour: str, enabled: bool) -> str:
    return f"{colour}{text}{RESET}" if enabled else text


class ConsoleReporter:
    """Prints a line per evaluation to ``out``; shows a bar on ``bar_stream`` if a terminal.

    With ``colour`` (by default: when ``out`` is a terminal and NO_COLOR is unset), a new best
    validation accuracy is green and the early-stopping note yellow.
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

    def start(self, plan: Plan) -> None:
        self._print(
            f"training {plan.epochs} epoch{'s' if plan.epochs != 1 else ''} of "
            f"{plan.steps_per_epoch} step{'s' if plan.steps_per_epoch != 1 else ''} "
            f"(batch {plan.batch_size})"
        )

    def epoch_progress(self, epoch: int, done: int, total: int) -> None:
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

    def evaluation(self, evaluation: Evaluation, plan: Plan) -> None:
        e = evaluation
        width = len(str(plan.epochs))
        parts = [
            f"epoch {e.epoch:>{width}}/{plan.epochs}",
            f"loss {e.train_loss:.4f}",
            f"train {e.train_accuracy:7.2%}",
        ]
        if e.val_loss is not None:
            val = f"val {e.val_accuracy:7.2%}"
            if self.best_val is None or e.val_accuracy > self.best_val:
                self.best_val = e.val_accuracy
                val = paint(val, GREEN, self.colour)
            parts.append(f"{val} (loss {e.val_loss:.4f})")
        parts += [f"lr {e.lr:.4g}", f"{e.seconds:.1f}s"]
        self._print(" | ".join(parts))

    def end(self, history: History) -> None:
        if history.stopped_early:
            self._print(
                paint(
                    f"early stopping after epoch {history.epochs_run}: the validation loss rose; "
                    f"weights of epoch {history.best_epoch} restored",
                    YELLOW,
                    self.colour,
                )
            )

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


class JsonReporter:
    """One JSON object per evaluation on ``out`` (``{"event": "evaluation", ...}``), flushed
    at once so that a script reading the pipe sees each as it happens."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def start(self, plan: Plan) -> None:
        pass

    def epoch_progress(self, epoch: int, done: int, total: int) -> None:
        pass

    def evaluation(self, evaluation: Evaluation, plan: Plan) -> None:
        self.emit({"event": "evaluation", **evaluation.to_dict(), "epochs": plan.epochs})

    def end(self, history: History) -> None:
        pass

    def emit(self, record: dict[str, Any]) -> None:
        print(json.dumps(record), file=self.out, flush=True)
