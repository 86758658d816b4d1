"""A fold that stops early (patience) is judged by the pruner at the fold's last step with its finished value,
not first at the next fold's untrained epoch (:func:`search.objective.fold_end_report`), on both trial paths."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.objective import RunningMean, fold_end_report
from search.spec import load_study
from search.storage import open_storage
from search.worker import ensure_study, run_worker
from tests.helpers import write_study

MAX_EPOCHS = 10


@pytest.mark.parametrize(
    ("fold", "epochs_run", "finished", "best", "expect_step", "pruned"),
    [
        (0, MAX_EPOCHS, [], 0.9, None, False),  # ran its budget: its last epoch was reported already
        (0, 4, [], 0.9, MAX_EPOCHS - 1, False),  # early-stopped, good: reported at the fold's last step, kept
        (1, 3, [0.8], 0.7, 2 * MAX_EPOCHS - 1, False),  # running mean over folds (0.75) above the threshold
        (0, 4, [], 0.2, MAX_EPOCHS - 1, True),  # early-stopped, bad: pruned there
    ],
)
def test_fold_end_report(
    fold: int, epochs_run: int, finished: list[float], best: float, expect_step: int | None, pruned: bool
) -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    trial = study.ask()
    reason = fold_end_report(trial, RunningMean(finished, "maximize"), fold, epochs_run, MAX_EPOCHS, best)
    values = study.trials[0].intermediate_values
    if expect_step is None:
        assert values == {} and reason is None
        return
    assert values == {expect_step: pytest.approx((sum(finished) + best) / (len(finished) + 1))}
    assert (reason is not None) == pruned
    if pruned:
        assert f"step {expect_step}" in reason and "fold 1" in reason


def _run(
    tmp_path: Path, trials: int, epochs: int, folds: int, array_size: int, **changes: object
) -> list[optuna.trial.FrozenTrial]:
    """The tiny study with these trials, epochs, folds and array size (and ``changes``), run to its total."""
    path = write_study(
        tmp_path, budget={"trials": trials, "max_epochs": epochs}, cv_folds=folds, array_size=array_size, **changes
    )
    spec = load_study(path)
    storage = open_storage(str(tmp_path / "journal.log"))
    ensure_study(spec, storage, total=trials)
    run_worker(spec, storage, trials, accelerator="cpu")
    return optuna.load_study(study_name=spec.name, storage=storage).trials


def test_the_running_mean_keeps_no_epoch_that_may_not_be_the_fold_best() -> None:
    """With SWA, epochs before its start score the plain weights and may not be the fold's best (BestEpoch): the
    pruner was handed the plain weights' peak (0.9) for an SWA fold whose best was 0.6, and a pruned trial was
    valued by it. Their best counts only while no kept epoch exists."""
    running = RunningMean([0.8], "maximize")
    assert running(0.9, keep=False) == pytest.approx(0.85) and running.best is None
    assert running(0.5, keep=False) == pytest.approx(0.85)  # the best so far, as a trial without SWA reports
    assert running(0.6) == pytest.approx(0.7) and running.best == 0.6  # SWA's first epoch: the plain 0.9 is gone
    assert running(0.55) == pytest.approx(0.7)


@pytest.mark.parametrize("array_size", [1, 4])
def test_every_fold_is_judged_at_its_last_step(tmp_path: Path, array_size: int) -> None:
    """With patience 1 some folds stop early; every complete trial still reports, at the first fold's last step,
    that fold's finished score (the running mean over one fold)."""
    trials = _run(tmp_path, 4, MAX_EPOCHS, 2, array_size, fixed={"lr": 0.05, "batch_size": 32, "patience": 1})
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert complete, [t.user_attrs.get("pruned_reason") for t in trials]
    stopped_early = 0
    for t in complete:
        first_fold = {s for s in t.intermediate_values if s < MAX_EPOCHS}
        stopped_early += len(first_fold) < MAX_EPOCHS
        assert MAX_EPOCHS - 1 in first_fold, sorted(first_fold)
        assert t.intermediate_values[MAX_EPOCHS - 1] == pytest.approx(t.user_attrs["fold_scores"][0], abs=1e-6)
    assert stopped_early, "no fold stopped early: the test does not test the rule"


class _LastEpochPruner(optuna.pruners.BasePruner):
    """Prunes a trial only at the whole trial's last step (what a pruner may do: a 3-trial, 2-epoch study pruned
    trial 1 there, 'pruned at epoch 2 (step 1) with 0.9441', as good as the complete ones)."""

    def __init__(self, last: int) -> None:
        self.last = last

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.last_step is not None and trial.last_step >= self.last


