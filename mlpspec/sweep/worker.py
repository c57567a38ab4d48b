"""A local sweep worker: ``python -m mlpspec.sweep.worker``, started by the ``local`` executor.

It reads one :class:`~mlpspec.sweep.trial.TrialTask` per line on stdin, runs it, and writes
one JSON line per task on its stdout: ``{"outcome": {...}}``, or ``{"error": "..."}`` when it
cannot run trials at all. Anything a plugin prints goes to stderr, so that nothing can corrupt
the answers. The executor starts it with one thread for BLAS and for mlpspec's pool, and in a
session of its own, so that a Ctrl-C at the terminal reaches the coordinator only, which passes
it on exactly once.

A SIGINT or SIGTERM stops the trial at its epoch's end, with a checkpoint (during training the
run's own handler does it; while a trial is being set up, the flag kept here does it at the
first step); a second one aborts it, as for ``mlpspec run``. When the coordinator goes away
(its end of stdin closes) the running trial is stopped the same way, so that a resumed sweep
continues it from its checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import sys
import threading
from types import FrameType
from typing import IO

from mlpspec.core.errors import MlpspecError, describe
from mlpspec.core.shutdown import exit_process
from mlpspec.sweep.trial import TrialTask, run_trial


class _Flag:
    """A signal handler that only remembers the signal came."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum

    def is_set(self) -> bool:
        return self.signum is not None


def main() -> int:
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    with contextlib.suppress(BrokenPipeError), answers:  # the coordinator may be gone
        return _serve(answers)
    return 0


def _serve(answers: IO[str]) -> int:
    stop = _Flag()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    tasks: queue.Queue[str | None] = queue.Queue()
    busy = threading.Event()

    def read() -> None:
        for line in sys.stdin:
            tasks.put(line)
        tasks.put(None)
        if busy.is_set():  # the coordinator is gone: stop the trial, resumable
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=read, name="tasks", daemon=True).start()
    while (line := tasks.get()) is not None:
        busy.set()
        try:
            outcome = run_trial(TrialTask.model_validate_json(line), should_stop=stop.is_set)
            answer = {"outcome": outcome.model_dump(mode="json")}
        except MlpspecError as exc:
            answer = {"error": str(exc)}
        except Exception as exc:
            answer = {"error": f"internal error: {describe(exc)}"}
        finally:
            busy.clear()
        try:
            answers.write(json.dumps(answer) + "\n")
        except BrokenPipeError:
            return 0
    return 0


if __name__ == "__main__":
    exit_process(main())
