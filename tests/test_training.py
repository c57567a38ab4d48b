"""The training loop: determinism, plans, sampling, early stopping, numerical faults."""

from __future__ import annotations

import numpy as np
import pytest

from mlpspec import TrainingError, load_data, run, validate_spec
from mlpspec.core.spec import parse_toml
from mlpspec.engine.training import Plan

from .conftest import SPIRALS_SPEC


def spec_of(registry, text=SPIRALS_SPEC):
    return validate_spec(parse_toml(text), registry)


def test_same_spec_and_seed_give_identical_results(registry):
    a = run(spec_of(registry), registry, out_dir=None)
    b = run(spec_of(registry), registry, out_dir=None)
    assert [e.train_loss for e in a.history.evaluations] == [
        e.train_loss for e in b.history.evaluations
    ]
    for name, array in a.model.state().items():
        assert np.array_equal(array, b.model.state()[name]), name
    c = run(
        validate_spec(parse_toml(SPIRALS_SPEC.replace("seed = 3", "seed = 4")), registry),
        registry,
        out_dir=None,
    )
    assert not np.array_equal(
        a.model.state()["layers.0.weight"], c.model.state()["layers.0.weight"]
    )


def test_training_learns_spirals(registry):
    deeper = (
        '[[layers]]\ntype = "dense"\nunits = 32\nactivation = "relu"\ninit = "he"\n\n'
        '[[layers]]\ntype = "dense"\nunits = 2'
    )
    text = SPIRALS_SPEC.replace("epochs = 5", "epochs = 100").replace(
        '[[layers]]\ntype = "dense"\nunits = 2', deeper
    )
    result = run(validate_spec(parse_toml(text), registry), registry, out_dir=None)
    assert result.test_accuracy > 0.9
    assert result.history.evaluations[-1].train_loss < result.history.evaluations[0].train_loss


@pytest.mark.parametrize(
    ("train", "examples", "expected"),
    [
        ({"epochs": 3, "batch_size": 10}, 95, Plan(10, 10, 30, 3)),
        ({"epochs": 2, "batch_size": "full"}, 95, Plan(95, 1, 2, 2)),
        ({"epochs": 2, "batch_size": 500}, 95, Plan(95, 1, 2, 2)),
        (
            {"iterations": 10000, "batch_size": 100, "sampling": "replacement"},
            60000,
            Plan(100, 600, 10000, 17),
        ),
        ({"iterations": 25, "batch_size": 10}, 95, Plan(10, 10, 25, 3)),
    ],
)
def test_plan(train, examples, expected):
    plan = Plan.of(
        train["batch_size"],
        train.get("sampling", "shuffle"),
        examples,
        epochs=train.get("epochs"),
        iterations=train.get("iterations"),
    )
    assert plan == expected


def test_iterations_stop_mid_epoch_and_evaluate_at_the_end(registry):
    text = SPIRALS_SPEC.replace("epochs = 5", "iterations = 23\neval_every = 2")
    result = run(validate_spec(parse_toml(text), registry), registry, out_dir=None)
    assert result.history.steps == 23 and result.history.epochs_run == 3  # 160 rows / 16 = 10 steps
    assert [e.epoch for e in result.history.evaluations] == [2, 3]


@pytest.mark.parametrize("sampling", ["shuffle", "sequential", "replacement"])
def test_every_sampling_mode_trains(registry, sampling):
    text = SPIRALS_SPEC.replace("batch_size = 16", f'batch_size = 16\nsampling = "{sampling}"')
    result = run(validate_spec(parse_toml(text), registry), registry, out_dir=None)
    assert result.history.steps == 50


def test_early_stopping_restores_the_best_weights(registry):
    # a learning rate so high the validation loss soon rises
    text = SPIRALS_SPEC.replace(
        "epochs = 5", "epochs = 200\nearly_stopping = true\npatience = 2"
    ).replace("lr = 0.1", "lr = 0.9")
    result = run(validate_spec(parse_toml(text), registry), registry, out_dir=None)
    history = result.history
    assert history.stopped_early and history.epochs_run < 200
    best = min(history.evaluations, key=lambda e: e.val_loss)
    assert history.best_epoch == best.epoch
    assert [e.epoch for e in history.evaluations][-3] == best.epoch  # patience 2: two worse ones
    splits = load_data(result.spec, registry)
    assert result.model.evaluate(splits.x_val, splits.y_val)["loss"] == pytest.approx(
        best.val_loss, rel=1e-6
    )


