"""Decoupled decays too weak to act: how much a row's decays shrink its weights over its refit.

A decoupled decay (AdamW; SGD and RMSprop through :func:`models.regularizers.decoupled_decay.decay_`) multiplies
its weights by ``1 - lr x decay`` each step, so over a refit of ``steps`` optimizer steps it shrinks them by at most
``1 - (1 - lr x decay) ** steps`` (the gradient pushes back; no schedule changes the rate). At the shipped
decays' low end that is nothing: the recipe "decoupled decay 1e-4 kernel / 1e-3 recurrent" at lr 3e-3 shrank a
kernel by 0.0075 % over a 250-step refit, and its row was right and wrong on the very test sequences of the
baseline's ("nothing differs"), which a reader took for "decay does not help on my data" (the unseen11 probe).
A row whose decay shrinks its weights by less than :data:`INERT_SHRINK` is said to carry it in name only.
Adam's decay is a coupled L2 (added to the gradient, then rescaled per parameter): not measured here.
"""

from __future__ import annotations

import math
from typing import Any

from search.recipes import num
from search.spec import DECOUPLED_DECAYS

#: a decoupled decay that shrinks its weights by less than this share over a whole refit acts on nothing measurable
INERT_SHRINK = 0.01


def refit_steps(config: dict[str, Any], epochs: int, train_size: int) -> int:
    """Optimizer steps of a refit of ``config`` for ``epochs`` epochs on the whole training split of ``train_size``
    sequences (its last short batch is a step too)."""
    return int(epochs) * math.ceil(train_size / max(1, int(config.get("batch_size") or 1)))


def shrinks(config: dict[str, Any], epochs: int, train_size: int) -> dict[str, float]:
    """Each decoupled decay ``config`` turns on -> the share by which it alone shrinks its weights over the refit
    (none under Adam, whose decay is coupled)."""
    if config.get("optimizer") == "adam" or not isinstance(config.get("lr"), (int, float)):
        return {}
    steps, lr = refit_steps(config, epochs, train_size), float(config["lr"])
    return {n: 1.0 - (1.0 - lr * float(config[n])) ** steps for n in DECOUPLED_DECAYS if config.get(n)}


def inert_note(config: dict[str, Any] | None, epochs: Any, train_size: Any) -> str | None:
    """The words for the decoupled decays of ``config`` that act on nothing measurable over its refit, or None:
    ``kernel_decay 1e-4 shrinks its weights by at most 0.0075 % over the refit's 250 steps at lr 3e-3 ...``."""
    if not config or not isinstance(epochs, int) or not isinstance(train_size, int) or train_size < 1:
        return None
    weak = {n: s for n, s in shrinks(config, epochs, train_size).items() if s < INERT_SHRINK}
    if not weak:
        return None
    names = " and ".join(f"{n} {num(float(config[n]))}" for n in weak)
    shares = " and ".join(f"{_percent(s)} %" for s in weak.values())
    steps, one = refit_steps(config, epochs, train_size), len(weak) == 1
    return (f"{names} {'shrinks its' if one else 'shrink their'} weights by at most {shares} over the refit's "
            f"{steps} steps at lr {num(float(config['lr']))} (each step multiplies them by 1 - lr x decay): too weak "
            f"to act, {'a regularizer' if one else 'regularizers'} in name only (a decoupled decay shrinks its "
            f"weights by {100 * INERT_SHRINK:g} % or more only where lr x decay x steps reaches about "
            f"{-math.log1p(-INERT_SHRINK):.2g})")  # fmt: skip


def _percent(share: float) -> str:
    """``share`` in percent to 2 significant digits, or 3 where 2 would round it up to the threshold (0.996 %: "1")."""
    text = f"{100 * share:.2g}"
    return f"{100 * share:.3g}" if float(text) >= 100 * INERT_SHRINK else text
