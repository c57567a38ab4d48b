"""mlpspec runs: the table of past runs, its order, and folders that are not whole runs."""

from __future__ import annotations

import json
import shutil

import pytest

from mlpspec.cli.main import main
from mlpspec.cli.runs import COLUMNS, find_runs, sort_runs
from mlpspec.core.errors import MlpspecError

from .conftest import SPIRALS_SPEC, make_run


@pytest.fixture
def runs_dir(image_run, tmp_path):
    """Three runs with known dates and results, and two broken folders."""
    root = tmp_path / "runs"
    for name, started, test, seconds in (
        ("a-old", "2026-01-01T10:00:00+00:00", 0.91, 30.0),
        ("b-new", "2026-03-01T10:00:00+00:00", 0.85, 10.0),
        ("c-mid", "2026-02-01T10:00:00+00:00", 0.95, 20.0),
    ):
        folder = shutil.copytree(image_run, root / name)
        summary = json.loads((folder / "summary.json").read_text())
        summary |= {"name": name, "started": started, "seconds": seconds}
        summary["test"]["accuracy"] = test
        (folder / "summary.json").write_text(json.dumps(summary))
    (root / "interrupted").mkdir()
    (root / "interrupted" / "spec.toml").write_text("")
    (root / "damaged").mkdir()
    (root / "damaged" / "summary.json").write_text("{not json")
    (root / "not-a-run").mkdir()  # no run files: not listed
    return root


def test_newest_first_broken_folders_last(runs_dir, capsys):
    assert main(["runs", str(runs_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("  ")[0].strip() == "run" and all(c in lines[0] for c in COLUMNS)
    order = [line.split()[0] for line in lines[1:]]
    assert order[:3] == ["b-new", "c-mid", "a-old"]
    assert sorted(order[3:]) == ["damaged", "interrupted"]
    assert "not-a-run" not in order
    text = "\n".join(lines)
    assert "no summary" in text and "damaged: not valid JSON" in text
    b_new = lines[1]
    for cell in ("2026-03-01", "idx", "85.00%", "10.0s", "completed"):
        assert cell in b_new


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("test", ["c-mid", "a-old", "b-new"]),
        ("time", ["b-new", "c-mid", "a-old"]),
        ("name", ["a-old", "b-new", "c-mid"]),
        ("date", ["b-new", "c-mid", "a-old"]),
    ],
)
def test_sorting(runs_dir, key, expected):
    runs = [r for r in sort_runs(find_runs(runs_dir), key) if r.problem is None]
    assert [r.path.name for r in runs] == expected
    reversed_ = [r for r in sort_runs(find_runs(runs_dir), key, reverse=True) if not r.problem]
    assert [r.path.name for r in reversed_] == expected[::-1]


def test_sort_and_json_on_the_command_line(runs_dir, capsys):
    assert main(["runs", str(runs_dir), "--sort", "test", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["name"] for r in rows[:3]] == ["c-mid", "a-old", "b-new"]
    assert rows[0]["test_accuracy"] == 0.95 and rows[0]["dataset"] == "idx"
    assert rows[0]["epochs_run"] == 6 and rows[0]["status"] == "completed"
    with pytest.raises(SystemExit):
        main(["runs", str(runs_dir), "--sort", "colour"])


def test_a_run_folder_itself_and_empty_or_missing_folders(tmp_path, capsys):
    run = make_run(tmp_path, SPIRALS_SPEC)
    assert [r.name for r in find_runs(run)] == ["tiny"]
    assert main(["runs", str(tmp_path / "empty")]) == 1
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["runs", str(tmp_path / "empty")]) == 0
    assert "no runs in" in capsys.readouterr().out
    with pytest.raises(MlpspecError):
        find_runs(tmp_path / "missing")
