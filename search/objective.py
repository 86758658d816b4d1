"""Fit one trial: suggest -> configs -> (k-fold) fits with pruning, NaN guard and trial attributes."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from pytorch_lightning.callbacks import Callback

from models.classifier import DivergedError
from models.config import DATA_NAMES, RNNConfig, TrainConfig, as_dict, configs_for
from models.datamodule import SequenceDataModule
from models.regularizers import swa_start_epoch
from models.train import fit
from search.checkpoints import CheckpointStore, Resume, TrialCheckpoints
from search.fingerprint import run_scope
from search.folds import folds_of, study_splits
from search.interrupts import interrupt_behind
from search.progress import DIVERGED
from search.pruning import PruningCallback, replayed_until
from search.space import suggest
from search.spec import StudySpec
from search.storage import StorageError
from search.trial_introspection import TrialIntrospection


def quiet() -> bool:
    return bool(os.environ.get("CI")) or not os.isatty(2)


class Objective:
    """``objective(trial) -> score``: the mean over folds of each fold's best-epoch score."""

    def __init__(
        self,
        spec: StudySpec,
        accelerator: str = "auto",
        extra_callbacks: Callable[[optuna.Trial], list[Callback]] | None = None,
        on_epoch: Callable[[int, int], None] | None = None,
        checkpoints: CheckpointStore | None = None,
        figures: FileSystemArtifactStore | None = None,
        fold_seed: int | None = None,
    ) -> None:
        self.spec = spec
        #: the seed of the partition into folds (and of the batch order): the study's, unless the verdict confirms
        #: its choice on a fresh partition (search.selection.confirm)
        self.fold_seed = spec.seed if fold_seed is None else fold_seed
        self.introspect = spec.introspect  # per-trial statistics (cheap: see bench/introspection_overhead.py)
        self.figures = figures  # where complete trials' introspection figures are uploaded (None: not uploaded)
        # ARTIFACTS: per-epoch checkpoints, so a re-run trial resumes; kept under the study's data and folds
        self.checkpoints = checkpoints.scoped(run_scope(spec)) if checkpoints is not None else None
        self.splits = study_splits(spec)
        self.folds = folds_of(spec)
        self.accelerator = accelerator
        self.extra_callbacks = extra_callbacks
        self.on_epoch = on_epoch

    @property
    def steps(self) -> int:
        """Intermediate steps a full trial reports (the pruner's max resource)."""
        return self.folds * self.spec.max_epochs

    @property
    def sequences(self) -> int:
        """Training sequences the folds validate on together (the pruner's tolerance at a fold's end)."""
        return len(self.splits.train)

    def configs(self, trial: optuna.Trial) -> tuple[RNNConfig, TrainConfig]:
        """The trial's two configs: the study's fixed values and this trial's suggestions, on the study's data and
        seed."""
        params = {**self.spec.base_params(), **suggest(trial, self.spec)}
        return configs_for(params, self.splits, seed=self.spec.seed)

    def __call__(self, trial: optuna.Trial) -> float:
        rnn, train = self.configs(trial)
        hp = {k: v for k, v in as_dict(rnn, train).items() if k not in DATA_NAMES}
        trial.set_user_attr("config", hp)
        if train.swa_start:  # the first epoch its folds may choose (older_swa_trials: trials before this rule)
            trial.set_user_attr(SWA_FROM_ATTR, swa_start_epoch(train))
        trial.set_user_attr("path", rnn.resolved_path)
        trial.set_user_attr("folds", self.folds)
        start = time.perf_counter()
        replayed = replayed_until(trial)  # a re-run's copied steps: the pruner waits past them
        ckpts = self.checkpoints.trial(trial, trial.study.study_name) if self.checkpoints is not None else None
        resume = ckpts.start(hp) if ckpts is not None else Resume()
        if resume.epochs:
            trial.set_user_attr("resumed_from_epoch", resume.epochs)
        keys = ("epoch", "val_acc", "val_loss", "score", "curve", "acc_curve")
        bests: list[dict[str, Any]] = [{k: f[k] for k in keys if k in f} for f in resume.folds]
        counter = _EpochCounter(self.on_epoch, self.steps)
        counter.epochs = resume.epochs
        with _outcome(trial, ckpts, counter, start):
            for fold in range(len(bests), self.folds):
                try:
                    bests.append(self._fit_fold(trial, rnn, train, fold, bests, resume, counter, ckpts, replayed))
                except DivergedError as exc:  # which fold: the line's "at fold 1/2" is the last one it scored
                    raise DivergedError(exc.reason + fold_words(fold, self.folds)) from None
        return record_folds(trial, bests)

    def _fit_fold(
        self, trial: optuna.Trial, rnn: RNNConfig, train: TrainConfig, fold: int, bests: list[dict[str, Any]],
        resume: Resume, counter: _EpochCounter, ckpts: TrialCheckpoints | None, replayed: int = -1,
    ) -> dict[str, Any]:  # fmt: skip
        """Fit one fold (resuming its checkpoint when it is the one an earlier run left unfinished) and return its
        best epoch's row. The pruner sees the running mean over folds; introspection watches the first fold this
        run fits."""
        spec = self.spec
        data = SequenceDataModule(
            self.splits, batch_size=train.batch_size, val_fraction=spec.val_fraction,
            folds=self.folds, fold=fold, seed=self.fold_seed, normalize=train.normalize,
        )  # fmt: skip
        running = RunningMean([b["score"] for b in bests], spec.direction)
        resuming = fold == len(resume.folds) and resume.ckpt_path is not None
        if resuming:
            running.best = resume.fold_best
        counter.offset = fold * spec.max_epochs
        last = self.folds * spec.max_epochs - 1
        cbs: list[Callback] = [PruningCallback(trial, fold * spec.max_epochs, running, last, replayed), counter]
        if self.introspect and fold == len(resume.folds):  # the first fold this run fits
            cbs.append(TrialIntrospection(trial, data, self.figures))
        if self.extra_callbacks is not None:
            cbs += self.extra_callbacks(trial)
        if ckpts is not None:
            cbs.append(ckpts.callback(fold))
        result = fit(
            rnn, train, data, metric=spec.metric, callbacks=cbs, accelerator=self.accelerator,
            ckpt_path=resume.ckpt_path if resuming else None,
        )  # fmt: skip
        best: dict[str, Any] = {**result.best, "curve": [round(float(h["score"]), 6) for h in result.history]}
        if self.folds > 1 and -(-len(self.splits.train) // self.folds) >= READ_BACK_LIMIT:  # a fold too large to read
            # its accuracies back from its scores (search.verdict.at_epochs): every fold records them
            best["acc_curve"] = [round(float(h["val_acc"]), 6) for h in result.history]
        if ckpts is not None:
            ckpts.fold_done(fold, best, result.epochs_run)
        if fold < self.folds - 1:
            stop = fold_end_report(trial, running, fold, result.epochs_run, spec.max_epochs, best["score"], replayed)
            if stop is not None:
                raise optuna.TrialPruned(stop)
        return best


def fold_words(fold: int, folds: int) -> str:
    """`` in fold 2/5`` (0-based ``fold``), for a divergence's reason; nothing with one fold."""
    return f" in fold {fold + 1}/{folds}" if folds > 1 else ""


def fold_end_report(
    trial: optuna.Trial,
    running: RunningMean,
    fold: int,
    epochs_run: int,
    max_epochs: int,
    best_score: float,
    replayed: int = -1,
) -> str | None:
    """A fold that stopped early (patience) reports its final running mean at the fold's last step, and the pruner
    judges it there; the reason to prune, or None.

    Without it the pruner would next see the trial at the following fold's first epoch, whose running mean holds
    an untrained epoch's score: a rung that falls between the two would compare an early-stopped trial by that
    value against trials whose fold ran on, and prune good configurations (early stopping is not a bad sign).
    ``replayed``: a dead run's last step (:func:`search.pruning.replayed_until`), not judged again."""
    if epochs_run >= max_epochs:
        return None
    step = fold * max_epochs + max_epochs - 1
    value = running(best_score)
    trial.report(value, step)
    if step > replayed and trial.should_prune():
        return (
            f"pruned at the end of fold {fold + 1} (early-stopped at epoch {epochs_run}; step {step}) with {value:.4f}"
        )
    return None


@contextmanager
def _outcome(
    trial: optuna.Trial, ckpts: TrialCheckpoints | None, counter: _EpochCounter, start: float
) -> Iterator[None]:
    """How a trial's fits end: a divergence is a prune (with its reason), a prune records its reason; an
    interrupted trial (Ctrl-C, SIGTERM, a lost storage) keeps its checkpoints for its re-run, and so does a run whose
    trial another worker failed and re-queued meanwhile (its copy owns them now); any other end clears them; the
    wall time and epochs are recorded unless the storage is gone."""
    keep = lost = False
    try:
        yield
    except DivergedError as exc:
        trial.set_user_attr("pruned_reason", DIVERGED + exc.reason)
        raise optuna.TrialPruned(DIVERGED + exc.reason) from None
    except optuna.TrialPruned as exc:
        trial.set_user_attr("pruned_reason", str(exc))
        raise
    except StorageError:  # the storage is gone: nothing more can be written; the heartbeat re-queues it
        keep = lost = True
        raise
    except UpdateFinishedTrialError:  # taken over (this worker was suspended past the grace period): the checkpoints
        keep = True  # are its lineage's, which the re-queued copy resumes and writes now; clearing them deleted the
        raise  # copy's progress.json under it, and a later re-run started from epoch 0 (the faults7 probe)
    except Exception as exc:
        keep = interrupt_behind(exc) is not None  # a signal that surfaced as another error: re-queued, resumable
        raise
    except BaseException:  # Ctrl-C / SIGTERM: the worker re-queues the trial
        keep = True
        raise
    finally:
        if ckpts is not None:
            if not keep:
                ckpts.clear()
            ckpts.close()
        if not lost:
            trial.set_user_attr("wall_time_s", round(time.perf_counter() - start, 3))
            trial.set_user_attr("epochs_run", counter.epochs)


#: validation sequences a fold from which its accuracy can no longer be read back from its 6-decimal score (the
#: tie-break is up to 1 / (n + 1), the rounding 5e-7: search.verdict.at_epochs); such folds record their accuracy
#: curves too (``fold_acc_curves``), which the confirmation on a fresh partition compares
READ_BACK_LIMIT = 1000


def record_folds(trial: optuna.Trial, bests: list[dict[str, Any]]) -> float:
    """The trial's attributes over its folds' best epochs, and its value: the mean of their scores."""
    value = sum(b["score"] for b in bests) / len(bests)
    trial.set_user_attr("val_acc", _mean(b["val_acc"] for b in bests))
    trial.set_user_attr("val_loss", _mean(b["val_loss"] for b in bests))
    trial.set_user_attr("best_epoch", _mean(b["epoch"] for b in bests))
    trial.set_user_attr("fold_scores", [round(b["score"], 6) for b in bests])
    trial.set_user_attr("objective_value", value)  # the value itself: a store that loses its value row keeps it
    if all("val_acc" in b for b in bests):  # the verdict's one-standard-error rule compares folds by accuracy
        trial.set_user_attr("fold_accs", [round(b["val_acc"], 6) for b in bests])
    curves = [b.get("curve") for b in bests]
    if curves and all(curves):  # each fold's score per epoch: the verdict's refit epochs (search.verdict.epochs_of)
        trial.set_user_attr("fold_curves", curves)
    acc_curves = [b.get("acc_curve") for b in bests]
    if acc_curves and all(acc_curves):  # folds too large to read the accuracies back from the scores
        trial.set_user_attr("fold_acc_curves", acc_curves)
    return value


def _mean(values: Any) -> float:
    values = list(values)
    return float(sum(values) / len(values)) if values else math.nan


SWA_FROM_ATTR = "swa_best_from"  # trial user attribute: the epoch its folds' best is chosen from (SWA's start)


def older_swa_trials(study: optuna.Study) -> list[int]:
    """Finished trials with ``swa_start`` run before a fold's best epoch was chosen from SWA's start on (they lack
    :data:`SWA_FROM_ATTR`): a fold of theirs that stopped before SWA began was scored as the plain model."""
    done = (TrialState.COMPLETE, TrialState.PRUNED)
    return [
        t.number for t in study.get_trials(deepcopy=False, states=done)
        if (t.user_attrs.get("config") or {}).get("swa_start") and SWA_FROM_ATTR not in t.user_attrs
    ]  # fmt: skip


def older_swa_note(study: optuna.Study) -> str | None:
    """One note naming :func:`older_swa_trials`, or None."""
    old = older_swa_trials(study)
    if not old:
        return None
    shown = ", ".join(f"#{n}" for n in old[:8]) + (f" and {len(old) - 8} more" if len(old) > 8 else "")
    return (f"note: trial(s) {shown} ran swa_start before a fold's best epoch was chosen from SWA's start on: a "
            "fold of theirs that stopped early before SWA began was scored as the plain model, and they are ranked "
            "with today's trials; for a clean comparison, run the study under a new name")  # fmt: skip


class RunningMean:
    """Running mean over folds of the best score so far: what cross-validation reports to the pruner."""

    def __init__(self, finished: list[float], direction: str) -> None:
        self.finished = finished
        self.better = max if direction == "maximize" else min
        self.best: float | None = None
        self.plain: float | None = None  # the best of the epochs that may not be the fold's best (before SWA)

    def __call__(self, value: float, keep: bool = True) -> float:
        """The mean with this epoch's ``value``; ``keep`` False: an epoch that may not be the fold's best (before
        SWA's start, :class:`models.train.BestEpoch`). Until a kept epoch exists the best of those is reported, as
        a trial without SWA reports its best so far; from then on only kept epochs count (the plain weights' peak
        was an SWA trial's value after SWA began, and a pruned one's)."""
        if keep:
            self.best = value if self.best is None else self.better(self.best, value)
        else:
            self.plain = value if self.plain is None else self.better(self.plain, value)
        current = self.best if self.best is not None else self.plain
        assert current is not None
        return (sum(self.finished) + current) / (len(self.finished) + 1)


class _EpochCounter(Callback):
    """Counts the epochs a trial trains (over all folds) and forwards progress to ``hook(step, total)``."""

    def __init__(self, hook: Callable[[int, int], None] | None, total: int) -> None:
        self.hook, self.total, self.offset, self.epochs = hook, total, 0, 0

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self.epochs += 1  # counted at the start: a pruned epoch was trained and validated too

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.hook is not None:
            self.hook(self.offset + trainer.current_epoch + 1, self.total)
