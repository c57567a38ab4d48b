"""A sweep's pictures, as PNG files in its folder: ``history.png`` (the metric of each trial
and the best so far), ``parameters.png`` (the metric against each searched parameter, on a log
axis for the log ranges) and ``parallel.png`` (parallel coordinates: one line per complete
trial across every parameter, coloured by the metric).

matplotlib is the ``plot`` extra; figures are made without pyplot, so no display is involved,
and each file is written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpspec.run import figures
from mlpspec.sweep.file import SweepFile
from mlpspec.sweep.records import TrialRecord
from mlpspec.sweep.space import Parameter, Values, show

if TYPE_CHECKING:
    from matplotlib.axes import Axes

COLUMNS = 3
HISTORY, PARAMETERS, PARALLEL = "history.png", "parameters.png", "parallel.png"


def plot_sweep(folder: Path, sweep: SweepFile, records: Sequence[TrialRecord]) -> list[Path]:
    """Draw the three plots of a sweep into its folder; returns their paths."""
    metric, goal = sweep.settings.metric, sweep.settings.goal or "minimize"
    return [
        plot_history(records, metric, goal, folder / HISTORY),
        plot_parameters(records, sweep.searched, metric, folder / PARAMETERS),
        plot_parallel(records, sweep.searched, metric, goal, folder / PARALLEL),
    ]


def plot_history(records: Sequence[TrialRecord], metric: str, goal: str, path: Path) -> Path:
    """Each trial's value by trial number (pruned ones at the value they were pruned at), and
    the best complete value so far."""
    figure = figures.figure(7, 4)
    axes = figure.add_subplot()
    complete = sorted((r for r in records if r.state == "complete"), key=lambda r: r.number)
    pruned = [r for r in records if r.state == "pruned" and r.value is not None]
    if pruned:
        axes.scatter([r.number for r in pruned], [r.value for r in pruned], marker="x",
                     color="0.6", label="pruned")
    if complete:
        numbers = [r.number for r in complete]
        values = np.array([r.value for r in complete], dtype=float)
        best = (np.maximum if goal == "maximize" else np.minimum).accumulate(values)
        axes.scatter(numbers, values, color="C0", label="complete")
        axes.step(numbers, best, where="post", color="C3", label=f"best so far ({goal})")
    failed = sum(r.state == "failed" for r in records)
    axes.set_xlabel("trial")
    axes.set_ylabel(metric)
    title = f"{metric} by trial"
    axes.set_title(title + (f" ({failed} failed, not shown)" if failed else ""))
    axes.legend(loc="best")
    axes.grid(alpha=0.3)
    return figures.save(figure, path)


def plot_parameters(
    records: Sequence[TrialRecord], parameters: Sequence[Parameter], metric: str, path: Path
) -> Path:
    """The metric against each searched parameter, one panel each: a log axis for a log
    range, the values in order for a list."""
    rows = math.ceil(len(parameters) / COLUMNS)
    columns = min(len(parameters), COLUMNS)
    figure = figures.figure(4 * columns, 3.2 * rows)
    for index, parameter in enumerate(parameters):
        axes = figure.add_subplot(rows, columns, index + 1)
        for state, style in (("complete", {"color": "C0"}), ("pruned", {"color": "0.6",
                                                                          "marker": "x"})):
            chosen = [r for r in records if r.state == state and r.value is not None]
            x = [_position(parameter, r.params.get(parameter.path)) for r in chosen]
            axes.scatter(x, [r.value for r in chosen], label=state, **style)
        _parameter_axis(axes, parameter)
        axes.set_xlabel(parameter.path)
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
    return figures.save(figure, path)


def plot_parallel(
    records: Sequence[TrialRecord],
    parameters: Sequence[Parameter],
    metric: str,
    goal: str,
    path: Path,
) -> Path:
    """Parallel coordinates: an axis per parameter and one for the metric, each scaled to its
    range (log ranges on a log scale), a line per complete trial coloured by its value."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    complete = [r for r in records if r.state == "complete" and r.value is not None]
    figure = figures.figure(max(2.2 * (len(parameters) + 1), 6), 4.5)
    axes = figure.add_subplot()
    values = np.array([r.value for r in complete], dtype=float)
    if len(values):
        norm = Normalize(values.min(), values.max() if values.max() > values.min() else
                         values.min() + 1)
        cmap = colormaps["viridis" if goal == "maximize" else "viridis_r"]
        columns = [_scaled(parameter, complete) for parameter in parameters]
        columns.append(_unit(values))
        for row, value in enumerate(values):
            axes.plot(range(len(columns)), [c[row] for c in columns], color=cmap(norm(value)),
                      alpha=0.8, linewidth=1.2)
        figure.colorbar(ScalarMappable(norm, cmap), ax=axes, label=metric)
    labels = [*(p.path for p in parameters), metric]
    ends = [_ends(parameter) for parameter in parameters]
    if len(values):
        ends.append((show(float(values.min())), show(float(values.max()))))
    for position, (low, high) in enumerate(ends):
        axes.annotate(low, (position, 0), xytext=(0, -14), textcoords="offset points",
                      ha="center", fontsize=7)
        axes.annotate(high, (position, 1), xytext=(0, 6), textcoords="offset points",
                      ha="center", fontsize=7)
    for position in range(len(labels)):
        axes.axvline(position, color="0.3", linewidth=0.8)
    axes.set_xticks(range(len(labels)), labels, rotation=15)
    axes.set_yticks([])
    axes.set_ylim(-0.08, 1.08)
    axes.set_title(f"{len(complete)} complete trials")
    return figures.save(figure, path)


