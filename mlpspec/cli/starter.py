"""The commented starter spec ``mlpspec init`` writes: a small MNIST network that trains in
about a minute, with every section explained and the common alternatives named."""

from __future__ import annotations

from pathlib import Path

from mlpspec.core.errors import MlpspecError, UsageError

STARTER = """\
# A starter spec: a one-hidden-layer network for MNIST. Train and test it with
#   mlpspec run {file}
# Check it without training: mlpspec validate {file}; every component: mlpspec list
spec_version = 1

[model]
name = "{name}"
seed = 0                    # same spec + seed = same result, bit for bit, on one machine
# dtype = "float64"         # float32 by default

[data]
dataset = "mnist"           # or "fashion_mnist", or {{ type = "csv", path = "mine.csv" }}
preprocess = "scale"        # none | scale ([0, 1]) | scale_symmetric ([-1, 1]) | standardize
validation = 5000           # held out of the end of the training set (a count or a fraction)

[[layers]]                  # a hidden layer; repeat [[layers]] for more
type = "dense"
units = 128
activation = "relu"         # relu | tanh | sigmoid | linear | softmax
init = "he"                 # he suits relu; glorot suits tanh and sigmoid
# dropout = 0.2             # probability of dropping a unit while training
# l2 = 1e-4                 # weight decay

[[layers]]                  # the output layer: one unit per class
type = "dense"
units = 10                  # no activation: the loss applies the softmax

[loss]
type = "softmax_cross_entropy"

[optimizer]
type = "sgd_momentum"       # or "sgd"
lr = 0.05
momentum = 0.9

[scheduler]                 # optional: remove this section for a constant learning rate
type = "exponential"        # or "linear"
final_lr = 0.005            # the learning rate of the last epoch

[train]
epochs = 10                 # or iterations = 10000
batch_size = 64             # or "full"
sampling = "shuffle"        # shuffle | sequential | replacement
eval_every = 1              # evaluate (and print a line) every this many epochs
early_stopping = true       # stop when the validation loss rises; keep the best weights
patience = 2                # evaluations without improvement before stopping
"""


def starter_path(name: str | None) -> Path:
    """``NAME.toml`` (the suffix added if missing), ``spec.toml`` without a name."""
    path = Path(name or "spec.toml")
    return path if path.suffix == ".toml" else path.with_name(f"{path.name}.toml")


def write_starter(path: Path) -> Path:
    """Write the starter spec at ``path``, never over an existing file."""
    name = path.stem if path.stem != "spec" else "my-first-mlp"
    text = STARTER.format(name=name, file=path)
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise UsageError(f"{path} exists already; choose another name") from None
    except OSError as exc:
        raise MlpspecError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path
