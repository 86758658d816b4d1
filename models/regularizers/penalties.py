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
        term: torch.Tensor | float = 0.0
        if l1:
            term = term + l1 * w.abs().sum()
        if l2:
            term = term + l2 * w.pow(2).sum()
        total = term if total is None else total + term  # type: ignore[assignment]  # a tensor: l1 or l2 > 0
    return total


class WeightPenalties:
    """The L1/L2 penalties of several parameter groups (``(params, l1, l2)``) as one flat computation.

    Equal to the sum of :func:`weight_penalty` over the groups, in a handful of ops per step however many
    tensors and coefficients there are (one ``cat``, one ``dot`` per order) instead of several per tensor: on
    CPU a small RNN's step is made of op overheads. The per-element coefficients are built once per device.
    """

    def __init__(self, groups: Iterable[tuple[Iterable[torch.Tensor], float, float]]) -> None:
        self.params: list[torch.Tensor] = []
        self.coefficients: list[tuple[int, float, float]] = []  # (numel, l1, l2) per tensor
        for params, l1, l2 in groups:
            if l1 or l2:
                for w in params:
                    self.params.append(w)
                    self.coefficients.append((w.numel(), float(l1), float(l2)))
        self._vectors: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor | None, torch.Tensor | None]] = {}

    def _coefficient_vectors(self, like: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        key = (like.device, like.dtype)
        if key not in self._vectors:
            vectors: list[torch.Tensor | None] = []
            for k in (1, 2):
                values = [c[k] for c in self.coefficients]
                if not any(values):
                    vectors.append(None)
                    continue
                sizes = torch.tensor([c[0] for c in self.coefficients])
                vectors.append(torch.tensor(values, dtype=like.dtype).repeat_interleave(sizes).to(like.device))
            self._vectors[key] = (vectors[0], vectors[1])
        return self._vectors[key]

    def __call__(self) -> torch.Tensor | None:
        if not self.params:
            return None
        flat = torch.cat([w.reshape(-1) for w in self.params])
        l1, l2 = self._coefficient_vectors(flat)
        total = None if l1 is None else torch.dot(l1, flat.abs())
        if l2 is not None:
            square = torch.dot(l2 * flat, flat)
            total = square if total is None else total + square
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
