"""ONNX export: a saved run as one graph from raw rows to class probabilities and labels.

The graph takes rows in the dataset's own units (0–255 pixels for MNIST), ``input``
``[N, features]`` of the model's dtype; subtracts and divides as the run's preprocessing did;
runs each layer's and then the loss's own ``to_onnx`` (the export contract beside
forward/backward, :class:`mlpspec.core.components.Exportable`); and gives ``probabilities``
``[N, classes]`` (what ``LoadedRun.predict_proba`` gives) and ``label`` ``[N]`` (int64, the
argmax). Its metadata holds the mlpspec version, the resolved spec, the components' packages
and versions, the class names and the preprocessing.

Components write standard ``ai.onnx`` ops; a custom domain is allowed only when a component
declares it (:meth:`OnnxExportContext.declare_domain`), and is reported as a warning, since
plain onnxruntime cannot run such a model. The IR version is pinned to the lowest the opset
needs: onnx stamps its own newest one by default, which released onnxruntimes refuse.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import tomli_w
from onnx import TensorProto, helper, numpy_helper

from mlpspec._version import __version__
from mlpspec.core.components import ExportContext
from mlpspec.core.errors import MlpspecError, PluginError
from mlpspec.core.registry import ComponentConfig, Registry
from mlpspec.core.spec import Spec
from mlpspec.data.prepare import shift_and_scale
from mlpspec.engine.model import Model
from mlpspec.export import DEFAULT_OPSET, MIN_OPSET, TESTED_OPSETS, ExportError
from mlpspec.run.rundir import atomic_write
from mlpspec.run.saved import LoadedRun, provenance

INPUT, PROBABILITIES, LABEL = "input", "probabilities", "label"
OUTPUT = "output"
"""The output of a graph holding one component alone (:func:`component_model`)."""
EXPORTED_KINDS = ("layer", "activation", "loss")
"""The kinds that take part in inference, and so must implement ``to_onnx``."""
ONNXRUNTIME_DOMAINS = ("ai.onnx.ml",)
"""Non-default domains that onnxruntime implements for every build: declared without a warning."""


class OnnxExportContext(ExportContext):
    """The graph under construction, as components see it through ``to_onnx``.

    Names are made unique and prefixed with the place of the component being exported
    (``layers.1.weight``), which is also what Netron shows for each node.
    """

    def __init__(self, opset: int, dtype: np.dtype | type) -> None:
        self.opset = opset
        self.dtype = np.dtype(dtype)
        self.tensor_type: int = helper.np_dtype_to_tensor_dtype(self.dtype)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.domains: dict[str, int] = {}
        self.warnings: list[str] = []
        self.place = ""
        """The place in the spec of the component being exported (``layers[1]``)."""
        self._taken = {INPUT, PROBABILITIES, LABEL, OUTPUT}

    def unique(self, name: str) -> str:
        scope = self.place.replace("[", ".").replace("]", "")  # layers.1.weight
        base = f"{scope}.{name}" if scope else name
        candidate, count = base, 0
        while candidate in self._taken:
            count += 1
            candidate = f"{base}_{count}"
        self._taken.add(candidate)
        return candidate

    def add_initializer(self, name: str, value: np.ndarray | float) -> str:
        array = np.asarray(value)
        if np.issubdtype(array.dtype, np.floating):
            array = array.astype(self.dtype)
        unique = self.unique(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), unique))
        return unique

    def add_node(
        self, op_type: str, inputs: Sequence[str], *, domain: str = "", **attributes: Any
    ) -> str:
        if domain not in ("", "ai.onnx") and domain not in self.domains:
            raise ValueError(
                f"op {op_type!r} of domain {domain!r}: declare the domain first "
                f"(ctx.declare_domain({domain!r}, version))"
            )
        output = self.unique(op_type.lower())
        self.nodes.append(
            helper.make_node(
                op_type, list(inputs), [output], name=output, domain=domain, **attributes
            )
        )
        return output

    def declare_domain(self, domain: str, version: int = 1) -> None:
        if domain in ("", "ai.onnx"):
            raise ValueError("the standard domain 'ai.onnx' needs no declaring")
        self.domains[domain] = version
        if domain not in ONNXRUNTIME_DOMAINS:
            self.warnings.append(
                f"{self.place or 'a component'} uses ops of the custom domain {domain!r} "
                f"(version {version}): plain onnxruntime will not run this model; it needs "
                "that domain's kernels (a custom-op library) registered"
            )

    def model(
        self,
        name: str,
        inputs: Sequence[onnx.ValueInfoProto],
        outputs: dict[str, tuple[str, int, list[str | int]]],
        *,
        doc: str = "",
        metadata: dict[str, str] | None = None,
    ) -> onnx.ModelProto:
        """The finished, checked model; ``outputs`` maps each graph output's name to the
        tensor it is, its element type and its shape."""
        infos = []
        for output, (tensor, element_type, shape) in outputs.items():
            self.nodes.append(helper.make_node("Identity", [tensor], [output], name=output))
            infos.append(helper.make_tensor_value_info(output, element_type, shape))
        self._fold_scales_into_weights()
        graph = helper.make_graph(self.nodes, name, list(inputs), infos, self.initializers)
        opsets = [
            helper.make_opsetid("", self.opset),
            *(helper.make_opsetid(domain, v) for domain, v in self.domains.items()),
        ]
        model = helper.make_model(
            graph,
            opset_imports=opsets,
            ir_version=helper.find_min_ir_version_for(opsets, ignore_unknown=True),
            producer_name="mlpspec",
            producer_version=__version__,
            doc_string=doc,
        )
        helper.set_model_props(model, metadata or {})
        try:
            onnx.checker.check_model(model, full_check=True)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
            raise PluginError(
                f"the exported graph is not valid ONNX (its node names give the component's "
                f"place): {exc}"
            ) from None
        return model

    def _fold_scales_into_weights(self) -> None:
        """``Gemm(Mul(x, s), W, b)`` → ``Gemm(x, s·W, b)`` for a scalar constant ``s``:
        classic dropout's inference scaling (``Mul`` by 1 − rate, from the layer's own
        export) folded into the next dense layer's weights, one elementwise pass fewer. (The
        product is rounded once more or less than mlpspec's; the difference is far inside
        float rounding of the matrix product itself.) Gemm's ``alpha`` would keep the weights
        as trained, but it is a float32 attribute: inexact for float64 models."""
        constants = {t.name: t for t in self.initializers}
        readers = Counter(name for node in self.nodes for name in node.input)
        for gemm in [n for n in self.nodes if n.op_type == "Gemm" and n.domain == ""]:
            mul = next((n for n in self.nodes if gemm.input[0] in n.output), None)
            if mul is None or mul.op_type != "Mul" or mul.domain or readers[mul.output[0]] != 1:
                continue
            scalars = [name for name in mul.input if _is_scalar(constants.get(name))]
            weight = constants.get(gemm.input[1])
            if not scalars or weight is None:  # a scalar commutes with transA, transB, alpha
                continue
            scale = numpy_helper.to_array(constants[scalars[0]])
            folded = numpy_helper.to_array(weight) * scale.reshape(())  # same dtype: a scalar
            gemm.input[0] = next(name for name in mul.input if name != scalars[0])
            gemm.input[1] = self.add_initializer(f"{gemm.input[1]}_scaled", folded)
            self.nodes.remove(mul)
        used = {name for node in self.nodes for name in node.input}
        self.initializers = [t for t in self.initializers if t.name in used]

    def input(self, width: int) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(INPUT, self.tensor_type, ["N", width])


def _is_scalar(tensor: onnx.TensorProto | None) -> bool:
    return tensor is not None and int(np.prod(tensor.dims)) == 1


@dataclass(frozen=True)
class Placed:
    """A built component that takes part in inference, with the spec reference it was built
    from and its place in the spec (``layers[1].activation``)."""

    where: str
    config: ComponentConfig
    built: Any


@dataclass(frozen=True)
class Parts:
    """What a model's inference is made of, in the order it runs."""

    layers: list[Placed]
    nested: list[Placed]
    """Components that layers' params name (``layers[0].activation``): each layer's
    ``to_onnx`` exports its own."""
    loss: Placed

    def all(self) -> list[Placed]:
        return [*self.layers, *self.nested, self.loss]


