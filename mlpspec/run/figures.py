"""The one way mlpspec draws a PNG: a run's curves, a sweep's plots, an activation grid.

matplotlib is the optional ``plot`` extra, imported only when a figure is drawn; figures are
made with the object-oriented API (no pyplot, so no global state and no GUI backend), and
written atomically, so that a run folder never holds half a PNG.
"""

from __future__ import annotations

import functools
import importlib
import io
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from mlpspec.core.errors import MlpspecError
from mlpspec.run.rundir import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100


def available() -> bool:
    """Whether matplotlib (the ``plot`` extra) is installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def preload() -> None:
    """Import matplotlib on a thread of its own, if installed (once per process, however often
    called): for a command that draws at its end after waiting on other work (a sweep on its
    last trials), whose end then comes about half a second sooner (the import's cost here)."""
    if available():
        threading.Thread(
            target=importlib.import_module, args=("matplotlib.backends.backend_agg",),
            name="preload-matplotlib",
        ).start()


def figure(width: float, height: float) -> Figure:
    """A new figure of ``width`` by ``height`` inches; without matplotlib, an error saying
    what to install."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MlpspecError(
            "plots need matplotlib, which is not installed: pip install 'mlpspec[plot]'"
        ) from None
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save(drawn: Figure, path: Path) -> Path:
    """Write ``drawn`` as a PNG at ``path``, atomically; returns ``path``."""
    buffer = io.BytesIO()
    drawn.savefig(buffer, format="png", dpi=DPI)
    atomic_write(path, buffer.getvalue())
    return path
