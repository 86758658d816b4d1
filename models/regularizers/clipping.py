"""Gradient clipping by value, then by global norm (Pascanu et al. 2013)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def clip_gradients(
    params: Sequence[torch.Tensor], clip_norm: float, clip_value: float, total: float | None = None
) -> tuple[float, bool]:
    """Clip in place; return the global gradient norm *before* clipping and whether clipping cut anything.

    ``total``: that norm when the caller has measured it already (introspection does, with its per-component
    norms): it is what is returned, but the clipping never uses it. Summed component by component it differs from
    the flat norm in the last bit, and the clip factor with it: a fit that is introspected would not be the fit
    that is not (on a small fold, over hundreds of epochs, that bit decided whether the fold learned). The norm
    that clips and the largest entry are measured on one flat copy of all gradients and the clipping is done by
    foreach ops: a few ops per step however many tensors there are (on CPU a small RNN's step is op overheads).
    """
    grads = [g for p in params if (g := p.grad) is not None]
    if not grads:
        return 0.0, False
    # one flat copy of all gradients, only where it is read: the norm that clips or is returned, the largest entry
    flat = torch.cat([g.reshape(-1) for g in grads]) if total is None or clip_value > 0 or clip_norm > 0 else None
    given = total is not None
    if total is None:
        assert flat is not None
        total = float(torch.linalg.vector_norm(flat))
    clipped = False
    if clip_value > 0:
        assert flat is not None
        clipped = float(flat.abs().max()) > clip_value
        if clipped:
            torch._foreach_clamp_min_(grads, -clip_value)
            torch._foreach_clamp_max_(grads, clip_value)
    if clip_norm > 0:  # on the value-clipped gradients, as torch.nn.utils.clip_grad_norm_ would
        assert flat is not None
        if clipped:
            norm = float(torch.linalg.vector_norm(flat.clamp(-clip_value, clip_value)))
        else:  # the flat norm: the given one only reports
            norm = float(torch.linalg.vector_norm(flat)) if given else total
        if norm > clip_norm:
            torch._foreach_mul_(grads, clip_norm / (norm + 1e-6))
            clipped = True
    return total, clipped
