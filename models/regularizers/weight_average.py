"""Weight averaging: an exponential moving average (EMA) of the weights and/or stochastic weight averaging (SWA,
Izmailov et al. 2018), the average being what validation measures and what the fit returns.

Both keep one running average of the network's floating-point state (parameters and BatchNorm running statistics),
updated after every optimizer step: EMA with the factor ``1 - min(d, (1 + n) / (10 + n))`` at its n-th step
(:func:`ema_weight`: the first step copies the weights, so the random initialization never lingers, and the warm-up
keeps the early average on the recent weights; without it, a plain or bias-corrected EMA of decay 0.99 averages
the whole first ~100 steps, weights from very different points of training: on OSULeaf's 10 steps an epoch the
averaged network stayed at chance for 10 epochs and early stopping ended every fold there, cross-validated
accuracy 0.26 against 0.91 without EMA), SWA with ``1 / n``: the plain mean
of every step's weights from epoch ``int(swa_start * max_epochs)`` on (Polyak-Ruppert averaging; SWA's first step
replaces whatever EMA held). The average lives in buffers, so the module's state dict, the best epoch's snapshot
and the trial checkpoints all carry it, and a resumed fit continues it.

Validation swaps the average into the network and back (:meth:`WeightAverage.swap_in` / :meth:`swap_out`). Under
SWA, BatchNorm statistics are then recomputed for the averaged weights from one pass over the training data (what
``torch.optim.swa_utils.update_bn`` does, but in eval mode: no dropout, no random draws); EMA's averaged running
statistics track the recent weights closely enough (the usual practice, e.g. timm's ModelEmaV2).
Off (``ema_decay`` and ``swa_start`` 0) there is no :class:`WeightAverage` at all: nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn


class WeightAverage(nn.Module):
    steps: torch.Tensor

    def __init__(self, net: nn.Module, ema_decay: float = 0.0, swa_start_epoch: int | None = None) -> None:
        super().__init__()
        self.ema_decay, self.swa_start_epoch = float(ema_decay), swa_start_epoch
        state = net.state_dict()
        self.names = [k for k, v in state.items() if v.is_floating_point()]
        for i, k in enumerate(self.names):
            self.register_buffer(f"avg_{i}", state[k].detach().clone())
        self.register_buffer("steps", torch.zeros(2, dtype=torch.long))  # EMA steps, SWA steps averaged so far
        self.ema_steps = self.swa_steps = 0  # host copies of ``steps``: no device sync per optimizer step
        self._stash: list[torch.Tensor] | None = None  # the training weights while the average is swapped in

    @classmethod
    def of(cls, net: nn.Module, cfg: Any) -> WeightAverage | None:
        """The averaging a training config asks for; None when ``ema_decay`` and ``swa_start`` are both 0."""
        if not (cfg.ema_decay or cfg.swa_start):
            return None
        return cls(net, cfg.ema_decay, swa_start_epoch(cfg) if cfg.swa_start else None)

    @property
    def averages(self) -> list[torch.Tensor]:
        return [getattr(self, f"avg_{i}") for i in range(len(self.names))]

    @property
    def ready(self) -> bool:
        """Whether an average exists yet (SWA alone holds none before its start epoch)."""
        return self.swa_steps > 0 or self.ema_steps > 0

    def _live(self, net: nn.Module) -> list[torch.Tensor]:
        state = net.state_dict()
        return [state[k] for k in self.names]

    @torch.no_grad()
    def update(self, net: nn.Module, epoch: int) -> None:
        """Fold the network's current weights into the average (after an optimizer step of epoch ``epoch``)."""
        if self.swa_start_epoch is not None and epoch >= self.swa_start_epoch:
            self.swa_steps += 1
            weight, counter = 1.0 / self.swa_steps, 1
        elif self.ema_decay > 0:
            self.ema_steps += 1
            weight, counter = ema_weight(self.ema_decay, self.ema_steps), 0
        else:
            return
        torch._foreach_lerp_(self.averages, self._live(net), weight)
        self.steps[counter] += 1  # on the buffer's device: no host-device copy, no sync

    @torch.no_grad()
    def swap_in(self, net: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]] = ()) -> None:
        """Put the average into ``net`` (keeping the training weights aside); under SWA recompute BatchNorm
        statistics from ``batches`` of ``(x, lengths)``. A no-op before any average exists or when swapped in."""
        if not self.ready or self._stash is not None:
            return
        live = self._live(net)
        self._stash = [t.clone() for t in live]
        torch._foreach_copy_(live, self.averages)
        if self.swa_steps > 0:
            recompute_batch_norm(net, batches)

    @torch.no_grad()
    def swap_out(self, net: nn.Module) -> None:
        """Give ``net`` its training weights back."""
        if self._stash is None:
            return
        torch._foreach_copy_(self._live(net), self._stash)
        self._stash = None

    def finalize(self, net: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]] = ()) -> None:
        """Make the average ``net``'s weights for good (a fit with no validation ends with this)."""
        self.swap_in(net, batches)
        self._stash = None

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args)
        self.ema_steps, self.swa_steps = (int(v) for v in self.steps.tolist())

    def extra_repr(self) -> str:
        return f"ema_decay={self.ema_decay}, swa_start_epoch={self.swa_start_epoch}"


def swa_start_epoch(cfg: Any) -> int:
    """The epoch SWA's average begins at, ``int(swa_start * max_epochs)``; 0 with SWA off. A fit's best epoch is
    chosen from it on (:class:`models.train.BestEpoch`): before it, validation measures the plain weights."""
    return int(cfg.swa_start * cfg.max_epochs) if cfg.swa_start else 0


def ema_weight(decay: float, step: int) -> float:
    """The weight of the current weights in the EMA at its ``step``-th update (1-based): 1 at the first (a copy),
    then ``1 - min(decay, (1 + step) / (10 + step))``, the warm-up of TensorFlow's ExponentialMovingAverage (``num_updates``), so the average spans the last ~``step / 9`` steps until that reaches ``1 / (1 - decay)``."""
    return 1.0 if step <= 1 else 1.0 - min(decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def recompute_batch_norm(net: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """BatchNorm running statistics of ``net``'s current weights: the cumulative mean over ``batches``, every other
    module in eval mode (no dropout, no draws). Nothing happens without a BatchNorm or without batches."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    modes = {m: m.training for m in net.modules()}
    momenta = {m: m.momentum for m in norms}
    device = next(net.parameters()).device
    try:
        net.eval()
        started = False
        for x, lengths in batches:
            if not started:
                for m in norms:
                    m.reset_running_stats()
                    m.momentum = None  # cumulative average over the batches
                    m.train()
                started = True
            net(x.to(device), lengths.to(device))
    finally:
        for norm in norms:
            norm.momentum = momenta[norm]
        for module, mode in modes.items():
            module.training = mode


def ordered_batches(loader: Any, batch_size: int = 256) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x, lengths)`` of a training loader's whole dataset in order, read straight from its dataset (so the
    loader's shuffling generator, and with it the batch order of the next epochs, is left untouched)."""
    dataset = getattr(loader, "dataset", None)
    if dataset is None:
        return
    n = len(dataset)
    for start in range(0, n, batch_size):
        x, lengths, *_ = dataset[list(range(start, min(start + batch_size, n)))]
        yield x, lengths
