"""The files ``mlpspec new plugin`` writes: one example component per kind, and the package
around them.

Each example is a real, small component that passes the conformance kit as written, with the
comments an author needs where the contract is easy to get wrong (the first layer's
gradients, the lr given to ``step``, float32 all the way). ``$plugin``, ``$package`` and
``$dist`` are substituted (:class:`string.Template`); nothing else in the text is special.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlpspec.core.kinds import BY_NAME


@dataclass(frozen=True)
class Example:
    """One kind's example component: its module, how the plugin registers it, and its test."""

    kind: str
    names: tuple[str, ...]
    """What ``plugin.py`` imports from the module."""
    register: str
    """The line of ``plugin.py`` that registers it."""
    component: str
    """Its name in specs, after the plugin's prefix."""
    code: str
    test: str
    """A test of what it computes (the kit tests the contract)."""

    @property
    def module(self) -> str:
        """The module of the package it lives in, named as the kind's listing heading is
        (``layers`` is ``$package/layers.py``)."""
        return BY_NAME[self.kind].plural

    @property
    def hook(self) -> str:
        """The hook its plugin registers it through."""
        return BY_NAME[self.kind].hook


LAYER = Example(
    kind="layer",
    names=("ScaleShift", "ScaleShiftParams"),
    register='register("$plugin.scale_shift", ScaleShift, ScaleShiftParams)',
    component="scale_shift",
    code='''\
"""$plugin.scale_shift: a scale and a shift per feature, then an activation."""

from __future__ import annotations

import numpy as np
from pydantic import ConfigDict, Field

from mlpspec import BuildContext, Layer, Parameter, Params, component_ref


class ScaleShiftParams(Params):
    # The conformance kit checks the layer with each example (and the defaults without any).
    model_config = ConfigDict(
        json_schema_extra={"examples": [{}, {"activation": "tanh", "init_scale": 0.5}]}
    )

    activation: component_ref("activation") = "linear"
    """Applied after the scale and the shift."""
    init_scale: float = Field(1.0, allow_inf_nan=False)
    """What every feature's scale starts at."""

    # mlpspec's memory guard asks these before anything is built, to refuse absurd sizes;
    # without them it cannot estimate a network holding this layer (mlpspec check warns).
    def parameter_count(self, in_features: int) -> int:
        return 2 * in_features

    def out_features(self, in_features: int) -> int:
        return in_features


class ScaleShift(Layer):
    """activation(x·γ + β): a learnt scale and shift per feature."""

    def __init__(self, params: ScaleShiftParams, in_features: int, ctx: BuildContext) -> None:
        self.out_features = in_features
        self.scale = Parameter(np.full(in_features, params.init_scale, dtype=ctx.dtype))
        self.shift = Parameter(np.zeros(in_features, dtype=ctx.dtype))
        self.activation = ctx.create(params.activation)

    def forward(self, x: np.ndarray, *, training: bool) -> np.ndarray:
        self.x = x
        self.z = x * self.scale.value + self.shift.value
        self.a = self.activation.forward(self.z)
        return self.a

    def backward(self, grad_out: np.ndarray, *, need_input_grad: bool = True) -> np.ndarray | None:
        grad_z = self.activation.backward(self.z, self.a, grad_out)
        # Write (not add to) every parameter's gradient whatever need_input_grad says: the
        # network's first layer is called with it false, and trains on what is written here.
        np.sum(grad_z * self.x, axis=0, out=self.scale.grad)
        np.sum(grad_z, axis=0, out=self.shift.grad)
        return grad_z * self.scale.value if need_input_grad else None

    def parameters(self) -> dict[str, Parameter]:
        return {"scale": self.scale, "shift": self.shift}
''',
    test='''\
def test_scale_shift_computes_x_times_scale_plus_shift(mlpspec_registry):
    layer, _ = build_layer(
        mlpspec_registry, {"type": "$plugin.scale_shift", "init_scale": 2.0}, 3
    )
    layer.shift.value[...] = [0.0, 1.0, -1.0]
    out = layer.forward(np.array([[1.0, 2.0, 3.0]]), training=True)
    np.testing.assert_allclose(out, [[2.0, 5.0, 5.0]])
''',
)

