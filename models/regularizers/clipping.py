"""Gradient clipping by value, then by global norm (Pascanu et al. 2013)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def clip_gradients(params: Sequence[torch.Tensor], clip_norm: float, clip_value: float) -> tuple[float, bool]:
    """Clip in place; return the global gradient norm *before* clipping and whether clipping cut anything."""
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return 0.0, False
    clipped = False
    if clip_value > 0:
        max_abs = max(float(p.grad.abs().max()) for p in grads)  # type: ignore[union-attr]
        clipped = max_abs > clip_value
        torch.nn.utils.clip_grad_value_(grads, clip_value)
    if clip_norm > 0:
        total = float(torch.nn.utils.clip_grad_norm_(grads, clip_norm))
        clipped = clipped or total > clip_norm
    else:
        total = float(torch.nn.utils.get_total_norm([p.grad for p in grads]))  # type: ignore[misc]
    return total, clipped
