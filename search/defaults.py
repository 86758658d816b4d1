"""Study defaults that depend on the data: applied to a parsed study once its dataset is loaded.

The rule (README, "Study files"):

(a) **Learning rate.** A study that neither searches nor fixes ``lr`` (nor sets it under ``architecture``)
    searches it on a log range :data:`LR_RANGE` around the default 3e-3: the best regularization strength
    depends on the step size, so tuning one at a fixed other misleads.
(b) **Long sequences.** When the median valid length of the training split is above :data:`LONG_STEPS` and
    the study names none of :data:`CONV_NAMES` (in ``architecture``, ``fixed`` or ``search``), a Conv1D front
    end is searched: ``conv_layers`` 3 (FCN-like blocks) / 1 / 0 (off; not above :data:`RAW_STEPS` steps, where
    the RNN reading every step would make an epoch's time and memory grow with the length), ``conv_stride`` among
    the powers of two
    that leave the RNN :data:`RNN_STEPS` steps of a median-length sequence and at most its upper bound of a
    90th-percentile one (up to three, the smallest first; :func:`conv_strides`), ``conv_kernel`` 8 (FCN's first
    kernel) or 0 (= the stride; home where the smallest stride is above 8: :func:`kernels`), ``conv_channels``
    128 / 64, ``pooling`` max / mean / last when the study does not set it (max at home: mean pooling diluted
    evidence that sits only at the end of a long sequence, last lost evidence at its start, and max kept both: at
    this home point, 1,500 noise steps with a +-2 class signal in the last 10 cross-validated at 0.84 with mean,
    1.00 with last and max, in the first 10 at 0.985 / 0.69 / 1.00; on the shipped sets the folds scored max
    within one validation sequence of mean or above it: the unseen4 probe and this stop, 2026-12-06), and the regularizer ``branch_dropout`` on :data:`BRANCH_RANGE` (dropout on the RNN's side of the skip's
    head only, as LSTM-FCN's 0.8 after the LSTM; off at home; 0.8 a recipe: at the home point, 200 epochs, test
    accuracy OSULeaf 0.876 -> 0.942 (2 seeds), ArrowHead 0.760 -> 0.829 (3 seeds); and the range's top, 0.9, a
    recipe too: 100 epochs, OSULeaf 0.960 against 0.8's 0.931, ArrowHead 0.819 / 0.839, ACSF1 0.857 / 0.897, the
    folds ranking them the same way each time), with ``conv_norm: batch``
    fixed (masked BatchNorm: on OSULeaf, 4 seeds, test accuracy 0.604 against 0.553 without it for one stride-8
    block) and ``conv_skip`` fixed on (the head also reads the front end's average, as LSTM-FCN does: at the home
    point below, 3 seeds, test accuracy ArrowHead 0.796 against 0.714, OSULeaf 0.839 against 0.799; searched
    on / off until 2026-12-03, where the folds' winners without it lost on the test split: README, "Study
    files"). Measured before choosing (one seed, 80 epochs, LSTM 64, lr 1e-3, test accuracy): OSULeaf one
    stride-8 block 0.645, three blocks stride 4 kernel 8 128 channels mean pooling 0.826 (last pooling 0.707,
    stride 2 0.802); ArrowHead 0.560 vs 0.646; BasicMotions (100 steps) 0.975 vs 1.000,
    where the tuned LSTM without a front end reached 0.808: hence the threshold of 64 steps, not 200.
(c) **Folds.** ``cv_folds`` is never set here: a study that leaves it out keeps ``None`` and
    :func:`search.folds.default_folds` chooses from the training size; the choice is recorded.
(d) **Batch size.** A study that does not set ``batch_size`` gets the largest power of two up to the default 32
    that leaves a fold's training part at least :data:`MIN_STEPS` optimizer steps per epoch (never below
    :data:`MIN_BATCH`): a budget of ``max_epochs`` epochs is then a budget of at least ``6 * max_epochs`` steps.
    With 32 a batch, the 29 training sequences of an ArrowHead fold made one step an epoch, and every trial of a
    30-epoch study stopped after 30 steps. JapaneseVowels (216 a fold: 6.75 steps) keeps 32.

(e) **Epochs and patience in optimizer steps.** A study whose ``budget`` does not set ``max_epochs`` gets enough
    epochs for :data:`FIT_STEPS` optimizer steps on a fold's training part (at least :data:`EPOCHS_LOW`, at most
    :data:`EPOCHS_HIGH`); one that does not set ``patience`` gets early stopping after :data:`PATIENCE_STEPS` steps
    without a better validation score (at least :data:`PATIENCE_LOW` epochs). An explicit value is kept, and a
    study keeps the values it was created with when these rules change (:mod:`search.created_defaults`). A fixed
    epoch count is a different amount of training on different data: 30 epochs are 200 steps on JapaneseVowels
    but 110 on ArrowHead (29 sequences a fold, batch 8), where patience 8 stopped every fold within 9-30 epochs
    (the best epochs 0, 4, 5, 13, 27) and the baseline retrained for the mean (11 epochs) scored 0.57 test
    accuracy (3 seeds); retrained for 60 and 120 epochs the same configuration scored 0.63 and 0.65. On GunPoint
    every fold's best epoch was 24-29 of 30 (with 150 epochs: 24-54). FCN, the published reference, trains 2,000
    epochs.
(f) **Scales that differ by orders of magnitude.** When the training sequences' own scales span more than
    :data:`SCALE_SPREAD` (:func:`scale_spread`: the 90th over the 10th percentile of each sequence's standard
    deviation, the largest over channels) and the study does not name ``normalize``, ``normalize`` is searched,
    ``series`` (each sequence z-normalized on its own) at home, ``channel`` the other choice. Standardized per
    channel, such data leave most sequences flat: PLAID's appliance currents (spread 125,000: amplitudes from 0.01
    to 460) cross-validated at 0.35 and held out at 0.34 (one holdout, 30 epochs, stride 16), 0.85 z-normalized per
    sequence. The UCR univariate sets shipped here are z-normalized already (spread 1.0); JapaneseVowels 4.3,
    BasicMotions 56 (its amplitudes tell standing from running): those stay per channel.

Everything added is recorded in ``spec.defaulted`` (name -> reason) for the summary and the report.
The function is pure and deterministic (same study + same data -> same space), so every worker of a study
builds the same search space; applying it twice changes nothing.

The Conv1D front end is *architecture*, not a regularizer: the baseline and recipe trials of a long study run
with it **on** at :func:`home_point` (three blocks, the smallest stride, kernel 8 or the stride where that is
larger, 128 channels, the skip on, max pooling (mean until 2026-12-06), lr 3e-3),
and the verdict's "best, regularizers off" row keeps the best trial's front end (only regularizers are switched off).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from models.config import ARCHITECTURE_NAMES, TrainConfig
from models.data import Splits
from search.spec import Choice, Range, StudySpec

#: a dataset is long when its median valid training length is above this many steps
LONG_STEPS = 64
#: the searched lr range when the study says nothing about lr (log; the default 3e-3 sits inside)
LR_RANGE = Range(3e-4, 1e-2, log=True)
#: the front end's strides leave the RNN between these many steps (median length / stride)
RNN_STEPS = (25, 200)
#: the default front end is also searched off (``conv_layers`` 0: the RNN reads every step) only up to this
#: 90th-percentile length: without it an epoch's time and memory grow with the length (bench.long_sequences, 64
#: sequences, LSTM 64: 0.99 s and 622 MB an epoch at 4,000 steps on the fused path; the per-sequence loop path
#: about 70 KB a step of a batch of 8: 1.8 GB at 20,000 steps, 4.3 GB at 60,000), where with it they stay flat
RAW_STEPS = 4000
#: ``branch_dropout`` searched with the default front end: up to LSTM-FCN's 0.8 and a little past it
BRANCH_RANGE = Range(0.0, 0.9)
#: a small training set gets a smaller batch (when the study does not set one) so that an epoch is at least this
#: many optimizer steps: with 32 sequences a batch, ArrowHead's 29-sequence fold trained 1 step an epoch, 30 in a
#: whole trial (see the module doc, (d))
MIN_STEPS = 6
MIN_BATCH = 8  # smaller batches make BatchNorm statistics and the gradient too noisy
#: (e) when the study does not set them: budget.max_epochs gives a fold's fit this many optimizer steps (3x as many
#: changed no refit's test accuracy by more than 0.4 at five datasets' baselines and two OSULeaf winners: the
#: patience ends the folds first; README, "Study files", (e)) ...
FIT_STEPS = 1000
EPOCHS_LOW, EPOCHS_HIGH = 30, 300  # ... in this many epochs at least / at most
#: ... and ``patience`` stops a fit after this many optimizer steps without a better score (at least PATIENCE_LOW
#: epochs: the shipped studies' 8). 100 stopped OSULeaf's folds after ~20 epochs, on a plateau of the validation
#: score before it rose again: at the home point of studies/lstm-long.yaml (5-fold CV, then the refit for the
#: epochs CV chose, 3 seeds, test %) 100 / 250 / 400 steps gave 77.7 / 89.7 / 89.9 (CV 0.904 / 0.919 / 0.934);
#: ArrowHead (studies/lstm.yaml) 76.4 / 80.0 / 78.5; JapaneseVowels 96.8 / 96.7 / 96.4; the CV took 1.2-1.7x longer
PATIENCE_STEPS = 250
PATIENCE_LOW = 8
#: (f) a spread of per-sequence scales above this (three orders of magnitude) searches ``normalize``, series at home
SCALE_SPREAD = 1000.0
#: a study naming any of these chooses its own front end; the long-sequence default then stays out
CONV_NAMES = tuple(name for name in ARCHITECTURE_NAMES if name.startswith("conv_"))


def apply_defaults(spec: StudySpec, splits: Splits) -> StudySpec:
    """A copy of ``spec`` with the data-dependent defaults added to its search space (see the module doc)."""
    out = dataclasses.replace(spec, search=dict(spec.search), defaulted=dict(spec.defaulted))
    named = set(spec.architecture) | set(spec.fixed) | set(spec.search)
    if "lr" not in named:
        out.search["lr"] = dataclasses.replace(LR_RANGE)
        out.defaulted["lr"] = (
            f"searched by default ({LR_RANGE.low:g}..{LR_RANGE.high:g}, log): the study neither searches nor fixes it"
        )
    median = median_length(splits)
    if median > LONG_STEPS and not named & set(CONV_NAMES):
        strides = conv_strides(median, long_length(splits))
        reason = f"Conv1D front end searched by default: median length {median:g} > {LONG_STEPS} steps"
        dims: dict[str, Choice] = {  # each list starts with its home value: the baseline trial runs the first choice
            "conv_layers": Choice([3, 1, 0] if long_length(splits) <= RAW_STEPS else [3, 1]),
            "conv_stride": Choice(strides),
            "conv_kernel": Choice(kernels(strides[0])),
            "conv_channels": Choice([128, 64]),
        }
        if "pooling" not in named:
            dims["pooling"] = Choice(["max", "mean", "last"])  # max at home: see the module doc
        for name, dim in dims.items():
            out.search[name] = dim
            out.defaulted[name] = reason
        if "branch_dropout" not in named:  # a regularizer of the skip's head: off in the baseline, 0.8, 0.9 recipes
            out.search["branch_dropout"] = dataclasses.replace(BRANCH_RANGE)
            out.defaulted["branch_dropout"] = (
                f"searched with the default front end ({BRANCH_RANGE.low:g}..{BRANCH_RANGE.high:g}): {reason}"
            )
        out.fixed = {**spec.fixed, "conv_norm": "batch", "conv_skip": True}  # the skip: see the module doc
        out.defaulted["conv_norm"] = f"batch (fixed with the default front end): median length {median:g}"
        out.defaulted["conv_skip"] = f"on (fixed with the default front end): median length {median:g}"
    spread = scale_spread(splits)
    if spread > SCALE_SPREAD and "normalize" not in named:
        out.search["normalize"] = Choice(["series", "channel"])
        out.defaulted["normalize"] = (
            f"searched by default (series at home): the sequences' scales span {spread:,.0f}x (> {SCALE_SPREAD:,.0f}x: "
            "90th / 10th percentile of their standard deviations)"
        )
    if "batch_size" in out.search:  # the baseline's batch where it is searched: the one chosen below where it is not
        out.homes = {**out.homes, "batch_size": batch_size_for(spec, splits)[0]}
    if "batch_size" not in named:
        size, steps = batch_size_for(spec, splits)
        if size != TrainConfig.batch_size:
            out.fixed = {**out.fixed, "batch_size": size}
        out.defaulted["batch_size"] = (
            f"{size} by default: {steps:.1f} optimizer steps per epoch on a fold's training part "
            f"(at least {MIN_STEPS} when the data allow; at most {TrainConfig.batch_size}, at least {MIN_BATCH})"
        )
    if not spec.epochs_given or "patience" not in named:
        batch, which = out.fixed.get("batch_size", spec.architecture.get("batch_size", TrainConfig.batch_size)), ""
        if "batch_size" in out.search:  # the baseline's: a searched [8, 16] ran at 8, with a patience made for 32
            batch = baseline_batch(out)
            which = f" (at batch {batch}, the baseline's: batch_size is searched)"
        steps = fold_size(spec, splits) / batch
        if not spec.epochs_given:
            out.max_epochs = epochs_for(steps)
            out.defaulted["max_epochs"] = (
                f"{out.max_epochs} by default: {steps:.1f} optimizer steps per epoch on a fold's training part{which}, "
                f"{FIT_STEPS} steps wanted ({EPOCHS_LOW}..{EPOCHS_HIGH} epochs)"
            )
        if "patience" not in named:
            out.fixed = {**out.fixed, "patience": patience_for(steps)}
            out.defaulted["patience"] = (
                f"{out.fixed['patience']} epochs by default: {PATIENCE_STEPS} optimizer steps at {steps:.1f} an epoch"
                f"{which} (at least {PATIENCE_LOW})"
            )
    if spec.cv_folds is None and "cv_folds" not in out.defaulted:
        from search.folds import data_folds, default_folds, rarest_class

        n, folds = len(splits.train), data_folds(splits)
        why = f"the {n} training sequences"
        if folds != default_folds(n):
            why += f"; the rarest class has {rarest_class(splits)}"
        out.defaulted["cv_folds"] = f"{folds} (chosen from {why})"
    return out


def baseline_batch(spec: StudySpec) -> int:
    """The batch size of the baseline trial where ``batch_size`` is searched (:func:`search.recipes.baseline_point`)."""
    from search.recipes import baseline_point

    return int(baseline_point(spec)["batch_size"])


def batch_sizes(spec: StudySpec) -> list[int]:
    """The batch sizes the study's trials may run, smallest first: the searched choices (or the range's ends) where
    ``batch_size`` is searched, else the one the study file, the data-dependent default or TrainConfig sets."""
    dim = spec.search.get("batch_size")
    if dim is None:
        return [int(spec.fixed.get("batch_size", spec.architecture.get("batch_size", TrainConfig.batch_size)))]
    return sorted({int(v) for v in (dim.choices if isinstance(dim, Choice) else (dim.low, dim.high))})


def budget(spec: StudySpec, folds: int, n_train: int, trials: int) -> str:
    """The epochs ``trials`` trials may train at most, and their batches (at the smallest batch size where
    ``batch_size`` is searched: it said "batches of 32", the default, of a search over 8 / 64): a user bringing
    3,601 sequences of 500 steps learned only from the clock that the default 40 trials meant hours (the scale
    probe, 2026-12-06)."""
    sizes = batch_sizes(spec)
    per_fold = n_train - n_train // folds if folds > 1 else n_train - round(n_train * spec.val_fraction)
    batches = -(-max(per_fold, 1) // sizes[0])
    epochs = trials * folds * spec.max_epochs

    def n(count: int, word: str) -> str:
        return f"{count:,} {word}{'' if count == 1 else 'es' if word == 'batch' else 's'}"

    of = f"{n(batches, 'batch')} of {sizes[0]}"
    if len(sizes) > 1:
        of = f"up to {of} (batch_size searched: {' / '.join(map(str, sizes))})"
    return (f"at most {n(trials, 'trial')} x {n(folds, 'fold')} x {n(spec.max_epochs, 'epoch')} = {n(epochs, 'epoch')} "
            f"of {of}; early stopping and pruning end most trials sooner")  # fmt: skip


def fold_size(spec: StudySpec, splits: Splits) -> float:
    """Training sequences in a fold's training part (the study's folds, or its holdout's training share)."""
    from search.folds import data_folds

    folds = spec.cv_folds if spec.cv_folds is not None else data_folds(splits)
    return len(splits.train) * ((1 - 1 / folds) if folds > 1 else (1 - spec.val_fraction))


