"""The pruning callback: report the monitored score each epoch, prune when the pruner says so.

Owned here (a dozen lines) because optuna-integration's callback imports the separate ``lightning`` package and
fails with ``pytorch_lightning`` trainers.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna
import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from models.train import BestEpoch


def replayed_until(trial: optuna.Trial) -> int:
    """The last step a dead run of ``trial`` reported, -1 for a first run: a re-queued copy keeps the dead run's
    intermediate values (:func:`search.storage.requeue`), and a re-run without a checkpoint to resume trains those
    epochs again. Optuna ignores a report at a step it holds, and the pruner, asked then, judged the dead run's
    last value: a re-run of a recipe killed at epoch 27 was pruned after its first epoch, its record saying "pruned
    at epoch 1 with 0.3486" beside the value 0.9875 of epoch 27 (the faults3 probe, 2026-12-06). The pruner is
    asked again past this step, where the re-run's own values are the trial's. Read when the run starts, from the
    copy Optuna fetched when the trial was asked (no storage round trip), before the run reports anything."""
    if not isinstance(trial, optuna.Trial):  # a FixedTrial (the verdict's runs outside the study): no dead run
        return -1
    return max(trial._cached_frozen_trial.intermediate_values, default=-1)


class PruningCallback(Callback):
    """Reports ``transform(score)`` at step ``offset + epoch``; raises :class:`optuna.TrialPruned` on a prune, but
    not at ``last_step`` (the whole trial's last epoch: a 2-epoch study pruned trials there, as complete as any),
    nor up to ``replayed`` (:func:`replayed_until`: the steps a dead run of the trial reported).

    The score is the epoch's own, computed once by the fit's :class:`models.train.BestEpoch` (which early-stops on
    it too); ``transform`` lets cross-validation report the running mean over folds instead of the fold's score.
    """

    def __init__(
        self, trial: optuna.Trial, offset: int = 0, transform: Callable[[float, bool], float] | None = None,
        last_step: int | None = None, replayed: int = -1,
    ) -> None:  # fmt: skip
        self.trial, self.offset, self.last_step, self.replayed = trial, offset, last_step, replayed
        self.transform = transform or (lambda v, keep: v)  # keep: whether the epoch may be the fit's best

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        step = self.offset + trainer.current_epoch
        row = BestEpoch.scored(trainer)
        first = next((c.from_epoch for c in trainer.callbacks if isinstance(c, BestEpoch)), 0)  # type: ignore[attr-defined]
        value = self.transform(row["score"], row["epoch"] >= first)
        self.trial.report(value, step)
        if self.last_step is not None and step >= self.last_step:  # the trial's last epoch: its training is done,
            return  # and a prune there saves nothing and loses a complete trial
        if step > self.replayed and self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {trainer.current_epoch + 1} (step {step}) with {value:.4f}")
