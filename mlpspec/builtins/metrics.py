"""Built-in metrics: accuracy, top-k accuracy, macro precision, recall and F1, log loss.

Each accumulates what it needs over an evaluation's chunks (counts, or a float64 sum), so
that a metric of a 60,000-row set costs no more memory than one chunk's probabilities, and
gives the same value however the rows were chunked. Macro averages follow scikit-learn's
defaults: over the classes present in the labels or the predictions, a class with no
prediction counting 0 precision.
"""

from __future__ import annotations

import numpy as np
from pydantic import ConfigDict, Field

from mlpspec.core.components import Array
from mlpspec.core.hookspec import hookimpl
from mlpspec.core.registry import Params


class Accuracy:
    """The share of rows whose most probable class is their label."""

    greater_is_better = True

    def __init__(self, params: Params) -> None:
        self.reset()

    def reset(self) -> None:
        self.correct = self.total = 0

    def update(self, probabilities: Array, labels: Array) -> None:
        self.correct += int(np.count_nonzero(np.argmax(probabilities, axis=1) == labels))
        self.total += len(labels)

    def result(self) -> float:
        return self.correct / self.total if self.total else 0.0


class TopKParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{"k": 2}]})

    k: int = Field(5, gt=0)
    """How many of the most probable classes may hold the label."""


class TopKAccuracy(Accuracy):
    """The share of rows whose label is among their ``k`` most probable classes (all of them
    when there are no more than ``k``)."""

    def __init__(self, params: TopKParams) -> None:
        self.k = params.k
        super().__init__(params)

    def update(self, probabilities: Array, labels: Array) -> None:
        classes = probabilities.shape[1]
        if self.k >= classes:
            self.correct += len(labels)
        else:
            # the label is in the top k when fewer than k classes are strictly more probable
            own = np.take_along_axis(probabilities, labels[:, None], axis=1)
            above = np.count_nonzero(probabilities > own, axis=1)
            self.correct += int(np.count_nonzero(above < self.k))
        self.total += len(labels)


class ClassCounts:
    """Per-class true positives, predictions and labels: what the macro averages need."""

    greater_is_better = True

    def __init__(self, params: Params) -> None:
        self.reset()

    def reset(self) -> None:
        self.true_positives = self.predicted = self.actual = np.zeros(0, np.int64)

    def update(self, probabilities: Array, labels: Array) -> None:
        classes = probabilities.shape[1]
        if len(self.actual) != classes:
            self.true_positives, self.predicted, self.actual = (
                np.zeros(classes, np.int64) for _ in range(3)
            )
        predictions = np.argmax(probabilities, axis=1)
        self.predicted += np.bincount(predictions, minlength=classes)
        self.actual += np.bincount(labels, minlength=classes)
        self.true_positives += np.bincount(
            labels[predictions == labels], minlength=classes
        )

    def present(self) -> Array:
        return (self.predicted + self.actual) > 0

    def precisions(self) -> Array:
        return _ratio(self.true_positives, self.predicted)

    def recalls(self) -> Array:
        return _ratio(self.true_positives, self.actual)


def _ratio(numerator: Array, denominator: Array) -> Array:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division)."""
    return np.divide(
        numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0
    )


class MacroPrecision(ClassCounts):
    """Precision (right predictions of a class / predictions of it), averaged over classes."""

    def result(self) -> float:
        present = self.present()
        return float(np.mean(self.precisions()[present])) if present.any() else 0.0


class MacroRecall(ClassCounts):
    """Recall (right predictions of a class / rows of it), averaged over classes."""

    def result(self) -> float:
        present = self.present()
        return float(np.mean(self.recalls()[present])) if present.any() else 0.0


class MacroF1(ClassCounts):
    """F1, the harmonic mean of a class's precision and recall, averaged over classes."""

    def result(self) -> float:
        present = self.present()
        if not present.any():
            return 0.0
        # 2·tp / (predicted + actual) is F1 without the 0/0 of a class never predicted
        f1 = _ratio(2 * self.true_positives, self.predicted + self.actual)
        return float(np.mean(f1[present]))


class LogLoss:
    """−mean log p(label), probabilities clipped to [ε, 1 − ε] of their dtype (as
    scikit-learn's ``log_loss``), so that one confident mistake is large but finite."""

    greater_is_better = False

    def __init__(self, params: Params) -> None:
        self.reset()

    def reset(self) -> None:
        self.total, self.rows = 0.0, 0

    def update(self, probabilities: Array, labels: Array) -> None:
        eps = np.finfo(probabilities.dtype).eps
        own = np.take_along_axis(probabilities, labels[:, None], axis=1)[:, 0]
        own = np.clip(own.astype(np.float64), eps, 1 - eps)
        self.total -= float(np.sum(np.log(own)))
        self.rows += len(labels)

    def result(self) -> float:
        return self.total / self.rows if self.rows else 0.0


@hookimpl
def mlpspec_register_metrics(register) -> None:
    register("accuracy", Accuracy)
    register("top_k_accuracy", TopKAccuracy, TopKParams)
    register("precision", MacroPrecision)
    register("recall", MacroRecall)
    register("macro_f1", MacroF1)
    register("log_loss", LogLoss)
