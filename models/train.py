"""Fit and evaluate one configuration: the trainer, early stopping, the best epoch's weights."""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from models.classifier import DivergedError, RNNClassifier, typical_loss, val_metrics, validation_divergence
from models.config import RNNConfig, TrainConfig
from models.data import SequenceSet
from models.datamodule import SequenceDataModule, make_loader
from models.regularizers import ordered_batches, swa_start_epoch

METRICS = {"val_acc": "max", "val_loss": "min"}


class _QuietBarebones(logging.Filter):
    """Drops Lightning's two notices that a ``barebones`` trainer is in use (one fit per search trial)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "barebones=True" not in record.getMessage()


logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_QuietBarebones())


def score(metric: str, acc: float, loss: float, n_val: int, tie_loss: float | None = None) -> float:
    """The objective a search optimizes.

    ``val_loss``: the validation cross-entropy ``loss`` (minimized). ``val_acc``: accuracy with ties broken by
    ``tie_loss`` (the temperature-scaled cross-entropy, :mod:`models.calibration`; ``loss`` where none is given),
    ``acc - min(tie_loss, 10) / (10 * (n_val + 1))``; the tie-break term is below one validation sample's worth of
    accuracy, so on one holdout it never reorders two different accuracies (a mean over folds can be reordered
    by less than one sequence of one fold), but it separates the many configurations that all reach accuracy 1.0
    on a small holdout, by their narrowest margins; not those right by a wide margin on every sequence, whose scaled
    loss underflows to 0 (:mod:`models.calibration`'s smallest temperature): they tie exactly.
    """
    if metric == "val_loss":
        return loss
    tie = loss if tie_loss is None else tie_loss
    if not math.isfinite(tie):
        return acc - 1.0 / (n_val + 1)
    return acc - min(tie, 10.0) / (10.0 * (n_val + 1))


class BestEpoch(Callback):
    """Tracks the monitored score per epoch, keeps a copy of the best epoch's weights, and stops the fit
    early once ``patience`` epochs pass without a better score (0 = never).

    ``from_epoch``: the first epoch that may be the best (SWA's start: before it validation scores the plain
    weights). Earlier epochs are recorded but neither kept nor counted by patience, so a fit with SWA on always
    returns, and is scored by, the average: folds that early-stopped before SWA began trained bit for bit as the
    plain model while the trial said ``swa_start 0.75``."""

    def __init__(self, metric: str, n_val: int, patience: int = 0, from_epoch: int = 0) -> None:
        if metric not in METRICS:
            raise ValueError(f"metric={metric!r}: allowed values are {', '.join(METRICS)}")
        self.metric, self.n_val, self.patience, self.from_epoch = metric, n_val, patience, from_epoch
        self.sign = 1.0 if METRICS[metric] == "max" else -1.0
        self.history: list[dict[str, float]] = []
        self.best: dict[str, float] | None = None
        self.best_state: dict[str, torch.Tensor] | None = None

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        m = val_metrics(trainer, pl_module)
        acc, loss, tie = m["val_acc"], m["val_loss"], m["val_loss_t"]
        # the median sequence's loss: one 1e30 input value made a sound model's mean loss 1e26. The last step of a
        # fit is followed by no training loss to see it; here, first of the callbacks (fit puts this one first),
        # before any records the epoch or a pruner judges it
        why = validation_divergence(m.get("val_loss_median", loss), trainer.current_epoch)
        if why is not None:
            raise DivergedError(why)
        row = {
            "epoch": trainer.current_epoch,
            "val_acc": acc,
            "val_loss": loss,
            "val_loss_t": tie,
            "score": score(self.metric, acc, loss, self.n_val, tie),
        }
        train_loss = getattr(pl_module, "epoch_train_loss", None)  # this epoch's (callback_metrics lag by one)
        if train_loss is not None:
            row["train_loss"] = float(train_loss)
        self.history.append(row)
        if row["epoch"] < self.from_epoch:
            return
        if self.best is None or self.sign * row["score"] > self.sign * self.best["score"]:
            self.best = row
            self.best_state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
        elif self.patience and row["epoch"] - self.best["epoch"] >= self.patience:
            trainer.should_stop = True

    @classmethod
    def scored(cls, trainer: pl.Trainer) -> dict[str, float]:
        """This epoch's row (``epoch``, ``val_acc``, ``val_loss``, ``score``) as the fit's :class:`BestEpoch` scored
        it: the one score per epoch that early stopping and any later callback's hook (pruning) both read.
        ``fit`` puts its BestEpoch first, so its hook has run by then."""
        for c in trainer.callbacks:  # type: ignore[attr-defined]
            if isinstance(c, cls) and c.history and c.history[-1]["epoch"] == trainer.current_epoch:
                return c.history[-1]
        raise RuntimeError(f"no BestEpoch scored epoch {trainer.current_epoch}: a fit without validation?")

    def state_dict(self) -> dict[str, Any]:  # saved in a Lightning checkpoint: a resumed fit keeps its best epoch
        return {"history": self.history, "best": self.best, "best_state": self.best_state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history, self.best, self.best_state = state_dict["history"], state_dict["best"], state_dict["best_state"]


@dataclass
class FitResult:
    model: RNNClassifier  # holds the best epoch's weights
    best: dict[str, float]  # the best epoch's row: epoch, val_acc, val_loss, val_loss_t, score (train_loss if known)
    history: list[dict[str, float]]  # one row per epoch
    epochs_run: int
    seconds: float
    path: str  # fused | loop
    extra: dict[str, Any] = field(default_factory=dict)


def build_trainer(
    max_epochs: int, callbacks: Sequence[Callback] = (), quiet: bool = True, accelerator: str = "auto"
) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=max_epochs,
        accelerator=accelerator,
        devices=1,
        callbacks=list(callbacks),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=not quiet,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=False,
        # quiet fits (every search trial) skip Lightning's logging machinery: about 10% of a small RNN's fit;
        # the module hands its validation metrics to the callbacks itself (models.classifier.val_metrics)
        barebones=quiet,
    )


def fit(
    rnn: RNNConfig,
    train: TrainConfig,
    data: SequenceDataModule,
    metric: str = "val_acc",
    callbacks: Sequence[Callback] = (),
    quiet: bool = True,
    accelerator: str = "auto",
    model: RNNClassifier | None = None,
    track_group_gradients: bool = False,
    ckpt_path: str | None = None,
) -> FitResult:
    """Train one configuration on ``data``'s train part, validating each epoch; keep the best epoch.

    With an empty validation part (the final refit on the whole training split) it runs ``max_epochs``.
    ``ckpt_path``: a Lightning checkpoint of this same fit (saved at an epoch's end) to resume from: weights,
    optimizer, epoch counter and the callbacks' states (the best epoch so far) are restored.
    """
    pl.seed_everything(train.seed, workers=False, verbose=False)
    model = model or RNNClassifier(rnn, train, track_group_gradients=track_group_gradients)
    n_val = len(data.val_set)
    best = BestEpoch(metric, max(n_val, 1), train.patience, swa_start_epoch(train))
    cbs: list[Callback] = list(callbacks)
    if n_val:
        cbs.insert(0, best)
    trainer = build_trainer(train.max_epochs, cbs, quiet, accelerator)
    start = time.perf_counter()
    if n_val:
        trainer.fit(
            model, train_dataloaders=data.train_dataloader(), val_dataloaders=data.val_dataloader(), ckpt_path=ckpt_path
        )
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")
            trainer.fit(model, train_dataloaders=data.train_dataloader(), ckpt_path=ckpt_path)
    seconds = time.perf_counter() - start
    if best.best_state is not None:
        model.load_state_dict(best.best_state)  # with EMA / SWA on: the averaged weights that validation measured
    elif not n_val and model.averager is not None:  # no validation (the final refit): the weight average
        model.averager.finalize(model.net, ordered_batches(data.train_dataloader()))
    row = best.best or {"epoch": trainer.current_epoch - 1}
    return FitResult(model, row, best.history, trainer.current_epoch, seconds, model.path)


@torch.no_grad()
def evaluate(model: RNNClassifier, data: SequenceSet, batch_size: int = 256) -> dict[str, Any]:
    """Accuracy and cross-entropy of ``model`` on a (standardized) set, in eval mode (``loss`` the mean,
    ``median_loss`` the median sequence's); ``hits``: which sequences it classified right, in the set's order (a
    comparison of two models pairs them sequence by sequence)."""
    model.eval()
    device = next(model.parameters()).device
    hits, losses = [], []
    for x, lengths, y in make_loader(data, batch_size, shuffle=False):
        logits = model(x.to(device), lengths.to(device)).logits
        y = y.to(device)
        hits.append((logits.argmax(1) == y).cpu().numpy())
        losses.append(torch.nn.functional.cross_entropy(logits, y, reduction="none").double().cpu())
    n = max(len(data), 1)
    right = np.concatenate(hits) if hits else np.zeros(0, dtype=bool)
    each = torch.cat(losses) if losses else torch.zeros(0, dtype=torch.float64)
    median = float(typical_loss(each)) if len(each) else 0.0
    return {"acc": int(right.sum()) / n, "loss": float(each.sum()) / n, "median_loss": median, "hits": right}
