"""A plain numpy float32 MLP training loop, written the textbook way: the speed benchmark's
yardstick that mlpspec must never be slower than.

Layer classes with ``x @ W + b``, the activation and its derivative from the forward output,
dropout as a drawn mask, the loss's gradient as ``softmax(z) − t`` (or ``σ(z) − t``), and
in-place SGD (``W -= lr * dW``; with momentum ``v *= μ; v += lr * dW; W -= v``, the form mlpspec
uses). Nothing clever: no reused buffers, no fused passes, no threads beyond numpy's BLAS. It
trains the same network as mlpspec from the same initial weights on the same prepared data,
with the same batches (`tests/test_textbook.py` checks that it follows mlpspec's weights), so
that the two do the same work per step.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

Array = np.ndarray


def _sigmoid(z: Array) -> Array:
    return 1 / (1 + np.exp(-z))


ACTIVATIONS: dict[str, tuple[Callable[[Array], Array], Callable[[Array, Array], Array]]] = {
    # name: (forward, derivative from the input z and the output a)
    "linear": (lambda z: z, lambda z, a: 1),
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: z > 0),
    "tanh": (np.tanh, lambda z, a: 1 - a * a),
    "sigmoid": (_sigmoid, lambda z, a: a * (1 - a)),
}


class Dense:
    """z = x @ W + b, then the activation, then dropout; L2 on W adds l2·W to its gradient."""

    def __init__(
        self,
        weight: Array,
        bias: Array,
        activation: str,
        dropout: float,
        inverted: bool,
        l2: float,
        rng: np.random.Generator,
    ) -> None:
        self.W, self.b = weight.copy(), bias.copy()
        self.act, self.act_grad = ACTIVATIONS[activation]
        self.dropout, self.inverted, self.l2, self.rng = dropout, inverted, l2, rng
        self.dW = self.db = None

    def forward(self, x: Array, training: bool = True) -> Array:
        self.x = x
        self.z = x @ self.W + self.b
        self.a = self.act(self.z)
        self.mask = None
        if not self.dropout:
            return self.a
        keep = 1 - self.dropout
        if not training:
            return self.a if self.inverted else self.a * np.float32(keep)
        self.mask = self.rng.random(self.a.shape, dtype=np.float32) >= self.dropout
        if self.inverted:
            self.mask = self.mask / np.float32(keep)
        return self.a * self.mask

    def backward(self, grad: Array, need_input_grad: bool = True) -> Array | None:
        if self.mask is not None:
            grad = grad * self.mask
        grad = grad * self.act_grad(self.z, self.a)
        self.dW = self.x.T @ grad
        if self.l2:
            self.dW += self.l2 * self.W
        self.db = grad.sum(axis=0)
        return grad @ self.W.T if need_input_grad else None

    def penalty(self) -> float:
        return 0.5 * self.l2 * float(np.sum(self.W * self.W)) if self.l2 else 0.0


def softmax_cross_entropy(z: Array, t: Array) -> tuple[Array, Array]:
    """Per-example losses and the gradient softmax(z) − t."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return -np.log(np.sum(p * t, axis=1)), p - t


def sigmoid_cross_entropy(z: Array, t: Array) -> tuple[Array, Array]:
    """Per-example losses Σ softplus(z) − t·z and the gradient σ(z) − t."""
    return np.sum(np.logaddexp(0, z) - t * z, axis=1), _sigmoid(z) - t


LOSSES = {
    "softmax_cross_entropy": softmax_cross_entropy,
    "sigmoid_cross_entropy": sigmoid_cross_entropy,
}


