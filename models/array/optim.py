"""The members' optimizer and gradient rules on the stacked rows (K, N): per member lr, decays, clipping.

:class:`StackedAdam` is ``torch.optim.Adam`` / ``AdamW`` (defaults: betas 0.9/0.999, eps 1e-8) with a learning
rate per member and a weight decay per member and role (kernel / recurrent / head, as
``RNNClassifier.configure_optimizers`` groups them): coupled (Adam: the decay enters the gradient) or decoupled
(AdamW: ``w <- w * (1 - lr * decay)`` before the update), member by member. :func:`clip_rows` is
:func:`models.regularizers.clip_gradients` per row (by value, then by global norm), :func:`max_norm_rows`
:func:`models.regularizers.apply_max_norm` per member.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from models.config import TrainConfig
from models.regularizers.max_norm import EPSILON

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


class StackedAdam:
    def __init__(self, trains: Sequence[TrainConfig], role_vector: object, flat: torch.Tensor) -> None:
        rv = role_vector  # StackedNet.role_vector
        dev, dt = flat.device, flat.dtype
        self.lr = torch.tensor([[t.lr] for t in trains], dtype=torch.float64)
        coupled = [t.decays if t.optimizer == "adam" else {} for t in trains]
        decoupled = [t.decays if t.optimizer == "adamw" else {} for t in trains]
        self.coupled = rv(coupled) if any(any(d.values()) for d in coupled) else None  # type: ignore[operator]
        self.factor = None  # 1 - lr * decay, per entry (decoupled)
        if any(any(d.values()) for d in decoupled):
            self.factor = (1 - self.lr.to(dev) * rv(decoupled).double()).to(dt)  # type: ignore[operator]
        self.lr = self.lr.to(dev, dt)
        self.exp_avg = torch.zeros_like(flat)
        self.exp_avg_sq = torch.zeros_like(flat)
        self.steps = 0

    @torch.no_grad()
    def step(self, flat: torch.Tensor, grad: torch.Tensor) -> None:
        self.steps += 1
        if self.coupled is not None:
            grad = grad.addcmul(self.coupled, flat)
        if self.factor is not None:
            flat.mul_(self.factor)
        self.exp_avg.lerp_(grad, 1 - BETA1)
        self.exp_avg_sq.mul_(BETA2).addcmul_(grad, grad, value=1 - BETA2)
        bc1 = 1 - BETA1**self.steps
        bc2_sqrt = (1 - BETA2**self.steps) ** 0.5
        denom = (self.exp_avg_sq.sqrt() / bc2_sqrt).add_(EPS)
        flat.sub_(self.exp_avg * (self.lr / bc1) / denom)

    def keep(self, index: torch.Tensor) -> None:
        self.lr = self.lr[index]
        self.coupled = None if self.coupled is None else self.coupled[index]
        self.factor = None if self.factor is None else self.factor[index]
        self.exp_avg, self.exp_avg_sq = self.exp_avg[index], self.exp_avg_sq[index]

    def member_state(self, k: int) -> dict[str, object]:
        return {
            "exp_avg": self.exp_avg[k].clone().cpu(),
            "exp_avg_sq": self.exp_avg_sq[k].clone().cpu(),
            "steps": self.steps,
        }

    def load_member(self, k: int, state: dict[str, object]) -> None:
        self.exp_avg[k] = state["exp_avg"].to(self.exp_avg.device)  # type: ignore[attr-defined]
        self.exp_avg_sq[k] = state["exp_avg_sq"].to(self.exp_avg.device)  # type: ignore[attr-defined]
        self.steps = int(state["steps"])  # type: ignore[call-overload]


class Clipping:
    """Per-member clip_value / clip_norm on the rows' gradients (None when no member clips)."""

    def __init__(self, trains: Sequence[TrainConfig], device: torch.device) -> None:
        self.on = torch.tensor([bool(t.clip_norm or t.clip_value) for t in trains], device=device)
        self.cut = torch.zeros_like(self.on)  # which rows the last call clipped
        inf = float("inf")
        self.value = torch.tensor([[t.clip_value or inf] for t in trains], device=device)
        self.norm = torch.tensor([t.clip_norm for t in trains], device=device)
        self.any_value = any(t.clip_value for t in trains)
        self.any_norm = any(t.clip_norm for t in trains)

    @property
    def active(self) -> bool:
        return self.any_value or self.any_norm

    @torch.no_grad()
    def __call__(self, grad: torch.Tensor) -> torch.Tensor:
        """Clip in place; return each row's gradient norm before clipping (K,). ``self.cut`` (K,) says which rows
        clipping cut (by value or by norm)."""
        total = torch.linalg.vector_norm(grad, dim=1)
        norm = total
        self.cut = torch.zeros_like(self.on)
        if self.any_value:
            self.cut = (grad.abs() > self.value).any(1)
            torch.clamp(grad, -self.value, self.value, out=grad)
            norm = torch.linalg.vector_norm(grad, dim=1)
        if self.any_norm:
            cut = (self.norm > 0) & (norm > self.norm)
            self.cut = self.cut | cut
            grad.mul_(torch.where(cut, self.norm / (norm + 1e-6), torch.ones_like(norm)).unsqueeze(1))
        return total

    def keep(self, index: torch.Tensor) -> None:
        self.on, self.value, self.norm = self.on[index], self.value[index], self.norm[index]


@torch.no_grad()
def max_norm_rows(views: dict[str, torch.Tensor], roles: dict[str, str], caps: dict[str, torch.Tensor]) -> None:
    """Keras MaxNorm per member: ``caps[role]`` (K,) the cap (0 = that member has none) on each unit's incoming
    norm of the role's parameters (``views``: (K, *shape) views of the rows, written in place)."""
    for name, w in views.items():
        cap = caps.get(roles[name])
        if cap is None:
            continue
        norms = w.norm(dim=2) if w.dim() > 2 else w.abs()  # (K, units)
        c = cap.unsqueeze(1)
        scale = torch.where(c > 0, norms.clamp(max=c) / (EPSILON + norms), torch.ones_like(norms))
        w.mul_(scale.unsqueeze(-1) if w.dim() > 2 else scale)