ACTIVATION = Example(
    kind="activation",
    names=("Swish", "SwishParams"),
    register='register("$plugin.swish", Swish, SwishParams)',
    component="swish",
    code='''\
"""$plugin.swish: z·σ(βz), a smooth ReLU."""

from __future__ import annotations

import numpy as np
from pydantic import ConfigDict, Field

from mlpspec import Params


class SwishParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{}, {"beta": 2.0}]})

    beta: float = Field(1.0, gt=0, allow_inf_nan=False)
    """Sharpness: z·σ(β·z); a large β comes close to ReLU."""


class Swish:
    """z·σ(βz) (Ramachandran et al. 2017): a smooth ReLU."""

    def __init__(self, params: SwishParams) -> None:
        self.beta = params.beta  # a Python float: float32 arrays stay float32

    def forward(self, z: np.ndarray) -> np.ndarray:
        return z * self._sigmoid(z)

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        s = self._sigmoid(z)
        return grad_a * (s + self.beta * z * s * (1 - s))

    def _sigmoid(self, z: np.ndarray) -> np.ndarray:
        """σ(βz) as ½(1 + tanh(βz/2)), which never overflows."""
        return 0.5 * (1 + np.tanh(0.5 * self.beta * z))
''',
    test='''\
def test_swish_values(mlpspec_registry):
    swish = create(mlpspec_registry, "activation", {"type": "$plugin.swish", "beta": 1.0})
    np.testing.assert_allclose(swish.forward(np.array([[0.0, 1.0]])), [[0.0, 0.7310586]])
''',
)

INITIALIZER = Example(
    kind="initializer",
    names=("LecunUniform", "LecunUniformParams"),
    register='register("$plugin.lecun_uniform", LecunUniform, LecunUniformParams)',
    component="lecun_uniform",
    code='''\
"""$plugin.lecun_uniform: U(−g·√(3/fan_in), g·√(3/fan_in))."""

from __future__ import annotations

import numpy as np
from pydantic import ConfigDict, Field

from mlpspec import Params


class LecunUniformParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{}, {"gain": 2.0}]})

    gain: float = Field(1.0, gt=0, allow_inf_nan=False)
    """Scales the range: U(−g·√(3/fan_in), g·√(3/fan_in))."""


class LecunUniform:
    """U(−g·√(3/fan_in), g·√(3/fan_in)): unit variance from unit-variance inputs (LeCun 1998)."""

    def __init__(self, params: LecunUniformParams) -> None:
        self.gain = params.gain

    def __call__(
        self, rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int
    ) -> np.ndarray:
        # Draw from rng only, in float64 (the layer casts to its dtype). For a bias, shape is
        # (units,) and fan_in the layer's input width, as for its weights.
        limit = self.gain * np.sqrt(3.0 / fan_in)
        return rng.uniform(-limit, limit, size=shape)
''',
    test='''\
def test_lecun_uniform_stays_in_its_range(mlpspec_registry):
    init = create(mlpspec_registry, "initializer", {"type": "$plugin.lecun_uniform"})
    values = init(np.random.default_rng(0), (300, 4), 300, 4)
    assert np.abs(values).max() <= np.sqrt(3.0 / 300)
''',
)

LOSS = Example(
    kind="loss",
    names=("SmoothedCrossEntropy", "SmoothedCrossEntropyParams"),
    register='register("$plugin.smoothed_ce", SmoothedCrossEntropy, SmoothedCrossEntropyParams)',
    component="smoothed_ce",
    code='''\
"""$plugin.smoothed_ce: softmax cross-entropy against label-smoothed targets."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import ConfigDict, Field

from mlpspec import Loss, Params


class SmoothedCrossEntropyParams(Params):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{}, {"smoothing": 0.3, "reduction": "sum"}]}
    )

    smoothing: float = Field(0.1, ge=0, lt=1)
    """The share of each target spread evenly over all classes."""
    reduction: Literal["mean", "sum"] = "mean"
    """How the examples' losses combine over a batch."""


class SmoothedCrossEntropy(Loss):
    """−Σ t̃·log softmax(z), with t̃ = (1 − s)·t + s/K (Szegedy et al. 2016)."""

    def __init__(self, params: SmoothedCrossEntropyParams) -> None:
        self.smoothing = params.smoothing
        self.reduction = params.reduction  # the base class reduces and scales the gradient

    def check_output(self, width: int) -> None:
        if width < 2:  # a ValueError here is reported as a problem of the spec
            raise ValueError("label smoothing needs 2 outputs or more")

    def per_example(
        self, output: np.ndarray, target: np.ndarray, *, grad: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        smoothed = target * (1 - self.smoothing) + self.smoothing / output.shape[1]
        log_p = self._log_softmax(output)
        values = -np.sum(smoothed * log_p, axis=1)  # of the output's dtype: float32 stays
        if not grad:
            return values, None
        return values, np.exp(log_p) - smoothed

    def probabilities(self, output: np.ndarray) -> np.ndarray:
        return np.exp(self._log_softmax(output))

    @staticmethod
    def _log_softmax(output: np.ndarray) -> np.ndarray:
        shifted = output - output.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
''',
    test='''\
def test_smoothed_ce_without_smoothing_is_cross_entropy(mlpspec_registry):
    ref = {"type": "$plugin.smoothed_ce", "smoothing": 0.0}
    loss = create(mlpspec_registry, "loss", ref)
    output, target = np.array([[2.0, 0.0, -1.0]]), np.array([[1.0, 0.0, 0.0]])
    expected = -np.log(np.exp(2.0) / np.exp([2.0, 0.0, -1.0]).sum())
    np.testing.assert_allclose(loss.value(output, target), expected)
''',
)

