"""The per-step recurrence: used only when a regularizer acts inside the cell (per-sequence recurrent
dropout, zoneout). It reads the *same* parameters as the fused ``nn.LSTM/GRU/RNN`` module, so both paths
compute the same function, and it is kept lean: the input projection of all steps is one matmul, each step
is one ``addmm`` plus the gate non-linearities.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from models.regularizers.zoneout import zoneout


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverse each sequence over its own valid steps; padding stays in place. It is its own inverse."""
    if lengths is None:
        return x.flip(1)
    t = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    lens = lengths.to(x.device).unsqueeze(1)
    idx = torch.where(t < lens, lens - 1 - t, t)
    return x.gather(1, idx.unsqueeze(-1).expand_as(x))


def run_loop(
    cell: str,
    x: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None,
    b_hh: torch.Tensor | None,
    valid: torch.Tensor | None,
    h_mask: torch.Tensor | None,
    zoneout_rate: float,
    training: bool,
) -> torch.Tensor:
    """Run one direction of one layer over ``x`` (B, T, C); return the outputs (B, T, H).

    ``valid`` (B, T) bool freezes the state past each sequence's end; ``h_mask`` (B or 1, H) multiplies the
    hidden state fed back into the hidden-to-hidden product (recurrent dropout).
    """
    batch, steps, _ = x.shape
    hidden = w_hh.shape[1]
    xw = F.linear(x, w_ih, b_ih)  # all steps' input projections in one matmul
    h = x.new_zeros(batch, hidden)
    c = x.new_zeros(batch, hidden) if cell == "lstm" else h
    bias = b_hh if b_hh is not None else x.new_zeros(w_hh.shape[0])
    w_hh_t = w_hh.t()
    outputs = []
    for t in range(steps):
        hh = h if h_mask is None else h * h_mask
        rec = torch.addmm(bias, hh, w_hh_t)
        if cell == "lstm":
            gates = xw[:, t] + rec
            sig = torch.sigmoid(gates)
            i, f, _, o = sig.chunk(4, 1)
            g = torch.tanh(gates[:, 2 * hidden : 3 * hidden])
            c_new = f * c + i * g
            h_new = o * torch.tanh(c_new)
            if zoneout_rate:
                c_new = zoneout(c, c_new, zoneout_rate, training)
        elif cell == "gru":
            xr, xz, xn = xw[:, t].chunk(3, 1)
            hr, hz, hn = rec.chunk(3, 1)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            h_new = n + z * (h - n)
            c_new = h_new
        else:
            h_new = torch.tanh(xw[:, t] + rec)
            c_new = h_new
        if zoneout_rate:
            h_new = zoneout(h, h_new, zoneout_rate, training)
        if valid is not None:
            v = valid[:, t].unsqueeze(1)
            h_new = torch.where(v, h_new, h)
            if cell == "lstm":
                c_new = torch.where(v, c_new, c)
        h = h_new
        c = c_new if cell == "lstm" else h
        outputs.append(h)
    return torch.stack(outputs, 1)
