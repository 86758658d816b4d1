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


class PruningCallback(Callback):
    """Reports ``transform(score)`` at step ``offset + epoch``; raises :class:`optuna.TrialPruned` on a prune, but
    not at ``last_step`` (the whole trial's last epoch: a 2-epoch study pruned trials there, as complete as any).

    The score is the epoch's own, computed once by the fit's :class:`models.train.BestEpoch` (which early-stops on
    it too); ``transform`` lets cross-validation report the running mean over folds instead of the fold's score.
    """

    def __init__(
        self, trial: optuna.Trial, offset: int = 0, transform: Callable[[float, bool], float] | None = None,
        last_step: int | None = None,
    ) -> None:  # fmt: skip
        self.trial, self.offset, self.last_step = trial, offset, last_step
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
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {trainer.current_epoch + 1} (step {step}) with {value:.4f}")
