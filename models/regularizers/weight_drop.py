"""Weight drop (DropConnect on hidden-to-hidden weights, Merity et al. 2017) and its structured twin.

Both produce a *new* tensor from the raw parameter on every training forward; the parameter itself is never
overwritten, so nothing dropped persists into eval mode, the state dict or the optimizer (the classic
AWD-LSTM trap). The fused kernel then runs on the dropped weights (see ``models/network.py``).
"""

from __future__ import annotations

import torch
from torch import nn


def drop_weight(weight: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """DropConnect: zero each entry of ``weight`` with probability ``p``, rescale the rest by 1/(1-p)."""
    if not training or p == 0.0:
        return weight
    return nn.functional.dropout(weight, p, training=True)


def drop_columns(weight: torch.Tensor, column_mask: torch.Tensor) -> torch.Tensor:
    """Multiply column j of every gate block of ``weight`` (gates*H x H) by ``column_mask[j]``.

    ``W_hh @ (m * h) == (W_hh * m) @ h``: recurrent dropout with one mask per mini-batch is a structured
    weight drop, which keeps the fused kernel.
    """
    return weight * column_mask.unsqueeze(0)
