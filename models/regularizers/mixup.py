"""Mixup for sequences (Zhang et al. 2018): each sequence blended with a random partner, labels blended alike.

A partner of another length is first resampled in time to the sequence's own length (same first and last step), so
the blend never reads past either sequence's end and the mixed sequence keeps its length and zero padding.
"""

from __future__ import annotations

import torch

from models.regularizers.resample import stretch_to, valid_mask


def mix_coefficients(alpha: float, n: int, device: torch.device) -> torch.Tensor:
    """(n,) draws of Beta(alpha, alpha): each sequence's own share of the blend."""
    a = torch.full((n,), float(alpha), device=device)  # a fill on the device: no host-to-device copy
    return torch.distributions.Beta(a, a).sample()


def partners(x: torch.Tensor, lengths: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Sequence ``perm[i]`` resampled to sequence i's length, for every i."""
    return stretch_to(x[perm], lengths[perm], lengths)


def mixup(
    x: torch.Tensor, lengths: torch.Tensor, target: torch.Tensor, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``lam * x_i + (1 - lam) * x_perm[i]`` and the same blend of the soft labels ``target`` (B, K)."""
    lam = mix_coefficients(alpha, len(x), x.device).to(x.dtype)
    perm = torch.randperm(len(x), device=x.device)
    mixed = torch.lerp(partners(x, lengths, perm), x, lam.view(-1, 1, 1))
    mixed = torch.where(valid_mask(lengths, x.shape[1]).unsqueeze(-1), mixed, 0.0)
    return mixed, torch.lerp(target[perm], target, lam.unsqueeze(1))
