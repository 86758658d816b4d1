"""The thin LightningModule: loss = cross-entropy + penalties, optimizer groups, clipping, constraints."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from models.calibration import calibrated_loss
from models.config import PARAMETER_GROUPS, RNNConfig, TrainConfig, as_dict
from models.network import NetOutput, RNNClassifierNet
from models.regularizers import (
    Augment,
    WeightAverage,
    WeightPenalties,
    activity_penalty,
    apply_max_norm,
    ar_penalty,
    clip_gradients,
    decay_,
    ordered_batches,
    tar_penalty,
)

EXPLODING_LOSS = 1e6  # a loss beyond this (or NaN/Inf) ends the fit: the trial has diverged


def exploded(loss: float) -> bool:
    """Whether a loss says the fit diverged: NaN, infinite, or above :data:`EXPLODING_LOSS`."""
    return not math.isfinite(loss) or loss > EXPLODING_LOSS


def typical_loss(losses: torch.Tensor) -> torch.Tensor:
    """The median of per-sequence ``losses`` along the last dimension, a NaN counted as infinite: what divergence
    is judged by. One extreme input value (1e30) gave a sound model a mean loss of 1e26 (and one NaN made torch's
    median NaN); an exploded model's loss is huge on most sequences."""
    return torch.nan_to_num(losses, nan=math.inf).median(-1).values


def validation_divergence(median: float, epoch: int) -> str | None:
    """Why a fit diverged at validation (``median``: :func:`typical_loss` of its validation sequences, ``epoch``
    0-based), or None: the one rule and wording of lone fits (models.train.BestEpoch) and arrays alike."""
    return f"validation loss {median} (the median sequence's) at epoch {epoch + 1}" if exploded(median) else None


class DivergedError(RuntimeError):
    """Training produced a NaN/Inf or exploding loss or gradient; ``reason`` says which and when."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GradientLog:
    """Per-epoch gradient statistics, accumulated cheaply at each step (read by introspection)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.steps = 0
        self.clipped = 0
        self.norm_sum = 0.0
        self.norm_max = 0.0
        self.group_sums: dict[str, float] = {}

    def summary(self) -> dict[str, float]:
        n = max(self.steps, 1)
        out = {"grad_norm_mean": self.norm_sum / n, "grad_norm_max": self.norm_max, "clip_fraction": self.clipped / n}
        out.update({f"grad_norm_{k}": v / n for k, v in self.group_sums.items()})
        return out


