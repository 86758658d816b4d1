"""The per-step recurrence: used only when a regularizer acts inside the cell (per-sequence recurrent
dropout, zoneout). It reads the *same* parameters as the fused ``nn.LSTM/GRU/RNN`` module, so both paths
compute the same function.

On CPU a small RNN's step costs a handful of microseconds per op, so the op count is the speed. The loop is
one :class:`torch.autograd.Function` with a hand-written backward (BPTT): the forward records nothing for
autograd, the input projection of all steps is one matmul, each step is one ``addmm`` plus the gate
non-linearities written into preallocated buffers, and the backward computes the weight gradients of all
steps in one matmul after the per-step loop. :func:`autograd_loop` is the same math left to autograd: the
reference the tests hold the fast loop to, and the path taken when states must freeze past each length;
its :func:`cell_step` is the one written-out LSTM / GRU / RNN step (introspection observes it for the gates).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from models.regularizers.zoneout import zoneout_keep

Keep = torch.Tensor | float | None  # zoneout: (T, B, H) 0/1 keep-masks in training, the rate in eval, None = off
StepObserver = Callable[[int, torch.Tensor, tuple[torch.Tensor, ...]], None]  # (t, h_t, gate pre-activations)


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

    ``valid`` (B, T) bool freezes the state past each sequence's end (not needed when, as in the network,
    the steps past a length are masked afterwards: a forward recurrence never reads them); ``h_mask``
    (B or 1, H) multiplies the hidden state fed back into the hidden-to-hidden product (recurrent dropout);
    ``zoneout_rate`` zones out the hidden (and LSTM cell) state, fresh masks per step in training.
    """
    batch, steps, _ = x.shape
    hidden = w_hh.shape[1]
    keep_h = zoneout_keep(steps, batch, hidden, zoneout_rate, training, x)
    keep_c = zoneout_keep(steps, batch, hidden, zoneout_rate, training, x) if cell == "lstm" else None
    if valid is not None:
        return autograd_loop(cell, x, w_ih, w_hh, b_ih, b_hh, valid, h_mask, keep_h, keep_c)
    out = _Recurrence.apply(cell, x, w_ih, w_hh, b_ih, b_hh, h_mask, keep_h, keep_c)
    return out  # type: ignore[no-any-return]


def autograd_loop(
    cell: str,
    x: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None,
    b_hh: torch.Tensor | None,
    valid: torch.Tensor | None,
    h_mask: torch.Tensor | None,
    keep_h: Keep,
    keep_c: Keep,
    on_step: StepObserver | None = None,
) -> torch.Tensor:
    """The recurrence step by step under autograd (the reference for :class:`_Recurrence`), one
    :func:`cell_step` per step. ``on_step(t, h_t, pre)``, when given, sees every step's output and gate
    pre-activations (what introspection measures; the loop does not change)."""
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
        v = valid[:, t].unsqueeze(1) if valid is not None else None
        kh = _at(keep_h, t) if keep_h is not None else None
        kc = _at(keep_c, t) if keep_c is not None else None
        h, c, pre = cell_step(cell, xw[:, t], rec, h, c, kh, kc, v)
        if on_step is not None:
            on_step(t, h, pre)
        outputs.append(h)
    return torch.stack(outputs, 1)


