"""Adam, AdamW, RMSprop and Nesterov momentum.

Each keeps a few arrays per parameter ("slots": Adam's moments, a velocity) created at the
first step, and saves them, with the step count, through ``state()``. All update the
parameters' arrays in place and keep their dtype.
"""

from __future__ import annotations

import numpy as np
from pydantic import ConfigDict, Field

from mlpspec import Parameter, Params

LearningRate = Field(gt=0, allow_inf_nan=False)
Decay = Field(0.0, ge=0, allow_inf_nan=False)


class SlotOptimizer:
    """What these optimizers share: per-parameter slot arrays, a step count, saved state.

    Subclasses name their ``slots`` and implement :meth:`update` for one parameter.
    """

    slots: tuple[str, ...] = ()

    def __init__(self, lr: float) -> None:
        self.lr = lr
        self.t = 0
        self.arrays: dict[str, list[np.ndarray]] = {slot: [] for slot in self.slots}

    def step(self, parameters: list[Parameter], lr: float) -> None:
        if self.t == 0:
            self.arrays = {s: [np.zeros_like(p.value) for p in parameters] for s in self.slots}
        self.t += 1
        for index, p in enumerate(parameters):
            self.update(p, *(self.arrays[slot][index] for slot in self.slots), lr=lr)

    def update(self, p: Parameter, *slots: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        state = {"t": np.array(self.t)}
        for slot, arrays in self.arrays.items():
            state.update({f"{slot}.{i}": array for i, array in enumerate(arrays)})
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.t = int(state["t"])
        count = sum(key.startswith(f"{self.slots[0]}.") for key in state) if self.slots else 0
        self.arrays = {s: [state[f"{s}.{i}"] for i in range(count)] for s in self.slots}


class AdamParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{"lr": 0.05}]})

    lr: float = LearningRate
    beta1: float = Field(0.9, ge=0, lt=1)
    """Decay of the running mean of gradients (first moment)."""
    beta2: float = Field(0.999, ge=0, lt=1)
    """Decay of the running mean of squared gradients (second moment)."""
    eps: float = Field(1e-8, gt=0, allow_inf_nan=False)
    """Added to the root of the second moment, against division by zero."""
    weight_decay: float = Decay
    """L2 coupled to the gradient (g + λw) as in the original Adam; see adamw for decoupled."""


class Adam(SlotOptimizer):
    """Adam (Kingma & Ba 2015) with bias-corrected moments: w ← w − lr·m̂/(√v̂ + ε)."""

    slots = ("m", "v")

    def __init__(self, params: AdamParams) -> None:
        super().__init__(params.lr)
        self.beta1, self.beta2 = params.beta1, params.beta2
        self.eps = params.eps
        self.weight_decay = params.weight_decay

    def gradient(self, p: Parameter) -> np.ndarray:
        return p.grad + self.weight_decay * p.value if self.weight_decay else p.grad

    def update(self, p: Parameter, m: np.ndarray, v: np.ndarray, *, lr: float) -> None:
        g = self.gradient(p)
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        m_hat = m / (1 - self.beta1**self.t)
        v_hat = v / (1 - self.beta2**self.t)
        p.value -= lr * m_hat / (np.sqrt(v_hat) + self.eps)


class AdamWParams(AdamParams):
    weight_decay: float = Field(0.01, ge=0, allow_inf_nan=False)
    """Decoupled decay: each step shrinks w by lr·λ·w, apart from the adaptive step."""


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019): Adam on the bare gradient, then w ← w − lr·λ·w."""

    def gradient(self, p: Parameter) -> np.ndarray:
        return p.grad

    def update(self, p: Parameter, m: np.ndarray, v: np.ndarray, *, lr: float) -> None:
        if self.weight_decay:
            p.value *= 1 - lr * self.weight_decay
        super().update(p, m, v, lr=lr)


class RMSpropParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{"lr": 0.01}]})

    lr: float = LearningRate
    rho: float = Field(0.9, ge=0, lt=1)
    """Decay of the running mean of squared gradients."""
    eps: float = Field(1e-8, gt=0, allow_inf_nan=False)


class RMSprop(SlotOptimizer):
    """RMSprop (Hinton's lecture 6e): v ← ρv + (1 − ρ)g²; w ← w − lr·g/(√v + ε)."""

    slots = ("v",)

    def __init__(self, params: RMSpropParams) -> None:
        super().__init__(params.lr)
        self.rho, self.eps = params.rho, params.eps

    def update(self, p: Parameter, v: np.ndarray, *, lr: float) -> None:
        v *= self.rho
        v += (1 - self.rho) * p.grad * p.grad
        p.value -= lr * p.grad / (np.sqrt(v) + self.eps)


class NesterovParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{"lr": 0.1}]})

    lr: float = LearningRate
    momentum: float = Field(0.9, ge=0, lt=1)


class Nesterov(SlotOptimizer):
    """Nesterov momentum in the form of mlpspec's sgd_momentum (lr folded into v):
    v ← μv + lr·g;  w ← w − (μv + lr·g), the step taken from the look-ahead point."""

    slots = ("velocity",)

    def __init__(self, params: NesterovParams) -> None:
        super().__init__(params.lr)
        self.momentum = params.momentum

    def update(self, p: Parameter, velocity: np.ndarray, *, lr: float) -> None:
        step = lr * p.grad
        velocity *= self.momentum
        velocity += step
        p.value -= self.momentum * velocity + step
