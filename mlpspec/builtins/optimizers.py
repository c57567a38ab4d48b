"""Built-in optimizers: plain SGD and SGD with momentum.

Both update the parameters in place, through :mod:`mlpspec.engine.kernels` (one fused pass
for large parameters with the ``fast`` extra, numpy's passes otherwise; the same bits either
way). Momentum keeps one
velocity per parameter, in the form document 004 uses: v ← μ·v + lr·g; w ← w − v (the
learning rate is folded into v, so a schedule changes the step at once rather than through
the velocity).
"""

from __future__ import annotations

import numpy as np
from pydantic import ConfigDict, Field

from mlpspec.core.components import Array, Parameter
from mlpspec.core.hookspec import hookimpl
from mlpspec.core.registry import Params
from mlpspec.engine import kernels
from mlpspec.engine.parallel import elementwise

LearningRate = Field(gt=0, allow_inf_nan=False)


class SGDParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{"lr": 0.1}]})

    lr: float = LearningRate


class SGD:
    """w ← w − lr·g (the gradient array is scaled in place)."""

    def __init__(self, params: SGDParams) -> None:
        self.lr = params.lr

    def step(self, parameters: list[Parameter], lr: float) -> None:
        for p in parameters:
            elementwise(kernels.sgd_for(p.value.size), (p.value, p.grad), lr)

    def state(self) -> dict[str, Array]:
        return {}

    def load_state(self, state: dict[str, Array]) -> None:
        pass


class MomentumParams(SGDParams):
    momentum: float = Field(0.9, ge=0, lt=1)


class SGDMomentum:
    """v ← μ·v + lr·g;  w ← w − v."""

    def __init__(self, params: MomentumParams) -> None:
        self.lr = params.lr
        self.momentum = params.momentum
        self.velocities: list[Array] = []

    def step(self, parameters: list[Parameter], lr: float) -> None:
        if not self.velocities:
            self.velocities = [np.zeros_like(p.value) for p in parameters]

        for p, v in zip(parameters, self.velocities, strict=True):
            update = kernels.momentum_for(p.value.size)
            elementwise(update, (p.value, p.grad, v), self.momentum, lr)

    def state(self) -> dict[str, Array]:
        return {f"velocity.{i}": v for i, v in enumerate(self.velocities)}

    def load_state(self, state: dict[str, Array]) -> None:
        self.velocities = [state[f"velocity.{i}"] for i in range(len(state))]


@hookimpl
def mlpspec_register_optimizers(register) -> None:
    register("sgd", SGD, SGDParams)
    register("sgd_momentum", SGDMomentum, MomentumParams)
