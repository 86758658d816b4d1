"""The RNN classifier as a plain ``nn.Module`` built from an :class:`~models.config.RNNConfig`.

Each RNN layer owns a one-layer PyTorch ``nn.LSTM/GRU/RNN``. On the *fused* path that module runs itself
(cuDNN on GPU), with weight drop and per-batch recurrent dropout applied to the hidden-to-hidden weights
through ``torch.func.functional_call`` (the parameters are never overwritten). On the *loop* path, chosen only
when per-sequence recurrent dropout or zoneout is on, :func:`models.recurrence.run_loop` reads the very same
parameters step by step. ``model.path`` says which one a model runs.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.config import PARAMETER_GROUPS, RNNConfig
from models.recurrence import reverse_within_lengths, run_loop
from models.regularizers import (
    BranchDropout,
    GaussianNoise,
    SequenceDropout,
    SequenceNorm,
    drop_columns,
    drop_weight,
    recurrent_mask,
)

_RNN_CLASSES: dict[str, type[nn.LSTM | nn.GRU | nn.RNN]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
# Dropped weights are fresh tensors, so cuDNN must pack them on each call: expected, not a bug to report.
warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk")


class NetOutput(NamedTuple):
    logits: torch.Tensor  # (B, num_classes)
    pooled: torch.Tensor  # (B, D): the pooled RNN output, before output dropout
    sequence: torch.Tensor  # (B, T', D): the last RNN layer's outputs (zeros at padding)
    mask: torch.Tensor | None  # (B, T') valid steps, or None when no sequence is padded
    lengths: torch.Tensor  # (B,) valid steps after the Conv1D front end


class RecurrentLayer(nn.Module):
    """One (optionally bidirectional) RNN layer with weight drop and recurrent dropout."""

    def __init__(self, cfg: RNNConfig, input_size: int) -> None:
        super().__init__()
        self.cell = cfg.cell
        self.hidden_size = cfg.hidden_size
        self.cfg = cfg
        self.rnn = _RNN_CLASSES[cfg.cell](
            input_size, cfg.hidden_size, num_layers=1, bias=True, batch_first=True, bidirectional=cfg.bidirectional
        )
        self.suffixes = ["", "_reverse"] if cfg.bidirectional else [""]

    def _weight(self, kind: str, suffix: str) -> torch.Tensor | None:
        return getattr(self.rnn, f"{kind}_l0{suffix}", None)

    def _recurrent_weight(self, suffix: str) -> torch.Tensor:
        """The hidden-to-hidden weight this forward uses: raw, or a dropped copy in training."""
        w = getattr(self.rnn, f"weight_hh_l0{suffix}")
        if not self.training:
            return w
        if self.cfg.batch_recurrent_dropout:
            w = drop_columns(w, recurrent_mask(1, self.hidden_size, self.cfg.recurrent_dropout, w)[0])
        return drop_weight(w, self.cfg.weight_drop, True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor | None, path: str) -> torch.Tensor:
        if path == "fused":
            return self._fused(x, lengths, mask)
        return self._loop(x, lengths, mask)

    def _fused(self, x: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        cfg = self.cfg
        overrides = {}
        if self.training and (cfg.weight_drop > 0 or cfg.batch_recurrent_dropout):
            overrides = {f"weight_hh_l0{s}": self._recurrent_weight(s) for s in self.suffixes}
        pack = mask is not None and cfg.bidirectional  # a forward-only RNN never reads past a sequence's end
        inp: torch.Tensor | nn.utils.rnn.PackedSequence = x
        if pack:
            inp = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out = functional_call(self.rnn, overrides, (inp,))[0] if overrides else self.rnn(inp)[0]
        if pack:
            out = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]
        return out

    def _loop(self, x: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        cfg = self.cfg
        outs = []
        seq_mask = self.training and cfg.sequence_recurrent_dropout
        for s in self.suffixes:
            w_hh = self._recurrent_weight(s)
            h_mask = recurrent_mask(x.shape[0], self.hidden_size, cfg.recurrent_dropout, x) if seq_mask else None
            lens = None if mask is None else lengths
            xs = reverse_within_lengths(x, lens) if s else x
            # no per-step freezing past the lengths (valid=None): in both directions a sequence's padding comes
            # after its last valid step, so no valid output ever depends on it, and the caller zeroes it
            out = run_loop(
                self.cell, xs, self._weight("weight_ih", s), w_hh, self._weight("bias_ih", s),  # type: ignore[arg-type]
                self._weight("bias_hh", s), None, h_mask, cfg.zoneout, self.training,
            )  # fmt: skip
            outs.append(reverse_within_lengths(out, lens) if s else out)
        return torch.cat(outs, -1) if len(outs) > 1 else outs[0]


def valid_steps(steps: int, lengths: torch.Tensor, device: torch.device) -> torch.Tensor:
    """(B, steps) booleans: step t of sequence b is valid iff t < lengths[b]."""
    return torch.arange(steps, device=device).unsqueeze(0) < lengths.to(device).unsqueeze(1)


def padding_mask(steps: int, lengths: torch.Tensor, device: torch.device) -> torch.Tensor | None:
    """:func:`valid_steps`, or None when every sequence fills all ``steps`` (nothing to mask)."""
    return valid_steps(steps, lengths, device) if bool((lengths < steps).any()) else None


class ConvFrontEnd(nn.Module):
    """Conv1D blocks before the RNN: the first strided (shortens long sequences ``stride``-fold), the others
    kernel 3, stride 1, "same" padding; each block is conv -> optional masked BatchNorm -> ReLU.

    With ``pool`` every block runs at full resolution (the first with "same" padding too, as in FCN) and
    :meth:`downsample` shortens the result ``stride``-fold by averaging side-by-side windows of valid steps:
    the RNN sees as many steps as with a strided first block, while the blocks (and ``conv_skip``'s average)
    keep every step, at ``stride`` times the convolutions' cost.

    Valid lengths map to ``ceil(length / stride)``: an output step is valid iff its window starts on a valid
    input step. Steps past a sequence's length are zeroed before every block, so whatever lies there (padding,
    or garbage) never reaches a valid output. One block with ``kernel == stride`` and no norm is the original
    front end, bit for bit (same parameters, same initialization order, same arithmetic).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        kernel: int = 0,
        blocks: int = 1,
        norm: str = "none",
        pool: bool = False,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.kernel = kernel or stride
        self.pool = pool
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size=self.kernel, stride=1 if pool else stride)
        self.more = nn.ModuleList(
            nn.Conv1d(out_channels, out_channels, kernel_size=3, padding=1) for _ in range(blocks - 1)
        )
        self.norms = nn.ModuleList(SequenceNorm("batch", out_channels) for _ in range(blocks if norm == "batch" else 0))

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid lengths after the front end and :meth:`downsample`: ``ceil(length / stride)``."""
        return torch.div(lengths + self.stride - 1, self.stride, rounding_mode="floor")

    def downsample(self, y: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """With ``pool``: the mean of each window of ``stride`` side-by-side steps over its valid steps (B, T, C)
        -> (B, ceil(T / stride), C); the identity without (the first block already strided)."""
        if not self.pool or self.stride == 1:
            return y, lengths
        steps = y.shape[1]
        out_steps = -(-steps // self.stride)
        valid = valid_steps(steps, lengths, y.device).to(y.dtype)
        pad = out_steps * self.stride - steps
        sums = nn.functional.pad((y * valid.unsqueeze(-1)).transpose(1, 2), (0, pad))
        counts = nn.functional.pad(valid.unsqueeze(1), (0, pad))
        sums = sums.reshape(y.shape[0], y.shape[2], out_steps, self.stride).sum(-1)
        counts = counts.reshape(y.shape[0], 1, out_steps, self.stride).sum(-1)
        return (sums / counts.clamp(min=1)).transpose(1, 2), self.out_lengths(lengths)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        steps = x.shape[1]
        inside = padding_mask(steps, lengths, x.device)
        if inside is not None:  # a window straddling a sequence's end must see zeros past it
            x = x * inside.unsqueeze(-1)
        if self.pool:  # "same" padding, as FCN's blocks: step t's window is centred on t
            out_steps = steps
            y = nn.functional.pad(x.transpose(1, 2), ((self.kernel - 1) // 2, self.kernel // 2))
        else:
            out_steps = -(-steps // self.stride)
            pad = max(0, (out_steps - 1) * self.stride + self.kernel - steps)
            y = nn.functional.pad(x.transpose(1, 2), (0, pad))
            lengths = self.out_lengths(lengths)
        mask = padding_mask(out_steps, lengths, x.device)
        y = self.conv(y).transpose(1, 2)
        for i in range(len(self.more) + 1):
            if i > 0:
                if mask is not None:
                    y = y * mask.unsqueeze(-1)
                y = self.more[i - 1](y.transpose(1, 2)).transpose(1, 2)
            if self.norms:
                y = self.norms[i](y, mask)
            y = torch.relu(y)
        return y, lengths


class RNNClassifierNet(nn.Module):
    """Inputs (B, T, C) + lengths (B,) -> class logits, with every regularizer of the config."""

    def __init__(self, cfg: RNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.path = cfg.resolved_path
        self.input_noise = GaussianNoise(cfg.input_noise)
        self.input_dropout = SequenceDropout(cfg.dropout, cfg.dropout_variational)
        self.layer_dropout = SequenceDropout(cfg.layer_dropout, cfg.dropout_variational)
        self.output_dropout = nn.Dropout(cfg.output_dropout)
        self.branch_dropout = BranchDropout(cfg.branch_dropout)  # the RNN's side of a conv_skip head
        size = cfg.input_size
        self.conv: ConvFrontEnd | None = None
        if cfg.conv_blocks > 0:
            size = cfg.conv_channels or cfg.hidden_size
            self.conv = ConvFrontEnd(
                cfg.input_size, size, cfg.conv_stride, cfg.conv_kernel, cfg.conv_blocks, cfg.conv_norm, cfg.conv_pool
            )
        width = cfg.hidden_size * (2 if cfg.bidirectional else 1)
        layers, norms = [], []
        for i in range(cfg.num_layers):
            # biases under batch norm too: the norm acts on the layer's output, outside the recurrence, and its shift
            # cannot stand in for the gates' (until 2026-12-06 batch norm built the RNN without them: at inputs at
            # their channel means the state stayed 0 however long the sequence; review5)
            layers.append(RecurrentLayer(cfg, size if i == 0 else width))
            if cfg.norm != "none":
                norms.append(SequenceNorm(cfg.norm, width))
        self.layers = nn.ModuleList(layers)
        self.norms = nn.ModuleList(norms)
        self.skip = self.conv is not None and cfg.conv_skip  # the head reads the front end's mean too (LSTM-FCN)
        self.head = nn.Linear(width + (size if self.skip else 0), cfg.num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> NetOutput:
        x = self.input_dropout(self.input_noise(x))
        features = None
        if self.conv is not None:
            x, lengths = self.conv(x, lengths)
            if self.skip:  # at the blocks' own resolution (every step with conv_pool)
                features = self._average(x, lengths, padding_mask(x.shape[1], lengths, x.device))
            x, lengths = self.conv.downsample(x, lengths)
        mask = padding_mask(x.shape[1], lengths, x.device)
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.layer_dropout(x)
            x = layer(x, lengths, mask, self.path)
            if self.norms:
                x = self.norms[i](x, mask)
            if mask is not None:  # after the norm: a layer norm's shift would refill the padding
                x = x * mask.unsqueeze(-1)
        pooled = self.pool(x, lengths, mask)
        read = pooled if features is None else torch.cat([self.branch_dropout(pooled), features], -1)
        logits = self.head(self.output_dropout(read))
        return NetOutput(logits, pooled, x, mask, lengths)

    @staticmethod
    def _average(x: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """The mean over each sequence's valid steps (B, T, F) -> (B, F): the front end's global average."""
        if mask is None:
            return x.mean(1)
        return (x * mask.unsqueeze(-1)).sum(1) / lengths.to(x.device).clamp(min=1).unsqueeze(1).to(x.dtype)

    def pool(self, x: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        kind = self.cfg.pooling
        if kind == "last":
            idx = (lengths.to(x.device) - 1).clamp(min=0)
            last = x[torch.arange(x.shape[0], device=x.device), idx]
            if not self.cfg.bidirectional:
                return last
            h = self.cfg.hidden_size
            return torch.cat([last[:, :h], x[:, 0, h:]], -1)  # the reverse direction ends at step 0
        if mask is None:
            return x.mean(1) if kind == "mean" else x.amax(1)
        if kind == "mean":
            return x.sum(1) / lengths.to(x.device).clamp(min=1).unsqueeze(1).to(x.dtype)
        return x.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by role: kernel (input-to-hidden), recurrent, bias (RNN biases), head, head_bias, other."""
        groups: dict[str, list[nn.Parameter]] = {k: [] for k in PARAMETER_GROUPS}
        for name, p in self.named_parameters():
            if name.startswith("layers."):
                leaf = name.rsplit(".", 1)[1]
                role = (
                    "kernel"
                    if leaf.startswith("weight_ih")
                    else "recurrent"
                    if leaf.startswith("weight_hh")
                    else "bias"
                )
            elif name == "head.weight":
                role = "head"
            else:
                role = "other"
            groups[role].append(p)
        return groups
