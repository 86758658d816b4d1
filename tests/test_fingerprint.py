"""An edited study file is never mixed into its study silently: a real tiny study on the journal file, then
edits of its study file; each refused edit leaves the journal byte-identical."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import yaml

from search.cli import main
from search.fingerprint import (
    DEFINITION_ATTR,
    FINGERPRINT_ATTR,
    HISTORY_ATTR,
    INCOMPATIBLE,
    SAFE,
    WIDENING,
    StudyChangedError,
    changed_error,
    classify,
    definition,
    diff,
    digest,
)
from search.spec import parse_study
from search.storage import open_storage
from search.worker import ensure_study

BASE: dict[str, Any] = {
    "name": "fp",
    "dataset": "synthetic:n=120,length=12",
    "architecture": {"cell": "gru", "hidden_size": 8},
    "budget": {"trials": 2, "max_epochs": 1},
    "sampler": "random",
    "pruner": "none",
    "cv_folds": 1,
    "introspect": False,
    "recipes": False,
    "final_seeds": 1,
    "search": {"dropout": {"low": 0.0, "high": 0.3}, "norm": ["none", "layer"]},
    "fixed": {"lr": 0.01, "batch_size": 32, "patience": 8},  # nothing left to search.defaults: the digest is BASE's
}


def edited(**changes: Any) -> dict[str, Any]:
    """BASE with top-level keys replaced; ``search__dropout=...`` replaces one dimension (None drops a key)."""
    raw = yaml.safe_load(yaml.safe_dump(BASE))
    for key, value in changes.items():
        section, _, sub = key.partition("__")
        target = raw.setdefault(section, {}) if sub else raw
        name = sub or section
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    return raw


def spec_of(raw: dict[str, Any], path: Path = Path("studies/x.yaml")) -> Any:
    return parse_study(raw, path)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny study run once to its 2 trials (and its final result cached): the journal to copy."""
    d = tmp_path_factory.mktemp("fp")
    study = d / "fp.yaml"
    study.write_text(yaml.safe_dump(BASE))
    assert main(["study", str(study), "--storage", str(d / "journal.log")]) == 0
    return d / "journal.log"


def run_edit(tmp_path: Path, journal: Path, raw: dict[str, Any], *flags: str) -> tuple[int, Path]:
    store = tmp_path / "journal.log"
    shutil.copy(journal, store)
    study = tmp_path / "fp.yaml"
    study.write_text(yaml.safe_dump(raw))
    return main(["study", str(study), "--storage", str(store), *flags]), store


REFUSED = [
    ("max_epochs", edited(budget={"trials": 2, "max_epochs": 2}), "budget.max_epochs: 1 -> 2"),
    ("dataset", edited(dataset="synthetic:n=100,length=12"),
     "dataset: synthetic:n=120,length=12 -> synthetic:n=100,length=12"),
    ("cv_folds", edited(cv_folds=2), "cv_folds: 1 -> 2"),
    ("cv_folds to the size rule", edited(cv_folds=None), "cv_folds: 1 -> none (by dataset size)"),
    ("metric", edited(metric="val_loss"), "metric: val_acc -> val_loss"),
    ("choice list", edited(search__norm=["none", "layer", "batch"]),
     "search.norm: [none, layer] -> [none, layer, batch]"),
    ("narrowed range", edited(search__dropout={"low": 0.0, "high": 0.2}), "search.dropout.high: 0.3 -> 0.2"),
    ("fixed value", edited(fixed__lr=0.02), "fixed.lr: 0.01 -> 0.02"),
    ("architecture", edited(architecture__hidden_size=16), "architecture.hidden_size: 8 -> 16"),
    ("seed", edited(seed=1), "seed: 0 -> 1"),
    ("widened range, no flag", edited(search__dropout={"low": 0.0, "high": 0.4}), "search.dropout.high: 0.3 -> 0.4"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "raw", "line"), REFUSED, ids=[c[0] for c in REFUSED])
def test_edited_study_file_is_refused_before_the_store_is_written(
    tmp_path: Path, finished: Path, capsys: pytest.CaptureFixture[str], case: str, raw: dict[str, Any], line: str
) -> None:
    capsys.readouterr()
    rc, store = run_edit(tmp_path, finished, raw)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(f"error: {tmp_path / 'fp.yaml'} no longer matches study 'fp' in {store}:"), err
    assert any(shown.startswith(f"  {line}") for shown in err.splitlines()), err
    assert "Traceback" not in err
    assert ("--allow-change" in err) == case.startswith("widened"), err
    assert store.read_bytes() == finished.read_bytes()


