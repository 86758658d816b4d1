"""Reading sequences at fractional time positions, within their valid steps only: the shared tool of the time-domain
augmentations (time warp, window slice, and the partner of mixup / cutmix) and of their smooth random curves."""

from __future__ import annotations

import torch

KNOTS = 4  # knots of every smooth random curve (Um et al. 2017 use 4): a few bumps over a sequence, not noise


def valid_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, steps) bool: True at each sequence's valid steps."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def sample_at(
    x: torch.Tensor, positions: torch.Tensor, lengths: torch.Tensor, out_lengths: torch.Tensor
) -> torch.Tensor:
    """``x`` (B, T, C) read at fractional ``positions`` (B, T') by linear interpolation between neighbouring steps.

    Positions are clamped to each sequence's valid span [0, length - 1], so nothing past a length is ever read;
    an integer position returns that step exactly. The output is zero at and past ``out_lengths``.
    """
    last = (lengths - 1).clamp(min=0).unsqueeze(1)
    pos = positions.clamp(min=0).minimum(last.to(positions.dtype))
    lo = pos.floor()
    weight = (pos - lo).unsqueeze(-1).to(x.dtype)
    lo_i = lo.long()
    hi_i = torch.minimum(lo_i + 1, last)
    channels = x.shape[-1]
    x_lo = x.gather(1, lo_i.unsqueeze(-1).expand(-1, -1, channels))
    x_hi = x.gather(1, hi_i.unsqueeze(-1).expand(-1, -1, channels))
    out = torch.lerp(x_lo, x_hi, weight)  # weight 0 returns x_lo exactly
    return out * valid_mask(out_lengths, positions.shape[1]).unsqueeze(-1).to(x.dtype)


def smooth_curve(knots: torch.Tensor, lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """A smooth curve (B, steps, C) through ``knots`` (B, K, C) spread evenly over each sequence's valid span.

    Between knots the curve follows a smoothstep (cubic Hermite with flat tangents at the knots): continuous with
    a continuous slope, so it bends gently rather than zig-zags. Past a sequence's length it holds its last knot.
    """
    k_count = knots.shape[1]
    span = (lengths - 1).clamp(min=1).unsqueeze(1).to(knots.dtype)
    t = torch.arange(steps, device=knots.device, dtype=knots.dtype).unsqueeze(0)
    u = (t / span).clamp(max=1.0) * (k_count - 1)
    k = u.floor().clamp(max=k_count - 2).long()
    frac = (u - k).unsqueeze(-1)
    ease = frac * frac * (3 - 2 * frac)
    channels = knots.shape[-1]
    v0 = knots.gather(1, k.unsqueeze(-1).expand(-1, -1, channels))
    v1 = knots.gather(1, (k + 1).unsqueeze(-1).expand(-1, -1, channels))
    return v0 + (v1 - v0) * ease


def stretch_to(x: torch.Tensor, lengths: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Each sequence of ``x`` resampled in time from its own length to ``target`` steps (same first and last step);
    equal lengths return the sequence exactly."""
    t = torch.arange(x.shape[1], device=x.device, dtype=torch.float32).unsqueeze(0)
    ratio = (lengths - 1).to(torch.float32) / (target - 1).clamp(min=1).to(torch.float32)
    return sample_at(x, t * ratio.unsqueeze(1), lengths, target)
