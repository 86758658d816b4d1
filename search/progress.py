"""Progress: a bar over the study's trials (with the best value so far) and one over the running trial's
epochs on a terminal; one plain line per finished trial elsewhere (CI, logs).

Each line says which quantity its value is: a complete trial's mean over all its folds (``trial 4 complete: 5-fold
mean 0.9512``), or a pruned trial's running mean over the folds it reached (``trial 5 pruned at fold 1/5 epoch 7:
running 0.9100``). :func:`value_is` says the same as a trial attribute and :func:`metric_name` names the objective,
for the dashboard (both written by :mod:`search.worker`)."""

from __future__ import annotations

import os
import re
import sys
import time
from typing import Any

from optuna.trial import FrozenTrial
from tqdm import tqdm

#: the fail_reason of a trial asked past the total and handed back untrained (search.worker._hand_back): counted
#: and said apart from failures
SURPLUS = "surplus"
#: the trial user attribute (shown by optuna-dashboard) that says what the trial's value is
VALUE_IS_ATTR = "value_is"
#: the start of a pruned trial's ``pruned_reason`` when it diverged (search.objective, search.arrays): not a pruner's
DIVERGED = "diverged: "


def diverged(t: FrozenTrial) -> bool:
    """Whether pruned trial ``t`` ended by diverging (a divergence is stored as a prune, its reason saying so)."""
    return str(t.user_attrs.get("pruned_reason", "")).startswith(DIVERGED)


def metric_name(metric: str, folds: int | None) -> str:
    """The objective's name on the dashboard (its axis and tables): ``val_acc (mean over 5 folds)``."""
    if folds == 1:
        return f"{metric} (holdout split)"
    return f"{metric} (mean over {folds or 'the'} folds)"


def _stop(t: FrozenTrial) -> tuple[int, int, int | None, int | None] | None:
    """(fold, folds, epoch, epochs), 1-based, where a pruned trial stopped; None before its first report."""
    if t.last_step is None:
        return None
    folds = int(t.user_attrs.get("folds", 1))
    epochs = (t.user_attrs.get("config") or {}).get("max_epochs")
    if not epochs:
        return 1, folds, None, None
    return t.last_step // epochs + 1, folds, t.last_step % epochs + 1, epochs


def value_is(t: FrozenTrial, pruned: bool) -> str:
    """What a finished trial's value is (the :data:`VALUE_IS_ATTR` attribute): a complete trial's mean over all
    its folds, or a pruned trial's running mean over the folds it reached (the fold it stopped in counting with
    its best epoch so far), which is not the same quantity."""
    folds = int(t.user_attrs.get("folds", 1))
    if not pruned:
        return f"{folds}-fold mean (complete)" if folds > 1 else "holdout score (complete)"
    stop = _stop(t)
    if stop is None:
        return "no value (pruned before its first epoch was scored)"
    fold, folds, epoch, epochs = stop
    at = f"epoch {epoch}/{epochs}" if epoch is not None else f"step {t.last_step}"
    if folds == 1:
        return f"best score so far (pruned at {at})"
    return f"running mean over folds 1..{fold} of {folds} (pruned at fold {fold}/{folds}, {at})"


def value_words(t: FrozenTrial) -> str:
    """The progress line's words for a finished trial's value: ``complete: 5-fold mean 0.9512``,
    ``pruned at fold 1/5 epoch 7: running 0.9100``."""
    if t.state.name == "COMPLETE" and t.value is not None:
        folds = int(t.user_attrs.get("folds", 1))
        return f"complete: {f'{folds}-fold mean' if folds > 1 else 'holdout score'} {t.value:.4f}"
    if t.state.name != "PRUNED":
        return t.state.name.lower()
    if diverged(t):  # its reason says where: no pruner
        return "pruned"  # judged it, and the last fold and epoch it scored are not where it diverged
    stop = _stop(t)
    if stop is None or t.value is None:
        return "pruned before its first epoch was scored"
    fold, folds, epoch, _ = stop
    where = (f"fold {fold}/{folds} " if folds > 1 else "") + (f"epoch {epoch}" if epoch is not None else "")
    return f"pruned at {where.strip()}: running {t.value:.4f}"


#: the pruner's reasons (search.pruning, search.objective.fold_end_report): where and at what value, which
#: :func:`value_words` says already; the progress line printed both ("pruned at epoch 2: running 0.3737 (...)
#: pruned at epoch 2 (step 1) with 0.3737", the newuser8 probe)
_PRUNER_REASON = re.compile(r"pruned at (?:epoch \d+|the end of fold \d+) \((?P<inner>[^)]*)\) with \S+")


def reason_words(t: FrozenTrial) -> str:
    """What a finished trial's progress line adds after its value: a failure's or divergence's reason whole, for a
    trial the pruner stopped only what :func:`value_words` did not say (``at the fold's end: it early-stopped at
    epoch 12``), else ""."""
    reason = str(t.user_attrs.get("pruned_reason") or t.user_attrs.get("fail_reason") or "")
    found = _PRUNER_REASON.fullmatch(reason) if t.state.name == "PRUNED" else None
    if found is None:
        return reason
    stopped = re.match(r"early-stopped at epoch (\d+)", found["inner"])
    return f"at the fold's end: it early-stopped at epoch {stopped[1]}" if stopped else ""


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 90 * 60 else f"{seconds / 3600:.1f} h"


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
        self.total, self.initial, self.started = total, finished, time.monotonic()

    def pace(self, finished: int) -> str:
        """``5/40 after 3 min, ~21 min of trials left`` at the pace of the trials finished since this run began (those
        of other workers included): a log had no clock, and a study on big data ran for hours unsaid (the scale
        probe, 2026-12-06); "" before the first."""
        done, left = finished - self.initial, self.total - finished
        spent = time.monotonic() - self.started
        if done <= 0:
            return ""
        out = f"{finished}/{self.total} after {_duration(spent)}"
        return out + (f", ~{_duration(spent / done * left)} of trials left" if left > 0 else "")

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
        reason = str(t.user_attrs.get("fail_reason") or "no reason recorded")
        if not self.tty and t.state.name == "FAIL" and reason.startswith(SURPLUS):
            print(f"trial {t.number} handed back untrained: the study's total was reached", flush=True)
        elif not self.tty and t.state.name == "FAIL":  # no epochs, no path: what failed is the line
            print(f"trial {t.number} failed: {reason}", flush=True)
        elif not self.tty:
            reason = reason_words(t)
            epochs = t.user_attrs.get("epochs_run", "?")
            pace = self.pace(counts["finished"])
            print(
                f"trial {t.number} {value_words(t)} ({epochs} epoch{'' if epochs == 1 else 's'}, "
                f"{t.user_attrs.get('path', '?')} path{'; ' + pace if pace else ''}) {reason}".rstrip(),
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