class RNNClassifier(pl.LightningModule):
    def __init__(self, rnn: RNNConfig, train: TrainConfig, track_group_gradients: bool = False) -> None:
        super().__init__()
        self.rnn_cfg, self.train_cfg = rnn, train
        self.save_hyperparameters(as_dict(rnn, train))
        self.net = RNNClassifierNet(rnn)
        self.groups = self.net.parameter_groups()
        # kernel / recurrent / bias / head L1-L2, summed as one flat computation
        self.weight_penalties = WeightPenalties(
            (self.groups[role], l1, l2) for role, (l1, l2) in train.penalties.items()
        )
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=train.label_smoothing)
        self.augment = Augment.of(train, rnn.num_classes)  # data augmentation; None when all off
        self.averager = WeightAverage.of(self.net, train)  # EMA / SWA of the weights; None when both off
        self.track_group_gradients = track_group_gradients
        self.grad_log = GradientLog()
        self._loss_sum, self._loss_count = 0.0, 0  # this epoch's training loss, summed per sequence
        self._val_metrics: dict[str, float] | None = {}  # val_metrics once computed; None: not yet this epoch
        self._val_sums = torch.zeros(3)  # this validation epoch so far: loss sum, correct, count
        self._val_logits: list[tuple[torch.Tensor, torch.Tensor]] = []  # and its (logits, labels), for val_loss_t

    @property
    def path(self) -> str:
        return self.net.path

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> NetOutput:
        return self.net(x, lengths)

    # ------------------------------------------------------------------ loss
    def penalty(self, out: NetOutput) -> torch.Tensor | None:
        """Sum of every active loss penalty (None when all are off, so the loss is untouched)."""
        c = self.train_cfg
        terms = [self.weight_penalties(), activity_penalty(out.pooled, c.activity_l1, c.activity_l2)]
        if c.ar or c.tar:
            mask = (
                out.mask
                if out.mask is not None
                else torch.ones(out.sequence.shape[:2], dtype=torch.bool, device=self.device)
            )
            terms += [ar_penalty(out.sequence, mask, c.ar), tar_penalty(out.sequence, mask, c.tar)]
        active = [t for t in terms if t is not None]
        return sum(active[1:], active[0]) if active else None

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, lengths, y = batch
        target = y
        if self.augment is not None:  # mixup / cutmix make the target soft labels (B, K); smoothing still applies
            x, target = self.augment(x, lengths, y)
        out = self.net(x, lengths)
        loss = self.loss_fn(out.logits, target)
        extra = self.penalty(out)
        if extra is not None:
            loss = loss + extra
        value = float(loss.detach())
        if exploded(value):
            raise DivergedError(f"training loss {value} at epoch {self.current_epoch + 1}, step {batch_idx}")
        self._loss_sum += value * len(y)
        self._loss_count += len(y)
        return loss

    @property
    def epoch_train_loss(self) -> float | None:
        """The mean training loss (with penalties) over this epoch's steps so far; None before the first."""
        return self._loss_sum / self._loss_count if self._loss_count else None

    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._loss_count = 0.0, 0

    def on_train_epoch_end(self) -> None:
        if self._loss_count and self._logging:  # once per epoch, not per step: self.log costs about a small RNN's step
            self.log("train_loss", self._loss_sum / self._loss_count)

    @property
    def _logging(self) -> bool:
        """Whether ``self.log`` is allowed: not under a ``barebones`` trainer (the fast one :func:`fit` builds)."""
        return self._trainer is not None and not self._trainer.barebones

    def on_validation_epoch_start(self) -> None:
        if self.averager is not None:  # validation measures the averaged weights (and the best epoch keeps them)
            loader = self._trainer.train_dataloader if self._trainer is not None else None
            self.averager.swap_in(self.net, ordered_batches(loader))

    def on_validation_epoch_end(self) -> None:  # after the callbacks' (BestEpoch's snapshot): training resumes
        if self.averager is not None:
            self.averager.swap_out(self.net)

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        x, lengths, y = batch
        logits = self.net(x, lengths).logits
        # plain cross-entropy (no smoothing, no penalties): comparable across every configuration
        loss = nn.functional.cross_entropy(logits, y, reduction="sum")
        sums = torch.stack([loss, (logits.argmax(1) == y).sum().to(loss.dtype), loss.new_tensor(len(y))])
        self._val_sums = sums if batch_idx == 0 else self._val_sums + sums  # loss sum, correct, count
        if batch_idx == 0:
            self._val_logits = []
        self._val_logits.append((logits.detach(), y))
        self._val_metrics = None  # computed when read (the callbacks' epoch-end hooks), once per epoch
        if not self._logging:
            return
        last = self._last_val_batch()
        if batch_idx == last:
            # summed over the epoch and logged once (self.log costs about a small RNN's step per call); from the
            # last step, not on_validation_epoch_end, so that the callbacks' epoch-end hooks (which run first) see it
            self.log_dict(self.val_metrics, batch_size=int(self._val_sums[2]))
        elif last < 0:  # an unsized loader: log each batch's means, which Lightning averages by batch size
            self.log_dict({"val_loss": sums[0] / len(y), "val_acc": sums[1] / len(y)}, batch_size=len(y))

    @property
    def val_metrics(self) -> dict[str, float]:
        """The last validation epoch's ``val_loss``, ``val_acc``, ``val_loss_t`` (temperature-scaled,
        :mod:`models.calibration`) and ``val_loss_median`` (the median sequence's, which divergence is judged by),
        over the batches it has run; computed once when first read, so a loader of
        unknown length costs one calibration per epoch, not one per batch; ``{}`` before any validation."""
        if self._val_metrics is None:
            loss_sum, correct, count = self._val_sums.tolist()
            z, t = torch.cat([z for z, _ in self._val_logits]), torch.cat([t for _, t in self._val_logits])
            tie = calibrated_loss(z, t)
            median = typical_loss(nn.functional.cross_entropy(z, t, reduction="none"))
            self._val_metrics = {"val_loss": loss_sum / count, "val_acc": correct / count, "val_loss_t": float(tie),
                                 "val_loss_median": float(median)}  # fmt: skip
        return self._val_metrics

    def _last_val_batch(self) -> int:
        """Index of this validation epoch's last batch (first dataloader); -1 without a trainer or a loader's length."""
        trainer = self._trainer
        if trainer is None:
            return -1
        counts = trainer.num_sanity_val_batches if trainer.sanity_checking else trainer.num_val_batches
        return int(counts[0]) - 1 if counts and math.isfinite(counts[0]) else -1

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if isinstance(batch, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in batch):
            return tuple(t.to(device, non_blocking=True) for t in batch)  # the loaders' (x, lengths, y): no recursion
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    # ------------------------------------------------------------------ optimizer
    def configure_optimizers(self) -> torch.optim.Optimizer:
        c, g = self.train_cfg, self.groups
        decay = c.decays
        # one optimizer group per distinct decay (roles with equal decays share a group: fewer, larger groups
        # make the optimizer step cheaper; the update is the same)
        by_decay: dict[float, dict[str, Any]] = {}
        for name in PARAMETER_GROUPS:
            if g[name]:
                group = by_decay.setdefault(decay.get(name, 0.0), {"params": [], "names": []})
                group["params"] += g[name]
                group["names"].append(name)
        groups = [
            {"params": v["params"], "weight_decay": rate, "name": "+".join(v["names"])} for rate, v in by_decay.items()
        ]
        # the fused (single-kernel) implementations: on CPU the per-tensor Adam loop costs more than a small
        # RNN's whole backward pass
        fused = True if _fusable(self.parameters()) else None
        if c.optimizer == "adam":  # coupled: the decay enters the gradient (Adam + L2)
            return torch.optim.Adam(groups, lr=c.lr, fused=fused)
        if c.optimizer == "adamw":  # decoupled, natively
            return torch.optim.AdamW(groups, lr=c.lr, fused=fused)
        for group in groups:  # SGDW / RMSpropW: decoupled decay applied by on_before_optimizer_step
            group["decoupled_decay"] = group.pop("weight_decay")
        if c.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum, fused=fused)
        return torch.optim.RMSprop(groups, lr=c.lr, momentum=c.momentum)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        decay_(optimizer)

    def configure_gradient_clipping(
        self, optimizer: Any, gradient_clip_val: Any = None, gradient_clip_algorithm: Any = None
    ) -> None:
        c = self.train_cfg
        if not (self.track_group_gradients or c.clip_norm or c.clip_value):
            return  # nothing clips or reads the norm: measuring it costs ~7% of a small RNN's step
        total = self._log_group_gradients() if self.track_group_gradients else None
        norm, clipped = clip_gradients(list(self.parameters()), c.clip_norm, c.clip_value, total)
        if not math.isfinite(norm):
            raise DivergedError(f"gradient norm {norm} at epoch {self.current_epoch + 1}")
        log = self.grad_log
        log.steps += 1
        log.clipped += int(clipped)
        log.norm_sum += norm
        log.norm_max = max(log.norm_max, norm)

    def _log_group_gradients(self) -> float | None:
        """Each component's gradient norm, and the global norm (returned), from one fused norm over every tensor
        and a single host sync."""
        names, sizes, grads = [], [], []
        for name in PARAMETER_GROUPS:
            found = [p.grad for p in self.groups[name] if p.grad is not None]
            if found:
                names.append(name)
                sizes.append(len(found))
                grads += found
        if not grads:
            return None
        squares = torch.stack(torch._foreach_norm(grads)).pow(2)
        sums = torch.stack([part.sum() for part in squares.split(sizes)])
        *values, total = torch.cat([sums.sqrt(), sums.sum().sqrt().reshape(1)]).tolist()
        for name, value in zip(names, values):
            if name != "other":
                self.grad_log.group_sums[name] = self.grad_log.group_sums.get(name, 0.0) + value
        return float(total)

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        self.apply_constraints()
        if self.averager is not None:
            self.averager.update(self.net, self.current_epoch)

    def apply_constraints(self) -> None:
        for role, cap in self.train_cfg.max_norms.items():
            apply_max_norm(self.groups[role], cap)


def val_metrics(trainer: pl.Trainer, module: pl.LightningModule) -> dict[str, float]:
    """This validation epoch's ``val_loss``, ``val_acc`` and ``val_loss_t``: the module's own record, else the logged
    metrics."""
    own = getattr(module, "val_metrics", None)
    if own:
        return {"val_loss_t": own["val_loss"], **own}
    m = trainer.callback_metrics  # no logits here: the tie-break falls back to the raw loss
    return {"val_loss": float(m["val_loss"]), "val_acc": float(m["val_acc"]), "val_loss_t": float(m["val_loss"])}


def _fusable(params: Any) -> bool:
    """Whether the optimizers' fused kernels apply: floating-point parameters on CPU or CUDA."""
    return all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
