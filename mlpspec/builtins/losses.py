"""Built-in losses: softmax cross-entropy, mean squared error, sigmoid cross-entropy.

Each computes per-example terms on the network's raw output and one-hot targets; the shared
:class:`~mlpspec.core.components.Loss` reduces them by mean or sum over the batch.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from mlpspec.builtins.activations import sigmoid, softmax
from mlpspec.core.components import Array, ExportContext, Loss, Workspace
from mlpspec.core.hookspec import hookimpl
from mlpspec.core.registry import Params


class ReductionParams(Params):
    reduction: Literal["mean", "sum"] = "mean"
    """How per-example losses combine over a batch (document 001 sums)."""


def _needs_two_outputs(width: int, what: str) -> None:
    if width < 2:
        raise ValueError(
            f"{what} of a single output is always 1, so it cannot learn: use 2 or more outputs "
            "(or sigmoid_cross_entropy for one)"
        )


class SoftmaxCrossEntropy(Loss):
    """−Σ t·log softmax(z), fused: the value from log-sum-exp, the gradient softmax(z) − t."""

    def __init__(self, params: ReductionParams) -> None:
        self.reduction = params.reduction
        self.work = Workspace(np.float32)

    def per_example(
        self, output: Array, target: Array, *, grad: bool
    ) -> tuple[Array, Array | None]:
        # log softmax(z)_k = s_k − log Σ_j exp(s_j), with s = z − max(z) so exp cannot overflow
        shape, dtype = output.shape, output.dtype
        shifted = np.subtract(
            output, output.max(axis=1, keepdims=True), out=self.work("shifted", shape, dtype)
        )
        exp = np.exp(shifted, out=self.work("exp", shape, dtype))
        total = exp.sum(axis=1, keepdims=True)
        values = np.log(total[:, 0])
        values -= np.einsum("ij,ij->i", shifted, target)
        if not grad:
            return values, None
        exp /= total  # softmax(z)
        exp -= target
        return values, exp

    def probabilities(self, output: Array) -> Array:
        return softmax(output)

    def to_onnx(self, ctx: ExportContext, input_name: str) -> str:
        return ctx.add_node("Softmax", [input_name], axis=-1)

    def check_output(self, width: int) -> None:
        _needs_two_outputs(width, "the softmax")


class SigmoidCrossEntropy(Loss):
    """Σ_k [−t·log σ(z) − (1 − t)·log(1 − σ(z))] over the classes of one-hot targets.

    The logistic cost of NeuralNetMLP (document 001), taken on the output layer's
    pre-activation so that it is stable for large |z|; its gradient is σ(z) − t.
    """

    def __init__(self, params: ReductionParams) -> None:
        self.reduction = params.reduction

    def per_example(
        self, output: Array, target: Array, *, grad: bool
    ) -> tuple[Array, Array | None]:
        # −t·log σ(z) − (1−t)·log(1−σ(z)) = softplus(z) − t·z
        values = np.sum(np.logaddexp(0, output) - target * output, axis=1)
        if not grad:
            return values, None
        return values, self.probabilities(output) - target

    def probabilities(self, output: Array) -> Array:
        return sigmoid(output)

    def to_onnx(self, ctx: ExportContext, input_name: str) -> str:
        return ctx.add_node("Sigmoid", [input_name])


class MSEParams(ReductionParams):
    normalize: bool = False
    """Divide each output row by its sum before comparing with the targets."""


class MeanSquaredError(Loss):
    """Σ_k (y − t)² per example, where y is the output or, with ``normalize``, y / Σ_k y.

    The gradient includes the normalization's own Jacobian (document 004's version ignores it,
    which is why its printed accuracy for this loss is so low).
    """

    def __init__(self, params: MSEParams) -> None:
        self.reduction = params.reduction
        self.normalize = params.normalize

    def per_example(
        self, output: Array, target: Array, *, grad: bool
    ) -> tuple[Array, Array | None]:
        if not self.normalize:
            diff = output - target
            values = np.einsum("ij,ij->i", diff, diff)
            return values, (2 * diff if grad else None)
        row_sum = output.sum(axis=1, keepdims=True)
        y = output / row_sum
        diff = y - target
        values = np.einsum("ij,ij->i", diff, diff)
        if not grad:
            return values, None
        # dL/dy = 2·diff;  y_k = o_k / s  =>  dL/do_j = (dL/dy_j − Σ_k dL/dy_k · y_k) / s
        grad_y = 2 * diff
        return values, (grad_y - np.sum(grad_y * y, axis=1, keepdims=True)) / row_sum

    def probabilities(self, output: Array) -> Array:
        return output / output.sum(axis=1, keepdims=True) if self.normalize else output.copy()

    def to_onnx(self, ctx: ExportContext, input_name: str) -> str:
        if not self.normalize:
            return input_name
        axes = ctx.add_initializer("axes", np.array([1], dtype=np.int64))
        row_sum = ctx.add_node("ReduceSum", [input_name, axes], keepdims=1)
        return ctx.add_node("Div", [input_name, row_sum])

    def check_output(self, width: int) -> None:
        if self.normalize:
            _needs_two_outputs(width, "the normalized output (y / Σy)")


@hookimpl
def mlpspec_register_losses(register) -> None:
    register("softmax_cross_entropy", SoftmaxCrossEntropy, ReductionParams)
    register("sigmoid_cross_entropy", SigmoidCrossEntropy, ReductionParams)
    register("mse", MeanSquaredError, MSEParams)