OPTIMIZER = Example(
    kind="optimizer",
    names=("Adagrad", "AdagradParams"),
    register='register("$plugin.adagrad", Adagrad, AdagradParams)',
    component="adagrad",
    code='''\
"""$plugin.adagrad: steps that shrink, per weight, as its squared gradients add up."""

from __future__ import annotations

import numpy as np
from pydantic import ConfigDict, Field

from mlpspec import Parameter, Params


class AdagradParams(Params):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"lr": 0.1}, {"lr": 0.5, "eps": 1e-6}]}
    )

    lr: float = Field(gt=0, allow_inf_nan=False)
    """The base learning rate: where the schedule starts (every optimizer takes an lr)."""
    eps: float = Field(1e-8, gt=0)
    """Added to √(Σg²) to keep the first steps finite."""


class Adagrad:
    """w ← w − lr·g/(√(Σg²) + ε) (Duchi et al. 2011)."""

    def __init__(self, params: AdagradParams) -> None:
        self.eps = params.eps
        self.squares: list[np.ndarray] = []

    def step(self, parameters: list[Parameter], lr: float) -> None:
        # Use the lr given here, never params.lr: it is the scheduler's, for this step.
        if not self.squares:  # the same parameters, in the same order, at every step
            self.squares = [np.zeros_like(p.value) for p in parameters]
        for p, squares in zip(parameters, self.squares, strict=True):
            squares += p.grad * p.grad
            p.grad /= np.sqrt(squares) + self.eps  # the next backward pass rewrites p.grad
            p.grad *= lr
            p.value -= p.grad  # in place: the layer keeps its arrays

    def state(self) -> dict[str, np.ndarray]:
        # Everything the next steps depend on, as arrays of the parameters' shapes and dtypes
        # (or scalars): a checkpoint saves them, and a resumed run continues bit for bit.
        return {f"squares.{i}": squares for i, squares in enumerate(self.squares)}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.squares = [state[f"squares.{i}"].copy() for i in range(len(state))]
''',
    test='''\
def test_adagrads_first_step_is_lr_times_the_gradients_sign(mlpspec_registry):
    from mlpspec import Parameter

    adagrad = create(mlpspec_registry, "optimizer", {"type": "$plugin.adagrad", "lr": 0.1})
    p = Parameter(np.array([1.0, 1.0]))
    p.grad[...] = [0.5, -2.0]
    adagrad.step([p], lr=0.1)
    np.testing.assert_allclose(p.value, [0.9, 1.1])
''',
)

