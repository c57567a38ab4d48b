"""Leaky ReLU and GELU activations."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from pydantic import ConfigDict, Field

from mlpspec import Params

if TYPE_CHECKING:  # the export contract's context (mlpspec.export implements it)
    from mlpspec.core.components import ExportContext


class LeakyReLUParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{}, {"slope": 0.2}]})

    slope: float = Field(0.01, ge=0, lt=1)
    """The gradient for negative inputs (0 gives the plain ReLU)."""


class LeakyReLU:
    """max(z, slope·z): keeps a small gradient where ReLU has none."""

    def __init__(self, params: LeakyReLUParams) -> None:
        self.slope = params.slope

    def forward(self, z: np.ndarray) -> np.ndarray:
        return np.where(z > 0, z, z.dtype.type(self.slope) * z)

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        grad_a[z <= 0] *= self.slope
        return grad_a

    def to_onnx(self, ctx: ExportContext, input_name: str) -> str:
        return ctx.add_node("LeakyRelu", [input_name], alpha=self.slope)


SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
CUBIC = 0.044715


class GELU:
    """GELU (Hendrycks & Gimpel 2016) in its tanh form, as BERT and GPT-2 compute it:
    ½·z·(1 + tanh(√(2/π)·(z + 0.044715·z³))). numpy has no erf; the tanh form is within
    about 1e-3 of the exact z·Φ(z), and its gradient is exact for the function it computes."""

    def __init__(self, params: Params) -> None:
        self._t = np.empty(0)
        """tanh of the inner term for the last forward's z, which backward needs again."""

    @staticmethod
    def _inner(z: np.ndarray) -> np.ndarray:
        return SQRT_2_OVER_PI * (z + CUBIC * z * z * z)

    def forward(self, z: np.ndarray) -> np.ndarray:
        self._t = np.tanh(self._inner(z))
        return 0.5 * z * (1 + self._t)

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        t = self._t
        d_inner = SQRT_2_OVER_PI * (1 + 3 * CUBIC * z * z)
        return grad_a * (0.5 * (1 + t) + 0.5 * z * (1 - t * t) * d_inner)

    def to_onnx(self, ctx: ExportContext, input_name: str) -> str:
        """ONNX's own ``Gelu`` in its tanh form from opset 20; before, the same formula in
        elementary ops, in the order :meth:`forward` computes it (not the erf form: the two
        differ by up to 1e-3)."""
        if ctx.opset >= 20:
            return ctx.add_node("Gelu", [input_name], approximate="tanh")

        def mul(*inputs: str) -> str:
            return ctx.add_node("Mul", list(inputs))

        def const(name: str, value: float) -> str:
            return ctx.add_initializer(name, value)

        z = input_name
        cubic = mul(mul(mul(const("cubic", CUBIC), z), z), z)  # CUBIC·z·z·z, left to right
        inner = mul(const("sqrt_2_over_pi", SQRT_2_OVER_PI), ctx.add_node("Add", [z, cubic]))
        t = ctx.add_node("Tanh", [inner])
        return mul(mul(const("half", 0.5), z), ctx.add_node("Add", [const("one", 1.0), t]))
