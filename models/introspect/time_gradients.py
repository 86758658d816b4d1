"""The gradient of the loss over time steps: does it reach a sequence's earliest steps, or vanish on the way?

:func:`time_gradients` runs the network in eval mode (no dropout) on a fixed labelled batch, takes the summed
cross-entropy and the gradient of it with respect to what each recurrent layer reads at each step (for the first
layer, the data after the Conv1D front end; for a deeper one, the previous layer's normalized output), and
measures its L2 norm per (sequence, valid step). Vanishing gradients (Bengio et al. 1994; Pascanu et al. 2013) show
as the earliest steps getting ~zero gradient: the loss then barely depends on them, and training cannot teach the
network to use them. The gradient is taken with :func:`torch.autograd.grad` on the layers' inputs alone, so no
parameter's ``.grad`` is touched (a record between two training steps must not add to the next step's).

Sequences are compared by their own relative position: each sequence's valid steps are cut into ``TENTHS`` equal
parts by position, and each part's mean gradient norm is divided by the sequence's mean over all its steps (1.0:
the part gets its share; 0.01: a hundredth of it). A sequence whose gradient is zero everywhere (a confident,
saturated prediction) says nothing about where the gradient goes and is left out.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from models.introspect.layout import device_of

TENTHS = 10  # each sequence's valid steps are cut into this many parts by relative position


def time_gradients(net: nn.Module, x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """The gradient of the cross-entropy of ``net`` (an :class:`~models.network.RNNClassifierNet`) on ``x`` (B, T,
    C), ``lengths`` (B,), labels ``y`` (B,) with respect to each recurrent layer's input, per step, in eval mode.

    Per layer ``L<i>`` (its input: the data after the front end for ``L0``, the previous layer's output above):

    - ``L<i>.tgrad.p<k>`` for k = 0..``TENTHS``-1: the mean over sequences of the gradient norm in the k-th tenth
      of the sequence's valid steps (by position in the data's order, whatever the direction) relative to the
      sequence's mean (1.0: its share). A sequence shorter than ``TENTHS`` steps counts in the parts its steps
      fall in only;
    - ``L<i>.tgrad.least``: the smallest of those, the tenth the gradient reaches least (a bidirectional network's
      middle, a forward one's start);
    - ``L<i>.tgrad.early``: the median over sequences of (mean norm in the first tenth) / (mean norm in the last
      tenth), at least one step each: below 0.01 the earliest steps get a hundredth of the latest steps' gradient.
      A sequence whose last tenth gets no gradient at all (max pooling can read only earlier steps) has no ratio
      and is left out of the median (absent when no sequence has one: it read 1.8e296, a zero divided by 1e-300);
    - ``L<i>.tgrad.sequences``: how many sequences had a non-zero gradient (the rest are left out);
    - ``L<i>.tgrad.nonfinite``: non-finite gradient entries at valid steps (1.0 or more: the numbers are left out).

    Aggregated: ``tgrad.least``, ``tgrad.early``, ``tgrad.p<k>`` and ``tgrad.sequences`` of ``L0`` (where the data
    enters) and ``tgrad.nonfinite`` summed over layers. A tenth no sequence reaches (every sequence shorter than
    ``TENTHS`` steps) is absent.
    """
    if y.shape[0] != x.shape[0] or lengths.shape[0] != x.shape[0]:
        raise ValueError(
            f"x, lengths and y must hold the same sequences: {x.shape[0]}, {lengths.shape[0]}, {y.shape[0]}"
        )
    was_training = net.training
    if was_training:
        net.eval()
    device = device_of(net)
    inputs: list[tuple[torch.Tensor, torch.Tensor]] = []  # per layer: what it read and the lengths it read them with

    def keep(_layer: nn.Module, args: tuple[Any, ...]) -> None:
        inputs.append((args[0], args[1]))

    layers: Any = net.layers
    handles = [layer.register_forward_pre_hook(keep) for layer in layers]
    try:
        # cuDNN's RNN backward runs in training mode only; the native kernels take the same gradient in eval mode
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            data = x.to(device=device, dtype=torch.float32).requires_grad_(True)
            out = net(data, lengths.to(device))
            loss = F.cross_entropy(out.logits, y.to(device=device, dtype=torch.long), reduction="sum")
            grads = torch.autograd.grad(loss, [t for t, _ in inputs], allow_unused=True)
    finally:
        for handle in handles:
            handle.remove()
        if was_training:
            net.train()
    stats: dict[str, float] = {}
    nonfinite = 0.0
    for i, ((seq, steps_of), grad) in enumerate(zip(inputs, grads)):
        g = torch.zeros(seq.shape[:2], device=seq.device) if grad is None else grad.detach().norm(dim=-1)
        layer_stats, curve = _relative(g.double().cpu(), steps_of.cpu())
        layer_stats["tgrad.nonfinite"] = 0.0 if grad is None else _nonfinite_entries(grad.detach(), steps_of)
        stats.update({f"L{i}.{k}": v for k, v in layer_stats.items()})
        nonfinite += layer_stats["tgrad.nonfinite"]
        stats.update({f"L{i}.tgrad.p{k}": v for k, v in enumerate(curve)})
    for k, v in list(stats.items()):
        if k.startswith("L0.tgrad.") and k != "L0.tgrad.nonfinite":
            stats[k[3:]] = v
    stats["tgrad.nonfinite"] = nonfinite
    return {k: v for k, v in stats.items() if math.isfinite(v)}


def _nonfinite_entries(grad: torch.Tensor, lengths: torch.Tensor) -> float:
    """Non-finite entries of ``grad`` (B, T, F) at each sequence's valid steps, as the other ``*.nonfinite`` keys
    count entries."""
    valid = torch.arange(grad.shape[1], device=grad.device)[None, :] < lengths.to(grad.device)[:, None]
    return float((~torch.isfinite(grad[valid])).sum())


def _relative(norms: torch.Tensor, lengths: torch.Tensor) -> tuple[dict[str, float], list[float]]:
    """Per-sequence relative gradient by tenth of its valid steps, averaged (see :func:`time_gradients`)."""
    sums = [0.0] * TENTHS
    counts = [0] * TENTHS
    ratios: list[float] = []
    used = 0
    for row, n in zip(norms, lengths.tolist()):
        g = row[: int(n)]
        if not bool(torch.isfinite(g).all()):
            continue  # counted by _nonfinite_entries
        mean = float(g.mean()) if len(g) else 0.0
        if mean <= 0.0:
            continue  # no gradient at all: nothing to say where it goes
        part = (torch.arange(len(g)) * TENTHS) // len(g)  # the tenth each step falls in
        for k in part.unique().tolist():
            sums[k] += float(g[part == k].mean()) / mean
            counts[k] += 1
        edge = max(1, math.ceil(len(g) / TENTHS))
        last = float(g[-edge:].mean())
        if last > 0.0:  # a last tenth with no gradient (max pooling read earlier steps) has no ratio to give
            ratios.append(float(g[:edge].mean()) / last)
        used += 1
    stats = {"tgrad.sequences": float(used)}
    if not used:
        return stats, []
    if ratios:
        stats["tgrad.early"] = statistics.median(ratios)
    curve = [s / c if c else math.nan for s, c in zip(sums, counts)]
    stats["tgrad.least"] = min(v for v in curve if math.isfinite(v))
    return stats, curve
