"""A study keeps the data-dependent defaults it was created with (search/created_defaults.py): after an upgrade
whose rules choose another patience, epoch budget or batch size, the study resumes with the values its trials ran,
says so once, and the report reads it; a value the study file writes (or wrote, and an edit removed) is still
compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

import search.defaults as defaults
from search import fingerprint as fp
from search.created_defaults import DEFAULTED_ATTR, keep_created_defaults
from search.preflight import prepare
from search.progress import SURPLUS
from search.spec import Choice
from search.storage import open_storage
from search.worker import definition_changes, ensure_study, run_worker
from tests.helpers import run_cli

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
CREATED = {"max_epochs": 4, "patience": 1, "batch_size": 8}  # what the rules of _old() choose for RAW


def _old(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules that give 32 holdout-training sequences batch 8 (4 steps an epoch), 4 epochs and patience 1."""
    for name, value in {
        "FIT_STEPS": 16,
        "PATIENCE_STEPS": 4,
        "EPOCHS_LOW": 2,
        "PATIENCE_LOW": 1,
        "MIN_STEPS": 6,
    }.items():
        monkeypatch.setattr(defaults, name, value)


def _new(monkeypatch: pytest.MonkeyPatch) -> None:
    """An upgrade: batch 32 (the model's default, left out of ``fixed``), 40 epochs, patience 3."""
    for name, value in {"FIT_STEPS": 40, "PATIENCE_STEPS": 3, "MIN_STEPS": 1}.items():
        monkeypatch.setattr(defaults, name, value)


def _create(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: dict[str, Any]) -> tuple[Path, str]:
    path = tmp_path / "kept.yaml"
    path.write_text(yaml.safe_dump(raw))
    url = str(tmp_path / "journal.log")
    _old(monkeypatch)
    spec = prepare(path, url).spec
    storage = open_storage(url)
    ensure_study(spec, storage, total=1)
    run_worker(spec, storage, 1)
    return path, url


