"""Built-in layers: dense (affine + activation + dropout + L2), activation, dropout."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from mlpspec.components import Array, BuildContext, Layer, Parameter
from mlpspec.hookspec import hookimpl
from mlpspec.registry import Params
from mlpspec.spec import ActivationRef, InitializerRef

DropRate = Field(0.0, ge=0.0, lt=1.0)


class InvertedDropout:
    """Zeroes each unit with probability ``rate`` in training and scales survivors by
    1 / (1 − rate), so that inference needs no rescaling (the identity)."""

    def __init__(self, rate: float, rng: np.random.Generator) -> None:
        self.rate = rate
        self.rng = rng
        self.mask: Array | None = None

    def forward(self, a: Array, training: bool) -> Array:
        if not training or self.rate == 0.0:
            self.mask = None
            return a
        keep = self.rng.random(a.shape, dtype=a.dtype) >= self.rate
        self.mask = keep * a.dtype.type(1.0 / (1.0 - self.rate))
        return a * self.mask

    def backward(self, grad: Array) -> Array:
        return grad if self.mask is None else grad * self.mask


class DenseParams(Params):
    units: int = Field(gt=0)
    activation: ActivationRef = "linear"
    init: InitializerRef = "glorot"
    bias_init: InitializerRef = "zeros"
    dropout: float = DropRate
    """Probability of dropping each output unit during training (inverted dropout)."""
    l2: float = Field(0.0, ge=0.0, allow_inf_nan=False)
    """L2 strength λ on the weights (not the biases): adds λ/2·ΣW² to the objective."""

    def parameter_count(self, in_features: int) -> int:
        """Weights and biases, for the memory estimate made before building (budget.py)."""
        return (in_features + 1) * self.units

    def out_features(self, in_features: int) -> int:
        return self.units


class SameWidth(Params):
    """Params of a layer with no parameters whose output is as wide as its input."""

    def parameter_count(self, in_features: int) -> int:
        return 0

    def out_features(self, in_features: int) -> int:
        return in_features


class Dense(Layer):
    """Affine map x·W + b, then an activation, then dropout; optional L2 on W."""

    def __init__(self, params: DenseParams, in_features: int, ctx: BuildContext) -> None:
        units = params.units
        self.out_features = units
        weight_init = ctx.create(params.init)
        bias_init = ctx.create(params.bias_init)
        self.weight = Parameter(
            weight_init(ctx.rng, (in_features, units), in_features, units).astype(ctx.dtype)
        )
        self.bias = Parameter(bias_init(ctx.rng, (units,), in_features, units).astype(ctx.dtype))
        self.activation = ctx.create(params.activation)
        self.dropout = InvertedDropout(params.dropout, ctx.rng)
        self.l2 = params.l2
        self._x: Array | None = None
        self._z: Array | None = None
        self._a: Array | None = None

    def forward(self, x: Array, *, training: bool) -> Array:
        self._x = x
        self._z = x @ self.weight.value
        self._z += self.bias.value
        self._a = self.activation.forward(self._z)
        return self.dropout.forward(self._a, training)

    def backward(self, grad_out: Array, *, need_input_grad: bool = True) -> Array | None:
        grad_z = self.activation.backward(self._z, self._a, self.dropout.backward(grad_out))
        np.matmul(self._x.T, grad_z, out=self.weight.grad)
        if self.l2:
            self.weight.grad += self.l2 * self.weight.value
        np.sum(grad_z, axis=0, out=self.bias.grad)
        return grad_z @ self.weight.value.T if need_input_grad else None

    def parameters(self) -> dict[str, Parameter]:
        return {"weight": self.weight, "bias": self.bias}

    def penalty(self) -> float:
        if not self.l2:
            return 0.0
        return 0.5 * self.l2 * float(np.sum(np.square(self.weight.value), dtype=np.float64))


class ActivationParams(SameWidth):
    activation: ActivationRef


class ActivationLayer(Layer):
    """An activation on its own, for networks that keep it apart from the affine map."""

    def __init__(self, params: ActivationParams, in_features: int, ctx: BuildContext) -> None:
        self.out_features = in_features
        self.activation = ctx.create(params.activation)

    def forward(self, x: Array, *, training: bool) -> Array:
        self._z, self._a = x, self.activation.forward(x)
        return self._a

    def backward(self, grad_out: Array, *, need_input_grad: bool = True) -> Array | None:
        return self.activation.backward(self._z, self._a, grad_out)


class DropoutParams(SameWidth):
    rate: float = DropRate
    """Probability of dropping each unit during training."""


class Dropout(Layer):
    """Inverted dropout on its own: identity at inference, scaled random mask in training."""

    def __init__(self, params: DropoutParams, in_features: int, ctx: BuildContext) -> None:
        self.out_features = in_features
        self.dropout = InvertedDropout(params.rate, ctx.rng)

    def forward(self, x: Array, *, training: bool) -> Array:
        return self.dropout.forward(x, training)

    def backward(self, grad_out: Array, *, need_input_grad: bool = True) -> Array | None:
        return self.dropout.backward(grad_out)


@hookimpl
def mlpspec_register_layers(register) -> None:
    register("dense", Dense, DenseParams)
    register("activation", ActivationLayer, ActivationParams)
    register("dropout", Dropout, DropoutParams)
