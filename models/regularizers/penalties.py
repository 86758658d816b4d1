"""Loss penalties: L1/L2 on weight groups, activity L1/L2 (Keras), AR and TAR (Merity et al. 2017)."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def weight_penalty(params: Iterable[torch.Tensor], l1: float, l2: float) -> torch.Tensor | None:
    """``l1 * sum|w| + l2 * sum w^2`` over the given tensors (Keras' L1L2 regularizer); None when both 0."""
    if l1 == 0.0 and l2 == 0.0:
        return None
    total: torch.Tensor | None = None
    for w in params:
        term = 0.0
        if l1:
            term = term + l1 * w.abs().sum()
        if l2:
            term = term + l2 * w.pow(2).sum()
        total = term if total is None else total + term  # type: ignore[assignment]
    return total


def activity_penalty(pooled: torch.Tensor, l1: float, l2: float) -> torch.Tensor | None:
    """Keras ``activity_regularizer`` on the pooled RNN output, divided by the batch size as Keras does."""
    if l1 == 0.0 and l2 == 0.0:
        return None
    term = pooled.new_zeros(())
    if l1:
        term = term + l1 * pooled.abs().sum()
    if l2:
        term = term + l2 * pooled.pow(2).sum()
    return term / pooled.shape[0]


def ar_penalty(outputs: torch.Tensor, mask: torch.Tensor, ar: float) -> torch.Tensor | None:
    """AR: ``ar * mean(h_t^2)`` over the valid steps and units of the last RNN layer's outputs."""
    if ar == 0.0:
        return None
    m = mask.unsqueeze(-1).to(outputs.dtype)
    return ar * (outputs.pow(2) * m).sum() / (m.sum() * outputs.shape[-1]).clamp(min=1)


def tar_penalty(outputs: torch.Tensor, mask: torch.Tensor, tar: float) -> torch.Tensor | None:
    """TAR: ``tar * mean((h_t - h_{t-1})^2)`` over pairs of consecutive valid steps."""
    if tar == 0.0 or outputs.shape[1] < 2:
        return None
    pair = (mask[:, 1:] & mask[:, :-1]).unsqueeze(-1).to(outputs.dtype)
    diff = (outputs[:, 1:] - outputs[:, :-1]).pow(2) * pair
    return tar * diff.sum() / (pair.sum() * outputs.shape[-1]).clamp(min=1)
