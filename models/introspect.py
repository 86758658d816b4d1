"""Introspection of an RNN classifier: weights, gradients and activations per layer, direction and gate.

What it measures (every statistic is a plain function with a known answer; the thresholds are the constants
below):

- **Weights** (:func:`weight_stats`), per layer ``L<i>``, direction ``fwd``/``bwd`` and gate (LSTM ``i f g o``,
  GRU ``r z n``, vanilla RNN ``h``; PyTorch stacks the gates' rows in that order), separately for the kernel
  (``weight_ih``), the recurrent kernel (``weight_hh``) and the bias (``bias_ih + bias_hh``):
  the L2 (Frobenius) norm, the largest per-unit incoming norm (the row norm a max-norm constraint caps; for a
  bias, the largest magnitude) and, for each H x H recurrent gate block and for the whole recurrent matrix, the
  largest singular value (spectral norm). Below 1 the recurrent map contracts and memory fades (Pascanu et al.
  2013).
- **Gradients** (:func:`gradient_stats`), read from :class:`models.classifier.GradientLog`: the global norm
  before clipping (mean and max over the steps since the last read), per component (kernel / recurrent / bias /
  head), the fraction of steps clipping cut, and NaN/Inf entries in the current gradients.
- **Activations** on a fixed batch (:func:`capture`), with the model's own weights in eval mode (after the
  Conv1D front end, through every layer and its normalization), counting only the valid (unpadded) steps: the
  fraction of saturated gate activations, of dead hidden units, and the hidden-state norm against the time step.
  The gates come either from the step-by-step recurrence (the math of :func:`models.recurrence.run_loop`) or,
  by default and several times cheaper, from replaying each step's gates at once from the layer's recorded
  outputs; both give the same numbers.
- **Histograms** of kernel and recurrent weights per gate (:func:`weight_histograms`).

:class:`Introspection` is the Lightning callback that records all of it once per validation epoch, compactly;
:func:`diagnose` turns the numbers into plain-language findings; ``plot_*`` draw the figures (PNG, Agg).

Keys are flat strings. Per layer and direction: ``L0.fwd.recurrent.f.spectral``, ``L0.fwd.kernel.i.l2``,
``L0.fwd.sat.f`` ... Aggregated over layers and directions (the compact :meth:`Introspection.summary`):
``recurrent.f.spectral``, ``sat.f``, ``dead``, ``grad.clip_fraction`` ... Non-finite statistics are left out
(the ``*.nonfinite`` counters say why), so every value is a finite float and the dicts are strict JSON.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch import nn
from torch.nn import functional as F

from models.config import GATES
from models.recurrence import reverse_within_lengths

# ---------------------------------------------------------------------------------------------- thresholds
SIGMOID_LOW = 0.01  # a sigmoid gate below this is saturated shut ...
SIGMOID_HIGH = 0.99  # ... and above this saturated open
TANH_LIMIT = 0.99  # a tanh candidate / hidden output beyond +-this is saturated
DEAD_TOLERANCE = 1e-4  # a hidden unit whose output spans at most this over the batch and time is dead
MAX_SEQUENCES = 32  # the callback's fixed batch is cut to this many sequences (cost; enough for fractions)
HIST_BINS = 30  # histogram bins per gate
CHUNK_STEPS = 128  # activation statistics are reduced every this many steps (bounded memory)

# diagnoses
CONTRACT_SPECTRAL = 1.0  # largest recurrent gate-block spectral norm below this: the recurrence contracts
SATURATION_FRACTION = 0.30  # a gate with at least this fraction of saturated activations
CLIP_FRACTION = 0.50  # clipping cut at least this fraction of the steps
DEAD_FRACTION = 0.10  # at least this fraction of hidden units dead
FADE_RATIO = 10.0  # the hidden-state norm falls at least this many times from its peak to the last step

DIRECTIONS = ("fwd", "bwd")
SIGMOID_GATES = frozenset({"i", "f", "o", "r", "z"})  # LSTM i, f, o; GRU r, z; the rest (g, n, h) are tanh
GATE_NAMES = {
    "i": "input", "f": "forget", "g": "cell-candidate", "o": "output",
    "r": "reset", "z": "update", "n": "new-candidate", "h": "hidden",
}  # fmt: skip
WEIGHT_KINDS = ("kernel", "recurrent", "bias")


# ---------------------------------------------------------------------------------------------- helpers
def nonfinite_count(tensors: Sequence[torch.Tensor | None]) -> int:
    """Number of NaN/Inf entries over ``tensors`` (None entries skipped)."""
    ts = [t.detach() for t in tensors if t is not None and t.numel()]
    if not ts or bool(torch.isfinite(torch.stack(torch._foreach_norm(ts, 1))).all()):
        return 0  # the common case in one fused reduction: an L1 norm is finite iff every entry is
    return int(sum(int((~torch.isfinite(t)).sum()) for t in ts))


def split_gates(w: torch.Tensor, cell: str) -> dict[str, torch.Tensor]:
    """Split stacked gate rows (weights (G*H, *) or biases (G*H,)) into ``{gate: block}`` in PyTorch order."""
    gates = GATES[cell]
    if w.shape[0] % len(gates):
        raise ValueError(f"{cell}: {w.shape[0]} rows do not split into {len(gates)} gates {gates}")
    return dict(zip(gates, w.chunk(len(gates), 0)))


def unit_norms(w: torch.Tensor) -> torch.Tensor:
    """Each unit's incoming L2 norm: the row norms of a (out, in) weight, the magnitudes of a bias."""
    return w.norm(dim=1) if w.dim() > 1 else w.abs()


def spectral_norm(w: torch.Tensor) -> torch.Tensor:
    """Largest singular value of a matrix or of each matrix in a batch (NaN where an entry is not finite)."""
    w = w.detach()
    finite = torch.isfinite(w).flatten(-2).all(-1)
    s = torch.linalg.matrix_norm(torch.where(torch.isfinite(w), w, torch.zeros_like(w)).float(), ord=2)
    return torch.where(finite, s, torch.full_like(s, float("nan")))


def _gram_spectral_norm(grams: torch.Tensor) -> torch.Tensor:
    """Largest singular value of each W from its Gram matrix W^T W (..., H, H): sqrt of the largest eigenvalue.
    Cheaper than an SVD and as accurate for the top singular value; NaN where the Gram matrix is not finite."""
    finite = torch.isfinite(grams.sum((-2, -1)))  # a sum is finite unless an entry is not
    safe = torch.nan_to_num(grams.float(), nan=0.0, posinf=0.0, neginf=0.0)
    s = torch.linalg.eigvalsh(safe)[..., -1].clamp(min=0).sqrt()
    return s.masked_fill(~finite, float("nan"))


