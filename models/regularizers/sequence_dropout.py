"""Dropout on a (batch, time, features) sequence: elementwise, or variational (one mask per sequence)."""

from __future__ import annotations

import torch
from torch import nn


class SequenceDropout(nn.Module):
    """Input / between-layer dropout for sequences.

    ``variational=True`` draws one Bernoulli mask per sequence and feature and shares it over every time step
    (Gal & Ghahramani 2016, the "locked dropout" of AWD-LSTM). ``p=0`` and eval mode return the input itself.
    """

    def __init__(self, p: float, variational: bool = False) -> None:
        super().__init__()
        self.p = float(p)
        self.variational = variational

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if not self.variational:
            return nn.functional.dropout(x, self.p, training=True)
        mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1.0 - self.p).div_(1.0 - self.p)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}, variational={self.variational}"
