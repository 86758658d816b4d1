"""K networks of one shape as one: every member's parameters are a row of one (K, N) tensor.

Row k holds member k's parameters in :class:`models.network.RNNClassifierNet`'s ``named_parameters`` order, so
the optimizer, the penalties and the clipping are a few ops on one tensor (per-member rates are (K, 1) or
(K, N) factors), and stopping members is indexing rows. The forward reads (K, ...) views of the rows: the input
projections, the recurrence (:func:`models.recurrence.run_members`) and the head are batched products over the
member dimension; norms, pooling and masking follow the single network's forward step by step.

The recurrence of each layer runs one of two ways per member. Members whose trial alone takes the loop path
(per-sequence recurrent dropout, or ``path='loop'``) always share one batched :func:`run_members`. Members
whose trial takes the fused path run, with ``fused_kernels`` (the default on the CPU), the very fused
``nn.LSTM/GRU/RNN`` kernel the single network runs, one call per member on its row's weights (on the CPU that
kernel costs about a third of the per-step loop, while what an array saves is everything around it); without
(the default on a GPU, where one batched loop for all K beats K kernel calls as K grows) they join the batched
loop, which computes the same function.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.array.masks import StepMasks
from models.config import RNNConfig
from models.network import RNNClassifierNet
from models.recurrence import reverse_within_lengths, run_members

BN_EPS, BN_MOMENTUM, LN_EPS = 1e-5, 0.1, 1e-5  # nn.BatchNorm1d / nn.LayerNorm defaults, as the single network


@dataclass(frozen=True)
class Slot:
    """One parameter of the single network inside a row."""

    name: str  # its name in RNNClassifierNet (the state dict adds "net.")
    shape: tuple[int, ...]
    offset: int
    role: str  # kernel | recurrent | bias | head | other (RNNClassifierNet.parameter_groups)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class ArrayOutput(NamedTuple):
    logits: torch.Tensor  # (K, B, classes)
    pooled: torch.Tensor  # (K, B, D) before output dropout
    sequence: torch.Tensor  # (K, B, T, D) the last layer's outputs, zero at padding
    mask: torch.Tensor | None  # (B, T) valid steps, None when nothing is padded


def _role(name: str) -> str:
    if name.startswith("layers."):
        leaf = name.rsplit(".", 1)[1]
        return "kernel" if leaf.startswith("weight_ih") else "recurrent" if leaf.startswith("weight_hh") else "bias"
    return "head" if name == "head.weight" else "other"


class StackedNet:
    """The members' networks (equal :func:`models.array.support.array_key`) as stacked tensors."""

    def __init__(
        self, cfg: RNNConfig, nets: Sequence[RNNClassifierNet], device: torch.device, fused_kernels: bool | None = None
    ) -> None:
        self.cfg = cfg
        self.paths = [net.path for net in nets]  # each member's path alone: fused | loop
        self.fused_kernels = device.type == "cpu" if fused_kernels is None else fused_kernels
        # a template module per layer for the fused kernel (its own weights are never read: each call passes a member's)
        self.templates: list[nn.Module] = (
            [layer.get_submodule("rnn").to(device) for layer in nets[0].layers] if self.fused_kernels else []
        )
        self.slots: list[Slot] = []
        offset = 0
        for name, p in nets[0].named_parameters():
            self.slots.append(Slot(name, tuple(p.shape), offset, _role(name)))
            offset += p.numel()
        self.size = offset
        self.flat = torch.stack(
            [torch.cat([p.detach().reshape(-1) for p in net.parameters()]) for net in nets]
        ).to(device).requires_grad_(True)  # fmt: skip
        # batch-norm running statistics (the state dict's buffers), stacked the same way
        self.buffers = {name: torch.stack([dict(net.named_buffers())[name] for net in nets]).to(device)
                        for name, _ in nets[0].named_buffers()}  # fmt: skip
        self.suffixes = ["", "_reverse"] if cfg.bidirectional else [""]

    @property
    def members(self) -> int:
        return self.flat.shape[0]

    def role_vector(self, values: Sequence[dict[str, float]]) -> torch.Tensor:
        """A (K, N) tensor: member k's ``values[k][role]`` on each of its parameters' entries (0 for a role not
        in the dict)."""
        rows = [torch.cat([torch.full((s.size,), float(v.get(s.role, 0.0)), dtype=torch.float64) for s in self.slots])
                for v in values]  # fmt: skip
        return torch.stack(rows).to(self.flat.device, self.flat.dtype)

    def views(self, flat: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Each parameter as a (K, *shape) view of the rows (of ``flat``, default the parameters)."""
        flat = self.flat if flat is None else flat
        parts = flat.split([s.size for s in self.slots], dim=1)
        return {s.name: part.view(flat.shape[0], *s.shape) for s, part in zip(self.slots, parts)}

    def keep(self, idx: Sequence[int]) -> None:
        """Keep only the members ``idx`` (in that order): the freed members stop costing compute."""
        index = torch.as_tensor(list(idx), device=self.flat.device, dtype=torch.long)
        self.flat = self.flat.detach()[index].requires_grad_(True)
        self.buffers = {k: v[index] for k, v in self.buffers.items()}
        self.paths = [self.paths[i] for i in idx]

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member k as a single ``RNNClassifier.state_dict()`` (copies, on the CPU)."""
        row = self.flat.detach()[k]
        state = {f"net.{s.name}": row[s.offset : s.offset + s.size].view(s.shape).clone().cpu() for s in self.slots}
        state.update({f"net.{name}": v[k].clone().cpu() for name, v in self.buffers.items()})
        return dict(sorted(state.items(), key=lambda kv: _order(kv[0], self.slots, self.buffers)))

    def load_member(self, k: int, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for s in self.slots:
                self.flat[k, s.offset : s.offset + s.size] = state[f"net.{s.name}"].reshape(-1).to(self.flat.device)
            for name, v in self.buffers.items():
                v[k] = state[f"net.{name}"].to(v.device)

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, lengths: torch.Tensor, masks: StepMasks | None) -> ArrayOutput:
        """Every member on the same batch ``x`` (B, T, C): training with ``masks`` (a step's draws), eval without."""
        cfg, p = self.cfg, self.views()
        members = self.members
        training = masks is not None
        steps = x.shape[1]
        lengths = lengths.to(x.device)
        mask = None
        if bool((lengths < steps).any()):
            mask = torch.arange(steps, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)
        h = x.expand(members, *x.shape)
        if masks is not None and masks.noise is not None:
            h = h + masks.noise
        if masks is not None and masks.inputs is not None:
            h = h * masks.inputs
        for i in range(cfg.num_layers):
            layer_mask = None if masks is None else masks.layers[i]
            if layer_mask is not None:
                h = h * layer_mask
            h = self._layer(i, h, lengths, mask, masks, p)
            if cfg.norm != "none":
                h = self._norm(i, h, mask, training)
            if mask is not None:
                h = h * mask.unsqueeze(-1)
        pooled = self._pool(h, lengths, mask)
        dropped = pooled if masks is None or masks.output is None else pooled * masks.output
        logits = torch.baddbmm(p["head.bias"].unsqueeze(1), dropped, p["head.weight"].transpose(1, 2))
        return ArrayOutput(logits, pooled, h, mask)

    def _layer(
        self, i: int, h: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor | None, masks: StepMasks | None,
        p: dict[str, torch.Tensor],
    ) -> torch.Tensor:  # fmt: skip
        """Layer ``i``'s recurrence for every member: (K, B, T, C) -> (K, B, T, W)."""
        fused = [k for k, path in enumerate(self.paths) if path == "fused"] if self.fused_kernels else []
        if not fused:
            return self._batched(i, h, lengths, mask, masks, p)
        outs: list[torch.Tensor | None] = [None] * h.shape[0]
        xs = h.unbind(0)
        pre = f"layers.{i}.rnn."
        rows = {name[len(pre) :]: v.unbind(0) for name, v in p.items() if name.startswith(pre)}
        pack = mask is not None and self.cfg.bidirectional  # as RecurrentLayer._fused
        for k in fused:
            weights = {name: v[k] for name, v in rows.items()}
            for j, s in enumerate(self.suffixes):
                w = weights[f"weight_hh_l0{s}"]
                if masks is not None:  # the single path's order: columns (batch recurrent dropout), then weight drop
                    col, drop = masks.hidden[i][j], masks.weights[i][j]
                    if col is not None:
                        w = w * col[k][:1]  # a per-mini-batch mask: every row the same
                    if drop is not None:
                        w = w * drop[k]
                    weights[f"weight_hh_l0{s}"] = w
            inp: torch.Tensor | nn.utils.rnn.PackedSequence = xs[k]
            if pack:
                inp = pack_padded_sequence(xs[k], lengths.cpu(), batch_first=True, enforce_sorted=False)
            out = functional_call(self.templates[i], weights, (inp,))[0]
            if pack:
                out = pad_packed_sequence(out, batch_first=True, total_length=h.shape[2])[0]
            outs[k] = out
        loop = [k for k in range(h.shape[0]) if outs[k] is None]
        if loop:
            index = torch.as_tensor(loop, device=h.device)
            sub = {name: v.index_select(0, index) for name, v in p.items() if name.startswith(pre)}
            sub_masks = None if masks is None else _select(masks, i, index)
            for n, out in zip(
                loop, self._batched(i, h.index_select(0, index), lengths, mask, sub_masks, sub).unbind(0)
            ):
                outs[n] = out
        return torch.stack(outs)  # type: ignore[arg-type]

    def _batched(
        self, i: int, h: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor | None, masks: StepMasks | None,
        p: dict[str, torch.Tensor],
    ) -> torch.Tensor:  # fmt: skip
        """Layer ``i`` for the members of ``h`` (and of ``p``, ``masks``) as one batched loop."""
        outs = []
        for j, s in enumerate(self.suffixes):
            pre = f"layers.{i}.rnn."
            w_hh = p[f"{pre}weight_hh_l0{s}"]
            h_mask = None
            if masks is not None:
                drop = masks.weights[i][j]
                if drop is not None:
                    w_hh = w_hh * drop
                h_mask = masks.hidden[i][j]
            xs = self._reverse(h, lengths, mask) if s else h
            out = run_members(
                self.cfg.cell, xs, p[f"{pre}weight_ih_l0{s}"], w_hh, p.get(f"{pre}bias_ih_l0{s}"),
                p.get(f"{pre}bias_hh_l0{s}"), h_mask,
            )  # fmt: skip
            outs.append(self._reverse(out, lengths, mask) if s else out)
        return torch.cat(outs, -1) if len(outs) > 1 else outs[0]

    @staticmethod
    def _reverse(h: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Each member's sequences reversed within their lengths (as the single network's loop path)."""
        if mask is None:
            return h.flip(2)
        k, b = h.shape[:2]
        out = reverse_within_lengths(h.reshape(k * b, *h.shape[2:]), lengths.repeat(k))
        return out.view(h.shape)

    def _norm(self, i: int, h: torch.Tensor, mask: torch.Tensor | None, training: bool) -> torch.Tensor:
        p = self.views()
        w, b = p[f"norms.{i}.norm.weight"].unsqueeze(1), p[f"norms.{i}.norm.bias"].unsqueeze(1)  # (K, 1, F)
        k, batch, steps, feats = h.shape
        if self.cfg.norm == "layer":
            y = F.layer_norm(h, (feats,), eps=LN_EPS)
            return y * w.unsqueeze(1) + b.unsqueeze(1)
        # batch norm over the valid (batch, time) positions, per member; padded positions are zeros
        valid = h.reshape(k, batch * steps, feats) if mask is None else h[:, mask]
        pre = f"norms.{i}.norm."
        if training and valid.shape[1] > 1:  # one valid position has no batch statistics: the running ones
            mean = valid.mean(1, keepdim=True)
            var = valid.var(1, unbiased=False, keepdim=True)
            with torch.no_grad():
                n = valid.shape[1]
                rm, rv = self.buffers[f"{pre}running_mean"], self.buffers[f"{pre}running_var"]
                rm.mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * mean.squeeze(1))
                rv.mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * var.squeeze(1) * (n / max(n - 1, 1)))
                self.buffers[f"{pre}num_batches_tracked"].add_(1)
        else:
            mean = self.buffers[f"{pre}running_mean"].unsqueeze(1)
            var = self.buffers[f"{pre}running_var"].unsqueeze(1)
        y = (valid - mean) * torch.rsqrt(var + BN_EPS) * w + b
        if mask is None:
            return y.view(h.shape)
        out = h.new_zeros(h.shape)
        out[:, mask] = y
        return out

    def _pool(self, h: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        kind = self.cfg.pooling
        if kind == "last":
            idx = (lengths - 1).clamp(min=0)
            last = h[:, torch.arange(h.shape[1], device=h.device), idx]
            if not self.cfg.bidirectional:
                return last
            hs = self.cfg.hidden_size
            return torch.cat([last[..., :hs], h[:, :, 0, hs:]], -1)
        if mask is None:
            return h.mean(2) if kind == "mean" else h.amax(2)
        if kind == "mean":
            return h.sum(2) / lengths.clamp(min=1).unsqueeze(1).to(h.dtype)
        return h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(2)


def _select(masks: StepMasks, i: int, index: torch.Tensor) -> StepMasks:
    """Layer ``i``'s recurrent masks of the members ``index`` (what :meth:`StackedNet._batched` reads)."""
    pick = [
        [None if m is None else m.index_select(0, index) for m in row] for row in (masks.weights[i], masks.hidden[i])
    ]
    weights = [list(r) for r in masks.weights]
    hidden = [list(r) for r in masks.hidden]
    weights[i], hidden[i] = pick[0], pick[1]
    return StepMasks(None, None, [None] * len(masks.layers), weights, hidden, None)


def _order(key: str, slots: list[Slot], buffers: dict[str, torch.Tensor]) -> tuple[int, int]:
    """The single state dict's key order: per module, parameters then buffers (module order = name order)."""
    names = [f"net.{s.name}" for s in slots] + [f"net.{b}" for b in buffers]
    module = key.rsplit(".", 1)[0]
    modules = list(dict.fromkeys(n.rsplit(".", 1)[0] for n in names))
    return modules.index(module), names.index(key)