@pytest.fixture
def created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A study of one finished trial, created under the rules of :func:`_old`."""
    return _create(tmp_path, monkeypatch, RAW)


def _study(url: str) -> optuna.Study:
    return optuna.load_study(study_name="kept", storage=open_storage(url))


def test_the_study_records_which_values_were_defaults(created: tuple[Path, str]) -> None:
    study = _study(created[1])
    assert study.user_attrs[DEFAULTED_ATTR] == ["batch_size", "max_epochs", "patience"]
    config = study.trials[0].user_attrs["config"]
    assert {k: config[k] for k in CREATED} == CREATED


def test_a_resumed_study_runs_with_the_defaults_it_was_created_with(
    created: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url = created
    _new(monkeypatch)
    spec = prepare(path, url).spec
    assert (spec.max_epochs, spec.fixed["patience"], "batch_size" in spec.fixed) == (40, 3, False)
    capsys.readouterr()
    storage = open_storage(url)
    ensure_study(spec, storage, total=2)  # not refused as changed
    err = capsys.readouterr().err
    assert err.count("note: study 'kept' keeps the defaults it was created with: ") == 1
    for line in ("budget.max_epochs: 4 (today's default: 40)", "fixed.batch_size: 8 (today's default: 32)",
                 "fixed.patience: 1 (today's default: 3)", "a study under a new name runs today's"):  # fmt: skip
        assert line in err
    assert (spec.max_epochs, spec.fixed["patience"], spec.fixed["batch_size"]) == (4, 1, 8)
    assert spec.defaulted["patience"] == "1: kept from the study's creation (today's default: 3)"
    assert fp.digest(fp.definition(spec)) == _study(url).user_attrs[fp.FINGERPRINT_ATTR]
    run_worker(spec, storage, 2)
    trials = _study(url).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    for t in trials:  # the new trial ran what the first one ran
        assert {k: t.user_attrs["config"][k] for k in CREATED} == CREATED
    # what a report reads: the same comparison, from a fresh spec
    fresh = prepare(path, url, read_only=True).spec
    assert definition_changes(_study(url), fresh, url) == []
    assert (fresh.max_epochs, fresh.fixed["patience"], fresh.fixed["batch_size"]) == (4, 1, 8)


def test_allow_change_records_the_kept_values(created: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    path, url = created
    _new(monkeypatch)
    path.write_text(yaml.safe_dump({**RAW, "search": {"dropout": {"low": 0.0, "high": 0.4}}}))  # a widening
    spec = prepare(path, url).spec
    ensure_study(spec, open_storage(url), total=2, allow_change=True)
    attrs = _study(url).user_attrs
    recorded = attrs[fp.DEFINITION_ATTR]
    assert (recorded["max_epochs"], recorded["fixed"]["patience"], recorded["fixed"]["batch_size"]) == (4, 1, 8)
    assert recorded["search"]["dropout"]["high"] == 0.4 and len(attrs[fp.HISTORY_ATTR]) == 1
    assert attrs[DEFAULTED_ATTR] == ["batch_size", "max_epochs", "patience"]


@pytest.mark.parametrize(
    ("case", "created_with", "edit", "line"),
    [
        ("patience written", RAW, {"fixed": {"lr": 0.01, "patience": 3}}, "fixed.patience: 1 -> 3"),
        ("max_epochs written", RAW, {"budget": {"trials": 1, "max_epochs": 9}}, "budget.max_epochs: 4 -> 9"),
        ("lr changed", RAW, {"fixed": {"lr": 0.02}}, "fixed.lr"),
        # the file wrote it, the edit removed it: today's default is a change, not a value to keep
        ("written patience removed", {**RAW, "fixed": {"lr": 0.01, "patience": 2}}, {}, "fixed.patience: 2 -> 3"),
        ("written max_epochs removed", {**RAW, "budget": {"trials": 1, "max_epochs": 3}}, {},
         "budget.max_epochs: 3 -> 40"),
    ],
)  # fmt: skip
def test_what_the_study_file_writes_is_still_compared(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
    created_with: dict[str, Any],
    edit: dict[str, Any],
    line: str,
) -> None:
    path, url = _create(tmp_path, monkeypatch, created_with)
    _new(monkeypatch)
    path.write_text(yaml.safe_dump({**RAW, **edit}))
    spec = prepare(path, url).spec
    capsys.readouterr()
    with pytest.raises(fp.StudyChangedError, match=line):
        ensure_study(spec, open_storage(url), total=2)
    assert "keeps" not in capsys.readouterr().err  # no note before a refusal


def test_a_choice_fixed_since_is_searched_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A long study created while the front end's rule still searched conv_skip: it resumes searching it, says
    so, and its new trials choose it; a study under a new name runs today's rule (the skip fixed on)."""
    raw = {**RAW, "dataset": "synthetic:n=40,length=120,channels=1", "budget": {"trials": 1, "max_epochs": 1}}
    path, url = _create(tmp_path, monkeypatch, raw)
    study = _study(url)
    old = study.user_attrs[fp.DEFINITION_ATTR]  # rewritten as that version recorded it
    assert old["fixed"].pop("conv_skip") is True
    old["search"]["conv_skip"] = {"kind": "choice", "choices": [True, False]}
    study.set_user_attr(fp.DEFINITION_ATTR, old)
    study.set_user_attr(fp.FINGERPRINT_ATTR, fp.digest(old))
    study.set_user_attr(DEFAULTED_ATTR, [n for n in study.user_attrs[DEFAULTED_ATTR] if n != "conv_skip"])
    spec = prepare(path, url).spec
    assert (spec.fixed["conv_skip"], "conv_skip" in spec.search) == (True, False)
    capsys.readouterr()
    storage = open_storage(url)
    ensure_study(spec, storage, total=3)  # not refused as changed
    assert "search.conv_skip: [True, False] (today's default: fixed True)" in capsys.readouterr().err
    assert "conv_skip" not in spec.fixed and spec.search["conv_skip"] == Choice([True, False])
    assert fp.definition(spec) == old
    run_worker(spec, storage, 3)
    trials = _study(url).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert all(t.params["conv_skip"] == t.user_attrs["config"]["conv_skip"] for t in trials[1:])  # searched again
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(yaml.safe_dump({**raw, "name": "renamed"}))
    fresh = prepare(renamed, url).spec
    assert (fresh.fixed["conv_skip"], "conv_skip" in fresh.search) == (True, False)


