"""The pruning callback: report the monitored score each epoch, prune when the pruner says so.

Owned here (a dozen lines) because optuna-integration's callback imports the separate ``lightning`` package and
fails with ``pytorch_lightning`` trainers.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna
import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from models.classifier import val_metrics
from models.train import score


class PruningCallback(Callback):
    """Reports ``transform(score)`` (:func:`models.train.score`) at step ``offset + epoch``; raises :class:`optuna.TrialPruned` on a prune.

    ``transform`` lets cross-validation report the running mean over folds instead of the fold's own score.
    """

    def __init__(
        self,
        trial: optuna.Trial,
        metric: str,
        n_val: int,
        offset: int = 0,
        transform: Callable[[float], float] | None = None,
    ) -> None:
        self.trial, self.metric, self.n_val, self.offset = trial, metric, n_val, offset
        self.transform = transform or (lambda v: v)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        m = val_metrics(trainer, pl_module)
        step = self.offset + trainer.current_epoch
        value = self.transform(score(self.metric, m["val_acc"], m["val_loss"], self.n_val))
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {trainer.current_epoch} (step {step}) with {value:.4f}")
