"""End to end on real MNIST from ../shared/data: a slice for accuracy, the full set once."""

from __future__ import annotations

from mlpspec.cli.main import main

from .conftest import SPECS, write_spec

SLICE_SPEC = """
[model]
name = "mnist-slice"
seed = 1

[data]
dataset = {{ type = "idx", path = "{path}" }}
preprocess = "scale"
validation = 1000

[[layers]]
type = "dense"
units = 64
activation = "relu"
init = "he"

[[layers]]
type = "dense"
units = 10

[loss]
type = "softmax_cross_entropy"

[optimizer]
type = "sgd_momentum"
lr = 0.05
momentum = 0.9

[train]
epochs = 4
batch_size = 32
"""


def test_a_small_net_learns_a_slice_of_mnist(mnist_slice, tmp_path, capsys):
    spec = write_spec(tmp_path, SLICE_SPEC.format(path=mnist_slice))
    assert main(["run", str(spec), "--no-save"]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("test accuracy ")[1].split("%")[0])
    assert accuracy > 88.0, out


def test_dropout_spec_starts_on_the_full_mnist_from_the_data_dir(mnist_dir, monkeypatch, capsys):
    monkeypatch.setenv("MLPSPEC_DATA_DIR", str(mnist_dir))
    args = ["run", str(SPECS / "dropout.toml"), "--no-save", "--set", "train.epochs=1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "training 1 epoch of 900 steps (batch 60)" in out  # 54,000 rows: 10 % held out
    assert float(out.split("test accuracy ")[1].split("%")[0]) > 85.0