# ---------------------------------------------------------------------------------------------


def _position(parameter: Parameter, value: Any) -> float:
    """Where a value goes on its parameter's axis: itself, or a list value's index."""
    if isinstance(parameter.form, Values):
        return float(parameter.form.choices.index(_stored(parameter, value)))
    return float(value)


def _stored(parameter: Parameter, value: Any) -> Any:
    assert isinstance(parameter.form, Values)
    return parameter.form.choices[parameter.form.values.index(value)]


def _parameter_axis(axes: Axes, parameter: Parameter) -> None:
    """The x axis of a parameter: its values' labels for a list, log for a log range."""
    from matplotlib.ticker import NullFormatter

    form = parameter.form
    if isinstance(form, Values):
        labels = [show(v) for v in form.values]
        axes.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) > 4 else 0)
        axes.set_xlim(-0.5, len(labels) - 0.5)
        return
    low, high = float(form.min), float(form.max)  # type: ignore[union-attr]
    if parameter.log:
        axes.set_xscale("log")
        axes.xaxis.set_minor_formatter(NullFormatter())  # 2x10^-3 labels overlap
        axes.set_xlim(low / 1.25, high * 1.25)
    else:
        margin = (high - low) * 0.05
        axes.set_xlim(low - margin, high + margin)


def _scaled(parameter: Parameter, records: Sequence[TrialRecord]) -> np.ndarray:
    """A parameter's values on [0, 1]: over its range (log for log ranges), or by index."""
    form = parameter.form
    x = np.array([_position(parameter, r.params.get(parameter.path)) for r in records], float)
    if isinstance(form, Values):
        return x / max(len(form.values) - 1, 1)
    low, high = float(form.min), float(form.max)  # type: ignore[union-attr]
    if parameter.log:
        x, low, high = np.log(x), math.log(low), math.log(high)
    return (x - low) / (high - low)


def _ends(parameter: Parameter) -> tuple[str, str]:
    """The labels of the two ends of a parameter's axis."""
    form = parameter.form
    if isinstance(form, Values):
        return show(form.values[0]), show(form.values[-1])
    return show(form.min), show(form.max)  # type: ignore[union-attr]


def _unit(values: np.ndarray) -> np.ndarray:
    span = values.max() - values.min()
    return (values - values.min()) / span if span > 0 else np.full_like(values, 0.5)
