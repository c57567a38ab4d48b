"""mlpspec predict: known inputs give known outputs, from arrays, CSV and images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mlpspec
from mlpspec.cli.inputs import read_image, read_inputs
from mlpspec.cli.main import main
from mlpspec.data.idx import read_idx

from .conftest import make_run
from .test_mnist import SLICE_SPEC


def raw_test_images(loaded) -> np.ndarray:
    return read_idx(Path(loaded.spec.data.dataset.params.path) / "t10k-images-idx3-ubyte")


def predict_json(capsys, *args: str) -> list[dict]:
    assert main(["predict", *args, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_rows_of_npy_npz_and_csv_give_the_models_predictions(image_run, tmp_path, capsys):
    loaded = mlpspec.load_run(image_run)
    raw = raw_test_images(loaded)[:12]
    expected = loaded.predict_proba(loaded.data().x_test[:12])
    np.save(tmp_path / "images.npy", raw)  # images (n, 8, 8)
    np.save(tmp_path / "rows.npy", raw.reshape(12, -1))  # rows (n, 64)
    np.save(tmp_path / "one.npy", raw[0])  # a single image
    np.savez(tmp_path / "named.npz", x=raw, labels=np.zeros(12))
    np.savetxt(tmp_path / "rows.csv", raw.reshape(12, -1), delimiter=",", fmt="%d")
    header = ",".join(f"p{i}" for i in range(64))
    np.savetxt(
        tmp_path / "header.csv",
        raw.reshape(12, -1),
        delimiter=",",
        fmt="%d",
        header=header,
        comments="",
    )
    for name in ("images.npy", "rows.npy", "named.npz", "rows.csv", "header.csv"):
        results = predict_json(capsys, str(image_run), str(tmp_path / name))
        got = np.array([[r["probabilities"][c] for c in "012"] for r in results])
        np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=name)
        assert [r["predicted"] for r in results] == [str(i) for i in expected.argmax(1)]
        # arrays name rows by index, CSV files by line (the header is line 1)
        fourth = {"rows.csv": "rows.csv:4", "header.csv": "header.csv:5"}.get(name, f"{name}[3]")
        assert results[3]["input"] == fourth
    (one,) = predict_json(capsys, str(image_run), str(tmp_path / "one.npy"))
    assert one["predicted"] == str(expected[0].argmax())


def test_the_table(image_run, tmp_path, capsys):
    loaded = mlpspec.load_run(image_run)
    np.save(tmp_path / "two.npy", raw_test_images(loaded)[:2])
    assert main(["predict", str(image_run), str(tmp_path / "two.npy")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["input", "predicted", "p", "0", "1", "2"]
    assert lines[1].startswith("two.npy[0]") and len(lines) == 3
    row = lines[1].split()
    probabilities = [float(v) for v in row[3:]]
    assert sum(probabilities) == pytest.approx(1, abs=2e-3)
    assert float(row[2]) == max(probabilities) and row[1] == str(np.argmax(probabilities))


def test_images_are_inverted_greyscale_and_resized(tmp_path):
    from PIL import Image

    pixels = np.zeros((16, 16), dtype=np.uint8)
    pixels[:8] = 255  # a white top half; on 8×8, inverted: 0 at the top, 255 at the bottom
    Image.fromarray(pixels).convert("RGB").save(tmp_path / "top.png")
    image = read_image(tmp_path / "top.png", (8, 8))
    assert image.shape == (8, 8)
    np.testing.assert_allclose(image[:3], 0, atol=1)
    np.testing.assert_allclose(image[5:], 255, atol=2)  # resampling rings a little
    np.testing.assert_allclose(
        read_image(tmp_path / "top.png", (8, 8), invert=False)[:3], 255, atol=2
    )


def test_bad_inputs_are_explained(image_run, tmp_path, capsys):
    np.save(tmp_path / "wide.npy", np.zeros((2, 65)))
    (tmp_path / "words.txt").write_text("hello")
    (tmp_path / "fake.png").write_text("not an image")
    np.savez(tmp_path / "two.npz", a=np.zeros(64), b=np.zeros(64))
    for name, message in (
        ("wide.npy", "65 values per example, but the model takes 64"),
        ("words.txt", "unknown kind of file"),
        ("fake.png", "not a readable image"),
        ("two.npz", "name the inputs 'x'"),
        ("missing.npy", "no such file"),
    ):
        assert main(["predict", str(image_run), str(tmp_path / name)]) == 1, name
        assert message in capsys.readouterr().err, name


def test_images_need_an_image_dataset(tmp_path):
    from mlpspec.core.errors import DataError

    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match="not made of images"):
        read_inputs([tmp_path / "x.png"], 2, None)


def test_mnist_digits_from_an_array_and_from_a_png(mnist_slice, tmp_path, capsys):
    """Test rows saved as .npy give the model's own predictions; a PNG written from an MNIST
    test image, drawn dark on light as a person would, gives the same class as its array."""
    from PIL import Image

    text = SLICE_SPEC.format(path=mnist_slice).replace("epochs = 4", "epochs = 2")
    run = make_run(tmp_path, text, "--no-plots")
    capsys.readouterr()
    loaded = mlpspec.load_run(run)
    raw = read_idx(mnist_slice / "t10k-images-idx3-ubyte")[:20]
    np.save(tmp_path / "digits.npy", raw)
    results = predict_json(capsys, str(run), str(tmp_path / "digits.npy"))
    expected = loaded.predict(loaded.data().x_test[:20])
    assert [int(r["predicted"]) for r in results] == expected.tolist()
    for i in range(3):
        Image.fromarray(255 - raw[i]).save(tmp_path / f"digit{i}.png")
    pngs = predict_json(capsys, str(run), *(str(tmp_path / f"digit{i}.png") for i in range(3)))
    assert [r["predicted"] for r in pngs] == [r["predicted"] for r in results[:3]]
    assert [r["input"] for r in pngs] == ["digit0.png", "digit1.png", "digit2.png"]
    np.testing.assert_allclose(
        [list(r["probabilities"].values()) for r in pngs],
        [list(r["probabilities"].values()) for r in results[:3]],
        rtol=1e-4,  # float32 matrix products round differently for batches of other sizes
    )
