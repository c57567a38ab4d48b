"""The memory a spec's network would need, estimated before anything is allocated.

A typo like ``units = 1000000`` would otherwise ask numpy for terabytes, and either fail
deep inside a layer's initializer or swap the machine to a halt. The estimate is simple
arithmetic on the spec: each parameter is held ``PARAMETER_COPIES`` times (value, gradient,
optimizer state, and the snapshots of the last good and best evaluations), and each layer's
output ``ACTIVATION_COPIES`` times for a batch (or an evaluation chunk, whichever is larger;
the batch training really uses, which is never larger than the training set).
It is meant to catch the absurd, not to predict the exact peak.

A layer says its size through two optional methods of its params model, which the built-in
layers define and a plugin's layer may::

    def parameter_count(self, in_features: int) -> int: ...
    def out_features(self, in_features: int) -> int: ...

At the first layer without them the estimate stops (its width is unknown from there on), so
such a layer is never refused for want of an estimate.
"""

from __future__ import annotations

import numpy as np

from mlpspec.core.errors import Problem, SpecError
from mlpspec.core.limits import LIMIT_VARIABLE, gigabytes, memory_limit
from mlpspec.core.spec import Spec
from mlpspec.engine.model import EVAL_CHUNK

PARAMETER_COPIES = 5
ACTIVATION_COPIES = 4


def check_memory(
    spec: Spec, features: int, examples: int | None = None, limit: int | None = None
) -> None:
    """Refuse a network that needs more than ``limit`` bytes, at the layer that crosses it."""
    limit = memory_limit() if limit is None else limit
    itemsize = np.dtype(spec.model.dtype).itemsize
    batch = spec.train.batch_size
    if batch == "full":
        batch = examples or EVAL_CHUNK
    elif examples:
        batch = min(batch, examples)  # as training does: a batch is never larger than the set
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
                        f"too large: the network would need about {gigabytes(total)} of memory to "
                        f"train, this layer alone {gigabytes(need)} ({parameters:,} parameters, "
                        f"{out:,} outputs for batches of {rows:,}), more than the "
                        f"{gigabytes(limit)} allowed (${LIMIT_VARIABLE}, else the machine's "
                        "memory)",
                    )
                ],
            )
        width = out


