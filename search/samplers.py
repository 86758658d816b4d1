"""Samplers and pruners by the names a study file uses: one registry each (:data:`SAMPLERS`, :data:`PRUNERS`),
which ``search.spec`` validates study files against."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import optuna

if TYPE_CHECKING:
    from search.spec import StudySpec

_F = TypeVar("_F")


def _tpe(seed: int) -> optuna.samplers.BaseSampler:
    # multivariate + group handle the conditional "<name>_on" parameters; constant_liar keeps parallel
    # workers from piling onto the same region
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=10)


#: sampler name -> a factory of it, given the seed
SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "tpe": _tpe,
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "cmaes": lambda seed: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False, n_startup_trials=10),
    "gp": lambda seed: optuna.samplers.GPSampler(seed=seed, n_startup_trials=10),
    "qmc": lambda seed: optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False),
}

#: pruner name -> a factory of it, given the steps a full trial reports
PRUNERS: dict[str, Callable[[int], optuna.pruners.BasePruner]] = {
    "median": lambda steps: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=min(5, steps // 4)),
    "hyperband": lambda steps: optuna.pruners.HyperbandPruner(
        min_resource=max(1, steps // 20), max_resource=steps, reduction_factor=3
    ),
    "successive_halving": lambda steps: optuna.pruners.SuccessiveHalvingPruner(
        min_resource=max(1, steps // 20), reduction_factor=3
    ),
    "wilcoxon": lambda steps: optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=min(5, steps // 4)),
    "none": lambda steps: optuna.pruners.NopPruner(),
}


def make_sampler(spec: StudySpec, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """A seeded sampler; ``seed`` differs per worker so parallel workers do not propose the same points."""
    return _lookup("sampler", SAMPLERS, spec.sampler)(spec.seed if seed is None else seed)


def make_pruner(spec: StudySpec, steps: int) -> optuna.pruners.BasePruner:
    """A pruner over ``steps`` reported steps per trial (epochs, times folds with cross-validation)."""
    pruner = _lookup("pruner", PRUNERS, spec.pruner)(steps)
    if spec.pruner_patience:
        pruner = optuna.pruners.PatientPruner(pruner, patience=spec.pruner_patience)
    return pruner


def _lookup(kind: str, registry: dict[str, _F], name: str) -> _F:
    if name not in registry:
        raise ValueError(f"{kind}={name!r}: allowed values are {', '.join(registry)}")
    return registry[name]
