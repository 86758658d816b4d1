"""Samplers and pruners by the names a study file uses."""

from __future__ import annotations

import optuna

from search.spec import PRUNERS, SAMPLERS, StudySpec


def make_sampler(spec: StudySpec, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """A seeded sampler; ``seed`` differs per worker so parallel workers do not propose the same points."""
    seed = spec.seed if seed is None else seed
    name = spec.sampler
    if name == "tpe":
        # multivariate + group handle the conditional "<name>_on" parameters; constant_liar keeps parallel
        # workers from piling onto the same region
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=10
        )  # fmt: skip
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False, n_startup_trials=10)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    raise ValueError(f"sampler={name!r}: allowed values are {', '.join(SAMPLERS)}")


def make_pruner(spec: StudySpec, steps: int) -> optuna.pruners.BasePruner:
    """A pruner over ``steps`` reported steps per trial (epochs, times folds with cross-validation)."""
    name = spec.pruner
    pruner: optuna.pruners.BasePruner
    if name == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=min(5, steps // 4))
    elif name == "hyperband":
        pruner = optuna.pruners.HyperbandPruner(
            min_resource=max(1, steps // 20), max_resource=steps, reduction_factor=3
        )
    elif name == "successive_halving":
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, steps // 20), reduction_factor=3)
    elif name == "wilcoxon":
        pruner = optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=min(5, steps // 4))
    elif name == "none":
        pruner = optuna.pruners.NopPruner()
    else:
        raise ValueError(f"pruner={name!r}: allowed values are {', '.join(PRUNERS)}")
    if spec.pruner_patience:
        pruner = optuna.pruners.PatientPruner(pruner, patience=spec.pruner_patience)
    return pruner