@pytest.mark.slow
@pytest.mark.parametrize("array_size", [1, 3])
def test_a_trial_is_never_pruned_at_its_last_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, array_size: int
) -> None:
    """At the trial's last epoch its training is done: a prune there saves nothing and turns a complete trial into
    a pruned one (out of the selection, the importances, the rankings). The pruner still sees every step."""
    import search.samplers as samplers

    epochs, folds = 3, 2
    monkeypatch.setitem(samplers.PRUNERS, "median", lambda steps, first: _LastEpochPruner(folds * epochs - 1))
    fixed = {"lr": 0.05, "batch_size": 32, "patience": 0}
    trials = _run(tmp_path, 3, epochs, folds, array_size, pruner="median", recipes=False, fixed=fixed)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3, [t.user_attrs.get("pruned_reason") for t in trials]
    assert all(max(t.intermediate_values) == folds * epochs - 1 for t in trials)


# --------------------------------------------------------------------------------------------- whole folds
class _AlwaysPruner(optuna.pruners.BasePruner):
    """Prunes at every step it is asked at: what a trial meets where the wrapper lets the pruner judge it."""

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


@pytest.mark.parametrize(
    ("fold_steps", "steps", "judged"),
    [
        (MAX_EPOCHS, 3 * MAX_EPOCHS, [MAX_EPOCHS - 1, 2 * MAX_EPOCHS - 1, 3 * MAX_EPOCHS - 1]),  # each fold's end
        (1, 4, [0, 1, 2, 3]),  # one-epoch folds: every step ends one
    ],
)
def test_whole_folds_pruner_asks_only_at_a_folds_last_step(fold_steps: int, steps: int, judged: list[int]) -> None:
    """A pruner that prunes everything, wrapped: ``should_prune`` is True at the folds' last steps, False inside a
    fold (the wrapped pruner is not asked there)."""
    from search.whole_folds import WholeFoldsPruner

    study = optuna.create_study(direction="maximize", pruner=WholeFoldsPruner(_AlwaysPruner(), fold_steps))
    trial = study.ask()
    assert not trial.should_prune()  # nothing reported yet
    said = []
    for step in range(steps):
        trial.report(0.1, step)
        said.append(trial.should_prune())
    assert [s for s, p in enumerate(said) if p] == judged


@pytest.mark.parametrize(
    ("pruner", "fold_steps", "sequences", "folds", "message"),
    [
        ("not a pruner", 5, None, 1, "pruner='not a pruner': allowed: an optuna.pruners.BasePruner"),
        (optuna.pruners.NopPruner(), 0, None, 1, "fold_steps=0: allowed: an integer >= 1"),
        (optuna.pruners.NopPruner(), True, None, 1, "fold_steps=True: allowed: an integer >= 1"),
        (optuna.pruners.NopPruner(), 5, 0, 5, "sequences=0: allowed: None or an integer >= 1"),
        (optuna.pruners.NopPruner(), 5, 36.5, 5, "sequences=36.5: allowed: None or an integer >= 1"),
        (optuna.pruners.NopPruner(), 5, True, 5, "sequences=True: allowed: None or an integer >= 1"),
        (optuna.pruners.NopPruner(), 5, 36, 0, "folds=0: allowed: an integer >= 1"),
    ],
)
def test_whole_folds_pruner_refuses_bad_arguments(
    pruner: object, fold_steps: object, sequences: object, folds: object, message: str
) -> None:
    from search.whole_folds import WholeFoldsPruner

    with pytest.raises((TypeError, ValueError), match=message.replace("(", r"\(").replace(")", r"\)")):
        WholeFoldsPruner(pruner, fold_steps, sequences, folds)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("best", "judged", "expect"),
    [
        (0.74, 7, (0.74 * 0.26 / 7) ** 0.5),  # ArrowHead's first fold: 0.166, two sequences' worth
        (0.86, 22, (0.86 * 0.14 / 22) ** 0.5),  # its third: 0.074
        (1.0, 54, 1 / 54),  # a perfect best has no binomial error: one sequence's worth
        (0.999, 1000, 1 / 1000),  # at least one sequence's worth
        (1.2, 10, 0.1),  # a value past 1 (never reported) is taken as 1
    ],
)
def test_tolerance_is_one_standard_error_and_at_least_one_sequence(best: float, judged: float, expect: float) -> None:
    from search.whole_folds import tolerance

    assert tolerance(best, judged) == pytest.approx(expect)


