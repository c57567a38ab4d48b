"""The built-in metrics: values worked out by hand, the same however the rows are chunked,
and the same in float32 as in float64."""

from __future__ import annotations

import numpy as np
import pytest

from mlpspec.core.spec import create

PROBABILITIES = np.array(
    [
        [0.7, 0.2, 0.1],  # predicts 0, label 0: right
        [0.1, 0.6, 0.3],  # predicts 1, label 2: wrong (2 is second)
        [0.2, 0.3, 0.5],  # predicts 2, label 2: right
        [0.5, 0.4, 0.1],  # predicts 0, label 1: wrong (1 is second)
        [0.3, 0.3, 0.4],  # predicts 2, label 0: wrong (0 ties for second)
    ]
)
LABELS = np.array([0, 2, 2, 1, 0])

# by hand: predictions 0, 1, 2, 0, 2
# class 0: tp 1, predicted 2, actual 2 -> precision 1/2, recall 1/2, F1 1/2
# class 1: tp 0, predicted 1, actual 1 -> 0, 0, 0
# class 2: tp 1, predicted 2, actual 2 -> 1/2, 1/2, 1/2
EXPECTED = {
    "accuracy": 2 / 5,
    "top_k_accuracy": 5 / 5,  # k = 2: every label is first or second (the tie counts)
    "precision": (0.5 + 0 + 0.5) / 3,
    "recall": (0.5 + 0 + 0.5) / 3,
    "macro_f1": (0.5 + 0 + 0.5) / 3,
    "log_loss": -np.mean(np.log([0.7, 0.3, 0.5, 0.4, 0.3])),
}


def metric(registry, name):
    ref = {"type": name, "k": 2} if name == "top_k_accuracy" else name
    return create(registry, "metric", ref)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_values_worked_out_by_hand(registry, name):
    m = metric(registry, name)
    m.reset()
    m.update(PROBABILITIES, LABELS)
    result = m.result()
    assert isinstance(result, float) and result == pytest.approx(EXPECTED[name], rel=1e-12)


@pytest.mark.parametrize("name", list(EXPECTED))
@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunks_and_reset_do_not_change_the_result(registry, name, chunk):
    m = metric(registry, name)
    m.reset()
    m.update(np.eye(3)[[1, 1]], np.array([0, 2]))  # an earlier evaluation's rows
    m.reset()
    for start in range(0, len(LABELS), chunk):
        m.update(PROBABILITIES[start : start + chunk], LABELS[start : start + chunk])
    assert m.result() == pytest.approx(EXPECTED[name], rel=1e-12)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_float32_probabilities_give_the_float64_value(registry, name):
    m = metric(registry, name)
    m.reset()
    m.update(PROBABILITIES.astype(np.float32), LABELS)
    assert m.result() == pytest.approx(EXPECTED[name], rel=1e-6)


def test_log_loss_of_a_confident_mistake_is_large_but_finite(registry):
    m = metric(registry, "log_loss")
    m.reset()
    m.update(np.array([[1.0, 0.0]], np.float32), np.array([1]))
    assert np.isfinite(m.result()) and m.result() > 10


def test_a_class_never_seen_counts_neither_way(registry):
    """Macro averages run over the classes in the labels or the predictions (as scikit-learn
    does by default): a class absent from both does not drag the average down."""
    m = metric(registry, "macro_f1")
    m.reset()
    m.update(np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]]), np.array([0, 1]))
    assert m.result() == 1.0


def test_directions(registry):
    assert metric(registry, "accuracy").greater_is_better
    assert not metric(registry, "log_loss").greater_is_better
