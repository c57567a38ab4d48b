"""mlpspec.sklearn: SpecClassifier under scikit-learn's own estimator checks, in pipelines,
cross-validation and grid search, pickled, with string labels; what it makes of a spec."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import mlpspec.sklearn as mlpspec_sklearn
from mlpspec import SpecError, load_registry
from mlpspec.core.hooks import HookWarning
from mlpspec.core.spec import parse_toml
from mlpspec.data.prepare import held_out
from mlpspec.sklearn import SpecClassifier, _dataset, resolve_spec
from tests.conftest import write_spec

SPEC = """
[model]
name = "sklearn-test"
seed = 1

[data]
dataset = "spirals"        # required by the spec format; fit uses its arrays instead

[[layers]]
type = "dense"
units = 32
activation = "tanh"

[[layers]]
type = "dense"
units = 2                  # set to the number of classes in y by fit

[loss]
type = "softmax_cross_entropy"

[optimizer]
type = "sgd_momentum"
lr = 0.1

[train]
epochs = 20
batch_size = 16
"""


@pytest.fixture
def array_api_enabled(monkeypatch):
    """scikit-learn runs its array-API check only with SCIPY_ARRAY_API set (it skips it
    otherwise); numpy is the namespace it then checks, which needs nothing installed."""
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")


@pytest.mark.usefixtures("array_api_enabled")
@parametrize_with_checks([SpecClassifier(SPEC)])
def test_scikit_learn_estimator_checks(estimator, check):
    """Every check of ``check_estimator``, none expected to fail."""
    check(estimator)


def blobs(classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_blobs(n_samples=240, centers=classes, random_state=seed)
    return StandardScaler().fit_transform(x), y


def test_a_pipeline_cross_validates_on_digits_to_at_least_90_percent():
    x, y = load_digits(return_X_y=True)
    pipeline = make_pipeline(StandardScaler(), SpecClassifier(SPEC))
    scores = cross_val_score(pipeline, x, y, cv=5)
    assert scores.mean() >= 0.9, scores


def test_grid_search_picks_the_learning_rate_from_overrides():
    """The overrides reach training: a rate 1000 times too small learns nothing in 20
    epochs, and the search sees it."""
    x, y = load_digits(return_X_y=True)
    grid = {"overrides": [{"optimizer.lr": 1e-4}, {"optimizer.lr": 0.1}]}
    search = GridSearchCV(SpecClassifier(SPEC), grid, cv=3).fit(x / 16, y)
    slow, fast = search.cv_results_["mean_test_score"]
    assert fast > 0.9 > 0.6 > slow
    assert search.best_params_ == {"overrides": {"optimizer.lr": 0.1}}
    assert search.best_estimator_.spec_.optimizer.params.lr == 0.1


def test_a_fitted_classifier_pickles_as_its_spec_and_weights_and_predicts_the_same():
    x, y = blobs()
    fitted = SpecClassifier(SPEC).fit(x, y)
    data = pickle.dumps(fitted)
    assert b"mlpspec.builtins" not in data  # no live plugin objects: rebuilt when loaded
    loaded = pickle.loads(data)
    assert np.array_equal(loaded.predict_proba(x), fitted.predict_proba(x))
    assert np.array_equal(loaded.classes_, fitted.classes_)
    assert loaded.spec_.to_dict() == fitted.spec_.to_dict() and loaded.n_features_in_ == 2
    assert pickle.loads(pickle.dumps(SpecClassifier(SPEC))).get_params()["spec"] == SPEC


def test_string_labels_are_learned_and_predicted_as_strings():
    x, numbers = blobs()
    names = np.array(["cat", "dog", "emu"])[numbers]
    classifier = SpecClassifier(SPEC).fit(x, names)
    assert classifier.classes_.tolist() == ["cat", "dog", "emu"]
    predicted = classifier.predict(x)
    assert predicted.dtype == names.dtype and set(predicted) <= {"cat", "dog", "emu"}
    assert classifier.score(x, names) > 0.9
    assert classifier.predict_proba(x).shape == (240, 3)


def test_the_last_layer_is_sized_to_the_classes_in_y():
    x, y = blobs(classes=5)
    classifier = SpecClassifier(SPEC).fit(x, y)
    assert classifier.spec_.layers[-1].params.units == 5
    assert classifier.predict_proba(x).shape == (240, 5)
    assert SpecClassifier(SPEC).fit(*blobs(classes=2)).spec_.layers[-1].params.units == 2


def test_a_last_layer_without_units_is_refused_clearly(registry):
    text = SPEC + '\n[[layers]]\ntype = "activation"\nactivation = "relu"\n'
    with pytest.raises(SpecError) as caught:
        SpecClassifier(text).fit(*blobs())
    (problem,) = caught.value.problems
    assert problem.location == "layers[2]"
    assert "has no 'units' param" in problem.message and "3 classes" in problem.message


def test_a_spec_is_a_path_toml_text_or_a_dict_and_overrides_apply(tmp_path):
    x, y = blobs()
    path = write_spec(tmp_path, SPEC)
    overrides = {"layers[0].units": 7, "train.epochs": 3}
    fitted = [
        SpecClassifier(spec, dict(overrides)).fit(x, y)
        for spec in (str(path), path, SPEC, parse_toml(SPEC))
    ]
    for classifier in fitted:
        assert classifier.spec_.layers[0].params.units == 7
        assert classifier.n_iter_ == 3 and len(classifier.history_) == 3
        assert np.array_equal(classifier.predict_proba(x), fitted[0].predict_proba(x))


def test_a_spec_that_extends_a_base_is_composed_as_mlpspec_run_composes_it(
    tmp_path, registry, monkeypatch
):
    """The estimator reads a spec as ``mlpspec run`` does: ``extends`` is resolved (relative
    to the spec file, or to the working directory for TOML text and dicts), and an error in a
    base names the base."""
    write_spec(tmp_path, SPEC, "base.toml")
    text = 'extends = "base.toml"\n[optimizer]\nlr = 0.05\n'
    child = write_spec(tmp_path, text, "child.toml")
    monkeypatch.chdir(tmp_path)
    for spec in (child, text, parse_toml(text)):
        resolved = resolve_spec(spec, {"layers[0].units": 5}, registry, outputs=3)
        assert resolved.optimizer.params.lr == 0.05
        assert resolved.layers[0].params.units == 5 and resolved.layers[1].params.units == 3
    write_spec(tmp_path, SPEC.replace("lr = 0.1", "lr = -0.1"), "base.toml")
    write_spec(tmp_path, 'extends = "base.toml"\n', "child.toml")
    with pytest.raises(SpecError) as caught:
        resolve_spec(child, None, registry, outputs=3)
    (problem,) = caught.value.problems
    assert problem.location == "optimizer.lr" and problem.origin == str(tmp_path / "base.toml")


def test_fit_changes_neither_the_spec_dict_nor_the_overrides():
    spec, overrides = parse_toml(SPEC), {"optimizer.lr": 0.05}
    before = (pickle.dumps(spec), pickle.dumps(overrides))
    SpecClassifier(spec, overrides).fit(*blobs())
    assert (pickle.dumps(spec), pickle.dumps(overrides)) == before


def test_bad_overrides_and_specs_are_located_errors(tmp_path):
    with pytest.raises(SpecError, match=r"layers\[5\].units: layers has 2 entries"):
        SpecClassifier(SPEC, {"layers[5].units": 3}).fit(*blobs())
    with pytest.raises(SpecError, match=r"optimizer.lr: input should be greater than 0"):
        SpecClassifier(SPEC, {"optimizer.lr": -1.0}).fit(*blobs())
    with pytest.raises(SpecError, match="no such file"):
        SpecClassifier(str(tmp_path / "absent.toml")).fit(*blobs())
    with pytest.raises(TypeError, match="overrides must be a dict"):
        SpecClassifier(SPEC, [("optimizer.lr", 0.1)]).fit(*blobs())


def test_one_class_is_refused_with_the_reason():
    x, _ = blobs()
    with pytest.raises(ValueError, match="only one class"):
        SpecClassifier(SPEC).fit(x, np.full(len(x), "same"))


def test_held_out_rows_are_a_seeded_random_sample_and_each_part_keeps_its_order(registry):
    """Arrays sorted by class: the last rows would all be of one class."""
    spec = resolve_spec(SPEC, {"data.validation": 0.25}, registry, outputs=3)
    labels = np.repeat(np.arange(3), 40)
    x = np.arange(120.0).reshape(-1, 1)
    dataset = _dataset(spec, x, labels, np.arange(3))
    held = held_out(0.25, 120)
    validation, train = dataset.x_train[-held:, 0], dataset.x_train[:-held, 0]
    assert len(set(dataset.y_train[-held:])) == 3
    assert np.all(np.diff(validation) > 0) and np.all(np.diff(train) > 0)
    assert sorted(np.concatenate([train, validation])) == list(range(120))
    again = _dataset(spec, x, labels, np.arange(3))
    assert np.array_equal(again.x_train, dataset.x_train)
    reseeded = resolve_spec(SPEC, {"data.validation": 0.25, "model.seed": 2}, registry, outputs=3)
    assert not np.array_equal(_dataset(reseeded, x, labels, np.arange(3)).x_train, dataset.x_train)


def test_early_stopping_validates_on_held_out_rows():
    x, y = blobs()
    order = np.argsort(y, kind="stable")
    overrides = {"train.early_stopping": True, "train.epochs": 30}
    classifier = SpecClassifier(SPEC, overrides).fit(x[order], y[order])
    assert classifier.record_.examples.validation == held_out(0.1, 240) == 24
    # a validation set of one class only would make accuracy there meaningless; here it is
    # a sample of all three, on which the network does as well as on the training rows
    assert classifier.record_.best_val["accuracy"] > 0.9


def test_the_spec_preprocessing_uses_training_statistics_for_new_rows():
    x, y = blobs()
    raw = x * 50 + 200
    classifier = SpecClassifier(SPEC, {"data.preprocess": "standardize"}).fit(raw, y)
    stats = classifier.preprocessing_
    assert stats["name"] == "standardize"
    assert stats["mean"] == pytest.approx(raw.mean()) and stats["std"] == pytest.approx(raw.std())
    scaled = ((raw - stats["mean"]) / stats["std"]).astype(np.float32)
    assert np.allclose(classifier.predict_proba(raw), classifier.model_.predict_proba(scaled))
    assert classifier.score(raw, y) > 0.9


def test_a_clone_is_unfitted_with_equal_params():
    fitted = SpecClassifier(SPEC, {"optimizer.lr": 0.05}).fit(*blobs())
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params() and not hasattr(copy, "model_")


def test_a_run_hook_that_raises_is_a_warning_not_a_failed_fit(tmp_path, monkeypatch):
    (tmp_path / "noisy_hook.py").write_text(
        textwrap.dedent(
            """
            from mlpspec import hookimpl

            @hookimpl
            def mlpspec_run_start(run):
                raise RuntimeError("tracker offline")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_registry(["noisy_hook"])
    monkeypatch.setattr(mlpspec_sklearn, "installed_registry", lambda: registry)
    with pytest.warns(HookWarning, match="tracker offline"):
        classifier = SpecClassifier(SPEC).fit(*blobs())
    assert classifier.score(*blobs()) > 0.9


@pytest.mark.slow
def test_ctrl_c_stops_a_whole_grid_search_not_just_one_fit():
    """Before: mlpspec's Interrupted is an Exception, which the search caught as a failed fit
    before going on with the next candidates."""
    script = textwrap.dedent(
        f"""
        import os, signal, threading, warnings
        import numpy as np
        from sklearn.model_selection import GridSearchCV
        from mlpspec.sklearn import SpecClassifier

        x = np.random.default_rng(0).normal(size=(400, 4))
        y = (x[:, 0] > 0).astype(int)
        long = [{{"train.epochs": 1500, "optimizer.lr": lr}} for lr in (0.01, 0.1)]
        grid = {{"overrides": long}}
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        warnings.simplefilter("error")  # a fit failure the search swallowed would warn
        try:
            GridSearchCV(SpecClassifier({SPEC!r}), grid, cv=2).fit(x, y)
        except KeyboardInterrupt as stop:
            print("stopped:", stop)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("stopped: SIGINT"), result.stdout + result.stderr