def epochs_for(steps_per_epoch: float) -> int:
    """``max_epochs`` for :data:`FIT_STEPS` optimizer steps, within :data:`EPOCHS_LOW`..:data:`EPOCHS_HIGH`."""
    return int(min(max(math.ceil(FIT_STEPS / steps_per_epoch), EPOCHS_LOW), EPOCHS_HIGH))


def patience_for(steps_per_epoch: float) -> int:
    """``patience`` (epochs) for :data:`PATIENCE_STEPS` optimizer steps, at least :data:`PATIENCE_LOW`."""
    return max(math.ceil(PATIENCE_STEPS / steps_per_epoch), PATIENCE_LOW)


def batch_size_for(spec: StudySpec, splits: Splits) -> tuple[int, float]:
    """The largest power of two up to the default batch size that gives a fold's training part at least
    :data:`MIN_STEPS` optimizer steps per epoch (never below :data:`MIN_BATCH`), and those steps per epoch."""
    n_fit = fold_size(spec, splits)
    size = TrainConfig.batch_size
    while size > MIN_BATCH and n_fit / size < MIN_STEPS:
        size //= 2
    return size, n_fit / size


def median_length(splits: Splits) -> float:
    """Median valid length of the training split's sequences."""
    return float(np.median(splits.train.lengths))


