"""End to end on the real MNIST files: train specs/dropout.toml for an epoch, export it, and
serve raw pixels with onnxruntime: the same probabilities as ``mlpspec predict``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlpspec.cli.main import main
from mlpspec.data.idx import read_idx
from mlpspec.run.saved import load_run

from ..conftest import SPECS
from . import assert_matches, require, run_onnx

require("onnx")


@pytest.mark.slow
def test_dropout_spec_on_mnist_serves_raw_pixels_as_mlpspec_predict_does(
    mnist_dir, monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("MLPSPEC_DATA_DIR", str(mnist_dir))
    args = ["run", str(SPECS / "dropout.toml"), "--set", "train.epochs=1", "-q", "--no-plots"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    assert main(["export", str(run)]) == 0
    images = read_idx(mnist_dir / "mnist" / "t10k-images-idx3-ubyte.gz")
    raw = images.reshape(len(images), -1).astype(np.float32)  # 0-255, as the graph takes them
    loaded = load_run(run)
    assert assert_matches(run / "model.onnx", loaded, raw, 1e-5) < 1e-5

    np.save(tmp_path / "digits.npy", images[:5])
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "digits.npy"), "--json"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    from_cli = np.array([list(p["probabilities"].values()) for p in printed])
    probabilities, label = run_onnx(run / "model.onnx", raw[:5])
    np.testing.assert_allclose(probabilities, from_cli, rtol=0, atol=1e-5)
    assert [p["predicted"] for p in printed] == [str(i) for i in label]
