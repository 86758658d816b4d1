"""search.defaults: lr searched when the study is silent about it, a Conv1D front end searched for long
sequences, folds left to the size rule, everything recorded in ``spec.defaulted``; a real tiny study runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import yaml

from models.data import load_splits
from search.defaults import (
    BRANCH_RANGE,
    CONV_NAMES,
    EPOCHS_HIGH,
    EPOCHS_LOW,
    FIT_STEPS,
    LONG_STEPS,
    LR_RANGE,
    MIN_BATCH,
    MIN_STEPS,
    PATIENCE_LOW,
    PATIENCE_STEPS,
    SCALE_SPREAD,
    apply_defaults,
    batch_size_for,
    conv_strides,
    epochs_for,
    home_point,
    median_length,
    patience_for,
    scale_spread,
)
from search.folds import default_folds
from search.preflight import PreflightError, prepare
from search.recipes import BASELINE, RECIPES, starting_points
from search.space import resolved_params
from search.spec import DEFAULT_SEARCHED, Choice, Range, StudyFileError, parse_study
from search.storage import open_storage
from search.worker import ensure_study, run_worker
from tests.helpers import long_tail_npz, run_cli

SHORT = "synthetic:n=40,length=30,channels=1"  # median length ~23
LONG = "synthetic:n=40,length=600,channels=1"  # median length ~450
BASE: dict[str, Any] = {
    "name": "d",
    "architecture": {"cell": "gru", "hidden_size": 8},
    "budget": {"trials": 2, "max_epochs": 1},
    "search": {"dropout": {"low": 0.0, "high": 0.3}},
}
CONV_ADDED = {"conv_layers", "conv_stride", "conv_kernel", "conv_channels", "branch_dropout"}

#: (id, dataset, study changes, names that must be added to the search, names that must not)
CASES = [
    ("short, silent about lr", SHORT, {}, {"lr"}, CONV_ADDED),
    ("short, lr fixed", SHORT, {"fixed": {"lr": 0.01}}, set(), CONV_ADDED | {"lr"}),
    ("short, lr searched", SHORT, {"search": {"lr": [0.01, 0.001]}}, set(), CONV_ADDED),
    ("long, silent", LONG, {}, CONV_ADDED | {"lr", "pooling"}, set()),
    ("long, lr fixed", LONG, {"fixed": {"lr": 0.01}}, CONV_ADDED | {"pooling"}, {"lr"}),
    ("long, pooling set", LONG, {"architecture": {"cell": "gru", "pooling": "last"}}, CONV_ADDED | {"lr"}, {"pooling"}),
    ("long, conv_stride fixed", LONG, {"fixed": {"conv_stride": 8}}, {"lr"}, CONV_ADDED),
    ("long, conv_layers in architecture", LONG, {"architecture": {"conv_layers": 0}}, {"lr"}, CONV_ADDED),
    ("long, conv_channels searched", LONG, {"search": {"conv_channels": [16, 32]}, "fixed": {"conv_stride": 8}}, {"lr"},
     CONV_ADDED - {"conv_channels"}),  # alone it is an error: no front end in any trial (test_search.BAD)
]  # fmt: skip


def spec_of(tmp_path: Path, dataset: str, **changes: Any):  # type: ignore[no-untyped-def]
    return parse_study({**BASE, "dataset": dataset, **changes}, tmp_path / "d.yaml")


@pytest.mark.parametrize(("dataset", "changes", "added", "absent"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_rule(tmp_path: Path, dataset: str, changes: dict, added: set, absent: set) -> None:
    spec = spec_of(tmp_path, dataset, **changes)
    out = apply_defaults(spec, load_splits(dataset))
    new = set(out.search) - set(spec.search)
    assert new == added
    assert new <= DEFAULT_SEARCHED  # what a starting point may set before the defaults are applied (search.spec)
    assert not (new & absent)
    fixed = {"cv_folds", "conv_norm", "conv_skip", "batch_size", "patience"}
    assert set(out.defaulted) - fixed == added  # the rest are fixed, not searched
    for name in added:
        assert "default" in out.defaulted[name]
    for name, dim in spec.search.items():  # what the study says is kept as it is
        assert out.search[name] == dim
    assert out.fixed.get("conv_norm") == ("batch" if "conv_stride" in added else spec.fixed.get("conv_norm"))
    assert out.fixed.get("conv_skip") == (True if "conv_stride" in added else spec.fixed.get("conv_skip"))
    assert spec.defaulted == {} and set(spec.search) == set(spec.search)  # the input spec is not modified


def test_lr_range_is_log_around_the_default(tmp_path: Path) -> None:
    out = apply_defaults(spec_of(tmp_path, SHORT), load_splits(SHORT))
    dim = out.search["lr"]
    assert isinstance(dim, Range) and dim.log and (dim.low, dim.high) == (LR_RANGE.low, LR_RANGE.high)
    assert dim.low < 3e-3 < dim.high
    assert "searched by default" in out.defaulted["lr"]


@pytest.mark.parametrize(
    ("median", "strides"), [(201, [2, 4, 8]), (427, [4, 8, 16]), (1000, [8, 16, 32]), (4000, [32, 64, 128])]
)
def test_strides_leave_the_rnn_a_bounded_number_of_steps(median: float, strides: list[int]) -> None:
    assert conv_strides(median) == strides
    assert all(25 <= median / s <= 200 for s in strides)


@pytest.mark.parametrize(
    ("median", "long", "strides"),
    [
        (300, 500, [4, 8]),  # PLAID: by the median alone 2 / 4 / 8, and a batch ran 672 RNN steps at stride 2
        (427, 427, [4, 8, 16]),  # equal lengths: as the median alone
        (100, 5000, [2, 4]),  # no stride meets both bounds: the median decides
    ],
)
def test_unequal_lengths_bound_the_rnn_steps_of_the_long_sequences_too(
    median: float, long: float, strides: list[int]
) -> None:
    assert conv_strides(median, long) == strides


def test_plaid_gets_its_strides_from_its_long_sequences(tmp_path: Path) -> None:
    out = apply_defaults(spec_of(tmp_path, "PLAID"), load_splits("PLAID"))  # median 300, 90th percentile 500
    assert out.search["conv_stride"] == Choice([4, 8])


def test_the_long_rule_on_a_real_dataset(tmp_path: Path) -> None:
    splits = load_splits("OSULeaf")  # 427 steps, 200 training sequences
    out = apply_defaults(spec_of(tmp_path, "OSULeaf"), splits)
    assert out.search["conv_stride"] == Choice([4, 8, 16])  # the home (smallest) stride first
    assert out.search["conv_layers"] == Choice([3, 1, 0])  # 0 keeps "no front end" in the space
    assert out.search["conv_kernel"] == Choice([8, 0])
    assert out.search["conv_channels"] == Choice([128, 64])
    assert "conv_skip" not in out.search and out.fixed["conv_skip"] is True  # LSTM-FCN's head, in every trial
    assert out.search["pooling"] == Choice(["max", "mean", "last"])  # the study does not set pooling: max at home
    assert f"> {LONG_STEPS}" in out.defaulted["conv_stride"]
    assert out.defaulted["cv_folds"].startswith(f"{default_folds(len(splits.train))} ")
    assert out.cv_folds is None  # the size rule chooses at run time


@pytest.mark.parametrize(("length", "layers"), [(4000, [3, 1, 0]), (4001, [3, 1]), (20000, [3, 1])])
def test_very_long_sequences_keep_the_front_end_on(tmp_path: Path, length: int, layers: list[int]) -> None:
    """With ``conv_layers`` 0 in the space a trial's RNN read all 20,000 steps (1.8 GB, the per-sequence loop path
    of a batch of 8; 4.3 GB at 60,000): above RAW_STEPS the default front end is searched on only."""
    from models.data import SequenceSet, Splits

    def split(n: int) -> SequenceSet:
        return SequenceSet(np.zeros((n, 2, 1), np.float32), np.full(n, length), np.arange(n) % 2)

    splits = Splits(split(40), split(10), ["a", "b"], "long")
    out = apply_defaults(spec_of(tmp_path, SHORT), splits)
    assert out.search["conv_layers"] == Choice(layers)


@pytest.mark.parametrize(("length", "stride", "kernel"), [(1600, 8, 8), (1700, 16, 16), (8000, 64, 64)])
def test_the_home_kernel_reads_every_step(tmp_path: Path, length: int, stride: int, kernel: int) -> None:
    """Kernel 8 at stride 64 (the home point of 8,000-step data) read 8 of every 64 steps: 0.61 test accuracy on
    spike data against 0.95 with kernel = stride (the unseen-data probe). The home kernel is 8 up to stride 8 and
    0 (= the stride) above; the first block then covers every step of the input."""
    from models.data import SequenceSet, Splits
    from models.network import ConvFrontEnd

    def split(n: int) -> SequenceSet:
        return SequenceSet(np.zeros((n, 2, 1), np.float32), np.full(n, length), np.arange(n) % 2)

    out = apply_defaults(spec_of(tmp_path, SHORT), Splits(split(40), split(10), ["a", "b"], "long"))
    home = home_point(out)
    assert home["conv_stride"] == stride and set(out.search["conv_kernel"].choices) == {8, 0}  # type: ignore[union-attr]
    front = ConvFrontEnd(1, 4, home["conv_stride"], home["conv_kernel"])
    assert front.kernel == kernel >= front.stride  # windows side by side or overlapping: no step unread


@pytest.mark.slow  # two command-line runs
def test_a_long_tail_the_rnn_reads_whole_is_warned_of(tmp_path: Path) -> None:
    """Median 30 steps, a tenth of the sequences 6,000: no default front end (the median decides it), and batches pad
    to their longest sequence, so the RNN read 20,000-step batches at 12-21 s an epoch and 2.96 GB (the unseen-data
    probe). `validate` (and `study`) say so and what to write; a study that names a front end hears nothing."""
    long_tail_npz(tmp_path / "tail.npz", n=40, long=6000, test=10)
    for fixed, warned in (({}, True), ({"conv_layers": 1, "conv_stride": 16}, False)):
        path = tmp_path / "tail.yaml"
        path.write_text(yaml.safe_dump({**BASE, "dataset": "tail.npz", "fixed": fixed}))
        out = run_cli("validate", str(path))
        assert out.returncode == 0, out.stderr
        said = [line for line in out.stderr.splitlines() if "the RNN reads every step" in line]
        assert bool(said) == warned, out.stderr
        if warned:
            assert said[0].startswith("warning: tail: a tenth of the training sequences are 6,000 steps or longer")
            assert "conv_stride" in said[0]


#: (id, training sequences, of them longer than 4,000 steps, their length, study changes, the warning's start or None)
TAIL_CASES = [
    ("none long", 60, 0, 30, {}, None),
    ("a tenth, the 90th percentile short", 60, 6, 8000, {},
     "warning: tail: 6 of the 60 training sequences are longer than 4,000 steps (up to 8,000; median 30), and the RNN "
     "reads every step: a batch pads to its longest sequence, so about 57% of the batches of 8 run at up to"),
    ("one of 100", 100, 1, 60000, {},
     "warning: tail: 1 of the 100 training sequences is longer than 4,000 steps (up to 60,000; median 30)"),
    ("a fifth", 60, 12, 8000, {}, "warning: tail: a tenth of the training sequences are 8,000 steps or longer"),
    ("a front end named", 60, 6, 8000, {"fixed": {"conv_layers": 1, "conv_stride": 16}}, None),
    # conv_layers: 0 names a front-end field and builds none: unwarned until the unseen11 probe
    ("the front end written off", 60, 6, 8000, {"architecture": {"cell": "gru", "hidden_size": 8, "conv_layers": 0}},
     "warning: tail: 6 of the 60 training sequences are longer than 4,000 steps (up to 8,000; median 30)"),
    ("every sequence long, the front end off", 20, 20, 6000, {"fixed": {"conv_layers": 0}},
     "warning: tail: a tenth of the training sequences are 6,000 steps or longer (median 6,000)"),
    ("a front end searched", 60, 6, 8000, {"search": {"dropout": {"low": 0.0, "high": 0.3}, "conv_layers": [0, 1]},
                                           "fixed": {"conv_stride": 16}}, None),
    ("batch_size searched", 60, 6, 8000, {"search": {"dropout": {"low": 0.0, "high": 0.3}, "batch_size": [8, 16]}},
     "warning: tail: 6 of the 60 training sequences are longer than 4,000 steps (up to 8,000; median 30), and the RNN "
     "reads every step: a batch pads to its longest sequence, so every batch that draws one runs at up to"),
]  # fmt: skip


@pytest.mark.parametrize(("n", "many", "long", "changes", "start"), [c[1:] for c in TAIL_CASES],
                         ids=[c[0] for c in TAIL_CASES])  # fmt: skip
def test_a_few_long_sequences_the_rnn_reads_whole_are_warned_of(
    tmp_path: Path, n: int, many: int, long: int, changes: dict, start: str | None
) -> None:
    """Fewer than a tenth of the sequences that long left the 90th percentile short and the study unwarned, though
    every batch that draws one pads to it: 6 of 60 sequences of 8,000 steps among 30-step ones took minutes an epoch
    on a 48-sequence fold (the unseen-data probe)."""
    from models.data import array_splits
    from search.defaults import long_tail_note

    lengths = np.where(np.arange(n) < many, long, 30)
    X = np.zeros((n, long, 1), np.float32)
    y = np.arange(n) % 2
    splits = array_splits({"X": X, "y": y, "lengths": lengths, "X_test": X[:4, :30], "y_test": y[:4]})
    splits.name = "tail"
    spec = apply_defaults(spec_of(tmp_path, "tail.npz", **changes), splits)
    note = long_tail_note(spec, splits)
    assert (note is None) == (start is None), note
    if start is not None:
        assert note is not None and note.startswith(start), note
        assert note.endswith("or shorter sequences"), note
    written = {**changes.get("architecture", {}), **changes.get("fixed", {})}
    if start is not None and "conv_layers" in written:  # the advice names the line to change, not a second one
        section = "architecture" if "conv_layers" in changes.get("architecture", {}) else "fixed"
        assert f"consider a front end: {section}.conv_layers: 1 where the study file writes 0" in note, note


def test_cv_folds_set_by_the_study_is_kept_and_not_reported(tmp_path: Path) -> None:
    out = apply_defaults(spec_of(tmp_path, SHORT, cv_folds=2), load_splits(SHORT))
    assert out.cv_folds == 2 and "cv_folds" not in out.defaulted


def test_applying_twice_changes_nothing(tmp_path: Path) -> None:
    splits = load_splits(LONG)
    once = apply_defaults(spec_of(tmp_path, LONG), splits)
    twice = apply_defaults(once, splits)
    assert twice.search == once.search and twice.defaulted == once.defaulted and twice.fixed == once.fixed


def test_baseline_and_recipes_start_from_the_home_point(tmp_path: Path) -> None:
    """The front end is architecture: the baseline and every recipe of a long study run it at its home point."""
    splits = load_splits(LONG)
    spec = apply_defaults(spec_of(tmp_path, LONG, search={"dropout": {"low": 0.0, "high": 0.3}}), splits)
    home = home_point(spec)
    stride = spec.search["conv_stride"].choices[0]  # type: ignore[union-attr]
    assert home == {
        "lr": 3e-3, "conv_layers": 3, "conv_stride": stride, "conv_kernel": 8, "conv_channels": 128, "pooling": "max",
    }  # fmt: skip
    assert spec.fixed["conv_skip"] is True  # fixed, not searched: every trial's head reads the front end too
    assert stride == conv_strides(median_length(splits))[0]  # the smallest stride for the median length
    points = starting_points(spec)
    assert len(points) >= 2  # baseline + the dropout recipes
    for _, params in points:
        resolved = resolved_params(params, spec)
        assert {name: resolved[name] for name in home} == home
    assert all(name in CONV_NAMES or name in ("lr", "pooling") for name in home)


def test_a_real_study_runs_with_the_defaulted_space(tmp_path: Path) -> None:
    """A long synthetic study silent about lr and the front end: both are searched, every trial completes."""
    splits = load_splits("synthetic:n=40,length=420,channels=1")
    spec = apply_defaults(
        spec_of(tmp_path, "synthetic:n=40,length=420,channels=1", sampler="random", pruner="none", cv_folds=1,
                introspect=False, recipes=False),
        splits,
    )  # fmt: skip
    storage = open_storage(str(tmp_path / "journal.log"))
    study = ensure_study(spec, storage, total=3)
    run_worker(spec, storage, 3)
    study = optuna.load_study(study_name="d", storage=storage)
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 3
    for t in trials:
        config = resolved_params(t.params, spec)
        assert LR_RANGE.low <= config["lr"] <= LR_RANGE.high
        assert t.user_attrs["config"]["lr"] == config["lr"]
        assert t.user_attrs["config"]["conv_layers"] in (0, 1, 3)
        assert t.user_attrs["config"]["conv_stride"] in spec.search["conv_stride"].choices  # type: ignore[union-attr]
        assert t.user_attrs["config"]["conv_norm"] == "batch"


@pytest.mark.parametrize(
    ("n", "folds", "size"),
    [
        (270, None, 32),
        (67, None, 8),
        (50, None, 8),
        (36, None, 8),
        (200, None, 16),
        (5000, None, 32),
        (400, 2, 32),
        (100, 2, 8),
    ],
)
def test_a_small_training_set_gets_a_smaller_batch(tmp_path: Path, n: int, folds: int | None, size: int) -> None:
    """(d): at least MIN_STEPS optimizer steps an epoch on a fold's training part, powers of two in 8..32."""
    splits = load_splits(f"synthetic:n={n},length=12,channels=1")
    spec = spec_of(tmp_path, SHORT, **({"cv_folds": folds} if folds else {}))
    out = apply_defaults(spec, splits)
    assert out.fixed.get("batch_size", 32) == size
    assert out.defaulted["batch_size"].startswith(f"{size} by default")
    got, steps = batch_size_for(spec, splits)
    assert got == size and (steps >= MIN_STEPS or size == MIN_BATCH)