def test_a_choice_list_reordered_since_keeps_its_recorded_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A long study created while the front end's home kernel was 8 at every stride: today's rule puts 0 (= the
    stride) first above stride 8. The same choices are the same search, and the first is what its baseline ran: it
    resumes with its order, says so, and is not refused as changed."""
    raw = {**RAW, "dataset": "synthetic:n=40,length=120,channels=1", "budget": {"trials": 1, "max_epochs": 1}}
    today = defaults.kernels(2)
    with monkeypatch.context() as m:
        m.setattr(defaults, "kernels", lambda stride: today[::-1])  # the other rule, at the study's creation
        path, url = _create(tmp_path, monkeypatch, raw)
    old = _study(url).user_attrs[fp.DEFINITION_ATTR]
    assert old["search"]["conv_kernel"] == {"kind": "choice", "choices": today[::-1]}
    spec = prepare(path, url).spec
    capsys.readouterr()
    storage = open_storage(url)
    ensure_study(spec, storage, total=2)  # not refused as changed
    assert f"search.conv_kernel: {today[::-1]} (today's default: {today})" in capsys.readouterr().err
    assert spec.search["conv_kernel"] == Choice(today[::-1]) and fp.definition(spec) == old
    run_worker(spec, storage, 2)
    assert [t.state for t in _study(url).get_trials()] == [optuna.trial.TrialState.COMPLETE] * 2


def test_other_searched_choices_and_a_dimension_searched_since_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A long study created on 2026-12-01: its rule gave the front end other kernels, and branch dropout was not
    searched at all. Such a study was refused as edited ("undo the edit", where nobody had edited anything); it now
    resumes with what its trials searched and ran, says so, and runs new trials in that space."""
    raw = {**RAW, "dataset": "synthetic:n=40,length=120,channels=1", "budget": {"trials": 1, "max_epochs": 1}}
    today = defaults.kernels(2)
    with monkeypatch.context() as m:
        m.setattr(defaults, "kernels", lambda stride: [0, 16])  # the other rule, at the study's creation
        path, url = _create(tmp_path, monkeypatch, raw)
    study = _study(url)
    old = study.user_attrs[fp.DEFINITION_ATTR]
    assert old["search"]["conv_kernel"] == {"kind": "choice", "choices": [0, 16]} != today
    old["search"].pop("branch_dropout")  # as that version recorded it: not searched, the model's default ran
    study.set_user_attr(fp.DEFINITION_ATTR, old)
    study.set_user_attr(fp.FINGERPRINT_ATTR, fp.digest(old))
    spec = prepare(path, url).spec
    assert "branch_dropout" in spec.search and spec.search["conv_kernel"] == Choice(today)
    capsys.readouterr()
    storage = open_storage(url)
    ensure_study(spec, storage, total=3)  # not refused as changed
    err = capsys.readouterr().err
    assert f"search.conv_kernel: [0, 16] (today's default: {today})" in err
    assert "fixed.branch_dropout: 0.0 (today's default: searched {low: 0.0, high: 0.9})" in err
    assert spec.search["conv_kernel"] == Choice([0, 16]) and "branch_dropout" not in spec.search
    assert fp.definition(spec) == old
    run_worker(spec, storage, 3)
    trials = _study(url).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert all(t.params["conv_kernel"] in (0, 16) for t in trials)
    assert all("branch_dropout" not in t.params and t.user_attrs["config"]["branch_dropout"] == 0.0 for t in trials[1:])


def test_a_study_recorded_before_the_names_keeps_its_values_and_says_whose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url = _create(tmp_path, monkeypatch, {**RAW, "fixed": {"lr": 0.01, "patience": 2}})
    _study(url).set_user_attr(DEFAULTED_ATTR, None)  # as a study an earlier version recorded
    _new(monkeypatch)
    path.write_text(yaml.safe_dump(RAW))  # patience removed: the record cannot tell it from a default
    spec = prepare(path, url).spec
    capsys.readouterr()
    ensure_study(spec, open_storage(url), total=2)
    err = capsys.readouterr().err
    assert "keeps the values it was created with (its study file's, or that version's defaults): " in err
    assert "fixed.patience: 2 (today's default: 3)" in err and spec.fixed["patience"] == 2


