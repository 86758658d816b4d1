"""The report's study-level figures, drawn by :mod:`optuna.visualization.matplotlib`: the optimization history
(with the pruned trials at their last reported value added, which Optuna's plot leaves out) and slice plots of
the most important parameters. The per-configuration introspection figures are the refits' own
(:meth:`models.introspect.Introspection.figures`)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from optuna.trial import TrialState  # noqa: E402
from optuna.visualization import matplotlib as ovm  # noqa: E402

SLICES = 4  # slice plots of the most important parameters
DPI = 90  # of the PNGs


def _save(fig: Any, size: tuple[float, float], path: Path) -> Path:
    assert isinstance(fig, Figure), fig  # Optuna's plots draw on a figure of their own
    fig.set_size_inches(*size)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def history_plot(study: optuna.Study, metric: str, path: Path) -> Path:
    """Objective per complete trial and the best so far (Optuna's plot), with the pruned trials marked x."""
    pruned = [(t.number, t.value) for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))]
    pruned = [(n, v) for n, v in pruned if v is not None]
    with plt.style.context("default"), warnings.catch_warnings():  # Optuna's plot sets the ggplot style globally
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = ovm.plot_optimization_history(study, target_name=metric)
        if pruned:
            ax.scatter(*zip(*pruned), marker="x", color="tab:gray", label="pruned (last reported value)")
            ax.legend(bbox_to_anchor=(1.05, 1.0), loc="upper left")
        return _save(ax.figure, (8, 3.4), path)


def slice_plots(study: optuna.Study, names: list[str], metric: str, path: Path) -> tuple[Path, int] | None:
    """Slice plots (objective against the parameter, complete trials) of the first :data:`SLICES` of ``names``
    that some complete trial has; (path, how many), or None when there is none."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    names = [n for n in names if any(n in t.params for t in trials)][:SLICES]
    if not names:
        return None
    with plt.style.context("default"), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message=".*identical low and high xlims")  # one distinct value
        axes = ovm.plot_slice(study, params=names, target_name=metric)
        fig = axes.flat[0].figure if hasattr(axes, "flat") else axes.figure
        fig.suptitle("Slice plots: objective against the most important parameters (complete trials)")
        return _save(fig, (3.6 * len(names) + 1, 3.4), path), len(names)
