"""Additive Gaussian input noise, in training only."""

from __future__ import annotations

import torch
from torch import nn


class GaussianNoise(nn.Module):
    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.std == 0.0:
            return x
        return x + torch.randn_like(x) * self.std

    def extra_repr(self) -> str:
        return f"std={self.std}"
