"""Weight and gradient statistics per layer, direction and gate, and weight histograms.

Weights (:func:`weight_stats`), separately for the kernel (``weight_ih``), the recurrent kernel (``weight_hh``)
and the bias (``bias_ih + bias_hh``): the L2 (Frobenius) norm, the largest per-unit incoming norm (the row norm
a max-norm constraint caps, :func:`models.regularizers.max_norm.unit_norms`; for a bias, the largest magnitude)
and, for each H x H recurrent gate block and the whole recurrent matrix, the largest singular value (spectral
norm: below 1 the recurrent map contracts and a tanh RNN's memory fades, Pascanu et al. 2013; gated cells carry
memory past it). Gradients
(:func:`gradient_stats`) are read from :class:`models.classifier.GradientLog`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from models.config import GATES
from models.introspect.layout import bias_sum, finite, recurrent_weights, split_gates
from models.regularizers.max_norm import unit_norms

HIST_BINS = 30  # histogram bins per gate
WEIGHT_KINDS = ("kernel", "recurrent", "bias")


def nonfinite_count(tensors: Sequence[torch.Tensor | None]) -> int:
    """Number of NaN/Inf entries over ``tensors`` (None entries skipped)."""
    ts = [t.detach() for t in tensors if t is not None and t.numel()]
    if not ts or bool(torch.isfinite(torch.stack(torch._foreach_norm(ts, 1))).all()):
        return 0  # the common case in one fused reduction: an L1 norm is finite iff every entry is
    return int(sum(int((~torch.isfinite(t)).sum()) for t in ts))


def spectral_norm(w: torch.Tensor) -> torch.Tensor:
    """Largest singular value of a matrix or of each matrix in a batch (NaN where an entry is not finite)."""
    w = w.detach()
    ok = torch.isfinite(w).flatten(-2).all(-1)
    s = torch.linalg.matrix_norm(torch.where(torch.isfinite(w), w, torch.zeros_like(w)).float(), ord=2)
    return torch.where(ok, s, torch.full_like(s, float("nan")))


def _gram_spectral_norm(grams: torch.Tensor) -> torch.Tensor:
    """Largest singular value of each W from its Gram matrix W^T W (..., H, H): sqrt of the largest eigenvalue.
    Cheaper than an SVD and as accurate for the top singular value; NaN where the Gram matrix is not finite."""
    ok = torch.isfinite(grams.sum((-2, -1)))  # a sum is finite unless an entry is not
    safe = torch.nan_to_num(grams.float(), nan=0.0, posinf=0.0, neginf=0.0)
    s = torch.linalg.eigvalsh(safe)[..., -1].clamp(min=0).sqrt()
    return s.masked_fill(~ok, float("nan"))


# ---------------------------------------------------------------------------------------------- weights
@torch.no_grad()
def weight_stats(net: nn.Module) -> dict[str, float]:
    """Weight statistics of an :class:`~models.network.RNNClassifierNet`, per layer/direction/gate and aggregated.

    Per ``P`` = ``L<i>.<fwd|bwd>`` and gate ``g``:

    - ``P.kernel.g.l2`` / ``P.recurrent.g.l2``: Frobenius norm of the gate's rows of ``weight_ih`` / ``weight_hh``;
    - ``P.kernel.g.max_unit`` / ``P.recurrent.g.max_unit``: the largest row (per-unit incoming) L2 norm;
    - ``P.recurrent.g.spectral``: largest singular value of the H x H gate block;
      ``P.recurrent.spectral``: of the whole (G*H) x H recurrent matrix;
    - ``P.bias.g.l2`` / ``.max_abs`` / ``.mean`` of the effective bias ``bias_ih + bias_hh`` (for the GRU ``n``
      gate, ``bias_hn`` sits inside ``r * (...)``: the sum is then a summary, not the exact offset).

    Aggregated over layers and directions: ``kernel.g.l2`` (root of summed squares), ``kernel.g.max_unit``
    (max), ``recurrent.g.{l2,max_unit,spectral}`` (spectral: max), ``bias.g.{l2,max_abs,mean}`` (mean: the mean
    of all entries); totals ``kernel.l2``, ``kernel.max_unit``, ``recurrent.l2``, ``recurrent.max_unit``,
    ``recurrent.spectral`` (max over the whole matrices), ``recurrent.spectral_gate_max`` (max over gate blocks),
    ``bias.l2``, ``bias.max_abs``, ``head.l2``, ``head.max_unit``; and ``weights.nonfinite``, the number of
    NaN/Inf entries in all of the network's parameters.
    """
    keys: list[str] = []
    parts: list[torch.Tensor] = []

    def put(names: list[str], values: torch.Tensor) -> None:
        keys.extend(names)
        parts.append(values.detach().reshape(-1))

    recurrent: list[torch.Tensor] = []
    spectral_keys: list[str] = []
    for prefix, cell, p in recurrent_weights(net):
        gates = GATES[cell]
        for kind, w in (
            ("kernel", p["weight_ih"]),
            ("recurrent", p["weight_hh"]),
            ("bias", bias_sum(p["bias_ih"], p["bias_hh"])),
        ):
            if w is None:
                continue
            w = w.detach()
            if w.shape[0] % len(gates):
                raise ValueError(f"{cell}: {w.shape[0]} rows do not split into {len(gates)} gates {gates}")
            if kind == "bias":
                b = w.view(len(gates), -1)  # (G, H)
                stats = torch.stack([b.norm(dim=1), b.abs().amax(1), b.mean(1)], 1)  # (G, 3)
                put([f"{prefix}.bias.{g}.{k}" for g in gates for k in ("l2", "max_abs", "mean")], stats)
                continue
            rows = w.view(len(gates), -1, w.shape[1]).norm(dim=2)  # (G, H): each unit's incoming norm
            stats = torch.stack([rows.norm(dim=1), rows.amax(1)], 1)  # (G, 2)
            put([f"{prefix}.{kind}.{g}.{k}" for g in gates for k in ("l2", "max_unit")], stats)
            if kind == "recurrent":
                blocks = w.view(len(gates), -1, w.shape[1])
                grams = blocks.mT @ blocks  # (G, H, H); the whole matrix's Gram matrix is their sum
                recurrent.append(torch.cat([grams, grams.sum(0, keepdim=True)]))
                spectral_keys += [f"{prefix}.recurrent.{g}.spectral" for g in gates] + [f"{prefix}.recurrent.spectral"]
    if recurrent:  # every layer's H x H blocks: one batched eigen-solve for all spectral norms
        put(spectral_keys, _gram_spectral_norm(torch.cat(recurrent)))
    head = getattr(net, "head", None)
    if head is not None:
        hw = head.weight.detach()
        put(["head.l2", "head.max_unit"], torch.stack([hw.norm(), unit_norms(hw).max()]))
    params = [p.detach() for p in net.parameters()]
    put(["weights.l1"], torch.stack(torch._foreach_norm(params, 1)).sum())  # finite unless an entry is not
    out = dict(zip(keys, torch.cat(parts).double().cpu().tolist()))  # one host sync
    total = out.pop("weights.l1")
    out["weights.nonfinite"] = 0.0 if math.isfinite(total) else float(nonfinite_count(params))
    out.update(_aggregate_weights(out, net))
    return finite(out)


def _aggregate_weights(stats: Mapping[str, float], net: nn.Module) -> dict[str, float]:
    agg: dict[str, float] = {}
    prefixes = [prefix for prefix, _, _ in recurrent_weights(net)]
    layers: Any = net.layers
    cell = layers[0].cell
    for kind in WEIGHT_KINDS:
        total_sq, unit_max, present = 0.0, 0.0, False
        for g in GATES[cell]:
            vals = [stats.get(f"{p}.{kind}.{g}.l2") for p in prefixes]
            if any(v is None for v in vals):
                continue
            present = True
            sq = sum(float(v) ** 2 for v in vals if v is not None)
            agg[f"{kind}.{g}.l2"] = math.sqrt(sq)
            total_sq += sq
            stat = "max_abs" if kind == "bias" else "max_unit"
            agg[f"{kind}.{g}.{stat}"] = max(stats[f"{p}.{kind}.{g}.{stat}"] for p in prefixes)
            unit_max = max(unit_max, agg[f"{kind}.{g}.{stat}"])
            if kind == "bias":
                agg[f"bias.{g}.mean"] = sum(stats[f"{p}.bias.{g}.mean"] for p in prefixes) / len(prefixes)
            if kind == "recurrent":
                agg[f"recurrent.{g}.spectral"] = max(
                    stats.get(f"{p}.recurrent.{g}.spectral", math.nan) for p in prefixes
                )
        if present:
            agg[f"{kind}.l2"] = math.sqrt(total_sq)
            agg[f"{kind}.{'max_abs' if kind == 'bias' else 'max_unit'}"] = unit_max
    if prefixes and f"{prefixes[0]}.recurrent.spectral" in stats:
        agg["recurrent.spectral"] = max(stats.get(f"{p}.recurrent.spectral", math.nan) for p in prefixes)
        gate_vals = [agg.get(f"recurrent.{g}.spectral", math.nan) for g in GATES[cell]]
        agg["recurrent.spectral_gate_max"] = max(gate_vals)
    return agg


@torch.no_grad()
def weight_histograms(net: nn.Module, bins: int = HIST_BINS) -> dict[str, dict[str, list[float]]]:
    """Histograms of kernel and recurrent weights per layer/direction/gate: ``{"L0.fwd.kernel.f": {"counts",
    "edges"}}``. The kernel and recurrent histograms of one gate share their ``bins + 1`` edges (spanning both),
    so the two can be overlaid; non-finite entries are left out."""
    out: dict[str, dict[str, list[float]]] = {}
    for prefix, cell, p in recurrent_weights(net):
        kernel = split_gates(p["weight_ih"].detach(), cell)  # type: ignore[union-attr]
        recurrent = split_gates(p["weight_hh"].detach(), cell)  # type: ignore[union-attr]
        for g in GATES[cell]:
            values = {
                k: blocks[g].flatten().float().cpu().numpy()
                for k, blocks in (("kernel", kernel), ("recurrent", recurrent))
            }
            values = {k: v[np.isfinite(v)] for k, v in values.items()}
            both = np.concatenate(list(values.values()))
            lo, hi = (float(both.min()), float(both.max())) if both.size else (-1.0, 1.0)
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            edges = np.linspace(lo, hi, bins + 1)
            for kind, v in values.items():
                counts, _ = np.histogram(v, bins=edges)
                out[f"{prefix}.{kind}.{g}"] = {
                    "counts": [int(c) for c in counts],
                    "edges": [round(float(e), 6) for e in edges],
                }
    return out


# ---------------------------------------------------------------------------------------------- gradients
def gradient_stats(model: Any) -> dict[str, float]:
    """Gradient statistics of an :class:`~models.classifier.RNNClassifier` since its ``grad_log`` was last reset.

    ``grad.norm_mean`` / ``grad.norm_max``: the global gradient norm before clipping, mean / max over the steps;
    ``grad.kernel`` / ``.recurrent`` / ``.bias`` / ``.head``: the mean per-component norm (only with
    ``track_group_gradients``); ``grad.clip_fraction``: fraction of steps clipping cut; ``grad.steps``;
    ``grad.nonfinite``: NaN/Inf entries in the parameters' current gradients (plus 1 if a logged norm is not
    finite). Does not reset the log.
    """
    log = model.grad_log
    raw = log.summary()
    names = {
        "grad_norm_mean": "grad.norm_mean",
        "grad_norm_max": "grad.norm_max",
        "clip_fraction": "grad.clip_fraction",
    }
    out = {"grad.steps": float(log.steps)}
    for k, v in raw.items():
        out[names.get(k, "grad." + k.removeprefix("grad_norm_"))] = float(v)
    groups = getattr(model, "groups", None)  # the classifier's parameters by role (no module walk)
    params = [p for ps in groups.values() for p in ps] if isinstance(groups, dict) else list(model.parameters())
    bad = nonfinite_count([p.grad for p in params])
    bad += int(not (math.isfinite(raw["grad_norm_mean"]) and math.isfinite(raw["grad_norm_max"])))
    out["grad.nonfinite"] = float(bad)
    return finite(out)