def recurrent_weights(net: nn.Module) -> Iterator[tuple[str, str, dict[str, torch.Tensor | None]]]:
    """``(prefix, cell, {weight_ih, weight_hh, bias_ih, bias_hh})`` per layer and direction, e.g. ``L1.bwd``."""
    layers: Any = net.layers
    for i, layer in enumerate(layers):
        for direction, suffix in zip(DIRECTIONS, layer.suffixes):
            params = {
                k: getattr(layer.rnn, f"{k}_l0{suffix}", None) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            }
            yield f"L{i}.{direction}", layer.cell, params


def _effective_bias(p: Mapping[str, torch.Tensor | None]) -> torch.Tensor | None:
    return _bias_sum(p["bias_ih"], p["bias_hh"])


def _device_of(net: nn.Module) -> torch.device:
    """The device of a network's parameters (its head's, without walking every submodule)."""
    head = getattr(net, "head", None)
    return head.weight.device if isinstance(head, nn.Linear) else next(net.parameters()).device


def _finite(d: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if math.isfinite(v)}


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
        for kind, w in (("kernel", p["weight_ih"]), ("recurrent", p["weight_hh"]), ("bias", _effective_bias(p))):
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
    return _finite(out)


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
    return _finite(out)


# ---------------------------------------------------------------------------------------------- activations
@dataclass
class Capture:
    """What one pass over a fixed batch measured (see :func:`capture`)."""

    stats: dict[str, float]
    curves: dict[str, list[float]]  # "L0.fwd" -> mean hidden-state L2 norm at each step (processing order)
    sequence: torch.Tensor = field(repr=False)  # the last layer's outputs (B, T', D), as the network's own


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


class _Accumulator:
    """Running activation statistics of one layer/direction over chunks of steps (one host sync at the end).

    Saturation is counted on the gates' pre-activations against the thresholds mapped through the inverse
    non-linearity (sigmoid(u) < ``SIGMOID_LOW`` <=> u < logit(``SIGMOID_LOW``), |tanh(u)| > ``TANH_LIMIT`` <=>
    |u| > atanh(``TANH_LIMIT``)): the same counts without evaluating the non-linearities. On CPU the counts run
    in NumPy over each gate's columns (boolean counts are several times faster there than in torch).
    """

    def __init__(self, cell: str, batch: int, hidden: int, lengths: torch.Tensor, like: torch.Tensor) -> None:
        gates = GATES[cell]
        self.gates, self.lengths, self.hidden = gates, lengths, hidden
        t = math.atanh(TANH_LIMIT)
        self.low = [_logit(SIGMOID_LOW) if g in SIGMOID_GATES else -t for g in gates]
        self.high = [_logit(SIGMOID_HIGH) if g in SIGMOID_GATES else t for g in gates]
        self.counts: list[torch.Tensor] = []  # per chunk: G low counts, G high counts, hidden-saturated, non-finite
        self.valid = 0
        self.hmin = torch.full((hidden,), math.inf, dtype=like.dtype, device=like.device)
        self.hmax = torch.full((hidden,), -math.inf, dtype=like.dtype, device=like.device)
        self.norm_sum: list[torch.Tensor] = []
        self.norm_count: list[torch.Tensor] = []
        self.peak, self.last = like.new_zeros(batch), like.new_zeros(batch)

    def _count(self, u: torch.Tensor, hv: torch.Tensor) -> torch.Tensor:
        h = self.hidden
        if u.device.type == "cpu":
            a, v = u.numpy(), hv.numpy()
            blocks = [a[:, k * h : (k + 1) * h] for k in range(len(self.gates))]
            counts: list[int] = [int(np.count_nonzero(blk < lo)) for blk, lo in zip(blocks, self.low)]
            counts += [int(np.count_nonzero(blk > hi)) for blk, hi in zip(blocks, self.high)]
            counts += [int(np.count_nonzero(np.abs(v) > TANH_LIMIT)), int(not np.isfinite(a.sum() + v.sum()))]
            return torch.tensor(counts, dtype=torch.float64)
        cols = [u[:, k * h : (k + 1) * h] for k in range(len(self.gates))]
        parts = [(blk < lo).sum() for blk, lo in zip(cols, self.low)]
        parts += [(blk > hi).sum() for blk, hi in zip(cols, self.high)]
        parts += [(hv.abs() > TANH_LIMIT).sum(), (~torch.isfinite(u.sum() + hv.sum())).long()]
        return torch.stack(parts).double()

    def add(self, u: torch.Tensor, h: torch.Tensor, valid: torch.Tensor, t0: int) -> None:
        """``u`` (N, G*H): gate pre-activations of the N valid (sequence, step) pairs of steps t0..t0+t-1, in
        row-major (sequence, step) order; ``h`` (B, t, H) the outputs, ``valid`` (B, t) their mask."""
        hv = h[valid]  # (N, H)
        self.counts.append(self._count(u, hv))
        if hv.shape[0]:
            self.hmin = torch.minimum(self.hmin, hv.amin(0))
            self.hmax = torch.maximum(self.hmax, hv.amax(0))
        self.valid += hv.shape[0]  # a Python int: the index above already synchronized
        validf = valid.to(h.dtype)
        norms = h.norm(dim=-1) * validf
        self.norm_sum.append(norms.sum(0))
        self.norm_count.append(validf.sum(0))
        self.peak = torch.maximum(self.peak, norms.amax(1))
        idx = self.lengths - 1 - t0
        here = (idx >= 0) & (idx < h.shape[1])
        self.last = torch.where(here, norms.gather(1, idx.clamp(0, h.shape[1] - 1).unsqueeze(1))[:, 0], self.last)

    def tensors(self) -> dict[str, torch.Tensor]:
        g = len(self.gates)
        counts = torch.stack(self.counts).sum(0).to(self.hmin.device)
        return {
            "sat_low": counts[:g], "sat_high": counts[g : 2 * g], "hsat": counts[2 * g], "nonfinite": counts[2 * g + 1],
            "valid": self.hmin.new_tensor(float(self.valid)), "dead": ((self.hmax - self.hmin) <= DEAD_TOLERANCE).sum(),
            "norm_sum": torch.cat(self.norm_sum), "norm_count": torch.cat(self.norm_count),
            "first": self.norm_sum[0][0] / self.norm_count[0][0].clamp(min=1), "peak": self.peak.mean(),
            "last": self.last.mean(),
        }  # fmt: skip