def scale_spread(splits: Splits) -> float:
    """How far the training sequences' own scales spread: per channel, the 90th over the 10th percentile of each
    sequence's standard deviation over its valid steps; the largest over channels (1.0 for z-normalized data).
    Sequences constant in a channel (an indicator that stays off) are left out of that channel's percentiles:
    constant relative to their own mean (:data:`models.data.CONSTANT`), as the standardization reads a constant,
    so that the same data in other units spread alike (an absolute floor of 1e-12 left out every sequence of data
    in picofarads written in farads, and their five decades of scales read as 1.0: the unseen12 probe)."""
    from models.data import series_moments, varies

    mean, std = series_moments(splits.train)  # (N, C), chunked: a large dataset's check stays small in memory
    worst = 1.0
    for c in range(std.shape[1]):
        moving = std[:, c][varies(mean[:, c], std[:, c])]
        if len(moving) >= 2:
            low, high = np.percentile(moving, [10, 90])
            worst = max(worst, float(high / low))
    return worst


def long_length(splits: Splits) -> float:
    """The 90th percentile of the training split's valid lengths: what the long sequences of a batch pad it to."""
    return float(np.percentile(splits.train.lengths, 90))


def conv_strides(median: float, long: float | None = None) -> list[int]:
    """Up to three powers of two, smallest first, whose strides leave the RNN ``RNN_STEPS`` steps of a
    median-length sequence, and at most the upper bound of the ``long`` one (the 90th percentile length): with
    unequal lengths a batch runs as long as its longest sequence. PLAID (median 300, 90th percentile 500, up to
    1,344) got 2 / 4 / 8 by the median alone, and at stride 2 a 5-fold trial took about 20 minutes on one core;
    one holdout at 30 epochs, z-normalized per sequence: stride 2 0.861 in 205 s, 4 0.879 in 55 s, 8 0.870, 16
    0.861. Equal lengths (the 90th percentile is the median) get what the median alone gives."""
    low, high = RNN_STEPS
    long = median if long is None else long
    fits = [2**k for k in range(1, 16) if low <= median / 2**k and long / 2**k <= high]
    if not fits:  # the lengths spread too far for both bounds: the median decides, as for equal lengths
        fits = [2**k for k in range(1, 16) if low <= median / 2**k <= high]
    if not fits:  # cannot happen for median > 2 * low; kept total for odd inputs
        fits = [2]
    return fits[:3]