def placed_components(spec: Spec, model: Model) -> Parts:
    """The model's layers, the activations (and other components of the exported kinds) that
    their params name, and the loss, each with its spec reference and place.

    A nested reference is paired with the layer's attribute of the param's name
    (``layer.activation`` for ``activation = ...``), as the built-in layers keep it; one
    kept elsewhere is left to its layer's ``to_onnx``. (When built objects carry their own
    config, this pairing becomes a lookup: it is kept in this one function for that.)
    """
    layers, nested = [], []
    for index, (config, layer) in enumerate(zip(spec.layers, model.layers, strict=True)):
        where = f"layers[{index}]"
        layers.append(Placed(where, config, layer))
        for name in type(config.params).model_fields:
            ref = getattr(config.params, name)
            if (
                isinstance(ref, ComponentConfig)
                and ref.kind in EXPORTED_KINDS
                and hasattr(layer, name)
            ):
                nested.append(Placed(f"{where}.{name}", ref, getattr(layer, name)))
    return Parts(layers, nested, Placed("loss", spec.loss, model.loss))


def check_exportable(placed: Sequence[Placed], registry: Registry, source: str) -> None:
    """Raise one :class:`ExportError` naming every component without ``to_onnx``, its place
    and its package."""
    missing = [p for p in placed if not callable(getattr(p.built, "to_onnx", None))]
    if not missing:
        return
    lines = [
        f"  {p.where}: {p.config.kind} {p.config.name!r} from "
        f"{registry.get(p.config.kind, p.config.name).provider.describe()}"
        for p in missing
    ]
    count = len(missing)
    raise ExportError(
        "\n".join(
            [
                f"{source}: cannot export to ONNX: {count} component"
                f"{'s have' if count > 1 else ' has'} no to_onnx method",
                *lines,
                "  (ask their package for ONNX export: see docs/plugins.md, 'Exporting')",
            ]
        )
    )


