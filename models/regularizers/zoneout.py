"""Zoneout (Krueger et al. 2016): each unit keeps its previous state with probability ``rate``.

In training a fresh Bernoulli mask per step and unit picks old or new state; in eval the expectation
``rate * old + (1 - rate) * new`` is used, as in the paper. ``rate=0`` returns ``new`` unchanged.
"""

from __future__ import annotations

import torch


def zoneout(old: torch.Tensor, new: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    if rate == 0.0:
        return new
    if not training:
        return torch.lerp(new, old, rate)
    keep = torch.empty_like(new).bernoulli_(rate)
    return torch.lerp(new, old, keep)
