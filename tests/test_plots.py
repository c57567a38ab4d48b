"""Plots: every picture of a run, runs compared, activations; valid PNGs of sensible size,
and a run that never loses its folder to a plotting problem."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from mlpspec.cli import plots
from mlpspec.cli.main import main
from mlpspec.core.errors import UnknownComponentError
from mlpspec.run import figures

from .conftest import SPIRALS_SPEC, make_run, png_size

RUN_PLOTS = ["accuracy.png", "confusion.png", "learning_rate.png", "loss.png", "misclassified.png"]


def assert_sensible_png(path, min_size=(300, 200)):
    width, height = png_size(path)
    assert min_size[0] <= width <= 3000 and min_size[1] <= height <= 3000, (path, width, height)
    assert path.stat().st_size > 5_000, path  # more than an empty canvas


def test_a_finished_run_has_every_plot(image_run):
    for name in RUN_PLOTS:
        assert_sensible_png(image_run / name)


def test_plot_command_redraws_a_run(image_run, tmp_path, capsys):
    run = shutil.copytree(image_run, tmp_path / "run")
    for name in RUN_PLOTS:
        (run / name).unlink()
    assert main(["plot", str(run)]) == 0
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(str(run / name) for name in RUN_PLOTS)
    for name in RUN_PLOTS:
        assert_sensible_png(run / name)


def test_runs_without_images_get_no_grid(tmp_path):
    run = make_run(tmp_path, SPIRALS_SPEC)
    assert not (run / "misclassified.png").exists()
    assert_sensible_png(run / "confusion.png")


def test_several_runs_are_overlaid_labelled_by_name(image_run, tmp_path, registry, capsys):
    other = make_run(tmp_path, SPIRALS_SPEC.replace('name = "tiny"', 'name = "other"'))
    out = tmp_path / "compared"
    assert main(["plot", str(image_run), str(other), "--out", str(out)]) == 0
    for name in ("compare-loss.png", "compare-accuracy.png", "compare-learning_rate.png"):
        assert_sensible_png(out / name)
    curves = plots.read_curves([image_run, other])
    assert [c.label for c in curves] == ["tiny-images", "other"]
    # two runs of one spec are told apart by their folders
    again = plots.read_curves([other, other])
    assert [c.label for c in again] == [other.name, other.name]


def test_the_learning_rate_schedule_comes_from_the_record(image_run):
    (curves,) = plots.read_curves([image_run])
    # linear from 0.05 to 0.01 over 6 epochs, as the logged rates say
    assert curves.schedule[0] == pytest.approx(0.05) and curves.schedule[-1] == pytest.approx(0.01)
    np.testing.assert_allclose(curves.schedule, curves.metrics["lr"])


def test_activations_and_derivatives(tmp_path, registry, capsys):
    names = registry.names("activation")
    assert main(["plot", "--activations", *names, "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "activations.png")
    assert_sensible_png(tmp_path / "activations.png", min_size=(800, 500))
    with pytest.raises(UnknownComponentError, match="did you mean 'tanh'"):
        plots.plot_activations(["tanhh"], registry, tmp_path / "bad.png")
    assert main(["plot", "--activations", "tanhh"]) == 2


def test_plot_needs_something_to_draw(capsys):
    assert main(["plot"]) == 2
    assert "give run folders" in capsys.readouterr().err


def test_a_folder_without_metrics_is_an_error_not_a_traceback(image_run, tmp_path, capsys):
    run = shutil.copytree(image_run, tmp_path / "run")
    (run / "metrics.jsonl").unlink()
    assert main(["plot", str(run)]) == 1
    assert "no evaluations" in capsys.readouterr().err
    (run / "summary.json").write_text('{"name": "x"}')
    assert main(["plot", str(run)]) == 1
    assert "damaged run record at features: Field required" in capsys.readouterr().err


def test_a_plotting_failure_only_warns(tmp_path, monkeypatch, capsys):
    def broken(*args):
        raise RuntimeError("no ink")

    monkeypatch.setattr(plots, "plot_run", broken)
    run = make_run(tmp_path, SPIRALS_SPEC)
    assert "warning: the plots were not made: RuntimeError: no ink" in capsys.readouterr().err
    assert (run / "summary.json").exists() and (run / "model.npz").exists()


def test_without_matplotlib_runs_still_finish(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(figures, "available", lambda: False)
    run = make_run(tmp_path, SPIRALS_SPEC)
    assert not list(run.glob("*.png"))
    assert "warning" not in capsys.readouterr().err


def test_without_matplotlib_the_plot_command_says_what_to_install(monkeypatch, tmp_path, capsys):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert not figures.available()
    assert main(["plot", "--activations", "relu", "--out", str(tmp_path)]) == 1
    assert "pip install 'mlpspec[plot]'" in capsys.readouterr().err


def test_no_plots_flag(tmp_path):
    run = make_run(tmp_path, SPIRALS_SPEC, "--no-plots")
    assert not list(run.glob("*.png"))


def test_preload_imports_matplotlib_on_a_thread_of_its_own():
    """What a sweep does while its trials run, so that its plots at the end start at once."""
    code = (
        "import sys, threading\n"
        "from mlpspec.run import figures\n"
        "figures.preload()\n"
        "for thread in threading.enumerate():\n"
        "    if thread.name == 'preload-matplotlib':\n"
        "        thread.join()\n"
        "assert 'matplotlib.backends.backend_agg' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_preload_starts_one_import_however_often_it_is_called():
    """A sweep asks for it each time it finds nothing more to hand out."""
    code = (
        "import threading\n"
        "from mlpspec.run import figures\n"
        "names = []\n"
        "start = threading.Thread.start\n"
        "threading.Thread.start = lambda thread: (names.append(thread.name), start(thread))\n"
        "figures.preload()\n"
        "figures.preload()\n"
        "assert names == ['preload-matplotlib'], names\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
