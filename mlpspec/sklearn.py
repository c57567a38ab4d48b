"""scikit-learn estimators from mlpspec specs: ``SpecClassifier`` (the ``sklearn`` extra).

A spec becomes a classifier that pipelines, cross-validation and grid search can use::

    from sklearn.model_selection import GridSearchCV
    from mlpspec.sklearn import SpecClassifier

    search = GridSearchCV(
        SpecClassifier("specs/quickstart.toml"),
        {"overrides": [{"optimizer.lr": 0.01}, {"optimizer.lr": 0.1}]},
    )
    search.fit(X, y)

``fit(X, y)`` trains through :func:`mlpspec.run` exactly as ``mlpspec run`` would, with
nothing saved, and with the arrays in place of the spec's ``[data] dataset`` (which the spec
format still requires, and which is not read). What the rest of the spec means for arrays in
memory:

- ``data.preprocess`` applies, with statistics from the training rows only (``standardize``
  is one mean and one standard deviation over all values, as for a dataset; for per-feature
  scaling put a ``StandardScaler`` before the classifier and use ``"none"``), and ``predict``
  scales new rows with the same statistics.
- ``data.validation`` holds rows out of ``X`` for validation (early stopping), as for a
  dataset, but picked at random (seeded by ``model.seed``) rather than the last ones: arrays
  in memory are often sorted by class. The held-out rows keep their order and so do the rest.
- The last ``[[layers]]`` entry's ``units`` is set to the number of classes found in ``y``,
  whatever the spec says, so one spec serves any labels; a last layer without a ``units``
  param (an ``activation`` layer, say) is refused at ``fit``, since its width cannot be set.
- ``model.seed`` seeds everything (weights, batches, the held-out rows): the same spec and
  data give the same classifier, so the estimator has no ``random_state`` of its own; search
  seeds with ``overrides={"model.seed": 3}``.

Labels may be any values ``numpy.unique`` can sort (strings included); ``classes_`` holds
them in the order of ``predict_proba``'s columns, which are the loss's probabilities (the
softmax for ``softmax_cross_entropy``). ``fit`` takes no ``sample_weight``: mlpspec's training
loop has no per-example weights. A fitted classifier pickles as its resolved spec and its
weights, and is rebuilt from the installed plugins when unpickled. Ctrl-C (or SIGTERM) during
``fit`` ends the current epoch and raises ``KeyboardInterrupt``, which stops a grid search
too. A plugin's run hook that raises is a warning (``HookWarning``), as in any run, and never
costs the fit.

There is no ``SpecRegressor``: a regressor would need real-valued targets, and every part of
mlpspec that reads targets is built on class indices (``Dataset`` labels are class indices
cast to integers, the trainer one-hot encodes them, metrics receive class labels,
``Model.predict`` is an argmax). Regression is a change to that contract, not an adapter.
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from mlpspec.core.compose import Composed
from mlpspec.core.errors import Interrupted, Problem, SpecError
from mlpspec.core.plugins import load_registry
from mlpspec.core.registry import Registry
from mlpspec.core.spec import (
    Spec,
    compose_in_memory,
    override,
    parse_toml,
    read_composed,
    validate_composed,
    validate_spec,
)
from mlpspec.data import Dataset, preprocess_rows
from mlpspec.data.prepare import held_out
from mlpspec.run.builder import HOLDOUT_STREAM, build_model, rng_for
from mlpspec.run.runner import run

FLOAT_DTYPES = (np.float64, np.float32)
"""What ``X`` becomes before preprocessing: floats stay as they are, anything else float64."""

SpecLike = str | Path | Mapping[str, Any]


@functools.cache
def installed_registry() -> Registry:
    """The installed plugins' components, loaded once per process (every fit and unpickle
    reads them; loading entry points each time would cost more than a small fit)."""
    return load_registry()


class SpecClassifier(ClassifierMixin, BaseEstimator):
    """A classifier that trains the network a spec describes.

    Parameters
    ----------
    spec : str, Path or dict
        A spec file's path, a spec's TOML text (a string with a newline or an ``=`` in it),
        or a spec as parsed TOML (a dict).
    overrides : dict or None
        Dotted paths to values, as ``mlpspec run --set`` takes them (``{"optimizer.lr":
        0.01, "layers[0].units": 64}``), applied before the spec is validated.

    Attributes
    ----------
    classes_ : ndarray
        The labels found in ``y``, sorted; ``predict_proba``'s columns are in this order.
    n_features_in_, feature_names_in_ :
        Set by scikit-learn's ``validate_data`` (the names for data frames with string
        column names only).
    spec_ : mlpspec.Spec
        The resolved spec that was trained: overrides applied, last layer sized, defaults
        filled in.
    model_ : mlpspec.engine.model.Model
        The trained network.
    record_ : mlpspec.RunRecord
        The run's outcome: ``train``, ``val``, ``best_val`` metrics, ``stop_reason``...
    history_ : list of dict
        One dict per evaluation (``epoch``, ``train_loss``, ``val_accuracy``...).
    preprocessing_ : dict
        The preprocessing and the training-set statistics ``predict`` scales rows with.
    n_iter_ : int
        Epochs trained.
    """

    def __init__(self, spec: SpecLike, overrides: Mapping[str, Any] | None = None) -> None:
        self.spec = spec
        self.overrides = overrides

    def fit(self, X: Any, y: Any) -> SpecClassifier:
        """Train the spec's network on ``X`` and ``y``; any earlier fit is forgotten."""
        X, y = validate_data(self, X, y, dtype=FLOAT_DTYPES)
        check_classification_targets(y)
        classes, labels = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"y has only one class ({classes[0]!r}): a classifier needs at least 2 classes"
            )
        registry = installed_registry()
        spec = resolve_spec(self.spec, self.overrides, registry, outputs=len(classes))
        try:
            result = run(spec, registry, out_dir=None, dataset=_dataset(spec, X, labels, classes))
        except Interrupted as exc:
            # scikit-learn's searches and cross-validation catch Exception from fit and go on
            # with the next fit: a Ctrl-C must stop the whole search, as it does elsewhere.
            raise KeyboardInterrupt(f"{signal.Signals(exc.signum).name}: {exc}") from exc
        self.classes_ = classes
        self.spec_ = result.spec
        self.model_ = result.model
        self.record_ = result.record
        self.history_ = [evaluation.to_dict() for evaluation in result.history.evaluations]
        self.preprocessing_ = dict(result.splits.preprocessing)
        self.n_iter_ = result.record.epochs_run
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Each class's probability for each row of ``X`` (columns in ``classes_`` order)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        return self.model_.predict_proba(preprocess_rows(X, self.preprocessing_, self.model_.dtype))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label for each row of ``X``."""
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]

    def __getstate__(self) -> dict[str, Any]:
        """A fitted classifier pickles as its resolved spec and weights, not as live objects
        of plugins' classes (which need not pickle, and may change between versions)."""
        state = dict(super().__getstate__())  # object's is the live __dict__, not a copy
        if "model_" in state:
            state["spec_"] = self.spec_.to_dict()
            state["model_"] = self.model_.snapshot()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "model_" in state:
            registry = installed_registry()
            spec = validate_spec(state["spec_"], registry, "<pickled SpecClassifier>")
            model = build_model(
                spec, registry, state["n_features_in_"], [str(c) for c in state["classes_"]]
            )
            model.load_state(state["model_"])
            state = {**state, "spec_": spec, "model_": model}
        super().__setstate__(state)


