"""Built-in layers: dense (affine + activation + dropout + L2), activation, dropout.

The hot path writes into arrays reused from step to step (a :class:`Workspace`) and updates
in place, so that training allocates nothing per step; the arithmetic is the textbook one.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import ConfigDict, Field

from mlpspec.core.components import Array, BuildContext, Layer, Parameter, Workspace
from mlpspec.core.hookspec import hookimpl
from mlpspec.core.registry import Params
from mlpspec.core.spec import ActivationRef, InitializerRef

DropRate = Field(0.0, ge=0.0, lt=1.0)
DropoutScaling = Literal["training", "inference"]


class UnitDropout:
    """Zeroes each unit with probability ``rate`` in training, and keeps the expected output
    the same in training and at inference by one of two scalings:

    - ``"training"`` (inverted dropout, the modern default): survivors are scaled by
      1 / (1 − rate) in training, and inference is the identity;
    - ``"inference"`` (the original form of Srivastava et al., 2014, and document 004's):
      survivors pass unscaled in training, and inference multiplies by 1 − rate.

    Both give the same function, but not the same training: with inverted dropout the next
    layer's weights W̃ stand for (1 − rate)·W of the other form, so plain or momentum SGD moves
    them as if its learning rate were 1 / (1 − rate)² times higher (1.56× at rate 0.2) from
    initial weights 1 / (1 − rate) times larger. Where a learning rate was tuned for one form,
    the other may train worse (document 004's dropout network, tuned for the classic form:
    0.7 points lower with inverted dropout, over 5 seeds).

    The mask is kept with any scale folded in, so backward is one multiplication.
    """

    def __init__(
        self, rate: float, scaling: DropoutScaling, rng: np.random.Generator, work: Workspace
    ) -> None:
        self.rate = rate
        self.rng = rng
        self.work = work
        keep = 1.0 - rate
        self.train_scale, self.inference_scale = (
            (1.0 / keep, 1.0) if scaling == "training" else (1.0, keep)
        )
        self.mask: Array | float | None = None
        """What backward multiplies by: the training mask, the inference scale, or nothing."""

    def forward(self, a: Array, training: bool) -> Array:
        if self.rate == 0.0 or (not training and self.inference_scale == 1.0):
            self.mask = None
            return a
        if not training:
            self.mask = self.inference_scale
            return np.multiply(
                a, a.dtype.type(self.inference_scale), out=self.work("dropout.inference", a.shape)
            )
        mask = self.work("dropout.mask", a.shape)
        self.rng.random(out=mask, dtype=mask.dtype)
        keep = np.greater_equal(mask, self.rate, out=self.work("dropout.keep", a.shape, np.bool_))
        # unscaled (classic) dropout multiplies by the boolean mask itself: one pass fewer
        self.mask = (
            keep if self.train_scale == 1.0 else np.multiply(keep, self.train_scale, out=mask)
        )
        return np.multiply(a, self.mask, out=self.work("dropout.out", a.shape))

    def backward(self, grad: Array) -> Array:
        return grad if self.mask is None else np.multiply(grad, self.mask, out=grad)


class DenseParams(Params):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"units": 4, "activation": "tanh"},
                {"units": 3, "activation": "relu", "init": "he", "dropout": 0.5, "l2": 0.1},
                {"units": 3, "activation": "tanh", "dropout": 0.2, "dropout_scaling": "inference"},
            ]
        }
    )

    units: int = Field(gt=0)
    activation: ActivationRef = "linear"
    init: InitializerRef = "glorot"
    bias_init: InitializerRef = "zeros"
    dropout: float = DropRate
    """Probability of dropping each output unit during training."""
    dropout_scaling: DropoutScaling = "training"
    """Where dropout's 1/(1 − rate) rescaling happens: in ``"training"`` (inverted dropout) or
    at ``"inference"`` (the original form, ×(1 − rate)); see :class:`UnitDropout`."""
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
    """Affine map z = x·W + b, then an activation, then dropout; optional L2 on W."""

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
        self.work = Workspace(ctx.dtype)
        self.dropout = UnitDropout(params.dropout, params.dropout_scaling, ctx.rng, self.work)
        self.l2 = params.l2
        self._x = self._z = self._a = np.empty(0, ctx.dtype)

    def forward(self, x: Array, *, training: bool) -> Array:
        self._x = x
        self._z = np.matmul(x, self.weight.value, out=self.work("z", (len(x), self.out_features)))
        self._z += self.bias.value
        self._a = self.activation.forward(self._z)
        return self.dropout.forward(self._a, training)

    def backward(self, grad_out: Array, *, need_input_grad: bool = True) -> Array | None:
        grad_z = self.activation.backward(self._z, self._a, self.dropout.backward(grad_out))
        np.matmul(self._x.T, grad_z, out=self.weight.grad)
        if self.l2:
            decay = np.multiply(
                self.weight.value, self.l2, out=self.work("decay", self.weight.value.shape)
            )
            self.weight.grad += decay
        np.sum(grad_z, axis=0, out=self.bias.grad)
        if not need_input_grad:
            return None
        return np.matmul(grad_z, self.weight.value.T, out=self.work("grad_x", self._x.shape))

    def parameters(self) -> dict[str, Parameter]:
        return {"weight": self.weight, "bias": self.bias}

    def penalty(self) -> float:
        if not self.l2:
            return 0.0
        w = self.weight.value.ravel()
        return 0.5 * self.l2 * float(np.dot(w, w))


class ActivationParams(SameWidth):
    model_config = ConfigDict(json_schema_extra={"examples": [{"activation": "tanh"}]})

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
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"rate": 0.3}, {"rate": 0.3, "scaling": "inference"}]}
    )

    rate: float = DropRate
    """Probability of dropping each unit during training."""
    scaling: DropoutScaling = "training"
    """Where the 1/(1 − rate) rescaling happens: ``"training"`` (inverted) or
    ``"inference"``; see :class:`UnitDropout`."""


class Dropout(Layer):
    """Dropout on its own, for a unit-dropping step apart from a dense layer (on the inputs)."""

    def __init__(self, params: DropoutParams, in_features: int, ctx: BuildContext) -> None:
        self.out_features = in_features
        self.dropout = UnitDropout(params.rate, params.scaling, ctx.rng, Workspace(ctx.dtype))

    def forward(self, x: Array, *, training: bool) -> Array:
        return self.dropout.forward(x, training)

    def backward(self, grad_out: Array, *, need_input_grad: bool = True) -> Array | None:
        return self.dropout.backward(grad_out)


@hookimpl
def mlpspec_register_layers(register) -> None:
    register("dense", Dense, DenseParams)
    register("activation", ActivationLayer, ActivationParams)
    register("dropout", Dropout, DropoutParams)
