"""How an :class:`~models.network.RNNClassifierNet`'s recurrent parameters are laid out, and the flat keys.

PyTorch stacks a cell's gates' rows in the order of :data:`models.config.GATES` (LSTM ``i f g o``, GRU ``r z n``,
vanilla RNN ``h``); a layer's directions are ``fwd`` and ``bwd`` (``_reverse`` parameters). Statistics are keyed
``L<i>.<direction>...``; non-finite values are left out of every dict (:func:`finite`), so all are strict JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from models.config import GATES

DIRECTIONS = ("fwd", "bwd")
SIGMOID_GATES = frozenset({"i", "f", "o", "r", "z"})  # LSTM i, f, o; GRU r, z; the rest (g, n, h) are tanh
GATE_NAMES = {
    "i": "input", "f": "forget", "g": "cell-candidate", "o": "output",
    "r": "reset", "z": "update", "n": "new-candidate", "h": "hidden",
}  # fmt: skip
PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def gate_label(g: str) -> str:
    """``"forget (f)"``."""
    return f"{GATE_NAMES.get(g, g)} ({g})"


def split_gates(w: torch.Tensor, cell: str) -> dict[str, torch.Tensor]:
    """Split stacked gate rows (weights (G*H, *) or biases (G*H,)) into ``{gate: block}`` in PyTorch order."""
    gates = GATES[cell]
    if w.shape[0] % len(gates):
        raise ValueError(f"{cell}: {w.shape[0]} rows do not split into {len(gates)} gates {gates}")
    return dict(zip(gates, w.chunk(len(gates), 0)))


def layer_params(layer: Any, suffix: str) -> dict[str, torch.Tensor | None]:
    """One direction's ``{weight_ih, weight_hh, bias_ih, bias_hh}`` of a recurrent layer (``suffix`` ``""`` or
    ``"_reverse"``); a missing bias is None."""
    return {k: getattr(layer.rnn, f"{k}_l0{suffix}", None) for k in PARAMS}


def recurrent_weights(net: nn.Module) -> Iterator[tuple[str, str, dict[str, torch.Tensor | None]]]:
    """``(prefix, cell, {weight_ih, weight_hh, bias_ih, bias_hh})`` per layer and direction, e.g. ``L1.bwd``."""
    layers: Any = net.layers
    for i, layer in enumerate(layers):
        for direction, suffix in zip(DIRECTIONS, layer.suffixes):
            yield f"L{i}.{direction}", layer.cell, layer_params(layer, suffix)


def bias_sum(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    """``a + b`` where either may be missing (None)."""
    if a is None:
        return b
    return a if b is None else a + b


def device_of(net: nn.Module) -> torch.device:
    """The device of a network's parameters (its head's, without walking every submodule)."""
    head = getattr(net, "head", None)
    return head.weight.device if isinstance(head, nn.Linear) else next(net.parameters()).device


def finite(d: Mapping[str, float]) -> dict[str, float]:
    """``d`` as floats, without its non-finite entries."""
    return {k: float(v) for k, v in d.items() if math.isfinite(v)}