def resolve_spec(
    spec: SpecLike,
    overrides: Mapping[str, Any] | None,
    registry: Registry,
    *,
    outputs: int,
) -> Spec:
    """The spec to train, read as ``mlpspec run`` reads one (``extends`` resolved, ``overrides``
    applied as ``--set`` applies them), its last layer ``outputs`` wide, validated."""
    if overrides is not None and not isinstance(overrides, Mapping):
        raise TypeError(
            f"overrides must be a dict of dotted paths to values, not {type(overrides).__name__}"
        )
    composed = _composed(spec)
    override(composed, overrides or {})
    _size_last_layer(composed.data, outputs, registry, composed.source)
    return validate_composed(composed, registry)


def _composed(spec: SpecLike) -> Composed:
    """The spec's data with what it ``extends``; a spec given as TOML text or a dict names its
    bases relative to the working directory. The estimator's parameter is never changed."""
    if isinstance(spec, Mapping):
        return compose_in_memory(dict(spec), "<spec dict>", Path.cwd())
    if isinstance(spec, str) and ("\n" in spec or "=" in spec):
        return compose_in_memory(parse_toml(spec, "<spec text>"), "<spec text>", Path.cwd())
    if isinstance(spec, str | Path):
        return read_composed(spec)
    raise TypeError(f"spec must be a path, TOML text or a dict, not {type(spec).__name__}")


def _size_last_layer(data: dict[str, Any], outputs: int, registry: Registry, source: str) -> None:
    """Set the last layer's ``units`` to ``outputs``. Data that is not a list of layer tables
    is left for validation to report."""
    layers = data.get("layers")
    if not isinstance(layers, list) or not layers:
        return
    last = len(layers) - 1
    entry = {"type": layers[last]} if isinstance(layers[last], str) else layers[last]
    if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
        return
    if entry["type"] not in registry.names("layer"):
        return
    if "units" not in registry.get("layer", entry["type"]).params.model_fields:
        raise SpecError(
            source,
            [
                Problem(
                    f"layers[{last}]",
                    f"the last layer ({entry['type']!r}) has no 'units' param, so it cannot be "
                    f"sized to the {outputs} classes in y: end the spec with a layer that has "
                    "units (a dense layer)",
                )
            ],
        )
    layers[last] = {**entry, "units": outputs}


def _dataset(spec: Spec, x: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> Dataset:
    """The arrays as a dataset, the rows ``data.validation`` holds out chosen at random and
    put last, where the preparation of a dataset takes them from."""
    held = held_out(spec.data.validation, len(x))
    if 0 < held < len(x):
        chosen = np.zeros(len(x), dtype=bool)
        chosen[rng_for(spec.model.seed, HOLDOUT_STREAM).choice(len(x), held, replace=False)] = True
        order = np.concatenate([np.flatnonzero(~chosen), np.flatnonzero(chosen)])
        x, labels = x[order], labels[order]
    return Dataset(x, labels, None, None, [str(c) for c in classes])
