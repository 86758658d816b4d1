"""Variational recurrent dropout (Gal & Ghahramani 2016) on the hidden state fed back into the recurrence.

``sequence`` mode: one mask per sequence, identical at every time step (needs the per-step loop).
``batch`` mode: one mask per mini-batch, shared by all its sequences; it equals dropping columns of the
hidden-to-hidden matrices (:func:`models.regularizers.weight_drop.drop_columns`), so it runs fused.
"""

from __future__ import annotations

import torch


def recurrent_mask(batch: int, hidden: int, p: float, like: torch.Tensor) -> torch.Tensor:
    """A (batch, hidden) keep-mask scaled by 1/(1-p); ``batch=1`` gives the per-mini-batch mask."""
    return like.new_empty(batch, hidden).bernoulli_(1.0 - p).div_(1.0 - p)
