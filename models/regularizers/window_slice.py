"""Window slicing: a random window of each sequence, stretched back to its full length (Le Guennec et al. 2016)."""

from __future__ import annotations

import torch

from models.regularizers.resample import sample_at


def slice_positions(lengths: torch.Tensor, steps: int, rate: float) -> torch.Tensor:
    """(B, steps) read positions of a window covering ``1 - rate`` of each valid span, at a uniform random start."""
    span = (lengths - 1).clamp(min=0).to(torch.float32)
    start = torch.rand(len(lengths), device=lengths.device) * span * rate
    t = torch.arange(steps, device=lengths.device, dtype=torch.float32)
    return start.unsqueeze(1) + t.unsqueeze(0) * (1.0 - rate)


def window_slice(x: torch.Tensor, lengths: torch.Tensor, rate: float) -> torch.Tensor:
    """``x`` (B, T, C) with ``rate`` of each sequence cropped away and the rest stretched back: same lengths."""
    if rate == 0.0:
        return x
    return sample_at(x, slice_positions(lengths, x.shape[1], rate), lengths, lengths)
