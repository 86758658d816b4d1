"""Max-norm weight constraints with Keras ``MaxNorm`` semantics, applied after every optimizer step.

PyTorch stores a layer's weights as (out_units, in_features): row ``u`` holds unit ``u``'s incoming weights,
so the cap is on each row's L2 norm (a bias entry is a unit's only incoming value: its magnitude is capped).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

EPSILON = 1e-7  # Keras' backend epsilon: keeps the rescale finite for all-zero rows


def unit_norms(w: torch.Tensor) -> torch.Tensor:
    """Each unit's incoming L2 norm (what a max-norm constraint checks): the row norms of a (out, in) weight, the
    magnitudes of a bias. The one definition: introspection reports it too."""
    return w.norm(dim=1) if w.dim() > 1 else w.abs()


@torch.no_grad()
def apply_max_norm(params: Iterable[torch.Tensor], max_value: float) -> None:
    """Rescale in place every unit whose incoming weight norm exceeds ``max_value`` (0 = off)."""
    if max_value == 0.0:
        return
    for w in params:
        norms = unit_norms(w)
        if w.dim() > 1:
            norms = norms.unsqueeze(1)  # one scale per row
        desired = norms.clamp(max=max_value)
        w.mul_(desired / (EPSILON + norms))
