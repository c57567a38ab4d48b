"""He-uniform initialization."""

from __future__ import annotations

import math

import numpy as np

from mlpspec import Params


class HeUniform:
    """U(−√(6/fan_in), √(6/fan_in)), He et al. 2015: the variance 2/fan_in of He normal, for
    ReLU-like layers, without normal's rare large draws. Drawn in float64; the layer casts."""

    def __init__(self, params: Params) -> None:
        pass

    def __call__(
        self, rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int
    ) -> np.ndarray:
        limit = math.sqrt(6.0 / fan_in)
        return rng.uniform(-limit, limit, shape)