def long_tail_note(spec: StudySpec, splits: Splits) -> str | None:
    """A warning when the RNN will read every step of sequences longer than :data:`RAW_STEPS`: no front end in the
    study (none named, and the median too short for the default's) while a tenth of the training sequences are that
    long. Batches pad to their longest sequence, so such a study runs at the long length: data of median 30 steps
    whose 90th percentile is 20,000 took 12 s an epoch (21 s and 2.96 GB with per-sequence recurrent dropout) where
    8,000-step data with the default front end took 0.15 s (the unseen-data probe). Not chosen for the study: a
    front end sized for 20,000 steps would leave the median sequence one step."""
    if (set(spec.architecture) | set(spec.fixed) | set(spec.search)) & set(CONV_NAMES) and _front_end_in_some_trial(
        spec
    ):
        return None  # (conv_layers: 0 written on 6,000-step data named a conv field and went unwarned: unseen11)
    long, lengths = long_length(splits), splits.train.lengths
    advice = ("consider a front end in the study file (fixed: {conv_layers: 1, conv_stride: 16}, README, 'Study "
              "files') or shorter sequences")  # fmt: skip
    written = next((f"{section}.conv_layers" for section, values in (("architecture", spec.architecture),
                    ("fixed", spec.fixed)) if "conv_layers" in values), None)  # fmt: skip
    if written is not None:  # (adding it under fixed beside it is refused as a name given twice)
        advice = (f"consider a front end: {written}: 1 where the study file writes 0, with conv_stride: 16 (README, "
                  "'Study files'), or shorter sequences")  # fmt: skip
    if long > RAW_STEPS:
        return (
            f"warning: {splits.name}: a tenth of the training sequences are {long:,.0f} steps or longer (median "
            f"{median_length(splits):,.0f}), and the RNN reads every step: batches pad to their longest sequence, so "
            "epochs take time and memory for that length (about 70 KB a step of a batch of 8 with per-sequence "
            f"recurrent dropout); {advice}"
        )
    if int(lengths.max()) <= RAW_STEPS:
        return None
    # fewer than a tenth that long still pad every batch that draws one: 6 of 60 sequences of 8,000 steps among
    # 30-step ones ran a 48-sequence fold at minutes an epoch, unwarned (the unseen-data probe)
    many = int((lengths > RAW_STEPS).sum())
    batch = batch_sizes(spec)[0]
    share = None if "batch_size" in spec.search else 1 - (1 - many / len(lengths)) ** batch
    batches = (
        f"about {share:.0%} of the batches of {batch} run" if share is not None else "every batch that draws one runs"
    )
    return (
        f"warning: {splits.name}: {many} of the {len(lengths)} training sequences {'is' if many == 1 else 'are'} "
        f"longer than {RAW_STEPS:,} steps "
        f"(up to {int(lengths.max()):,}; median {median_length(splits):,.0f}), and the RNN reads every step: a batch "
        f"pads to its longest sequence, so {batches} at up to that length, in time and memory (about 70 KB a "
        f"step of a batch of 8 with per-sequence recurrent dropout); {advice}"
    )