@pytest.mark.parametrize(
    ("n", "searched", "base"),
    [
        (36, [8, 16, 32], 8),  # TrainConfig's 32 had run: 1.4 optimizer steps an epoch on a 44-sequence fold
        (200, [8, 16, 32], 16),
        (270, [8, 16, 32], 32),
        (36, [16, 64], 16),  # the data's 8 is not a choice: the first
        (36, {"low": 8, "high": 64, "step": 8}, 8),
        (36, {"low": 16, "high": 64, "step": 16}, 16),  # clamped into the range
    ],
)
def test_a_searched_batch_size_starts_the_baseline_where_the_data_would_fix_it(
    tmp_path: Path, n: int, searched: list | dict, base: int
) -> None:
    """(the verdict probe, 2026-12-06) batch_size searched on ItalyPowerDemand: the baseline ran TrainConfig's 32,
    where the same study without it runs the data's 8, and the best led it by 0.20 (mostly that); the baseline
    and the recipes built on it now start at the batch the study would fix."""
    from search.recipes import baseline_point, starting_points

    splits = load_splits(f"synthetic:n={n},length=12,channels=1")
    spec = spec_of(tmp_path, SHORT, search={**BASE["search"], "batch_size": searched})
    out = apply_defaults(spec, splits)
    assert baseline_point(out)["batch_size"] == base
    assert all(params["batch_size"] == base for _, params in starting_points(out))
    assert "batch_size" not in out.fixed