@dataclass
class Network:
    """Layers, a loss, and SGD (with momentum when ``momentum`` > 0)."""

    layers: list[Dense]
    loss: Callable[[Array, Array], tuple[Array, Array]]
    mean: bool
    lr: float
    momentum: float

    def __post_init__(self) -> None:
        self.velocities = [
            (np.zeros_like(layer.W), np.zeros_like(layer.b)) for layer in self.layers
        ]

    def forward(self, x: Array, training: bool = True) -> Array:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def train_step(self, x: Array, t: Array) -> float:
        """One SGD step on a batch; returns the batch's loss (with the L2 penalty)."""
        losses, grad = self.loss(self.forward(x), t)
        loss = float(losses.mean() if self.mean else losses.sum())
        if self.mean:
            grad /= len(x)
        for index in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[index].backward(grad, need_input_grad=index > 0)
        for layer, (vW, vb) in zip(self.layers, self.velocities, strict=True):
            if self.momentum:
                vW *= self.momentum
                vW += self.lr * layer.dW
                layer.W -= vW
                vb *= self.momentum
                vb += self.lr * layer.db
                layer.b -= vb
            else:
                layer.W -= self.lr * layer.dW
                layer.b -= self.lr * layer.db
        return loss + sum(layer.penalty() for layer in self.layers)

    def evaluate(self, x: Array, labels: Array, chunk: int = 8192) -> tuple[float, float]:
        """The loss (without the penalty) and the accuracy on a whole set, in chunks of rows."""
        total, correct = 0.0, 0
        eye = np.eye(self.layers[-1].W.shape[1], dtype=np.float32)
        for start in range(0, len(x), chunk):
            output = self.forward(x[start : start + chunk], training=False)
            truth = labels[start : start + chunk]
            total += float(self.loss(output, eye[truth])[0].sum())
            correct += int(np.sum(output.argmax(axis=1) == truth))
        return (total / len(x) if self.mean else total), correct / len(x)


def from_spec(
    spec, initial: list[tuple[Array, Array]], rngs: list[np.random.Generator]
) -> Network:
    """The spec's network (dense layers only), starting from the given (weight, bias) pairs,
    each layer drawing its dropout masks from its own generator."""
    layers = []
    for layer, (weight, bias), rng in zip(spec.layers, initial, rngs, strict=True):
        if layer.name != "dense":
            raise ValueError(f"the textbook loop has no layer {layer.name!r}")
        p = layer.params
        inverted = p.dropout_scaling == "training"
        layers.append(Dense(weight, bias, p.activation.name, p.dropout, inverted, p.l2, rng))
    opt = spec.optimizer.params
    return Network(
        layers,
        LOSSES[spec.loss.name],
        spec.loss.params.reduction == "mean",
        opt.lr,
        getattr(opt, "momentum", 0.0),
    )


def batches(
    x: Array, t: Array, sampling: str, batch: int, steps: int, rng: np.random.Generator
) -> Iterator[tuple[Array, Array]]:
    """One epoch's batches, drawn as mlpspec draws them (the same rows from the same seed)."""
    if sampling == "sequential":
        for start in range(0, steps * batch, batch):
            yield x[start : start + batch], t[start : start + batch]
        return
    if sampling == "replacement":
        for _ in range(steps):
            rows = rng.integers(0, len(x), batch)
            yield x[rows], t[rows]
        return
    order = rng.permutation(len(x))
    for start in range(0, steps * batch, batch):
        rows = order[start : start + batch]
        yield x[rows], t[rows]


def twin(spec, registry, splits) -> tuple[Network, Callable[[], None]]:
    """The spec's network as a textbook loop, from the initial weights and layer generators
    mlpspec builds from the spec, and a function that trains it one epoch on mlpspec's
    prepared data with mlpspec's batches (the same sampling generator)."""
    from mlpspec.engine.model import one_hot
    from mlpspec.run.builder import SAMPLING_STREAM, Builder, build_model, rng_for

    model = build_model(spec, registry, splits.features, splits.classes)
    initial = [(layer.weight.value, layer.bias.value) for layer in model.layers]
    rngs = [copy.deepcopy(model.generators[f"layers.{i}"]) for i in range(len(model.layers))]
    network = from_spec(spec, initial, rngs)
    plan = Builder(spec, registry).plan(len(splits.x_train))
    x = splits.x_train
    targets = one_hot(splits.y_train, len(splits.classes), x.dtype)
    rng = rng_for(spec.model.seed, SAMPLING_STREAM)
    sampling, batch, steps = spec.train.sampling, plan.batch_size, plan.steps_per_epoch

    def epoch() -> None:
        for xb, tb in batches(x, targets, sampling, batch, steps, rng):
            network.train_step(xb, tb)

    return network, epoch
