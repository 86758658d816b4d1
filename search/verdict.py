"""The verdict of a study: the best configuration against the baseline, retrained and tested under one protocol.

Rows (the README states the protocol):

- **best** ("tuned"): the configuration of the trial :func:`choose` chooses: the study's best trial, or the
  baseline trial when it is within one standard error of the best (paired over folds), or when the best's margin
  does not hold on a fresh partition of the training split (:func:`search.selection.confirm`);
- **baseline**: the study's fixed settings with every searched regularizer off: exactly the configuration of
  the enqueued baseline trial (:func:`search.recipes.baseline_point`), whatever the study fixes (``clip_norm``,
  the optimizer, ``lr``) kept;
- **nothing at all**: the baseline with the fixed regularizers off too (clipping, ...); only when it differs;
- **best, regularizers off**: the best's configuration with every regularizer at the baseline's value (and the
  settings that only modify one, :data:`~search.recipes.DEPENDS`, with them), everything else the search chose
  kept (``lr``, the front end, ``hidden_size``, ...; the optimizer too: without decay Adam == AdamW); only when
  it differs from both. Best and baseline differ in the searched learning rate as much as in the regularizers
  (a short ItalyPowerDemand study: most of a +0.32 difference was the lr); this row splits the difference into
  what the regularizers buy (best - this row) and what the other settings buy (this row - baseline).

Each row takes its epoch count from its own cross-validated run, by one rule (:func:`epochs_of`): the epoch at
which the mean over the folds of the validation score, smoothed over half the patience either side (at most half the curve), peaks, plus one (a fold stopped early keeps its last score
for the epochs it did not run); a run that recorded no per-epoch curves (a trial of an older version) falls back to
the mean best epoch over the folds, plus one. The best and the baseline use their complete trials; a configuration with no complete trial
(recipes off, the baseline trial pruned or failed, "nothing at all") is cross-validated here with the study's
own :class:`~search.objective.Objective`, unpruned and outside the study (no trial is added), and its best
epoch is cached on the study. Each row is then retrained on the *whole* training split for that many epochs
with ``final_seeds`` seeds (seed s: the same initialization stream and data order in every row, apart from the
search's: :data:`REFIT_SEEDS`) and evaluated
once on the test split. With no validation to pick an epoch from, the refit's model is the mean of its weights
over the second half of the refit (SWA from :data:`REFIT_SWA` of the epochs on, BatchNorm statistics recomputed;
a configuration that averages its weights itself keeps its own average: ``ema_decay``, or ``swa_start`` from the
epoch its folds' SWA began at, :func:`refit_params`): a protocol device like the epoch count, the same for every
row without averaging of its own, and not part of the row's configuration. Best and baseline are compared pairwise, seed with seed and test sequence with test
sequence (:func:`compare`): the mean difference, and its 95 % interval and p-value from the two-way random-effects
model of seeds x test sequences (:func:`crossed`, Satterthwaite's degrees of freedom); rows kept from before
they recorded their hits fall back to the paired t-test over seeds (:func:`paired`). The result is cached on the study, keyed on everything it
depends on (the study definition's digest included), so a finished study reports without training. Its rows
as text: :func:`search.report.render.result_lines`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import statistics
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import numpy as np
import optuna

from models.classifier import DivergedError, exploded
from models.config import DATA_NAMES, REGULARIZER_NAMES, RNNConfig, TrainConfig, as_dict, configs_for, inert_names
from models.config import defaults as default_values
from models.data import Splits, constant_note, quoted, unvalidated_classes, validation_parts
from models.datamodule import SequenceDataModule
from models.regularizers import swa_start_epoch
from models.train import evaluate, fit
from search.folds import folds_of, study_splits
from search.inert_decay import inert_note
from search.interrupts import interrupt_behind
from search.objective import READ_BACK_LIMIT, Objective
from search.progress import DIVERGED
from search.recipes import DEPENDS, baseline_point, num
from search.selection import (
    Selection,
    as_complete,
    baseline_first,
    break_tie,
    confirm,
    regularizers_on,
    run_values,
    same_config,
    select,
    tie_finalists,
    tie_text,
)
from search.space import suggest
from search.spec import StudySpec
from search.storage import StorageError

FINAL_ATTR = "regtune:final"
CV_ATTR = "regtune:cv"  # cross-validated best epochs of configurations with no complete trial, by key
CONFIDENCE = 0.95  # the paired interval's level
SIGNIFICANCE = 0.05  # a paired p below this is called significant (the report's pages say so too)
#: the selection is confirmed on the partition of the study's seed plus this (search.selection.confirm)
CONFIRM_SEED = 1
#: trials tied at the top are told apart on the partition of the study's seed plus this (:func:`_break_tie`): not
#: the confirmation's, whose folds would then confirm the maximum of the finalists picked on those very folds, the
#: bias the confirmation is there to remove (the tiereal probe)
TIE_SEED = 2
WILCOXON_SEEDS = 6  # from this many seeds on, the Wilcoxon signed-rank p-value is reported too
#: the refit keeps the mean of its weights from this fraction of its epochs on (SWA), for every row that does not
#: average its weights itself. Without it the refit's test accuracy hangs on the exact epoch: ItalyPowerDemand's
#: baseline, 3 seeds, retrained for 15 / 18 / 20 / 23 / 28 epochs: 0.918 / 0.918 / 0.963 / 0.920 / 0.957 (seed
#: spread up to 0.08); with the average 0.965 / 0.966 / 0.966 / 0.966 / 0.966 (spread <= 0.008)
REFIT_SWA = 0.5
#: the refit's seed s initializes and orders its batches with this + s: a stream apart from the search's, whose every
#: trial initializes with the study's seed (0 in every shipped study). With seeds 0..S-1 the best row's seed 0
#: started from the very weights its trial's folds had won with, and the luck its trial was chosen for carried into
#: its row, not the baseline's (the stats10 review: identical initial weights; +0.008..+0.015 on the best - baseline
#: mean in a simulation that assumed the luck carried). Measured on real refits it did not: the old seed 0 of each
#: study's top trial sat below its seeds 1..19, by 0.0026 / 0.0032 / 0.0057 (ItalyPowerDemand, GunPoint,
#: JapaneseVowels, 20-trial studies; the seeds10 probe): the streams are kept apart on principle, at no cost.
#: Seeds are still numbered 0..S-1 where they are named
REFIT_SEEDS = 1_000_000


# --------------------------------------------------------------------------------------------- keys
def definition_digest(spec: StudySpec) -> str:
    """The study definition's digest (:mod:`search.fingerprint`)."""
    from search.fingerprint import definition, digest

    return str(digest(definition(spec)))


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------- configurations
def trial_config(spec: StudySpec, params: dict[str, Any]) -> dict[str, Any]:
    """The ``config`` user attribute a trial with these Optuna params stores (as ``Objective`` builds it)."""
    values = {**spec.base_params(), **suggest(optuna.trial.FixedTrial(params), spec)}  # type: ignore[arg-type]
    rnn, train = configs_for(values, seed=spec.seed)
    return {k: v for k, v in as_dict(rnn, train).items() if k not in DATA_NAMES}


def point_config(spec: StudySpec, params: dict[str, Any]) -> dict[str, Any] | None:
    """:func:`trial_config` of a starting point's params, or None when the point leaves searched names to the
    sampler (a study file's point that sets dropout only: lr is drawn per trial, so its trials' configurations are
    known only once they ran; ``make report`` raised "The value of the parameter 'lr' is not found")."""
    try:
        suggest(optuna.trial.FixedTrial(params), spec)  # type: ignore[arg-type]
    except ValueError:
        return None
    return trial_config(spec, params)


def baseline_config(spec: StudySpec) -> dict[str, Any]:
    """The configuration of the enqueued baseline trial: fixed settings kept, searched regularizers off, other
    searched settings (lr, ...) at their defaults."""
    return trial_config(spec, baseline_point(spec))