def test_a_diverging_run_stops_with_the_epoch_and_keeps_good_weights(registry, tmp_path):
    text = SPIRALS_SPEC.replace("lr = 0.1", "lr = 1e35").replace(
        "epochs = 5", "epochs = 5\neval_every = 1"
    )
    text = text.replace('activation = "tanh"', 'activation = "relu"')
    spec = validate_spec(parse_toml(text), registry)
    with pytest.raises(TrainingError) as caught:
        run(spec, registry, out_dir=tmp_path)
    message = str(caught.value)
    assert "epoch 1, step" in message and "learning rate (1e+35)" in message
    (folder,) = tmp_path.iterdir()
    import json

    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "failed" and "learning rate" in summary["error"]
    weights = np.load(folder / "model.npz", allow_pickle=False)
    assert all(np.all(np.isfinite(weights[k])) for k in weights.files)


def test_float64_models_train_in_float64(registry):
    text = SPIRALS_SPEC.replace("seed = 3", 'seed = 3\ndtype = "float64"')
    result = run(validate_spec(parse_toml(text), registry), registry, out_dir=None)
    assert all(a.dtype == np.float64 for a in result.model.state().values())
    default = run(validate_spec(parse_toml(SPIRALS_SPEC), registry), registry, out_dir=None)
    assert all(a.dtype == np.float32 for a in default.model.state().values())


def test_an_injected_nan_stops_at_its_epoch_and_step_and_saves_the_last_good_weights(
    registry, tmp_path, monkeypatch
):
    """A NaN gradient at step 25 (epoch 3): the saved weights are those after epoch 2."""
    import json

    import mlpspec.builtins.optimizers as optimizers

    two = run(
        spec_of(registry, SPIRALS_SPEC.replace("epochs = 5", "epochs = 2")), registry, out_dir=None
    )
    original, steps = optimizers.SGDMomentum.step, []

    def poisoned(self, parameters, lr):
        steps.append(1)
        if len(steps) == 24:  # the update after step 24 breaks the weights of step 25
            parameters[0].grad[0, 0] = np.nan
        original(self, parameters, lr)

    monkeypatch.setattr(optimizers.SGDMomentum, "step", poisoned)
    with pytest.raises(TrainingError) as caught:
        run(spec_of(registry), registry, out_dir=tmp_path)
    message = str(caught.value)
    assert "the loss became nan at epoch 3, step 25" in message
    assert "learning rate (0.1)" in message and "initial weights" in message
    (folder,) = tmp_path.iterdir()
    assert json.loads((folder / "summary.json").read_text())["status"] == "failed"
    with np.load(folder / "model.npz", allow_pickle=False) as saved:
        for name, array in two.model.state().items():
            assert np.array_equal(saved[name], array), name


def test_weights_that_became_infinite_stop_the_run_even_if_the_loss_looks_finite(
    registry, monkeypatch, tmp_path
):
    """The weights are checked at each evaluation too (a loss can hide them, e.g. 0·inf in a
    plugin that masks units): the run stops, and the last good evaluation's weights are saved."""
    import mlpspec.engine.training as training

    two = run(
        spec_of(registry, SPIRALS_SPEC.replace("epochs = 5", "epochs = 2")), registry, out_dir=None
    )
    original = training.Trainer.evaluate

    def evaluate(self, epoch, *args):
        result = original(self, epoch, *args)
        if epoch == 3:
            self.model.parameters[0].value[0, 0] = np.inf
        return result

    monkeypatch.setattr(training.Trainer, "evaluate", evaluate)
    with pytest.raises(TrainingError, match=r"the weights became NaN or infinite at epoch 3"):
        run(spec_of(registry), registry, out_dir=tmp_path)
    (folder,) = tmp_path.iterdir()
    with np.load(folder / "model.npz", allow_pickle=False) as saved:
        for name, array in two.model.state().items():
            assert np.array_equal(saved[name], array), name
