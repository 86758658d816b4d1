"""CutMix for sequences (Yun et al. 2019): a random time segment replaced by a partner's; labels mixed by the
segment's share of the sequence's valid length."""

from __future__ import annotations

import torch

from models.regularizers.mixup import mix_coefficients, partners
from models.regularizers.resample import valid_mask


def cut_segments(lengths: torch.Tensor, steps: int, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, steps) bool segment (``round((1 - lam) * length)`` steps, lam ~ Beta(alpha, alpha), at a uniform start
    inside the valid span) and (B,) its share of the length: the partner's label weight."""
    lam = mix_coefficients(alpha, len(lengths), lengths.device)
    size = ((1.0 - lam) * lengths).round().long().clamp(min=0).minimum(lengths)
    start = (torch.rand(len(lengths), device=lengths.device) * (lengths - size + 1)).floor().long()
    start = start.minimum(lengths - size)
    t = torch.arange(steps, device=lengths.device).unsqueeze(0)
    inside = (t >= start.unsqueeze(1)) & (t < (start + size).unsqueeze(1))
    return inside, size.to(torch.float32) / lengths.clamp(min=1).to(torch.float32)


def cutmix(
    x: torch.Tensor, lengths: torch.Tensor, target: torch.Tensor, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` with one segment per sequence taken from a random partner; soft labels ``target`` (B, K) mixed by
    the segment's share of the valid length."""
    inside, share = cut_segments(lengths, x.shape[1], alpha)
    perm = torch.randperm(len(x), device=x.device)
    mixed = torch.where(inside.unsqueeze(-1), partners(x, lengths, perm), x)
    mixed = torch.where(valid_mask(lengths, x.shape[1]).unsqueeze(-1), mixed, 0.0)
    return mixed, torch.lerp(target, target[perm], share.to(target.dtype).unsqueeze(1))