def test_a_batch_size_the_study_sets_is_kept(tmp_path: Path) -> None:
    splits = load_splits("synthetic:n=36,length=12,channels=1")
    out = apply_defaults(spec_of(tmp_path, SHORT, fixed={"batch_size": 32}), splits)
    assert out.fixed["batch_size"] == 32 and "batch_size" not in out.defaulted


SILENT_BUDGET = {"budget": {"trials": 2}}  # no max_epochs: (e) chooses it


@pytest.mark.parametrize(
    ("n", "changes", "max_epochs", "patience"),
    [
        (270, {}, 149, 38),  # JapaneseVowels' size: 216 a fold, batch 32: 6.75 steps an epoch
        (36, {}, 278, 70),  # ArrowHead's: 28.8 a fold, batch 8: 3.6 steps
        (20, {}, EPOCHS_HIGH, 125),  # 2 steps an epoch: 500 epochs wanted, the cap
        (5000, {}, EPOCHS_LOW, PATIENCE_LOW),  # a 20 % holdout, 125 steps an epoch: the floors
        (270, {"fixed": {"batch_size": 8}}, 38, 10),  # the study's batch size counts: 27 steps an epoch
        (36, {"budget": {"trials": 2, "max_epochs": 12}}, 12, 70),  # an explicit max_epochs is kept
        (36, {"fixed": {"patience": 3}}, 278, 3),  # an explicit patience is kept
        (36, {"fixed": {"patience": 0}}, 278, 0),  # also "never stop early"
        # (2026-12-05, a wiring probe) batch_size searched: the baseline's batch counts, not the default 32 no trial
        # ran ([8, 16] gave patience 278 epochs, ~970 steps, where 70 was meant)
        (36, {"search": {**BASE["search"], "batch_size": [8, 16]}}, 278, 70),
        (270, {"search": {**BASE["search"], "batch_size": [16, 32]}}, 149, 38),
        (270, {"search": {**BASE["search"], "batch_size": {"low": 8, "high": 16, "step": 8}}}, 75, 19),  # at 16
    ],
    ids=[
        "jv",
        "arrowhead",
        "cap",
        "floors",
        "batch set",
        "max_epochs set",
        "patience set",
        "patience 0",
        "batch searched, no 32",
        "batch searched with 32",
        "batch range below 32",
    ],
)
def test_epochs_and_patience_follow_optimizer_steps_unless_the_study_sets_them(
    tmp_path: Path, n: int, changes: dict, max_epochs: int, patience: int
) -> None:
    """(e): FIT_STEPS optimizer steps a fold's fit, patience PATIENCE_STEPS steps, when the study is silent."""
    splits = load_splits(f"synthetic:n={n},length=12,channels=1")
    spec = spec_of(tmp_path, SHORT, **{**SILENT_BUDGET, **changes})
    out = apply_defaults(spec, splits)
    assert (out.max_epochs, out.fixed["patience"]) == (max_epochs, patience)
    assert ("max_epochs" in out.defaulted) == ("max_epochs" not in changes.get("budget", {}))
    assert ("patience" in out.defaulted) == ("patience" not in changes.get("fixed", {}))
    assert apply_defaults(out, splits).max_epochs == out.max_epochs  # applying twice changes nothing
    if "max_epochs" in out.defaulted:
        assert out.defaulted["max_epochs"].startswith(f"{max_epochs} by default")
    if "batch_size" in out.search:  # the batch the reasons name is the one the baseline trial runs
        baseline = resolved_params(starting_points(out)[0][1], out)["batch_size"]
        assert f"at batch {baseline}, the baseline's" in out.defaulted["patience"], out.defaulted


