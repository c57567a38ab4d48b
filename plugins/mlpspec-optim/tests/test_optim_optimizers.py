"""mlpspec-optim's optimizers: steps computed by hand, and the conformance kit."""

from __future__ import annotations

import numpy as np
import pytest

import mlpspec
from mlpspec import Parameter
from mlpspec.testing import assert_conforms, create

REGISTRY = mlpspec.load_registry()


def parameter(value: float, grad: float) -> Parameter:
    p = Parameter(np.array([value]))
    p.grad[...] = grad
    return p


@pytest.mark.parametrize("name", ["adam", "adamw", "rmsprop", "nesterov"])
def test_conforms_to_the_optimizer_contract(name):
    assert_conforms(REGISTRY, "optimizer", name)


def test_adam_first_steps_are_bias_corrected():
    adam = create(REGISTRY, "optimizer", {"type": "adam", "lr": 0.1})
    p = parameter(1.0, 0.5)
    # m = 0.1·0.5, v = 0.001·0.25; corrected m̂ = 0.5, v̂ = 0.25: the step is lr·g/|g| = 0.1
    adam.step([p], lr=0.1)
    np.testing.assert_allclose(p.value, [0.9])
    # m = 0.045 + 0.025 = 0.07, v = 0.00024975 + 0.0000625 = 0.00031225
    # m̂ = 0.07/0.19 = 0.368421, v̂ = 0.00031225/0.001999 = 0.156203, step 0.1·m̂/√v̂
    p.grad[...] = 0.25
    adam.step([p], lr=0.1)
    np.testing.assert_allclose(p.value, [0.8067820405])
    assert int(adam.state()["t"]) == 2


def test_adam_couples_weight_decay_to_the_gradient_adamw_decouples_it():
    coupled = create(REGISTRY, "optimizer", {"type": "adam", "lr": 0.1, "weight_decay": 0.1})
    decoupled = create(REGISTRY, "optimizer", {"type": "adamw", "lr": 0.1, "weight_decay": 0.1})
    p, q = parameter(1.0, 0.5), parameter(1.0, 0.5)
    coupled.step([p], lr=0.1)  # g + λw = 0.6, normalized away by Adam: w = 1 − 0.1
    decoupled.step([q], lr=0.1)  # w·(1 − lr·λ) = 0.99, then the Adam step of 0.1
    np.testing.assert_allclose(p.value, [0.9])
    np.testing.assert_allclose(q.value, [0.89])


def test_adamw_decays_weights_with_no_gradient_by_exactly_lr_times_lambda():
    adamw = create(REGISTRY, "optimizer", {"type": "adamw", "lr": 0.5, "weight_decay": 0.2})
    p = parameter(2.0, 0.0)
    adamw.step([p], lr=0.5)
    np.testing.assert_allclose(p.value, [2.0 * (1 - 0.5 * 0.2)])


def test_rmsprop_step():
    rmsprop = create(REGISTRY, "optimizer", {"type": "rmsprop", "lr": 0.01, "rho": 0.9})
    p = parameter(1.0, 0.5)
    rmsprop.step([p], lr=0.01)  # v = 0.1·0.25 = 0.025; w = 1 − 0.01·0.5/√0.025
    np.testing.assert_allclose(p.value, [0.968377225])


def test_nesterov_steps_from_the_look_ahead_point():
    nesterov = create(REGISTRY, "optimizer", {"type": "nesterov", "lr": 0.1, "momentum": 0.9})
    p = parameter(1.0, 1.0)
    nesterov.step([p], lr=0.1)  # v = 0.1; w = 1 − (0.09 + 0.1)
    np.testing.assert_allclose(p.value, [0.81])
    p.grad[...] = 2.0
    nesterov.step([p], lr=0.05)  # v = 0.09 + 0.1 = 0.19; w = 0.81 − (0.171 + 0.1)
    np.testing.assert_allclose(p.value, [0.539])


def test_state_round_trips_through_a_saved_file(tmp_path):
    adam = create(REGISTRY, "optimizer", {"type": "adam", "lr": 0.1})
    p = parameter(1.0, 0.5)
    adam.step([p], lr=0.1)
    np.savez(tmp_path / "state.npz", **adam.state())
    with np.load(tmp_path / "state.npz", allow_pickle=False) as saved:
        restored = create(REGISTRY, "optimizer", {"type": "adam", "lr": 0.1})
        restored.load_state(dict(saved))
    assert restored.t == 1
    np.testing.assert_array_equal(restored.arrays["m"][0], adam.arrays["m"][0])
