"""A report reads its study's trials once (search.report.snapshot): workers that go on do not change it."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.report.snapshot import frozen
from search.storage import open_storage
from search.worker import counts


@pytest.mark.parametrize("store", ["journal.log", "sqlite"])
def test_a_report_sees_the_trials_as_they_were_when_it_began(tmp_path: Path, store: str) -> None:
    """faults4: a report of a running study counted "2 complete" in its header and listed trials that finished
    minutes later in its recipe table; its best could have moved between the selection and the verdict."""
    url = f"sqlite:///{tmp_path / 's.db'}" if store == "sqlite" else str(tmp_path / store)
    live = optuna.create_study(storage=open_storage(url), study_name="s", direction="maximize")
    for value in (0.5, 0.7):
        live.tell(live.ask(), value)
    running = live.ask()  # a worker's trial, still running
    view = frozen(live)
    live.tell(running, 0.9)  # it finishes, the best now, while the report retrains
    live.tell(live.ask(), 0.95)
    assert [t.number for t in view.trials] == [0, 1, 2] and view.trials[2].state == TrialState.RUNNING
    assert view.best_trial.number == 1 and view.best_value == 0.7
    assert len(view.get_trials(states=(TrialState.COMPLETE,))) == 2
    assert counts(view) == {**counts(live), "complete": 2, "running": 1, "finished": 2}
    view.set_user_attr("regtune:cached", 1)  # what the report writes goes to the study itself
    assert live.user_attrs["regtune:cached"] == 1
    assert live.best_trial.number == 3  # the study itself moved on


def test_a_snapshot_of_a_study_without_a_complete_trial_raises_as_the_study_does(tmp_path: Path) -> None:
    live = optuna.create_study(storage=open_storage(str(tmp_path / "j.log")), study_name="s")
    live.ask()
    with pytest.raises(ValueError):
        _ = frozen(live).best_trial