@pytest.mark.parametrize(
    ("steps", "epochs", "patience"),
    [(FIT_STEPS / 10, EPOCHS_LOW, PATIENCE_LOW), (1.0, EPOCHS_HIGH, PATIENCE_STEPS), (4.0, 250, 63), (6.75, 149, 38)],
)
def test_epoch_and_patience_functions(steps: float, epochs: int, patience: int) -> None:
    assert epochs_for(steps) == epochs
    assert patience_for(steps) == patience


def test_the_study_file_says_whether_it_set_max_epochs(tmp_path: Path) -> None:
    assert spec_of(tmp_path, SHORT).epochs_given  # BASE sets budget.max_epochs
    silent = spec_of(tmp_path, SHORT, **SILENT_BUDGET)
    assert not silent.epochs_given and silent.max_epochs == 40  # a placeholder until the data are known


def _wide_scales(tmp_path: Path, decades: float, unit: float = 1.0) -> str:
    """An ``.npz`` dataset (train and test) whose sequences' scales span ``decades`` orders of magnitude (PLAID's
    currents span five): each sequence a sine of its class's frequency times 10 ** U(0, decades), times ``unit``
    (the same data in other units)."""
    rng = np.random.default_rng(0)

    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 2
        t = np.linspace(0, 1, 40)[None, :]
        X = np.sin(2 * np.pi * (2 + 3 * y[:, None]) * t) * 10 ** rng.uniform(0, decades, (n, 1)) * unit
        return X[..., None].astype(np.float32), y

    X, y = part(40)
    X_test, y_test = part(20)
    path = tmp_path / f"wide{decades:g}x{unit:g}.npz"
    np.savez(path, X=X, y=y, X_test=X_test, y_test=y_test)
    return str(path)


