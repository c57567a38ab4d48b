"""The test set's predictions, saved with a run so that its plots need neither the data nor
the model: the confusion matrix reads labels and probabilities, the grid of mistakes reads
the few misclassified images kept here."""

from __future__ import annotations

import numpy as np

from mlpspec.engine.model import Model

Array = np.ndarray

MISCLASSIFIED_KEPT = 64
"""How many misclassified test images a run keeps (in test-set order) for its plot."""


def prediction_arrays(
    model: Model, x: Array, labels: Array, image_shape: tuple[int, int] | None
) -> dict[str, Array]:
    """``labels`` and ``probabilities`` of every test example; for image datasets also the
    first misclassified ``images`` (as the network saw them) and their ``image_index``."""
    probabilities = model.predict_proba(x)
    arrays = {"labels": np.asarray(labels, dtype=np.int64), "probabilities": probabilities}
    if image_shape is not None:
        wrong = np.flatnonzero(np.argmax(probabilities, axis=1) != labels)[:MISCLASSIFIED_KEPT]
        arrays["image_index"] = wrong.astype(np.int64)
        arrays["images"] = x[wrong].reshape(len(wrong), *image_shape)
    return arrays
