"""Activations on a fixed batch: gate saturation, dead units and the hidden-state norm against the step.

:func:`capture` runs the network in eval mode with its own weights (after the Conv1D front end, through every
layer and its normalization), counting only the valid (unpadded) steps. The gates come either from the
step-by-step recurrence (:func:`models.recurrence.autograd_loop`, observing each
:func:`~models.recurrence.cell_step`) or, by default and several times cheaper, from replaying each step's gates at once from the layer's recorded
outputs; both give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.config import GATES
from models.introspect.layout import DIRECTIONS, SIGMOID_GATES, bias_sum, device_of, finite, layer_params
from models.recurrence import autograd_loop, gru_preactivations, reverse_within_lengths
from models.regularizers.zoneout import zoneout_keep

SIGMOID_LOW = 0.01  # a sigmoid gate below this is saturated shut ...
SIGMOID_HIGH = 0.99  # ... and above this saturated open
TANH_LIMIT = 0.99  # a tanh candidate / hidden output beyond +-this is saturated
DEAD_TOLERANCE = 1e-4  # a hidden unit whose output spans at most this over the batch and time is dead
CHUNK_STEPS = 128  # activation statistics are reduced every this many steps (bounded memory)


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
            with np.errstate(over="ignore"):  # a sum past float32's range (exploded, finite values) is flagged too
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


def _loop_direction(
    cell: str, x: torch.Tensor, p: Mapping[str, torch.Tensor | None], valid: torch.Tensor, acc: _Accumulator,
    zoneout_rate: float = 0.0,
) -> torch.Tensor:  # fmt: skip
    """One direction of one layer, step by step: :func:`models.recurrence.autograd_loop` in eval mode (no
    dropout; zoneout as its expectation), feeding every ``CHUNK_STEPS`` steps' gate pre-activations and outputs
    to ``acc``."""
    w_ih, w_hh = p["weight_ih"], p["weight_hh"]
    assert w_ih is not None and w_hh is not None
    batch, steps, _ = x.shape
    hidden = w_hh.shape[1]
    keep_h = zoneout_keep(steps, batch, hidden, zoneout_rate, False, x)
    keep_c = keep_h if cell == "lstm" else None
    outputs: list[torch.Tensor] = []
    pres: list[torch.Tensor] = []

    def observe(t: int, h: torch.Tensor, pre: tuple[torch.Tensor, ...]) -> None:
        outputs.append(h)
        pres.append(torch.cat(pre, -1) if len(pre) > 1 else pre[0])
        if len(pres) == CHUNK_STEPS or t == steps - 1:
            start = t + 1 - len(pres)
            chunk = valid[:, start : t + 1]
            acc.add(torch.stack(pres, 1)[chunk], torch.stack(outputs[start:], 1), chunk, start)
            pres.clear()

    return autograd_loop(cell, x, w_ih, w_hh, p["bias_ih"], p["bias_hh"], valid, None, keep_h, keep_c, observe)


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
            u = torch.cat(gru_preactivations(ux, uh)[0], -1)
        else:  # one product: [W_ih | W_hh] @ [x_t ; h_{t-1}] + b_ih + b_hh
            w = torch.cat([p["weight_ih"], p["weight_hh"]], 1)  # type: ignore[list-item]
            u = F.linear(torch.cat([x[:, t0:t1], h_prev], -1)[chunk], w, bias_sum(p["bias_ih"], p["bias_hh"]))
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

    ``method="loop"`` runs the recurrence step by step (:func:`models.recurrence.autograd_loop` in eval mode: no
    dropout, zoneout as its expectation), capturing the gate activations as it goes. ``"replay"`` (the default,
    several times cheaper) runs each layer exactly as the network does (its fused kernel or its loop)
    and then recomputes every step's gates at once from x_t and the recorded h_{t-1}, which is all a gate
    depends on: the same numbers up to float rounding (a test checks it). ``recorded`` (replay only) gives each
    layer's ``(input, output)`` as the network's own forward produced them for this batch (``x`` and ``lengths``
    then being the first layer's input and lengths, after the Conv1D front end): nothing is recomputed but the
    gates. :class:`~models.introspect.callback.Introspection` records them from the validation pass itself.

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
        device = device_of(net)
        x = x.to(device=device, dtype=torch.float32)
        lengths = lengths.to(device)
        if net.conv is not None and recorded is None:  # type: ignore[attr-defined]
            x, lengths = net.conv(x, lengths)  # type: ignore[attr-defined,operator]
            x, lengths = net.conv.downsample(x, lengths)  # type: ignore[attr-defined,operator,union-attr]
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
                params = layer_params(layer, suffix)
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
            if len(norms):
                x = norms[i](x, mask)
            if mask is not None:  # after the norm, as the network: a layer norm's shift would refill the padding
                x = x * mask.unsqueeze(-1)
        host = _to_host(results)
        stats, curves = _activation_summary(host, cells, hidden=[layer.hidden_size for layer in layers])
        return Capture(finite(stats), curves, x)
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