@pytest.mark.parametrize(
    ("decades", "changes", "searched", "unit"),
    [
        (5, {}, True, 1.0),  # scales over five decades (PLAID): z-normalize each sequence, at home
        (5, {"fixed": {"normalize": "channel"}}, False, 1.0),  # the study says: kept
        (5, {"search": {"normalize": ["channel", "series"]}}, False, 1.0),  # the study searches it its own way: kept
        (1, {}, False, 1.0),  # one decade (BasicMotions' amplitudes, 56x): the amplitude may be the signal
        (0, {}, False, 1.0),  # z-normalized already (the UCR univariate sets)
        # the same data in other units (picofarads written in farads; the unseen12 probe): an absolute floor of
        # 1e-12 on each sequence's std took every sequence for a constant one, and the spread read 1.0
        (5, {}, True, 1e-15),
        (5, {}, True, 1e-9),
        (0, {}, False, 1e-15),
    ],
    ids=[
        "five decades",
        "fixed by the study",
        "searched by the study",
        "one decade",
        "already normalized",
        "five decades in 1e-15 units",
        "five decades in 1e-9 units",
        "already normalized in 1e-15 units",
    ],
)
def test_scales_that_differ_by_orders_of_magnitude_search_per_sequence_normalization(
    tmp_path: Path, decades: float, changes: dict, searched: bool, unit: float
) -> None:
    dataset = _wide_scales(tmp_path, decades, unit)
    spec = spec_of(tmp_path, dataset, **changes)
    splits = load_splits(dataset)
    out = apply_defaults(spec, splits)
    assert ("normalize" in out.defaulted) == searched
    if searched:
        assert "normalize" in DEFAULT_SEARCHED  # a starting point may set it (search.spec)
        assert scale_spread(splits) > SCALE_SPREAD
        assert out.search["normalize"] == Choice(["series", "channel"])
        assert home_point(out)["normalize"] == "series"  # the baseline and the recipes z-normalize too
        assert "span" in out.defaulted["normalize"] and "series at home" in out.defaulted["normalize"]
        # every starting point but one z-normalizes too; that one is the baseline per channel, so the search tries
        # it whatever its sampler draws (each sequence's loudness was the label: all 20 trials ran series)
        points = {label: resolved_params(p, out) for label, p in starting_points(out)}
        other = [label for label, p in points.items() if p["normalize"] != "series"]
        assert other == [
            "the baseline with normalize: channel (the data rule searches it; its other points run series)"
        ]
        assert points[other[0]] == {**points[BASELINE], "normalize": "channel"} and len(points) > 2
    else:
        assert out.search.get("normalize") == spec.search.get("normalize")


