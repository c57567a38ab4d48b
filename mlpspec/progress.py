"""The console display of a run: a progress bar within long epochs, a line per evaluation."""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

from mlpspec.training import Evaluation, History, Plan


class ConsoleReporter:
    """Prints a line per evaluation to ``out``; shows a bar on ``bar_stream`` if a terminal."""

    def __init__(self, out: TextIO | None = None, bar_stream: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.bar_stream = bar_stream or sys.stderr
        self.bar: tqdm | None = None

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
            parts.append(f"val {e.val_accuracy:7.2%} (loss {e.val_loss:.4f})")
        parts += [f"lr {e.lr:.4g}", f"{e.seconds:.1f}s"]
        self._print(" | ".join(parts))

    def end(self, history: History) -> None:
        if history.stopped_early:
            self._print(
                f"early stopping after epoch {history.epochs_run}: the validation loss rose; "
                f"weights of epoch {history.best_epoch} restored"
            )

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)
