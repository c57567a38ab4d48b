"""Turning Ctrl-C (SIGINT) and SIGTERM into a clean stop at the next epoch boundary.

A signal only sets a flag: the training loop finishes the epoch it is in, writes a
checkpoint and stops, so that nothing is half-updated and a resumed run continues exactly
where this one left off. A second signal aborts at once (:class:`Aborted`, a
``KeyboardInterrupt``), for a user who will not wait: the run is still recorded as
interrupted, with the last good weights, and the exit status is that of the second signal.
The previous handlers are restored on exit: library code called from Python must not leave
its handlers behind.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from mlpspec.core.hooks import UserInterrupt

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Aborted(UserInterrupt):
    """A second signal: stop now, without waiting for the epoch's end."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"{signal.Signals(signum).name} again: aborted at once")


class StopRequest:
    """The signal handler, and the record of which signal asked to stop (if any)."""

    def __init__(self, checkpointing: bool = True) -> None:
        self.signum: int | None = None
        self.checkpointing = checkpointing
        self.recording = False
        """Set while the outcome is being saved: a further signal then waits for it."""
        self.last: int | None = None
        """The latest signal received, for the exit status."""

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.last = signum
        if self.recording:
            return  # the run is being recorded as stopped already: let that finish
        if self.signum is not None:
            raise Aborted(signum)
        self.signum = signum
        purpose = " to write a checkpoint" if self.checkpointing else ""
        print(
            f"\n{signal.Signals(signum).name}: stopping at the end of this epoch{purpose} "
            "(send it again to stop at once)",
            file=sys.stderr,
            flush=True,
        )


@contextmanager
def stop_on_signals(checkpointing: bool = True) -> Iterator[StopRequest]:
    """Catch SIGINT and SIGTERM as a :class:`StopRequest` for the duration of the block
    (``checkpointing``: whether a stop writes a checkpoint, for the message).

    Outside the main thread Python cannot install handlers; the request then never fires and
    signals keep their usual effect.
    """
    request = StopRequest(checkpointing)
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {signum: signal.signal(signum, request) for signum in STOP_SIGNALS}
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
