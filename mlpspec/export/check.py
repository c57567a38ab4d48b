"""The conformance kit's ONNX check: a component's ``to_onnx``, exported alone and run by
onnxruntime, computes what its ``forward`` (or a loss's ``probabilities``) computes.

:func:`check_onnx_export` has the signature of the kit's contract checks, and
:mod:`mlpspec.testing` adds it to the layer, activation and loss contracts where onnxruntime
is installed. Each params example is exported at the lowest, default and highest tested
opsets (components may choose ops by opset) and compared in float32 with rtol 1e-5.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import onnxruntime

from mlpspec.core.components import BuildContext
from mlpspec.core.registry import Component, Registry
from mlpspec.core.spec import validate_ref
from mlpspec.export import DEFAULT_OPSET, TESTED_OPSETS
from mlpspec.export.onnx import INPUT, component_model

OPSETS = (TESTED_OPSETS[0], DEFAULT_OPSET, TESTED_OPSETS[-1])
RTOL, ATOL = 1e-5, 1e-6
"""float32: relative 1e-5, and 1e-6 absolute for results that cancel to near zero."""
ROWS, IN_FEATURES, CLASSES = 16, 5, 3
TRAINING_STEPS = 3
"""Training steps a layer takes before it is exported, so that parameters and buffers
(running statistics) hold values other than their initial ones."""


def check_onnx_export(registry: Registry, component: Component, params: dict[str, Any]) -> None:
    """Raise ``AssertionError`` where onnxruntime's result differs from the component's own.

    A component without ``to_onnx`` passes with a warning (the export contract is optional:
    it trains and predicts, and only exporting a model that holds it fails); so does one that
    declares a custom ONNX domain, which plain onnxruntime cannot run.
    """
    built, x = _built(registry, component, params)
    if not callable(getattr(built, "to_onnx", None)):
        warnings.warn(
            f"{component.kind} {component.name!r} has no to_onnx method: a model holding it "
            "cannot be exported to ONNX",
            stacklevel=2,
        )
        return
    expected = _inference(built, component.kind, x)
    for opset in OPSETS:
        exported = component_model(built, x.shape[1], expected.shape[1], np.float32, opset)
        if exported.warnings:
            warnings.warn(
                f"{component.kind} {component.name!r}: {'; '.join(exported.warnings)}; its "
                "export was not run",
                stacklevel=2,
            )
            return
        session = onnxruntime.InferenceSession(
            exported.model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        (got,) = session.run(None, {INPUT: x})
        _compare(got, expected, opset)


def _built(registry: Registry, component: Component, params: dict[str, Any]) -> tuple[Any, Any]:
    """The component as a float32 model would hold it, and an input for it."""
    ref = validate_ref(registry, component.kind, {"type": component.name, **params})
    rng = np.random.default_rng(0)
    if component.kind == "loss":  # positive outputs, which every loss accepts
        return registry.create(ref), rng.uniform(0.2, 1.5, (ROWS, CLASSES)).astype(np.float32)
    x = (2 * rng.standard_normal((ROWS, IN_FEATURES))).astype(np.float32)
    if component.kind == "activation":
        return registry.create(ref), x
    ctx = BuildContext(np.dtype(np.float32), rng, registry.create)
    layer = registry.create(ref, IN_FEATURES, ctx)
    for _ in range(TRAINING_STEPS):
        out = layer.forward(x + rng.standard_normal(x.shape).astype(np.float32), training=True)
        layer.backward(rng.standard_normal(out.shape).astype(np.float32))
        for parameter in layer.parameters().values():
            parameter.value -= parameter.value.dtype.type(0.1) * parameter.grad
    return layer, x


def _inference(built: Any, kind: str, x: np.ndarray) -> np.ndarray:
    if kind == "layer":
        return np.array(built.forward(x, training=False))
    if kind == "activation":
        return np.array(built.forward(x))
    return np.array(built.probabilities(x))


def _compare(got: np.ndarray, expected: np.ndarray, opset: int) -> None:
    if got.shape != expected.shape or got.dtype != expected.dtype:
        raise AssertionError(
            f"opset {opset}: onnxruntime gives {got.dtype} {got.shape}, forward gives "
            f"{expected.dtype} {expected.shape}"
        )
    error = np.abs(got.astype(np.float64) - expected) - (ATOL + RTOL * np.abs(expected))
    if np.any(error > 0):
        worst = np.unravel_index(np.argmax(error), error.shape)
        raise AssertionError(
            f"opset {opset}: onnxruntime gives {got[worst]:.8g} at "
            f"{tuple(int(i) for i in worst)}, forward gives {expected[worst]:.8g} "
            f"(rtol {RTOL}, atol {ATOL})"
        )
