"""Export of saved runs for serving outside mlpspec.

:mod:`mlpspec.export.onnx` writes an ONNX graph (the ``onnx`` extra), each component
contributing its own part through ``to_onnx`` (see :class:`mlpspec.core.components.Exportable`);
:mod:`mlpspec.export.check` runs one component's part in onnxruntime against its ``forward``,
for the conformance kit. This module imports neither library, so that the error for a missing
extra can be raised from here.
"""

from __future__ import annotations

from mlpspec.core.errors import MlpspecError

DEFAULT_OPSET = 17
MIN_OPSET = 13
"""Softmax's meaning changed at opset 13 (per axis rather than over a flattened 2-D view):
components write it for 13 and later only."""
TESTED_OPSETS = range(13, 22)
"""The opsets the test suite exports and runs in onnxruntime; later ones are allowed."""
ONNX_FILE = "model.onnx"
"""The file ``mlpspec export`` writes into the run folder unless told otherwise."""


class ExportError(MlpspecError):
    """A model that cannot be exported as asked: a component without ``to_onnx``, an opset
    out of range, a missing ``onnx`` package. Bad input, so exit status 2."""

    exit_code = 2


def missing_extra(package: str) -> ExportError:
    """The error for an export library that is not installed."""
    return ExportError(f"exporting needs the {package} package: pip install 'mlpspec[onnx]'")
