"""The plugin module the ``mlpspec.plugins`` entry point names: it registers every
component of the package, under names that do not clash with mlpspec's built-ins."""

from __future__ import annotations

from mlpspec import HOOK_API_VERSION, hookimpl
from mlpspec_optim.optimizers import (
    Adam,
    AdamParams,
    AdamW,
    AdamWParams,
    Nesterov,
    NesterovParams,
    RMSprop,
    RMSpropParams,
)
from mlpspec_optim.schedulers import CosineWarmup, CosineWarmupParams, StepDecay, StepParams

MLPSPEC_HOOK_API = HOOK_API_VERSION
"""The hook API this plugin was written for; mlpspec refuses it at load if it has changed."""


@hookimpl
def mlpspec_register_optimizers(register) -> None:
    register("adam", Adam, AdamParams)
    register("adamw", AdamW, AdamWParams)
    register("rmsprop", RMSprop, RMSpropParams)
    register("nesterov", Nesterov, NesterovParams)


@hookimpl
def mlpspec_register_schedulers(register) -> None:
    register("step", StepDecay, StepParams)
    register("cosine_warmup", CosineWarmup, CosineWarmupParams)
