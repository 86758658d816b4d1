"""Per-epoch checkpoints of trial-array members (``ARTIFACTS``), beside the single-trial ones.

An array member keeps the same lineage as a single trial (:class:`search.checkpoints.TrialCheckpoints`, keyed by
study and original trial number): ``progress.json`` lists its finished folds in the single-trial format, so a
re-queued member resumes its finished folds whether an array or a lone trial picks it up. The fold in progress is
kept as ``fold-<k>.member``: :func:`models.array.fit_array`'s ``MemberCheckpoint`` (the member's weights, optimizer
slice, epoch, best epoch so far and random stream) in an envelope that says which fold and epoch it is, the
fold's best score so far (what the running mean over folds needs) and the configuration (a file of another
configuration, e.g. a stale study of the same name, is not resumed). A lone trial cannot resume a ``.member`` file
(nor an array a Lightning ``fold-<k>.ckpt``): it restarts that fold, keeping the finished ones.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from search.checkpoints import TrialCheckpoints

SUFFIX = "member"


@dataclass
class MemberResume:
    """Where a member's earlier run stopped: finished folds' best rows (``epochs_run`` included), the fold in
    progress's checkpoint (None: start that fold afresh), its epoch (0-based, the last one trained) and best score."""

    folds: list[dict[str, Any]]
    state: Any = None
    epoch: int | None = None
    fold_best: float | None = None

    @property
    def epochs(self) -> int:
        """Epochs already trained over all folds."""
        return sum(int(f["epochs_run"]) for f in self.folds) + (0 if self.epoch is None else self.epoch + 1)


def start(ckpts: TrialCheckpoints, config: dict[str, Any]) -> MemberResume:
    """Begin a run of the member with ``config`` (:meth:`TrialCheckpoints.start`: a first run, or a stored config
    that differs, starts from scratch); return what an earlier run left."""
    resume = ckpts.start(config)
    out = MemberResume(folds=list(resume.folds))
    local = ckpts.tmp / f"fold-{len(out.folds)}.{SUFFIX}"
    if ckpts.rerun and ckpts.backend.get(f"{ckpts.key}/{local.name}", local):
        try:
            envelope = torch.load(local, map_location="cpu", weights_only=False)
            if envelope.get("fold") == len(out.folds) and envelope.get("config") == ckpts.config:
                out.state, out.epoch, out.fold_best = envelope["state"], int(envelope["epoch"]), envelope["best"]
        except Exception as exc:  # a damaged file: never fail the member for it
            ckpts.unreadable(local.name, exc, f"fold {len(out.folds)} starts from its first epoch")
            out.state, out.epoch, out.fold_best = None, None, None
    return out


def save(ckpts: TrialCheckpoints, fold: int, epoch: int, best: float | None, state: Any) -> None:
    """Store the member's state at the end of ``epoch`` of ``fold`` (written whole: a kill never leaves half)."""
    if fold == 0 and not ckpts.folds:
        ckpts._write_progress()  # the configuration, before the first checkpoint needs it
    local = ckpts.tmp / f"fold-{fold}.{SUFFIX}"

    def write() -> None:
        torch.save({"fold": fold, "epoch": epoch, "best": best, "config": ckpts.config, "state": state}, local)
        ckpts.backend.put(f"{ckpts.key}/{local.name}", local)

    ckpts.write(local.name, write)


def fold_done(ckpts: TrialCheckpoints, fold: int, best: dict[str, float], epochs_run: int) -> None:
    """A finished fold: recorded in ``progress.json`` (as a lone trial records it); its member file deleted."""
    ckpts.fold_done(fold, best, epochs_run)
    if ckpts.failed:  # progress.json does not know the fold finished: its checkpoint stays
        return
    with contextlib.suppress(Exception):
        ckpts.backend.delete([f"{ckpts.key}/fold-{fold}.{SUFFIX}"])


def clear(ckpts: TrialCheckpoints, folds: int) -> None:
    """Delete the member's whole lineage (it finished): the single-trial files and its member files (an artifact
    store deletes by key, not by prefix)."""
    ckpts.clear()
    with contextlib.suppress(Exception):
        ckpts.backend.delete([f"{ckpts.key}/fold-{k}.{SUFFIX}" for k in range(folds)])
