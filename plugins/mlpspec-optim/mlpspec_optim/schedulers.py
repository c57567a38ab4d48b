"""Step decay and cosine annealing with linear warm-up."""

from __future__ import annotations

import math

from pydantic import ConfigDict, Field

from mlpspec import Params, Schedule


class StepParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{"every": 4, "gamma": 0.5}]})

    every: int = Field(10, gt=0)
    """Epochs between two decays."""
    gamma: float = Field(0.1, gt=0, le=1, allow_inf_nan=False)
    """The factor applied to the learning rate at each decay."""


class StepDecay:
    """lr·γ^⌊epoch / every⌋: the learning rate falls by γ every ``every`` epochs."""

    def __init__(self, params: StepParams, schedule: Schedule) -> None:
        self.base_lr = schedule.base_lr
        self.every, self.gamma = params.every, params.gamma

    def lr(self, epoch: int, step: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.every)


class CosineWarmupParams(Params):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{}, {"warmup_steps": 10, "min_lr": 0.001}]}
    )

    warmup_steps: int = Field(0, ge=0)
    """Steps over which the learning rate rises linearly to the optimizer's lr."""
    min_lr: float = Field(0.0, ge=0, allow_inf_nan=False)
    """The floor the cosine descends to at the end of the run."""


class CosineWarmup:
    """Linear warm-up over ``warmup_steps``, then a half cosine from lr to ``min_lr`` at the
    end of the run, updated every step (SGDR without restarts, Loshchilov & Hutter 2017).

    Warm-up step s uses lr·(s + 1)/warmup_steps, so the very first step is not at zero; the
    cosine reaches ``min_lr`` just after the last step, so every step's lr stays positive.
    """

    def __init__(self, params: CosineWarmupParams, schedule: Schedule) -> None:
        if params.min_lr >= schedule.base_lr:
            raise ValueError(
                f"min_lr ({params.min_lr}) must be below the optimizer's lr ({schedule.base_lr})"
            )
        self.base_lr, self.min_lr = schedule.base_lr, params.min_lr
        self.warmup = params.warmup_steps
        self.total = schedule.epochs * schedule.steps_per_epoch

    def lr(self, epoch: int, step: int) -> float:
        if step < self.warmup:
            return self.base_lr * (step + 1) / self.warmup
        progress = min((step - self.warmup) / max(self.total - self.warmup, 1), 1.0)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.min_lr + (self.base_lr - self.min_lr) * cosine
