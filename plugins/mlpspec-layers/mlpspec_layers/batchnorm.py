"""Batch normalization (Ioffe & Szegedy 2015): a layer with state and a train/inference
difference.

In training each feature is normalized with the batch's own mean and variance, and running
averages of both are kept; in inference the running averages are used instead, so a row's
output no longer depends on the rest of its batch. The running averages are buffers, so they
are saved and restored with the model's weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import ConfigDict, Field

from mlpspec import BuildContext, Layer, Parameter, Params

if TYPE_CHECKING:  # the export contract's context (mlpspec.export implements it)
    from mlpspec.core.components import ExportContext


class BatchNormParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{}, {"momentum": 0.5, "eps": 1e-3}]})

    momentum: float = Field(0.9, ge=0, lt=1)
    """Running average r ← momentum·r + (1 − momentum)·batch statistic."""
    eps: float = Field(1e-5, gt=0, allow_inf_nan=False)
    """Added to the variance before its square root."""

    def parameter_count(self, in_features: int) -> int:
        """γ and β, for the memory estimate made before building (mlpspec's memory guard)."""
        return 2 * in_features

    def out_features(self, in_features: int) -> int:
        return in_features


class BatchNorm(Layer):
    """y = γ·(x − μ)/√(σ² + ε) + β per feature: batch statistics in training, running ones
    in inference."""

    def __init__(self, params: BatchNormParams, in_features: int, ctx: BuildContext) -> None:
        self.out_features = in_features
        self.momentum, self.eps = params.momentum, params.eps
        self.gamma = Parameter(np.ones(in_features, dtype=ctx.dtype))
        self.beta = Parameter(np.zeros(in_features, dtype=ctx.dtype))
        self.running_mean = np.zeros(in_features, dtype=ctx.dtype)
        self.running_var = np.ones(in_features, dtype=ctx.dtype)
        self._x_hat: np.ndarray | None = None
        self._inv_std: np.ndarray | None = None
        self._training = False

    def forward(self, x: np.ndarray, *, training: bool) -> np.ndarray:
        if training:
            mean = x.mean(axis=0)
            centred = x - mean
            var = np.mean(centred * centred, axis=0)  # x.var(axis=0), without centring twice
            self._update_running(mean, var, len(x))
        else:
            centred, var = x - self.running_mean, self.running_var
        self._training = training
        self._inv_std = 1 / np.sqrt(var + x.dtype.type(self.eps))
        self._x_hat = centred * self._inv_std
        return self._x_hat * self.gamma.value + self.beta.value

    def _update_running(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        """In place, so the arrays ``buffers()`` hands out stay the model's. The running
        variance is the unbiased estimate, n/(n − 1) times the batch's."""
        unbiased = var * (n / (n - 1)) if n > 1 else var
        keep = self.running_mean.dtype.type(self.momentum)
        self.running_mean *= keep
        self.running_mean += (1 - keep) * mean
        self.running_var *= keep
        self.running_var += (1 - keep) * unbiased

    def backward(self, grad_out: np.ndarray, *, need_input_grad: bool = True) -> np.ndarray | None:
        x_hat, inv_std = self._x_hat, self._inv_std
        np.sum(grad_out * x_hat, axis=0, out=self.gamma.grad)
        np.sum(grad_out, axis=0, out=self.beta.grad)
        if not need_input_grad:
            return None
        grad_x_hat = grad_out * self.gamma.value
        if not self._training:  # the statistics are constants
            return grad_x_hat * inv_std
        # the batch's mean and variance depend on every row of x
        return inv_std * (
            grad_x_hat - grad_x_hat.mean(axis=0) - x_hat * np.mean(grad_x_hat * x_hat, axis=0)
        )

    def parameters(self) -> dict[str, Parameter]:
        return {"gamma": self.gamma, "beta": self.beta}

    def buffers(self) -> dict[str, np.ndarray]:
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def to_onnx(self, ctx: ExportContext, input_name: str) -> str:
        """Inference form: ONNX ``BatchNormalization`` with the running statistics."""
        statistics = {
            "gamma": self.gamma.value,
            "beta": self.beta.value,
            "running_mean": self.running_mean,
            "running_var": self.running_var,
        }
        inputs = [ctx.add_initializer(name, value) for name, value in statistics.items()]
        return ctx.add_node("BatchNormalization", [input_name, *inputs], epsilon=self.eps)
