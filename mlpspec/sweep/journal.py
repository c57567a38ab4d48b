"""The study of a sweep: an Optuna study kept in ``journal.log``, in the sweep's folder.

Optuna's journal storage is an append-only log of operations that several processes may write
at once (a lock file guards each append), with no server: the coordinator asks for trials and
tells their outcomes, and the workers report each evaluation to it for pruning. The folder is
all the state a sweep has, so ``--resume`` needs nothing else. Optuna is the ``sweep`` extra;
this module is the one place that imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpspec.core.errors import MlpspecError

if TYPE_CHECKING:
    import optuna

JOURNAL = "journal.log"
MEDIAN_STARTUP_TRIALS = 5
"""The median pruner compares with this many finished trials before it prunes any."""


def optuna_module() -> Any:
    """Optuna, or a clear error saying which extra installs it."""
    try:
        import optuna
    except ImportError:
        raise MlpspecError(
            "sweeps need Optuna, which is not installed: pip install 'mlpspec[sweep]'"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage(sweep_dir: Path) -> optuna.storages.JournalStorage:
    """The journal of the sweep in ``sweep_dir`` (created empty when missing)."""
    optuna_module()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(Path(sweep_dir) / JOURNAL)))


def pruner(name: str) -> optuna.pruners.BasePruner:
    """``none``, ``median`` (prune below the median of earlier trials at the same epoch, once
    there are enough of them) or ``hyperband`` (successive halving in several brackets)."""
    optuna_module()
    from optuna.pruners import HyperbandPruner, MedianPruner, NopPruner

    if name == "median":
        return MedianPruner(n_startup_trials=MEDIAN_STARTUP_TRIALS)
    if name == "hyperband":
        return HyperbandPruner(min_resource=1)
    return NopPruner()


def sampler(
    name: str, seed: int, trials_so_far: int, grid: dict[str, list] | None
) -> optuna.samplers.BaseSampler:
    """The sampler the coordinator asks for trials.

    A resumed sweep must not draw the same values its first trials drew, so its seed is mixed
    with the number of trials the study has already; a fresh sweep uses ``seed`` as it is, so
    one worker reproduces the same trials. The grid keeps its seed: it numbers its points in
    the order the seed shuffles them, and a resumed sweep must number them the same.
    """
    optuna_module()
    from optuna.samplers import RandomSampler, TPESampler

    if name == "grid":
        assert grid is not None
        return _grid_sampler(grid, seed)
    if trials_so_far:
        seed = int(np.random.SeedSequence([seed, trials_so_far]).generate_state(1)[0])
    if name == "random":
        return RandomSampler(seed=seed)
    return TPESampler(seed=seed)


def _grid_sampler(grid: dict[str, list], seed: int) -> optuna.samplers.BaseSampler:
    from optuna.samplers import GridSampler

    class Grid(GridSampler):
        """Optuna's grid, which leaves stopping to the coordinator: the stock one calls
        ``study.stop()`` after the last point, which only ``study.optimize`` allows."""

        def after_trial(self, study, trial, state, values):  # type: ignore[no-untyped-def]
            pass

    return Grid(grid, seed=seed)
