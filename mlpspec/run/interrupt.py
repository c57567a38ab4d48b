"""Turning Ctrl-C (SIGINT) and SIGTERM into a clean stop at the next epoch boundary.

A signal only sets a flag: the training loop finishes the epoch it is in, writes a
checkpoint and stops, so that nothing is half-updated and a resumed run continues exactly
where this one left off. A second signal aborts at once (``KeyboardInterrupt``), for a user
who will not wait. The previous handlers are restored on exit: library code called from
Python must not leave its handlers behind.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from mlpspec.core.errors import MlpspecError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """The signal handler, and the record of which signal asked to stop (if any)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        print(
            f"\n{signal.Signals(signum).name}: stopping at the end of this epoch to write a "
            "checkpoint (send it again to abort without one)",
            file=sys.stderr,
            flush=True,
        )


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Catch SIGINT and SIGTERM as a :class:`StopRequest` for the duration of the block.

    Outside the main thread Python cannot install handlers; the request then never fires and
    signals keep their usual effect.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {signum: signal.signal(signum, request) for signum in STOP_SIGNALS}
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Interrupted(MlpspecError):
    """Training stopped on a signal after writing a checkpoint.

    The exit status is the shell's convention for death by that signal, 128 + its number
    (130 for SIGINT, 143 for SIGTERM), so that scripts see an interruption, not a failure.
    """

    def __init__(self, signum: int, message: str) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(message)