SCHEDULER = Example(
    kind="scheduler",
    names=("Warmup", "WarmupParams"),
    register='register("$plugin.warmup", Warmup, WarmupParams)',
    component="warmup",
    code='''\
"""$plugin.warmup: a linear warm-up to the optimizer's lr, then constant."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from mlpspec import Params, Schedule


class WarmupParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{}, {"warmup_epochs": 3.5}]})

    warmup_epochs: float = Field(1.0, ge=0, allow_inf_nan=False)
    """Epochs over which the lr climbs, step by step, to the optimizer's lr."""


class Warmup:
    """A linear warm-up over the first epochs, step by step, to the optimizer's lr; constant
    after."""

    def __init__(self, params: WarmupParams, schedule: Schedule) -> None:
        if params.warmup_epochs >= schedule.epochs:
            # Raised when the run is built (mlpspec validate does not build it), and reported
            # as a problem of the spec at the scheduler.
            raise ValueError(
                f"warmup_epochs ({params.warmup_epochs}) must be less than the run's epochs "
                f"({schedule.epochs})"
            )
        self.base_lr = schedule.base_lr
        self.warmup_steps = params.warmup_epochs * schedule.steps_per_epoch

    def lr(self, epoch: int, step: int) -> float:
        # A positive, finite Python float for every step; the same answer when asked twice.
        if step >= self.warmup_steps:
            return self.base_lr
        return self.base_lr * (step + 1) / (self.warmup_steps + 1)
''',
    test='''\
def test_warmup_reaches_the_base_lr_and_stays(mlpspec_registry):
    from mlpspec import Schedule

    schedule = Schedule(base_lr=0.1, epochs=5, steps_per_epoch=10)
    ref = {"type": "$plugin.warmup", "warmup_epochs": 1.0}
    warmup = create(mlpspec_registry, "scheduler", ref, schedule)
    assert 0 < warmup.lr(0, 0) < warmup.lr(0, 5) < 0.1
    assert warmup.lr(1, 10) == warmup.lr(4, 49) == 0.1
''',
)

DATASET = Example(
    kind="dataset",
    names=("BlobsParams", "blobs"),
    register='register("$plugin.blobs", blobs, BlobsParams)',
    component="blobs",
    code='''\
"""$plugin.blobs: Gaussian blobs, one per class, drawn from a seed of their own."""

from __future__ import annotations

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from mlpspec import Params
from mlpspec.data import DataContext, Dataset


class BlobsParams(Params):
    model_config = ConfigDict(json_schema_extra={"examples": [{}, {"classes": 4, "dims": 3}]})

    classes: int = Field(3, ge=2, le=100)
    dims: int = Field(2, ge=1, le=10_000)
    """Features per example."""
    points: int = Field(200, ge=5)
    """Training points per class; the test set has a fifth as many."""
    spread: float = Field(0.6, gt=0, allow_inf_nan=False)
    """Standard deviation of each blob around its centre."""
    seed: int = Field(0, ge=0)
    """The data's own seed: the same params draw the same data, whatever the model's seed."""

    @model_validator(mode="after")
    def _not_too_large(self) -> BlobsParams:
        # A check across params belongs here: mlpspec validate reports it at its place.
        if self.classes * self.points * self.dims > 50_000_000:
            raise ValueError("classes × points × dims must be at most 50,000,000")
        return self


def blobs(params: BlobsParams, ctx: DataContext) -> Dataset:
    """Gaussian blobs, one per class: needs no files."""
    rng = np.random.default_rng(params.seed)
    centres = rng.normal(scale=3.0, size=(params.classes, params.dims))

    def draw(per_class: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.repeat(np.arange(params.classes), per_class)
        x = centres[labels] + rng.normal(scale=params.spread, size=(len(labels), params.dims))
        order = rng.permutation(len(labels))  # mixed, so a held-out tail has every class
        return x[order], labels[order]

    x_train, y_train = draw(params.points)
    x_test, y_test = draw(params.points // 5)
    return Dataset(
        x_train,  # one example per row; any float dtype (prepared into the model's dtype)
        y_train,  # integer labels from 0 to classes − 1
        x_test,
        y_test,
        classes=[f"blob {k}" for k in range(params.classes)],
        value_range=None,  # the raw values' range, for preprocess = "scale": None = the data's
        image_shape=None,  # (rows, columns) for images: misclassified.png and predict use it
    )
''',
    test='''\
def test_blobs_are_reproducible_and_labelled_from_zero(mlpspec_registry):
    from mlpspec.data import DataContext

    ref = {"type": "$plugin.blobs", "classes": 4, "points": 10}
    first = create(mlpspec_registry, "dataset", ref, DataContext())
    again = create(mlpspec_registry, "dataset", ref, DataContext())
    np.testing.assert_array_equal(first.x_train, again.x_train)
    assert first.x_train.shape == (40, 2) and sorted(set(first.y_train)) == [0, 1, 2, 3]
''',
)

