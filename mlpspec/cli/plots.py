"""The pictures of a run, as PNG files: curves, learning rate, mistakes, confusion matrix;
the same curves of several runs on one figure; and activation functions with their
derivatives.

matplotlib is the optional ``plot`` extra: it is imported only when a plot is drawn, and
figures are made without pyplot, so no display (and no global backend) is ever involved.
Every file is written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlpspec.cli.progress import is_share
from mlpspec.core.errors import MlpspecError
from mlpspec.core.registry import Registry
from mlpspec.core.spec import create
from mlpspec.run import figures
from mlpspec.run.record import RunRecord
from mlpspec.run.rundir import PREDICTIONS, RunDirectory

if TYPE_CHECKING:
    from matplotlib.axes import Axes

GRID_COLUMNS = 8
GRID_SHOWN = 40
"""The grid of misclassified images: this many (of the run's saved ones), this many across."""

TRAIN_STYLE, VAL_STYLE = "-", "--"


# ---------------------------------------------------------------------------------------------
# What the plots read


@dataclass
class RunCurves:
    """A run's evaluations, as arrays by field, and its learning rate by epoch."""

    path: Path
    label: str
    record: RunRecord
    metrics: dict[str, np.ndarray]
    """``epoch``, ``lr``, ``train_NAME`` and ``val_NAME`` of each evaluation (NaN where an
    evaluation lacks one)."""

    @property
    def schedule(self) -> np.ndarray | None:
        """The learning rate of each epoch trained, as the run recorded it."""
        return np.array(self.record.schedule) if self.record.schedule else None

    @property
    def best_epoch(self) -> int | None:
        return self.record.best_epoch if self.record.stopped_early else None

    def metric_names(self) -> list[str]:
        """Every metric recorded for a split, ``loss`` first."""
        names = {key.partition("_")[2] for key in self.metrics if key.startswith(SPLITS)}
        return sorted(names, key=lambda name: (name != "loss", name))


SPLITS = ("train_", "val_")


def read_curves(paths: Sequence[Path]) -> list[RunCurves]:
    """The curves of each run, labelled by spec name (with the folder when names repeat)."""
    runs = [(Path(path), RunDirectory(Path(path)).read_record()) for path in paths]
    names = [record.name for _, record in runs]
    curves = []
    for path, record in runs:
        evaluations = [e.to_dict() for e in RunDirectory(path).read_evaluations()]
        if not evaluations:
            raise MlpspecError(f"{path}: no evaluations in metrics.jsonl to plot")
        keys = dict.fromkeys(key for e in evaluations for key in e)
        metrics = {
            key: np.array([e.get(key, np.nan) for e in evaluations], dtype=float) for key in keys
        }
        label = record.name if names.count(record.name) == 1 else path.name
        curves.append(RunCurves(path, label, record, metrics))
    return curves


# ---------------------------------------------------------------------------------------------
# Curves: one run, or several overlaid


def plot_curves(runs: Sequence[RunCurves], out_dir: Path, prefix: str = "") -> list[Path]:
    """NAME.png for every recorded metric (loss.png, accuracy.png, ...) and
    learning_rate.png, each with ``prefix``, in ``out_dir``."""
    names = dict.fromkeys(name for run in runs for name in run.metric_names())
    return [
        *(_metric_plot(runs, name, out_dir / f"{prefix}{name}.png") for name in names),
        _lr_plot(runs, out_dir / f"{prefix}learning_rate.png"),
    ]


def _colours(runs: Sequence[RunCurves]) -> list[str]:
    return [f"C{i % 10}" for i in range(len(runs))]


def _metric_plot(runs: Sequence[RunCurves], metric: str, path: Path) -> Path:
    figure = figures.figure(7.5, 4.5)
    ax = figure.add_subplot()
    single = len(runs) == 1
    for run, colour in zip(runs, _colours(runs), strict=True):
        m = run.metrics
        scale = 100 if is_share(metric) else 1
        for split, style, split_colour in (
            ("train", TRAIN_STYLE, "C0"),
            ("val", VAL_STYLE, "C1"),
        ):
            y = m.get(f"{split}_{metric}")
            if y is None or np.all(np.isnan(y)):
                continue
            name = "training" if split == "train" else "validation"
            ax.plot(
                m["epoch"],
                y * scale,
                style,
                color=split_colour if single else colour,
                marker="o" if len(y) <= 30 else None,
                markersize=3,
                label=name if single else f"{run.label} ({name})",
            )
        if single and run.best_epoch:  # in the legend, where it hides no curve
            ax.axvline(
                run.best_epoch,
                color="0.4",
                linestyle=":",
                linewidth=1.2,
                label=f"lowest validation loss: epoch {run.best_epoch} (its weights were kept)",
            )
    if is_share(metric):
        ax.set_ylabel(f"{metric} (%)")
        _zoom_percent(ax, runs, metric)
    else:
        ax.set_ylabel(metric)
        if _spans_decades(runs, metric):
            from matplotlib.ticker import FuncFormatter

            ax.set_yscale("log")
            ax.set_ylabel(f"{metric} (log scale)")
            plain = FuncFormatter(_round_label)  # 0.02, not 2×10⁻²
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(plain)
    ax.grid(True, alpha=0.3)
    _epoch_axis(ax, runs)
    what = metric.replace("_", " ").capitalize()
    title = f"{what} per evaluation: {runs[0].label}" if single else f"{what} per evaluation"
    ax.set_title(title)
    ax.legend(fontsize=8 if single else 7)
    return figures.save(figure, path)


def _round_label(value: float, _position: int) -> str:
    """Labels 1, 2 and 5 times a power of ten on a log axis; the other ticks stay bare."""
    if value <= 0:
        return ""
    leading = round(value / 10 ** np.floor(np.log10(value)), 6)
    return f"{value:g}" if leading in (1, 2, 5) else ""


def _spans_decades(runs: Sequence[RunCurves], metric: str) -> bool:
    values = np.concatenate(
        [run.metrics.get(f"{s}_{metric}", np.array([])) for run in runs for s in ("train", "val")]
    )
    values = values[np.isfinite(values) & (values > 0)]
    return len(values) > 1 and values.max() / values.min() > 30


def _zoom_percent(ax: Axes, runs: Sequence[RunCurves], metric: str) -> None:
    """Accuracies near 100 % differ in the last few points: show those, not 0–100."""
    values = np.concatenate(
        [run.metrics.get(f"{s}_{metric}", np.array([])) for run in runs for s in ("train", "val")]
    )
    values = values[np.isfinite(values)] * 100
    if len(values):
        low = max(0.0, values.min() - 0.1 * max(values.max() - values.min(), 1.0))
        ax.set_ylim(low, min(100.0, values.max() + 0.5) + 0.2)


def _epoch_axis(ax: Axes, runs: Sequence[RunCurves]) -> None:
    """Epochs from 0 to the last one trained, at round numbers."""
    from matplotlib.ticker import MaxNLocator

    ends = [max(r.record.epochs_run, int(r.metrics["epoch"][-1])) for r in runs]
    ax.set_xlim(0, max(ends) * 1.02)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.set_xlabel("epoch")


def _lr_plot(runs: Sequence[RunCurves], path: Path) -> Path:
    """The learning rate of every epoch trained, as each run's record holds it (the rates
    logged at evaluations, for runs made before the record kept every epoch's)."""
    figure = figures.figure(7.5, 3.8)
    ax = figure.add_subplot()
    single = len(runs) == 1
    for run, colour in zip(runs, _colours(runs), strict=True):
        colour = "C2" if single else colour
        label = "learning rate" if single else run.label
        schedule = run.schedule
        if schedule is not None:
            edges, rates = np.arange(len(schedule) + 1), np.append(schedule, schedule[-1])
            ax.step(edges, rates, where="post", color=colour, label=label)
        else:
            ax.plot(run.metrics["epoch"], run.metrics["lr"], "o-", color=colour, label=label)
    ax.set_ylabel("learning rate")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    _epoch_axis(ax, runs)
    ax.set_title("Learning rate over training" + (f": {runs[0].label}" if single else ""))
    if len(ax.get_legend_handles_labels()[0]) > 1:
        ax.legend(fontsize=8)
    return figures.save(figure, path)


# ---------------------------------------------------------------------------------------------
# Test predictions: the confusion matrix and the misclassified images


def plot_predictions(path: Path, classes: Sequence[str], name: str) -> list[Path]:
    """confusion.png, and misclassified.png for image datasets, from predictions.npz."""
    folder = RunDirectory(path)
    if not (path / PREDICTIONS).exists():
        return []
    arrays = folder.read_arrays(PREDICTIONS)
    labels, predicted = arrays["labels"], np.argmax(arrays["probabilities"], axis=1)
    written = [_confusion(labels, predicted, classes, name, path / "confusion.png")]
    if "images" in arrays:
        written.append(_misclassified(arrays, labels, predicted, classes, name, path))
    return written


def _confusion(
    labels: np.ndarray, predicted: np.ndarray, classes: Sequence[str], name: str, path: Path
) -> Path:
    from matplotlib.colors import LogNorm

    k = len(classes)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    size = max(4.5, 0.55 * k + 2.0)
    figure = figures.figure(size + 1.2, size)
    ax = figure.add_subplot()
    # a log scale: the diagonal holds hundreds, the mistakes a handful, and both should show
    image = ax.imshow(
        np.ma.masked_equal(counts, 0),
        cmap="Blues",
        norm=LogNorm(vmin=0.5, vmax=max(int(counts.max()), 2)),  # a single mistake shows
    )
    if k <= 30:
        threshold = np.sqrt(max(int(counts.max()), 1))
        for (row, col), count in np.ndenumerate(counts):
            ax.text(
                col,
                row,
                str(count),
                ha="center",
                va="center",
                fontsize=8 if k <= 12 else 6,
                color="white" if count > threshold else ("0.6" if count == 0 else "black"),
                fontweight="bold" if row == col else "normal",
            )
    ticks = np.arange(k)
    ax.set_xticks(ticks, [str(c) for c in classes], rotation=0 if k <= 12 else 90)
    ax.set_yticks(ticks, [str(c) for c in classes])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(
        f"Confusion matrix, test set: {name}\n"
        f"{accuracy:.2%} correct ({np.trace(counts)} of {counts.sum()}); "
        "rows: true class, columns: predicted",
        fontsize=10,
    )
    figure.colorbar(image, ax=ax, shrink=0.8, label="test examples (log scale)", format="{x:.0f}")
    return figures.save(figure, path)


def _percent(p: float) -> str:
    """A probability in whole percent, never rounded up to a certainty it is not."""
    return ">99%" if 0.99 < p < 1 else f"{p:.0%}"


def _misclassified(
    arrays: dict[str, np.ndarray],
    labels: np.ndarray,
    predicted: np.ndarray,
    classes: Sequence[str],
    name: str,
    folder: Path,
) -> Path:
    index = arrays["image_index"][:GRID_SHOWN]
    images = arrays["images"][:GRID_SHOWN]
    probabilities = arrays["probabilities"]
    errors = int(np.count_nonzero(labels != predicted))
    columns = min(GRID_COLUMNS, max(len(index), 1))
    rows = max(1, -(-len(index) // columns))
    figure = figures.figure(1.35 * columns + 0.2, 1.55 * rows + 0.7)
    shown = f"all {errors}" if len(index) == errors else f"the first {len(index)} of {errors}"
    title = (
        f"Misclassified test images: {name}\n"
        f"{shown} mistakes (test-set order); "
        "true class (black), predicted class and its probability (red)"
    )
    figure.suptitle(title, fontsize=10)
    if not len(index):
        figure.text(0.5, 0.5, "no test image was misclassified", ha="center")
    for position, (i, image) in enumerate(zip(index, images, strict=True)):
        ax = figure.add_subplot(rows, columns, position + 1)
        ax.imshow(image, cmap="gray_r", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        guess = predicted[i]
        ax.set_title(f"true {classes[labels[i]]}", fontsize=9, pad=2)
        ax.set_xlabel(
            f"predicted {classes[guess]} ({_percent(probabilities[i, guess])})",
            fontsize=9,
            color="C3",
            labelpad=2,
        )
    return figures.save(figure, folder / "misclassified.png")


# ---------------------------------------------------------------------------------------------
# Everything for one run, and several runs compared


def plot_run(path: Path) -> list[Path]:
    """Every plot of one run, written into its folder; returns the files."""
    (curves,) = read_curves([path])
    classes = curves.record.classes
    return [
        *plot_curves([curves], Path(path)),
        *plot_predictions(Path(path), classes, curves.label),
    ]


def plot_comparison(paths: Sequence[Path], out_dir: Path) -> list[Path]:
    """The curves of several runs overlaid, as compare-*.png in ``out_dir``."""
    return plot_curves(read_curves(paths), out_dir, prefix="compare-")


# ---------------------------------------------------------------------------------------------
# Activations


def plot_activations(
    names: Sequence[str], registry: Registry, path: Path, limit: float = 5.0
) -> Path:
    """Each activation and its derivative, both computed by the registered component itself.

    The derivative is its own backward pass: ``backward(z, a, g)`` with ``g`` selecting the
    first output. Each is evaluated on rows ``[z, 0]``, so a row-wise activation (softmax)
    is drawn as a function of its first input with the second held at 0.
    """
    for name in names:
        registry.get("activation", name)  # an unknown name fails before anything is drawn
    z = np.linspace(-limit, limit, 401)
    rows = np.column_stack([z, np.zeros_like(z)])
    select = np.column_stack([np.ones_like(z), np.zeros_like(z)])
    columns = min(3, len(names))
    grid_rows = -(-len(names) // columns)
    figure = figures.figure(max(3.6 * columns, 5.0), 3.0 * grid_rows + 0.6)
    figure.suptitle(
        "Activations (solid) and their derivatives (dashed),\n"
        "from each component's own forward and backward passes",
        fontsize=10,
    )
    for position, name in enumerate(names):
        activation = create(registry, "activation", name)
        a = activation.forward(rows.copy())
        grad = activation.backward(rows.copy(), a, select.copy())
        elementwise = np.allclose(a[:, 0], activation.forward(z[:, None].copy())[:, 0])
        ax = figure.add_subplot(grid_rows, columns, position + 1)
        ax.axhline(0, color="0.7", linewidth=0.8)
        ax.axvline(0, color="0.7", linewidth=0.8)
        ax.plot(z, a[:, 0], color="C0", label=f"{name}(z)")
        ax.plot(z, grad[:, 0], "--", color="C3", label=f"d{name}/dz")
        title = name if elementwise else f"{name} (row-wise): first output for input [z, 0]"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("z")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    return figures.save(figure, path)
