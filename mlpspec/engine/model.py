"""A built network: layers in order, the loss that reads their output, and the class names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mlpspec.core.components import Array, Layer, Loss, Metric, Parameter

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

    def evaluate(
        self, x: Array, labels: Array, metrics: Mapping[str, Metric] | None = None
    ) -> dict[str, float]:
        """The objective (``loss``: the loss with its reduction, plus penalties) and every
        metric on a whole set, in chunks of :data:`EVAL_CHUNK` rows to bound memory."""
        metrics = dict(metrics or {})
        for metric in metrics.values():
            metric.reset()
        total = 0.0
        classes = len(self.classes)
        for start in range(0, len(x), EVAL_CHUNK):
            rows = x[start : start + EVAL_CHUNK]
            truth = labels[start : start + EVAL_CHUNK]
            output = self.forward(rows, training=False)
            values, _ = self.loss.per_example(
                output, one_hot(truth, classes, self.dtype), grad=False
            )
            total += float(np.sum(values, dtype=np.float64))
            if metrics:
                probabilities = self.loss.probabilities(output)
                for metric in metrics.values():
                    metric.update(probabilities, truth)
        loss = total / len(x) if self.loss.reduction == "mean" else total
        return {"loss": loss + self.penalty()} | {
            name: float(metric.result()) for name, metric in metrics.items()
        }

    def trace_nonfinite(self, x: Array, target: Array | None) -> str | None:
        """Where the first NaN or infinity appears in a forward pass of ``x``: ``"data"``,
        ``"layers[i]"`` (finite inputs and sane weights, non-finite outputs), ``"loss"``; or
        ``None`` when the weights themselves are not finite or so large that products of them
        overflow (training diverged: the learning rate, not a component, is to blame)."""
        if not np.all(np.isfinite(x)):
            return "data"
        limit = np.sqrt(np.finfo(self.dtype).max)
        for p in self.parameters:
            if not np.all(np.isfinite(p.value)) or np.max(np.abs(p.value), initial=0) > limit:
                return None
        for index, layer in enumerate(self.layers):
            x = layer.forward(x, training=True)
            if not np.all(np.isfinite(x)):
                return f"layers[{index}]"
        if target is not None:
            values, _ = self.loss.per_example(x, target, grad=False)
            if not np.all(np.isfinite(values)):
                return "loss"
        return None

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

    def check_state(self, state: Mapping[str, Array]) -> None:
        """Raise ``ValueError`` unless ``state`` has exactly this model's arrays: the same
        names, shapes and dtypes (a float64 state is not silently cast into a float32 model)."""
        own = self.state()
        if set(own) != set(state):
            missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
            raise ValueError(
                f"saved state does not fit this model: missing {missing}, unexpected {extra}"
            )
        for name, array in own.items():
            saved = np.asarray(state[name])
            if saved.shape != array.shape:
                raise ValueError(
                    f"saved {name} has shape {saved.shape}, the model has {array.shape}"
                )
            if saved.dtype != array.dtype:
                raise ValueError(f"saved {name} is {saved.dtype}, the model is {array.dtype}")

    def load_state(self, state: Mapping[str, Array]) -> None:
        """Copy saved arrays into the model's own, after :meth:`check_state`."""
        self.check_state(state)
        for name, array in self.state().items():
            np.copyto(array, state[name])
