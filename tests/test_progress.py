"""What a trial's value is, said where it is read: the progress lines, the ``value_is`` trial attribute and the
objective's name on the dashboard. A pruned trial's value is a running mean over the folds it reached, not the
all-fold mean of a complete trial."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from search.progress import Progress, metric_name, reason_words, value_is, value_words
from search.spec import parse_study
from search.storage import open_storage
from search.worker import _say_what_the_value_is, ensure_study
from tests.helpers import TINY

EPOCHS = 10


def trial(state: TrialState, folds: int, last_step: int | None, value: float | None) -> optuna.trial.FrozenTrial:
    steps = {} if last_step is None else {s: 0.5 for s in range(last_step)} | {last_step: value}
    return create_trial(
        state=state, value=value, intermediate_values=steps,
        user_attrs={"folds": folds, "config": {"max_epochs": EPOCHS}, "epochs_run": 3, "path": "fused"},
    )  # fmt: skip


CASES = [  # state, folds, last step, value -> the value_is attribute, the progress line's words
    (TrialState.COMPLETE, 5, 49, 0.95, "5-fold mean (complete)", "complete: 5-fold mean 0.9500"),
    (TrialState.COMPLETE, 1, 9, 0.9, "holdout score (complete)", "complete: holdout score 0.9000"),
    (TrialState.PRUNED, 5, 6, 0.91, "running mean over folds 1..1 of 5 (pruned at fold 1/5, epoch 7/10)",
     "pruned at fold 1/5 epoch 7: running 0.9100"),
    (TrialState.PRUNED, 5, 23, 0.8, "running mean over folds 1..3 of 5 (pruned at fold 3/5, epoch 4/10)",
     "pruned at fold 3/5 epoch 4: running 0.8000"),
    (TrialState.PRUNED, 1, 2, 0.7, "best score so far (pruned at epoch 3/10)", "pruned at epoch 3: running 0.7000"),
    (TrialState.PRUNED, 5, None, None, "no value (pruned before its first epoch was scored)",
     "pruned before its first epoch was scored"),
]  # fmt: skip


@pytest.mark.parametrize(("state", "folds", "last", "value", "attr", "words"), CASES, ids=[c[4] for c in CASES])
def test_a_trials_value_says_which_quantity_it_is(
    state: TrialState, folds: int, last: int | None, value: float | None, attr: str, words: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    t = trial(state, folds, last, value)
    assert value_is(t, pruned=state == TrialState.PRUNED) == attr
    assert value_words(t) == words
    monkeypatch.setenv("CI", "1")  # plain lines, as in CI and logs
    progress = Progress(10, 0, "maximize", "s")
    progress.trial(t, {"finished": 1, "pruned": 0})
    progress.close()
    assert capsys.readouterr().out.startswith(f"trial {t.number} {words} (3 epochs, fused path; 1/10 after ")


@pytest.mark.parametrize(
    ("state", "attrs", "added"),
    [
        (TrialState.PRUNED, {"pruned_reason": "pruned at epoch 2 (step 1) with 0.3737"}, ""),
        (
            TrialState.PRUNED,
            {"pruned_reason": "pruned at the end of fold 2 (early-stopped at epoch 12; step 59) with 0.9100"},
            "at the fold's end: it early-stopped at epoch 12",
        ),
        (
            TrialState.PRUNED,
            {"pruned_reason": "diverged: training loss 1e7 at epoch 1, step 4 in fold 2/2"},
            "diverged: training loss 1e7 at epoch 1, step 4 in fold 2/2",
        ),
        (
            TrialState.FAIL,
            {"fail_reason": "pruned at epoch 2 (step 1) with 0.5"},
            "pruned at epoch 2 (step 1) with 0.5",
        ),
        (TrialState.COMPLETE, {}, ""),
    ],
    ids=["the pruner", "the pruner at a fold's end", "a divergence", "a failure's reason whole", "complete"],
)
def test_the_progress_line_says_where_a_trial_was_pruned_once(
    state: TrialState, attrs: dict[str, str], added: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The newuser8 probe: 'trial 6 pruned at epoch 2: running 0.3737 (2 epochs, loop path; ...) pruned at epoch 2
    (step 1) with 0.3737' said the epoch and the value twice; the pruner's reason now adds only what the value's
    words do not say."""
    failed = state == TrialState.FAIL
    t = trial(state, 1, None if failed else 1, None if failed else 0.3737)
    t.user_attrs.update(attrs)
    assert reason_words(t) == added
    monkeypatch.setenv("CI", "1")
    progress = Progress(10, 0, "maximize", "s")
    progress.trial(t, {"finished": 1, "pruned": 0})
    progress.close()
    line = capsys.readouterr().out.strip()
    assert line.endswith(added) and line.count("0.3737") <= 1, line


