"""Scaling: each sequence's channels multiplied by a random factor around 1 (Um et al. 2017), in training only."""

from __future__ import annotations

import torch


def scale(x: torch.Tensor, std: float) -> torch.Tensor:
    """``x`` (B, T, C) times one factor ~ N(1, std^2) per sequence and channel, held over all its steps."""
    if std == 0.0:
        return x
    factor = 1.0 + std * torch.randn(x.shape[0], 1, x.shape[2], device=x.device, dtype=x.dtype)
    return x * factor