@pytest.mark.parametrize(
    ("best", "judged", "sequences"),
    [(0.74, 7, 1), (0.86, 22, 1), (1.0, 54, 1), (0.5, 100, 5), (0.999, 1000, 1)],
)
def test_the_margin_on_scores_is_the_tolerances_whole_sequences_and_a_half(
    best: float, judged: float, sequences: int
) -> None:
    """Scores carry a tie-break term below half a sequence; accuracies differ by whole sequences."""
    from search.whole_folds import margin

    assert margin(best, judged) == pytest.approx((sequences + 0.5) / judged)


def _judge(direction: str, sequences: int | None, reports: list[tuple[float, int]]) -> list[bool]:
    """A study with a prune-everything pruner wrapped (folds of 10 steps, 5 folds of ``sequences``): a trial each
    ``(value, step)`` reports at a fold's end, one after another; whether each is pruned."""
    from search.whole_folds import WholeFoldsPruner

    pruner = WholeFoldsPruner(_AlwaysPruner(), 10, sequences, 5)
    study = optuna.create_study(direction=direction, pruner=pruner)
    said = []
    for value, step in reports:
        trial = study.ask()
        trial.report(value, step)
        said.append(trial.should_prune())
        study.tell(trial, state=TrialState.PRUNED)  # what it reported stays: later trials are judged against it
    return said


@pytest.mark.parametrize(
    ("direction", "sequences", "reports", "pruned"),
    [
        # 35 sequences, folds of 7: after the first fold the error of 0.74 is 0.166
        ("maximize", 35, [(0.7408, 9), (0.7377, 9), (0.60, 9), (0.5, 9)], [False, False, False, True]),
        # after three folds (21 sequences) it is 0.074 at a best of 0.8625: a tie is kept, 0.76 is cut
        ("maximize", 35, [(0.8625, 29), (0.862, 29), (0.7638, 29)], [False, False, True]),
        # the best so far is what counts: the first trial at a step is the best there
        ("maximize", 35, [(0.3, 9), (0.9, 9), (0.3, 9)], [False, False, True]),
        # a large study: one sequence's worth of 1.0 over 1,000 (200 a fold): 0.995 kept at 1/200, 0.99 cut
        ("maximize", 1000, [(1.0, 9), (0.996, 9), (0.99, 9)], [False, False, True]),
        # scores, not accuracies: at a perfect best (its tie-break term 1e-5), one sequence of 54 below with a
        # larger term (8e-5) was cut; two below stay cut
        ("maximize", 270, [(1 - 1e-5, 9), (1 - 1 / 54 - 8e-5, 9), (1 - 2 / 54 - 1e-5, 9)], [False, False, True]),
        # scores, not accuracies: at a perfect best (its tie-break term 1e-5), one sequence of 54 below with a
        # larger term (8e-5) was cut; two below stay cut
        ("maximize", 270, [(1 - 1e-5, 9), (1 - 1 / 54 - 8e-5, 9), (1 - 2 / 54 - 1e-5, 9)], [False, False, True]),
        ("maximize", None, [(0.7408, 9), (0.7377, 9)], [True, True]),  # no sequences given: the pruner decides
        ("minimize", 35, [(0.5, 9), (0.5001, 9)], [True, True]),  # a loss: no accuracy error to keep within
        ("maximize", 35, [(0.74, 9), (float("nan"), 9)], [False, True]),  # no value to compare: the pruner decides
    ],
)
def test_a_trial_within_one_error_of_the_best_at_a_folds_end_is_not_pruned(
    direction: str, sequences: int | None, reports: list[tuple[float, int]], pruned: list[bool]
) -> None:
    """Hyperband keeps the top of a rung by rank however small the margin: on folds of 7 sequences the recipe lost
    a rank to the baseline on the validation-loss tie-break alone (0.7377 against 0.7408) and was cut."""
    assert _judge(direction, sequences, reports) == pruned