@pytest.mark.parametrize("case", ["fixed value", "architecture", "widened range, no flag"])
def test_a_report_of_an_edited_study_file_is_refused_before_anything_is_written(
    tmp_path: Path, finished: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """report retrained the baseline of the edited file beside trials of the stored one (best vs baseline
    -0.27, no warning) and wrote that verdict over the stored one."""
    raw, line = next((r, text) for c, r, text in REFUSED if c == case)
    store = tmp_path / "journal.log"
    shutil.copy(finished, store)
    (tmp_path / "fp.yaml").write_text(yaml.safe_dump(raw))
    capsys.readouterr()
    rc = main(["report", str(tmp_path / "fp.yaml"), "--storage", str(store), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error: {tmp_path / 'fp.yaml'} no longer matches study 'fp' in {store}:"), err
    assert any(shown.startswith(f"  {line}") for shown in err.splitlines()), err
    assert store.read_bytes() == finished.read_bytes() and not (tmp_path / "out").exists()


def test_allow_change_does_not_override_an_incompatible_edit(tmp_path: Path, finished: Path) -> None:
    rc, store = run_edit(tmp_path, finished, edited(budget={"trials": 3, "max_epochs": 2}), "--allow-change")
    assert rc == 2
    assert store.read_bytes() == finished.read_bytes()


@pytest.mark.slow
def test_widened_range_runs_with_allow_change_and_keeps_the_old_definition(tmp_path: Path, finished: Path) -> None:
    raw = edited(search__dropout={"low": 0.0, "high": 0.4}, budget={"trials": 3, "max_epochs": 1})
    rc, store = run_edit(tmp_path, finished, raw, "--allow-change")
    assert rc == 0
    study = optuna.load_study(study_name="fp", storage=open_storage(str(store)))
    new = definition(spec_of(raw, tmp_path / "fp.yaml"))
    assert study.user_attrs[DEFINITION_ATTR] == new and study.user_attrs[FINGERPRINT_ATTR] == digest(new)
    (old,) = study.user_attrs[HISTORY_ATTR]
    assert old["definition"]["search"]["dropout"]["high"] == 0.3
    assert len(study.trials) == 3
    assert main(["study", str(tmp_path / "fp.yaml"), "--storage", str(store)]) == 0  # recorded: no flag needed now


@pytest.mark.parametrize(
    "raw",
    [edited(budget={"trials": 3, "max_epochs": 1}), edited(sampler="tpe", pruner="median", description="x",
                                                           introspect=True)],
    ids=["more trials", "sampler, pruner, description, introspect"],
)  # fmt: skip
def test_safe_edits_run_without_a_flag(tmp_path: Path, finished: Path, raw: dict[str, Any]) -> None:
    rc, store = run_edit(tmp_path, finished, raw)
    assert rc == 0
    study = optuna.load_study(study_name="fp", storage=open_storage(str(store)))
    assert HISTORY_ATTR not in study.user_attrs
    assert study.user_attrs[FINGERPRINT_ATTR] == digest(definition(spec_of(BASE)))


def test_new_study_records_its_definition_before_its_starting_points(tmp_path: Path) -> None:
    spec = spec_of(edited(recipes=True), tmp_path / "fp.yaml")
    ensure_study(spec, open_storage(str(tmp_path / "j.log")))
    lines = (tmp_path / "j.log").read_text().splitlines()
    first_trial = next(i for i, line in enumerate(lines) if '"op_code":4' in line)  # CREATE_TRIAL
    defined = next(i for i, line in enumerate(lines) if FINGERPRINT_ATTR in line)
    assert defined < first_trial


def _legacy(tmp_path: Path, dataset: str) -> Path:
    """A study as regtune made it before definitions were recorded."""
    store = tmp_path / "legacy.log"
    study = optuna.create_study(study_name="fp", storage=open_storage(str(store)), direction="maximize")
    for key, value in (("regtune:study_file", "fp.yaml"), ("regtune:dataset", dataset), ("regtune:metric", "val_acc")):
        study.set_user_attr(key, value)
    return store


def test_older_study_gets_its_definition_recorded_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _legacy(tmp_path, BASE["dataset"])
    spec = spec_of(BASE, tmp_path / "fp.yaml")
    study = ensure_study(spec, open_storage(str(store)))
    assert study.user_attrs[FINGERPRINT_ATTR] == digest(definition(spec))
    assert capsys.readouterr().err.count("\n") == 1
    assert len(study.trials) == 0  # its starting points were enqueued when it was made


def test_older_study_with_another_dataset_or_direction_is_refused_unwritten(tmp_path: Path) -> None:
    store = _legacy(tmp_path, "JapaneseVowels")
    before = store.read_bytes()
    with pytest.raises(StudyChangedError, match="dataset: JapaneseVowels -> synthetic"):
        ensure_study(spec_of(BASE, tmp_path / "fp.yaml"), open_storage(str(store)))
    with pytest.raises(StudyChangedError, match="metric: val_acc -> val_loss"):
        ensure_study(spec_of(edited(dataset="JapaneseVowels", metric="val_loss")), open_storage(str(store)))
    assert store.read_bytes() == before


def test_another_file_of_the_same_name_is_named_and_not_called_an_edit(tmp_path: Path) -> None:
    """A copy of a study file that kept its `name:` (another dataset) was refused with "no longer matches ...
    undo the edit", though nothing was edited: the message now names the file that created the study."""
    store = str(tmp_path / "j.log")
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    ensure_study(spec_of(BASE, tmp_path / "a" / "first.yaml"), open_storage(store))
    copy = spec_of(edited(dataset="synthetic:n=100,length=12"), tmp_path / "b" / "copy.yaml")
    with pytest.raises(StudyChangedError) as info:
        ensure_study(copy, open_storage(store))
    text = str(info.value)
    assert text.startswith(
        f"{copy.path} does not match study 'fp' in {store}, which {tmp_path / 'a' / 'first.yaml'} created:"
    )
    assert f"if {copy.path} is another study (a copy that kept `name: fp`), give the study a new name" in text
    edit = spec_of(edited(dataset="synthetic:n=100,length=12"), tmp_path / "a" / "first.yaml")  # the same file
    with pytest.raises(StudyChangedError, match="no longer matches study 'fp'.*\n.*\n.*undo the edit, or give"):
        ensure_study(edit, open_storage(store))


def test_an_empty_study_another_program_made_with_the_other_direction_is_named_as_such(tmp_path: Path) -> None:
    """`optuna.create_study(direction="minimize")` under regtune's study name, no trials: the error said the study
    file "no longer matches" (metric: (a metric to minimize) -> val_acc) and advised undoing an edit nobody made."""
    store = tmp_path / "j.log"
    spec = spec_of(BASE, tmp_path / "fp.yaml")
    optuna.create_study(study_name=spec.name, storage=open_storage(str(store)), direction="minimize")
    before = store.read_bytes()
    with pytest.raises(StudyChangedError, match=r"is not regtune's alone \(it has no trials and no regtune records, and "
                                                r"is set to minimize where the study file's metric is to maximize\)"):  # fmt: skip
        ensure_study(spec, open_storage(str(store)))
    assert store.read_bytes() == before


# --------------------------------------------------------------------------------------------- diff wording
def d(**changes: Any) -> dict[str, Any]:
    return definition(spec_of(edited(**changes)))


DIFFS = [
    ("epochs", d(budget={"trials": 2, "max_epochs": 30}), d(budget={"trials": 2, "max_epochs": 40}),
     ["budget.max_epochs: 30 -> 40"], INCOMPATIBLE),
    ("range widened", d(), d(search__dropout={"low": 0.0, "high": 0.5}), ["search.dropout.high: 0.3 -> 0.5"], WIDENING),
    ("range narrowed", d(), d(search__dropout={"low": 0.1, "high": 0.3}), ["search.dropout.low: 0.0 -> 0.1"],
     INCOMPATIBLE),
    ("dataset", d(dataset="A.npz"), d(dataset="B.npz"), ["dataset: A.npz -> B.npz"], INCOMPATIBLE),
    ("explicit default", d(), d(architecture__num_layers=1), [], SAFE),
    ("int for a float", d(fixed__clip_norm=1.0), d(fixed__clip_norm=1), [], SAFE),
    ("fixed default", d(), d(fixed__clip_norm=0.5), ["fixed.clip_norm: 0.0 (the default) -> 0.5"], INCOMPATIBLE),
    ("off added", d(), d(search__dropout={"low": 0.0, "high": 0.3, "off": True}),
     ["search.dropout.off: false -> true"], WIDENING),
    ("off removed", d(search__dropout={"low": 0.0, "high": 0.3, "off": True}), d(),
     ["search.dropout.off: true -> false"], INCOMPATIBLE),
    ("log changed", d(search__kernel_l2={"low": 1e-5, "high": 1e-3}),
     d(search__kernel_l2={"low": 1e-5, "high": 1e-3, "log": True}), ["search.kernel_l2.log: false -> true"],
     INCOMPATIBLE),
    ("step grid kept", d(search__dropout={"low": 0.1, "high": 0.3, "step": 0.1}),
     d(search__dropout={"low": 0.0, "high": 0.4, "step": 0.1}),
     ["search.dropout.low: 0.1 -> 0.0", "search.dropout.high: 0.3 -> 0.4"], WIDENING),
    ("step grid moved", d(search__dropout={"low": 0.1, "high": 0.3, "step": 0.1}),
     d(search__dropout={"low": 0.05, "high": 0.35, "step": 0.1}), ["search.dropout.low: 0.1 -> 0.05", "search.dropout.high: 0.3 -> 0.35"], INCOMPATIBLE),
    ("dimension added at its default", d(), d(search__zoneout={"low": 0.0, "high": 0.3}),
     ["search.zoneout: (not searched: 0.0) -> {low: 0.0, high: 0.3}"], WIDENING),
    ("dimension added without its default", d(), d(search__zoneout={"low": 0.1, "high": 0.3}),
     ["search.zoneout: (not searched: 0.0) -> {low: 0.1, high: 0.3}"], INCOMPATIBLE),
    ("dimension from fixed", d(fixed__clip_norm=1.0), d(fixed__clip_norm=None, search__clip_norm={"low": 0.5, "high": 2}),
     ["search.clip_norm: (not searched: 1.0) -> {low: 0.5, high: 2.0}"], INCOMPATIBLE),
    ("dimension removed", d(), d(search__norm=None), ["search.norm: [none, layer] -> (not searched)"], INCOMPATIBLE),
    ("starting point added", d(), d(starting_points=[{"dropout": 0.1}]), ["starting_points: added {dropout: 0.1}"],
     WIDENING),
    ("recipes on", d(), d(recipes=True), ["recipes: false -> true"], WIDENING),
    ("safe keys", d(), d(budget={"trials": 50, "max_epochs": 1}, sampler="tpe", pruner="hyperband", pruner_patience=2,
                         final_seeds=5, introspect=True, description="more"), [], SAFE),
]  # fmt: skip


@pytest.mark.parametrize(("case", "old", "new", "lines", "kind"), DIFFS, ids=[c[0] for c in DIFFS])
def test_diff_wording_and_class(case: str, old: dict, new: dict, lines: list[str], kind: str) -> None:
    assert diff(old, new) == lines
    assert classify(old, new) == kind
    assert (digest(old) == digest(new)) == (kind == SAFE)


def test_the_holdout_share_under_written_folds_is_no_change() -> None:
    """With cv_folds 3 written, val_fraction acts in no trial; 0.3 -> 0.4 was refused as "not comparable"."""
    folds = {"cv_folds": 3, "val_fraction": 0.3}
    assert diff(d(**folds), d(cv_folds=3, val_fraction=0.4)) == []
    assert diff(d(**folds), d(cv_folds=3)) == []  # the line removed (the note says it acts in no trial)
    assert diff(d(cv_folds=1, val_fraction=0.3), d(cv_folds=1, val_fraction=0.4)) == ["val_fraction: 0.3 -> 0.4"]


def test_removing_a_written_setting_that_acted_in_no_trial_resumes_the_study(tmp_path: Path) -> None:
    """`fixed: {momentum: 0.95}` with AdamW acted in no trial: such a file is refused now, and removing the line
    was refused as an incompatible change, so a study made before could be neither resumed nor reported."""
    from search.spec import StudySpec

    def recorded(fixed: dict, search: dict | None = None) -> dict:  # a definition an older version recorded
        spec: StudySpec = spec_of(edited(fixed={"lr": 0.01, "batch_size": 32, "patience": 8, "optimizer": "adamw"}))
        spec.fixed = {**spec.fixed, **fixed}  # (parse_study refuses them now: set behind its back)
        # (``search`` replaces the dropout range: dropout decides dropout_variational)
        spec.search = {"dropout": spec.search["dropout"]} if search is None else search
        return definition(spec)

    now = recorded({})
    for inert in ({"momentum": 0.95}, {"layer_dropout": 0.3}):  # (bias_l2 under batch norm acts since 2026-12-06)
        old = recorded(inert)
        new = recorded({k: v for k, v in inert.items() if k == "norm"})
        assert diff(old, new) == [] and classify(old, new) == SAFE, inert
    from search.spec import Choice, Range

    # a chain: the one-layer layer_dropout was all that could let dropout_variational act
    out = {"output_dropout": Range(0.0, 0.3)}
    old = recorded({"layer_dropout": 0.3, "dropout_variational": True}, out)
    assert classify(old, recorded({}, out)) == SAFE, diff(old, recorded({}, out))
    # searched dimensions that acted in no trial, which older versions accepted
    old = recorded({"conv_layers": 0}, {**out, "conv_stride": Choice([2, 4])})
    assert classify(old, recorded({"conv_layers": 0}, out)) == SAFE
    opt = {**out, "optimizer": Choice(["adamw", "sgd"])}
    acted = recorded({"momentum": 0.95}, opt)  # SGD trials used it
    assert classify(acted, recorded({}, opt)) == INCOMPATIBLE
    assert now == recorded({})


def test_the_synthetic_task_counts_by_its_options_in_any_order() -> None:
    """`synthetic:length=6,n=40` (or with the default classes=3 written out) refused to resume the study made with
    `synthetic:n=40,length=6`: the same data."""
    old = d(dataset="synthetic:n=40,length=6")
    for same in ("synthetic:length=6,n=40", "synthetic:n=40,length=6,classes=3"):
        assert diff(old, d(dataset=same)) == [] and classify(old, d(dataset=same)) == SAFE
    assert diff(old, d(dataset="synthetic:n=41,length=6")) == [
        "dataset: synthetic:n=40,length=6 -> synthetic:n=41,length=6"
    ]


def test_two_studies_of_one_name_on_other_data_keep_their_checkpoints_apart(tmp_path: Path) -> None:
    """Checkpoints were keyed by study name and trial number: two users' copies of one study file on other data,
    one ARTIFACTS, and a resumed trial took the other study's finished fold (trained on the other data) into its
    mean. They are now kept under the study's run scope: its data by content, folds and seed."""
    from search.checkpoints import CheckpointStore
    from search.objective import Objective

    store = CheckpointStore(tmp_path / "artifacts")
    keys = {}
    for label, dataset, seed in [("a", "synthetic:n=40,length=6", 0), ("again", "synthetic:n=40,length=6", 0),
                                 ("other data", "synthetic:n=40,length=7", 0), ("other seed", "synthetic:n=40,length=6", 1)]:  # fmt: skip
        spec = spec_of(edited(dataset=dataset, seed=seed))
        trial = optuna.create_study().ask()
        keys[label] = Objective(spec, accelerator="cpu", checkpoints=store).checkpoints.trial(trial, spec.name).key
    assert keys["a"] == keys["again"]
    assert len({keys["a"], keys["other data"], keys["other seed"]}) == 3
    assert all(k.startswith("checkpoints/fp/") and k.endswith("/trial-0") for k in keys.values())


def test_dataset_file_counts_by_its_content(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays: dict[str, Any] = {"X": rng.normal(size=(6, 4, 2)), "y": np.arange(6) % 2, "X_test": rng.normal(size=(2, 4, 2)),
              "y_test": np.arange(2)}  # fmt: skip
    a = tmp_path / "a.npz"
    np.savez(a, **arrays)
    moved = tmp_path / "sub" / "b.npz"
    moved.parent.mkdir()
    shutil.copy(a, moved)
    da, dm = definition(spec_of(edited(dataset=str(a)))), definition(spec_of(edited(dataset=str(moved))))
    assert len(da["dataset"]["sha256"]) == 64
    assert digest(da) == digest(dm) and diff(da, dm) == []
    np.savez(a, **{**arrays, "y": np.arange(6) % 3})
    changed = definition(spec_of(edited(dataset=str(a))))
    (line,) = diff(da, changed)
    assert line.startswith(f"dataset: {a}: its content changed (sha256 ")
    assert classify(da, changed) == INCOMPATIBLE
    # a NAME_test.npz beside a file that holds its own test split is not read (the loader says so): it was hashed
    # in, and creating it refused the study with "its content changed"
    np.savez(tmp_path / "a_test.npz", X=arrays["X_test"], y=arrays["y_test"])
    assert definition(spec_of(edited(dataset=str(a)))) == changed
    # ... and a study an older version recorded with that unread file hashed in still resumes
    import hashlib

    legacy = hashlib.sha256(
        hashlib.sha256(a.read_bytes()).digest() + hashlib.sha256((tmp_path / "a_test.npz").read_bytes()).digest()
    )
    old = {**changed, "dataset": {**changed["dataset"], "sha256": legacy.hexdigest()}}
    assert diff(old, changed) == []


def test_a_separate_test_file_counts_by_its_content(tmp_path: Path) -> None:
    """d_train.npz + d_test.npz: the identity hashed d_train.npz and a d_train_test.npz that does not exist, so
    an edited test file went unnoticed and one study's verdicts came from two test sets."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d_train.npz", X=rng.normal(size=(6, 4, 2)), y=np.arange(6) % 2)
    np.savez(tmp_path / "d_test.npz", X=rng.normal(size=(2, 4, 2)), y=np.arange(2))
    raw = edited(dataset=str(tmp_path / "d_train.npz"))
    before = definition(spec_of(raw))
    assert len(before["dataset"]["test_sha256"]) == 64
    np.savez(tmp_path / "d_test.npz", X=rng.normal(size=(3, 4, 2)), y=np.arange(3) % 2)
    after = definition(spec_of(raw))
    (line,) = diff(before, after)
    assert line.startswith(f"dataset: {tmp_path / 'd_train.npz'}: its test file changed (sha256 ")
    assert classify(before, after) == INCOMPATIBLE
    older = {**before, "dataset": {k: v for k, v in before["dataset"].items() if k != "test_sha256"}}
    assert diff(older, after) == []  # a study recorded before the test file was: recorded on resume, not refused
    assert digest(before) != digest(after)  # the stored fingerprint tells them apart, so the study checks it

    store = open_storage(str(tmp_path / "j.log"))  # what `study` and `report` do with it
    np.savez(tmp_path / "d_test.npz", X=rng.normal(size=(2, 4, 2)), y=np.arange(2))
    study = ensure_study(spec_of(raw), store)
    np.savez(tmp_path / "d_test.npz", X=rng.normal(size=(3, 4, 2)), y=np.arange(3) % 2)
    with pytest.raises(StudyChangedError, match="its test file changed") as refused:
        ensure_study(spec_of(raw), store)
    # not "the finished trials would not be comparable": the trials never read it, the verdict does
    assert "the trials never read the test split, but the study's verdict" in str(refused.value)
    assert "would not be comparable" not in str(refused.value)
    study.set_user_attr(DEFINITION_ATTR, older := {**older, "dataset": {**older["dataset"]}})
    study.set_user_attr(FINGERPRINT_ATTR, digest(older))  # as an earlier version recorded it
    ensure_study(spec_of(raw), store)
    assert (
        study.user_attrs[DEFINITION_ATTR]["dataset"]["test_sha256"]
        == definition(spec_of(raw))["dataset"]["test_sha256"]
    )  # recorded on resume


@pytest.mark.postgres
def test_postgres_study_refuses_an_edit_without_writing(tmp_path: Path) -> None:
    import uuid

    import psycopg2

    url = "postgresql://postgres@127.0.0.1:5432/test"
    name = f"fp-{uuid.uuid4().hex[:8]}"
    spec = spec_of({**BASE, "recipes": True, "name": name}, tmp_path / "fp.yaml")
    study = ensure_study(spec, open_storage(url))
    assert study.user_attrs[FINGERPRINT_ATTR] == digest(definition(spec))

    def rows() -> tuple[int, ...]:
        with psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test") as conn:
            cur = conn.cursor()
            out = []
            for table in ("studies", "study_user_attributes", "study_directions", "trials"):
                key = "study_name = %s" if table == "studies" else "study_id = %s"
                cur.execute(
                    f"SELECT count(*) FROM {table} WHERE {key}", (name if table == "studies" else study._study_id,)
                )  # noqa: S608
                out.append(cur.fetchone()[0])
        return tuple(out)

    try:
        before = rows()
        for raw in (edited(name=name, metric="val_loss"), edited(name=name, search__dropout={"low": 0.0, "high": 0.4})):
            with pytest.raises(StudyChangedError, match=f"no longer matches study '{name}' in {url}"):
                ensure_study(spec_of(raw, tmp_path / "fp.yaml"), open_storage(url), store=url)
        assert rows() == before
        again = ensure_study(
            spec_of(edited(name=name, recipes=True, sampler="tpe"), tmp_path / "fp.yaml"), open_storage(url)
        )
        assert len(again.trials) == len(study.trials) > 0
    finally:  # the shared test database kept one study a run
        optuna.delete_study(study_name=name, storage=open_storage(url))


def test_a_change_that_moves_the_baseline_enqueues_the_baseline_and_recipes_it_moved(tmp_path: Path) -> None:
    """Widening lr from 5e-3..5e-2 to 1e-3..5e-2 moves the baseline's lr from 5e-3 (the range's end nearest the
    default) to the default 3e-3: the verdict's baseline row then ran 3e-3 "from a CV run here" beside the trial
    labelled baseline (5e-3), and every recipe built on 5e-3 was compared with it ("input dropout 0.2": +0.076,
    significant, where it had been -0.009). The change now enqueues the moved baseline and recipes; points it did
    not move are not enqueued twice."""
    from search.recipes import BASELINE

    fixed = {"batch_size": 32, "patience": 8}
    raw = edited(recipes=True, fixed=fixed, search__lr={"low": 5e-3, "high": 5e-2, "log": True})
    storage = open_storage(str(tmp_path / "j.log"))
    study = ensure_study(spec_of(raw, tmp_path / "fp.yaml"), storage)
    first = [(t.user_attrs["recipe"], t.system_attrs["fixed_params"]) for t in study.trials]
    assert first[0][0] == BASELINE and all(p["lr"] == 5e-3 for _, p in first)
    wide = edited(recipes=True, fixed=fixed, search__lr={"low": 1e-3, "high": 5e-2, "log": True})
    study = ensure_study(spec_of(wide, tmp_path / "fp.yaml"), storage, allow_change=True)
    added = [(t.user_attrs["recipe"], t.system_attrs["fixed_params"]) for t in study.trials[len(first) :]]
    assert [label for label, _ in added] == [label for label, _ in first]  # the baseline first, every recipe
    assert all(p["lr"] == 3e-3 and {**p, "lr": 5e-3} == old for (_, p), (_, old) in zip(added, first))
    again = ensure_study(spec_of({**wide, "description": "x"}, tmp_path / "fp.yaml"), storage, allow_change=True)
    assert len(again.trials) == 2 * len(first)  # nothing moved this time: nothing enqueued


def test_a_dimension_added_with_allow_change_enqueues_only_the_new_points(tmp_path: Path) -> None:
    """A new searched dimension gives every starting point a new Optuna param (at the value the old trials ran):
    compared by params every point was enqueued again, and the study re-ran the baseline and each recipe
    identically. Compared by configuration only the new dimension's own recipes are new."""
    raw = edited(recipes=True)
    storage = open_storage(str(tmp_path / "j.log"))
    study = ensure_study(spec_of(raw, tmp_path / "fp.yaml"), storage)
    first = [t.user_attrs["recipe"] for t in study.trials]
    wider = edited(recipes=True, search__recurrent_dropout={"low": 0.0, "high": 0.3})  # holds the default 0
    study = ensure_study(spec_of(wider, tmp_path / "fp.yaml"), storage, allow_change=True)
    added = [t.user_attrs["recipe"] for t in study.trials[len(first) :]]
    assert added and all(label.startswith("recurrent dropout") for label in added), added


@pytest.mark.parametrize("section", ["fixed", "search"])
def test_a_study_that_fixed_or_searched_the_seed_stays_readable(tmp_path: Path, section: str) -> None:
    """An older version let a study file fix or search ``seed`` (with no effect: the study's seed won). Such a
    file is refused now; with the line removed, its stored definition still held it, and every command called
    the study incompatible: unreadable for good."""
    storage = open_storage(str(tmp_path / "j.log"))
    study = ensure_study(spec_of(BASE, tmp_path / "fp.yaml"), storage)
    old = dict(study.user_attrs[DEFINITION_ATTR])
    seed = {"kind": "range", "low": 0, "high": 3, "log": False, "step": None, "off": False, "integer": True}
    old[section] = {**old[section], "seed": 3 if section == "fixed" else seed}
    assert diff(old, definition(spec_of(BASE, tmp_path / "fp.yaml"))) == []


def test_trials_before_a_widening_are_not_taken_for_a_lost_parameter(tmp_path: Path, finished: Path) -> None:
    """A dimension added and an ``off`` switch added with --allow-change: the trials before them have neither
    parameter, and ran the value their ``config`` records. The check of finished trials against their
    configuration (a lost parameter record) must not call them damaged, before or after the widening's trials."""
    from search.config_check import mismatched

    raw = edited(
        search__dropout={"low": 0.0, "high": 0.3, "off": True},
        search__recurrent_dropout={"low": 0.0, "high": 0.3},
        budget={"trials": 3, "max_epochs": 1},
    )
    rc, store = run_edit(tmp_path, finished, raw, "--allow-change")
    assert rc == 0
    study = optuna.load_study(study_name="fp", storage=open_storage(str(store)))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 3 and "recurrent_dropout" not in done[0].params and "dropout_on" in done[2].params
    assert mismatched(study) == []
    assert main(["study", str(tmp_path / "fp.yaml"), "--storage", str(store)]) == 0


@pytest.mark.parametrize(
    ("found", "advice"),
    [
        ([(INCOMPATIBLE, "dataset: d.npz: its content changed (sha256 aaa -> bbb)")],
         "put back the data file the study ran on (its sha256 is above), or give"),
        ([(INCOMPATIBLE, "dataset: d.npz: its test file changed (sha256 aaa -> bbb)")], "put the old test file back"),
        ([(INCOMPATIBLE, "dataset: d.npz: its content changed (sha256 aaa -> bbb)"),
          (INCOMPATIBLE, "architecture.hidden_size: 64 -> 32")], "(its sha256 is above) and undo the edit, or give"),
        ([(INCOMPATIBLE, "architecture.hidden_size: 64 -> 32")], "comparable with new ones: undo the edit, or give"),
        # (the journey probe) run_study's arrays are no file
        ([(INCOMPATIBLE, "dataset: memory: its content changed (sha256 aaa -> bbb)")],
         "put back the arrays the study ran on (its sha256 is above), or give"),
    ],
)  # fmt: skip
def test_a_changed_data_file_is_not_called_an_edit_of_the_study_file(found: list, advice: str) -> None:
    """The data probe (2026-12-06): a study whose .npz changed under the same path was told to "undo the edit", of a
    study file nobody had edited."""
    text = str(changed_error(spec_of(edited()), "journal.log", found))
    assert advice in text, text


@pytest.mark.parametrize(
    ("found", "rules"),
    [
        (
            [
                (
                    INCOMPATIBLE,
                    "search.conv_kernel: [0, 16] -> [8, 0] (a choice list cannot change in an existing study)",
                ),
                (INCOMPATIBLE, "search.branch_dropout: (not searched: 0.0) -> {low: 0.0, high: 0.9}"),
            ],
            True,
        ),
        (
            [
                (INCOMPATIBLE, "search.conv_kernel: [0, 16] -> [8, 0]"),
                (INCOMPATIBLE, "search.norm: [none] -> [none, layer]"),
            ],
            False,
        ),
        ([(INCOMPATIBLE, "fixed.conv_norm: batch -> none (the default)")], False),
    ],
    ids=["only-rules", "and-an-edit", "a-fixed-value"],
)
def test_a_change_of_the_data_dependent_rules_is_not_called_an_edit(found: list, rules: bool) -> None:
    """A study made by an older version whose rules chose other front-end dimensions was told to "undo the edit"
    where nobody had edited anything (the upgrade probe, 2026-12-06): such a change says what to write to resume."""
    spec = spec_of(edited())
    spec.defaulted.update(conv_kernel="[8, 0]: from the data", branch_dropout="0..0.9: from the data")
    text = str(changed_error(spec, "journal.log", found))
    assert ("nothing was edited" in text and "left of '->' above" in text) is rules
    assert ("undo the edit" in text) is not rules
    if rules:
        assert "leaves conv_kernel, branch_dropout to the data-dependent defaults" in text


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("report", "the report would retrain its verdict's rows as the file says now, beside trials that ran the stored one"),
        ("worker", "the finished trials would not be comparable with new ones"),
    ],
)  # fmt: skip
def test_a_changed_data_file_is_refused_in_the_words_of_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, said: str
) -> None:
    """(the faults10 probe) a report on a study whose data file changed was refused, rightly, in the study's words:
    "the finished trials would not be comparable with new ones", of a command that runs no trial."""
    from tests.helpers import run_main, write_study

    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    arrays = {"X": rng.normal(size=(40, 6, 1)), "y": np.arange(40) % 2, "X_test": rng.normal(size=(10, 6, 1)),
              "y_test": np.arange(10) % 2}  # fmt: skip
    np.savez(data, **arrays)
    study = write_study(tmp_path, "changed", dataset=str(data), budget={"trials": 1, "max_epochs": 1})
    store = ("--storage", str(tmp_path / "journal.log"))
    assert run_main(capsys, "worker", str(study), *store).returncode == 0
    np.savez(data, **{**arrays, "X": arrays["X"] + 1.0})
    out = run_main(capsys, command, str(study), *store)
    assert out.returncode == 2 and "its content changed (sha256 " in out.stderr, out.stderr
    assert said in out.stderr and "put back the data file the study ran on" in out.stderr, out.stderr
    assert command == "worker" or "new ones" not in out.stderr