METRIC = Example(
    kind="metric",
    names=("Brier",),
    register='register("$plugin.brier", Brier)',
    component="brier",
    code='''\
"""$plugin.brier: the Brier score, mean squared distance to the one-hot label."""

from __future__ import annotations

import numpy as np

from mlpspec import Params


class Brier:
    """Mean Σ(p − onehot(label))² over the rows (Brier 1950): lower is better."""

    greater_is_better = False

    def __init__(self, params: Params) -> None:
        self.reset()

    def reset(self) -> None:
        self.total, self.rows = 0.0, 0

    def update(self, probabilities: np.ndarray, labels: np.ndarray) -> None:
        # Called once per chunk of an evaluation: keep sums, not per-chunk means, so that the
        # result does not depend on the chunking; sum in float64 whatever the model's dtype.
        distance = probabilities.astype(np.float64)
        distance[np.arange(len(labels)), labels] -= 1.0
        self.total += float(np.sum(distance * distance))
        self.rows += len(labels)

    def result(self) -> float:
        return self.total / self.rows if self.rows else 0.0
''',
    test='''\
def test_brier_is_zero_for_certain_right_answers(mlpspec_registry):
    brier = create(mlpspec_registry, "metric", "$plugin.brier")
    brier.reset()
    brier.update(np.eye(3), np.arange(3))
    assert brier.result() == 0.0
''',
)

EXAMPLES: dict[str, Example] = {
    e.kind: e for e in (LAYER, ACTIVATION, INITIALIZER, LOSS, OPTIMIZER, SCHEDULER, DATASET, METRIC)
}
"""Every kind ``mlpspec new plugin`` can write an example of, in the order specs name them."""

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "$summary"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["mlpspec>=$mlpspec_version", "numpy", "pydantic>=2.6"]

[project.optional-dependencies]
test = ["pytest>=8"]

# mlpspec finds the plugin through this entry point; its name ($plugin) is the plugin's name,
# the one mlpspec list --plugins shows and -p no:$plugin blocks.
[project.entry-points."mlpspec.plugins"]
$plugin = "$package.plugin"

[tool.setuptools.packages.find]
include = ["$package*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
# The package whose components the mlpspec_check fixture checks (mlpspec's pytest plugin).
mlpspec_package = "$dist"
"""

INIT = '''\
"""mlpspec components, one module per kind; plugin.py registers them."""
'''

PLUGIN_HEADER = '''\
"""The mlpspec plugin of $dist: one hook per kind of component it adds.

mlpspec finds this module through the entry point in pyproject.toml. Every function here
whose name starts with mlpspec_ is taken as a hook (a misspelt one is reported, not ignored),
so give helpers other names.
"""

from __future__ import annotations

from mlpspec import HOOK_API_VERSION, hookimpl

'''

PLUGIN_API = """
MLPSPEC_HOOK_API = HOOK_API_VERSION  # an mlpspec with another hook API refuses it, clearly
"""

CONFORMANCE_TEST = '''\
"""Every component of $dist against mlpspec's conformance kit: one test per component and
check, parametrized by mlpspec's pytest plugin (the package is mlpspec_package in
pyproject.toml). A failure names what broke and how to see it."""


def test_conformance(mlpspec_check):
    mlpspec_check()
'''

COMPONENT_TESTS = '''\
"""What the components compute (the conformance kit tests their contract), and the example
spec, trained."""

from pathlib import Path

import numpy as np

import mlpspec
from mlpspec.testing import build_layer, create

EXAMPLE = Path(__file__).resolve().parents[1] / "example.toml"


def test_the_example_spec_trains(mlpspec_registry):
    spec = mlpspec.load_spec(EXAMPLE, mlpspec_registry)
    result = mlpspec.run(spec, mlpspec_registry, out_dir=None)
    assert result.test_accuracy > 0.7  # chance is a third
'''

README = """\
# $dist

$summary

Components (names as specs write them):

$components

## Install and check

In the environment mlpspec runs from:

```sh
python -m pip install -e ".[test]"
mlpspec list --plugins                 # $plugin ... $dist 0.1.0
mlpspec check --package $dist          # the conformance kit, as a table
python -m pytest                       # the kit, one test per component and check, and more
mlpspec run example.toml --no-save     # trains a network that uses them
```

Run these from this folder (a folder holding a clone of mlpspec named `mlpspec/` would
shadow the installed package for `python -m pytest`).

## Develop

Each component lives in its own module of `$package/`; `plugin.py` registers them. The
contract of every kind, and what the conformance kit checks, are in mlpspec's plugin guide
(`docs/plugins.md`). After changing a params model, regenerate your editor's schema:
`mlpspec schema > mlpspec.schema.json`.

When a component's meaning changes, register it under a new name (`$plugin.swish.v2`) and
keep the old one, so that saved runs and old specs keep meaning what they meant.

## Publish

`python -m build`, then `twine upload dist/*`.
"""
