"""The contracts that components of each kind meet, and the context they are built in.

Layers and losses are classes to derive from (they share real behaviour); activations,
initializers, optimizers and schedulers are small protocols. Arrays are numpy arrays of the
model's dtype (float32 unless the spec says float64), batches are rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mlpspec.core.registry import ComponentConfig

Array = np.ndarray


class Workspace:
    """Arrays a component reuses from one call to the next, by name.

    The training loop calls the same components with the same shapes thousands of times; taking
    their scratch and output arrays from a workspace keeps a step's memory flat (no new arrays,
    so no allocator churn or page faults for large layers). An array is replaced only when the
    requested shape changes (the last, shorter batch of an epoch, an evaluation chunk). What a
    component returns from a workspace stays valid until its next call, which is all the
    forward/backward protocol needs. (At small sizes numpy's allocator is about as fast: the
    workspace is about memory, not speed.)
    """

    def __init__(self, dtype: np.dtype | type) -> None:
        self.dtype = np.dtype(dtype)
        self._arrays: dict[str, Array] = {}

    def __call__(
        self, name: str, shape: tuple[int, ...], dtype: np.dtype | type | None = None
    ) -> Array:
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._arrays[name] = np.empty(shape, dtype)
        return array


@dataclass(eq=False)
class Parameter:
    """A trainable array and the gradient of the objective with respect to it.

    ``backward`` writes ``grad``; optimizers update ``value`` in place, so the arrays a layer
    holds stay the arrays the optimizer changes.
    """

    value: Array
    grad: Array = field(init=False)

    def __post_init__(self) -> None:
        self.grad = np.zeros_like(self.value)


class Layer:
    """A differentiable map from ``(batch, in_features)`` to ``(batch, out_features)``.

    ``forward`` keeps what ``backward`` needs; ``backward`` receives the gradient of the
    objective with respect to the layer's output, writes its parameters' gradients (including
    that of its own :meth:`penalty`) and returns the gradient with respect to its input, or
    ``None`` when ``need_input_grad`` is false (the first layer: nothing needs it). The
    gradient it receives is its own to overwrite: nothing reads it afterwards.

    A layer's params model may define ``parameter_count(in_features)`` and
    ``out_features(in_features)`` so that absurd sizes are refused before building (see
    :mod:`mlpspec.run.budget`); random numbers come from ``BuildContext.rng`` only, so that
    checkpoints can restore them.
    """

    out_features: int

    def forward(self, x: Array, *, training: bool) -> Array:
        raise NotImplementedError

    def backward(self, grad_out: Array, *, need_input_grad: bool = True) -> Array | None:
        raise NotImplementedError

    def parameters(self) -> dict[str, Parameter]:
        """Trainable arrays by name; saved with the model and updated by the optimizer."""
        return {}

    def buffers(self) -> dict[str, Array]:
        """Non-trainable state saved with the model (running statistics, for example)."""
        return {}

    def penalty(self) -> float:
        """The layer's term in the objective (an L2 penalty, for example)."""
        return 0.0


class Activation(Protocol):
    """An elementwise (or row-wise) function and its vector-Jacobian product.

    ``backward`` gets the input ``z``, the output ``a = forward(z)`` and the gradient with
    respect to ``a``, and returns the gradient with respect to ``z``; it may overwrite
    ``grad_a`` (it is not used again). ``forward`` must not change ``z``, and may return an
    array it reuses on its next call (each layer builds its own activation).
    """

    def forward(self, z: Array) -> Array: ...

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array: ...


class Initializer(Protocol):
    """Draws the initial values of a parameter of ``shape`` for a layer of the given fans."""

    def __call__(
        self, rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int
    ) -> Array: ...


class Loss:
    """A loss over a batch, from per-example terms reduced by mean or sum.

    Subclasses implement :meth:`per_example` (values and the gradient of each example's term)
    and :meth:`probabilities`; the reduction is shared. ``target`` is one-hot, of the output's
    dtype. The arrays returned may be the loss's workspace: valid until its next call.
    """

    reduction: str = "mean"

    def per_example(
        self, output: Array, target: Array, *, grad: bool
    ) -> tuple[Array, Array | None]:
        raise NotImplementedError

    def probabilities(self, output: Array) -> Array:
        """Class probabilities (or scores) for the network's output; argmax is the prediction.

        Returns a new array: ``output`` may be a layer's workspace, reused on the next call.
        """
        raise NotImplementedError

    def check_output(self, width: int) -> None:
        """Raise ``ValueError`` saying why if this loss cannot learn from outputs this wide.

        Called when the model is built, before any training; the default accepts any width.
        """

    def value(self, output: Array, target: Array) -> float:
        return self._reduce(self.per_example(output, target, grad=False)[0], output)

    def value_and_grad(self, output: Array, target: Array) -> tuple[float, Array]:
        values, grad = self.per_example(output, target, grad=True)
        assert grad is not None
        if self.reduction == "mean":
            grad /= output.shape[0]
        return self._reduce(values, output), grad

    def _reduce(self, values: Array, output: Array) -> float:
        total = float(np.sum(values, dtype=np.float64))
        return total / output.shape[0] if self.reduction == "mean" else total


