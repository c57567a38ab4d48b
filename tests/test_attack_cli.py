"""Issue 12, D5, D8 (predict), D9 (command side), D12, D13 and the report's smaller
observations: what a user hands the commands, and what the commands print."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from mlpspec.cli.main import main
from mlpspec.core.text import printable

from .conftest import SPIRALS_SPEC, write_spec


@pytest.fixture
def run(image_run: Path, tmp_path: Path) -> Path:
    """A copy of the session's finished 8×8-image run (64 features, classes 0, 1, 2)."""
    return Path(shutil.copytree(image_run, tmp_path / "run"))


def predict(run: Path, *inputs: Path, json_out: bool = False) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["predict", str(run), *map(str, inputs), *(["--json"] if json_out else [])])
    return code, out.getvalue(), err.getvalue()


def csv_rows(count: int, start: int = 0) -> list[str]:
    return [",".join(str((start + i + j) % 256) for j in range(64)) for i in range(count)]


# -- D5: predict reads a CSV file as it is -------------------------------------------------------


def test_a_typo_in_the_first_row_is_an_error_at_its_cell_not_a_dropped_header(run, tmp_path):
    rows = csv_rows(3)
    rows[0] = "O" + rows[0][1:]  # letter O for a zero
    (tmp_path / "typo.csv").write_text("\n".join(rows) + "\n")
    code, out, err = predict(run, tmp_path / "typo.csv")
    assert code == 1 and "typo.csv, line 1, column 1: not a number" in err and not out


def test_a_ragged_first_row_is_reported_at_the_line_that_differs(run, tmp_path):
    rows = csv_rows(3)
    rows[0] += ",7"
    (tmp_path / "ragged.csv").write_text("\n".join(rows) + "\n")
    code, _, err = predict(run, tmp_path / "ragged.csv")
    assert code == 1 and "ragged.csv, line 2: 64 values, but line 1 has 65" in err


def test_rows_are_named_by_their_line_and_a_header_is_skipped_only_when_it_is_one(run, tmp_path):
    header = ",".join(f"pixel{j}" for j in range(64))
    rows = csv_rows(3)
    (tmp_path / "h.csv").write_text(f"{header}\n{rows[0]}\n\n# a note\n{rows[1]}\n{rows[2]}\n")
    code, out, _ = predict(run, tmp_path / "h.csv", json_out=True)
    assert code == 0
    assert [json.loads(line)["input"] for line in out.splitlines()] == [
        "h.csv:2",
        "h.csv:5",
        "h.csv:6",
    ]


# -- D8: predict refuses what is not a finite number ---------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: np.save(p / "x.npy", np.where(np.arange(64) == 2, np.nan, 1.0)[None]),
         "x.npy[0]: value 3 of the row is nan"),
        (lambda p: np.save(p / "x.npy", np.full((2, 64), -np.inf)), "x.npy[0]: value 1"),
        (lambda p: np.save(p / "x.npy", np.full((1, 64), 1e308)),
         "x.npy[0]: value 1 of the row, preprocessed, is inf; beyond the range of the model's"),
        (lambda p: np.save(p / "x.npy", np.ones((1, 64)) + 1j), "x.npy: holds complex128"),
        (lambda p: np.save(p / "x.npy", np.zeros((0, 64))), "x.npy: holds no values"),
        (lambda p: (p / "x.csv").write_text("a,b\n"), "x.csv: holds no rows of numbers after"),
        (lambda p: (p / "x.csv").write_text(""), "x.csv: holds no rows of numbers"),
        (lambda p: (p / "x.csv").write_text("\n".join(csv_rows(2)).replace("5", "nan", 1)),
         "x.csv, line 1, column"),
    ],
)
def test_non_finite_or_empty_inputs_are_refused_naming_the_row(run, tmp_path, make, message):
    make(tmp_path)
    (name,) = [p for p in tmp_path.iterdir() if p.name.startswith("x.")]
    code, out, err = predict(run, name)
    assert code == 1 and message in err and not out, err
    assert "internal error" not in err and "warning" not in err


def test_a_model_with_non_finite_weights_does_not_predict(run, tmp_path):
    with np.load(run / "model.npz") as saved:
        weights = dict(saved)
    weights["layers.1.weight"][2, 1] = np.nan
    np.savez(run / "model.npz", **weights)
    np.save(tmp_path / "x.npy", np.zeros((1, 64)))
    code, _, err = predict(run, tmp_path / "x.npy")
    assert code == 1 and "model.npz: layers.1.weight holds NaN or infinite values" in err