def _front_end_in_some_trial(spec: StudySpec) -> bool:
    """Whether some trial of ``spec`` builds a Conv1D front end (the network's own rule, as the study file's check of
    front-end fields reads it): ``conv_layers: 0`` written in the study names a front-end field and builds none."""
    from models.config import RNNConfig
    from search.spec import values_of

    layers, strides = values_of(spec, "conv_layers"), values_of(spec, "conv_stride")
    return any(RNNConfig(conv_layers=int(n), conv_stride=int(s)).conv_blocks > 0 for n in layers for s in strides)


def kernels(stride: int) -> list[int]:
    """``conv_kernel``'s default choices, home first: 8 (FCN's first kernel) where the smallest stride is at most 8,
    else 0 (= the stride) first. A first block of kernel 8 at stride 64 reads 8 of every 64 steps: on 8,000-step
    data whose class shows as short spikes, the home point (baseline and recipes) scored 0.61 test accuracy where
    kernel = stride scored 0.95 (the unseen-data probe, 2026-12-05); strides above 8 come with medians above
    1,600 steps, so OSULeaf, ArrowHead, ACSF1 and PLAID keep 8 at home."""
    return [8, 0] if stride <= 8 else [0, 8]


def home_point(spec: StudySpec) -> dict[str, Any]:
    """Values of the defaulted searched names that the baseline and recipe trials start from (name -> value):
    lr at its default; the front end on: three blocks, the smallest stride, kernel 8 (the stride above 8), 128
    channels. Each defaulted
    choice list starts with its home value, which is what :func:`search.recipes.baseline_point` picks for a
    searched name whose default is not among its choices."""
    home: dict[str, Any] = {}
    for name in spec.defaulted:
        dim = spec.search.get(name)
        if isinstance(dim, Choice):
            home[name] = dim.choices[0]
        elif dim is not None and name == "lr":
            home[name] = TrainConfig.lr
    return home