def test_the_note_is_said_once_with_worker_processes(created: tuple[Path, str]) -> None:
    """A study an older version created (its recorded patience is not today's) run by ``study`` with two
    worker processes: one note, from the command the user started; every trial runs the recorded values."""
    path, url = created
    study = _study(url)
    recorded = study.user_attrs[fp.DEFINITION_ATTR]
    before = {t.number for t in study.get_trials() if t.state.is_finished()}
    # the subprocess runs today's real rules (250 epochs, patience 63 here): the study recorded 4 and 1
    out = run_cli("study", str(path), "--storage", url, "--trials", "3", "--workers", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    new = [t for t in _study(url).get_trials() if t.state.is_finished() and t.number not in before]
    assert new  # each new trial's line, once: the worker processes print nothing, the parent says them
    # (a worker's trial array may ask one past the total and hand it back untrained: its line says that)
    said = {t.number: "handed back untrained" if t.user_attrs.get("fail_reason", "").startswith(SURPLUS)
            else t.state.name.lower() for t in new}  # fmt: skip
    assert all(out.stdout.count(f"trial {n} {word}") == 1 for n, word in said.items()), out.stdout
    assert out.stderr.count("keeps the defaults it was created with") == 1, out.stderr
    assert _study(url).user_attrs[fp.DEFINITION_ATTR] == recorded
    trials = _study(url).get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 3
    for t in trials:
        assert {k: t.user_attrs["config"][k] for k in CREATED} == CREATED


@pytest.mark.parametrize(
    ("recorded", "names", "kept", "after"),
    [
        (None, None, [], (10, 3, 32)),  # a study created before definitions were recorded: nothing to keep
        ({"max_epochs": 10, "fixed": {"patience": 3}}, None, [], (10, 3, 32)),  # today's values
        ({"max_epochs": 4, "fixed": {"patience": 3}}, None, ["budget.max_epochs: 4 (today's default: 10)"],
         (4, 3, 32)),
        ({"max_epochs": 10, "fixed": {"patience": 3, "batch_size": 8}}, None,
         ["fixed.batch_size: 8 (today's default: 32)"], (10, 3, 8)),
        ({"max_epochs": 10, "fixed": {}}, None, ["fixed.patience: 10 (today's default: 3)"], (10, 10, 32)),  # left
        # out of the definition: the model's default
        ({"max_epochs": 10, "fixed": {"patience": "3"}}, None, [], (10, 3, 32)),  # not a value a rule gives
        ({"max_epochs": 4, "fixed": {"patience": 1}}, ["patience"], ["fixed.patience: 1 (today's default: 3)"],
         (10, 1, 32)),  # only what was a default then
        ({"max_epochs": 10, "fixed": {}, "search": {"patience": {"kind": "int"}}}, None, [], (10, 3, 32)),  # searched
    ],
)  # fmt: skip
def test_keep_created_defaults_by_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorded: dict[str, Any] | None, names: list[str] | None,
    kept: list[str], after: tuple[int, int, int],
) -> None:  # fmt: skip
    path = tmp_path / "kept.yaml"
    path.write_text(yaml.safe_dump(RAW))
    _new(monkeypatch)
    spec = prepare(path).spec
    spec.max_epochs, spec.fixed = 10, {**spec.fixed, "patience": 3}
    assert keep_created_defaults(spec, recorded, names) == kept
    assert (spec.max_epochs, spec.fixed["patience"], spec.fixed.get("batch_size", 32)) == after


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "created before the record"])
def test_a_searched_batch_sizes_baseline_stays_the_one_its_trial_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorded: bool
) -> None:
    """(the review, 2026-12-06) A searched ``batch_size`` starts the baseline where the data would fix it
    (``spec.homes``), a rule of today: a study created before it, whose baseline trial ran TrainConfig's 32, lost
    that trial (a new baseline at 8 was trained outside the study, and #0 was called "best, regularizers off").
    The homes are recorded at creation and read back; a study without the record keeps 32."""
    from search.created_defaults import HOMES_ATTR
    from search.recipes import baseline_point

    raw = {**RAW, "search": {**RAW["search"], "batch_size": [8, 16, 32]}, "recipes": True}
    path, url = _create(tmp_path, monkeypatch, raw)
    study = _study(url)
    assert study.user_attrs[HOMES_ATTR] == {"batch_size": 8} and study.trials[0].params["batch_size"] == 8
    if not recorded:  # as a study of the day before recorded it: no homes, its baseline trial at 32
        study.set_user_attr(HOMES_ATTR, None)
    monkeypatch.setattr(defaults, "MIN_STEPS", 2)  # today's rule: batch 16 for these 32 sequences
    fresh = prepare(path, url, read_only=True).spec
    assert fresh.homes == {"batch_size": 16}
    assert definition_changes(_study(url), fresh, url) == []  # what a report reads
    assert fresh.homes == ({"batch_size": 8} if recorded else {})
    assert baseline_point(fresh)["batch_size"] == (8 if recorded else 32)


def test_a_long_study_created_with_mean_pooling_at_home_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The long-data default searched pooling mean / last until 2026-12-06 (max / mean / last today, max at home): a
    study created then resumes with its choices, and its baseline keeps the mean pooling its trial ran."""
    from search.defaults import home_point

    raw = {**RAW, "dataset": "synthetic:n=40,length=120,channels=1", "budget": {"trials": 1, "max_epochs": 1}}
    path, url = _create(tmp_path, monkeypatch, raw)
    study = _study(url)
    old = study.user_attrs[fp.DEFINITION_ATTR]
    assert old["search"]["pooling"] == {"kind": "choice", "choices": ["max", "mean", "last"]}
    old["search"]["pooling"] = {"kind": "choice", "choices": ["mean", "last"]}  # as that version recorded it
    study.set_user_attr(fp.DEFINITION_ATTR, old)
    study.set_user_attr(fp.FINGERPRINT_ATTR, fp.digest(old))
    spec = prepare(path, url).spec
    capsys.readouterr()
    ensure_study(spec, open_storage(url), total=2)  # not refused as changed
    assert "search.pooling: ['mean', 'last']" in capsys.readouterr().err
    assert spec.search["pooling"] == Choice(["mean", "last"]) and home_point(spec)["pooling"] == "mean"
