"""The plugin module the ``mlpspec.plugins`` entry point names: it registers every
component of the package, under names that do not clash with mlpspec's built-ins."""

from __future__ import annotations

from mlpspec import HOOK_API_VERSION, hookimpl
from mlpspec_layers.activations import GELU, LeakyReLU, LeakyReLUParams
from mlpspec_layers.batchnorm import BatchNorm, BatchNormParams
from mlpspec_layers.initializers import HeUniform

MLPSPEC_HOOK_API = HOOK_API_VERSION
"""The hook API this plugin was written for; mlpspec refuses it at load if it has changed."""


@hookimpl
def mlpspec_register_layers(register) -> None:
    register("batchnorm", BatchNorm, BatchNormParams)


@hookimpl
def mlpspec_register_activations(register) -> None:
    register("leaky_relu", LeakyReLU, LeakyReLUParams)
    register("gelu", GELU)


@hookimpl
def mlpspec_register_initializers(register) -> None:
    register("he_uniform", HeUniform)