def nothing_config(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``config`` with every regularizer off (the optimizer kept: without decay Adam == AdamW), and the names
    that this turned off (not one that never acted: :func:`models.config.inert_names`, a layer_dropout of a
    one-layer network, which the row said it "also turned off")."""
    defaults, inert = default_values(), inert_names(config)
    off = [name for name in regularizers_on(config) if name not in inert]
    return {k: (defaults[k] if k in off else v) for k, v in config.items()}, off


def without_regularizers(config: dict[str, Any], base: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``config`` with every regularizer, and every setting that only modifies one (``recurrent_dropout_mode``,
    ``dropout_variational``), at its value in ``base``; and the settings it keeps that differ from ``base`` (what
    the search chose besides the regularizers). The optimizer is kept unless both are Adam or AdamW, which are
    the same without decay (and then ``momentum``, which they ignore, is the baseline's too); a modifier of a
    regularizer the baseline keeps on (a fixed ``recurrent_dropout``) is kept; the ``conv_*`` settings are the
    baseline's when neither builds a front end (they change nothing there)."""
    defaults = default_values()
    regularizers = set(REGULARIZER_NAMES) - {"optimizer"}
    on = {r for r in regularizers if r in base and base[r] != defaults[r]}  # the study fixes these on: they stay
    modifiers = {name for deps in DEPENDS.values() for name in deps if name != "optimizer"}
    # a modifier of a regularizer that stays on (fixed) is a setting of that regularizer the search chose: kept,
    # and said (keeps recurrent_dropout_mode=batch), not reset behind a row whose "off" list is empty
    modifiers -= {m for reg, deps in DEPENDS.items() if reg in on for m in deps}
    reset = regularizers | modifiers
    if {config.get("optimizer"), base.get("optimizer")} <= {"adam", "adamw"}:
        reset |= {"optimizer", "momentum"}
    if not _front_end(config) and not _front_end(base):
        reset |= {k for k in config if k.startswith("conv_")}
    out = {k: (base[k] if k in reset and k in base else v) for k, v in config.items()}
    kept = {k: v for k, v in out.items() if k != "seed" and base.get(k) != v}
    if not _front_end(out):  # the row has no front end (the baseline has): say that, not its unused settings
        kept = {k: v for k, v in kept.items() if not k.startswith("conv_") or k in ("conv_layers", "conv_stride")}
    return out, kept


def _front_end(config: dict[str, Any]) -> bool:
    """Whether ``config`` builds Conv1D blocks: the network's own rule, :attr:`models.config.RNNConfig.conv_blocks`."""
    return RNNConfig(**{k: config[k] for k in ("conv_layers", "conv_stride") if k in config}).conv_blocks > 0


def keeps(spec: StudySpec, config: dict[str, Any]) -> dict[str, Any]:
    """The settings the baseline keeps: the fixed ones, and the searched ones that are not off (a searched
    modifier such as ``recurrent_dropout_mode`` only while a regularizer it modifies is on; never one that changes
    nothing in its network, :func:`models.config.inert_names`)."""
    defaults, inert = default_values(), inert_names(config)
    out = {k: config[k] for k in spec.fixed if k in config and k not in inert}
    for name in spec.search:
        if name in out or name in inert:
            continue
        if name in REGULARIZER_NAMES and name != "optimizer" and config[name] == defaults[name]:
            continue
        modified = [reg for reg, deps in DEPENDS.items() if name in deps]
        if name not in REGULARIZER_NAMES and modified and all(config[r] == defaults[r] for r in modified):
            continue
        out[name] = config[name]
    return out


def keeps_text(values: dict[str, Any]) -> str:
    """``clip_norm=1, optimizer=adamw, lr=0.003`` (``nothing`` when empty)."""
    shown = [f"{k}={num(v) if isinstance(v, float) else v}" for k, v in values.items()]
    return ", ".join(shown) or "nothing"


def changed_values(config: dict[str, Any], baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    """The entries of ``config`` that differ from the defaults, or from ``baseline``'s: what a reader needs to
    see (a searched ``normalize: channel`` is the default, and was not shown although it was all that set the
    best apart from a baseline that runs ``series``); not the names that change nothing in its network
    (:func:`models.config.inert_names`: the front end's settings where ``conv_layers`` is 0)."""
    defaults, base, inert = default_values(), baseline or {}, inert_names(config)
    return {
        k: v for k, v in config.items()
        if k in defaults and k != "seed" and k not in inert and (defaults[k] != v or (k in base and base[k] != v))
    }  # fmt: skip


# --------------------------------------------------------------------------------------------- epochs
def peak_epoch(curves: list[list[float]], direction: str = "maximize", window: int = 0, first: int = 0) -> int:
    """The epoch (from 0) at which the mean over folds of the per-epoch validation scores peaks (the first such
    epoch); a fold that stopped early keeps its last score for the epochs it did not run. ``window``: the mean
    curve is first smoothed by a centred moving average over ``2 * window + 1`` epochs (cut at the ends), the
    half-width at most half the curve: a window as long as the curve would flatten it into its mean and make the
    first epoch the peak (a 6-epoch study with patience 20 retrained every row for 1 epoch). A run that early
    stopped is always longer than its patience, so the cap only binds where the epoch budget ended the run first.

    One argmax of the averaged curve, not the mean of per-fold argmaxes: on a tiny fold each fold's best epoch is
    noise (ItalyPowerDemand's 13-sequence folds: 26, 6, 5, 21, 25, whose mean 16.6 falls between two groups, and
    the baseline retrained for 18 epochs scored 0.918 on test, 3 seeds; for 28, the averaged curve's peak, 0.957).
    Smoothed, because on 7-sequence folds the averaged curve itself is noise: ArrowHead's baseline curve peaked at
    epoch 55 on a plateau that runs to ~160, and the refit for 56 epochs scored 0.643 (5 seeds), for 133 (the
    smoothed peak) 0.793.

    ``first``: the first epoch that may be the peak (SWA's start: before it the folds scored the plain weights,
    whose peak would retrain a row without the average its trial was scored by); ignored past the curve's end."""
    mean = smoothed_mean(curves, window)
    sign = 1.0 if direction == "maximize" else -1.0
    first = first if first < len(mean) else 0
    top = max(sign * v for v in mean[first:])
    return next(e for e, v in enumerate(mean) if e >= first and sign * v >= top - 1e-9)  # the first, rounding aside


def smoothed_mean(curves: list[list[float]], window: int = 0) -> list[float]:
    """The per-epoch mean over folds of ``curves`` (a fold that stopped early keeps its last score), smoothed by
    a centred moving average of half-width ``window`` (at most half the curve): what :func:`peak_epoch` reads.
    Epoch e < ``window`` averages epochs 0..2e, centred on it. Cut at the start instead (0..e + window), the first
    epochs averaged less of the curve's later fall than the peak's epoch did: a 6-epoch fit whose folds peaked at
    epochs 2 and 3 (mean 0.47, 0.72, 0.56, 0.37, 0.35, 0.62, half-width 2) "peaked" at epoch 1 and was retrained
    for 1 epoch beside a row retrained for 6, and the split "of it: regularizers -0.45" measured the epochs (the
    unseen-data probe, 2026-12-05); 12-sequence data whose patience outlasts its budget, every row. Now 2 epochs.
    A rising curve's first epochs are its lowest either way."""
    curves = [list(c) for c in curves if len(c)]
    if not curves:
        raise ValueError("peak_epoch needs at least one non-empty curve")
    length = max(len(c) for c in curves)
    mean = [statistics.fmean(c[min(e, len(c) - 1)] for c in curves) for e in range(length)]
    window = min(window, (length - 1) // 2)
    if window > 0:  # centred: the first epochs' windows shrink to stay centred, the last ones' are cut at the end
        mean = [statistics.fmean(mean[e - min(e, window) : e + min(e, window) + 1]) for e in range(length)]
    return mean


MIN_RISE_WINDOW = 4  # epochs: a shorter trend is one epoch-to-epoch step (a curve this short: all of it)


def late_rise(spec: StudySpec, run: dict[str, Any]) -> tuple[float, int] | None:
    """How much a cross-validated run's mean validation curve over folds (a fold that stopped early keeps its
    last score) was still gaining at its end, in the metric's better direction (accuracy: a fraction; loss: a
    decrease), and over how many epochs: the least-squares slope of its last window times the window, the window
    being the patience but at most a quarter of the curve (at least :data:`MIN_RISE_WINDOW` epochs, or the whole
    curve when shorter). None without curves or patience. Read by the budget warning:
    a run whose epochs reach the budget on a plateau (JapaneseVowels' GRU study: its best trial's folds peaked at
    146 of 149 epochs, flat over the last 38 epochs, and three of five folds stopped early; retrained outside the
    study with three times the budget, its row did not move) was not cut short; one still climbing was (the
    UnitTest study's best: +0.17, 3 of its 20 sequences, and with a 500-epoch budget CV 0.947 -> 1.000). Not the
    smoothed curve :func:`epochs_of` reads: with a patience as long as the budget (a study file's short
    ``max_epochs``) it smooths over half the run, and a curve flat for its last 10 of 25 epochs "still rose by
    +0.112 over the last 24 epochs" (a probe, 2026-12-05). An accuracy is at most what its curve's end leaves below
    1.0: folds at 100 % cannot score higher with more epochs (the unseen13 probe: "a larger budget.max_epochs may
    score higher" of every fold at 1.0 over its last three epochs)."""
    curves, patience = run.get("fold_curves"), run_patience(spec, run)
    if not curves or not any(len(c) for c in curves) or not patience:
        return None
    mean = smoothed_mean(curves)  # (unsmoothed: the mean over folds)
    window = min(patience, len(mean) - 1, max((len(mean) - 1) // 4, MIN_RISE_WINDOW))
    if window == 0:
        return 0.0, 0
    tail = mean[-(window + 1) :]
    slope = float(np.polyfit(np.arange(window + 1), tail, 1)[0])
    if spec.direction == "maximize":  # no more than is left below 1.0: every fold at 100 % from epoch 6 of 8 "still
        return min(slope * window, max(0.0, 1.0 - mean[-1])), window  # rose by +0.0203" (the unseen13 probe)
    return -slope * window, window


def rise_floor(spec: StudySpec) -> float:
    """The late rise (:func:`late_rise`) below which a curve counts as flat: one validation sequence in all, in
    accuracy (k folds validate every training sequence once, so the mean over folds moves by 1 / n when the folds
    together get one more right; a holdout by 1 / its size); with the loss metric 0.01 (cross-entropy)."""
    if spec.metric == "val_loss":
        return 0.01
    n = len(study_splits(spec).train)
    return 1.0 / max(1.0, n if folds_of(spec) > 1 else n * spec.val_fraction)


def smoothing_window(spec: StudySpec, run: dict[str, Any]) -> int:
    """The moving-average half-width (epochs) :func:`epochs_of` smooths a run's mean curve with: half its
    early-stopping patience (the run's ``config``, else the study's), the noise the early stopping itself
    tolerates; without early stopping, a twentieth of ``max_epochs``."""
    patience = run_patience(spec, run)
    return patience // 2 if patience else spec.max_epochs // 20


def run_patience(spec: StudySpec, run: dict[str, Any]) -> int:
    """A run's early-stopping patience in epochs (0 = none): its ``config``'s, else the study's."""
    patience = (run.get("config") or {}).get("patience")
    if patience is None:
        patience = spec.base_params().get("patience", TrainConfig.patience)
    return int(patience)


def epochs_of(spec: StudySpec, run: dict[str, Any]) -> int:
    """The retraining epochs of a cross-validated run (a trial's user attributes, or :func:`cross_validate`'s
    result): the peak of its smoothed mean validation curve (from SWA's start on, where it has one) plus one
    (``fold_curves``, :func:`peak_epoch` with :func:`smoothing_window`), else its mean best epoch plus one; within
    1..``max_epochs``."""
    curves = run.get("fold_curves")
    if curves:
        config = run.get("config") or {}
        swa = SimpleNamespace(
            swa_start=config.get("swa_start", 0.0), max_epochs=config.get("max_epochs", spec.max_epochs)
        )
        epoch = peak_epoch(curves, spec.direction, smoothing_window(spec, run), swa_start_epoch(swa))
    else:
        epoch = round(run.get("best_epoch", spec.max_epochs - 1))
    return max(1, min(int(epoch) + 1, spec.max_epochs))


def complete_trial(study: optuna.Study, config: dict[str, Any]) -> optuna.trial.FrozenTrial | None:
    """A complete trial whose configuration equals ``config`` (the enqueued baseline first), or None."""
    found = [
        t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if same_config(t.user_attrs.get("config"), config) and not math.isnan(t.user_attrs.get("best_epoch", math.nan))
    ]  # fmt: skip
    found.sort(key=baseline_first)
    return found[0] if found else None


def cross_validate(spec: StudySpec, config: dict[str, Any], fold_seed: int | None = None) -> dict[str, Any]:
    """Cross-validate ``config`` with the study's own fold loop, unpruned and outside the study (no trial); on the
    study's folds, or on the partition of ``fold_seed``.

    ``{"best_epoch", "value", "fold_scores"}``; ``{"diverged": reason}`` if it diverged."""
    fixed = {k: v for k, v in config.items() if k not in ("max_epochs", "seed")}
    alone = dataclasses.replace(spec, architecture={}, fixed=fixed, search={}, starting_points=[], introspect=False)
    objective = Objective(alone, fold_seed=fold_seed)
    trial = optuna.trial.FixedTrial({})
    if trial_config(alone, {}) != config:
        raise ValueError(f"cannot cross-validate {config}: its study would run {trial_config(alone, {})}")
    try:
        with verdict_run("a cross-validation", config):
            value = objective(trial)  # type: ignore[arg-type]
    except optuna.TrialPruned as exc:  # the objective turns a divergence into a prune
        return {"diverged": str(exc).removeprefix(DIVERGED)}
    ua = trial.user_attrs
    out = {"best_epoch": ua["best_epoch"], "value": value, "fold_scores": ua["fold_scores"], "config": config}
    for name in ("fold_accs", "fold_curves", "fold_acc_curves", "val_acc", "val_loss", "folds", "path"):  # as a trial
        if name in ua:
            out[name] = ua[name]
    return out


class VerdictRunError(RuntimeError):
    """A run of the verdict's own (a cross-validation or a retraining outside the study) failed with an error that
    is not a divergence: seeded, it fails the same way on every rerun, so the CLI says it in one line."""


@contextmanager
def verdict_run(what: str, config: dict[str, Any]) -> Iterator[None]:
    """Run one of the verdict's own runs of ``config`` (``what``: "a cross-validation", ...): an error it raises
    becomes a :class:`VerdictRunError` naming the run and the settings. Passed on as they are: a divergence (the
    verdict's to score) and a prune, a signal behind the error (:func:`search.interrupts.interrupt_behind`), a disk
    or storage error and an out-of-memory error (the CLI's own handlers say those; none is the settings')."""
    try:
        yield
    except (DivergedError, optuna.TrialPruned, OSError, StorageError, MemoryError):
        raise
    except Exception as exc:
        # torch.cuda's OutOfMemoryError is a RuntimeError: the machine, not the settings
        if interrupt_behind(exc) is not None or type(exc).__name__ == "OutOfMemoryError":
            raise
        shown = ", ".join(f"{k}={v}" for k, v in sorted(changed_values(config).items())) or "the defaults"
        first = " ".join(str(exc).splitlines()[:1])
        raise VerdictRunError(
            f"{what} of the configuration {shown} failed ({type(exc).__name__}: {first}); the finished trials are "
            f"kept. The run is seeded, so a rerun will most likely fail the same way: change the setting the error "
            f"points at in the study file ({TRACEBACK_ENV}=1 prints the traceback)"
        ) from exc


#: set (to anything but "" or "0") to print the traceback behind a VerdictRunError's one line
TRACEBACK_ENV = "REGTUNE_TRACEBACK"


#: how a fit with SWA on chooses its best epoch (models.train.BestEpoch: from SWA's start on, since 2026-12-05): in
#: the keys of cached cross-validation runs and verdicts of configurations with ``swa_start``, so none cached under
#: the earlier rule (a fold stopped before SWA began, scored as the plain model) is read as today's
SWA_PROTOCOL = "best epoch from SWA's start"
#: what ``norm: batch`` builds (models.network: the RNN keeps its biases since 2026-12-06; it was built without them):
#: in the keys of cached cross-validation runs, refits and verdicts of configurations with batch norm, so none
#: trained without the biases is read as today's
BATCH_NORM_BIAS = "RNN biases kept under batch norm"


def batch_norm_mark(*configs: dict[str, Any] | None) -> dict[str, str]:
    """``{"batch_norm": BATCH_NORM_BIAS}`` when any of ``configs`` has batch norm (a cache key's part), else {}."""
    return {"batch_norm": BATCH_NORM_BIAS} if any(c and c.get("norm") == "batch" for c in configs) else {}


def cached_run(study: optuna.Study, spec: StudySpec, config: dict[str, Any]) -> dict[str, Any] | None:
    """``config``'s cross-validated run outside the study, if one is cached on it (never trains)."""
    return cv_run(study, spec, config, run=False)


def cv_run(
    study: optuna.Study, spec: StudySpec, config: dict[str, Any], digest: str | None = None,
    fold_seed: int | None = None, run: bool = True,
) -> dict[str, Any] | None:  # fmt: skip
    """``config``'s cross-validated run outside the study (on the partition of ``fold_seed``; None: the study's
    folds): the cached one, else (with ``run``) run now and cached on the study; None when not cached and not
    ``run``."""
    cache = dict(study.user_attrs.get(CV_ATTR, {}))
    parts: tuple[Any, ...] = (digest or definition_digest(spec), config)
    if config.get("swa_start"):  # a run cached before SWA folds chose their best from its start scored other folds
        parts += ({"swa": SWA_PROTOCOL},)
    if mark := batch_norm_mark(config):  # a run cached before batch norm kept the RNN's biases trained without them
        parts += (mark,)
    key = _key(*parts) if fold_seed is None else _key(*parts, {"fold_seed": fold_seed})
    if key not in cache:
        if not run:
            return None
        where = "the study's folds" if fold_seed is None else f"a fresh partition (fold seed {fold_seed})"
        announce(spec, f"cross-validating {described(config)} outside the study, on {where}")
        result = cross_validate(spec, config, fold_seed)
        cache_entry(study, CV_ATTR, key, result)
        return result
    return cache[key]  # type: ignore[no-any-return]


def described(config: dict[str, Any]) -> str:
    """A configuration in a few words, for the lines that say what the verdict trains: the regularizers it turns on,
    and its learning rate (two rows that differ only there read the same without it: the review)."""
    on = regularizers_on(config)
    shown = ", ".join(f"{n} {config[n]:.2g}" if isinstance(config[n], float) else f"{n} {config[n]}" for n in on[:4])
    what = f"with {shown}{', ...' if len(on) > 4 else ''}" if on else "without regularizers"
    return f"a configuration {what}" + (f" (lr {config['lr']:.2g})" if isinstance(config.get("lr"), float) else "")


def announce(spec: StudySpec, what: str) -> None:
    """One line (stderr) before a run of the verdict's that is not cached: a report that retrained its recipe rows
    said nothing for 6.5 minutes of a 3-trial study on big data (3 hours, 40 trials: the scale probe, 2026-12-06)."""
    print(f"{getattr(spec, 'name', 'the verdict')}: {what} ...", file=sys.stderr, flush=True)


def cache_entry(study: optuna.Study, attr: str, key: str, value: Any) -> None:
    """Add ``key: value`` to the study's dict attribute ``attr``, read again just before the write: a run takes
    seconds to minutes, and another process on the same study (a second `make study`, a report) may have cached
    its own entries meanwhile, which a write of the dict read before the run dropped."""
    study.set_user_attr(attr, {**study.user_attrs.get(attr, {}), key: value})


def confirm_seed(spec: StudySpec) -> int:
    """The fold seed of the partition the selection is confirmed on (:func:`search.selection.confirm`)."""
    return spec.seed + CONFIRM_SEED


def choose(study: optuna.Study, spec: StudySpec, run: bool = False) -> Selection:
    """The trial the verdict calls "tuned": :func:`search.selection.select`; trials tied with its best on the folds'
    accuracy told apart on a fresh partition (:func:`_break_tie`); then, when the best beat the baseline on the
    study's folds, :func:`search.selection.confirm` on another one. The runs they need (the baseline's unpruned
    CV run when its trial is not complete; the tied finalists' and the two confirmation runs) are read from the
    study's cache, or with ``run`` run now and cached. Without them (a summary printed before the verdict ran,
    ``run`` off) the choice is the unconfirmed one, or its tie is pending, and its rule says so."""
    base = baseline_config(spec)
    base_cv = baseline_run(study, spec, run=run)
    chosen = select(study, spec.metric, base, base_cv)
    if chosen.simpler or folds_of(spec) < 2:
        return chosen
    seed = confirm_seed(spec)
    digest = definition_digest(spec)

    def beats_baseline(t: optuna.trial.FrozenTrial) -> bool:  # as the best does (or nothing to compare with)
        return not select(study, spec.metric, base, base_cv, top=t).simpler

    # trials tied with the best on the folds' accuracy, each beating the baseline as the best does: told apart on
    # the fresh partition, unless the best is the baseline (among equals the rule prefers it)
    if not same_config(chosen.best.user_attrs.get("config"), base):
        finalists, tied = tie_finalists(study, chosen.best, spec.metric, beats_baseline)
        if len(finalists) > 1:
            chosen = _break_tie(study, spec, chosen, finalists, tied, base_cv, run)
            chosen = dataclasses.replace(chosen, rule=not_fresh(spec, spec.seed + TIE_SEED, chosen.rule))
            if chosen.tie_pending:
                return chosen
    if chosen.baseline is None and not chosen.run_only:
        return chosen
    best_config = as_complete(chosen.best.user_attrs["config"], base)
    runs = [cv_run(study, spec, cfg, digest, fold_seed=seed, run=run) for cfg in (best_config, base)]
    if runs[0] is None or runs[1] is None:
        return dataclasses.replace(
            chosen, rule=f"{chosen.rule} (not yet confirmed on a fresh partition: the verdict does that)"
        )
    epochs = (epochs_of(spec, chosen.best.user_attrs), _known_epochs(study, spec, base, digest))
    sizes = fresh_fold_sizes(spec, seed)
    best_run, base_run = at_epochs(runs[0], epochs[0], sizes), at_epochs(runs[1], epochs[1], sizes)
    confirmed = confirm(chosen, best_run, base_run, spec.metric, spec.direction, seed)
    return dataclasses.replace(confirmed, rule=not_fresh(spec, seed, confirmed.rule))


def not_fresh(spec: StudySpec, seed: int, rule: str) -> str:
    """``rule`` with its "a fresh partition ... (fold seed ``seed``)" named as the study's own folds where the seeded
    shuffle of so few training sequences drew them again: 2 sequences of each of 2 classes have two partitions into
    2 folds, and fold seeds 0 and 2 (the study's and the tie's at seed 0) drew the same one, which the rule called
    fresh (the unseen13 probe)."""
    y, k = study_splits(spec).train.y, folds_of(spec)
    if k < 2:
        return rule

    def parts(s: int) -> set[frozenset[int]]:
        return {frozenset(p.tolist()) for p in validation_parts(y, k, spec.val_fraction, s)}

    if parts(seed) != parts(spec.seed):
        return rule
    fresh = f"a fresh partition of the training split into {k} folds (fold seed {seed})"
    again = (f"a partition of the training split into {k} folds (fold seed {seed}) that is the study's own again "
             f"(too few training sequences for another: not a fresh one)")  # fmt: skip
    return rule.replace(fresh, again)


def fresh_fold_sizes(spec: StudySpec, seed: int) -> list[int] | None:
    """The validation sequences of each fold of the partition of ``seed``, which :func:`at_epochs` reads a run's
    accuracies back by (the curves hold scores: accuracy less the tie-break); None for a loss metric."""
    if spec.metric != "val_acc":
        return None
    y = study_splits(spec).train.y
    return [len(part) for part in validation_parts(y, folds_of(spec), spec.val_fraction, seed)]


def _break_tie(
    study: optuna.Study, spec: StudySpec, chosen: Selection, finalists: list[optuna.trial.FrozenTrial], tied: int,
    base_cv: dict[str, Any] | None, run: bool,
) -> Selection:  # fmt: skip
    """:func:`search.selection.break_tie` on a fresh partition of its own (:data:`TIE_SEED`; each finalist
    cross-validated there, cached on the study like the confirmation's runs), and the selection
    again with the winner as the best (its folds differ from the first's fold by fold, so its comparison with the
    baseline is its own; every finalist beats the baseline there, as the first did). Without ``run`` and with a
    run not cached: the selection, its tie pending."""
    seed, digest, base = spec.seed + TIE_SEED, definition_digest(spec), baseline_config(spec)
    runs = {
        t.number: cv_run(study, spec, as_complete(t.user_attrs["config"], base), digest, fold_seed=seed, run=run)
        for t in finalists
    }  # fmt: skip
    cached = [r for r in runs.values() if r is not None]
    if len(cached) < len(finalists):
        tie = {"pending": True, "tied": tied, "trials": [t.number for t in finalists]}
        return dataclasses.replace(chosen, rule=f"{chosen.rule}; {tie_text(tie, folds_of(spec))}", tie=tie)
    sizes = fresh_fold_sizes(spec, seed)
    fresh = {
        t.number: run_values(at_epochs(r, epochs_of(spec, t.user_attrs), sizes), spec.metric, folds_of(spec))
        for t, r in zip(finalists, cached)
    }  # fmt: skip
    winner, tie = break_tie(finalists, fresh, tied, seed)
    first = None
    if winner.number != chosen.best.number:
        first, chosen = chosen.best, select(study, spec.metric, base, base_cv, top=winner)
    return dataclasses.replace(chosen, rule=f"{chosen.rule}; {tie_text(tie, folds_of(spec))}", tie=tie, first=first)


def at_epochs(run: dict[str, Any], epochs: int | None, sizes: list[int] | None = None) -> dict[str, Any]:
    """A confirmation run scored as the verdict retrains: each fold's value after ``epochs`` epochs (its curve; a
    fold that stopped early keeps its last value), the epochs chosen on the study's folds, not on these. Each fold's
    own best epoch is a maximum over its noise: on pure noise (labels independent of the data) the regularized
    trials' noisier curves peaked higher than the baseline's on the fresh partition as on the study's, and 3 of 9
    studies called their best "confirmed" (+0.010 over 200 sequences, standard error 0.006; the null probe,
    2026-12-06). A run without curves (cached by an older version), or without epochs, keeps its best epochs.

    ``sizes``: with the accuracy metric, each fold's validation sequences. A curve holds the score, the accuracy
    less a tie-break under one sequence's worth (``models.train.score``), and the confirmation compares
    accuracies: read from the scores, two runs at 1.0 on every fold differed by their tie-breaks alone, with a
    standard error of 0, and the best was "confirmed" (the diff's review). Each score is rounded up to its fold's
    accuracy (the tie-break is at most 1 / (n + 1) of a fold of n; the curves keep 6 decimals, which resolve that
    below :data:`~search.objective.READ_BACK_LIMIT` sequences a fold). Larger folds record their accuracy curves
    (``fold_acc_curves``), read as they are: the tie-break there is still up to 1 / (n + 1), about 1e-3 at 1,000, not
    below the 6th decimal, and scores read as accuracies made two runs of equal accuracy on every fold differ by
    their tie-breaks alone, the best "confirmed" (review4). A large-fold run cached without them is read as before
    (its scores as its accuracies). Without sizes that match the folds the run keeps its best epochs."""
    curves = run.get("fold_curves")
    if not curves or epochs is None or "diverged" in run:
        return run
    values = [c[min(epochs, len(c)) - 1] for c in curves]
    if sizes is None:
        return {**run, "fold_accs": None, "fold_scores": values}
    if len(sizes) != len(values) or not all(sizes):
        return run
    acc_curves = run.get("fold_acc_curves")
    if acc_curves and len(acc_curves) == len(curves) and all(acc_curves):
        accs = [c[min(epochs, len(c)) - 1] for c in acc_curves]
    else:  # a fold too large to read back without its accuracy curve (cached before they were recorded): as before
        accs = [math.ceil(v * n - 0.5 / (n + 1)) / n if n < READ_BACK_LIMIT else v for v, n in zip(values, sizes)]
    return {**run, "fold_accs": accs, "fold_scores": values}


def _known_epochs(study: optuna.Study, spec: StudySpec, config: dict[str, Any], digest: str) -> int | None:
    """:func:`cv_epochs` of ``config`` where they are known without running anything (its complete trial, or its
    cached CV run), else None."""
    t = complete_trial(study, config)
    if t is not None:
        return epochs_of(spec, t.user_attrs)
    run = cv_run(study, spec, config, digest, run=False)  # (choose without ``run`` trains nothing)
    return None if run is None or "diverged" in run else epochs_of(spec, {**run, "config": config})


def baseline_run(study: optuna.Study, spec: StudySpec, run: bool = False) -> dict[str, Any] | None:
    """The baseline's cross-validated run outside the study when the study has no complete baseline trial (the
    selection rule compares the best with it): cached, or with ``run`` run now; None when a complete baseline
    trial exists (or, without ``run``, nothing is cached)."""
    base = baseline_config(spec)
    if complete_trial(study, base) is not None:
        return None
    return cv_run(study, spec, base, run=run)


def cv_epochs(study: optuna.Study, spec: StudySpec, config: dict[str, Any], digest: str) -> tuple[int, str]:
    """(epochs, where they come from) for ``config``: its complete trial, else its cached or fresh CV run."""
    epochs, source, _ = cv_epochs_run(study, spec, config, digest)
    return epochs, source


def cv_epochs_run(
    study: optuna.Study, spec: StudySpec, config: dict[str, Any], digest: str
) -> tuple[int, str, dict[str, Any] | None]:
    """:func:`cv_epochs` and the run they were read from (a trial's attributes, or the CV run with its
    ``config``; None when that run diverged)."""
    t = complete_trial(study, config)
    if t is not None:
        return epochs_of(spec, t.user_attrs), f"trial #{t.number}", t.user_attrs
    run = cv_run(study, spec, config, digest)
    assert run is not None
    if "diverged" in run:
        why = run["diverged"].removeprefix(DIVERGED)  # cached before cross_validate dropped the prefix
        return spec.max_epochs, f"the budget (its CV run here diverged: {why})", None
    run = {**run, "config": config}
    return epochs_of(spec, run), "a CV run here", run


# --------------------------------------------------------------------------------------------- retraining
def refit_params(config: dict[str, Any], epochs: int, seed: int, average: float = REFIT_SWA) -> dict[str, Any]:
    """The hyperparameters of a refit of ``config``: ``epochs`` epochs, no early stopping, seed ``seed``, and the
    weight average of the second part of the refit (``swa_start = average``) unless ``config`` averages itself.

    A ``config`` that searched SWA averages from the epoch its cross-validation did: ``swa_start`` is a fraction of
    ``max_epochs``, the budget in the folds and ``epochs`` in the refit, so the refit of 85 of 149 epochs with
    ``swa_start`` 0.7 averaged from epoch 59, a model no fold measured (the folds averaged from epoch 104). When
    the epoch the folds chose comes before that start (a trial run before 2026-12-05: the best epoch is now
    chosen from SWA's start on, and :func:`epochs_of` reads the peak from there), no fold's chosen model was
    averaged: the refit averages as a row without averaging does (its EMA, if any; else the protocol's ``average``)."""
    params = {**config, "max_epochs": epochs, "patience": 0, "seed": seed}
    own = config.get("swa_start") or 0.0
    if own:
        start = int(own * config.get("max_epochs", epochs))  # the epoch the folds' SWA began at
        if start < epochs:
            params["swa_start"] = (start + 0.5) / epochs  # int(swa_start * epochs) == start
            return params
        params["swa_start"] = 0.0
    if average and not config.get("ema_decay"):
        params["swa_start"] = average
    return params


def test_accuracy(
    spec: StudySpec,
    config: dict[str, Any],
    epochs: int,
    seeds: int,
    average: float = REFIT_SWA,
    diverged: list[int] | None = None,
    hits: list[str] | None = None,
) -> list[float]:
    """Retrain on the whole training split for ``epochs`` epochs per seed (:func:`refit_params`); accuracy on the
    test split (a seed whose training diverges scores 0: a row without clipping may explode where the search's
    rows did not; its number is appended to ``diverged``, which the verdict names). ``hits`` gets each seed's
    right and wrong test sequences (:func:`pack_hits`), which :func:`paired` pairs sequence by sequence."""
    return _refits(seeds, diverged, hits, lambda seed: refit_seed(spec, config, epochs, seed, average))


def refit_seed(
    spec: StudySpec, config: dict[str, Any], epochs: int, seed: int, average: float = REFIT_SWA
) -> dict[str, Any]:
    """One seed of :func:`test_accuracy`: ``{"acc", "hits"}`` (:func:`pack_hits`), and ``"diverged": True`` when its
    training diverged (it scores 0)."""
    splits = study_splits(spec)
    params = refit_params(config, epochs, REFIT_SEEDS + seed, average)
    rnn, train = configs_for(params, splits)
    data = SequenceDataModule(splits, batch_size=train.batch_size, val_fraction=0.0, seed=REFIT_SEEDS + seed,
                              normalize=train.normalize)  # fmt: skip
    try:
        with verdict_run(f"a retraining (seed {seed})", config):
            result = evaluate(fit(rnn, train, data).model, data.test_data())
        if exploded(result["median_loss"]):  # its last step (no validation checks a refit), judged as a fit's
            raise DivergedError(f"test loss {result['median_loss']} (the median sequence's) after the last epoch")
    except DivergedError:
        return {"acc": 0.0, "hits": pack_hits(np.zeros(len(splits.test), dtype=bool)), "diverged": True}
    return {"acc": float(result["acc"]), "hits": pack_hits(result["hits"])}


def _refits(
    seeds: int, diverged: list[int] | None, hits: list[str] | None, one: Callable[[int], dict[str, Any]]
) -> list[float]:
    """Each seed's :func:`refit_seed` result from ``one``: the accuracies, the diverged seeds and the hits."""
    accs = []
    for seed in range(seeds):
        result = one(seed)
        accs.append(result["acc"])
        if result.get("diverged") and diverged is not None:
            diverged.append(seed)
        if hits is not None:
            hits.append(result["hits"])
    return accs


#: the study's cache of refits, one attribute per row (``REFIT_PREFIX`` + key), its value the seeds' results in seed
#: order, written as each seed finishes: a stop in the verdict's retraining (or the report's recipe rows) kept
#: nothing of the refits already done, and the rerun trained every row again. One attribute a row, not one dict
#: for all: a journal stores every write of an attribute whole, and the dict grew with every refit
REFIT_PREFIX = "regtune:refit:"
#: what a refit is: its training and evaluation (refit_params, fit, evaluate); change it when they change, and the
#: cached refits are not read again (the cached verdict and recipe rows carry markers of their own in their keys:
#: change those too)
REFIT_PROTOCOL = (f"whole training split, SWA over the last {REFIT_SWA} (a config's own swa_start from its folds), "
                  f"seeds from {REFIT_SEEDS}")  # fmt: skip


def cached_test_accuracy(
    study: optuna.Study, spec: StudySpec, digest: str, config: dict[str, Any], epochs: int, seeds: int,
    diverged: list[int] | None = None, hits: list[str] | None = None,
) -> list[float]:  # fmt: skip
    """:func:`test_accuracy` whose every seed is stored on the study as it finishes (:data:`REFIT_PREFIX`, keyed
    by the study's definition, the configuration, the epochs and :data:`REFIT_PROTOCOL`): a rerun after a stop
    trains only the seeds it had not finished."""
    mark = batch_norm_mark(config)
    attr = REFIT_PREFIX + _key(digest, config, epochs, REFIT_PROTOCOL, *([mark] if mark else []))
    done: list[dict[str, Any]] = list(study.user_attrs.get(attr, []))
    start = len(done)  # the row's first seed not stored yet

    def one(seed: int) -> dict[str, Any]:
        if seed < len(done):
            return done[seed]
        if seed == start:  # minutes of training from here: said once
            # numbered from 0, as the warnings, the rows and the README number the seeds ("seeds 1..3 of 3" here
            # and "diverged on seed(s) 2" there named one run: the consist7 probe)
            which = f"seed {seed}" if seed + 1 == seeds else f"seeds {seed}..{seeds - 1}"
            announce(spec, f"retraining {described(config)} on the whole training split, {which} (of {seeds}; "
                           f"{epochs} epochs each)")  # fmt: skip
        result = refit_seed(spec, config, epochs, seed)
        stored = study.user_attrs.get(attr, [])  # another process on the study may have stored more meanwhile
        done[:] = stored if len(stored) > len(done) else [*done, result]  # (seed i is entry i: the same result)
        if len(done) > len(stored):
            study.set_user_attr(attr, done)
        return result

    return _refits(seeds, diverged, hits, one)


def pack_hits(hits: np.ndarray) -> str:
    """A seed's right (1) and wrong (0) test sequences as hex, 4 sequences a digit (kept with the row)."""
    return np.packbits(np.asarray(hits, dtype=bool)).tobytes().hex()


def hit_difference(a: dict[str, Any], b: dict[str, Any], size: int) -> np.ndarray | None:
    """Rows ``a`` - ``b`` sequence by sequence: a seeds x ``size`` matrix of -1 / 0 / +1 (seed s against seed s,
    test sequence i against itself); None for a row kept from before rows recorded their hits."""
    if not a.get("hits") or not b.get("hits") or len(a["hits"]) != len(b["hits"]):
        return None
    return hit_bits(a, size).astype(np.int8) - hit_bits(b, size).astype(np.int8)


def hit_bits(row: dict[str, Any], size: int) -> np.ndarray:
    """A row's seeds x ``size`` matrix of 1 (test sequence right) / 0 (wrong), from its recorded ``hits``."""
    return np.stack([np.unpackbits(np.frombuffer(bytes.fromhex(h), np.uint8))[:size] for h in row["hits"]])


def class_recall(row: dict[str, Any], splits: Splits) -> list[dict[str, Any]]:
    """Per class of the test split: its name, test sequences, and the share of them ``row`` classified right (the
    mean over seeds); [] for a row kept from before rows recorded their hits. Accuracy is a mean over sequences: on
    a test split of 50/50/50/10 a model that never names the fourth class scores 0.94, and nothing said so."""
    y = splits.test.y
    if not row.get("hits") or not len(y):
        return []
    right = hit_bits(row, len(y)).mean(axis=0)  # per test sequence, over seeds
    return [
        {"class": splits.classes[k], "sequences": int((y == k).sum()), "recall": float(right[y == k].mean())}
        for k in range(len(splits.classes)) if (y == k).any()
    ]  # fmt: skip


def _summary(accs: list[float]) -> dict[str, Any]:
    return {
        "accs": accs,
        "mean": statistics.fmean(accs),
        "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
    }


# --------------------------------------------------------------------------------------------- statistics
def paired(
    a: list[float], b: list[float], resolution: float | None = None, hits: np.ndarray | None = None
) -> dict[str, Any]:
    """Paired comparison of per-seed accuracies ``a`` - ``b`` (seed s against seed s).

    ``{"n", "mean", "low", "high", "p", "wilcoxon_p", "sequences"}``: the mean difference, its 95 % t interval and
    the two-sided p-value (None with one seed).

    With ``hits`` (:func:`hit_difference`: the seeds x test sequences differences, ``sequences`` their number) the
    interval counts both sources of chance, as :func:`crossed` says: which seeds trained the models, and which
    sequences the test split happens to hold. A t-test over seeds alone counts only the first: models of two
    seeds err on mostly the same sequences, so two configurations equally good in truth differ by a nearly
    constant amount on one test split, and more seeds made that look ever surer (simulated equal pairs with 5-10
    seeds: p < 0.05 for 10-36 % of them, by how alike the seeds' errors are; with both sources 3-6 %).

    Without ``hits`` (a row kept from before rows recorded them): the paired t-test over seeds, its interval that
    of this test split only (``sequences`` None); Wilcoxon's signed-rank p too from :data:`WILCOXON_SEEDS` seeds on.

    ``resolution``: the accuracies' step (1 / the test split's size). The differences' standard deviation is then
    taken as at least that of two values rounded to that step, ``resolution / sqrt(6)``: accuracies are counted in
    whole test sequences, and identical differences (2 sequences of 75 better on each of 3 seeds) have a measured
    spread of 0 and an infinite t. Without the floor such a row needed another test (the sign test's 2^(1-n):
    p = 0.25 beside a zero-width interval) while 2, 2 and 3 sequences, less consistent, gave p = 0.02 by the t-test;
    with it, interval and p come from one t-test, and the more consistent differences get the smaller p.
    Without ``resolution`` (values that are not counts), identical differences get a zero-width interval and
    p 1 if they are 0, else the exact two-sided sign test's 2^(1-n)."""
    from scipy import stats

    if len(a) != len(b) or not a:
        raise ValueError(f"paired comparison needs two equal, non-empty lists of seeds (got {len(a)} and {len(b)})")
    d = [x - y for x, y in zip(a, b)]
    n, mean = len(d), statistics.fmean(d)
    mean = 0.0 if abs(mean) < 1e-12 else mean  # float noise printed as -0.0000
    out: dict[str, Any] = {"n": n, "mean": mean, "low": None, "high": None, "p": None, "wilcoxon_p": None,
                           "sequences": None if hits is None else int(hits.shape[1])}  # fmt: skip
    if n < 2:
        return out
    if hits is not None and hits.shape[1] < 2:
        # one test sequence: nothing measures how the difference varies over sequences, and the t-test over seeds
        # alone called 5 seeds right on it against 5 wrong "+1.0 (95% CI +0.49..+1.00, p=0.0054)" (the verdict5 probe)
        return out
    if hits is not None:
        se, df = crossed(hits)
        if se < 1e-12 and mean != 0:  # one difference in every cell: its nearest split that varies at all
            se, df = crossed(nearest_varying(hits))
        if se < 1e-12:  # no difference in any cell: right and wrong on the same sequences, seed by seed
            # (the same models where clipping never cut; two models can still be wrong on one sequence differently)
            out.update(low=mean, high=mean, p=1.0, identical=True)
        else:
            half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df)) * se
            out.update(low=max(-1.0, mean - half), high=min(1.0, mean + half),
                       p=min(1.0, 2.0 * float(stats.t.sf(abs(mean) / se, df))))  # fmt: skip
        return out
    sd = max(statistics.stdev(d), (resolution or 0.0) / math.sqrt(6))
    if sd < 1e-12:
        out.update(low=mean, high=mean, p=1.0 if mean == 0 else min(1.0, 2.0 ** (1 - n)))
    else:
        se = sd / math.sqrt(n)
        half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * se
        p = 2.0 * float(stats.t.sf(abs(mean) / se, n - 1))
        # an accuracy difference lies in -1..+1: 2 seeds (t with 1 degree of freedom) printed "-2.054..+2.405"
        out.update(low=max(-1.0, mean - half), high=min(1.0, mean + half), p=min(1.0, p))
    if n >= WILCOXON_SEEDS:
        if all(abs(x) < 1e-12 for x in d):  # every difference 0 (scipy warns and divides by zero)
            out["wilcoxon_p"] = 1.0
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out["wilcoxon_p"] = float(stats.wilcoxon(d).pvalue)
    return out


def nearest_varying(d: np.ndarray) -> np.ndarray:
    """``d`` (seeds x test sequences, one nonzero difference in every cell) with one cell moved one step towards 0:
    the nearest split whose differences vary at all, whose spread :func:`paired` takes for ``d``'s. ``d``'s own spread
    is 0, an infinite t; the sign test over seeds it had before (review4, 2026-12-06) gave the most consistent
    difference possible (best right on all 40 test sequences and 3 seeds, the baseline on none) p = 0.25, where
    the baseline right on one cell gave 0.00013 and on one sequence of every seed 7e-33. With the neighbour's
    spread the more consistent difference never gets the larger p."""
    out = d.astype(float)
    out.flat[0] -= float(np.sign(out.flat[0]))
    return out


def crossed(d: np.ndarray) -> tuple[float, float]:
    """The standard error of the mean of ``d`` (seeds x test sequences) with seeds and sequences both drawn at
    random, and its degrees of freedom: the two-way random-effects analysis of variance (one value a cell),
    Var(mean) = (MS_seeds + MS_sequences - MS_residual) / (S N), Satterthwaite's degrees of freedom.

    A main term below the residual (its component estimated below 0) is raised to the residual, and stays in
    Satterthwaite's sum: the component counts as 0 in the variance, but its few degrees of freedom still widen the
    interval. With 2 or 3 seeds the seeds' mean square often falls below the residual by chance although the seeds
    differ (one degree of freedom with 2), and dropping it, with the sequences' N - 1 degrees of freedom or the
    residual's (S - 1)(N - 1) left (until 2026-12-06), called 7-15 % of simulated equal pairs significant at
    p < 0.05 with 2 seeds and up to 7.6 % with 3 (about half of the draws where the term fell below). Kept in the
    sum: 0-4.4 % with 2 seeds (cautious), 0.3-6.1 % with 3, 2.0-5.9 % with 5 (the two-way model, the seeds' mean
    square 1-100 times the residual's; ``tests/test_verdict.py`` checks 2, 3 and 5 seeds). Where the two are
    equal the formula is continuous, so float rounding no longer picks a branch (the degrees of freedom had jumped
    between 22.6 and 79 at such a tie)."""
    s, n = d.shape
    m = float(d.mean())
    rows, cols = d.mean(1), d.mean(0)
    ms_e = float(((d - rows[:, None] - cols[None, :] + m) ** 2).sum()) / ((s - 1) * (n - 1))
    ms_r = max(n * float(((rows - m) ** 2).sum()) / (s - 1), ms_e)
    ms_c = max(s * float(((cols - m) ** 2).sum()) / (n - 1), ms_e)
    v = ms_r + ms_c - ms_e
    if v <= 0.0:  # one value in every cell, or a constant difference within seeds and sequences: nothing varies
        return 0.0, float((s - 1) * (n - 1))
    return math.sqrt(v / (s * n)), v * v / (ms_r**2 / (s - 1) + ms_c**2 / (n - 1) + ms_e**2 / ((s - 1) * (n - 1)))


def compare(a: dict[str, Any], b: dict[str, Any], size: int, resolution: float | None = None) -> dict[str, Any]:
    """:func:`paired` of rows ``a`` and ``b`` (their ``accs``, and their ``hits`` when both recorded them); two rows
    of one configuration and epoch count are the same runs (the baseline chosen as the tuned row): ``same``, with no
    interval and no p-value (``low``, ``high``, ``p`` None: nothing was compared).

    No test where either row diverged on a seed (``diverged``: those seeds): a diverged seed scores 0, which is not
    an accuracy, and a baseline that exploded on every seed was called "+0.75, p = 0.004" better (the CI, the p and
    the "significant" labels measured the explosion, not the regularizers)."""
    gone = sorted(set(a.get("diverged") or ()) | set(b.get("diverged") or ()))
    if gone:  # a diverged seed has no accuracy (it scores 0): a paired test with it measures the divergence
        d = statistics.fmean(a["accs"]) - statistics.fmean(b["accs"])
        out: dict[str, Any] = {"n": len(a["accs"]), "mean": d, "low": None, "high": None, "p": None,
                               "wilcoxon_p": None, "sequences": None, "diverged": gone}  # fmt: skip
    else:
        out = paired(a["accs"], b["accs"], resolution, hit_difference(a, b, size))
    if same_runs(a, b):  # nothing compared: no interval, no p (an API reader took p=1, CI 0..0 for a measured 0)
        out.update(same=True, low=None, high=None, p=None, wilcoxon_p=None)
    return out


def same_runs(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether rows ``a`` and ``b`` are one configuration retrained for one epoch count: the same runs."""
    return a.get("config") is not None and (a.get("config"), a.get("epochs")) == (b.get("config"), b.get("epochs"))


def split_difference(
    best: dict[str, Any], bare: dict[str, Any], base: dict[str, Any], size: int, resolution: float | None = None
) -> dict[str, Any]:
    """best - baseline split at the "best, regularizers off" row: ``paired_regularizers`` (best - that row: what
    the regularizers buy) and ``paired_settings`` (that row - baseline: what the other searched settings buy);
    per seed the two add up to the best's difference to the baseline."""
    return {
        "paired_regularizers": compare(best, bare, size, resolution),
        "paired_settings": compare(bare, base, size, resolution),
    }


def ci_bound(x: float) -> str:
    """An interval's bound in 3 decimals, or in 2 significant digits where those round a bound that is not 0 to
    0: "95% CI +0.000..+0.030, p=0.045, significant" read as an interval touching 0 (its low end was +0.0004)."""
    text = f"{x:+.3f}"
    if x == 0 or float(text) != 0:
        return text
    # in fixed point: "g" writes a bound under 1e-4 as "+4e-05" beside "+0.030" (review7)
    return f"{x:+.{1 - math.floor(math.log10(abs(x)))}f}".rstrip("0")


def describe_difference(p: dict[str, Any]) -> str:
    """``+0.0123 (95% CI -0.004..+0.029, paired over 3 seeds x 370 test sequences, p=0.21)``; a comparison kept
    from before rows recorded their hits says its interval is that of this test split only."""
    if p.get("same"):
        return f"{p['mean']:+.4f} (the same configuration and runs: nothing to compare)"
    if p.get("diverged"):  # (best - 0 on those seeds is no difference either)
        return (f"none measured (no test: seed(s) {', '.join(map(str, p['diverged']))} diverged in one of the two "
                "rows, and a diverged seed has no accuracy)")  # fmt: skip
    if (why := untested(p)) is not None:
        return f"{p['mean']:+.4f} ({why}: no interval, no p-value)"
    if p.get("identical"):  # "+0.0000 (95% CI +0.000..+0.000, ..., p=1)" read like a measured zero (verdict6 probe)
        return (f"{p['mean']:+.4f} (right and wrong on the same test sequences, seed by seed: {p['n']} seeds x "
                f"{p['sequences']} test sequences, nothing differs to test)")  # fmt: skip
    wilcoxon = f", Wilcoxon p={p_text(p['wilcoxon_p'])}" if p.get("wilcoxon_p") is not None else ""
    over = (f"{p['n']} seeds x {p['sequences']} test sequences" if p.get("sequences")
            else f"{p['n']} seeds, on this test split only")  # fmt: skip
    holm = (f", Holm p={p_text(p['p_holm'])} over {p['family']} further comparisons" if p.get("family", 1) > 1
            else "")  # fmt: skip
    return (f"{p['mean']:+.4f} ({100 * CONFIDENCE:.0f}% CI {ci_bound(p['low'])}..{ci_bound(p['high'])}, "
            f"paired over {over}, p={p_text(p['p'])}{wilcoxon}{holm})")  # fmt: skip


def untested(p: dict[str, Any]) -> str | None:
    """Why the paired difference ``p`` has no interval or p-value ("1 seed", "1 test sequence"), or None."""
    if p.get("n", 1) < 2:
        return "1 seed"
    return "1 test sequence" if p.get("sequences") == 1 else None


def p_text(p: float, spec: str = ".2g") -> str:
    """``p`` formatted by ``spec``, with as many more significant digits as it takes for a p below
    :data:`SIGNIFICANCE` not to print at or above it: 0.0497 printed "p=0.05" in the terminal and "significant (p =
    0.050 < 0.05)" on the page, one number read both sides of the line (the consist8 probe); now "0.0497". A p at
    or above the line never prints below it (rounding 0.05 keeps 0.05)."""
    text, digits = format(p, spec), 2
    while p < SIGNIFICANCE and float(text) >= SIGNIFICANCE and digits < 17:
        digits += 1
        text = f"{p:.{digits}g}"
    return text


def _p(p: dict[str, Any]) -> str:
    if p.get("p") is None:
        return f"n/a, {untested(p) or '1 seed'}"
    return p_text(p["p"]) + (f", Holm {p_text(p['p_holm'])}" if p.get("family", 1) > 1 else "")


def _significant(p: dict[str, Any]) -> bool:
    """Whether comparison ``p`` is significant: by its Holm-adjusted p where it is one of the further comparisons
    (:func:`adjust_further`), else by its own."""
    said = p.get("p_holm", p.get("p"))
    return said is not None and said < SIGNIFICANCE


def holm_adjust(ps: list[float]) -> list[float]:
    """Holm's step-down adjustment of ``ps`` (in their order): the chance of any false "significant" among them
    stays at the level each adjusted p is judged by."""
    adjusted = [0.0] * len(ps)
    running = 0.0
    for rank, i in enumerate(sorted(range(len(ps)), key=lambda k: ps[k])):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


#: the comparisons beside the one fixed in advance (best - baseline, ``paired``), each of which a warning reads:
#: best - "nothing at all", and the split of best - baseline at "best, regularizers off". Each judged at p < 0.05
#: alone, a warning fired on one of them in 5.1-7.9 % of simulated studies whose rows were all equally good, against
#: 3.2-4.3 % for the primary comparison (the stats10 review); Holm's step-down over those a verdict has
FURTHER = ("paired_nothing", "paired_regularizers", "paired_settings")


def tested_further(p: dict[str, Any] | None) -> bool:
    """Whether a further comparison was tested: it has a p-value, and its rows differ on some test sequence (right
    and wrong on the same ones, seed by seed, it carries p=1 and tests nothing)."""
    return p is not None and p.get("p") is not None and not p.get("identical")


def adjust_further(res: dict[str, Any]) -> None:
    """Give each of :data:`FURTHER` in ``res`` with a p-value its Holm-adjusted ``p_holm`` over those that have one,
    and their number (``family``), which :func:`_significant` and the texts read."""
    tested = [k for k in FURTHER if tested_further(res.get(k))]
    for k, adjusted in zip(tested, holm_adjust([res[k]["p"] for k in tested])):
        res[k] = {**res[k], "p_holm": adjusted, "family": len(tested)}


#: a class whose test recall is below this share of the best row's accuracy is warned of (accuracy hides it)
RECALL_FLOOR = 0.5


def _class_warnings(res: dict[str, Any]) -> list[str]:
    """One sentence per class the best row gets right far less often than its accuracy says (recall below
    :data:`RECALL_FLOOR` x its accuracy; worst first, at most three named): a rare class that is never predicted
    leaves accuracy high."""
    best, classes = res.get("best") or {}, res.get("classes") or []
    if not best or len(classes) < 2:
        return []
    low = sorted((c for c in classes if c["recall"] < RECALL_FLOOR * best["mean"]), key=lambda c: c["recall"])
    if not low:
        return []
    named = "; ".join(f"{quoted(c['class'])} {c['recall']:.2f} of its {c['sequences']} test sequence"
                      f"{'s' if c['sequences'] != 1 else ''}" for c in low[:3])  # fmt: skip
    more = f" and {len(low) - 3} more" if len(low) > 3 else ""
    return [f"the best row gets some classes right far less often than its accuracy {best['mean']:.4f} says "
            f"(recall {named}{more}): accuracy, and the search's ranking by it, barely see a class that is rare or "
            "hard; weigh these classes yourself before taking the tuned row"]  # fmt: skip


#: with one seed (no test), a tuned row this many test sequences below the baseline is still said in words
ONE_SEED_BELOW = 2


def _below_warning(res: dict[str, Any]) -> str | None:
    """When the tuned row is significantly below the baseline on the test split: the search's choice did worse than
    no regularization (a study without a baseline trial to choose instead; a best that won its folds by chance).
    With ``final_seeds: 1`` there is no test: a row :data:`ONE_SEED_BELOW` or more test sequences below is said
    in words (the unseen-data probe's -0.35 had printed "1 seed: no interval, no p-value" and nothing else)."""
    whole = res.get("paired") or {}
    if whole.get("same") or whole.get("mean", 0.0) >= 0:
        return None
    if whole.get("n") == 1 and not whole.get("diverged"):  # one seed: no test, so the size decides what is said
        size = res.get("test_size") or 0
        below = round(-whole["mean"] * size)  # whole sequences (0.95 - 0.90 is 1.99999... of 40)
        if not size or below < ONE_SEED_BELOW:
            return None
        return (
            f"the tuned row is below the baseline by {-whole['mean']:.4f} ({below} of "
            f"{size} test sequences) on the one seed retrained (final_seeds: 1: no test): one seed cannot say "
            "whether the search's choice is worse or the seed was unlucky; more final_seeds give a paired test"
        )
    if not _significant(whole):
        return None
    return (
        f"the tuned row is below the baseline ({describe_difference(whole)}): the test split disagrees with the "
        "search, whose choice did worse than the baseline (every searched regularizer off, the other searched "
        "settings at their defaults); switching to the baseline because of this would choose by the test split, "
        "so take neither as confirmed: more folds, trials or data decide"
    )


def _unconfirmed_warning(res: dict[str, Any]) -> str | None:
    """When the best row differs from the baseline and the paired test over seeds and test sequences cannot tell
    them apart: the folds chose the best (confirmed there, perhaps), and the lines above said so, but the test
    split did not carry the margin (the unseen5 probe: "confirmed", +0.067 on the fresh folds, +0.017 on the test
    split, p = 0.13, and no warning where every other weak point had one)."""
    whole = res.get("paired") or {}
    if whole.get("same") or whole.get("diverged") or whole.get("p") is None or _significant(whole):
        return None
    return (
        f"the best row is not measurably different from the baseline on the test split ({describe_difference(whole)}):"
        " the folds chose it, but the test split cannot tell it from every searched regularizer off, so what the "
        "search found is not confirmed on new data; more final_seeds, or more data, would say"
    )


def _split_warning(res: dict[str, Any]) -> str | None:
    """When the best's regularizers significantly cost test accuracy against "best, regularizers off"; or when the
    best beats the baseline significantly but its regularizers' own part (best - that row) is not a significant
    gain: what carries the difference, as far as the seeds can tell (the other settings only where their own part
    is significant; else the split is said to be inconclusive)."""
    whole, own, rest = res.get("paired") or {}, res.get("paired_regularizers"), res.get("paired_settings")
    if not own or not rest:
        return None
    if _significant(own) and own["mean"] < 0 and not (_significant(whole) and whole["mean"] > 0):
        return (f"the best row's regularizers cost {own['mean']:+.4f} (p={_p(own)}) against the same settings "
                f"without them ({keeps_text(res['unregularized']['keeps'])}): the search's winner does better on "
                "the test split with its regularizers off")  # fmt: skip
    if not _significant(whole) or whole["mean"] <= 0:
        return None
    if _significant(own) and own["mean"] > 0:
        return None  # the regularizers carry a significant part: nothing to warn of
    head = f"the best row beats the baseline (p={p_text(whole['p'])}), but "
    settings = keeps_text(res["unregularized"]["keeps"])
    parts = f"regularizers {own['mean']:+.4f} (p={_p(own)}), other settings {rest['mean']:+.4f} (p={_p(rest)})"
    if _significant(own):  # a significant loss: the other settings carry more than the whole gain
        return (f"{head}its regularizers cost {own['mean']:+.4f} (p={_p(own)}) against the best with them off: the "
                f"gain is the other settings' the search chose ({settings}), {rest['mean']:+.4f}")  # fmt: skip
    # the other settings' part said to carry the gain only where it is itself significant: read from the two point
    # estimates ("most of the gain is the other settings'" wherever theirs was the larger), the warning named the
    # other settings in 12-15 % of simulated studies whose whole gain was the regularizers' and significant (3-5
    # seeds, 150-370 test sequences; now 3 %), and in about half of those where the two parts were equal (the
    # stats10 probe)
    if _significant(rest) and rest["mean"] > 0:
        return (f"{head}its regularizers' own part is not significant ({parts}), and the other settings' part is: "
                f"the test split shows a gain for the other settings the search chose ({settings}), and none "
                "measurably for its regularizers")  # fmt: skip
    return (f"{head}with {whole['n']} seeds the split between its regularizers and the other settings the search "
            f"chose ({settings}) is inconclusive: {parts}")  # fmt: skip


def _fixed_warning(res: dict[str, Any]) -> str | None:
    """When the best row is significantly below "nothing at all": what the baseline keeps on costs on this data,
    and the search, which never turns it off, cannot find that out. It is either fixed (OSULeaf with ``clip_norm:
    1.0`` fixed: the tuned row, the baseline, refit 3.4 points below the plain LSTM) or searched on a range that
    leaves out off (``mixup: {low: 0.1, high: 0.4}``: the baseline keeps 0.1), and the advice differs (the warning
    told a study to stop fixing the mixup it searched). A verdict cached before the row recorded which were
    searched names them all as fixed, as it did."""
    nothing, diff = res.get("nothing"), res.get("paired_nothing")
    if not nothing or not diff or not (_significant(diff) and diff["mean"] < 0):
        return None
    off = nothing.get("off") or []
    searched = [n for n in off if n in (nothing.get("searched") or [])]
    fixed = [n for n in off if n not in searched]
    why = []
    if fixed or not searched:
        names = ", ".join(fixed or ["its fixed regularizers"])
        why.append(f"what the study fixes ({names}) costs on this data, and the search never tried without it; "
                   "consider searching it (with off: true) instead of fixing it")  # fmt: skip
    if searched:
        names = ", ".join(searched)
        why.append(f"the search never turned off {names}: its searched range leaves out off (the baseline keeps "
                   "the nearest value); add off: true to that range")  # fmt: skip
    everything = ", ".join(off or ["its fixed regularizers"])
    return f"the best row is below nothing at all ({everything} off too) by {diff['mean']:+.4f} (p={_p(diff)}): " + (
        "; ".join(why)
    )


def _averaging_warning(res: dict[str, Any]) -> str | None:
    """When the best row averages its weights (``ema_decay``, ``swa_start``) and the baseline does not: every refit
    averages its weights over its second half (:data:`REFIT_SWA`, the protocol), the baseline's too, so the test
    split compares an average with an average, while the folds that chose it scored the baseline's plain weights.
    On ItalyPowerDemand (5 seeds) ``ema_decay`` 0.99 beat the plain baseline by +0.024 (p = 0.035) and the averaged
    one by +0.0004 (p = 0.7): the verdict cannot show what averaging buys (the stats10 review)."""
    best, base = (res.get("best") or {}).get("config") or {}, (res.get("baseline") or {}).get("config") or {}
    own = [f"{n} {best[n]:g}" for n in ("ema_decay", "swa_start") if best.get(n) and not base.get(n)]
    if not own:
        return None
    return (f"the best row averages its weights ({', '.join(own)}), and so does every refit here (SWA over its second "
            "half: the protocol, the baseline's too), so the test split cannot show what averaging buys over plain "
            "weights; the folds, which scored the baseline's plain weights, are where it was chosen")  # fmt: skip


def _inert_warning(res: dict[str, Any]) -> str | None:
    """When the best row's decoupled decays shrink its weights by next to nothing over its refit
    (:func:`search.inert_decay.inert_note`): the best's table lists them beside the regularizers that act."""
    best = res.get("best") or {}
    note = inert_note(best.get("config"), best.get("epochs"), res.get("train_size"))
    return f"the best row's {note}" if note else None


#: a row whose cross-validated epochs reach this share of its budget peaked at the budget's end
BUDGET_END = 0.95


def _budget_warning(res: dict[str, Any]) -> str | None:
    """:func:`_row_budget_warning` of the best row, and of the baseline's where it is another configuration: a
    baseline cut short by the budget makes the best's margin partly a faster learner's (a BasicMotions study's
    baseline still rose by +0.127 over its last 7 of 30 epochs, unsaid, beside a best with a higher lr; the consist8
    probe)."""
    said = [_row_budget_warning(res, "best")]
    base = res.get("baseline") or {}
    if base.get("config") != (res.get("best") or {}).get("config"):
        said.append(_row_budget_warning(res, "baseline"))
    return "; ".join(w for w in said if w) or None


def _row_budget_warning(res: dict[str, Any], label: str) -> str | None:
    """When the ``label`` row's cross-validated epochs (the smoothed peak of its folds' mean curve) sit at the end of
    its budget and that curve was still rising there (:func:`late_rise` at least :func:`rise_floor`; a verdict
    cached before the rise was recorded warns at the end alone): the search compared it, and the verdict retrained
    it, short of its best (OSULeaf's best trial peaked at epoch 100 of 100; with twice the budget its folds peaked
    at 167, CV 0.959 -> 0.964, test 93.0 -> 93.9, 5 seeds). A curve that flattens at the end also puts its smoothed
    peak there (JapaneseVowels' GRU study: 146 of 149 epochs, +0.002 over its last patience; three times the
    budget left its row where it was): no warning then."""
    row = res.get(label) or {}
    config = row.get("config") or {}
    budget, epochs, rise = config.get("max_epochs"), row.get("epochs"), row.get("rise")
    window = row.get("rise_window", config.get("patience"))  # a verdict cached before the window was recorded
    if not isinstance(budget, int) or not isinstance(epochs, int) or epochs < BUDGET_END * budget:
        return None
    if rise is None:
        how = "its validation score may still have been rising when the folds stopped"
    elif rise < row.get("rise_floor", 0.0):
        return None
    else:
        how = (
            f"its folds' mean validation loss still fell by {rise:.3g}"
            if row.get("rise_metric") == "val_loss"
            else f"its folds' mean validation score still rose by {rise:+.3g}"
        ) + f" over the last {window} epochs (their trend)"
    if label == "baseline":
        return (f"the baseline row's cross-validated epochs ({epochs}) reach its budget (max_epochs {budget}): {how}; "
                "part of the best's margin may be that it learns faster within this budget, and a larger "
                "budget.max_epochs may raise the baseline")  # fmt: skip
    return (f"the best row's cross-validated epochs ({epochs}) reach its budget (max_epochs {budget}): {how}; "
            "a larger budget.max_epochs may score higher (the search compared every trial at this budget)")  # fmt: skip


# --------------------------------------------------------------------------------------------- the verdict
def warnings_of(res: dict[str, Any]) -> list[str]:
    """What a reader of the verdict ``res`` must not miss, one sentence each (the terminal, summary.md and the
    page show the same): rows whose retraining diverged on some seeds (those seeds score 0 in the row's mean, and
    the row is not tested), a significant gain over the baseline that its regularizers do not carry
    (:func:`_split_warning`), a fixed setting that costs (:func:`_fixed_warning`), a best row that peaked at the end
    of its budget (:func:`_budget_warning`), a tuned row significantly below the baseline (:func:`_below_warning`),
    a best row the test split cannot tell from the baseline (:func:`_unconfirmed_warning`), a search whose best
    folds did not beat the majority class, and a best row not (significantly) above it."""
    out = []
    rows = (
        ("best", "best"),
        ("baseline", "baseline"),
        ("nothing", "nothing-at-all"),
        ("unregularized", "best-with-regularizers-off"),
    )
    for key, label in rows:
        row = res.get(key) or {}
        if row.get("diverged"):
            seeds = ", ".join(map(str, row["diverged"]))
            out.append(f"the {label} row's retraining diverged on seed(s) {seeds} of {len(row['accs'])}: each "
                       "scores 0 in its mean, and no paired test is made with the row (a configuration that "
                       "explodes without the search's early stopping)")  # fmt: skip
    out.extend(
        w
        for w in (_split_warning(res), _fixed_warning(res), _budget_warning(res), _below_warning(res),
                  _unconfirmed_warning(res), _averaging_warning(res), _inert_warning(res))
        if w
    )  # fmt: skip
    out.extend(_class_warnings(res))
    top, best = res.get("majority"), res.get("best") or {}
    cv = res.get("search_cv")
    floor = float(top.get("cv", top["share"])) if top else 0.0  # what always answering it scores on the same folds
    if top and cv is not None and cv <= floor + TIE:  # (the pooled share: unequal folds score the majority above it)
        unseen = top.get("unseen") or []
        advice = (
            f"the folds hold no sequence of class {', '.join(quoted(c) for c in unseen)} (too few training "
            "sequences of it to set one aside), so no budget can show one: more training sequences of it would help"
            if unseen else "every channel of the training split holds one value at every valid step, so no budget can "
            "find a signal there: check the data (the warning before the search said so)"
            if top.get("constant") else "a larger budget.max_epochs or more trials may find a signal"
        )  # fmt: skip
        out.append(f"the search's best cross-validated accuracy ({cv:.4f}) is not above what always answering "
                   f"{quoted(top['label'])} scores on the same folds ({floor:.4f}): no trial learned more on the "
                   f"folds than the class balance gives, so the search had nothing to rank its trials by; {advice}")  # fmt: skip
    if top and best and best["mean"] <= top["acc"] + TIE:  # (a mean of 3 seeds at 0.4 is 0.4000000000000001)
        why = ("some of its seeds diverged" if best.get("diverged") else
               "the models learned nothing the class balance does not give")  # fmt: skip
        out.append(f"the best row is not above always answering {quoted(top['label'])} ({best['mean']:.4f} <= "
                   f"{top['acc']:.4f}): {why}")  # fmt: skip
    elif top and best and (vs := res.get("paired_majority")) and (said := _majority_words(vs, top, res)):
        out.append(said)
    return out


def _majority_words(vs: dict[str, Any], top: dict[str, Any], res: dict[str, Any]) -> str | None:
    """The warning on the best row's comparison ``vs`` with always answering the majority class, when that is not
    a significant gain."""
    said = quoted(vs.get("label", top["label"]))  # (a tie: the tied class whose answer scores the most)
    seed_p, diff = vs.get("seed_p") or [], vs.get("seed_diff") or []
    every = bool(seed_p) and all(p < SIGNIFICANCE for p in seed_p) and all(d > 0 for d in diff)
    if vs.get("p") is None:  # one seed (no test over seeds): the one model's own exact test, as the rows keep hits
        if vs.get("diverged") or len(seed_p) != 1 or every:
            return None
        size = res.get("test_size") or 0
        by = (f"by {diff[0]:+d} of {size} test sequences on its one seed (exact McNemar p={p_text(seed_p[0])}; "
              "final_seeds: 1: no test over seeds)")  # fmt: skip
        if diff[0] < 0 and seed_p[0] < SIGNIFICANCE:  # below a tie's strictest class (above the tie's mean), as
            # the seeds' branch below says it: "not significantly" had stood beside p=0.0022
            return (f"the best row is below always answering {said} {by}, significantly: on this test split its "
                    "model scores less than that one answer")  # fmt: skip
        above = "above" if diff[0] > 0 else "not above"
        # pure noise retrained to 0.54 against 0.50 with final_seeds: 1 and no word (the unseen10 probe)
        return (f"the best row is {above} always answering {said} {by}, not significantly: this test split does not "
                "show that its model learned more than the class balance gives")  # fmt: skip
    if _significant(vs) and vs["mean"] > 0:  # (a tie's strictest class can be significantly above it)
        return None
    # above it in the mean only: on pure noise (labels independent of the sequences) the best row scored 0.5933
    # against always "0"'s 0.5800, 3 test sequences, and nothing said the models had learned nothing
    if _significant(vs):  # below a tie's strictest class, significantly: "not significantly" beside p=1e-06
        return (f"the best row is below always answering {said} by {describe_difference(vs)}, "
                "significantly: on this test split its models score less than that one answer")  # fmt: skip
    if every:  # 50 classes, 2 seeds at 18 and 16 of 100 against 2, right on disjoint sequences: "this test
        # split does not show that its models learned more", of two models each far above it (the unseen10 probe)
        return (f"the best row is above always answering {said} by {describe_difference(vs)}, not significantly "
                f"over its {vs['n']} seeds, although each seed's model is above it on this test split (exact "
                f"McNemar p <= {p_text(max(seed_p))}): the seeds' models differ so much that {vs['n']} seeds "
                "leave the configuration's mean uncertain; more final_seeds would say")  # fmt: skip
    above = "above" if vs["mean"] > TIE else "not above"  # (a tie's mean row can be below its strictest class)
    return (f"the best row is {above} always answering {said} by {describe_difference(vs)}, "
            "not significantly: this test split does not show that its models learned more than the "
            "class balance gives")  # fmt: skip


#: equal within float rounding: fold accuracies are stored to 6 digits, and a mean over seeds rounds its last bit
TIE = 1e-6


def majority(splits: Splits, folds: list[np.ndarray] | None = None) -> dict[str, Any]:
    """The floor no model should be read against without: the test accuracy of always answering the training
    split's most frequent class (``label``, its ``share`` of the training split; tied classes: their mean,
    labels joined by " / "). On 95/5 data a classifier
    that learned nothing scores 0.95; the verdict prints this row so that such a number is not taken for skill."""
    tied = _most_frequent(splits)  # a tie (UnitTest: 50/50) has no majority: the tied classes' mean, not
    test = splits.test.y  # whichever comes first (0.5455 for one, 0.4545 for the other)
    names = [splits.classes[int(t)] for t in tied]
    out = {
        "label": " / ".join(names) if len(names) <= 3 else f"{names[0]} / ... / {names[-1]}",
        "share": float(np.mean(splits.train.y == tied[0])),
        "acc": float(np.mean([np.mean(test == t) for t in tied])) if len(test) else 0.0,
    }
    y = splits.train.y
    if folds:  # ``cv``: its mean over the search's folds, the floor its cross-validated accuracy is read against
        out["cv"] = float(np.mean([np.mean([np.mean(y[va] == t) for va in folds]) for t in tied]))
        # ``unseen``: classes no validation part holds (one training sequence, kept in training by a holdout)
        out["unseen"] = [splits.classes[c] for c in unvalidated_classes(y, folds)]
        # ``constant``: every channel holds one value (models.data.constant_note): no budget finds a signal there,
        # where the advice below said "a larger budget.max_epochs or more trials may find a signal" (the unseen8 probe)
        out["constant"] = constant_note(splits) is not None
    return out


def _most_frequent(splits: Splits) -> np.ndarray:
    """The training split's most frequent class codes (several when tied)."""
    counts = np.bincount(splits.train.y, minlength=len(splits.classes))
    return np.flatnonzero(counts == counts.max())


def majority_row(splits: Splits, seeds: int) -> dict[str, Any] | None:
    """Always answering the majority class (:func:`majority`) as a row of ``seeds`` identical seeds, with its hits
    (the test sequences of that class), so that the best row can be paired with it sequence by sequence; None for
    an empty test split. Tied classes (their printed row is the mean over them) are paired with the one whose
    answer scores the most on the test split (``label`` names it), the strictest floor among them: pure noise with
    balanced classes (150 sequences, 75/75) retrained to 0.5333 against 0.5000 and, untested, nothing said that
    was chance (the unseen-data probe)."""
    if not len(splits.test.y):
        return None
    tied = _most_frequent(splits)
    scores = [float(np.mean(splits.test.y == t)) for t in tied]
    pick = int(tied[int(np.argmax(scores))])  # (the first of equals: a balanced test split scores them alike)
    hits = pack_hits(splits.test.y == pick)
    return {"accs": [max(scores)] * seeds, "hits": [hits] * seeds, "label": splits.classes[pick]}


def versus_majority(best: dict[str, Any], floor: dict[str, Any], size: int, step: float) -> dict[str, Any]:
    """The best row against always answering the majority class (:func:`majority_row` ``floor``): :func:`compare`,
    the class answered, and each seed's own test (:func:`seed_by_seed`)."""
    return {**compare(best, floor, size, step), "label": floor["label"], **seed_by_seed(best, floor, size)}


def seed_by_seed(a: dict[str, Any], b: dict[str, Any], size: int) -> dict[str, Any]:
    """Rows ``a`` - ``b`` on each seed alone: ``seed_diff``, the sequences only ``a`` got right less those only ``b``
    did, and ``seed_p``, the exact McNemar test of that seed's model (two-sided binomial over those sequences);
    {} without hits. Valid for the models trained, not for the configuration: :func:`compare` is that."""
    from scipy import stats

    d = hit_difference(a, b, size)
    if d is None:
        return {}
    up, down = (d > 0).sum(axis=1), (d < 0).sum(axis=1)
    return {"seed_diff": [int(u - w) for u, w in zip(up, down)],
            "seed_p": [float(stats.binomtest(int(u), int(u + w)).pvalue) if u + w else 1.0 for u, w in zip(up, down)]}  # fmt: skip


def search_accuracy(study: optuna.Study, metric: str) -> float | None:
    """The search's best cross-validated accuracy: the best trial's under ``val_acc``; under another metric (the
    loss, minimized) the highest any complete trial recorded: its accuracy was never compared with the class
    balance (the verdict probe, 2026-12-06)."""
    trials = [study.best_trial] if metric == "val_acc" else study.get_trials(deepcopy=False, states=_COMPLETE_ONLY)
    accs = [float(a) for t in trials if isinstance(a := t.user_attrs.get("val_acc"), (int, float))]
    return max(accs, default=None)


_COMPLETE_ONLY = (optuna.trial.TrialState.COMPLETE,)


def final_result(study: optuna.Study, spec: StudySpec, seeds: int | None = None) -> dict[str, Any]:
    """Retrain best, baseline and "nothing at all"; evaluate on test; compare pairwise. Cached on the study
    (the majority-class row, which trains nothing, and the paired statistics are computed afresh on each read)."""
    splits = study_splits(spec)
    parts = validation_parts(splits.train.y, folds_of(spec), spec.val_fraction, spec.seed)
    out = {**_final_result(study, spec, seeds), "majority": majority(splits, parts)}
    out["classes"] = class_recall(out["best"], splits)  # what its accuracy may hide
    out["search_cv"] = search_accuracy(study, spec.metric)  # the folds' best: is there a signal?
    out["train_size"] = len(splits.train)  # (the refits' steps: a decay too weak to act is said)
    step, size = resolution(spec), len(splits.test)  # from the rows: a result cached by an earlier
    out["paired"] = compare(out["best"], out["baseline"], size, step)  # version shows today's statistics too
    floor = majority_row(splits, len(out["best"]["accs"]))
    if floor is not None and out["best"].get("hits"):  # is the best row above the class balance, or only its mean?
        out["paired_majority"] = versus_majority(out["best"], floor, size, step)
    if out.get("nothing"):
        out["paired_nothing"] = compare(out["best"], out["nothing"], size, step)
    if out.get("unregularized"):
        out.update(split_difference(out["best"], out["unregularized"], out["baseline"], size, step))
    adjust_further(out)
    return out


RISE_KEYS = ("rise", "rise_window", "rise_floor", "rise_metric")


def _rise_fields(rise: tuple[float, int] | None, spec: StudySpec) -> dict[str, Any]:
    """A row's late rise (:func:`late_rise`) as its fields; none without curves."""
    if rise is None:
        return {}
    return {"rise": rise[0], "rise_window": rise[1], "rise_floor": rise_floor(spec), "rise_metric": spec.metric}


def _with_rise(row: dict[str, Any], rise: tuple[float, int] | None, spec: StudySpec) -> dict[str, Any]:
    """A cached best or baseline row with today's late rise (read afresh, like the selection: a verdict cached before the rise
    was read as the curve's trend kept the smoothed one, now worded as a trend)."""
    return {**{k: v for k, v in row.items() if k not in RISE_KEYS}, **_rise_fields(rise, spec)}


def resolution(spec: StudySpec) -> float:
    """The step of a test accuracy: one test sequence (:func:`paired`'s floor on the differences' spread)."""
    return 1.0 / max(1, len(study_splits(spec).test))


SPLIT_KEYS = ("paired_regularizers", "paired_settings")


def turned_off(config: dict[str, Any], bare: dict[str, Any]) -> list[str]:
    """The "best, regularizers off" row's ``off`` list: the regularizers of ``config`` that ``bare`` sets to the
    baseline's value, not one that never acted in ``config`` (branch_dropout without a front end); one the baseline
    keeps on (a searched range without off, ``dropout: {low: 0.3, high: 0.5}``) with that value, ``dropout (at the
    baseline's 0.3)``: the row said "off: dropout" of a row that trained dropout 0.3 (the verdict probe)."""
    default, inert = default_values(), inert_names(config)
    out = []
    for k in REGULARIZER_NAMES:
        if k == "optimizer" or k not in config or k not in bare or config[k] == bare[k] or k in inert:
            continue
        v = bare[k]
        out.append(k if v == default[k] else f"{k} (at the baseline's {num(v) if isinstance(v, float) else v})")
    return out


def _bare_row(
    study: optuna.Study, spec: StudySpec, digest: str, bare: dict[str, Any], epochs: int, source: str,
    kept: dict[str, Any], config: dict[str, Any], seeds: int, result: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """The "best, regularizers off" row of ``result`` (retrained here) and the split of the difference."""
    diverged: list[int] = []
    hits: list[str] = []
    accs = cached_test_accuracy(study, spec, digest, bare, epochs, seeds, diverged=diverged, hits=hits)
    off = turned_off(config, bare)
    row = {**_summary(accs), "hits": hits, "epochs": epochs, "config": bare, "from": source, "keeps": kept,
           "off": off, **({"diverged": diverged} if diverged else {})}  # fmt: skip
    size = len(study_splits(spec).test)
    return {"unregularized": row, **split_difference(result["best"], row, result["baseline"], size, resolution(spec))}


def _final_result(study: optuna.Study, spec: StudySpec, seeds: int | None) -> dict[str, Any]:
    seeds = seeds or spec.final_seeds
    digest = definition_digest(spec)
    base = baseline_config(spec)
    # first: the selection may compare with its run
    base_epochs, base_from, base_run = cv_epochs_run(study, spec, base, digest)
    chosen = choose(study, spec, run=True)
    best = chosen.chosen
    if same_config(best.user_attrs["config"], base):  # the baseline's configuration: its row's epochs and run,
        config, best_epochs, best_from, best_run = base, base_epochs, base_from, base_run  # whichever was chosen
    else:
        config, best_epochs, best_from = (
            as_complete(best.user_attrs["config"], base),  # a trial stored before a field existed ran its default
            epochs_of(spec, best.user_attrs),
            f"trial #{best.number}",
        )
        best_run = best.user_attrs
    rise = late_rise(spec, {**best_run, "config": config}) if best_run is not None else None  # (rise, epochs)
    base_rise = late_rise(spec, {**base_run, "config": base}) if base_run is not None else None
    nothing, off = nothing_config(base)
    nothing_epochs, nothing_from = cv_epochs(study, spec, nothing, digest) if off else (0, "")
    bare, kept = without_regularizers(config, base)
    # else the row is the baseline's or the best's own network: one that differs from the best only in what never
    # acted in it (branch_dropout of a best without a front end) retrained the best again, "off: branch_dropout"
    split = bool(kept) and not same_config(bare, config)  # (both full: compared once what never acts is at default)
    bare_epochs, bare_from = cv_epochs(study, spec, bare, digest) if split else (0, "")
    key = {
        "definition": digest, "seeds": seeds, "best_trial": best.number, "best_config": config,
        "best_epochs": best_epochs, "best_from": best_from, "baseline_config": base, "baseline_epochs": base_epochs,
        "nothing_config": nothing if off else None, "nothing_epochs": nothing_epochs, "refit_swa": REFIT_SWA,
        "refit_seeds": REFIT_SEEDS,
        **({"own_swa": "from its folds' start epoch", "swa": SWA_PROTOCOL}
           if config.get("swa_start") or base.get("swa_start") else {}),
        **batch_norm_mark(config, base, nothing if off else None, bare if split else None),
        "selection": "the baseline if within one standard error of the best", "epochs": "smoothed peak",
    }  # fmt: skip
    core = json.loads(json.dumps(key))
    if split:  # only then: a verdict cached before this row existed, and without it now, is still read
        key.update(unregularized_config=bare, unregularized_epochs=bare_epochs)
    selection = {  # read afresh: a verdict cached before the confirmation existed reports today's rule
        "chosen": best.number, "top": chosen.top.number, "rule": chosen.rule, "regularizers": chosen.regularizers,
        "confirmation": chosen.confirmation, "tie": chosen.tie,
    }  # fmt: skip
    cached = study.user_attrs.get(FINAL_ATTR)
    if cached and cached.get("key") == json.loads(json.dumps(key)):
        return {**cached, "best": _with_rise(cached["best"], rise, spec),
                "baseline": _with_rise(cached["baseline"], base_rise, spec), "selection": selection}  # fmt: skip
    if cached and {k: v for k, v in cached.get("key", {}).items() if not k.startswith("unregularized_")} == core:
        # the same rows, cached before the "best, regularizers off" row existed: only that row is new
        reused = {k: v for k, v in cached.items() if k not in ("unregularized", *SPLIT_KEYS)}
        reused.update(key=key, selection=selection, best=_with_rise(cached["best"], rise, spec),
                      baseline=_with_rise(cached["baseline"], base_rise, spec))  # fmt: skip
        if split:
            reused.update(_bare_row(study, spec, digest, bare, bare_epochs, bare_from, kept, config, seeds, reused))
        study.set_user_attr(FINAL_ATTR, reused)
        return reused

    runs: dict[tuple[str, int], tuple[list[float], list[int], list[str]]] = {}

    def accs(cfg: dict[str, Any], epochs: int) -> list[float]:
        k = (json.dumps(cfg, sort_keys=True), epochs)  # the best may be the baseline trial itself: train once
        if k not in runs:
            diverged: list[int] = []
            hits: list[str] = []
            runs[k] = (cached_test_accuracy(study, spec, digest, cfg, epochs, seeds, diverged, hits), diverged, hits)
        return runs[k][0]

    def lost(cfg: dict[str, Any], epochs: int) -> dict[str, Any]:
        _, gone, hits = runs[(json.dumps(cfg, sort_keys=True), epochs)]
        return {"hits": hits, **({"diverged": gone} if gone else {})}

    best_accs, base_accs = accs(config, best_epochs), accs(base, base_epochs)
    result: dict[str, Any] = {
        "key": key,
        "definition": digest,
        "best_trial": best.number,
        "seeds": seeds,
        "test_size": len(study_splits(spec).test),
        "best": {
            **_summary(best_accs),
            "epochs": best_epochs,
            "config": config,
            "from": best_from,
            **lost(config, best_epochs),
            **_rise_fields(rise, spec),
        },  # fmt: skip
        "selection": selection,
        "baseline": {
            **_summary(base_accs),
            "epochs": base_epochs,
            "config": base,
            "from": base_from,
            "keeps": keeps(spec, base),
            **lost(base, base_epochs),
            **_rise_fields(base_rise, spec),
        },
        "nothing": None,
        "difference": statistics.fmean(best_accs) - statistics.fmean(base_accs),
    }
    size = result["test_size"]
    result["paired"] = compare(result["best"], result["baseline"], size, resolution(spec))
    if off:
        nothing_accs = accs(nothing, nothing_epochs)
        searched = [name for name in off if name in spec.search]  # at their nearest to off in the baseline
        result["nothing"] = {**_summary(nothing_accs), "epochs": nothing_epochs, "config": nothing,
                             "from": nothing_from, "off": off, "searched": searched,
                             **lost(nothing, nothing_epochs)}  # fmt: skip
        result["paired_nothing"] = compare(result["best"], result["nothing"], size, resolution(spec))
    if split:
        result.update(_bare_row(study, spec, digest, bare, bare_epochs, bare_from, kept, config, seeds, result))
    study.set_user_attr(FINAL_ATTR, result)
    return result
