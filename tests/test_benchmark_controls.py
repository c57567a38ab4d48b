"""The reproduction benchmark's rows and the control plugin behind its document-setup rows."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mlpspec import load_registry, load_spec
from mlpspec.data.dataset import DataContext
from mlpspec.engine.model import one_hot
from mlpspec.testing import create

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import reproduce

sys.path.insert(0, str(reproduce.CONTROLS_DIR))


@pytest.fixture(scope="module")
def control_registry():
    return load_registry(modules=reproduce.CONTROL_PLUGINS)


def test_every_row_loads_its_spec_with_its_changes(control_registry):
    rows = reproduce.REFERENCES + reproduce.CONTROLS
    assert len({row.name for row in rows}) == len(rows)
    for row in rows:
        path = ROOT / row.folder / f"{row.spec}.toml"
        spec = load_spec(path, control_registry, dict(row.overrides))
        data = spec.to_dict()
        for dotted, value in row.overrides.items():
            assert _get(data, dotted) in (value, {"type": value}), (row.name, dotted)


def _get(data, dotted: str):
    for part in dotted.replace("[", ".").replace("]", "").split("."):
        data = data[int(part)] if part.isdigit() else data[part]
    return data


def test_lincoln_loss_reports_lincolns_value_with_the_standard_gradient(control_registry):
    output = np.random.default_rng(0).standard_normal((4, 3)) * 3
    target = one_hot(np.array([0, 2, 1, 2]), 3, np.float64)
    lincoln = create(control_registry, "loss", "lincoln_softmax_cross_entropy")
    standard = create(control_registry, "loss", "softmax_cross_entropy")
    p = np.exp(output) / np.exp(output).sum(axis=1, keepdims=True)
    expected = np.sum(-target * np.log(p) - (1 - target) * np.log(1 - p)) / len(output)
    value, grad = lincoln.value_and_grad(output.copy(), target)
    assert value == pytest.approx(expected, rel=1e-12)
    assert value > standard.value(output, target)  # the extra −(1−t)·log(1−p) terms
    np.testing.assert_allclose(grad, standard.value_and_grad(output.copy(), target)[1])


def test_lincoln_loss_stays_finite_on_confident_float32_outputs(control_registry):
    lincoln = create(control_registry, "loss", "lincoln_softmax_cross_entropy")
    output = np.array([[40.0, 0.0, 0.0], [0.0, 0.0, 60.0]], dtype=np.float32)
    value = lincoln.value(output, one_hot(np.array([0, 2]), 3, np.float32))
    assert np.isfinite(value) and value < 1e-6


def test_test_set_validation_appends_the_test_set_to_the_training_set(mnist_dir):
    import lincoln_setup

    context = DataContext(data_dirs=[mnist_dir], download=False)
    data = lincoln_setup.mnist_test_validation(lincoln_setup.DownloadParams(), context)
    assert data.x_train.shape == (70_000, 28, 28) and data.x_test.shape == (10_000, 28, 28)
    np.testing.assert_array_equal(data.x_train[60_000:], data.x_test)
    np.testing.assert_array_equal(data.y_train[60_000:], data.y_test)


def finished_run(seed: int, accuracy: float) -> dict:
    return {
        "spec": "dropout",
        "seed": seed,
        "test_accuracy": accuracy,
        "train_loss": 0.1,
        "train_accuracy": 99.0,
        "val_accuracy": 97.0,
        "epochs_run": 100,
        "stopped_early": False,
        "wall_seconds": 100.0,
        "seconds_per_epoch": 1.0,
    }


def test_a_failed_seed_leaves_the_others_in_the_row_and_is_named():
    dropout = next(r for r in reproduce.REFERENCES if r.spec == "dropout")
    failure = {"spec": "dropout", "seed": 1, "error": "the loss became nan", "wall_seconds": 3}
    row = reproduce.summarize(dropout, [finished_run(0, 97.0), failure, finished_run(2, 96.0)])
    assert (row["runs"], row["failed"], row["test_accuracy"]) == (2, 1, 96.5)
    assert "96.50 % ± 0.71 (n=2); 1 more seed(s) failed: the loss became nan" in (
        reproduce.table([row])
    )


def test_a_row_whose_every_seed_failed_says_so(monkeypatch, control_registry, tmp_path):
    def diverge(*args, **kwargs):
        raise reproduce.mlpspec.TrainingError("the loss became inf at epoch 1, step 2")

    monkeypatch.setattr(reproduce.mlpspec, "run", diverge)
    dropout = next(r for r in reproduce.REFERENCES if r.spec == "dropout")
    runs = [reproduce.run_one(dropout, control_registry, tmp_path, seed) for seed in (0, 1)]
    assert all(run["error"].startswith("the loss became inf") for run in runs)
    line = reproduce.table([reproduce.summarize(dropout, runs)])
    assert "run failed: the loss became inf" in line and line.endswith("| FAILED |")
