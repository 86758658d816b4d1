"""A study keeps the data-dependent defaults it was created with (search/created_defaults.py): after an upgrade
whose rules choose another patience or epoch budget, the study resumes with the values its trials ran, says so,
and the report reads it; a value the study file writes is still compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

import search.defaults as defaults
from search.created_defaults import keep_created_defaults
from search.fingerprint import StudyChangedError, definition
from search.preflight import prepare
from search.storage import open_storage
from search.worker import definition_changes, ensure_study, run_worker

RAW: dict[str, Any] = {
    "name": "kept",
    "dataset": "synthetic:n=40,length=12,channels=1",
    "architecture": {"cell": "gru", "hidden_size": 4},
    "budget": {"trials": 1},  # no max_epochs: the rule chooses it
    "search": {"dropout": {"low": 0.0, "high": 0.3}},
    "fixed": {"lr": 0.01},
    "cv_folds": 1,
    "sampler": "random",
    "pruner": "none",
    "recipes": False,
    "introspect": False,
}


def _rules(monkeypatch: pytest.MonkeyPatch, fit: int, patience: int) -> None:
    monkeypatch.setattr(defaults, "FIT_STEPS", fit)
    monkeypatch.setattr(defaults, "PATIENCE_STEPS", patience)
    monkeypatch.setattr(defaults, "EPOCHS_LOW", 2)
    monkeypatch.setattr(defaults, "PATIENCE_LOW", 1)


@pytest.fixture
def created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, dict[str, Any]]:
    """A study of one finished trial, created under rules that give 8 epochs and patience 2."""
    path = tmp_path / "kept.yaml"
    path.write_text(yaml.safe_dump(RAW))
    url = str(tmp_path / "journal.log")
    _rules(monkeypatch, fit=16, patience=4)  # 32 sequences a fold's training part, batch 8: 4 steps an epoch
    spec = prepare(path, url).spec
    assert (spec.max_epochs, spec.fixed["patience"]) == (4, 1)
    storage = open_storage(url)
    ensure_study(spec, storage, total=1)
    run_worker(spec, storage, 1)
    return path, url, definition(spec)


def test_a_resumed_study_runs_with_the_defaults_it_was_created_with(
    created: tuple[Path, str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url, recorded = created
    _rules(monkeypatch, fit=40, patience=12)  # an upgrade: 10 epochs, patience 3
    spec = prepare(path, url).spec
    assert (spec.max_epochs, spec.fixed["patience"]) == (10, 3)
    capsys.readouterr()
    storage = open_storage(url)
    ensure_study(spec, storage, total=2)  # not refused as changed
    err = capsys.readouterr().err
    assert "keeps the defaults it was created with: budget.max_epochs: 4 (today's default: 10)" in err
    assert "fixed.patience: 1 (today's default: 3)" in err
    assert (spec.max_epochs, spec.fixed["patience"]) == (4, 1)
    assert spec.defaulted["patience"] == "1: kept from the study's creation (today's default: 3)"
    assert definition(spec) == recorded
    run_worker(spec, storage, 2)
    trials = optuna.load_study(study_name="kept", storage=storage).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert {t.user_attrs["config"]["patience"] for t in trials} == {1}
    assert all(t.user_attrs["epochs_run"] <= 4 for t in trials)
    # what a report reads: the same comparison, from a fresh spec
    fresh = prepare(path, url, read_only=True).spec
    assert definition_changes(optuna.load_study(study_name="kept", storage=storage), fresh, url) == []
    assert fresh.fixed["patience"] == 1


@pytest.mark.parametrize(
    ("case", "edit", "line"),
    [
        ("patience written", {"fixed": {"lr": 0.01, "patience": 3}}, "fixed.patience"),
        ("max_epochs written", {"budget": {"trials": 1, "max_epochs": 9}}, "budget.max_epochs"),
        ("lr changed", {"fixed": {"lr": 0.02}}, "fixed.lr"),
    ],
)
def test_what_the_study_file_writes_is_still_compared(
    created: tuple[Path, str, dict[str, Any]], case: str, edit: dict[str, Any], line: str
) -> None:
    path, url, _ = created
    path.write_text(yaml.safe_dump({**RAW, **edit}))
    spec = prepare(path, url).spec
    with pytest.raises(StudyChangedError, match=line):
        ensure_study(spec, open_storage(url), total=2)


@pytest.mark.parametrize(
    ("recorded", "kept"),
    [
        (None, []),  # a study created before definitions were recorded: nothing to keep
        ({"max_epochs": 10, "fixed": {"patience": 3, "batch_size": 8}}, []),  # today's values
        ({"max_epochs": 4, "fixed": {"patience": 3, "batch_size": 8}}, ["budget.max_epochs: 4 (today's default: 10)"]),
        ({"max_epochs": 10, "fixed": {"patience": 3}}, ["fixed.batch_size: 32 (today's default: 8)"]),  # left out: the
        # model's default (32 sequences a batch)
        ({"max_epochs": 10, "fixed": {"patience": "3", "batch_size": 8}}, []),  # not a value the rule could have given
    ],
)
def test_keep_created_defaults_by_value(tmp_path: Path, recorded: dict[str, Any] | None, kept: list[str]) -> None:
    path = tmp_path / "kept.yaml"
    path.write_text(yaml.safe_dump(RAW))
    spec = prepare(path).spec
    spec.max_epochs, spec.fixed = 10, {**spec.fixed, "patience": 3}
    assert keep_created_defaults(spec, recorded) == kept