@pytest.mark.parametrize(
    ("initial", "finished", "total", "spent", "said"),
    [
        (0, 0, 40, 30.0, ""),  # nothing finished yet in this run: no pace to read
        (0, 1, 40, 30.0, "1/40 after 30 s, ~20 min of trials left"),
        (10, 20, 40, 600.0, "20/40 after 10 min, ~20 min of trials left"),  # a resume: this run's pace only
        (0, 4, 40, 3600.0, "4/40 after 60 min, ~9.0 h of trials left"),
        (0, 40, 40, 600.0, "40/40 after 10 min"),
    ],
)
def test_the_progress_line_says_the_pace_and_what_is_left(
    monkeypatch: pytest.MonkeyPatch, initial: int, finished: int, total: int, spent: float, said: str
) -> None:
    """A log had no clock: a 40-trial study on big data ran for hours and nothing said how many (the scale probe)."""
    import search.progress as progress_module

    monkeypatch.setenv("CI", "1")
    clock = iter([1000.0, 1000.0 + spent])
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    progress = Progress(total, initial, "maximize", "s")
    assert progress.pace(finished) == said
    progress.close()


def test_a_diverged_trial_is_not_placed_where_it_last_scored(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It diverged at the first step of fold 2 and the line said "pruned at fold 1/2 epoch 6" (its last score), with
    the reason's epoch counted from 0; and "(1 epochs"."""
    t = trial(TrialState.PRUNED, 2, 5, 0.7)
    t.user_attrs.update(epochs_run=1, pruned_reason="diverged: training loss 1e7 at epoch 1, step 4 in fold 2/2")
    monkeypatch.setenv("CI", "1")
    progress = Progress(10, 0, "maximize", "s")
    progress.trial(t, {"finished": 1, "pruned": 1})
    progress.close()
    out = capsys.readouterr().out
    assert out.startswith(f"trial {t.number} pruned (1 epoch, fused path; 1/10 after "), out
    assert out.rstrip().endswith(" of trials left) diverged: training loss 1e7 at epoch 1, step 4 in fold 2/2"), out


@pytest.mark.parametrize(("metric", "folds", "name"), [("val_acc", 5, "val_acc (mean over 5 folds)"),
                         ("val_loss", 1, "val_loss (holdout split)"), ("val_acc", None, "val_acc (mean over the folds)")])  # fmt: skip
def test_the_objective_is_named_for_the_dashboard(metric: str, folds: int | None, name: str) -> None:
    assert metric_name(metric, folds) == name


def test_the_study_names_its_objective_and_a_pruned_trial_says_where_it_stopped(tmp_path: Path) -> None:
    """The storage side of what the dashboard shows: the study's metric name (the size rule's 5 folds for 160
    training sequences) and the ``value_is`` attribute the worker writes before it closes a trial."""
    spec = parse_study({**TINY, "cv_folds": None, "recipes": False}, tmp_path / "tiny.yaml")
    storage = open_storage(str(tmp_path / "journal.log"))
    study = ensure_study(spec, storage)
    assert study.metric_names == ["val_acc (mean over 5 folds)"]
    assert optuna.load_study(study_name="tiny", storage=storage).metric_names == ["val_acc (mean over 5 folds)"]
    t = study.ask()
    t.set_user_attr("folds", 5)
    t.set_user_attr("config", {"max_epochs": 4})
    for step in range(6):  # fold 1's four epochs, then fold 2's first two
        t.report(0.5 + step / 100, step)
    _say_what_the_value_is(storage, t._trial_id, pruned=True)
    frozen = study.tell(t, state=TrialState.PRUNED)
    assert frozen.user_attrs["value_is"] == "running mean over folds 1..2 of 5 (pruned at fold 2/5, epoch 2/4)"
    assert frozen.value == pytest.approx(0.55)
    _say_what_the_value_is(storage, t._trial_id, pruned=True)  # a closed trial: nothing written, nothing raised
