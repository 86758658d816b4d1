"""Samplers and pruners by the names a study file uses: one registry each (:data:`SAMPLERS`, :data:`PRUNERS`),
which ``search.spec`` validates study files against."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import optuna

from search.whole_folds import WholeFoldsPruner

if TYPE_CHECKING:
    from search.spec import StudySpec

_F = TypeVar("_F")

#: trials a model-based sampler (TPE, CMA-ES, GP) proposes at random before its model proposes: Optuna's default,
#: counted *after* the study's enqueued starting points (:func:`make_sampler`)
RANDOM_STARTUP = 10


def _tpe(seed: int, startup: int) -> optuna.samplers.BaseSampler:
    # multivariate + group handle the conditional "<name>_on" parameters; constant_liar keeps parallel
    # workers from piling onto the same region
    return optuna.samplers.TPESampler(
        seed=seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=startup
    )


#: sampler name -> a factory of it, given the seed and the trials its start-up lasts (the random and QMC samplers
#: have none)
SAMPLERS: dict[str, Callable[[int, int], optuna.samplers.BaseSampler]] = {
    "tpe": _tpe,
    "random": lambda seed, startup: optuna.samplers.RandomSampler(seed=seed),
    "cmaes": lambda seed, startup: optuna.samplers.CmaEsSampler(
        seed=seed, warn_independent_sampling=False, n_startup_trials=startup
    ),
    "gp": lambda seed, startup: optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup),
    "qmc": lambda seed, startup: optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False),
}


def _rung(steps: int, first: int | None) -> int:
    """Hyperband's / successive halving's first rung: ``first``, or for a holdout a twentieth of the trial."""
    return max(1, steps // 20) if first is None else first


def _warmup(steps: int, first: int | None) -> int:
    """The median / Wilcoxon pruner's warm-up: ``first``, or for a holdout 5 steps (a quarter of a trial under 20)."""
    return min(5, steps // 4) if first is None else first


#: pruner name -> a factory of it, given the steps a full trial reports and the first step a trial may be judged at
#: (None: the pruner's own early start, used for a holdout; cross-validation judges whole folds:
#: :func:`make_pruner`)
PRUNERS: dict[str, Callable[[int, int | None], optuna.pruners.BasePruner]] = {
    "median": lambda steps, first: optuna.pruners.MedianPruner(
        n_startup_trials=5, n_warmup_steps=_warmup(steps, first)
    ),
    "hyperband": lambda steps, first: optuna.pruners.HyperbandPruner(
        min_resource=_rung(steps, first), max_resource=steps, reduction_factor=3
    ),
    "successive_halving": lambda steps, first: optuna.pruners.SuccessiveHalvingPruner(
        min_resource=_rung(steps, first), reduction_factor=3
    ),
    "wilcoxon": lambda steps, first: optuna.pruners.WilcoxonPruner(
        p_threshold=0.1, n_startup_steps=_warmup(steps, first)
    ),
    "none": lambda steps, first: optuna.pruners.NopPruner(),
}


def make_sampler(spec: StudySpec, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """A seeded sampler; ``seed`` differs per worker so parallel workers do not propose the same points.

    A model-based sampler's start-up is the study's enqueued starting points (:func:`search.recipes.starting_points`)
    plus :data:`RANDOM_STARTUP` proposals at random. Optuna counts every finished trial, enqueued or not, so with
    its default of 10 a study that enqueues 10 points (the baseline and nine recipes) had no random proposal at all:
    TPE's first model saw only the baseline and one-regularizer-at-a-time points, and a regularizer whose one
    recipe was pruned was hardly proposed again (JapaneseVowels' GRU study: one of its 90 proposed trials
    drew a decay, the decay recipe having been pruned)."""
    from search.recipes import starting_points  # search.recipes imports the spec, which imports this module

    startup = len(starting_points(spec)) + RANDOM_STARTUP
    return _lookup("sampler", SAMPLERS, spec.sampler)(spec.seed if seed is None else seed, startup)


def make_pruner(spec: StudySpec, folds: int, sequences: int | None = None) -> optuna.pruners.BasePruner:
    """The study's pruner over a trial of ``folds`` folds of ``spec.max_epochs`` reported steps each.

    With cross-validation (``folds`` > 1) a trial is judged only at the end of a fold
    (:class:`search.whole_folds.WholeFoldsPruner`), first at the end of its first: the first rung (Hyperband,
    successive halving) or warm-up (median, Wilcoxon) is that fold's last step, ``max_epochs - 1`` (steps count
    from 0). A holdout keeps each pruner's early start (Hyperband's first rung at a twentieth of the epochs).
    ``sequences`` (the training split's size, which the folds validate on together): a trial within one standard
    error of the best at a fold's end is not pruned (:func:`search.whole_folds.tolerance`)."""
    steps = folds * spec.max_epochs
    first = max(1, spec.max_epochs - 1) if folds > 1 else None
    pruner = _lookup("pruner", PRUNERS, spec.pruner)(steps, first)
    if spec.pruner_patience:
        pruner = optuna.pruners.PatientPruner(pruner, patience=spec.pruner_patience)
    if folds > 1 and spec.pruner != "none":
        pruner = WholeFoldsPruner(pruner, spec.max_epochs, sequences, folds)
    return pruner


def _lookup(kind: str, registry: dict[str, _F], name: str) -> _F:
    if name not in registry:
        raise ValueError(f"{kind}={name!r}: allowed values are {', '.join(registry)}")
    return registry[name]
