"""Document 004's own experimental setup as mlpspec components, for control runs only.

lincoln (the framework of document 004) does two things that mlpspec deliberately does not,
and both bear on its printed numbers; this plugin supplies them so that a control spec can run
the document's experiment as the document did, through the same mechanism as any third-party
plugin:

- ``mnist_test_validation``: MNIST whose training set has the 10,000 test images appended, for
  a spec that holds out the last 10,000 (``data.validation = 10000``): training on all 60,000
  training images and early-stopping on the test set, as lincoln does. mlpspec's own specs never
  look at the test set before the end.
- ``lincoln_softmax_cross_entropy``: softmax cross-entropy whose reported *value* adds
  −(1 − t)·log(1 − p) over the other classes (p clipped to [1e-9, 1 − 1e-9]), as lincoln's
  does, while its gradient stays the standard p − t (lincoln's too). Only early stopping,
  which compares these values, sees the difference.

Used by ``benchmarks/reproduce.py --controls``; from the command line:
``PYTHONPATH=benchmarks/controls mlpspec run --plugin lincoln_setup SPEC``.
"""

from __future__ import annotations

import numpy as np

from mlpspec.builtins.activations import softmax
from mlpspec.builtins.datasets import DownloadParams, mnist
from mlpspec.builtins.losses import ReductionParams, SoftmaxCrossEntropy
from mlpspec.core.components import Array
from mlpspec.core.hookspec import hookimpl
from mlpspec.data.dataset import DataContext, Dataset

CLIP = 1e-9


def mnist_test_validation(params: DownloadParams, ctx: DataContext) -> Dataset:
    """MNIST with the test set appended to the training set (hold out the last 10,000)."""
    data = mnist(params, ctx)
    return Dataset(
        np.concatenate([data.x_train, data.x_test]),
        np.concatenate([data.y_train, data.y_test]),
        data.x_test,
        data.y_test,
        data.classes,
        data.value_range,
        data.image_shape,
    )


class LincolnSoftmaxCrossEntropy(SoftmaxCrossEntropy):
    """Σ_k [−t·log p − (1 − t)·log(1 − p)] as the value, p − t as the gradient.

    The value is computed in float64: in float32 the clip at 1 − 1e-9 rounds to 1, and a
    confident prediction would give log(0).
    """

    def per_example(
        self, output: Array, target: Array, *, grad: bool
    ) -> tuple[Array, Array | None]:
        p = np.clip(softmax(output.astype(np.float64)), CLIP, 1 - CLIP)
        values = np.sum(-target * np.log(p) - (1 - target) * np.log1p(-p), axis=1)
        gradient = super().per_example(output, target, grad=True)[1] if grad else None
        return values.astype(output.dtype), gradient


@hookimpl
def mlpspec_register_losses(register) -> None:
    register("lincoln_softmax_cross_entropy", LincolnSoftmaxCrossEntropy, ReductionParams)


@hookimpl
def mlpspec_register_datasets(register) -> None:
    register("mnist_test_validation", mnist_test_validation, DownloadParams)