@pytest.mark.parametrize(("dataset", "spread"), [("PLAID", 125202.6), ("BasicMotions", 56.2), ("GunPoint", 1.0)])
def test_scale_spread_of_real_datasets(dataset: str, spread: float) -> None:
    assert scale_spread(load_splits(dataset)) == pytest.approx(spread, rel=1e-3)


@pytest.mark.parametrize(
    ("n", "rarest", "folds"),
    [
        (270, 30, 5),  # JapaneseVowels: the size rule
        (2000, 400, 3),
        (9000, 900, 1),
        (100, 3, 3),  # a rare class caps the folds: each fold needs one of it
        (100, 2, 2),
        (100, 1, 1),  # a single one: one holdout split
        (9000, 1, 1),
    ],
)
def test_default_folds_follow_the_size_and_the_rarest_class(n: int, rarest: int, folds: int) -> None:
    assert default_folds(n, rarest) == folds


@pytest.mark.parametrize(("rare", "folds"), [(3, 3), (1, 1), (10, 5)])
def test_a_rare_class_never_makes_the_default_folds_refuse_the_data(tmp_path: Path, rare: int, folds: int) -> None:
    """Before: 100 sequences with a class of 3 were refused ('class 2 has 3 training sequences; 5-fold
    cross-validation needs >= 5'), for a cv_folds the study never wrote."""
    rng = np.random.default_rng(0)
    y = np.array([0] * 60 + [1] * (40 - rare) + [2] * rare)
    X = (rng.normal(size=(100, 20, 2)) + y[:, None, None]).astype(np.float32)
    path = tmp_path / "rare.npz"
    np.savez(path, X=X, y=y, X_test=X[:12], y_test=y[:12])
    study = tmp_path / "rare.yaml"
    study.write_text(yaml.safe_dump({**BASE, "dataset": str(path)}))
    prepared = prepare(study)
    assert prepared.folds == folds and prepared.spec.cv_folds is None
    assert prepared.spec.defaulted["cv_folds"].startswith(f"{folds} (chosen from the 100 training sequences")
    assert ("the rarest class has" in prepared.spec.defaulted["cv_folds"]) == (folds < 5)
    if rare < 5:  # a cv_folds the study writes is its own: still refused where the data cannot fill it
        study.write_text(yaml.safe_dump({**BASE, "dataset": str(path), "cv_folds": 5}))
        with pytest.raises(PreflightError, match=f"class '2' has {rare} training sequence.*allowed: cv_folds"):
            prepare(study)


