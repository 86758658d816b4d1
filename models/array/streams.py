"""Each member's own random stream: the global generator states a single trial's fit would be in.

A single fit (:func:`models.train.fit`) seeds the global generators (``pl.seed_everything(seed)``), builds its
network (the initialization draws from them), then trains; every dropout, weight-drop and recurrent mask of a
training step comes from the global generator of the batch's device, and each epoch's loader iterators draw one
``int64`` each from the CPU generator (PyTorch's ``DataLoader`` seeds its workers that way): one before the
epoch's first training batch, one before its validation. :class:`MemberStreams` keeps those states per member
(CPU and, on a GPU, CUDA) and swaps a member's in around its draws, so member k draws exactly what trial k
alone would, in the same order. Outside :meth:`MemberStreams.drawing` the global generators are the caller's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytorch_lightning as pl
import torch

from models.config import RNNConfig
from models.network import RNNClassifierNet


def initial_member(rnn: RNNConfig, seed: int) -> tuple[RNNClassifierNet, dict[str, torch.Tensor]]:
    """A member's initial network and random state, reached as :func:`models.train.fit` reaches them: the
    global generators seeded with ``seed``, then the network built (on CPU). The caller's states are restored."""
    saved = _get(torch.cuda.is_available())
    try:
        pl.seed_everything(seed, workers=False, verbose=False)
        net = RNNClassifierNet(rnn)
        return net, _get(torch.cuda.is_available())
    finally:
        _set(saved)


class MemberStreams:
    """The random states of the members still training, in member order (compacted with the array)."""

    def __init__(self, states: Sequence[dict[str, torch.Tensor]], device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.states = [{k: v for k, v in s.items() if k == "cpu" or self.cuda} for s in states]

    @contextmanager
    def drawing(self, members: Sequence[int]) -> Iterator[Iterator[int]]:
        """``for k in it:`` with member k's states in the global generators during its iteration."""
        outside = _get(self.cuda)
        try:
            yield self._each(members)
        finally:
            _set(outside)

    def _each(self, members: Sequence[int]) -> Iterator[int]:
        for k in members:
            _set(self.states[k])
            yield k
            self.states[k] = _get(self.cuda)

    def loader_draw(self) -> None:
        """What creating a ``DataLoader`` iterator draws, in every member's stream."""
        with self.drawing(range(len(self.states))) as each:
            for _ in each:
                torch.empty((), dtype=torch.int64).random_()

    def keep(self, idx: Sequence[int]) -> None:
        self.states = [self.states[i] for i in idx]


def _get(cuda: bool) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if cuda:
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set(state: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"])
