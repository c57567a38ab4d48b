"""Built-in initializers: normal (with a scale), glorot, xavier (as document 002 defines it),
he, and zeros.

Each draws in float64 from the generator it is given and leaves the cast to the layer, so the
same seed gives the same starting point in float32 and float64.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from mlpspec.core.components import Array
from mlpspec.core.hookspec import hookimpl
from mlpspec.core.registry import Params


class NormalParams(Params):
    scale: float = Field(1.0, gt=0, allow_inf_nan=False)
    """The standard deviation."""


class Normal:
    """N(0, scale²) for every entry, whatever the layer's size."""

    def __init__(self, params: NormalParams) -> None:
        self.scale = params.scale

    def __call__(
        self, rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int
    ) -> Array:
        return rng.standard_normal(shape) * self.scale


class ScaledNormal:
    """N(0, std²) with std set by the layer's fans; the named initializers differ in ``std``."""

    def __init__(self, params: Params) -> None:
        pass

    @staticmethod
    def std(fan_in: int, fan_out: int) -> float:
        raise NotImplementedError

    def __call__(
        self, rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int
    ) -> Array:
        return rng.standard_normal(shape) * self.std(fan_in, fan_out)


class Glorot(ScaledNormal):
    """Glorot (Xavier) normal: std = sqrt(2 / (fan_in + fan_out)), Glorot & Bengio 2010."""

    @staticmethod
    def std(fan_in: int, fan_out: int) -> float:
        return math.sqrt(2.0 / (fan_in + fan_out))


class Xavier(ScaledNormal):
    """std = sqrt(1 / fan_in), the "xavier" of document 002 (LeCun normal by another name)."""

    @staticmethod
    def std(fan_in: int, fan_out: int) -> float:
        return math.sqrt(1.0 / fan_in)


class He(ScaledNormal):
    """He normal for ReLU layers: std = sqrt(2 / fan_in), He et al. 2015."""

    @staticmethod
    def std(fan_in: int, fan_out: int) -> float:
        return math.sqrt(2.0 / fan_in)


class Zeros:
    """All zeros: the usual start for biases."""

    def __init__(self, params: Params) -> None:
        pass

    def __call__(
        self, rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int
    ) -> Array:
        return np.zeros(shape)


@hookimpl
def mlpspec_register_initializers(register) -> None:
    register("normal", Normal, NormalParams)
    register("glorot", Glorot)
    register("xavier", Xavier)
    register("he", He)
    register("zeros", Zeros)
