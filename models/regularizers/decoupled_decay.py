"""Decoupled weight decay (Loshchilov & Hutter): ``w <- w - lr * decay * w``, outside the gradient.

AdamW does this natively; for SGD (SGDW) and RMSprop the classifier calls :func:`decay_` once per step,
before the optimizer's update, exactly where AdamW applies it.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def decay_(optimizer: torch.optim.Optimizer) -> None:
    for group in optimizer.param_groups:
        rate = group.get("decoupled_decay", 0.0)
        if rate:
            for p in group["params"]:
                p.mul_(1.0 - group["lr"] * rate)