#: (id, dataset, study changes, the error, or None where the study is accepted)
BRANCH_CASES = [
    ("long, defaulted", LONG, {}, None),  # the defaults search it beside the skip they search
    ("long, searched beside the default front end", LONG, {"search": {"branch_dropout": {"low": 0.5, "high": 0.9}}},
     None),
    ("own front end with the skip", SHORT, {"fixed": {"conv_layers": 2, "conv_skip": True, "branch_dropout": 0.8}}, None),
    ("own front end, skip searched", SHORT,
     {"fixed": {"conv_layers": 2}, "search": {"conv_skip": [True, False], "branch_dropout": {"low": 0.0, "high": 0.8}}},
     None),
    ("short, searched", SHORT, {"search": {"branch_dropout": {"low": 0.0, "high": 0.8}}}, "search.branch_dropout"),
    ("short, fixed", SHORT, {"fixed": {"branch_dropout": 0.5}}, "fixed.branch_dropout"),
    ("front end without the skip", SHORT, {"fixed": {"conv_layers": 2}, "search": {"branch_dropout": {"low": 0.0, "high": 0.8}}},
     "search.branch_dropout"),
    ("long, own front end without the skip", LONG,
     {"fixed": {"conv_stride": 8, "branch_dropout": 0.8}}, "fixed.branch_dropout"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("dataset", "changes", "error"), [c[1:] for c in BRANCH_CASES], ids=[c[0] for c in BRANCH_CASES]
)
def test_branch_dropout_needs_a_head_that_reads_the_front_end(
    tmp_path: Path, dataset: str, changes: dict, error: str | None
) -> None:
    """branch_dropout drops the RNN's side of a conv_skip head; without a skip in any trial it would be
    output_dropout under another name: refused before anything is stored, naming the field and the way out."""
    study = tmp_path / "b.yaml"
    study.write_text(yaml.safe_dump({**BASE, "dataset": dataset, **changes}))
    if error is None:
        spec = prepare(study).spec
        assert "branch_dropout" in spec.search or spec.fixed["branch_dropout"] == 0.8
        return
    with pytest.raises(
        StudyFileError, match=rf"b\.yaml: {re.escape(error)}: has no effect without conv_skip.*output_dropout"
    ):
        prepare(study)


#: (id, branch_dropout's searched range in a long study, the branch recipes' (rate, label) the study enqueues)
BRANCH_RECIPE_CASES = [
    ("defaulted", None, [(0.8, "RNN-branch dropout 0.8 beside the front end's average (LSTM-FCN's)"),
                         (0.9, "RNN-branch dropout 0.9 beside the front end's average")]),
    ("narrowed below both", {"low": 0.0, "high": 0.5},  # both moved to 0.5: run once, under the first label
     [(0.5, "RNN-branch dropout 0.5 beside the front end's average")]),
    # no off value: the baseline runs the nearest to off, 0.85, which 0.8 moves onto: run once, as the baseline
    ("without off", {"low": 0.85, "high": 0.95}, [(0.9, "RNN-branch dropout 0.9 beside the front end's average")]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("searched", "expected"), [c[1:] for c in BRANCH_RECIPE_CASES], ids=[c[0] for c in BRANCH_RECIPE_CASES]
)
def test_long_studies_enqueue_both_branch_dropout_recipes(
    tmp_path: Path, searched: dict | None, expected: list[tuple[float, str]]
) -> None:
    """LSTM-FCN's 0.8 and the searched range's top, 0.9 (which one a long dataset wants differs; the folds choose),
    each on the baseline's home point; moved into a narrower range and run once where they coincide there; only
    LSTM-FCN's own rate is labelled as LSTM-FCN's."""
    changes = {} if searched is None else {"search": {**BASE["search"], "branch_dropout": searched}}
    study = tmp_path / "b.yaml"
    study.write_text(yaml.safe_dump({**BASE, "dataset": LONG, **changes}))
    spec = prepare(study).spec
    points = starting_points(spec)
    base = resolved_params(points[0][1], spec)
    assert base["branch_dropout"] == (searched or {"low": 0.0})["low"]  # off (or nearest to it) in the baseline
    branch = [(label, resolved_params(p, spec)) for label, p in points if label.startswith("RNN-branch dropout")]
    assert [(pytest.approx(c["branch_dropout"]), label) for label, c in branch] == expected
    assert [r["branch_dropout"] for r, _ in RECIPES if "branch_dropout" in r][-1] == BRANCH_RANGE.high  # its top
    for _, config in branch:  # one regularizer on top of the baseline, nothing else moved
        assert {k: v for k, v in config.items() if k != "branch_dropout"} == {
            k: v for k, v in base.items() if k != "branch_dropout"
        }


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({}, "of 4 batches of 8;"),  # 40 sequences, 5 folds: 32 train a fold (batch_size 8 chosen from the data)
        ({"search": {"batch_size": [8, 64]}}, "of up to 4 batches of 8 (batch_size searched: 8 / 64);"),
        ({"search": {"batch_size": [64, 16]}}, "of up to 2 batches of 16 (batch_size searched: 16 / 64);"),
        ({"fixed": {"batch_size": 16}}, "of 2 batches of 16;"),
    ],
)  # fmt: skip
def test_the_budget_line_names_the_batch_sizes_the_trials_run(tmp_path: Path, changes: dict, said: str) -> None:
    """A searched batch_size (8 / 64) was said as "batches of 32", TrainConfig's default, which no trial ran."""
    from search.defaults import budget

    spec = apply_defaults(spec_of(tmp_path, SHORT, **changes), load_splits(SHORT))
    line = budget(spec, 5, 40, 1)
    assert (
        line
        == f"at most 1 trial x 5 folds x 1 epoch = 5 epochs {said} early stopping and pruning end most trials sooner"
    )
