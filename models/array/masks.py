"""One training step's random masks for every member, drawn as the single trial's forward draws them.

For member k, in its own stream (:class:`models.array.streams.MemberStreams`) and in the order of
:meth:`models.network.RNNClassifierNet.forward`: input noise, input dropout, then per layer the between-layer
dropout (layers after the first) and per direction the per-mini-batch recurrent-dropout mask, the weight-drop
mask and the per-sequence recurrent-dropout mask, last the output dropout. Each is drawn by the very function
the single path calls, with the single path's shape (a rate of 0 draws nothing, as there), applied to ones: the
mask is then exactly the factor the single path multiplies by. The members' masks are stacked (ones where a
member has the regularizer off; None where every member has it off).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from models.config import GATES, RNNConfig
from models.regularizers import SequenceDropout, recurrent_mask

Mask = torch.Tensor | None


@dataclass
class StepMasks:
    noise: Mask  # (K, B, T, C) additive input noise (std already applied)
    inputs: Mask  # (K, B, T, C) or (K, B, 1, C): input dropout
    layers: list[Mask]  # per layer (K, B, T or 1, W): between-layer dropout (layer 0: None)
    weights: list[list[Mask]]  # per layer, per direction (K, G*H, H): weight drop
    hidden: list[list[Mask]]  # per layer, per direction (K, B or 1, H): recurrent dropout, either mode
    output: Mask  # (K, B, D): output dropout


@dataclass
class _Draws:  # one member's masks (None = off)
    noise: Mask
    inputs: Mask
    layers: list[Mask]
    weights: list[list[Mask]]
    hidden: list[list[Mask]]
    output: Mask


def draw_member(cfg: RNNConfig, batch: int, steps: int, padded: bool, device: torch.device) -> _Draws:
    """Member ``cfg``'s masks for one training step, from the global generators (its stream swapped in);
    ``padded``: whether some sequence of the batch is shorter than the batch's steps."""
    opts: dict[str, Any] = {"device": device, "dtype": torch.float32}
    h, c = cfg.hidden_size, cfg.input_size
    width = h * (2 if cfg.bidirectional else 1)
    dirs = 2 if cfg.bidirectional else 1
    noise = torch.randn(batch, steps, c, **opts) * cfg.input_noise if cfg.input_noise else None
    inputs = _sequence_dropout(cfg.dropout, cfg.dropout_variational, (batch, steps, c), opts)
    layers: list[Mask] = []
    weights: list[list[Mask]] = []
    hidden: list[list[Mask]] = []
    like = torch.empty(0, **opts)
    # the single network's layer outputs are time-major in memory where nn.LSTM/GRU/RNN writes them unchanged (fused,
    # no norm, not packed); dropout's mask is drawn in the layout of the tensor it drops, so draw it in the same one
    time_major = cfg.resolved_path == "fused" and cfg.norm == "none" and not (cfg.bidirectional and padded)
    for i in range(cfg.num_layers):
        shape = (batch, steps, width)
        layers.append(
            _sequence_dropout(cfg.layer_dropout, cfg.dropout_variational, shape, opts, time_major) if i else None
        )
        w_row, h_row = [], []
        for _ in range(dirs):
            col = recurrent_mask(1, h, cfg.recurrent_dropout, like) if cfg.batch_recurrent_dropout else None
            w = (
                nn.functional.dropout(torch.ones(len(GATES[cfg.cell]) * h, h, **opts), cfg.weight_drop)
                if cfg.weight_drop
                else None
            )
            seq = recurrent_mask(batch, h, cfg.recurrent_dropout, like) if cfg.sequence_recurrent_dropout else None
            w_row.append(w)
            h_row.append(col if col is not None else seq)
        weights.append(w_row)
        hidden.append(h_row)
    output = nn.functional.dropout(torch.ones(batch, width, **opts), cfg.output_dropout) if cfg.output_dropout else None
    return _Draws(noise, inputs, layers, weights, hidden, output)


def _sequence_dropout(
    p: float, variational: bool, shape: tuple[int, int, int], opts: dict[str, Any], time_major: bool = False
) -> Mask:
    """:class:`SequenceDropout`'s factor: elementwise (B, T, F), or variational (B, 1, F)."""
    if not p:
        return None
    if variational:
        return torch.ones(shape[0], 1, shape[2], **opts).bernoulli_(1.0 - p).div_(1.0 - p)
    ones = torch.ones(shape[1], shape[0], shape[2], **opts).transpose(0, 1) if time_major else torch.ones(shape, **opts)
    return SequenceDropout(p)(ones)


def stack(draws: Sequence[_Draws]) -> StepMasks:
    """The members' masks as stacked tensors, ones (zeros for the additive noise) where a member has none."""
    first = draws[0]
    return StepMasks(
        _stack([d.noise for d in draws], 0.0),
        _stack([d.inputs for d in draws]),
        [_stack([d.layers[i] for d in draws]) for i in range(len(first.layers))],
        [
            [_stack([d.weights[i][j] for d in draws]) for j in range(len(first.weights[i]))]
            for i in range(len(first.weights))
        ],
        [
            [_stack([d.hidden[i][j] for d in draws]) for j in range(len(first.hidden[i]))]
            for i in range(len(first.hidden))
        ],
        _stack([d.output for d in draws]),
    )


def _stack(masks: list[Mask], fill: float = 1.0) -> Mask:
    present = [m for m in masks if m is not None]
    if not present:
        return None
    shape = torch.broadcast_shapes(*(m.shape for m in present))
    filler = present[0].new_full(shape, fill)
    return torch.stack([filler if m is None else m.expand(shape) for m in masks])
