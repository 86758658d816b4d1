"""Time warping: a smooth, monotone random distortion of the time axis that keeps both ends (Um et al. 2017)."""

from __future__ import annotations

import torch

from models.regularizers.resample import KNOTS, sample_at, smooth_curve

#: the largest log-speed of a warp's knots (e^30 ~ 1e13: its running integral over any length stays finite in float32)
MAX_LOG_SPEED = 30.0
#: the smallest, after the shift (e^-60 ~ 1e-26: no knot underflows to 0 in float32, so a sequence keeps its span)
MIN_LOG_SPEED = -2 * MAX_LOG_SPEED


def warp_positions(lengths: torch.Tensor, steps: int, strength: float) -> torch.Tensor:
    """(B, steps) read positions: step t of the warped sequence reads the original at ``positions[:, t]``.

    The local speed is a smooth curve through ``KNOTS`` log-normal knots ``exp(strength * N(0, 1))`` (always > 0,
    so the warp is strictly increasing); its running integral, rescaled to the valid span, maps 0 to 0 and
    length - 1 to length - 1.
    """
    log_speed = strength * torch.randn(len(lengths), KNOTS, 1, device=lengths.device)
    # only the speeds' ratios matter (the integral is rescaled to the span): a sequence whose largest log-speed is
    # outside +-MAX_LOG_SPEED is shifted to it, so that no speed or running integral overflows float32 (a strength
    # of 22 gave NaN positions and an index error) nor every speed underflows to 0; within it (any usual strength)
    # nothing changes; a knot more than 90 below the top is raised to MIN_LOG_SPEED (at a strength of 30 or more,
    # a length-2 sequence's two knots both underflowed to 0, and it read [x0, x0])
    top = log_speed.amax(1, keepdim=True)
    shift = top - top.clamp(-MAX_LOG_SPEED, MAX_LOG_SPEED)
    knots = torch.exp((log_speed - shift).clamp(min=MIN_LOG_SPEED))
    speed = smooth_curve(knots, lengths, steps)[..., 0]
    elapsed = torch.cat([speed.new_zeros(len(lengths), 1), ((speed[:, 1:] + speed[:, :-1]) / 2).cumsum(1)], 1)
    last = (lengths - 1).clamp(min=0).unsqueeze(1)
    total = elapsed.gather(1, last)
    safe = torch.where(total > 0, total, torch.ones_like(total))  # length 1: no span, position 0
    return elapsed / safe * last.to(speed.dtype)  # total / total is exactly 1: the last step maps onto itself


def time_warp(x: torch.Tensor, lengths: torch.Tensor, strength: float) -> torch.Tensor:
    """``x`` (B, T, C) resampled along a random smooth monotone warp of each sequence's valid span."""
    if strength == 0.0:
        return x
    return sample_at(x, warp_positions(lengths, x.shape[1], strength), lengths, lengths)
