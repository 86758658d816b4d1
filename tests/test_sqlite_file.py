"""A damaged SQLite study file: refused before anything reads or writes it (one line, exit 2, the file unchanged),
then rebuilt by ``python -m search repair`` from every readable row, and the study resumes. The damage is a real
page of a real regtune study's file overwritten, as a disk error or a half-copied file leaves it."""

from __future__ import annotations

import argparse
import contextlib
import errno
import sqlite3
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.cli import storage_failure
from search.sqlite_file import FAILED_BY_REPAIR, LOST_CONFIG, _short, check_sqlite, repair_sqlite
from search.storage import StorageError, foreign, open_storage
from tests.helpers import ROOT, assert_access_kept, copies_cut_short, run_cli, run_main, write_study


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A real study of 3 finished trials in a SQLite file: (study file, the file's bytes)."""
    where = tmp_path_factory.mktemp("sqlite")
    study = write_study(
        where, "stiny", budget={"trials": 3, "max_epochs": 2}, introspect=False, final_seeds=1,
        search={"dropout": {"low": 0.0, "high": 0.3}},
    )  # fmt: skip
    leftover = ROOT / "runs" / "stiny"
    assert not leftover.exists()
    run = run_cli("worker", str(study), "--storage", f"sqlite:///{where / 'study.db'}", "--trials", "3")
    assert run.returncode == 0, run.stderr
    # introspect: false draws no figures: an empty runs/stiny/artifacts was left in the working directory
    assert not leftover.exists()
    return study, (where / "study.db").read_bytes()


def copy(finished: tuple[Path, bytes], tmp_path: Path) -> Path:
    db = tmp_path / "study.db"
    db.write_bytes(finished[1])
    return db


def url(db: Path) -> str:
    return f"sqlite:///{db}"


def trials(db: Path) -> dict[int, tuple[TrialState, float | None]]:
    study = optuna.load_study(study_name="stiny", storage=open_storage(url(db)))
    return {t.number: (t.state, t.value) for t in study.get_trials(deepcopy=False)}


def damage(db: Path, table: str) -> int:
    """Overwrite the first leaf page of ``table`` (or index) with garbage, as a disk error does; its page number."""
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    page = conn.execute("SELECT min(pageno) FROM dbstat WHERE name = ? AND pagetype = 'leaf'", (table,)).fetchone()[0]
    conn.close()
    assert page is not None, table
    with open(db, "r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(b"\xab" * page_size)
    return int(page)


# --------------------------------------------------------------------------------------------- table-driven
CASES = [
    # (id, the page damaged, finished trials expected as before, trials marked failed, table named in the report)
    ("an-index", "ix_trials_study_id", {0, 1, 2}, set(), None),
    ("intermediate-values", "trial_intermediate_values", {0, 1, 2}, set(), "trial_intermediate_values"),
    # trials #0 and #1 kept their `config` there: failed, to be run again (kept complete without it, the next `make
    # study` called them "run by another program" and told the user to rename the study; the faults probe)
    ("user-attributes", "trial_user_attributes", {2}, {0, 1}, "trial_user_attributes"),
    # each trial keeps its value beside it (objective_value): put back, exactly, still complete
    ("values", "trial_values", {0, 1, 2}, set(), "trial_values"),
    ("trials", "trials", {0, 1, 2}, set(), "trials"),  # rebuilt from their values and value_is (were all lost)
]


@pytest.mark.parametrize("page,intact,failed,named", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_repair_keeps_every_readable_finished_trial(
    finished: tuple[Path, bytes], tmp_path: Path, page: str, intact: set[int], failed: set[int], named: str | None
) -> None:
    db = copy(finished, tmp_path)
    before = trials(db)
    assert len(before) == 3 and all(state == TrialState.COMPLETE for state, _ in before.values())
    damage(db, page)
    damaged = db.read_bytes()
    with pytest.raises(StorageError, match=r"SQLite file .*study\.db is damaged .*make repair"):
        check_sqlite(url(db))
    assert db.read_bytes() == damaged  # the check wrote nothing

    report = repair_sqlite(db, echo=False)
    check_sqlite(url(db))  # intact now
    assert report.backup is not None and report.backup.read_bytes() == damaged
    after = trials(db)  # Optuna reads the rebuilt file
    assert {n for n, v in after.items() if v == before[n]} == intact
    assert set(report.failed.get("stiny", [])) == failed
    assert {n for n, (state, _) in after.items() if state == TrialState.FAIL} == failed
    if named is None:
        assert report.damaged == {}
    else:
        assert set(report.damaged) == {named}, report.damaged
        assert f"table {named}: " in "\n".join(report.lines())
    study = optuna.load_study(study_name="stiny", storage=open_storage(url(db)))
    assert foreign(study) is None  # regtune's own study still: `make study` resumes it
    for n in failed:
        assert study.trials[n].user_attrs["fail_reason"] == (
            LOST_CONFIG if page == "trial_user_attributes" else FAILED_BY_REPAIR
        )
    if page == "trial_values":  # failed all 3 finished trials (a review, 2026-12-05): now put back from the attribute
        assert report.revalued == {"stiny": [0, 1, 2]} and "lost values put back" in "\n".join(report.lines())
    if page == "trials":  # the table's only leaf: every row lost, every trial's values and attributes intact
        assert report.restored == {"stiny": [0, 1, 2]} and "rebuilt from their surviving values" in "\n".join(
            report.lines()
        )
        (tmp_path / "intact.db").write_bytes(finished[1])
        intact_study = optuna.load_study(study_name="stiny", storage=open_storage(url(tmp_path / "intact.db")))
        assert [(t.state, t.value, t.params) for t in study.trials] == [
            (t.state, t.value, t.params) for t in intact_study.trials
        ]


def test_lost_values_of_trials_recorded_before_objective_value_fail_them(
    finished: tuple[Path, bytes], tmp_path: Path
) -> None:
    """A study recorded before trials kept ``objective_value``: a lost value page still fails its trials (their
    6-digit fold scores are not the value the sampler learned from)."""
    db = copy(finished, tmp_path)
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM trial_user_attributes WHERE key = 'objective_value'")
    conn.commit()
    conn.close()
    damage(db, "trial_values")
    report = repair_sqlite(db, echo=False)
    assert report.failed == {"stiny": [0, 1, 2]} and report.revalued == {}
    assert {state for state, _ in trials(db).values()} == {TrialState.FAIL}


def test_a_symlinked_file_is_rebuilt_at_its_target(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    db = copy(finished, tmp_path)
    damage(db, "trial_user_attributes")
    link = tmp_path / "elsewhere" / "study.db"
    link.parent.mkdir()
    link.symlink_to(db)
    report = repair_sqlite(link, echo=False)
    assert link.is_symlink() and report.backup is not None and report.backup.parent == db.parent
    check_sqlite(url(db))  # the real file is intact now


def test_an_intact_file_is_left_alone(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    db = copy(finished, tmp_path)
    report = repair_sqlite(db, echo=False)
    assert report.damage is None and report.backup is None
    assert "nothing to repair" in report.lines()[0]
    assert db.read_bytes() == finished[1] and list(tmp_path.iterdir()) == [db]


def test_a_damaged_table_list_is_refused_and_the_file_kept(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    db = copy(finished, tmp_path)
    damage(db, "sqlite_schema")
    damaged = db.read_bytes()
    with pytest.raises(StorageError, match="table list is damaged .*the file was not changed"):
        repair_sqlite(db, echo=False)
    assert db.read_bytes() == damaged


@pytest.mark.parametrize("pages_lost", [1, 2], ids=["last-page", "two-pages"])
def test_a_file_cut_short_is_rebuilt_from_the_pages_that_are_there(
    finished: tuple[Path, bytes], tmp_path: Path, pages_lost: int
) -> None:
    """An interrupted copy or a full disk: the header still counts every page, SQLite then called the table list
    itself malformed, and repair sent the user to a backup although every trial was on the pages that were there."""
    db = copy(finished, tmp_path)
    before = trials(db)
    page_size = int.from_bytes(finished[1][16:18], "big")
    db.write_bytes(finished[1][: len(finished[1]) - pages_lost * page_size])
    with pytest.raises(StorageError, match=r"SQLite file .*study\.db is damaged .*make repair"):
        check_sqlite(url(db))
    report = repair_sqlite(db, echo=False)
    pages = len(finished[1]) // page_size
    assert report.cut == (pages - pages_lost, pages)
    assert f"the file was cut short: {pages - pages_lost} of the {pages} pages" in "\n".join(report.lines())
    check_sqlite(url(db))  # intact now
    after = trials(db)
    finished_after = {n: v for n, v in after.items() if v[0] == TrialState.COMPLETE}
    assert all(before[n] == v for n, v in finished_after.items())  # never a changed one
    assert set(after) == set(before)  # the study's trial rows were on the pages that are there ...
    study = optuna.load_study(study_name="stiny", storage=open_storage(url(db)))
    for t in study.trials:  # ... and a trial whose `config` was on a lost page is failed, to be run again
        assert t.state == TrialState.COMPLETE or t.user_attrs["fail_reason"] == LOST_CONFIG
    assert foreign(study) is None
    assert not (tmp_path / "study.db.whole-pages").exists()


@pytest.mark.parametrize("kept", [2, 10], ids=["half", "a-tenth"])
def test_a_file_cut_past_its_table_list_is_not_sent_to_repair(
    finished: tuple[Path, bytes], tmp_path: Path, kept: int
) -> None:
    """A file cut to half (or a tenth) of its pages: every command sent the user to make repair, which then said
    nothing could be rebuilt (the stores14 probe); the first line now says so itself, and leaves no file behind."""
    db = copy(finished, tmp_path)
    cut = finished[1][: len(finished[1]) // kept]
    db.write_bytes(cut)
    with pytest.raises(StorageError) as caught:
        check_sqlite(url(db))
    line = str(caught.value)
    assert "its table list too" in line and "make repair cannot help; restore a backup copy" in line, line
    assert "make repair STUDY" not in line and "\n" not in line
    assert db.read_bytes() == cut and sorted(p.name for p in tmp_path.iterdir()) == ["study.db"]
    with pytest.raises(StorageError, match="nothing can be rebuilt from it"):  # what repair itself finds
        repair_sqlite(db, echo=False)


def test_a_storage_failing_mid_way_is_one_line_naming_it() -> None:
    try:
        try:
            raise sqlite3.DatabaseError("database disk image is malformed")
        except sqlite3.DatabaseError as inner:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from inner
    except optuna.exceptions.StorageInternalError as exc:
        args = argparse.Namespace(storage="postgresql://u:secret@db:5432/x")
        line = storage_failure(args, exc)
    assert "\n" not in line and "secret" not in line
    assert "database disk image is malformed" in line and "db:5432" in line and "rerun to resume" in line


@pytest.mark.parametrize(
    ("words", "retried"),
    [
        ("database is locked", True),  # another writer: waiting mends it
        ("database or disk is full", False),
        ("Could not decode to UTF-8 column 'value_json' with text ...", False),
        ("database disk image is malformed", False),
        ("attempt to write a readonly database", False),
    ],
)
def test_only_sqlite_failures_that_waiting_mends_are_retried(words: str, retried: bool) -> None:
    """SQLAlchemy calls every SQLite failure an OperationalError, as it does a lost connection: a full disk and a
    value that is not UTF-8 were retried for 60 s, then "lost the storage" (the faults probe). A full disk gets the
    free-space line at once, as the journal's does."""
    import sqlalchemy.exc

    from search.cli import full_disk
    from search.storage import transient

    try:
        try:
            raise sqlite3.OperationalError(words)
        except sqlite3.OperationalError as inner:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, inner) from inner
    except sqlalchemy.exc.OperationalError as exc:
        assert transient(exc) == retried
        full = full_disk(exc)
        assert (full is not None and full.errno == errno.ENOSPC) == ("full" in words)


def test_a_stored_value_that_is_not_utf8_is_one_line_at_once(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    """One flipped byte in a study attribute: 60 s of "unreachable, retrying", then "lost the storage", and repair
    found nothing (SQLite's check does not read text). Now one line at once that names the damage."""
    db = copy(finished, tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE study_user_attributes SET value_json = CAST(X'7B22ff22' AS TEXT) WHERE rowid = "
                     "(SELECT max(rowid) FROM study_user_attributes)")  # fmt: skip
    start = time.monotonic()
    with pytest.raises(StorageError, match=r"a stored value is not readable text .*restore a backup copy"):
        optuna.load_study(study_name="stiny", storage=open_storage(url(db))).user_attrs  # noqa: B018
    assert time.monotonic() - start < 10


#: (table, column, a value one flipped bit away from Optuna's): every command was a traceback, "LookupError:
#: 'COMPLEVE' is not among the defined enum values" (SQLite's check reads no values; the stores13 probe)
UNKNOWN_VALUES = [
    ("trials", "state", "COMPLEVE"),
    ("study_directions", "direction", "MAXIMIZF"),
    ("trial_values", "value_type", "FINITD"),
    ("trial_intermediate_values", "intermediate_value_type", "FINITD"),
]


@pytest.mark.parametrize(("table", "column", "bad"), UNKNOWN_VALUES, ids=[c[0] for c in UNKNOWN_VALUES])
def test_a_value_optuna_does_not_know_is_one_line_naming_it(
    finished: tuple[Path, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, column: str, bad: str
) -> None:
    db = copy(finished, tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = (SELECT max(rowid) FROM {table})", (bad,))  # noqa: S608
    damaged = db.read_bytes()
    for command in ("study", "report"):
        run = run_main(capsys, command, str(finished[0]), "--storage", url(db))
        assert run.returncode == 2 and "Traceback" not in run.stderr and run.stderr.count("\n") == 1, run.stderr
        assert f"SQLite file {db} holds a value Optuna cannot read, {table}.{column} {bad!r} (" in run.stderr
        assert "a damaged value; restore a backup copy, or set it with sqlite3" in run.stderr, run.stderr
    assert db.read_bytes() == damaged  # nothing was written


# --------------------------------------------------------------------------------------------- the command line
@pytest.mark.slow
def test_a_damaged_file_stops_every_command_until_repair_then_resumes(
    finished: tuple[Path, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """(Every command runs in this process, run_main: the refusals and the repair need no process of their own, and
    each fresh interpreter cost 4-5 s of imports.)"""
    db = copy(finished, tmp_path)
    before = trials(db)
    damage(db, "trial_intermediate_values")
    damaged = db.read_bytes()
    for command in ("study", "worker", "report"):
        run = run_main(capsys, command, str(finished[0]), "--storage", url(db))
        assert run.returncode == 2, (command, run.stdout, run.stderr)
        assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, (command, run.stderr)
        assert f"SQLite file {db} is damaged" in run.stderr, run.stderr
        assert f"make repair STUDY={finished[0]} STORAGE={url(db)}" in run.stderr, run.stderr
    assert db.read_bytes() == damaged  # nothing was written

    run = run_main(capsys, "repair", str(finished[0]), "--storage", url(db))
    assert run.returncode == 0, run.stderr
    assert f"repaired SQLite file {db}" in run.stdout and "study stiny: 3 complete" in run.stdout, run.stdout
    assert trials(db) == before

    run = run_main(capsys, "worker", str(finished[0]), "--storage", url(db), "--trials", "4")
    assert run.returncode == 0, run.stderr
    after = trials(db)
    assert len(after) == 4 and all(after[n] == v for n, v in before.items())


def test_another_workers_write_is_not_damage(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    """A write transaction held by another process (here: this one) longer than the check waits: not damage."""
    import search.sqlite_file as module

    db = copy(finished, tmp_path)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        wait, module.LOCK_WAIT = module.LOCK_WAIT, 0.1
        try:
            check_sqlite(url(db))  # no StorageError
        finally:
            module.LOCK_WAIT = wait
    finally:
        writer.execute("ROLLBACK")
        writer.close()


@pytest.mark.parametrize(
    "content,words",
    [
        (b'{"op_code":0,"worker_id":"w"}\n', "it is a journal file: give it as STORAGE="),
        (b"hello\n", "not a SQLite database .*its header was overwritten: restore a backup copy"),
        (b"\0" * 8192, "its header is zero bytes, lost: restore a backup copy of it, or move it aside"),
    ],
    ids=["a-journal", "a-text-file", "zeros"],
)
def test_a_file_that_is_no_sqlite_database_is_refused_not_repaired(tmp_path: Path, content: bytes, words: str) -> None:
    db = tmp_path / "x.db"
    db.write_bytes(content)
    for attempt in (
        lambda: check_sqlite(url(db)),
        lambda: repair_sqlite(db, echo=False),
        lambda: open_storage(url(db)),
    ):
        with pytest.raises(StorageError, match=words):
            attempt()
    assert db.read_bytes() == content and [p.name for p in tmp_path.iterdir()] == ["x.db"]


# --------------------------------------------------------------------------------------------- larger tables, row by row
@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict[int, tuple[float, dict]]]:
    """An Optuna study of 40 finished trials (two parameters each) in a SQLite file of 512-byte pages, so that every
    table spans several leaf pages: (the file's bytes, number -> (value, params))."""
    db = tmp_path_factory.mktemp("many") / "many.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA page_size = 512")
    conn.execute("VACUUM")
    conn.close()
    storage = optuna.storages.RDBStorage(url(db))
    study = optuna.create_study(study_name="many", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("k", 0, 9), n_trials=40)
    storage.engine.dispose()
    return db.read_bytes(), {t.number: (t.value, t.params) for t in study.trials}


def damage_leaf(db: Path, table: str, index: int) -> None:
    conn = sqlite3.connect(db)
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'", (table,))]
    conn.close()
    assert len(pages) > index + 1, pages  # a middle leaf
    with open(db, "r+b") as f:
        f.seek((pages[index] - 1) * size)
        f.write(b"\xab" * size)


def test_lost_trial_rows_come_back_as_placeholders_so_numbers_are_never_reused(
    many: tuple[bytes, dict], tmp_path: Path
) -> None:
    db = tmp_path / "many.db"
    db.write_bytes(many[0])
    damage_leaf(db, "trials", 1)
    report = repair_sqlite(db, echo=False)
    lost = report.placeholders["many"]
    assert lost and set(lost) < set(range(40)), lost
    study = optuna.load_study(study_name="many", storage=open_storage(url(db)))
    trials = study.trials
    assert [t.number for t in trials] == list(range(40))
    for t in trials:
        if t.number in lost:
            assert t.state == TrialState.FAIL and "placeholder" in t.user_attrs["fail_reason"]
        else:
            assert t.state == TrialState.COMPLETE and (t.value, t.params) == many[1][t.number]
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)  # the next trial takes a new number
    assert [t.number for t in study.trials] == list(range(41))


def test_a_lost_parameter_page_fails_the_trials_it_may_have_held(many: tuple[bytes, dict], tmp_path: Path) -> None:
    db = tmp_path / "many.db"
    db.write_bytes(many[0])
    damage_leaf(db, "trial_params", 1)
    report = repair_sqlite(db, echo=False)
    failed = set(report.failed["many"])
    assert failed and len(failed) < 40
    for t in optuna.load_study(study_name="many", storage=open_storage(url(db))).trials:
        if t.number in failed:
            assert t.state == TrialState.FAIL and t.value is None and "parameters" in t.user_attrs["fail_reason"]
        else:  # a trial left complete has every parameter and its value, unchanged
            assert t.state == TrialState.COMPLETE and (t.value, t.params) == many[1][t.number]


def test_a_writer_killed_mid_transaction_is_no_damage(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    """A hot -journal left by a SIGKILLed writer: SQLite rolls it back on the next normal open; before, the
    read-only check called the file damaged and the repair could not read it either."""
    import signal
    import subprocess
    import sys
    import time

    db = copy(finished, tmp_path)
    before = trials(db)
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "c.execute('PRAGMA cache_size = 1'); c.execute('BEGIN')\n"
        "c.execute(\"UPDATE trial_user_attributes SET value_json = '\\\"' || hex(randomblob(3000)) || '\\\"'\")\n"
        "print('written', flush=True); time.sleep(60)\n"
    )], stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert writer.stdout is not None and writer.stdout.readline().strip() == "written"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert Path(str(db) + "-journal").exists()  # the hot journal of the cut transaction
    time.sleep(0.1)
    check_sqlite(url(db))  # no StorageError
    assert trials(db) == before  # rolled back: every trial as it was


def test_lost_trial_rows_of_two_studies_are_refused_not_guessed(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    """With every trial row lost and two studies in the file, whose trials the surviving values were cannot be
    told: the repair refuses and leaves the file as it was."""
    db = copy(finished, tmp_path)
    other = optuna.create_study(study_name="other", storage=url(db))
    other.add_trial(optuna.trial.create_trial(value=0.5, params={}, distributions={}))
    del other
    damage(db, "trials")
    damaged = db.read_bytes()
    with pytest.raises(StorageError, match=r"which study's trials they were cannot be told \(2 studies"):
        repair_sqlite(db, echo=False)
    assert db.read_bytes() == damaged


def test_another_programs_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    """sqlite:/// pointing at another application's database: Optuna's tables were written into it beside its
    own (a journal file of another program is refused; this was not)."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    before = path.read_bytes()
    with pytest.raises(StorageError, match=r"is another program's database \(tables: customers; no Optuna tables\)"):
        check_sqlite(f"sqlite:///{path}")
    assert path.read_bytes() == before


def test_a_file_cut_in_the_middle_of_its_last_page_is_damage_that_repair_rebuilds(
    finished: tuple[Path, bytes], tmp_path: Path
) -> None:
    """Cut by half a page, SQLite read the missing bytes as zeros: quick_check passed, the study then failed on a
    value stored there ("not readable JSON ... restore a backup copy") and repair said "nothing to repair"."""
    db = copy(finished, tmp_path)
    before = trials(db)
    page_size = int.from_bytes(finished[1][16:18], "big")
    db.write_bytes(finished[1][: len(finished[1]) - page_size // 2])
    assert "the file is cut short" in (_short(db) or "")  # said even where quick_check passes (a probe's file)
    with pytest.raises(StorageError, match=r"SQLite file .*study\.db is damaged .*make repair"):
        check_sqlite(url(db))
    report = repair_sqlite(db, echo=False)
    pages = len(finished[1]) // page_size
    assert report.cut == (pages - 1, pages)
    check_sqlite(url(db))  # intact now
    after = trials(db)
    assert all(before[n] == v for n, v in after.items() if v[0] == TrialState.COMPLETE)
    assert set(after) == set(before)
    study = optuna.load_study(study_name="stiny", storage=open_storage(url(db)))
    for t in study.trials:  # complete as before, or failed because its `config` was on the lost half page
        assert t.state == TrialState.COMPLETE or t.user_attrs["fail_reason"] == LOST_CONFIG
    assert foreign(study) is None


def test_a_rebuilt_file_keeps_its_permissions_and_owner(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    """The rebuilt file replaced the study's with the repairer's umask and owner (a group-writable 0660 file became
    0644, another user's the repairer's): the study's own user could no longer write it."""
    db = copy(finished, tmp_path)
    damage(db, "trial_intermediate_values")
    assert_access_kept(db, lambda: repair_sqlite(db, echo=False))
    check_sqlite(url(db))


@pytest.mark.parametrize(
    "revision, words",
    [
        ("v3.0.0.d", ["revision v3.0.0.d, older than", "back it up (copy ", ".venv/bin/optuna storage upgrade --storage sqlite:///"]),
        ("v9.9.9.z", ["revision v9.9.9.z, which this regtune's Optuna does not know", "the regtune version (and its Optuna) that created it"]),
    ],
    ids=["older schema", "newer schema"],
)  # fmt: skip
def test_a_schema_revision_optuna_refuses_names_both_revisions_and_the_remedy(
    tmp_path: Path, revision: str, words: list[str]
) -> None:
    """Optuna's refusal said the schema was "set up by optuna 5.0.0" (its own version) and advised ``pip install -U
    optuna`` (which leaves constraints.txt's pins), or ``optuna storage upgrade --storage $STORAGE_URL`` unfilled.
    Now one line: the revision found, the one this Optuna uses, and the command (after a backup) or the version to
    use; exit 2."""
    db = tmp_path / "study.db"
    optuna.storages.RDBStorage(url(db)).engine.dispose()  # Optuna's schema at this Optuna's head revision
    head = sqlite3.connect(db).execute("SELECT version_num FROM alembic_version").fetchone()[0]
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    with pytest.raises(StorageError) as err:
        open_storage(url(db))
    line = str(err.value)
    assert "\n" not in line and f"{head}, the one this regtune's Optuna {optuna.__version__} uses" in line, line
    assert "pip install" not in line and "$STORAGE_URL" not in line and "set up by" not in line, line
    for word in words:
        assert word in line, (word, line)
    study = write_study(tmp_path, "stiny")
    out = run_cli("report", str(study), "--storage", url(db))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and f"revision {revision}" in out.stderr, out.stderr


def test_an_interrupted_backup_copy_leaves_no_file_named_like_a_backup(
    finished: tuple[Path, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during a repair's backup copy left a partial ``study.db.bak-<time>`` named like a whole one (the
    faults probe, 2026-12-06): the copy is made under a temporary name and renamed into place."""

    db = copy(finished, tmp_path)
    damage(db, "trial_values")
    damaged = db.read_bytes()
    copies_cut_short(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        repair_sqlite(db, echo=False)
    assert db.read_bytes() == damaged and sorted(p.name for p in tmp_path.iterdir()) == ["study.db"]


@pytest.mark.parametrize(
    ("store", "hint"),
    [
        ("sqlite:///study.db", "copy study.db aside"),
        ("sqlite:///runs/study.db?timeout=30", "copy runs/study.db aside"),
        ("sqlite:////abs/my study.db", "copy '/abs/my study.db' aside"),
    ],
)
def test_the_backup_before_a_schema_upgrade_names_the_file(store: str, hint: str) -> None:
    """The backup step of an older schema's line copied ``'study.db?timeout=30'``, a file that does not exist."""
    from search.storage import _backup_hint

    assert _backup_hint(store) == hint


def test_a_store_lost_while_opening_is_not_asked_for_its_schema_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection lost for the whole retry window was followed by one more connection (10 s of connect timeout on
    PostgreSQL) to read a schema revision that had nothing to do with it."""
    import sqlalchemy.exc

    import search.storage as storage_module

    def lost(*args: object, **kwargs: object) -> None:
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    looked: list[str] = []
    monkeypatch.setattr(storage_module, "RETRY_SECONDS", 0.0)
    monkeypatch.setattr(storage_module.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(optuna.storages, "RDBStorage", lost)
    monkeypatch.setattr(storage_module, "schema_refused", lambda u: looked.append(u))
    with pytest.raises(StorageError, match="server closed the connection unexpectedly"):
        open_storage(url(tmp_path / "study.db"))
    assert looked == []


@pytest.mark.parametrize(
    "lost_race",
    ["UNIQUE constraint failed: alembic_version.version_num", "table trial_params already exists"],
)
def test_a_new_file_opened_by_two_processes_at_once_opens_in_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], lost_race: str
) -> None:
    """Two ``make worker`` (or two ``study`` commands) on one new SQLite file: no advisory lock serializes Optuna's
    schema creation there, and the one that stamped ``alembic_version`` (or created a table) second ended with
    ``cannot open storage ...: (sqlite3.IntegrityError) UNIQUE constraint failed: alembic_version.version_num``
    (the faults5 probe: 1 to 2 of 3 processes started together), or retried announcing a lost connection. Opened
    again the schema is there: the loser opens it, without a word."""
    import sqlalchemy.exc

    import search.storage as storage_module

    real = optuna.storages.RDBStorage
    calls: list[int] = []

    def loses_once(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            real(*args, **kwargs)  # the other process's schema, complete
            kind = sqlalchemy.exc.IntegrityError if "UNIQUE" in lost_race else sqlalchemy.exc.OperationalError
            raise kind("INSERT INTO alembic_version ...", {}, Exception(lost_race))
        return real(*args, **kwargs)

    monkeypatch.setattr(storage_module.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(optuna.storages, "RDBStorage", loses_once)
    storage = open_storage(url(tmp_path / "study.db"))
    assert len(calls) == 2
    assert storage.get_all_studies() == []
    assert capsys.readouterr().err == ""


def test_optuna_tables_missing_a_column_with_no_revision_record_are_refused_before_any_write(tmp_path: Path) -> None:
    """An older schema whose ``alembic_version`` row was lost (or tables made by hand): Optuna stamped it as its own,
    regtune created the study and enqueued its baseline, and the first read failed (``column trial_values.value_type
    does not exist ... make repair``), leaving a half-made study (the faults5 probe, on PostgreSQL). Now: one line
    naming the table and column, nothing written."""
    db = tmp_path / "study.db"
    optuna.storages.RDBStorage(url(db))  # the full schema, stamped
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE trial_values DROP COLUMN value_type")
        conn.execute("DELETE FROM alembic_version")
    before = db.read_bytes()
    with pytest.raises(StorageError, match=r"trial_values lacks value_type.*no schema revision.*nothing was written"):
        open_storage(url(db))
    assert db.read_bytes() == before
    study = write_study(tmp_path, "cols", budget={"trials": 1, "max_epochs": 1}, introspect=False, final_seeds=1)
    run = run_cli("worker", str(study), "--storage", url(db), "--trials", "1")
    assert run.returncode == 2, run.stderr
    assert "trial_values lacks value_type" in run.stderr and "Traceback" not in run.stderr
    assert db.read_bytes() == before


def _killed_writer(db: Path, statements: str) -> None:
    """Run ``statements`` (Python lines, ``c`` an autocommit connection to ``db``) in a process that then dies at once
    (``os._exit(9)``: a writer SIGKILLed mid-work, its transaction or its ``-wal`` left as they are)."""
    import subprocess
    import sys

    code = (
        "import os, sqlite3, sys\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        + statements
        + "os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(db)], check=False)


def _hot_journal(db: Path) -> None:
    """Leave a hot ``-journal`` beside ``db``: a writer killed inside a transaction that spilled pages to the file."""
    _killed_writer(
        db,
        "c.execute('PRAGMA cache_size=1'); c.execute('BEGIN')\n"
        "c.execute(\"UPDATE trials SET state='FAIL'\"); c.execute('DELETE FROM trial_params')\n"
        "[c.execute('INSERT INTO study_user_attributes(study_id, key, value_json) VALUES (1, ?, ?)',"
        " (f'junk{i}', 'x' * 3000)) for i in range(200)]\n",
    )
    assert db.with_name(db.name + "-journal").stat().st_size > 0


def test_a_killed_writers_hot_journal_is_rolled_back_and_leaves_no_copies(
    finished: tuple[Path, bytes], tmp_path: Path
) -> None:
    db = copy(finished, tmp_path)
    _hot_journal(db)
    check_sqlite(url(db))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.db"]
    assert {state for state, _ in trials(db).values()} == {TrialState.COMPLETE}


def _refused_with_both_kept(db: Path, side: str, said: str) -> list[Path]:
    """``check_sqlite`` of ``db`` refused with ``said`` (never "nothing was written"), the file and its ``-side``
    (journal, wal) kept beside it as they were: their copies, the side's first."""
    with pytest.raises(StorageError, match=said) as caught:
        check_sqlite(url(db))
    assert "nothing was written" not in str(caught.value)
    kept = sorted(db.parent.glob(f"{db.name}*.bak-*"))
    assert [p.name.split(".bak-")[0] for p in kept] == [f"{db.name}-{side}", db.name]
    return kept


def test_a_stale_journal_rolled_back_into_a_restored_file_keeps_both_and_says_so(
    finished: tuple[Path, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file restored from a copy beside the ``-journal`` a killed writer of another copy left: SQLite rolls that
    journal into the restored file at the first open (quick_check's), which damages it, and the line said "nothing
    was written to it" (the faults5 probe; ``make repair`` then failed: "does not read back through Optuna"). Now
    the file and the journal as they were are kept, and the line says what happened and what to do."""
    import search.sqlite_file as sqlite_file

    db = copy(finished, tmp_path)
    journal = db.with_name("study.db-journal")
    journal.write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + bytes(504))  # a journal header's start: stands in

    def rolled_back_into_damage(path: Path) -> str:
        journal.unlink()  # what SQLite's rollback does at the end
        path.write_bytes(path.read_bytes()[:4096] + bytes(len(finished[1]) - 4096))
        return "NUMERIC value in trial_params.param_name"

    monkeypatch.setattr(sqlite_file, "problem", rolled_back_into_damage)
    kept = _refused_with_both_kept(db, "journal", r"after SQLite rolled back the study\.db-journal left beside it.*put "
                                   r"the copy back without the -journal")  # fmt: skip
    assert kept[1].read_bytes() == finished[1] and kept[0].read_bytes()[:8] == b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7"


def _wal_of_a_killed_writer(db: Path) -> bytes:
    """Put ``db`` in WAL mode (a user's ``PRAGMA journal_mode=WAL``, another tool's), then: its bytes as a copy taken
    now (a backup), and a writer that moves the file on past that copy and is killed with more of its writes still
    in the ``-wal`` (SIGKILL, a lost machine)."""
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        for i in range(40):  # a longer study's pages: two tables' rows interleaved, as trials write them
            for table in ("trial_user_attributes", "trial_system_attributes"):
                conn.execute(
                    f"INSERT INTO {table}(trial_id, key, value_json) VALUES (1, ?, ?)", (f"k{i}", f'"{i:0500}"')
                )
        assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    backup = db.read_bytes()
    _killed_writer(  # the file's pages laid out anew (a VACUUM), then one more row of a trial in the WAL only
        db,
        "c.execute('DELETE FROM trial_intermediate_values'); c.execute('VACUUM')\n"
        "c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.execute('PRAGMA wal_autocheckpoint=0')\n"
        "c.execute('INSERT INTO trial_user_attributes(trial_id, key, value_json) VALUES (1, ?, ?)', ('later', '1'))\n",
    )
    assert db.with_name(db.name + "-wal").stat().st_size > 0
    return backup


# (the file beside the killed writer's -wal: its own, or a copy taken before the writer moved it on; damaged)
WAL_CASES = [("the writer's own file", False), ("a restored older copy", True)]


@pytest.mark.parametrize(("beside", "damaged"), WAL_CASES, ids=[c[0] for c in WAL_CASES])
def test_a_wal_replayed_into_a_restored_copy_keeps_both_and_says_so(
    finished: tuple[Path, bytes], tmp_path: Path, beside: str, damaged: bool
) -> None:
    """A file in WAL mode restored from a copy beside the ``-wal`` a killed writer of a later copy left: SQLite
    replayed that WAL into the restored file at the first open (the check's), damaging it, and deleted the WAL;
    the line said "nothing was written to it" and kept nothing (the faults10 probe: a user's backup, moved into
    place, was lost). Now both are copied first and the line says what to do, as for a stale ``-journal``; the
    killed writer's own WAL is replayed into its own file cleanly and leaves no copies."""
    db = copy(finished, tmp_path)
    backup = _wal_of_a_killed_writer(db)
    wal = db.with_name("study.db-wal")
    wal_bytes = wal.read_bytes()
    if damaged:
        db.write_bytes(backup)
    if not damaged:
        check_sqlite(url(db))
        assert not list(tmp_path.glob("*.bak-*"))
        assert {state for state, _ in trials(db).values()} == {TrialState.COMPLETE}
        return
    kept = _refused_with_both_kept(db, "wal", r"after SQLite replayed the study\.db-wal left beside it.*put the copy "
                                   r"back without the -wal \(and -shm\)")  # fmt: skip
    assert kept[1].read_bytes() == backup and kept[0].read_bytes() == wal_bytes


def test_rows_whose_json_does_not_parse_are_dropped_and_the_rebuilt_file_reads_back(
    finished: tuple[Path, bytes], tmp_path: Path
) -> None:
    """(the faults5 probe) A file mixed with pages of another copy of it held rows SQLite reads and Optuna does not:
    the rebuilt file "does not read back through Optuna (Expecting value: line 1 column 1)", and nothing could be
    repaired. Such rows are dropped; a trial that lost a parameter row is failed, to be run again."""
    db = copy(finished, tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE trial_user_attributes SET value_json = 'not json' WHERE rowid = (SELECT min(rowid) "
                     "FROM trial_user_attributes WHERE key != 'config' AND trial_id = (SELECT trial_id FROM trials "
                     "WHERE number = 0))")  # fmt: skip
        conn.execute("UPDATE trial_params SET distribution_json = '{\"na' WHERE rowid = (SELECT min(rowid) FROM "
                     "trial_params WHERE trial_id = (SELECT trial_id FROM trials WHERE number = 2))")  # fmt: skip
    damage(db, "ix_trials_study_id")  # damage quick_check sees: the repair runs
    report = repair_sqlite(db, echo=False)
    assert report.failed["stiny"] == [2], report.failed
    assert "1 rows dropped: their value_json is not JSON" in report.damaged["trial_user_attributes"]
    assert "1 rows dropped: their distribution_json is not JSON" in report.damaged["trial_params"]
    states = trials(db)
    assert states[2][0] == TrialState.FAIL
    assert states[0][0] == states[1][0] == TrialState.COMPLETE


@pytest.mark.parametrize("fault", ["the journal deleted meanwhile", "no room for the file's copy"])
def test_a_journal_that_is_no_pair_with_the_file_leaves_no_copies(
    finished: tuple[Path, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """A ``-journal`` beside the file while another worker writes (not hot: its writer commits and deletes it). The
    copy of the file took long enough that the journal was gone when its own copy was taken: the OSError ended the
    pair, and the file's whole copy was left behind at every such open (3 copies of a 41 MB file in 30 opens beside
    a writer, review6). Nothing is left behind now."""
    import errno

    import search.sqlite_file as sqlite_file

    db = copy(finished, tmp_path)
    journal = db.with_name("study.db-journal")
    journal.write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + bytes(504))
    real = sqlite_file.backup_copy

    def copied(path: Path) -> Path:
        if path == db:
            if fault.startswith("no room"):
                raise OSError(errno.ENOSPC, "No space left on device")
            out = real(path)
            journal.unlink()  # the writer committed meanwhile
            return out
        return real(path)

    monkeypatch.setattr(sqlite_file, "backup_copy", copied)
    monkeypatch.setattr(sqlite_file, "problem", lambda path: None)
    check_sqlite(url(db))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "study.db-journal") == ["study.db"]


def test_a_pruned_trial_that_lost_a_parameter_row_is_failed_too(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    """A pruned trial is finished as a complete one is: kept pruned without a parameter (its row's JSON did not
    parse), every command after the repair stopped on "1 of its finished trials do not match the configuration
    they recorded (#2: no parameter dropout ...)", and a second repair found nothing to do (review6)."""
    from search.config_check import mismatched

    db = copy(finished, tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE trials SET state = 'PRUNED' WHERE number = 2")
        conn.execute("DELETE FROM trial_values WHERE trial_id = (SELECT trial_id FROM trials WHERE number = 2)")
        conn.execute("UPDATE trial_params SET distribution_json = '{\"na' WHERE rowid = (SELECT min(rowid) FROM "
                     "trial_params WHERE trial_id = (SELECT trial_id FROM trials WHERE number = 2))")  # fmt: skip
    damage(db, "ix_trials_study_id")
    report = repair_sqlite(db, echo=False)
    assert report.failed["stiny"] == [2], report.failed
    study = optuna.load_study(study_name="stiny", storage=open_storage(url(db)))
    assert {t.number: t.state for t in study.trials}[2] == TrialState.FAIL
    assert mismatched(study) == []


@pytest.mark.slow  # SQLite's own busy waits: ~25 s opening, ~10 s writing
@pytest.mark.parametrize("when", ["opening", "writing"])
def test_a_sqlite_file_locked_by_another_process_is_called_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], when: str
) -> None:
    """(the faults probe) A SQLite file held by another writer (a `BEGIN IMMEDIATE` left open) was "unreachable",
    then "lost the storage ... for 65 s", with no word of the process holding it."""
    import subprocess
    import sys

    from search import storage as st

    monkeypatch.setattr(st, "RETRY_SECONDS", 2.0)
    monkeypatch.setattr("search.sqlite_file.LOCK_WAIT", 1.0)  # the damage check's own wait for the lock
    path = tmp_path / "s.db"
    url = f"sqlite:///{path}"
    store = st.open_storage(url)
    optuna.create_study(study_name="a", storage=store)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
         "c.execute('BEGIN EXCLUSIVE'); print('held', flush=True); time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(st.StorageError) as raised:
            if when == "opening":
                st.open_storage(url)
            else:
                st.RetryingStorage(store.inner, url, seconds=2.0).create_new_study([], "b")
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert f"storage {url}" in err and st.LOCKED in err and "unreachable" not in err, err
    said = st.LOCKED if when == "opening" else "stayed locked by another process for "
    assert said in str(raised.value) and "lost the storage" not in str(raised.value), raised.value