def check_opset(opset: int) -> None:
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ExportError(
            f"opset {opset} is out of range: mlpspec exports opsets {MIN_OPSET} to {newest} "
            f"(the installed onnx {onnx.__version__} knows up to {newest}; Softmax changed "
            f"meaning at 13), and is tested with {TESTED_OPSETS[0]} to {TESTED_OPSETS[-1]}"
        )


def export_part(ctx: OnnxExportContext, part: Placed, registry: Registry, input_name: str) -> str:
    """``part.built.to_onnx`` with its names scoped to its place; a ``ValueError`` (a
    configuration it cannot export) is bad input, anything else a fault of its plugin."""
    ctx.place = part.where
    config = part.config
    try:
        return part.built.to_onnx(ctx, input_name)
    except MlpspecError:
        raise
    except ValueError as exc:
        raise ExportError(
            f"{part.where}: {config.kind} {config.name!r} cannot be exported: {exc}"
        ) from exc
    except Exception as exc:
        provider = registry.get(config.kind, config.name).provider.describe()
        raise PluginError(
            f"{part.where}: {config.kind} {config.name!r} from {provider} failed to export: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    finally:
        ctx.place = ""


@dataclass
class Exported:
    """An exported model and what the export warned about (custom domains)."""

    model: onnx.ModelProto
    warnings: list[str] = field(default_factory=list)

    @property
    def opset(self) -> int:
        return next(o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx"))

    def save(self, path: Path) -> None:
        """Write the model atomically (the old file or the new one, never half)."""
        atomic_write(path, self.model.SerializeToString())


@dataclass(frozen=True)
class RawInput:
    """What the graph's front needs of the run: the width of a raw row and the statistics
    its preprocessing used (:func:`mlpspec.data.prepare.statistics`)."""

    features: int
    statistics: dict[str, Any]


def _preprocessing(loaded: LoadedRun) -> RawInput:
    """What the graph's front needs of the run's record."""
    stats = loaded.record.preprocessing
    if stats is None:
        raise ExportError(
            f"{loaded.path}: the run did not save its preprocessing statistics (made by an "
            "older mlpspec), so the graph cannot take raw inputs; run it again"
        )
    return RawInput(loaded.record.features, stats)


def export_run(loaded: LoadedRun, opset: int = DEFAULT_OPSET) -> Exported:
    """The saved run as an ONNX model from raw rows to ``probabilities`` and ``label``."""
    check_opset(opset)
    spec, model, registry = loaded.spec, loaded.model, loaded.registry
    parts = placed_components(spec, model)
    check_exportable(parts.all(), registry, str(loaded.path))
    raw = _preprocessing(loaded)
    ctx = OnnxExportContext(opset, model.dtype)
    x = _preprocess(ctx, raw.statistics)
    for layer in parts.layers:
        x = export_part(ctx, layer, registry, x)
    probabilities = export_part(ctx, parts.loss, registry, x)
    label = ctx.add_node("ArgMax", [probabilities], axis=1, keepdims=0)
    classes = [str(c) for c in model.classes]
    metadata = {
        "mlpspec_version": __version__,
        "run": loaded.path.name,
        "spec": tomli_w.dumps(spec.to_dict()),
        "components": json.dumps(provenance(spec, registry)),
        "classes": json.dumps(classes),
        "preprocessing": json.dumps(raw.statistics),
    }
    onnx_model = ctx.model(
        spec.model.name,
        [ctx.input(raw.features)],
        {
            PROBABILITIES: (probabilities, ctx.tensor_type, ["N", len(classes)]),
            LABEL: (label, TensorProto.INT64, ["N"]),
        },
        doc=f"mlpspec run {loaded.path.name}: raw rows in the dataset's own units -> class "
        "probabilities and the most likely class",
        metadata=metadata,
    )
    return Exported(onnx_model, ctx.warnings)


def _preprocess(ctx: OnnxExportContext, stats: dict[str, Any]) -> str:
    """(x − shift) / scale, as ``preprocess_rows`` computes it: the same two operations in
    the same dtype, each skipped where it changes nothing."""
    shift, scale = shift_and_scale(stats)
    ctx.place = "preprocess"
    x = INPUT
    if shift:
        x = ctx.add_node("Sub", [x, ctx.add_initializer("shift", shift)])
    if scale != 1:
        x = ctx.add_node("Div", [x, ctx.add_initializer("scale", scale)])
    ctx.place = ""
    return x


def component_model(
    component: Any, width: int, out_width: int, dtype: np.dtype | type, opset: int
) -> Exported:
    """One component alone, from ``input`` ``[N, width]`` to ``output`` ``[N, out_width]``:
    what the conformance kit runs in onnxruntime against the component's ``forward``."""
    ctx = OnnxExportContext(opset, dtype)
    out = component.to_onnx(ctx, INPUT)
    model = ctx.model(
        type(component).__name__,
        [ctx.input(width)],
        {OUTPUT: (out, ctx.tensor_type, ["N", out_width])},
    )
    return Exported(model, ctx.warnings)
