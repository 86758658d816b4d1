"""Batch norm or layer norm on an RNN layer's output sequence, blind to padding.

Batch statistics are taken over the valid (batch, time) positions only; padded steps pass through as zeros.
A training batch with a single valid position (one sequence of one step, say: the last, partial batch of an
epoch on length-1 data) has no batch statistics; it is normalized with the running ones, left unchanged, as in
eval mode (``nn.BatchNorm1d`` would raise "Expected more than 1 value per channel"). So does a chunk of SWA's
BatchNorm recompute with one valid position (it adds nothing to the recomputed statistics).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


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
            return self._batch(x.reshape(b * t, f)).reshape(b, t, f)
        out = x.new_zeros(x.shape)
        out[mask] = self._batch(x[mask])
        return out

    def _batch(self, flat: torch.Tensor) -> torch.Tensor:
        """BatchNorm of (positions, features); the running statistics, not updated, for a lone position."""
        n = self.norm  # its own mode, not the wrapper's: SWA's recompute trains the BatchNorm alone in an eval net
        if n.training and flat.shape[0] < 2:
            assert isinstance(n, nn.BatchNorm1d)
            return F.batch_norm(flat, n.running_mean, n.running_var, n.weight, n.bias, False, 0.0, n.eps)
        return n(flat)
