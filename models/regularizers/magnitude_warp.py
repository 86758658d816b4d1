"""Magnitude warping: each channel multiplied by a smooth random curve around 1 (Um et al. 2017)."""

from __future__ import annotations

import torch

from models.regularizers.resample import KNOTS, smooth_curve


def magnitude_warp(x: torch.Tensor, lengths: torch.Tensor, std: float) -> torch.Tensor:
    """``x`` (B, T, C) times a smooth curve through ``KNOTS`` knots ~ N(1, std^2) per sequence and channel,
    the knots spread over each sequence's own valid length."""
    if std == 0.0:
        return x
    knots = 1.0 + std * torch.randn(x.shape[0], KNOTS, x.shape[2], device=x.device, dtype=x.dtype)
    return x * smooth_curve(knots, lengths, x.shape[1])
