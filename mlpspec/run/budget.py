"""The memory a spec's network would need, estimated before anything is allocated.

A typo like ``units = 1000000`` would otherwise ask numpy for terabytes, and either fail
deep inside a layer's initializer or swap the machine to a halt. The estimate is simple
arithmetic on the spec: each parameter is held ``PARAMETER_COPIES`` times (value, gradient,
optimizer state, and the snapshots of the last good and best evaluations), and each layer's
output ``ACTIVATION_COPIES`` times for a batch (or an evaluation chunk, whichever is larger).
It is meant to catch the absurd, not to predict the exact peak.

A layer says its size through two optional methods of its params model, which the built-in
layers define and a plugin's layer may::

    def parameter_count(self, in_features: int) -> int: ...
    def out_features(self, in_features: int) -> int: ...

At the first layer without them the estimate stops (its width is unknown from there on), so
such a layer is never refused for want of an estimate.
"""

from __future__ import annotations

import os
import re

import numpy as np

from mlpspec.core.errors import Problem, SpecError
from mlpspec.core.spec import Spec
from mlpspec.engine.model import EVAL_CHUNK

PARAMETER_COPIES = 5
ACTIVATION_COPIES = 4
LIMIT_VARIABLE = "MLPSPEC_MAX_MEMORY"
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?", re.IGNORECASE)
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def memory_limit() -> int:
    """Bytes a run may use: ``$MLPSPEC_MAX_MEMORY`` (``8G``, ``512M``, bytes), else the
    machine's physical memory."""
    text = os.environ.get(LIMIT_VARIABLE, "").strip()
    if text:
        match = _SIZE.fullmatch(text)
        if not match:
            raise SpecError(
                LIMIT_VARIABLE, [Problem("", f"expected a size like 8G or 512M, got {text!r}")]
            )
        return int(float(match[1]) * _UNITS[match[2].upper()])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(
    spec: Spec, features: int, examples: int | None = None, limit: int | None = None
) -> None:
    """Refuse a network that needs more than ``limit`` bytes, at the layer that crosses it."""
    limit = memory_limit() if limit is None else limit
    itemsize = np.dtype(spec.model.dtype).itemsize
    batch = spec.train.batch_size
    if batch == "full":
        batch = examples or EVAL_CHUNK
    rows = max(batch, min(EVAL_CHUNK, examples or EVAL_CHUNK))
    width, total = features, 0
    for index, config in enumerate(spec.layers):
        count = getattr(config.params, "parameter_count", None)
        out_features = getattr(config.params, "out_features", None)
        if not (callable(count) and callable(out_features)):
            return
        parameters, out = count(width), out_features(width)
        need = itemsize * (PARAMETER_COPIES * parameters + ACTIVATION_COPIES * rows * out)
        total += need
        if total > limit:
            raise SpecError(
                spec.source,
                [
                    Problem(
                        f"layers[{index}]",
                        f"too large: the network would need about {_gb(total)} of memory to "
                        f"train, this layer alone {_gb(need)} ({parameters:,} parameters, "
                        f"{out:,} outputs for batches of {rows:,}), more than the {_gb(limit)} "
                        f"allowed (${LIMIT_VARIABLE}, else the machine's memory)",
                    )
                ],
            )
        width = out


def _gb(size: int) -> str:
    return f"{size / 2**30:,.1f} GB"
