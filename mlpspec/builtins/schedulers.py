"""Built-in learning-rate schedulers: constant, linear decay and exponential decay.

The decays move once per epoch from the optimizer's lr at the first epoch to ``final_lr`` at
the last, over ``epochs − 1`` steps, as document 004 does:
linear lr_e = lr − (lr − final)·e/(E−1), exponential lr_e = lr·(final/lr)^(e/(E−1)).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from mlpspec.core.components import Schedule
from mlpspec.core.hookspec import hookimpl
from mlpspec.core.registry import Params


class Constant:
    """The optimizer's lr throughout."""

    def __init__(self, params: Params, schedule: Schedule) -> None:
        self.base_lr = schedule.base_lr

    def lr(self, epoch: int, step: int) -> float:
        return self.base_lr


class DecayParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{"final_lr": 0.01}]})

    final_lr: float = Field(gt=0, allow_inf_nan=False)
    """The learning rate of the last epoch."""


class Decay:
    """Shared by the decays: the fraction of the run done, counted in whole epochs."""

    def __init__(self, params: DecayParams, schedule: Schedule) -> None:
        self.base_lr = schedule.base_lr
        self.final_lr = params.final_lr
        self.last_epoch = max(schedule.epochs - 1, 1)

    def progress(self, epoch: int) -> float:
        return min(epoch / self.last_epoch, 1.0)


class LinearDecay(Decay):
    """From lr to final_lr in equal steps, once per epoch."""

    def lr(self, epoch: int, step: int) -> float:
        return self.base_lr - (self.base_lr - self.final_lr) * self.progress(epoch)


class ExponentialDecay(Decay):
    """From lr to final_lr by a constant factor per epoch."""

    def lr(self, epoch: int, step: int) -> float:
        return self.base_lr * (self.final_lr / self.base_lr) ** self.progress(epoch)


@hookimpl
def mlpspec_register_schedulers(register) -> None:
    register("constant", Constant)
    register("linear", LinearDecay, DecayParams)
    register("exponential", ExponentialDecay, DecayParams)
