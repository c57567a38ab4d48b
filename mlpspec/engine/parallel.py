"""Elementwise updates of large arrays, split across threads when asked to.

numpy releases the GIL inside its ufuncs, so threads working on disjoint slices of the same
arrays run at once. Each element is computed exactly as one thread would compute it, so the
results are bit-identical whatever the number of threads. Arrays too small to be worth the
hand-off are updated on the calling thread.

Splitting is off unless asked for (``$MLPSPEC_THREADS``): the BLAS already runs a thread per
core, whose threads keep spinning between the step's matrix products, and an update split
among them competed with them. Whole training steps measured slower with the split, in
every in-process A/B on a 2-core machine: W3 (784-178-46, one 139 k-element weight) 0.88×
the time without it in three runs, W5 (784-800-800) 0.96–0.98× in three. Split updates pay
where cores would otherwise idle: the BLAS held to fewer threads (``OPENBLAS_NUM_THREADS``).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mlpspec.core.errors import UsageError

MIN_SPLIT = 1 << 17
"""Elements below which an update stays on one thread (the hand-off costs ~20 µs)."""

THREADS_VARIABLE = "MLPSPEC_THREADS"
MAX_THREADS = 1024
THREADS: int | None = None
"""How many threads split an update: set by :func:`use_threads`, else read from
``$MLPSPEC_THREADS`` when first needed (:func:`threads`)."""
_pool: ThreadPoolExecutor | None = None


def threads() -> int:
    """How many threads split an update: :func:`use_threads`'s count, else
    ``$MLPSPEC_THREADS`` (unset: 1, no splitting; 0: one per core). Read when first needed,
    not at import, so that a bad value is a usage error naming the variable rather than every
    plugin that imports this module failing to load."""
    global THREADS
    if THREADS is None:
        THREADS = _from_environment()
    return THREADS


def _from_environment() -> int:
    text = os.environ.get(THREADS_VARIABLE, "").strip()
    count = int(text) if re.fullmatch(r"[0-9]{1,6}", text) else None
    if text and (count is None or count > MAX_THREADS):
        raise UsageError(
            f"{THREADS_VARIABLE}: expected a number of threads from 1 to {MAX_THREADS} (0: one "
            f"per core; unset: 1), got {text[:40]!r}"
        )
    if count is None:
        return 1
    return count or len(os.sched_getaffinity(0))


def use_threads(count: int) -> None:
    """Split updates over ``count`` threads from now on, as ``MLPSPEC_THREADS`` does at start:
    for a process that runs several trainings side by side with others (a sweep's worker)."""
    global THREADS, _pool
    if count != THREADS and _pool is not None:
        _pool.shutdown(wait=False)
        _pool = None
    THREADS = max(count, 1)


def elementwise(
    update: Callable[..., None], arrays: Sequence[np.ndarray], *args: object
) -> None:
    """Call ``update(*slices, *args)`` on matching slices of same-shaped, contiguous
    ``arrays``."""
    size = arrays[0].size
    count = threads()
    if count == 1 or size < MIN_SPLIT:
        update(*arrays, *args)
        return
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(count - 1, thread_name_prefix="mlpspec")
    flat = [array.reshape(-1) for array in arrays]
    bounds = [size * i // count for i in range(count + 1)]
    parts = [tuple(f[lo:hi] for f in flat) for lo, hi in itertools.pairwise(bounds)]
    pending = [_pool.submit(update, *part, *args) for part in parts[1:]]
    update(*parts[0], *args)
    for future in pending:
        future.result()