def _preactivations(cell: str, ux: torch.Tensor, uh: torch.Tensor) -> torch.Tensor:
    """Each gate's pre-activation (..., G*H) from the input and recurrent projections (biases included), in
    PyTorch gate order: the gate is sigmoid or tanh of it. For the GRU candidate it is xn + r * hn."""
    if cell != "gru":
        return ux + uh
    xr, xz, xn = ux.chunk(3, -1)
    hr, hz, hn = uh.chunk(3, -1)
    ur = xr + hr
    return torch.cat([ur, xz + hz, xn + torch.sigmoid(ur) * hn], -1)


def _bias_sum(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    if a is None:
        return b
    return a if b is None else a + b


def _loop_direction(
    cell: str, x: torch.Tensor, p: Mapping[str, torch.Tensor | None], valid: torch.Tensor, acc: _Accumulator,
    zoneout_rate: float = 0.0,
) -> torch.Tensor:  # fmt: skip
    """One direction of one layer, step by step as :func:`models.recurrence.run_loop` in eval mode (no dropout;
    zoneout as its expectation), feeding every step's gate pre-activations and outputs to ``acc``."""
    w_ih, w_hh = p["weight_ih"], p["weight_hh"]
    assert w_ih is not None and w_hh is not None
    batch, steps, _ = x.shape
    hidden = w_hh.shape[1]
    xw = F.linear(x, w_ih, p["bias_ih"])
    h = x.new_zeros(batch, hidden)
    c = x.new_zeros(batch, hidden)
    bias = p["bias_hh"] if p["bias_hh"] is not None else x.new_zeros(w_hh.shape[0])
    w_hh_t = w_hh.t()
    outputs: list[torch.Tensor] = []
    pres: list[torch.Tensor] = []
    start = 0
    for t in range(steps):
        v = valid[:, t : t + 1]
        u = _preactivations(cell, xw[:, t], torch.addmm(bias, h, w_hh_t))  # (B, G*H)
        if cell == "lstm":
            i, f, o = (torch.sigmoid(u[:, k * hidden : (k + 1) * hidden]) for k in (0, 1, 3))
            c_new = f * c + i * torch.tanh(u[:, 2 * hidden : 3 * hidden])
            h_new = o * torch.tanh(c_new)
            c = torch.where(v, torch.lerp(c_new, c, zoneout_rate) if zoneout_rate else c_new, c)
        elif cell == "gru":
            z, n = torch.sigmoid(u[:, hidden : 2 * hidden]), torch.tanh(u[:, 2 * hidden :])
            h_new = n + z * (h - n)
        else:
            h_new = torch.tanh(u)
        if zoneout_rate:
            h_new = torch.lerp(h_new, h, zoneout_rate)
        h = torch.where(v, h_new, h)
        outputs.append(h)
        pres.append(u)
        if len(pres) == CHUNK_STEPS or t == steps - 1:
            chunk = valid[:, start : t + 1]
            acc.add(torch.stack(pres, 1)[chunk], torch.stack(outputs[start:], 1), chunk, start)
            pres, start = [], t + 1
    return torch.stack(outputs, 1)


def _replay_direction(
    cell: str, x: torch.Tensor, hs: torch.Tensor, p: Mapping[str, torch.Tensor | None], valid: torch.Tensor,
    acc: _Accumulator,
) -> None:  # fmt: skip
    """Feed ``acc`` from the outputs ``hs`` (B, T, H) one direction produced over ``x`` (both in its processing
    order): each step's gates are a function of x_t and h_{t-1} only, so all valid steps are computed at once."""
    batch, steps, hidden = hs.shape
    for t0 in range(0, steps, CHUNK_STEPS):
        t1 = min(t0 + CHUNK_STEPS, steps)
        h_prev = hs[:, max(t0 - 1, 0) : t1 - 1]
        if t0 == 0:
            h_prev = torch.cat([hs.new_zeros(batch, 1, hidden), h_prev], 1)
        chunk = valid[:, t0:t1]
        if cell == "gru":  # the candidate needs the two projections apart
            ux = F.linear(x[:, t0:t1][chunk], p["weight_ih"], p["bias_ih"])  # type: ignore[arg-type]
            uh = F.linear(h_prev[chunk], p["weight_hh"], p["bias_hh"])  # type: ignore[arg-type]
            u = _preactivations(cell, ux, uh)
        else:  # one product: [W_ih | W_hh] @ [x_t ; h_{t-1}] + b_ih + b_hh
            w = torch.cat([p["weight_ih"], p["weight_hh"]], 1)  # type: ignore[list-item]
            u = F.linear(torch.cat([x[:, t0:t1], h_prev], -1)[chunk], w, _bias_sum(p["bias_ih"], p["bias_hh"]))
        acc.add(u, hs[:, t0:t1], chunk, t0)


@torch.no_grad()
def capture(
    net: nn.Module,
    x: torch.Tensor,
    lengths: torch.Tensor,
    method: str = "replay",
    recorded: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> Capture:
    """Run ``net`` (an :class:`~models.network.RNNClassifierNet`) in eval mode over a batch ``x`` (B, T, C) with
    ``lengths`` (B,) with its own weights, and measure its activations. Only valid steps count (after the
    Conv1D front end, a sequence of length n has ceil(n / stride) of them).

    ``method="loop"`` runs the recurrence step by step (the math of :func:`models.recurrence.run_loop` in eval
    mode: no dropout, zoneout as its expectation), capturing the gate activations as it goes. ``"replay"`` (the
    default, several times cheaper) runs each layer exactly as the network does (its fused kernel or its loop)
    and then recomputes every step's gates at once from x_t and the recorded h_{t-1}, which is all a gate
    depends on: the same numbers up to float rounding (a test checks it). ``recorded`` (replay only) gives each
    layer's ``(input, output)`` as the network's own forward produced them for this batch (``x`` and ``lengths``
    then being the first layer's input and lengths, after the Conv1D front end): nothing is recomputed but the
    gates. :class:`Introspection` records them from the validation pass itself.

    Per ``P`` = ``L<i>.<fwd|bwd>`` (the reverse direction is measured in its own processing order):

    - ``P.sat.g``: the fraction of gate ``g``'s activations (over sequences, valid steps and units) that are
      saturated: a sigmoid gate (LSTM i/f/o, GRU r/z) outside [``SIGMOID_LOW``, ``SIGMOID_HIGH``], a tanh
      candidate (LSTM g, GRU n, RNN h) beyond +-``TANH_LIMIT``; ``P.sat_low.g`` / ``P.sat_high.g`` split it into
      the low and the high side;
    - ``P.sat.hidden``: the fraction of hidden outputs h_t beyond +-``TANH_LIMIT``;
    - ``P.dead``: the fraction of dead hidden units. A unit is **dead** when its output h_t, over every valid
      step of every sequence of the batch, spans at most ``DEAD_TOLERANCE`` (max - min): it is constant, never
      varying over the batch and time, which includes never being non-zero; it carries no information;
    - ``P.hnorm.first``: the mean over sequences of ||h|| at the first step; ``P.hnorm.last``: at each sequence's
      last valid step; ``P.hnorm.peak``: of each sequence's largest ||h_t||; ``P.hnorm.fade`` = peak / last
      (>= 1; how many times the state shrank by the end);
    - ``P.nonfinite``: 1.0 when a gate activation or output at a valid step is NaN (else 0.0).

    Aggregated: ``sat.g``, ``sat_low.g``, ``sat_high.g``, ``sat.hidden`` and ``dead`` pooled over all layers and
    directions; ``hnorm.*`` of the last layer (its directions averaged: what the head reads); ``act.nonfinite``,
    the number of layers/directions flagged.
    ``curves[P]`` holds the hidden-state norm against the step: at step t the mean ||h_t|| over the sequences
    still valid at t.
    """
    if method not in ("replay", "loop"):
        raise ValueError(f"method={method!r}: allowed values are replay, loop")
    if recorded is not None and (method != "replay" or len(recorded) != len(net.layers)):  # type: ignore[arg-type]
        raise ValueError("recorded layer inputs/outputs need method='replay' and one pair per layer")
    was_training = net.training
    if was_training:  # (toggling walks every submodule: skip it when already in eval, as in validation)
        net.eval()
    try:
        device = _device_of(net)
        x = x.to(device=device, dtype=torch.float32)
        lengths = lengths.to(device)
        if net.conv is not None and recorded is None:  # type: ignore[attr-defined]
            x, lengths = net.conv(x, lengths)  # type: ignore[attr-defined,operator]
        steps = x.shape[1]
        valid = torch.arange(steps, device=device).unsqueeze(0) < lengths.unsqueeze(1)
        mask = valid if bool((lengths < steps).any()) else None
        results: dict[str, dict[str, torch.Tensor]] = {}
        cells: dict[str, str] = {}
        layers: Any = net.layers
        norms: Any = net.norms
        for i, layer in enumerate(layers):
            outs: list[torch.Tensor] = []
            hidden = layer.hidden_size
            if recorded is not None:
                x, layer_out = recorded[i]
            elif method != "loop":
                layer_out = layer(x, lengths, mask, net.path)
            for direction, suffix in zip(DIRECTIONS, layer.suffixes):
                params = {
                    k: getattr(layer.rnn, f"{k}_l0{suffix}", None)
                    for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                }
                xs = reverse_within_lengths(x, lengths) if suffix else x
                acc = _Accumulator(layer.cell, x.shape[0], layer.hidden_size, lengths, x)
                if method == "loop":
                    out = _loop_direction(layer.cell, xs, params, valid, acc, layer.cfg.zoneout)
                    outs.append(reverse_within_lengths(out, lengths) if suffix else out)
                else:
                    h = layer_out[..., len(outs) * hidden : (len(outs) + 1) * hidden]
                    hs = reverse_within_lengths(h, lengths) if suffix else h
                    _replay_direction(layer.cell, xs, hs, params, valid, acc)
                    outs.append(h)
                results[f"L{i}.{direction}"] = acc.tensors()
                cells[f"L{i}.{direction}"] = layer.cell
            x = layer_out if method != "loop" else torch.cat(outs, -1) if len(outs) > 1 else outs[0]
            if mask is not None:
                x = x * mask.unsqueeze(-1)
            if len(norms):
                x = norms[i](x, mask)
        host = _to_host(results)
        stats, curves = _activation_summary(host, cells, hidden=[layer.hidden_size for layer in layers])
        return Capture(_finite(stats), curves, x)
    finally:
        if was_training:
            net.train()


def _to_host(results: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, dict[str, list[float]]]:
    """Tensors -> lists of floats: directly on CPU, in one transfer (one sync) from an accelerator."""
    if all(t.device.type == "cpu" for d in results.values() for t in d.values()):
        return {p: {k: t.reshape(-1).tolist() for k, t in d.items()} for p, d in results.items()}
    keys = [(p, k) for p, d in results.items() for k in d]
    flat = torch.cat([results[p][k].reshape(-1).double() for p, k in keys]).cpu().tolist()
    host: dict[str, dict[str, list[float]]] = {p: {} for p in results}
    pos = 0
    for p, k in keys:
        n = results[p][k].numel()
        host[p][k] = flat[pos : pos + n]
        pos += n
    return host


def _activation_summary(
    host: Mapping[str, Mapping[str, list[float]]], cells: Mapping[str, str], hidden: list[int]
) -> tuple[dict[str, float], dict[str, list[float]]]:
    stats: dict[str, float] = {}
    curves: dict[str, list[float]] = {}
    pooled: dict[str, list[float]] = {}  # key -> [count, total]
    last_layer = max(int(p[1:].split(".")[0]) for p in host)
    last_norms: dict[str, list[float]] = {"first": [], "last": [], "peak": []}
    nonfinite = 0.0
    for p, d in host.items():
        layer = int(p[1:].split(".")[0])
        units = hidden[layer]
        entries = d["valid"][0] * units  # valid (sequence, step) pairs x units
        for j, g in enumerate(GATES[cells[p]]):
            lo, hi = d["sat_low"][j], d["sat_high"][j]
            for name, count in (("sat", lo + hi), ("sat_low", lo), ("sat_high", hi)):
                stats[f"{p}.{name}.{g}"] = count / max(entries, 1)
                acc = pooled.setdefault(f"{name}.{g}", [0.0, 0.0])
                acc[0], acc[1] = acc[0] + count, acc[1] + entries
        stats[f"{p}.sat.hidden"] = d["hsat"][0] / max(entries, 1)
        acc = pooled.setdefault("sat.hidden", [0.0, 0.0])
        acc[0], acc[1] = acc[0] + d["hsat"][0], acc[1] + entries
        stats[f"{p}.dead"] = d["dead"][0] / units
        acc = pooled.setdefault("dead", [0.0, 0.0])
        acc[0], acc[1] = acc[0] + d["dead"][0], acc[1] + units
        first, last, peak = d["first"][0], d["last"][0], d["peak"][0]
        stats.update({f"{p}.hnorm.first": first, f"{p}.hnorm.last": last, f"{p}.hnorm.peak": peak})
        stats[f"{p}.hnorm.fade"] = _fade(peak, last)
        stats[f"{p}.nonfinite"] = d["nonfinite"][0]
        nonfinite += d["nonfinite"][0]
        if layer == last_layer:
            for k in last_norms:
                last_norms[k].append(d[k][0])
        curves[p] = [s / c for s, c in zip(d["norm_sum"], d["norm_count"]) if c > 0]
    for key, (count, total) in pooled.items():
        stats[key] = count / max(total, 1)
    for k, vals in last_norms.items():
        stats[f"hnorm.{k}"] = sum(vals) / len(vals)
    stats["hnorm.fade"] = _fade(stats["hnorm.peak"], stats["hnorm.last"])
    stats["act.nonfinite"] = nonfinite
    return stats, curves


def _fade(peak: float, last: float) -> float:
    if not (math.isfinite(peak) and math.isfinite(last)):
        return math.nan
    if peak <= 1e-12:
        return 1.0  # no state at all: nothing fades (the dead-unit statistic reports it)
    return min(peak / max(last, 1e-12), 1e6)


def activation_stats(
    net: nn.Module, x: torch.Tensor, lengths: torch.Tensor, method: str = "replay"
) -> dict[str, float]:
    """The activation statistics of :func:`capture` alone."""
    return capture(net, x, lengths, method).stats


def hidden_norm_curves(
    net: nn.Module, x: torch.Tensor, lengths: torch.Tensor, method: str = "replay"
) -> dict[str, list[float]]:
    """Per layer/direction, the mean hidden-state L2 norm at each step over the sequences valid there."""
    return capture(net, x, lengths, method).curves


# ---------------------------------------------------------------------------------------------- callback
def fixed_batch(source: Any, n: int = MAX_SEQUENCES) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` sequences of a :class:`~models.data.SequenceDataModule`'s validation part (its training
    part when there is no validation part) or of a :class:`~models.data.SequenceSet`, padding trimmed."""
    data = source
    if hasattr(source, "val_set"):
        data = source.val_set if len(source.val_set) else source.train_set
    lengths = torch.as_tensor(np.asarray(data.lengths[:n]), dtype=torch.long)
    x = torch.as_tensor(np.asarray(data.X[:n, : int(lengths.max())]), dtype=torch.float32)
    return x, lengths


class Introspection(Callback):
    """Records weight, gradient and activation statistics once per validation epoch (every ``every_n_epochs``
    epochs; the sanity check is skipped) on a fixed batch ``(x, lengths[, ...])`` cut to ``max_sequences``.

    ``epochs`` holds one flat dict of finite floats per recorded epoch (``"epoch"``, the per-layer keys and the
    aggregates; see :func:`weight_stats`, :func:`gradient_stats`, :func:`capture`), ``curves`` the hidden-state
    norm against the step per recorded epoch, ``histograms`` the :func:`weight_histograms` of the weights training
    ended with (taken at train end: histograms are not needed per epoch). Gradient statistics cover the steps
    since the previous record (the model's ``grad_log`` is reset after each read); the callback switches the
    model's per-component gradient norms on at fit start. ``seconds`` / ``cpu_seconds`` are the time spent
    recording. When the fit diverges (:class:`~models.classifier.DivergedError`), one last record with
    ``"diverged": 1.0`` is made.

    Cost: when the fixed batch is the head of the validation set (:func:`fixed_batch`), the layers' inputs and
    outputs are taken from the validation pass itself (:meth:`attach`) and only the gates are recomputed; on CPU
    a record runs on one intra-op thread or on torch's setting, whichever was faster lately (:class:`_Threads`).
    ``bench/introspection_overhead.py`` measures the overhead per epoch.
    """

    def __init__(
        self,
        batch: Sequence[torch.Tensor],
        every_n_epochs: int = 1,
        max_sequences: int = MAX_SEQUENCES,
        histograms: bool = True,
    ) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs={every_n_epochs!r}: must be an integer >= 1")
        x, lengths = batch[0][:max_sequences], torch.as_tensor(batch[1][:max_sequences])
        self.x = x[:, : int(lengths.max())].detach().float().cpu()
        self.lengths = lengths.detach().long().cpu()
        self.every_n_epochs = every_n_epochs
        self.keep_histograms = histograms
        self.epochs: list[dict[str, float]] = []
        self.curves: list[dict[str, list[float]]] = []
        self.histograms: dict[str, dict[str, list[float]]] = {}
        self._handles: list[Any] = []
        self._armed, self._collecting = False, False
        self._recorded: tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]] | None = None
        self.reused = False  # whether the last record replayed the validation pass's layer outputs
        self.seconds = 0.0  # wall-clock time spent recording
        self.cpu_seconds = 0.0  # CPU time of this thread spent recording
        self._device: torch.device | None = None
        self._threads = _Threads()

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        model: Any = pl_module
        model.track_group_gradients = True
        model.grad_log.reset()
        self._to(_device_of(model.net))
        self.attach(model.net)

    def _to(self, device: torch.device) -> None:
        if self._device != device:
            self.x, self.lengths, self._device = self.x.to(device), self.lengths.to(device), device

    def attach(self, net: nn.Module) -> None:
        """Watch ``net``'s next eval-mode forward: when the batch it reads starts with the fixed batch (as the
        first validation batch does when the fixed batch is the head of the validation set, see
        :func:`fixed_batch`), keep each layer's input and output for those sequences, so that :meth:`record`
        replays the gates from them instead of running the layers again. Anything else is ignored, and the
        record then runs its own forward. :meth:`detach` (at train end) removes the hooks."""
        self.detach()
        self._armed, self._collecting, self._recorded = True, False, None
        self._layer_io: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._handles = [net.register_forward_pre_hook(self._on_net_input)]
        layers: Any = net.layers
        self._handles += [layer.register_forward_hook(self._on_layer_output) for layer in layers]
        self._n_layers = len(layers)

    def detach(self) -> None:
        for handle in getattr(self, "_handles", []):
            handle.remove()
        self._handles = []
        self._armed, self._collecting, self._recorded = False, False, None

    def _on_net_input(self, net: nn.Module, args: tuple[Any, ...]) -> None:
        if not self._armed or net.training:
            return
        self._armed = False  # only the first eval-mode forward after arming is considered
        x, lengths = args[0], args[1]
        n, steps = self.x.shape[0], self.x.shape[1]
        self._collecting = (
            x.shape[0] >= n and x.shape[1] >= steps and x.shape[2:] == self.x.shape[2:]
            and x.device == self.x.device and torch.equal(lengths[:n], self.lengths)
            and torch.equal(x[:n, :steps], self.x)
        )  # fmt: skip
        self._layer_io = []

    def _on_layer_output(self, layer: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> None:
        if not self._collecting:
            return
        n = self.x.shape[0]
        lengths = args[1][:n]
        steps = int(lengths.max())  # after the Conv1D front end
        self._layer_io.append((args[0][:n, :steps].clone(), output[:n, :steps].clone()))
        if len(self._layer_io) == 1:
            self._lengths_in = lengths.clone()
        if len(self._layer_io) == self._n_layers:
            self._collecting, self._recorded = False, (self._lengths_in, self._layer_io)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.current_epoch % self.every_n_epochs:
            return
        self.record(pl_module, trainer.current_epoch)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.detach()
        if self.keep_histograms:
            self.histograms = weight_histograms(pl_module.net)  # type: ignore[arg-type]

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        from models.classifier import DivergedError

        self.detach()
        if not isinstance(exception, DivergedError):
            return  # e.g. a pruned trial: nothing went wrong with the model
        try:
            row = self.record(pl_module, trainer.current_epoch)
            row["diverged"] = 1.0
            if self.keep_histograms:
                self.histograms = weight_histograms(pl_module.net)  # type: ignore[arg-type]
        except Exception:  # introspection must never mask the fit's own error
            pass

    # ------------------------------------------------------------------ recording
    def record(self, model: Any, epoch: int) -> dict[str, float]:
        """Measure ``model`` (an :class:`~models.classifier.RNNClassifier`) now; append and return the row."""
        start, cpu = time.perf_counter(), time.thread_time()
        device = _device_of(model.net)
        with torch.no_grad(), self._threads.use(device):
            row: dict[str, float] = {"epoch": float(epoch)}
            row.update(gradient_stats(model))
            model.grad_log.reset()
            row.update(weight_stats(model.net))
            self._to(device)
            recorded, self._recorded = self._recorded, None
            self.reused = recorded is not None  # the validation pass's own layer outputs were replayed
            if recorded is not None:
                lengths, layer_io = recorded
                cap = capture(model.net, layer_io[0][0], lengths, recorded=layer_io)
            else:
                cap = capture(model.net, self.x, self.lengths)
            row.update(cap.stats)
            self._armed = bool(self._handles)  # watch the next validation pass
        self.epochs.append(row)
        self.curves.append(cap.curves)
        self.seconds += time.perf_counter() - start
        self.cpu_seconds += time.thread_time() - cpu
        return row

    # ------------------------------------------------------------------ results
    def summary(self, epoch: int | None = None) -> dict[str, float]:
        """The compact statistics (aggregates only, no per-layer keys; <= ~70 numbers) of the last recorded
        epoch, or of the latest record at or before ``epoch`` (e.g. the best epoch). Empty before any record."""
        rows = self.epochs if epoch is None else [r for r in self.epochs if r["epoch"] <= epoch]
        if not rows:
            return {}
        return compact(rows[-1])

    def history(self) -> list[dict[str, float]]:
        """Every recorded epoch's full flat dict (copies)."""
        return [dict(r) for r in self.epochs]

    def state(self) -> dict[str, Any]:
        """Everything recorded, JSON-serializable: ``{"epochs", "curves", "histograms", "seconds"}``."""
        return {"epochs": self.history(), "curves": self.curves, "histograms": self.histograms, "seconds": self.seconds}

    def figures(self, outdir: str | Path, prefix: str = "") -> dict[str, Path]:
        """Write the four figures into ``outdir``; ``{"weights", "gradients", "saturation", "hidden_norm"}`` ->
        path (the weight histograms only when recorded)."""
        return figures_from_state(self.state(), outdir, prefix)


FIGURES = ("weights", "gradients", "saturation", "hidden_norm")  # the figures a record yields, file = name + ".png"


def figure_kinds(state: Mapping[str, Any]) -> list[str]:
    """The figures :func:`figures_from_state` draws for ``state`` (weights only when histograms were recorded)."""
    return [k for k in FIGURES if (state.get("histograms") if k == "weights" else state.get("epochs"))]


def figures_from_state(state: Mapping[str, Any], outdir: str | Path, prefix: str = "") -> dict[str, Path]:
    """The figures of a recorded :meth:`Introspection.state` (e.g. read back from a trial's ``introspection.json``),
    written into ``outdir`` as ``<prefix><kind>.png``; kind -> path."""
    outdir = Path(outdir)
    epochs, curves, histograms = state.get("epochs") or [], state.get("curves") or [], state.get("histograms") or {}
    paths: dict[str, Path] = {}
    if histograms:
        paths["weights"] = plot_weight_histograms(histograms, outdir / f"{prefix}weights.png")
    if epochs:
        paths["gradients"] = plot_gradients(epochs, outdir / f"{prefix}gradients.png")
        paths["saturation"] = plot_saturation(epochs, outdir / f"{prefix}saturation.png")
        series: dict[str, list[float]] = {}
        dashed: list[str] = []
        picks = [(epochs[0], curves[0] if curves else {})]
        if len(epochs) > 1:
            picks.append((epochs[-1], curves[-1] if curves else {}))
        for n, (row, curve_set) in enumerate(picks):
            for name, curve in list(curve_set.items())[:4]:
                label = f"epoch {int(row['epoch']) + 1} {name}"
                series[label] = curve
                if n == 0 and len(picks) > 1:
                    dashed.append(label)
        paths["hidden_norm"] = plot_hidden_norm(series, outdir / f"{prefix}hidden_norm.png", dashed=dashed)
    return paths


class _Threads:
    """The intra-op thread count a record runs with on CPU: one, or torch's setting, whichever ran the latest
    record faster. Its tensors are tiny: extra threads help a little on an idle machine, and stall many times
    over on a busy one (when another process takes a core, every parallel region waits for it). The mode not
    in use is tried again every ``PROBE_EVERY`` records, so the choice follows the machine's load."""

    PROBE_EVERY = 16

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}  # thread count -> wall time of its latest record
        self.records = 0

    def pick(self, device: torch.device) -> int | None:
        threads = torch.get_num_threads()
        if device.type != "cpu" or threads == 1:
            return None
        self.records += 1
        modes = (1, threads)
        untried = [m for m in modes if m not in self.seconds]
        if untried:
            return untried[0]
        best = min(modes, key=lambda m: self.seconds[m])
        if self.records % self.PROBE_EVERY == 0:
            return modes[0] if best == modes[1] else modes[1]
        return best

    @contextmanager
    def use(self, device: torch.device) -> Iterator[None]:
        mode = self.pick(device)
        if mode is None:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(mode)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[mode] = time.perf_counter() - start
            torch.set_num_threads(before)


def compact(stats: Mapping[str, float]) -> dict[str, float]:
    """The aggregate keys of a stats dict (everything but the per-layer ``L<i>.`` keys)."""
    return {k: v for k, v in stats.items() if not (k.startswith("L") and k[1:2].isdigit())}


# ---------------------------------------------------------------------------------------------- diagnoses
def _gate_label(g: str) -> str:
    return f"{GATE_NAMES.get(g, g)} ({g})"


def diagnose(stats: Mapping[str, float]) -> list[str]:
    """Plain-language findings from a stats dict (an :meth:`Introspection.summary`, a history row, or the
    union of :func:`weight_stats`, :func:`gradient_stats` and :func:`activation_stats`). Each finding quotes the
    number and the threshold (module constants) it comes from; a key that is absent is not judged."""
    found: list[str] = []
    for key, what in (
        ("weights.nonfinite", "weights"),
        ("grad.nonfinite", "gradients"),
        ("act.nonfinite", "activations on the fixed batch"),
    ):
        if stats.get(key, 0.0) > 0:
            found.append(f"NaN/Inf in {what}: {int(stats[key])} non-finite entries ({key})")
    if stats.get("diverged", 0.0) > 0:
        found.append("the fit diverged (diverged=1): the last record was taken when training stopped")
    gates = [
        (k.split(".")[1], v)
        for k, v in stats.items()
        if k.startswith("recurrent.") and k.endswith(".spectral") and k.count(".") == 2
    ]
    if gates:
        g, top = max(gates, key=lambda gv: gv[1])
        if top < CONTRACT_SPECTRAL:
            whole = stats.get("recurrent.spectral")
            extra = f"; whole recurrent matrix {whole:.2f}" if whole is not None and len(gates) > 1 else ""
            found.append(
                f"recurrent weights contract (spectral norm {top:.2f} < {CONTRACT_SPECTRAL:g}, the largest over the "
                f"recurrent gate blocks, layers and directions, reached by the {_gate_label(g)} gate{extra}): "
                "recurrent decay or a recurrent penalty may be erasing memory"
            )
    elif "recurrent.spectral" in stats and stats["recurrent.spectral"] < CONTRACT_SPECTRAL:
        found.append(
            f"recurrent weights contract (spectral norm {stats['recurrent.spectral']:.2f} < {CONTRACT_SPECTRAL:g}, "
            "the largest over the whole recurrent matrices): recurrent decay or a recurrent penalty may be "
            "erasing memory"
        )
    for k, v in stats.items():
        g = k.split(".")[-1]
        if not (k.startswith("sat.") and k.count(".") == 1 and g != "h" and v >= SATURATION_FRACTION):
            continue  # the vanilla RNN's gate h is its hidden output: reported once, as "hidden"
        threshold = f"threshold {100 * SATURATION_FRACTION:.0f}%"
        if g == "hidden":
            found.append(
                f"{100 * v:.0f}% of hidden outputs saturated (beyond +-{TANH_LIMIT:g}; {threshold}): "
                "units act as binary switches and their gradients vanish"
            )
            continue
        if g in SIGMOID_GATES:
            band = f"outside [{SIGMOID_LOW:g}, {SIGMOID_HIGH:g}]"
            lo, hi = stats.get(f"sat_low.{g}"), stats.get(f"sat_high.{g}")
            if lo is not None and hi is not None:
                band += f": {100 * hi:.0f}% open, {100 * lo:.0f}% shut"
        else:
            band = f"beyond +-{TANH_LIMIT:g}"
        found.append(
            f"{100 * v:.0f}% of {GATE_NAMES.get(g, g)}-gate units saturated ({band}; {threshold}): "
            "the gate barely learns, its gradient is near zero"
        )
    clip = stats.get("grad.clip_fraction")
    if clip is not None and clip >= CLIP_FRACTION:
        found.append(
            f"gradients clipped on {100 * clip:.0f}% of steps (threshold {100 * CLIP_FRACTION:.0f}%): "
            "the clipping threshold, not the learning rate, sets the step size"
        )
    dead = stats.get("dead")
    if dead is not None and dead >= DEAD_FRACTION:
        found.append(
            f"{100 * dead:.0f}% of hidden units dead (constant output over the fixed batch; threshold "
            f"{100 * DEAD_FRACTION:.0f}%): capacity unused, e.g. from strong L1/decay or saturation"
        )
    fade = stats.get("hnorm.fade")
    if fade is not None and fade >= FADE_RATIO:
        peak, last = stats.get("hnorm.peak", math.nan), stats.get("hnorm.last", math.nan)
        found.append(
            f"hidden-state norm falls {fade:.1f}x from its peak ({peak:.3g}) to the last step ({last:.3g}; "
            f"threshold {FADE_RATIO:g}x): information fades along the sequence"
        )
    return found


# ---------------------------------------------------------------------------------------------- figures
def _figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (7.0, 4.0)) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def _integer_ticks(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def plot_weight_histograms(
    histograms: Mapping[str, Mapping[str, Sequence[float]]],
    path: str | Path,
    title: str = "Weights per gate: kernel vs recurrent",
    max_rows: int = 4,
) -> Path:
    """One panel per layer/direction (rows, at most ``max_rows``) and gate (columns), kernel and recurrent
    weight histograms (from :func:`weight_histograms`) overlaid, each as the fraction of its weights per bin (the
    legend gives the number of weights)."""
    groups: dict[str, dict[str, dict[str, Mapping[str, Sequence[float]]]]] = {}
    for key, h in histograms.items():
        layer, direction, kind, gate = key.split(".")
        groups.setdefault(f"{layer}.{direction}", {}).setdefault(gate, {})[kind] = h
    prefixes = list(groups)[:max_rows]
    gates = list(groups[prefixes[0]]) if prefixes else []
    fig, axes = _figure(
        max(len(prefixes), 1), max(len(gates), 1), (3.2 * max(len(gates), 1), 2.6 * max(len(prefixes), 1) + 0.6)
    )
    for r, prefix in enumerate(prefixes):
        for c, g in enumerate(gates):
            ax = axes[r][c]
            for kind, color in (("kernel", "tab:blue"), ("recurrent", "tab:orange")):
                hist = groups[prefix][g].get(kind)
                if hist is not None:
                    total = max(sum(hist["counts"]), 1)
                    label = f"{kind} ({total})"
                    fractions = [c / total for c in hist["counts"]]
                    ax.stairs(fractions, hist["edges"], color=color, label=label, fill=True, alpha=0.45)
            ax.set_title(f"{prefix.replace('.', ' ')} · {_gate_label(g)} gate", fontsize=9)
            ax.set_xlabel("weight value", fontsize=8)
            ax.set_ylabel("fraction of weights", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6)
    fig.suptitle(title)
    return _save(fig, path)


def plot_gradients(
    history: Sequence[Mapping[str, float]], path: str | Path, title: str = "Gradient norm per epoch (before clipping)"
) -> Path:
    """Global gradient norm (mean and max over each epoch's steps) and per-component means, log scale, with the
    fraction of clipped steps on the right axis."""
    fig, axes = _figure(size=(7.5, 4.2))
    ax = axes[0][0]
    epochs = [int(r["epoch"]) + 1 for r in history]
    styles = [
        ("grad.norm_mean", "global (mean)", "k", "-"),
        ("grad.norm_max", "global (max)", "k", ":"),
        ("grad.kernel", "kernel", "tab:blue", "-"),
        ("grad.recurrent", "recurrent", "tab:orange", "-"),
        ("grad.bias", "bias", "tab:green", "-"),
        ("grad.head", "head", "tab:purple", "-"),
    ]
    positive = False
    for key, label, color, ls in styles:
        ys = [r.get(key, math.nan) for r in history]
        if any(math.isfinite(y) for y in ys):
            ax.plot(epochs, ys, ls, color=color, label=label, marker=".")
            positive = positive or any(y > 0 for y in ys if math.isfinite(y))
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    _integer_ticks(ax)
    ax.set_ylabel("gradient L2 norm")
    ax2 = ax.twinx()
    ax2.bar(
        epochs, [r.get("grad.clip_fraction", 0.0) for r in history], color="tab:red", alpha=0.2, label="clipped steps"
    )
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("fraction of steps clipped", color="tab:red")
    lines, labels = ax.get_legend_handles_labels()
    lines2, labels2 = ax2.get_legend_handles_labels()
    ax.legend(lines + lines2, labels + labels2, fontsize=7, loc="upper right")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_title(title)
    return _save(fig, path)


def plot_saturation(
    history: Sequence[Mapping[str, float]], path: str | Path, title: str = "Saturated activations per gate"
) -> Path:
    """Per epoch: the fraction of saturated activations of each gate and of the hidden outputs, and the fraction
    of dead units (dashed)."""
    fig, axes = _figure(size=(7.5, 4.2))
    ax = axes[0][0]
    epochs = [int(r["epoch"]) + 1 for r in history]
    keys = sorted(
        {k for r in history for k in r if k.startswith("sat.") and k.count(".") == 1 and k != "sat.h"},
        key=lambda k: "ifgorznhidden".find(k.split(".")[1]),  # gate order, the hidden output last
    )  # a vanilla RNN's gate h is its hidden output: drawn once
    for k in keys:
        g = k.split(".")[1]
        label = "hidden output h" if g == "hidden" else f"{_gate_label(g)} gate"
        ax.plot(epochs, [100 * r.get(k, math.nan) for r in history], marker=".", label=label)
    ax.plot(epochs, [100 * r.get("dead", math.nan) for r in history], "k--", label="dead units")
    ax.axhline(
        100 * SATURATION_FRACTION, color="grey", lw=0.8, ls=":", label=f"{100 * SATURATION_FRACTION:.0f}% threshold"
    )
    ax.set_ylim(-2, 102)
    ax.set_xlabel("epoch")
    _integer_ticks(ax)
    ax.set_ylabel("% of activations (units for dead)")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title)
    return _save(fig, path)


def plot_hidden_norm(
    series: Mapping[str, Sequence[float]],
    path: str | Path,
    title: str = "Hidden-state norm along the sequence",
    dashed: Sequence[str] = (),
) -> Path:
    """One line per series (e.g. ``"epoch 20 L0.fwd"``): the mean ||h_t|| over valid sequences against t. Series
    whose labels end with the same word share a colour; those listed in ``dashed`` are drawn dashed."""
    fig, axes = _figure(size=(7.5, 4.2))
    ax = axes[0][0]
    colors: dict[str, str] = {}
    for label, curve in series.items():
        group = label.split()[-1] if label.split() else label
        color = colors.setdefault(group, f"C{len(colors) % 10}")
        ax.plot(range(1, len(curve) + 1), list(curve), "--" if label in dashed else "-", color=color, label=label)
    ax.set_xlabel("time step (in the direction's processing order)")
    _integer_ticks(ax)
    ax.set_ylabel("mean ||h_t|| over valid sequences")
    ax.set_ylim(bottom=0)
    if series:
        ax.legend(fontsize=7)
    ax.set_title(title)
    return _save(fig, path)


__all__ = [
    "CLIP_FRACTION", "CONTRACT_SPECTRAL", "DEAD_FRACTION", "DEAD_TOLERANCE", "FADE_RATIO", "SATURATION_FRACTION",
    "SIGMOID_HIGH", "SIGMOID_LOW", "TANH_LIMIT", "Capture", "Introspection", "activation_stats", "capture", "compact",
    "diagnose", "fixed_batch", "gradient_stats", "hidden_norm_curves", "nonfinite_count", "plot_gradients",
    "plot_hidden_norm", "plot_saturation", "plot_weight_histograms", "spectral_norm", "split_gates", "unit_norms",
    "weight_histograms", "weight_stats",
]  # fmt: skip