def test_a_study_keeps_the_trials_within_one_error_of_the_best(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the worker (make_pruner gets the training split's size), with a pruner that would prune every trial
    at each fold's end: a trial is pruned there exactly when it is more than one standard error below the best
    value reported there before it; a trial that cannot learn (lr 1e-7) is cut, the first is kept."""
    import search.samplers as samplers
    from search.folds import study_splits
    from search.whole_folds import margin

    monkeypatch.setitem(samplers.PRUNERS, "median", lambda steps, first: _AlwaysPruner())
    points = [{"lr": 0.05}, {"lr": 1e-7}, {"lr": 0.03}, {"lr": 2e-7}]
    search = {"lr": {"low": 1e-7, "high": 0.05, "log": True}}
    folds = 2
    trials = _run(
        tmp_path, 4, MAX_EPOCHS, folds, 1, pruner="median", recipes=False, starting_points=points, search=search,
        fixed={"batch_size": 32, "patience": 0},
    )  # fmt: skip
    spec = load_study(tmp_path / "tiny.yaml")
    judged = len(study_splits(spec).train) / folds  # the first fold's validation part
    step = MAX_EPOCHS - 1
    kept = cut = 0
    for t in trials:
        best = max(u.intermediate_values[step] for u in trials if u.number <= t.number)
        within = t.intermediate_values[step] >= best - margin(best, judged)
        assert (t.state == TrialState.PRUNED) == (not within), (t.number, t.intermediate_values[step], best)
        if t.state == TrialState.PRUNED:
            assert t.last_step == step
        kept += within
        cut += not within
    assert kept and cut, [(t.number, t.intermediate_values[step]) for t in trials]  # both sides are tested
    assert trials[0].state == TrialState.COMPLETE


@pytest.mark.parametrize(
    ("folds", "array_size", "pruned_at"), [(2, 1, MAX_EPOCHS - 1), (2, 3, MAX_EPOCHS - 1), (1, 1, 0)]
)
def test_a_study_prunes_a_cross_validated_trial_only_at_a_folds_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folds: int, array_size: int, pruned_at: int
) -> None:
    """Through the worker (make_pruner), with a pruner that would prune every trial at its first report: with
    cross-validation each trial runs its first fold to its end and is pruned at that fold's last step, never
    inside it; a holdout (one fold) keeps pruning inside its fit (at its first epoch here)."""
    import search.samplers as samplers

    monkeypatch.setitem(samplers.PRUNERS, "median", lambda steps, first: _AlwaysPruner())
    fixed = {"lr": 0.05, "batch_size": 32, "patience": 0}
    # val_loss: minimized, so no trial is kept for being within an error of the best (the next tests)
    trials = _run(
        tmp_path, 3, MAX_EPOCHS, folds, array_size, pruner="median", recipes=False, fixed=fixed, metric="val_loss"
    )
    assert [t.state for t in trials] == [TrialState.PRUNED] * 3
    for t in trials:
        assert t.last_step == pruned_at, (t.number, sorted(t.intermediate_values))
        assert sorted(t.intermediate_values) == list(range(pruned_at + 1))  # every epoch of the fold was reported


@pytest.mark.parametrize(
    ("pruner", "folds", "wrapped", "first"),
    [
        ("hyperband", 5, True, MAX_EPOCHS - 1),  # Hyperband's first rung: the first fold's last step
        ("successive_halving", 3, True, MAX_EPOCHS - 1),
        ("median", 5, True, MAX_EPOCHS - 1),  # its warm-up ends there
        ("hyperband", 1, False, max(1, MAX_EPOCHS // 20)),  # a holdout: a twentieth of its epochs, as before
        ("none", 5, False, None),  # nothing to judge: not wrapped
    ],
)
def test_make_pruner_first_judges_a_trial_at_its_first_folds_end(
    tmp_path: Path, pruner: str, folds: int, wrapped: bool, first: int | None
) -> None:
    from search.samplers import make_pruner
    from search.whole_folds import WholeFoldsPruner

    spec = load_study(write_study(tmp_path, budget={"trials": 2, "max_epochs": MAX_EPOCHS}, pruner=pruner))
    made = make_pruner(spec, folds, 36)
    assert isinstance(made, WholeFoldsPruner) == wrapped
    inner = made.pruner if isinstance(made, WholeFoldsPruner) else made
    if wrapped:
        assert (made.fold_steps, made.sequences, made.folds) == (MAX_EPOCHS, 36, folds)  # the error's evidence
    start = {
        optuna.pruners.HyperbandPruner: "_min_resource", optuna.pruners.SuccessiveHalvingPruner: "_min_resource",
        optuna.pruners.MedianPruner: "_n_warmup_steps",
    }  # fmt: skip
    if first is not None:
        assert getattr(inner, start[type(inner)]) == first