#: (case, the study file of the second run, --allow-change, a line the refusal holds): a regtune study whose store
#: says minimize where its metric (val_acc) is to maximize (the store edited: the journal's first record)
FLIPPED = [
    ("unchanged file", BASE, False, "direction: minimize in the store, where metric val_acc is to maximize"),
    ("widened, --allow-change", edited(search__dropout={"low": 0.0, "high": 0.4}), True, "direction: minimize in"),
    ("widened", edited(search__dropout={"low": 0.0, "high": 0.4}), False, "search.dropout.high: 0.3 -> 0.4"),
]


@pytest.mark.parametrize(("case", "raw", "allow", "words"), FLIPPED, ids=[c[0] for c in FLIPPED])
def test_a_study_whose_stored_direction_disagrees_with_its_metric_is_refused_with_it(
    tmp_path: Path, case: str, raw: dict[str, Any], allow: bool, words: str
) -> None:
    """The stores12 probe: the refusal said "metric: val_acc -> val_acc" (nothing that differs), and any edit of the
    study file replaced that line with the edit's own, so a widened search with --allow-change ran on, the sampler
    minimizing the accuracy. The direction's line now stays, and the store is not written."""
    store = tmp_path / "j.log"
    ensure_study(spec_of(BASE, tmp_path / "fp.yaml"), open_storage(str(store)))
    lines = store.read_text().splitlines(keepends=True)
    assert '"directions":[2]' in lines[0], lines[0]  # (Optuna's StudyDirection.MAXIMIZE)
    store.write_text(lines[0].replace('"directions":[2]', '"directions":[1]') + "".join(lines[1:]))
    before = store.read_bytes()
    with pytest.raises(StudyChangedError) as info:
        ensure_study(spec_of(raw, tmp_path / "fp.yaml"), open_storage(str(store)), allow_change=allow)
    assert words in str(info.value) and "metric: val_acc -> val_acc" not in str(info.value), str(info.value)
    assert store.read_bytes() == before
