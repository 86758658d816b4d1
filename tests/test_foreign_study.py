"""A storage that already holds a study of the same name that regtune did not write (a hand-written Optuna
script's, another tool's): every command refuses it with one line and leaves the store byte for byte as it was.

Before: ``make study`` ran its trials into the other study (mixing them with its 3 trials of parameter ``x``)
and then crashed in the verdict (``KeyError: 'config'``); ``make report`` crashed the same way.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search.storage import open_storage
from tests.helpers import run_main, write_study


def _someone_elses_study(url: str, name: str) -> None:
    study = optuna.create_study(study_name=name, storage=open_storage(url), direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=3)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "kind"),
    [("study", "journal"), ("worker", "journal"), ("report", "journal"), ("figures", "journal"),
     ("retry", "journal"), ("study", "sqlite")],
)  # fmt: skip
def test_a_study_regtune_did_not_write_is_refused_and_left_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, kind: str
) -> None:
    """(The command runs in this process, run_main: a refusal needs no process of its own, and a fresh interpreter
    cost 4-5 s of imports a case.)"""
    study = write_study(tmp_path, name="mine")
    path = tmp_path / ("journal.log" if kind == "journal" else "store.db")
    url = str(path) if kind == "journal" else f"sqlite:///{path}"
    _someone_elses_study(url, "mine")
    before = path.read_bytes()

    out = run_main(capsys, command, str(study), "--storage", url)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith("error: study 'mine' in ") and "is not regtune's alone" in line, line
    assert "3 trial(s), parameters: x" in line and f"Give the study another name: in {study}" in line
    assert path.read_bytes() == before  # nothing written: not a trial, not an attribute


def test_an_empty_study_of_the_same_name_is_adopted(tmp_path: Path) -> None:
    """An empty study (regtune's own creation cut short before its attributes, or created by hand) has nothing
    to mix up: the study runs in it."""
    from search.spec import load_study
    from search.worker import ensure_study

    path = write_study(tmp_path, name="empty")
    storage = open_storage(str(tmp_path / "journal.log"))
    optuna.create_study(study_name="empty", storage=storage, direction="maximize")
    study = ensure_study(load_study(path), storage, total=1)
    assert study.user_attrs["regtune:study_file"] == str(path)


def test_a_study_with_several_objectives_is_refused_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty two-objective study of the same name: study, worker and report ended in ``RuntimeError: A single
    direction cannot be retrieved from a multi-objective study``."""
    study = write_study(tmp_path, name="two")
    url = str(tmp_path / "journal.log")
    optuna.create_study(study_name="two", storage=open_storage(url), directions=["maximize", "minimize"])
    _refused_untouched(study, url, capsys, "it has 2 objectives; a regtune study has one")


def test_trials_another_program_ran_in_a_regtune_study_are_named_not_picked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plain Optuna script optimized into a finished regtune study: the next study run counted its trials as
    finished, picked one (value 5.46) as the best, and crashed with ``KeyError: 'config'``; so did report."""
    from optuna.trial import TrialState, create_trial

    from search.preflight import prepare
    from search.worker import ensure_study

    path = write_study(tmp_path, name="mixed")
    url = str(tmp_path / "journal.log")
    study = ensure_study(prepare(path).spec, open_storage(url), total=2)
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=5.46, params={"x": 0.5}, distributions=dist))
    _refused_untouched(
        path, url, capsys, "were run by another program, not regtune, or lost their configuration record"
    )


def _refused_untouched(study: Path, url: str, capsys: pytest.CaptureFixture[str], words: str) -> None:
    """study and report each exit 2 with one line holding ``words``, and the journal stays byte for byte."""
    from search import cli

    before = Path(url).read_bytes()
    for command in ("study", "report"):
        assert cli.main([command, str(study), "--storage", url]) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert words in line and "Give the study another name" in line, line
    assert Path(url).read_bytes() == before


def _one_trial_study(tmp_path: Path, url: str, name: str, trials: int = 1) -> Path:
    from search.preflight import prepare
    from search.worker import ensure_study, run_worker

    budget = {"trials": trials, "max_epochs": 1}
    path = write_study(tmp_path, name=name, budget=budget, introspect=False, recipes=False)
    spec = prepare(path, url).spec
    storage = open_storage(url)
    ensure_study(spec, storage, total=trials)
    run_worker(spec, storage, trials)
    return path


def test_a_complete_trial_without_its_value_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A complete trial whose value is gone (a row deleted in PostgreSQL, a store edited by hand): `make study`
    counted it as finished and `make report` ended in a TypeError traceback from Optuna's history figure (the
    faults probe). Both now stop with one line that names the trial and what to do, and write nothing."""
    from search import cli

    url = str(tmp_path / "journal.log")
    path = _one_trial_study(tmp_path, url, "novalue")
    storage = open_storage(url)
    study = optuna.load_study(study_name="novalue", storage=storage)
    trial_id = storage.create_new_trial(study._study_id)
    for key, value in study.trials[0].user_attrs.items():  # a regtune trial: its config and records
        storage.set_trial_user_attr(trial_id, key, value)
    storage.set_trial_state_values(trial_id, optuna.trial.TrialState.COMPLETE, None)  # as the deleted row leaves it
    before = Path(url).read_bytes()
    capsys.readouterr()
    for command in ("study", "report"):
        assert cli.main([command, str(path), "--storage", url]) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert "1 of its complete trials (#1) have no value: the store was edited or damaged" in line, line
        assert f"WHERE trial_id IN ({trial_id}))" in line, line  # the exact statement, not "(...)"
    assert Path(url).read_bytes() == before


@pytest.mark.postgres
@pytest.mark.slow
def test_a_value_set_to_null_in_postgresql_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`UPDATE trial_values SET value = NULL`: Optuna's reading of the trial asserts, and `make study` and `make
    report` printed a 40-line traceback ending in AssertionError (the faults probe). (The commands run in this
    process, run_main: 4-5 s of imports less each.)"""
    import uuid

    import psycopg2

    from tests.helpers import open_postgres

    url = "postgresql://postgres@127.0.0.1:5432/test"
    open_postgres(url)
    name = f"null-{uuid.uuid4().hex[:8]}"
    path = _one_trial_study(tmp_path, url, name)
    try:
        with psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test") as conn:
            conn.cursor().execute(
                "UPDATE trial_values SET value = NULL WHERE trial_id IN (SELECT trial_id FROM trials t JOIN studies "
                "s ON s.study_id = t.study_id WHERE s.study_name = %s)",
                (name,),
            )
        for command in ("study", "report"):
            out = run_main(capsys, command, str(path), "--storage", url)
            assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
            assert "cannot be read" in out.stderr or "have no value" in out.stderr, out.stderr
    finally:  # the shared test database keeps no study of a run
        optuna.delete_study(study_name=name, storage=open_storage(url))


def _two_trial_sqlite(tmp_path: Path, name: str) -> tuple[Path, str, Path]:
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    return _one_trial_study(tmp_path, url, name, trials=2), url, db


@pytest.mark.slow
@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ("UPDATE trials SET number = 0 WHERE number = 1", "1 trial number(s) name more than one trial (#0: trial ids 1, 2)"),
        ("ALTER TABLE trial_values RENAME TO tv_x", "none of its 2 complete trials has a value: the table of values"),
    ],
)  # fmt: skip
def test_an_edited_database_store_is_one_line_naming_the_edit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: str, words: str
) -> None:
    """The faults probe (2026-12-06): two trials sharing a number (set by hand, or a trial deleted and the next one
    numbered by count) ran on, "#0" naming two trials in the summary, the report and make retry; a renamed
    trial_values, created again empty when Optuna opened the store, was blamed on each trial with the advice to
    mark them all failed. Both are one line now, exit 2, before anything runs."""
    import sqlite3

    from search import cli

    path, url, db = _two_trial_sqlite(tmp_path, "edited")
    with sqlite3.connect(db) as conn:
        conn.execute(edit)
    capsys.readouterr()
    for command in ("study", "report"):
        more = ["--trials", "3"] if command == "study" else []
        assert cli.main([command, str(path), "--storage", url, *more]) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert words in line, line
        if "number" in words:
            assert "UPDATE trials SET number = r.n FROM" in line, line
    if "number" in words:  # the statement the line gives mends the store: the study runs on
        statement = line[line.index("UPDATE trials SET") : line.index("; the notes")]
        with sqlite3.connect(db) as conn:
            conn.execute(statement)
        assert cli.main(["report", str(path), "--storage", url, "--out", str(tmp_path / "report")]) == 0


@pytest.mark.slow
def test_a_dropped_table_of_per_epoch_values_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The faults8 probe: a dropped trial_intermediate_values, created again empty when the store was opened, left
    `make report` exiting 0 with every curve gone and not a word. The trials' values and the verdict are whole, and a
    SQLite repair that cannot read that table back leaves nothing to restore: a warning, and the report is written."""
    import sqlite3

    path, url, db = _two_trial_sqlite(tmp_path, "curves")
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE trial_intermediate_values")
    done = run_main(capsys, "report", str(path), "--storage", url, "--out", str(tmp_path / "report"))
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "per-epoch values" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: study 'curves': none of its 2 complete trials"), warned
    assert "their results and the verdict are not" in warned[0], warned
    assert (tmp_path / "report" / "curves" / "index.html").is_file()


@pytest.mark.postgres
@pytest.mark.slow
def test_two_trials_sharing_a_number_in_postgresql_are_one_line_and_the_statement_mends_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the real server: a trial numbered by hand as another one (of the two, Optuna's cache showed one) stops
    study and report with one line, and the UPDATE statement the line gives mends the study. (The commands run in
    this process, run_main: 4-5 s of imports less each.)"""
    import uuid

    import psycopg2

    from tests.helpers import open_postgres

    url = "postgresql://postgres@127.0.0.1:5432/test"
    open_postgres(url)
    name = f"twice-{uuid.uuid4().hex[:8]}"
    path = _one_trial_study(tmp_path, url, name)
    ids = "SELECT trial_id FROM trials t JOIN studies s ON s.study_id = t.study_id WHERE s.study_name = %s"
    try:
        storage = open_storage(url)
        study = optuna.load_study(study_name=name, storage=storage)
        trial_id = storage.create_new_trial(study._study_id)  # a second trial (#1), then numbered #0 by hand
        storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
        with psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test") as conn:
            cur = conn.cursor()
            cur.execute(f"{ids} ORDER BY trial_id", (name,))
            first, second = (row[0] for row in cur.fetchall())  # not consecutive: other tests share the database
            cur.execute(f"UPDATE trials SET number = 0 WHERE trial_id IN ({ids})", (name,))
        for command in ("study", "report"):
            more = ["--trials", "1"] if command == "study" else []
            out = run_main(capsys, command, str(path), "--storage", url, *more)
            assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
            line = out.stderr.strip().splitlines()[-1]
            assert f"1 trial number(s) name more than one trial (#0: trial ids {first}, {second})" in line, line
        statement = line[line.index("UPDATE trials SET") : line.index("; the notes")]
        with psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test") as conn:
            conn.cursor().execute(statement)
        assert sorted(t.number for t in optuna.load_study(study_name=name, storage=open_storage(url)).trials) == [0, 1]
    finally:  # the shared test database keeps no study of a run
        optuna.delete_study(study_name=name, storage=open_storage(url))


#: (case, the edit of a new SQLite study's store before its first trial, the words of the refusal)
LOST_POINTS = [
    ("dropped table", "DROP TABLE trial_system_attributes", "of its waiting starting points (#0 ("),
    ("one row deleted", "DELETE FROM trial_system_attributes WHERE key = 'fixed_params' AND trial_id = "
     "(SELECT max(trial_id) FROM trials)", "1 of its waiting starting points (#"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "edit", "words"), LOST_POINTS, ids=[c[0] for c in LOST_POINTS])
def test_a_starting_point_that_lost_its_parameters_is_not_run_as_a_sampled_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, edit: str, words: str
) -> None:
    """The stores12 probe: a waiting baseline or recipe trial whose ``fixed_params`` were gone (a dropped
    trial_system_attributes, created again empty when Optuna opened the store) ran a configuration the sampler
    proposed, under the starting point's name, exit 0: the verdict's baseline could be any sampled point. Now one
    line, exit 2, before any trial runs; the report, which runs none, still reads the study."""
    import sqlite3

    from search import cli
    from search.preflight import prepare
    from search.worker import ensure_study

    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    path = write_study(tmp_path, name="lostpoints", budget={"trials": 2, "max_epochs": 1}, introspect=False)
    ensure_study(prepare(path, url).spec, open_storage(url), total=2)
    waiting = [t.number for t in optuna.load_study(study_name="lostpoints", storage=url).trials]
    assert len(waiting) >= 2, waiting  # the baseline and the recipes
    with sqlite3.connect(db) as conn:
        conn.execute(edit)
    capsys.readouterr()
    assert cli.main(["study", str(path), "--storage", url]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert words in line and "lost the parameters they were enqueued with" in line, line
    trials = optuna.load_study(study_name="lostpoints", storage=url).trials
    assert [(t.number, t.state.name) for t in trials] == [(n, "WAITING") for n in waiting]


#: (case, the waiting trial added beside a finished baseline: its params (None: none), its fixed_params (None:
#: none), whether the study is refused as having lost a starting point's parameters)
WAITING_POINTS = [
    ("a copy of the baseline with its params", "baseline", None, False),  # runs them, as a re-queued copy does
    ("a copy with its params and fixed_params", "baseline", "baseline", False),
    ("an enqueued point (fixed_params)", None, "baseline", False),
    ("a label without either", None, None, True),  # what a dropped trial_system_attributes leaves
]


@pytest.mark.parametrize(("case", "params", "fixed", "refused"), WAITING_POINTS, ids=[c[0] for c in WAITING_POINTS])
def test_a_waiting_starting_point_that_holds_its_parameters_is_not_lost(
    tmp_path: Path, case: str, params: str | None, fixed: str | None, refused: bool
) -> None:
    """The review12 probe: a user re-running the finished baseline by adding a WAITING copy of it (its params,
    distributions and label, as regtune's requeue makes copies) was refused as a starting point that "lost the
    parameters it was enqueued with" and "would train a sampled configuration"; Optuna runs a waiting trial's own
    params. Only a labelled waiting trial with neither params nor fixed_params is lost."""
    from optuna.trial import TrialState

    from search.preflight import prepare
    from search.space import suggest
    from search.storage import StorageError
    from search.worker import ensure_study

    url = f"sqlite:///{tmp_path / 'store.db'}"
    spec = prepare(write_study(tmp_path, name="copies", introspect=False), url).spec
    study = ensure_study(spec, open_storage(url), total=4)
    trial = study.ask()  # the baseline (enqueued first): its values suggested, told without training
    trial.set_user_attr("config", suggest(trial, spec))
    study.tell(trial, 0.5)
    base = study.trials[trial.number]
    study.add_trial(
        optuna.create_trial(
            state=TrialState.WAITING, user_attrs={"recipe": base.user_attrs["recipe"]},
            params=base.params if params else {}, distributions=base.distributions if params else {},
            system_attrs={"fixed_params": base.system_attrs["fixed_params"]} if fixed else {},
        )
    )  # fmt: skip
    if refused:
        with pytest.raises(StorageError, match="lost the parameters they were enqueued with"):
            ensure_study(spec, open_storage(url), total=4)
    else:
        ensure_study(spec, open_storage(url), total=4)


@pytest.mark.slow
@pytest.mark.parametrize(
    "edit",
    [
        'UPDATE trial_params SET distribution_json = \'{"name": "Nope", "attributes": {}}\'',
        "UPDATE trial_params SET distribution_json = '[1]'",
        "UPDATE trial_params SET param_value = 7, distribution_json = "
        '\'{"name": "CategoricalDistribution", "attributes": {"choices": [0, 1]}}\'',
        "UPDATE trial_params SET param_value = NULL, distribution_json = "
        '\'{"name": "CategoricalDistribution", "attributes": {"choices": [0, 1]}}\'',
    ],
)
def test_a_parameter_row_its_distribution_cannot_read_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: str
) -> None:
    """The stores14 probe: a trial_params row Optuna cannot read back (a categorical's param_value set to NULL or
    past its choices, an unknown distribution class; seen in PostgreSQL and SQLite alike) made `make study` and
    `make report` a traceback ending in TypeError / IndexError / ValueError from optuna.distributions, exit 1."""
    import sqlite3

    from search import cli

    path, url, db = _two_trial_sqlite(tmp_path, "params")
    with sqlite3.connect(db) as conn:
        conn.execute(edit)
    before = db.read_bytes()
    capsys.readouterr()
    for command in ("study", "report"):
        more = ["--trials", "3"] if command == "study" else []
        assert cli.main([command, str(path), "--storage", url, *more]) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert line.startswith(f"error: storage {url}: a stored trial parameter cannot be read ("), line
        assert line.endswith("the database was edited or damaged; restore a backup copy"), line
    assert db.read_bytes() == before