# -- D9: bad input, command side ---------------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds no pixels: enough for the size check."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [15000, 10000, 8000])
def test_decompression_bomb_images_are_refused_before_decoding(run, tmp_path, side):
    (tmp_path / "big.png").write_bytes(png_header(side, side))
    code, _, err = predict(run, tmp_path / "big.png")
    assert code == 1 and "big.png: an image this large is not read" in err
    assert "warning" not in err and "DecompressionBomb" not in err


def test_an_animated_image_is_refused_rather_than_read_as_its_first_frame(run, tmp_path):
    from PIL import Image

    frames = [Image.new("L", (8, 8), shade) for shade in (0, 255)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    code, _, err = predict(run, tmp_path / "anim.gif")
    assert code == 1 and "anim.gif: an animated image of 2 frames" in err


@pytest.mark.parametrize(
    ("stats", "message"),
    [
        ({"name": "standardize", "mean": "x", "std": 1}, "mean must be a finite number"),
        ({"name": "bogus"}, "unknown preprocessing 'bogus'"),
        ({"name": "standardize"}, "mean must be a finite number, got None"),
        ({"name": "standardize", "mean": 0, "std": 0}, "std must be above 0"),
        ({"name": "scale", "low": 5, "high": 1}, "high (1.0) is below low (5.0)"),
    ],
)
def test_damaged_preprocessing_statistics_are_named(run, tmp_path, stats, message):
    summary = json.loads((run / "summary.json").read_text())
    summary["preprocessing"] = stats
    (run / "summary.json").write_text(json.dumps(summary))
    np.save(tmp_path / "x.npy", np.zeros((1, 64)))
    code, _, err = predict(run, tmp_path / "x.npy")
    assert code == 1 and f"summary.json: damaged preprocessing statistics: {message}" in err


def test_out_naming_a_file_is_bad_input_before_any_work(tmp_path, capsys):
    spec = write_spec(tmp_path, SPIRALS_SPEC)
    (tmp_path / "file").write_text("")
    for args in (
        ["run", str(spec), "--out", str(tmp_path / "file")],
        ["run", str(spec), "--out", str(tmp_path / "file" / "below")],
        ["run", "--resume", str(tmp_path / "file")],
        ["run", "--resume", str(tmp_path / "nothing")],
        ["plot", "--activations", "tanh", "--out", str(tmp_path / "file")],
    ):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert "file" in err or "nothing" in err
        assert "internal error" not in err and "epoch" not in err, err


def test_plot_out_naming_a_file_is_bad_input(image_run, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    code = main(["plot", str(image_run), str(image_run), "--out", str(tmp_path / "file")])
    assert code == 2 and "--out" in capsys.readouterr().err


def test_out_that_cannot_be_written_is_bad_input(tmp_path, monkeypatch, capsys):
    """As a user who may not write there (root may write anywhere: access is asked)."""
    import os

    spec = write_spec(tmp_path, SPIRALS_SPEC)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert main(["run", str(spec), "--out", str(tmp_path / "runs")]) == 2
    assert "is not writable" in capsys.readouterr().err


def test_a_memory_limit_of_400_digits_is_a_size_not_an_overflow(tmp_path, monkeypatch, capsys):
    from mlpspec.run.budget import memory_limit

    monkeypatch.setenv("MLPSPEC_MAX_MEMORY", "9" * 400)
    assert memory_limit() == int("9" * 400)
    assert main(["run", str(write_spec(tmp_path, SPIRALS_SPEC)), "--no-save", "-q"]) == 0


# -- D13: the memory estimate uses the batch training uses -----------------------------------------


def test_the_memory_estimate_clamps_the_batch_to_the_training_set(registry):
    from mlpspec.core.spec import parse_toml, validate_spec
    from mlpspec.run.budget import check_memory

    text = SPIRALS_SPEC.replace("batch_size = 16", "batch_size = 1000000000000")
    spec = validate_spec(parse_toml(text), registry)
    check_memory(spec, features=2, examples=1620, limit=2**30)  # batches of 1,620: tiny


# -- D12: text from files is escaped before it reaches the terminal -------------------------------

ANSI = "\x1b[2J\x1b[31mOWNED\x1b]0;pwned-title\x07"


def test_printable_escapes_controls_escapes_and_bidi_overrides():
    assert printable(ANSI) == "\\x1b[2J\\x1b[31mOWNED\\x1b]0;pwned-title\\x07"
    assert printable("a\u202eb\rc\x9bd\u2028") == "a\\u202eb\\rc\\x9bd\\u2028"
    assert printable("tab\tand\nnewline, é, 数字") == "tab\tand\nnewline, é, 数字"


def test_class_names_from_a_run_folder_are_escaped_in_the_table(run, tmp_path):
    summary = json.loads((run / "summary.json").read_text())
    summary["classes"] = [ANSI, "b\nc", "ok"]
    (run / "summary.json").write_text(json.dumps(summary))
    np.save(tmp_path / "x.npy", np.zeros((1, 64)))
    code, out, _ = predict(run, tmp_path / "x.npy")
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J" in out and len(out.splitlines()) == 2  # the newline stayed escaped


def test_error_messages_quoting_a_file_are_escaped(tmp_path, capsys):
    text = SPIRALS_SPEC.replace(
        'dataset = { type = "spirals", classes = 2, points = 100 }',
        'dataset = { type = "npz", path = "\\u001b[2J\\u001b]0;title\\u0007.npz" }',
    )
    assert main(["run", str(write_spec(tmp_path, text)), "--no-save"]) == 1
    err = capsys.readouterr().err
    assert "no such file" in err and "\x1b" not in err and "\\x1b[2J" in err


def test_evaluate_does_not_print_the_file_a_run_folder_points_at(run, tmp_path, capsys):
    (tmp_path / "shadow").write_text("root:*:20228:0:99999:7:::\n")
    spec = (run / "spec.toml").read_text()
    start = spec.index("[data.dataset]")
    end = spec.index("\n\n", start)
    dataset = f'[data.dataset]\ntype = "csv"\npath = "{tmp_path / "shadow"}"'
    spec = spec[:start] + dataset + spec[end:]
    (run / "spec.toml").write_text(spec)
    assert main(["evaluate", str(run)]) == 1
    err = capsys.readouterr().err
    assert "shadow, line 1, column 1: not a number" in err and "root:" not in err


# -- the smaller observations -------------------------------------------------------------------


def test_runs_json_is_strict_json_when_a_value_is_not_finite(run, capsys):
    summary = json.loads((run / "summary.json").read_text())
    summary["test"] = {"loss": float("nan"), "accuracy": float("inf")}
    (run / "summary.json").write_text(json.dumps(summary))
    assert main(["runs", str(run.parent), "--json"]) == 0

    def refuse(token: str) -> None:
        raise ValueError(f"not strict JSON: {token}")

    lines = capsys.readouterr().out.splitlines()
    (row,) = [json.loads(line, parse_constant=refuse) for line in lines]
    assert row["test_accuracy"] is None


@pytest.mark.parametrize(
    ("name", "start"), [("..hidden", "hidden-"), ("../../x", "_.._x-"), ("-rf", "rf-")]
)
def test_run_folder_names_are_never_hidden_or_option_like(tmp_path, name, start):
    spec = write_spec(tmp_path, SPIRALS_SPEC.replace('name = "tiny"', f'name = "{name}"'))
    assert main(["run", str(spec), "--out", str(tmp_path / "runs"), "-q", "--no-plots"]) == 0
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith(start)


def test_a_very_long_model_name_gives_a_folder_name_the_file_system_takes(tmp_path):
    from mlpspec.core.text import file_name_part

    spec = write_spec(tmp_path, SPIRALS_SPEC.replace('name = "tiny"', f'name = "{"é" * 50000}"'))
    assert main(["run", str(spec), "--out", str(tmp_path / "runs"), "-q", "--no-plots"]) == 0
    (folder,) = (tmp_path / "runs").iterdir()
    assert len(folder.name.encode()) <= 255 and folder.name.startswith("éé")
    assert file_name_part("é" * 200, 5) == "éé"  # never half a character


@pytest.mark.parametrize(
    ("distribution", "hint"),
    [
        ("acme-inits", "install it (pip install acme-inits)"),
        ("acme-inits; rm -rf ~", "its package name in components.json is not a valid one"),
        ("acme\x1b[2J", "its package name in components.json is not a valid one"),
    ],
)
def test_an_install_hint_is_offered_only_for_a_valid_distribution_name(
    run, tmp_path, distribution, hint
):
    """D12 (fixed with the lifecycle rewrite; kept here with the rest of the class)."""
    spec = (run / "spec.toml").read_text().replace('type = "dense"', 'type = "acme.dense"', 1)
    (run / "spec.toml").write_text(spec)
    record = {"kind": "layer", "name": "acme.dense", "plugin": "acme", "version": "9\x1b]0;t\x07"}
    (run / "components.json").write_text(json.dumps([record | {"distribution": distribution}]))
    np.save(tmp_path / "x.npy", np.zeros((1, 64)))
    code, _, err = predict(run, tmp_path / "x.npy")
    assert code == 2 and hint in err and "\x1b" not in err and "\x07" not in err
    assert "pip install acme-inits;" not in err
