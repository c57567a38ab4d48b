"""Every spec of specs/ and of the extension packages, trained briefly, exports; the model
passes onnx's full check, and onnxruntime on raw inputs gives the saved run's
``predict_proba(preprocess(raw))`` within 1e-5.

Within 1e-5 plus twice the float32 rounding error of mlpspec's own result, to be exact: some
specs whose weights start N(0, 1) (document 004's "standard" initialization) reach logits in
the tens or hundreds on MNIST, where float32 sums of 784 terms in numpy's order and in
onnxruntime's differ by about 1e-4, and probabilities by up to 2.5e-5; mlpspec's own float32
probabilities are up to 1.5e-5 from the float64 ones there (measured: the difference stays
under twice that error on every spec). Every other spec stays within 1e-5 outright."""

from __future__ import annotations

from pathlib import Path

import pytest

import mlpspec
from mlpspec.cli.main import main
from mlpspec.core.spec import read_toml, validate_spec
from mlpspec.run.saved import load_run

from ..conftest import ROOT, SPECS
from . import assert_matches, float32_error, raw_test_rows, require

onnx = require("onnx")

ALL_SPECS = sorted(SPECS.glob("*.toml")) + sorted(ROOT.glob("plugins/*/specs/*.toml"))
TOLERANCE = 1e-5


def quick(path: Path, mnist: Path) -> dict:
    """The spec, trained for 2 epochs (or 20 iterations), MNIST read from the 6,000-image
    slice of the real files: the network, preprocessing and loss as written."""
    data = read_toml(path)
    train = data["train"]
    if "iterations" in train:
        train["iterations"] = 20
    else:
        train["epochs"] = 2
    if data["data"]["dataset"] in ("mnist", {"type": "mnist"}):
        data["data"]["dataset"] = {"type": "idx", "path": str(mnist)}
    return data


def uses_mnist(path: Path) -> bool:
    return read_toml(path)["data"]["dataset"] in ("mnist", {"type": "mnist"})


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=[pytest.mark.slow] if uses_mnist(p) else []) for p in ALL_SPECS],
    ids=[p.stem for p in ALL_SPECS],
)
def test_every_spec_exports_and_matches_predict_proba(path, registry, request, tmp_path):
    mnist = request.getfixturevalue("mnist_slice") if uses_mnist(path) else None
    spec = validate_spec(quick(path, mnist), registry, str(path))
    result = mlpspec.run(spec, registry, out_dir=tmp_path)
    assert main(["export", str(result.run_dir)]) == 0
    model_path = result.run_dir / "model.onnx"
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import] == [17]  # the default, and no other domain
    loaded = load_run(result.run_dir, registry)
    raw = raw_test_rows(loaded)
    own = float32_error(loaded, raw)
    difference = assert_matches(model_path, loaded, raw, TOLERANCE + 2 * own)
    print(f"{path.stem}: largest difference {difference:.3g} (float32 error {own:.3g})")


def test_the_spec_list_covers_the_extension_packages():
    names = {p.stem for p in ALL_SPECS}
    assert {"dropout", "best_mlp", "spirals_batchnorm_gelu", "spirals_adamw_cosine"} <= names
