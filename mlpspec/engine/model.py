"""A built network: layers in order, the loss that reads their output, and the class names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mlpspec.core.components import Array, Layer, Loss, Parameter

EVAL_CHUNK = 8192
"""Rows per forward pass when evaluating or predicting, to bound memory on large sets."""


def one_hot(labels: Array, classes: int, dtype: np.dtype) -> Array:
    encoded = np.zeros((len(labels), classes), dtype=dtype)
    encoded[np.arange(len(labels)), labels] = 1
    return encoded


class Model:
    """Layers, a loss and class names, with training steps, evaluation and prediction."""

    def __init__(
        self,
        layers: Sequence[Layer],
        loss: Loss,
        classes: Sequence[str],
        dtype: np.dtype,
        generators: Mapping[str, np.random.Generator] | None = None,
    ) -> None:
        self.layers = list(layers)
        self.generators = dict(generators or {})
        """The random generators the layers draw from (dropout masks), by name: a checkpoint
        saves their states so that a resumed run draws the very same numbers."""
        self.loss = loss
        self.classes = list(classes)
        self.dtype = np.dtype(dtype)
        self.parameters: list[Parameter] = [
            p for layer in self.layers for p in layer.parameters().values()
        ]

    def forward(self, x: Array, *, training: bool) -> Array:
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, grad: Array) -> None:
        for index in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[index].backward(grad, need_input_grad=index > 0)

    def penalty(self) -> float:
        return sum(layer.penalty() for layer in self.layers)

    def train_step(self, x: Array, target: Array) -> float:
        """Forward, loss and backward on one batch; leaves the gradients in the parameters.

        Returns the batch's objective: the loss plus the layers' penalties.
        """
        value, grad = self.loss.value_and_grad(self.forward(x, training=True), target)
        self.backward(grad)
        return value + self.penalty()

    def evaluate(self, x: Array, labels: Array) -> tuple[float, float]:
        """The objective (loss with its reduction, plus penalties) and accuracy on a whole set."""
        total, correct = 0.0, 0
        classes = len(self.classes)
        for start in range(0, len(x), EVAL_CHUNK):
            rows = x[start : start + EVAL_CHUNK]
            truth = labels[start : start + EVAL_CHUNK]
            output = self.forward(rows, training=False)
            values, _ = self.loss.per_example(
                output, one_hot(truth, classes, self.dtype), grad=False
            )
            total += float(np.sum(values, dtype=np.float64))
            correct += int(np.count_nonzero(np.argmax(output, axis=1) == truth))
        loss = total / len(x) if self.loss.reduction == "mean" else total
        return loss + self.penalty(), correct / len(x)

    def predict_proba(self, x: Array) -> Array:
        """Class probabilities (or the loss's scores) for each row of ``x``."""
        x = np.asarray(x, dtype=self.dtype).reshape(len(x), -1)
        result = np.empty((len(x), len(self.classes)), self.dtype)
        for start in range(0, len(x), EVAL_CHUNK):
            output = self.forward(x[start : start + EVAL_CHUNK], training=False)
            result[start : start + EVAL_CHUNK] = self.loss.probabilities(output)
        return result

    def predict(self, x: Array) -> Array:
        """The index of the most likely class for each row of ``x``."""
        return np.argmax(self.predict_proba(x), axis=1)

    def state(self) -> dict[str, Array]:
        """Every parameter and buffer, by name (``layers.0.weight``): what a saved model holds."""
        state = {}
        for index, layer in enumerate(self.layers):
            for name, parameter in layer.parameters().items():
                state[f"layers.{index}.{name}"] = parameter.value
            for name, buffer in layer.buffers().items():
                state[f"layers.{index}.{name}"] = buffer
        return state

    def snapshot(self) -> dict[str, Array]:
        """A copy of :meth:`state`, for restoring later (early stopping, faults)."""
        return {name: array.copy() for name, array in self.state().items()}

    def load_state(self, state: dict[str, Array]) -> None:
        """Copy saved arrays into the model's own, checking that names and shapes match."""
        own = self.state()
        if set(own) != set(state):
            missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
            raise ValueError(
                f"saved state does not fit this model: missing {missing}, unexpected {extra}"
            )
        for name, array in own.items():
            if array.shape != state[name].shape:
                raise ValueError(
                    f"saved {name} has shape {state[name].shape}, the model has {array.shape}"
                )
            np.copyto(array, state[name])
