"""A worker whose trial was taken over while it was suspended (SIGSTOP, a paused VM past the grace period) leaves
the lineage's checkpoints to the re-queued copy that now resumes and writes them.

Found by the faults7 probe on PostgreSQL: worker A stopped, worker B failed A's trial and resumed its copy from
the checkpoints; A, continued, was refused its next report and cleared the lineage's checkpoints, deleting the
copy's ``progress.json`` under B. B was killed later, and the next copy started from epoch 0 after 255 epochs.
Real stores (a journal file, a SQLite file), real training and a real checkpoint directory; "another worker" is
what :func:`search.worker.fail_dead_trials` does: the trial failed, then re-queued with :func:`search.storage.requeue`.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import pytorch_lightning as pl
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from pytorch_lightning.callbacks import Callback

from search.checkpoints import CheckpointStore
from search.objective import Objective
from search.spec import load_study
from search.storage import open_storage, requeue
from search.worker import ensure_study
from tests.helpers import checkpoint_dir, write_study

PARAMS = {"dropout": 0.1, "kernel_l2_on": False}


class TakenOverAt(Callback):
    """At the end of epoch ``epoch`` (0-based, its checkpoint saved), another worker fails this trial and re-queues
    it, as it does to a trial whose heartbeat went stale: this run's next report is refused."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial, epoch: int) -> None:
        self.study, self.trial, self.epoch = study, trial, epoch

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            storage, tid = self.study._storage, self.trial._trial_id
            storage.set_trial_user_attr(tid, "fail_reason", "no heartbeat for 40 s: ...; re-queued")
            storage.set_trial_state_values(tid, TrialState.FAIL)
            requeue(self.study, storage.get_trial(tid))


@pytest.mark.parametrize("store", ["journal.log", "sqlite:///{tmp}/study.db"], ids=["journal", "sqlite"])
def test_a_run_taken_over_keeps_the_checkpoints_its_copy_resumes(tmp_path: Path, store: str) -> None:
    path = write_study(tmp_path, "taken", budget={"trials": 1, "max_epochs": 6}, recipes=False, introspect=False)
    spec = load_study(path)
    url = store.format(tmp=tmp_path) if store.startswith("sqlite") else str(tmp_path / store)
    storage = open_storage(url)
    ensure_study(spec, storage, total=1)
    study = optuna.load_study(study_name=spec.name, storage=storage)
    study.enqueue_trial(PARAMS)
    artifacts = CheckpointStore(tmp_path / "artifacts")
    where = checkpoint_dir(tmp_path / "artifacts", spec)

    stale = study.ask()
    with pytest.raises(UpdateFinishedTrialError):
        Objective(spec, accelerator="cpu", checkpoints=artifacts,
                  extra_callbacks=lambda t: [TakenOverAt(study, stale, 2)])(stale)  # fmt: skip
    # the copy's: before, the stale run deleted both, and the copy started from its first epoch
    assert (where / "progress.json").is_file() and (where / "fold-0.ckpt").is_file(), sorted(where.parent.rglob("*"))

    copy = study.ask()
    assert study._storage.get_trial_system_attrs(copy._trial_id).get("failed_trial") == stale.number
    study.tell(copy, Objective(spec, accelerator="cpu", checkpoints=artifacts)(copy))
    done = study.trials[copy.number]
    assert done.state == TrialState.COMPLETE and done.user_attrs["resumed_from_epoch"] == 3, done.user_attrs
    assert not where.exists() or not any(where.iterdir())  # the finished copy cleared its lineage's checkpoints
