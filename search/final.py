"""The result of a study: the best configuration retrained and evaluated once on the held-out test split,
next to the same configuration with every regularizer off (the no-regularization baseline).

Protocol (the README states it): each configuration is retrained on the *whole* official training split
(train + validation) for the number of epochs its search trial found best (mean best epoch over folds,
plus one), with ``final_seeds`` seeds, and each model is evaluated once on the test split. The test split is
never seen by the search. Results are cached on the study, so a finished study reports without training.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any

import optuna

from models.config import REGULARIZER_NAMES, RNNConfig, TrainConfig, split_params
from models.data import SequenceDataModule
from models.train import evaluate, fit
from search.objective import study_splits
from search.spec import StudySpec

FINAL_ATTR = "regtune:final"


def baseline_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with every regularizer at its off value (the optimizer kept: without decay Adam == AdamW)."""
    defaults = {**dataclasses.asdict(RNNConfig()), **dataclasses.asdict(TrainConfig())}
    return {k: (defaults[k] if k in REGULARIZER_NAMES and k != "optimizer" else v) for k, v in config.items()}


def holdout_epochs(spec: StudySpec, config: dict[str, Any]) -> int:
    """Best epoch (+1) of ``config`` on the study's seeded holdout: for a configuration with no trial."""
    splits = study_splits(spec)
    rnn, train = split_params(config, input_size=splits.train.X.shape[2], num_classes=len(splits.classes))
    data = SequenceDataModule(splits, batch_size=train.batch_size, val_fraction=spec.val_fraction, seed=spec.seed)
    return int(fit(rnn, train, data, metric=spec.metric).best["epoch"]) + 1


def test_accuracy(spec: StudySpec, config: dict[str, Any], epochs: int, seeds: int) -> list[float]:
    """Retrain on the whole training split for ``epochs`` epochs per seed; accuracy on the test split."""
    splits = study_splits(spec)
    accs = []
    for seed in range(seeds):
        params = {**config, "max_epochs": epochs, "patience": 0, "seed": seed}
        rnn, train = split_params(params, input_size=splits.train.X.shape[2], num_classes=len(splits.classes))
        data = SequenceDataModule(splits, batch_size=train.batch_size, val_fraction=0.0, seed=seed)
        accs.append(evaluate(fit(rnn, train, data).model, data.test_data())["acc"])
    return accs


def _summary(accs: list[float]) -> dict[str, Any]:
    return {
        "accs": accs,
        "mean": statistics.fmean(accs),
        "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
    }


def final_result(study: optuna.Study, spec: StudySpec, seeds: int | None = None) -> dict[str, Any]:
    """Retrain best and baseline, evaluate on test; cached on the study for the same best trial."""
    seeds = seeds or spec.final_seeds
    best = study.best_trial
    cached = study.user_attrs.get(FINAL_ATTR)
    if cached and cached.get("best_trial") == best.number and cached.get("seeds") == seeds:
        return cached
    config = best.user_attrs["config"]
    best_epochs = int(round(best.user_attrs.get("best_epoch", spec.max_epochs - 1))) + 1
    base = baseline_config(config)
    base_epochs = _trial_epochs(study, base) or holdout_epochs(spec, base)
    result: dict[str, Any] = {
        "best_trial": best.number,
        "seeds": seeds,
        "test_size": len(study_splits(spec).test),
        "best": {**_summary(test_accuracy(spec, config, best_epochs, seeds)), "epochs": best_epochs},
        "baseline": {**_summary(test_accuracy(spec, base, base_epochs, seeds)), "epochs": base_epochs},
    }
    result["difference"] = result["best"]["mean"] - result["baseline"]["mean"]
    study.set_user_attr(FINAL_ATTR, result)
    return result


def _trial_epochs(study: optuna.Study, config: dict[str, Any]) -> int | None:
    """Epochs of a complete trial whose configuration equals ``config`` (e.g. the enqueued baseline)."""
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.user_attrs.get("config") == config and not math.isnan(t.user_attrs.get("best_epoch", math.nan)):
            return int(round(t.user_attrs["best_epoch"])) + 1
    return None


def changed_values(config: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``config`` that differ from the defaults: what a reader needs to see."""
    defaults = {**dataclasses.asdict(RNNConfig()), **dataclasses.asdict(TrainConfig())}
    return {k: v for k, v in config.items() if k in defaults and defaults[k] != v and k not in ("seed",)}
