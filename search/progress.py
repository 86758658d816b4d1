"""Progress: a bar over the study's trials (with the best value so far) and one over the running trial's
epochs on a terminal; one plain line per finished trial elsewhere (CI, logs)."""

from __future__ import annotations

import os
import sys
from typing import Any

from optuna.trial import FrozenTrial
from tqdm import tqdm


def interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


class Progress:
    def __init__(self, total: int, finished: int, direction: str, label: str) -> None:
        self.tty = interactive()
        self.direction = direction
        self.best: float | None = None
        self.trials: Any = tqdm(
            total=total, initial=finished, desc=label, unit="trial", disable=not self.tty, dynamic_ncols=True
        )
        self.epochs: Any = None

    def epoch(self, step: int, total: int) -> None:
        if not self.tty:
            return
        if self.epochs is None or self.epochs.total != total:
            if self.epochs is not None:
                self.epochs.close()
            self.epochs = tqdm(total=total, desc="  epochs", unit="ep", leave=False, position=1, dynamic_ncols=True)
        self.epochs.n = step
        self.epochs.refresh()

    def trial(self, t: FrozenTrial, counts: dict[str, int]) -> None:
        if self.epochs is not None:
            self.epochs.close()
            self.epochs = None
        if t.value is not None and t.state.name == "COMPLETE":
            better = self.best is None or (t.value > self.best if self.direction == "maximize" else t.value < self.best)
            self.best = t.value if better else self.best
        self.set(counts)
        if not self.tty:
            reason = t.user_attrs.get("pruned_reason") or t.user_attrs.get("fail_reason") or ""
            value = "" if t.value is None else f" value {t.value:.4f}"
            print(
                f"trial {t.number} {t.state.name.lower()}{value} ({t.user_attrs.get('epochs_run', '?')} epochs, "
                f"{t.user_attrs.get('path', '?')} path) {reason}".rstrip(),
                flush=True,
            )

    def set(self, counts: dict[str, int], best: float | None = None) -> None:
        if best is not None:
            self.best = best
        self.trials.n = counts["finished"]
        if self.best is not None:
            self.trials.set_postfix(best=f"{self.best:.4f}", pruned=counts["pruned"], refresh=False)
        self.trials.refresh()

    def close(self) -> None:
        if self.epochs is not None:
            self.epochs.close()
        self.trials.close()
