"""A study seen as it stood when its report began: :func:`frozen`.

A report retrains for minutes, and read afresh each time a study whose workers still run told two moments apart
(the faults4 probe, 2026-12-06): its header counted "2 complete ... 3 enqueued" (the running trials nowhere), and
the recipe table read minutes later listed five complete trials and one pruned; the selection, the verdict's best
row and the importances could each have read another best. Every read of the study's trials in the report goes
through one snapshot taken at its start; what the report writes (cached runs and rows, user attributes) goes to the
study itself.
"""

from __future__ import annotations

import copy
from collections.abc import Container
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from search.storage import by_state


class FrozenTrials:
    """``storage`` with the trials of study ``study_id`` read once, now: every later read of them (all, by state,
    the best, counts) answers from that snapshot; everything else, writes included, goes to ``storage``."""

    def __init__(self, storage: BaseStorage, study_id: int) -> None:
        self._inner, self._study_id = storage, study_id
        self._trials: list[FrozenTrial] = storage.get_all_trials(study_id, deepcopy=True)
        try:  # the store's own best of these trials (among equal values a database picks its own: the same one)
            best = storage.get_best_trial(study_id)._trial_id
        except (ValueError, RuntimeError):  # none complete (the report stops), or several objectives
            best = None
        self._best = next((t for t in self._trials if t._trial_id == best), None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        if study_id != self._study_id:
            return self._inner.get_all_trials(study_id, deepcopy, states)
        out = [t for t in self._trials if states is None or t.state in states]
        return copy.deepcopy(out) if deepcopy else out

    def get_n_trials(self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None) -> int:
        return BaseStorage.get_n_trials(self, study_id, state)  # type: ignore[arg-type]  # (from get_all_trials)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        if study_id != self._study_id:
            return self._inner.get_best_trial(study_id)
        if self._best is None:
            return BaseStorage.get_best_trial(self, study_id)  # type: ignore[arg-type]  # (it raises as the store's)
        return copy.deepcopy(self._best)

    def count_trials(self, study_id: int, below: int | None = None) -> dict[TrialState, int]:
        """:func:`search.storage.count_trials` of the snapshot."""
        return by_state(self.get_all_trials(study_id, deepcopy=False), below)


def frozen(study: optuna.Study) -> optuna.Study:
    """``study`` (its name, sampler and pruner) over :class:`FrozenTrials` of its storage: its trials as they are
    now, however the workers go on."""
    out = copy.copy(study)
    out._storage = FrozenTrials(study._storage, study._study_id)  # type: ignore[assignment]
    return out