class Optimizer(Protocol):
    """Updates parameters in place from their gradients, at the learning rate it is given.

    The learning rate has one owner: the scheduler (``constant`` when a spec names none)
    computes it from the optimizer's ``lr`` param for every step, and the trainer passes it
    to ``step``. An optimizer never keeps a learning rate of its own: one that ignored the
    ``lr`` it is given would silently ignore the schedule.

    ``step`` may overwrite the gradients (the next backward pass rewrites them), which saves
    a scratch array and a pass over memory per parameter. ``state`` returns every array the
    next steps depend on (momentum velocities), and ``load_state`` takes back what ``state``
    returned, also before the first step: a checkpoint holds them, so that a resumed run
    continues bit for bit.
    """

    def step(self, parameters: list[Parameter], lr: float) -> None: ...

    def state(self) -> dict[str, Array]: ...

    def load_state(self, state: dict[str, Array]) -> None: ...


@dataclass(frozen=True)
class Schedule:
    """What a scheduler knows of the run: base learning rate, epochs, steps per epoch."""

    base_lr: float
    epochs: int
    steps_per_epoch: int


class Scheduler(Protocol):
    """The learning rate for a step; ``epoch`` counts from 0, ``step`` over the whole run.

    The built-in schedulers are pure functions of (epoch, step). One that keeps state (a
    plateau detector, say) may also define ``state() -> dict[str, Array]`` and
    ``load_state(state)``, as optimizers do: checkpoints save and restore it when present.
    """

    def lr(self, epoch: int, step: int) -> float: ...


class Metric(Protocol):
    """A measure of predictions, accumulated over an evaluation's chunks.

    An evaluation calls ``reset()``, then ``update`` once per chunk of rows with the loss's
    class probabilities (``Loss.probabilities``, shape ``(rows, classes)``) and the integer
    labels, then ``result()``: a finite Python float, the same however the rows were chunked.
    ``greater_is_better`` says which way is better, for ``monitor`` and early stopping.
    """

    greater_is_better: bool

    def reset(self) -> None: ...

    def update(self, probabilities: Array, labels: Array) -> None: ...

    def result(self) -> float: ...


class ExportContext(Protocol):
    """What ``to_onnx`` writes an ONNX graph with (:mod:`mlpspec.export` implements it).

    Tensor names are strings; every name a component creates goes through :meth:`unique`
    (or is returned by :meth:`add_initializer` and :meth:`add_node`), so that two components,
    or one component used twice, never collide.
    """

    opset: int
    """The ``ai.onnx`` opset being written (13 or later): choose ops by it (``Gelu`` exists
    from 20 on, say)."""
    dtype: np.dtype
    """The model's float dtype; the graph's tensors are of this type (float32 or float64)."""

    def unique(self, name: str) -> str:
        """``name``, or ``name`` with a suffix if the graph has it already."""
        ...

    def add_initializer(self, name: str, value: Array | float) -> str:
        """A constant of the graph (weights, a scale); returns its unique name. Floating-point
        values are stored in :attr:`dtype`, integer ones (axes, shapes) as they are."""
        ...

    def add_node(
        self, op_type: str, inputs: Sequence[str], *, domain: str = "", **attributes: Any
    ) -> str:
        """Append the node ``op_type(inputs, **attributes)``; returns its (unique) output's
        name. ``domain`` other than the standard ones must be declared first."""
        ...

    def declare_domain(self, domain: str, version: int = 1) -> None:
        """Use ops of a custom domain. The export then warns that plain onnxruntime will not
        run the model (it needs that domain's kernels): use standard ops where they exist."""
        ...


class Exportable(Protocol):
    """The optional export contract of layers, activations and losses, beside forward/backward.

    ``to_onnx(ctx, input_name)`` adds to ``ctx`` the nodes that compute, from the tensor
    ``input_name`` (``(batch, in_features)`` of ``ctx.dtype``), what the component computes
    at inference, and returns the name of the result:

    - a layer: ``forward(x, training=False)``, with its parameters and buffers as
      initializers (a layer holding an activation exports it through the activation's own
      ``to_onnx``);
    - an activation: ``forward(z)``;
    - a loss: ``probabilities(output)``, from the network's output.

    A component that computes nothing at inference may return ``input_name`` itself. Raise
    ``ValueError`` saying why for a configuration it cannot export (an opset too old, say).
    A component without ``to_onnx`` still trains and predicts; exporting a model that holds
    it fails, naming it and its package. ``mlpspec.testing`` checks ``to_onnx`` against
    ``forward`` with onnxruntime, where it is installed.
    """

    def to_onnx(self, ctx: ExportContext, input_name: str) -> str: ...


@dataclass
class BuildContext:
    """What a layer factory gets besides its params and input width."""

    dtype: np.dtype
    rng: np.random.Generator
    """The layer's own random stream. Draw every random number from it (not from a generator
    of your own): a checkpoint saves its state, so a resumed run draws the same numbers."""
    create: Callable[[ComponentConfig], Any]
    """Builds a component named in the layer's params (``ctx.create(params.activation)``)."""
