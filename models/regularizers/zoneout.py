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


def zoneout_keep(
    steps: int, batch: int, hidden: int, rate: float, training: bool, like: torch.Tensor
) -> torch.Tensor | float | None:
    """The keep decisions of a whole sequence, for a loop that zones out each step with ``lerp(new, old, keep)``.

    Training: (steps, batch, hidden) Bernoulli(``rate``) masks, fresh at every step; eval: the rate itself (the
    expectation); ``rate=0``: None (off).
    """
    if rate == 0.0:
        return None
    if not training:
        return float(rate)
    return like.new_empty(steps, batch, hidden).bernoulli_(rate)
