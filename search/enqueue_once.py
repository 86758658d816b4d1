"""A study's starting points enqueued once through the gRPC storage proxy.

Workers that create a study directly on PostgreSQL do it under the schema's advisory lock
(:func:`search.storage.schema_lock`): one creates the study and enqueues its starting points (the baseline, the
recipes, the study file's points), the others find them. Through the proxy a worker holds no database connection
and so no lock, and Optuna's ``enqueue_trial(skip_if_exists=True)`` is a read followed by a write: workers that
start together on a new study each read "not there" and each enqueue, so the baseline and every recipe ran once per
worker (six workers opening a new study at once enqueued 12 trials for its 5 starting points).

The proxy (``python -m search proxy``) serves :class:`EnqueueOnce`: a starting point (a WAITING trial with
``fixed_params`` and a ``recipe`` label, not a re-queued copy) is created under the advisory lock, and only when no
trial of the study already carries the same label and values; otherwise the existing trial's id is answered, and
the worker's enqueue is a no-op. The lock is the one direct workers create studies under, so proxied and direct
workers starting together enqueue once between them too, and the proxy's own processes (``--processes N``) share it.
On MySQL or SQLite there is no such lock (:func:`~search.storage.schema_lock` is PostgreSQL's): the proxy's threads
are serialized, but several proxy processes are not.
Every other call passes through unchanged.
"""

from __future__ import annotations

import threading
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from search.recipes import same_values
from search.storage import RetryingStorage, is_requeued, schema_lock

#: the user attribute regtune's starting points carry (search.worker.ensure_study)
LABEL = "recipe"


class EnqueueOnce(RetryingStorage):
    """The proxy's storage: :class:`~search.storage.RetryingStorage` whose starting points are created once."""

    def __init__(self, inner: Any, url: str, seconds: float | None = None) -> None:
        super().__init__(inner, url, seconds)
        self._enqueue_lock = threading.Lock()  # the proxy's request threads; the advisory lock spans processes

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if not starting_point(template_trial):
            return super().create_new_trial(study_id, template_trial)  # type: ignore[safe-super]
        assert template_trial is not None
        with self._enqueue_lock, schema_lock(self.url):
            for trial in self._fresh_trials(study_id):
                if same_point(trial, template_trial):
                    return trial._trial_id
            return super().create_new_trial(study_id, template_trial)  # type: ignore[safe-super]

    def _fresh_trials(self, study_id: int) -> list[FrozenTrial]:
        """Every trial of the study as the database holds it now (past Optuna's cache of finished trials, which
        another proxy process's new trial is not in yet)."""
        backend = getattr(self.inner, "_backend", self.inner)
        return self._retry("get_all_trials", backend.get_all_trials, study_id, deepcopy=False)  # type: ignore[no-any-return]


def starting_point(trial: FrozenTrial | None) -> bool:
    """Whether a trial template is one of regtune's enqueued starting points: WAITING, with ``fixed_params`` and a
    label, and not a re-queued copy of a failed trial (``failed_trial``: those are enqueued once per failure)."""
    return (
        trial is not None
        and trial.state == TrialState.WAITING
        and "fixed_params" in trial.system_attrs
        and LABEL in trial.user_attrs
        and not is_requeued(trial)
    )


def same_point(trial: FrozenTrial, template: FrozenTrial) -> bool:
    """The same label and the same values (:func:`search.recipes.same_values`)."""
    if trial.user_attrs.get(LABEL) != template.user_attrs[LABEL]:
        return False
    return same_values(trial.system_attrs.get("fixed_params"), template.system_attrs["fixed_params"])