def cell_step(
    cell: str,
    xw: torch.Tensor,
    rec: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    keep_h: torch.Tensor | float | None,
    keep_c: torch.Tensor | float | None,
    valid: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """One step of an LSTM / GRU / vanilla RNN cell in PyTorch's gate order, from the input projection ``xw``
    and the recurrent product ``rec`` (B, G*H), each with its bias, and the state ``h``, ``c`` (B, H); ``c`` is
    ``h`` for the GRU and RNN. ``keep_h`` / ``keep_c``: the step's zoneout keep-mask or rate (None = off);
    ``valid`` (B, 1) bool keeps the old state where False.

    Returns ``(h_new, c_new, pre)``; ``pre`` holds the gates' pre-activations, their columns in gate order
    (the gate is sigmoid or tanh of them): LSTM and RNN one (B, G*H) tensor, GRU ``(r, z, n)`` with the
    candidate's ``xn + r * hn``.
    """
    hidden = h.shape[1]
    if cell == "lstm":
        gates = xw + rec
        sig = torch.sigmoid(gates)
        i, f, _, o = sig.chunk(4, 1)
        g = torch.tanh(gates[:, 2 * hidden : 3 * hidden])
        c_new = f * c + i * g
        h_new = o * torch.tanh(c_new)
        if keep_c is not None:
            c_new = torch.lerp(c_new, c, keep_c)
        pre: tuple[torch.Tensor, ...] = (gates,)
    elif cell == "gru":
        pre, r = gru_preactivations(xw, rec)
        z = torch.sigmoid(pre[1])
        n = torch.tanh(pre[2])
        h_new = n + z * (h - n)
        c_new = h_new
    else:
        u = xw + rec
        h_new = torch.tanh(u)
        c_new = h_new
        pre = (u,)
    if keep_h is not None:
        h_new = torch.lerp(h_new, h, keep_h)
    if valid is not None:
        h_new = torch.where(valid, h_new, h)
        if cell == "lstm":
            c_new = torch.where(valid, c_new, c)
    return h_new, (c_new if cell == "lstm" else h_new), pre


def gru_preactivations(
    xw: torch.Tensor, rec: torch.Tensor
) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The GRU gates' pre-activations ``(r, z, n)`` from the input projection and the recurrent product
    (..., 3H), each with its bias; the candidate's is ``xn + r * hn``. Also returns the reset gate ``r``."""
    xr, xz, xn = xw.chunk(3, -1)
    hr, hz, hn = rec.chunk(3, -1)
    ur, uz = xr + hr, xz + hz
    r = torch.sigmoid(ur)
    return (ur, uz, xn + r * hn), r


def _at(keep: Keep, t: int) -> torch.Tensor | float:
    """Step ``t``'s keep decisions (a mask in training, the rate in eval)."""
    assert keep is not None
    return keep[t] if isinstance(keep, torch.Tensor) else keep


def _complement(keep: Keep) -> Keep:
    if keep is None:
        return None
    return 1.0 - keep


def run_members(
    cell: str,
    x: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None,
    b_hh: torch.Tensor | None,
    h_mask: torch.Tensor | None,
) -> torch.Tensor:
    """:func:`run_loop` for K models at once (a trial array, ``models.array``): every tensor has a leading member
    dimension, ``x`` (K, B, T, C), ``w_ih`` (K, G*H, C), ``w_hh`` (K, G*H, H), biases (K, G*H), ``h_mask``
    (K, B or 1, H); returns (K, B, T, H). Member k computes what :func:`run_loop` computes on its slices (the
    same :class:`_Recurrence`, its products batched: ``bmm`` / ``baddbmm``). No zoneout, no freezing."""
    out = _Recurrence.apply(cell, x, w_ih, w_hh, b_ih, b_hh, h_mask, None, None)
    return out  # type: ignore[no-any-return]


# The recurrence's products for one model (2-D weights: mm / addmm, as ever) or for K members (3-D: bmm / baddbmm).
def _mm(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return torch.mm(a, b, out=out) if b.dim() == 2 else torch.bmm(a, b, out=out)


def _addmm(bias: torch.Tensor, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``bias + a @ b``; a member's bias (K, G) is broadcast over its batch."""
    if b.dim() == 2:
        return torch.addmm(bias, a, b, out=out)
    if bias.dim() == 2:
        bias = bias.unsqueeze(1)
    return torch.baddbmm(bias, a, b, out=out)


def _project(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """All steps' input projections, time-major: (T, [K,] B, G) from ``x`` ([K,] B, T, C)."""
    if w.dim() == 2:
        return F.linear(x.transpose(0, 1), w, b)
    members, batch, steps, _ = x.shape
    flat = x.reshape(members, batch * steps, -1)
    out = torch.bmm(flat, w.transpose(1, 2)) if b is None else torch.baddbmm(b.unsqueeze(1), flat, w.transpose(1, 2))
    return out.view(members, batch, steps, -1).permute(2, 0, 1, 3)


def _steps_buffer(
    like: torch.Tensor, steps: int, lead: tuple[int, ...], batch: int, features: int, zero: bool = False
) -> torch.Tensor:
    """A time-major (T, [K,] B, F) buffer; with members, a view of member-major storage (K, T, B, F), so that
    :func:`_steps_flat` of it (and of its first steps) is a view, not a copy."""
    new = like.new_zeros if zero else like.new_empty
    if not lead:
        return new(steps, batch, features)
    return new(*lead, steps, batch, features).transpose(0, 1)


def _steps_flat(t: torch.Tensor) -> torch.Tensor:
    """A time-major (T, [K,] B, F) tensor as ([K,] T*B, F): one product over every step."""
    if t.dim() == 3:
        return t.reshape(t.shape[0] * t.shape[1], -1)
    return t.movedim(0, 1).reshape(t.shape[1], t.shape[0] * t.shape[2], -1)


def _steps_unflat(y: torch.Tensor, steps: int) -> torch.Tensor:
    """The inverse of :func:`_steps_flat`, batch-major: ([K,] B, T, F)."""
    if y.dim() == 2:
        return y.reshape(steps, -1, y.shape[-1]).transpose(0, 1)
    return y.reshape(y.shape[0], steps, -1, y.shape[-1]).transpose(1, 2)


class _Recurrence(torch.autograd.Function):
    """One direction of one layer, time-major inside: forward without autograd, backward written out.

    Buffers (T = steps): ``hs`` (T+1, B, H) the hidden states with ``hs[0] = 0``; LSTM: ``cs`` the cell
    states, ``acts`` (T, B, 4H) the gate activations, ``tcs`` tanh of the un-zoned new cell; GRU: ``rz``
    (T, B, 2H), ``hh`` (T, B, 3H) the recurrent products with their bias, ``ns`` the candidates; RNN (with
    zoneout): ``news`` the un-zoned new states.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        cell: str,
        x: torch.Tensor,
        w_ih: torch.Tensor,
        w_hh: torch.Tensor,
        b_ih: torch.Tensor | None,
        b_hh: torch.Tensor | None,
        h_mask: torch.Tensor | None,
        keep_h: Keep,
        keep_c: Keep,
    ) -> torch.Tensor:
        steps, batch = x.shape[-2], x.shape[-3]
        lead = x.shape[:-3]  # (K,) with a member dimension, else ()
        if lead:  # members' weights may be views of wider rows: one copy here, not one per step's product
            w_ih, w_hh = w_ih.contiguous(), w_hh.contiguous()
        hidden = w_hh.shape[-1]
        w_hh_t = w_hh.transpose(-2, -1)
        hs = _steps_buffer(x, steps + 1, lead, batch, hidden, zero=True)
        buffers: dict[str, torch.Tensor] = {}
        if cell == "gru":
            xw = _project(x, w_ih, b_ih)
            rz = _steps_buffer(x, steps, lead, batch, 2 * hidden)
            hh = _steps_buffer(x, steps, lead, batch, 3 * hidden)
            ns = _steps_buffer(x, steps, lead, batch, hidden)
            for t in range(steps):
                h = hs[t]
                hm = h if h_mask is None else h * h_mask
                if b_hh is None:
                    _mm(hm, w_hh_t, out=hh[t])
                else:
                    _addmm(b_hh, hm, w_hh_t, out=hh[t])
                torch.sigmoid(xw[t][..., : 2 * hidden] + hh[t][..., : 2 * hidden], out=rz[t])
                torch.tanh(
                    torch.addcmul(xw[t][..., 2 * hidden :], rz[t][..., :hidden], hh[t][..., 2 * hidden :]), out=ns[t]
                )
                if keep_h is None:
                    torch.lerp(ns[t], h, rz[t][..., hidden:], out=hs[t + 1])
                else:
                    torch.lerp(torch.lerp(ns[t], h, rz[t][..., hidden:]), h, _at(keep_h, t), out=hs[t + 1])
            buffers.update(rz=rz, hh=hh, ns=ns)
        else:
            bias = b_ih if b_hh is None else b_hh if b_ih is None else b_ih + b_hh
            xw = _project(x, w_ih, bias)
            if cell == "lstm":
                cs = _steps_buffer(x, steps + 1, lead, batch, hidden, zero=True)
                acts = _steps_buffer(x, steps, lead, batch, 4 * hidden)
                tcs = _steps_buffer(x, steps, lead, batch, hidden)
                g_slice = slice(2 * hidden, 3 * hidden)
                for t in range(steps):
                    h, c, a = hs[t], cs[t], acts[t]
                    gates = _addmm(xw[t], h if h_mask is None else h * h_mask, w_hh_t)
                    torch.sigmoid(gates, out=a)
                    torch.tanh(gates[..., g_slice], out=a[..., g_slice])
                    i, f, g, o = a[..., :hidden], a[..., hidden : 2 * hidden], a[..., g_slice], a[..., 3 * hidden :]
                    if keep_c is None:
                        c_new = torch.addcmul(f * c, i, g, out=cs[t + 1])
                    else:
                        c_new = torch.addcmul(f * c, i, g)
                        torch.lerp(c_new, c, _at(keep_c, t), out=cs[t + 1])
                    torch.tanh(c_new, out=tcs[t])
                    if keep_h is None:
                        torch.mul(o, tcs[t], out=hs[t + 1])
                    else:
                        torch.lerp(o * tcs[t], h, _at(keep_h, t), out=hs[t + 1])
                buffers.update(cs=cs, acts=acts, tcs=tcs)
            else:
                news = hs[1:] if keep_h is None else _steps_buffer(x, steps, lead, batch, hidden)
                for t in range(steps):
                    h = hs[t]
                    torch.tanh(_addmm(xw[t], h if h_mask is None else h * h_mask, w_hh_t), out=news[t])
                    if keep_h is not None:
                        torch.lerp(news[t], h, _at(keep_h, t), out=hs[t + 1])
                buffers.update(news=news)
        ctx.cell, ctx.keep_h, ctx.keep_c, ctx.buffers, ctx.hs = cell, keep_h, keep_c, buffers, hs
        ctx.has_bias = (b_ih is not None, b_hh is not None)
        ctx.save_for_backward(x, w_ih, w_hh, h_mask)
        return hs[1:].movedim(0, -2).contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, w_ih, w_hh, h_mask = ctx.saved_tensors
        cell, hs, buf = ctx.cell, ctx.hs, ctx.buffers
        keep_h, free_h = ctx.keep_h, _complement(ctx.keep_h)
        go = grad_out.movedim(-2, 0)  # (T, [K,] B, H)
        steps, hidden = go.shape[0], go.shape[-1]
        dh = go.new_zeros(go.shape[1:])

        def zone(dh: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor | None]:
            """Split the gradient of a zoned-out state into the new state's share and the kept old state's."""
            if keep_h is None:
                return dh, None
            return dh * _at(free_h, t), dh * _at(keep_h, t)

        if cell == "lstm":
            acts, tcs, cs = buf["acts"], buf["tcs"], buf["cs"]
            keep_c, free_c = ctx.keep_c, _complement(ctx.keep_c)
            i, f, g, o = acts.split(hidden, -1)
            dact = acts * (1 - acts)  # sigmoid' for i, f, o; tanh' for g
            dact[..., 2 * hidden : 3 * hidden] = 1 - g * g
            o_tanh = o * (1 - tcs * tcs)  # d h_new / d c_new
            # gradients of the gate pre-activations
            d = _steps_buffer(go, steps, go.shape[1:-2], go.shape[-2], 4 * hidden)
            dc = go.new_zeros(go.shape[1:])
            for t in range(steps - 1, -1, -1):
                dh_new, dh_kept = zone(dh + go[t], t)
                dc_new = dc if keep_c is None else dc * _at(free_c, t)
                dc_new = torch.addcmul(dc_new, dh_new, o_tanh[t])
                dt = d[t]
                torch.mul(dc_new, g[t], out=dt[..., :hidden])
                torch.mul(dc_new, cs[t], out=dt[..., hidden : 2 * hidden])
                torch.mul(dc_new, i[t], out=dt[..., 2 * hidden : 3 * hidden])
                torch.mul(dh_new, tcs[t], out=dt[..., 3 * hidden :])
                dt.mul_(dact[t])
                dc = dc_new * f[t] if keep_c is None else torch.addcmul(dc * _at(keep_c, t), dc_new, f[t])
                dh = dt @ w_hh
                if h_mask is not None:
                    dh = dh * h_mask
                if dh_kept is not None:
                    dh = dh + dh_kept
            d_ih = d_hh = d
        elif cell == "gru":
            rz, hh, ns = buf["rz"], buf["hh"], buf["ns"]
            r, z = rz[..., :hidden], rz[..., hidden:]
            hn = hh[..., 2 * hidden :]
            dn_factor = (1 - z) * (1 - ns * ns)  # d h_new / d (n's pre-activation)
            dz_factor = (hs[:-1] - ns) * z * (1 - z)  # d h_new / d (z's pre-activation)
            dr_factor = hn * r * (1 - r)  # d (n's pre-activation) / d (r's pre-activation)
            # r, z, n (recurrent side: r * dn), n (input side)
            d = _steps_buffer(go, steps, go.shape[1:-2], go.shape[-2], 4 * hidden)
            for t in range(steps - 1, -1, -1):
                dh_new, dh_kept = zone(dh + go[t], t)
                dt = d[t]
                dxn = torch.mul(dh_new, dn_factor[t], out=dt[..., 3 * hidden :])
                torch.mul(dxn, dr_factor[t], out=dt[..., :hidden])
                torch.mul(dh_new, dz_factor[t], out=dt[..., hidden : 2 * hidden])
                torch.mul(dxn, r[t], out=dt[..., 2 * hidden : 3 * hidden])
                dhm = dt[..., : 3 * hidden] @ w_hh
                dh = dh_new * z[t]
                dh = dh + dhm if h_mask is None else torch.addcmul(dh, dhm, h_mask)
                if dh_kept is not None:
                    dh = dh + dh_kept
            d_hh = d[..., : 3 * hidden]
            d_ih = torch.cat([d[..., : 2 * hidden], d[..., 3 * hidden :]], -1)
        else:
            news = buf["news"]
            dtanh = 1 - news * news
            d = _steps_buffer(go, steps, go.shape[1:-2], go.shape[-2], hidden)
            for t in range(steps - 1, -1, -1):
                dh_new, dh_kept = zone(dh + go[t], t)
                dt = torch.mul(dh_new, dtanh[t], out=d[t])
                dh = dt @ w_hh
                if h_mask is not None:
                    dh = dh * h_mask
                if dh_kept is not None:
                    dh = dh + dh_kept
            d_ih = d_hh = d

        need = ctx.needs_input_grad
        gates_ih, gates_hh = _steps_flat(d_ih), _steps_flat(d_hh)
        xt = _steps_flat(x.movedim(-2, 0))
        hm = hs[:-1] if h_mask is None else hs[:-1] * h_mask
        dx = _steps_unflat(gates_ih @ w_ih, steps) if need[1] else None
        dw_ih = gates_ih.transpose(-2, -1) @ xt if need[2] else None
        dw_hh = gates_hh.transpose(-2, -1) @ _steps_flat(hm) if need[3] else None
        db_ih = gates_ih.sum(-2) if need[4] and ctx.has_bias[0] else None
        db_hh = gates_hh.sum(-2) if need[5] and ctx.has_bias[1] else None
        return None, dx, dw_ih, dw_hh, db_ih, db_hh, None, None, None
