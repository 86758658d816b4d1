"""Which trial the verdict calls "tuned": the simplest configuration within one standard error of the best.

The best trial of a study is the maximum of many noisy cross-validated scores, and on small folds (ItalyPowerDemand:
13 validation sequences a fold; GunPoint: 10) dozens of configurations tie or differ by one sequence. Picking the
maximum there picks noise (the winner's curse): the retrained "best" then scored *below* the baseline the search
itself ran (ItalyPowerDemand 95.6 vs 96.6, GunPoint 95.7 vs 97.1, 5 seeds each).

The rule (Breiman's one-standard-error rule, applied to paired folds): every complete trial is compared with the
best one fold by fold (the folds are the same seeded splits for every trial). A trial whose mean per-fold
difference to the best is within one standard error of that difference (``mean >= -sd / sqrt(folds)``) is as good
as the best as far as cross-validation can tell. Among those the verdict takes the one with the fewest
regularizers on (the enqueued baseline has none), then the higher objective, then the earlier trial. With the
accuracy metric the comparison uses the folds' accuracies, not their scores: the scores carry a validation-loss
tie-break below one sequence's worth, which would otherwise make a difference of no sequence at all look certain.

With a single holdout (one fold) there is no standard error to speak of: the best trial is taken, and the
selection says so.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any

import optuna

from models.config import REGULARIZER_NAMES, RNNConfig, TrainConfig

_COMPLETE = (optuna.trial.TrialState.COMPLETE,)


@dataclasses.dataclass
class Selection:
    """The verdict's choice of trial, and why."""

    chosen: optuna.trial.FrozenTrial  # the trial the verdict retrains as "tuned"
    best: optuna.trial.FrozenTrial  # the study's best trial (the highest objective)
    regularizers: list[str]  # the regularizers the chosen trial turns on
    candidates: list[int] = dataclasses.field(default_factory=list)  # trials within one standard error of the best
    rule: str = ""  # one line: how the chosen trial was picked

    @property
    def simpler(self) -> bool:
        """True when the rule chose another trial than the best."""
        return self.chosen.number != self.best.number


def regularizers_on(config: dict[str, Any]) -> list[str]:
    """The regularizers ``config`` turns on (differ from their off value), ``optimizer`` aside (a choice, not a
    regularizer: without decay Adam and AdamW are the same)."""
    defaults = {**dataclasses.asdict(RNNConfig()), **dataclasses.asdict(TrainConfig())}
    return [n for n in REGULARIZER_NAMES if n != "optimizer" and n in config and config[n] != defaults[n]]


def fold_values(trial: optuna.trial.FrozenTrial, metric: str) -> list[float] | None:
    """The per-fold values the rule compares: accuracies for ``val_acc`` (``fold_accs``; a trial stored before
    they were kept falls back to its scores), losses for ``val_loss``; None without them."""
    ua = trial.user_attrs
    values = ua.get("fold_accs") if metric == "val_acc" else None
    values = values if values is not None else ua.get("fold_scores")
    return [float(v) for v in values] if values else None


def within_one_se(a: list[float], best: list[float], direction: str) -> bool:
    """Whether ``a`` is within one standard error of ``best`` (paired by fold): the mean of the per-fold
    differences, signed so that positive is better, is at least minus their standard error."""
    sign = 1.0 if direction == "maximize" else -1.0
    d = [sign * (x - y) for x, y in zip(a, best)]
    mean = statistics.fmean(d)
    se = statistics.stdev(d) / math.sqrt(len(d))
    return mean >= -se - 1e-12


def select(study: optuna.Study, metric: str = "val_acc") -> Selection:
    """The trial the verdict calls "tuned" (module docstring); the study must have a complete trial."""
    best = study.best_trial
    direction = "maximize" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "minimize"
    best_regs = regularizers_on(best.user_attrs.get("config", {}))
    ref = fold_values(best, metric)
    if ref is None or len(ref) < 2:
        return Selection(best, best, best_regs, [best.number],
                         "the best trial (one holdout: no standard error to choose a simpler one by)")  # fmt: skip
    pool = []
    for t in study.get_trials(deepcopy=False, states=_COMPLETE):
        values = fold_values(t, metric)
        if t.value is None or "config" not in t.user_attrs or values is None or len(values) != len(ref):
            continue
        if t.number == best.number or within_one_se(values, ref, direction):
            pool.append(t)
    sign = 1.0 if direction == "maximize" else -1.0

    def order(t: optuna.trial.FrozenTrial) -> tuple[int, float, int]:
        return len(regularizers_on(t.user_attrs["config"])), -sign * float(t.value or 0.0), t.number

    chosen = min(pool, key=order)
    regs = regularizers_on(chosen.user_attrs["config"])
    numbers = sorted(t.number for t in pool)
    if chosen.number == best.number:
        rule = (f"the best trial: none of the {len(pool) - 1} other trial(s) within one standard error of it over "
                f"{len(ref)} folds has fewer regularizers on ({len(regs)})")  # fmt: skip
    else:
        rule = (f"the simplest of {len(pool)} trials within one standard error of the best (#{best.number}, "
                f"{len(best_regs)} regularizers on) over {len(ref)} folds: {len(regs)} on")  # fmt: skip
    return Selection(chosen, best, regs, numbers, rule)
