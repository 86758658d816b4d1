"""Data augmentation of a training batch, in a fixed order: scaling, magnitude warp, time warp, window slice, then
mixup / cutmix. Lengths never change and padding comes out zero.

Every draw comes from torch's global generator on the batch's device, which ``fit`` seeds from ``seed`` and the
trial checkpoints save and restore: runs are reproducible and a resumed fit draws what an uninterrupted one would.
Off (every strength 0) there is no :class:`Augment` at all, so the training step is untouched; in eval mode
(``model.eval()``) it returns its inputs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.config import AUGMENTATION_NAMES
from models.regularizers.cutmix import cutmix
from models.regularizers.magnitude_warp import magnitude_warp
from models.regularizers.mixup import mixup
from models.regularizers.resample import valid_mask
from models.regularizers.scaling import scale
from models.regularizers.time_warp import time_warp
from models.regularizers.window_slice import window_slice

__all__ = ["AUGMENTATION_NAMES", "Augment"]  # the names: TrainConfig's fields of group "augmentation"


class Augment(nn.Module):
    """Augments ``(x, lengths, y)`` and returns ``(x, target)``: ``y`` itself, or soft labels (B, K) when mixup or
    cutmix is on. With both on, each sequence gets one of the two (a fair coin per sequence)."""

    def __init__(self, num_classes: int, **strengths: float) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.scaling, self.magnitude_warp, self.time_warp, self.window_slice, self.mixup, self.cutmix = (
            float(strengths.get(name, 0.0)) for name in AUGMENTATION_NAMES
        )

    @classmethod
    def of(cls, cfg: Any, num_classes: int) -> Augment | None:
        """The augmentation a training config asks for; None when every strength is 0."""
        strengths = {name: getattr(cfg, name) for name in AUGMENTATION_NAMES}
        return cls(num_classes, **strengths) if any(strengths.values()) else None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.training:
            return x, y
        lengths = lengths.to(x.device)
        x = torch.where(valid_mask(lengths, x.shape[1]).unsqueeze(-1), x, 0.0)  # zero padding, whatever was there
        x = scale(x, self.scaling)
        x = magnitude_warp(x, lengths, self.magnitude_warp)
        x = time_warp(x, lengths, self.time_warp)
        x = window_slice(x, lengths, self.window_slice)
        if not (self.mixup or self.cutmix):
            return x, y
        target = nn.functional.one_hot(y, self.num_classes).to(x.dtype)
        if not self.cutmix:
            return mixup(x, lengths, target, self.mixup)
        if not self.mixup:
            return cutmix(x, lengths, target, self.cutmix)
        x_mix, t_mix = mixup(x, lengths, target, self.mixup)
        x_cut, t_cut = cutmix(x, lengths, target, self.cutmix)
        coin = torch.rand(len(x), device=x.device) < 0.5
        return torch.where(coin.view(-1, 1, 1), x_mix, x_cut), torch.where(coin.unsqueeze(1), t_mix, t_cut)

    def extra_repr(self) -> str:
        return ", ".join(f"{n}={getattr(self, n)}" for n in AUGMENTATION_NAMES if getattr(self, n))
