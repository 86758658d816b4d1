"""Batch norm or layer norm on an RNN layer's output sequence, blind to padding.

Batch statistics are taken over the valid (batch, time) positions only; padded steps pass through as zeros.
"""

from __future__ import annotations

import torch
from torch import nn


class SequenceNorm(nn.Module):
    def __init__(self, kind: str, features: int) -> None:
        super().__init__()
        self.kind = kind
        self.norm: nn.Module = nn.BatchNorm1d(features) if kind == "batch" else nn.LayerNorm(features)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if self.kind == "layer":
            return self.norm(x)
        if mask is None:  # every sequence has the full length
            b, t, f = x.shape
            return self.norm(x.reshape(b * t, f)).reshape(b, t, f)
        out = x.new_zeros(x.shape)
        out[mask] = self.norm(x[mask])
        return out
