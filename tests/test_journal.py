"""The embedded journal store survives a torn write: a real study's journal file, damaged the ways a crash or a
full disk damages it, then reopened (a torn last record set aside), refused (damage in the middle: one line,
exit 2) and repaired (``python -m search repair``)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.journal import REPAIRED_ATTR, check_journal, repair_journal
from search.storage import StorageError, open_storage
from tests.helpers import assert_access_kept, copies_cut_short, glued, run_cli, run_main, write_study, zeroed

STUDY = {
    "name": "jtiny",
    "dataset": "synthetic",
    "architecture": {"cell": "gru", "hidden_size": 8},
    "budget": {"trials": 2, "max_epochs": 2},
    "sampler": "random",
    "pruner": "none",
    "cv_folds": 1,
    "introspect": False,
    "final_seeds": 1,
    "search": {"dropout": {"low": 0.0, "high": 0.3}},
    "fixed": {"lr": 0.01, "batch_size": 32},
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A real study of 2 finished trials in its journal file: (study file, the journal's bytes)."""
    where = tmp_path_factory.mktemp("journal")
    study = write_study(where, "jtiny", STUDY)
    run = run_cli("worker", str(study), "--storage", str(where / "journal.log"), "--trials", "2")
    assert run.returncode == 0, run.stderr
    return study, (where / "journal.log").read_bytes()


def copy(finished: tuple[Path, bytes], tmp_path: Path) -> Path:
    journal = tmp_path / "journal.log"
    journal.write_bytes(finished[1])
    return journal


def lines(journal: Path) -> list[bytes]:
    return journal.read_bytes().splitlines(keepends=True)


def line_of(journal: Path, test: Callable[[dict], bool]) -> int:
    """The 0-based index of the first line whose record passes ``test``."""
    return next(i for i, raw in enumerate(lines(journal)) if test(json.loads(raw)))


def finished_trials(journal: Path) -> dict[int, tuple]:
    study = optuna.load_study(study_name="jtiny", storage=open_storage(str(journal)))
    return {
        t.number: (t.state, t.values, t.params)
        for t in study.get_trials()
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
    }


def others(journal: Path) -> list[str]:
    return sorted(p.name for p in journal.parent.iterdir() if p.name != journal.name)


# --------------------------------------------------------------------------------------------- damage
def torn_tail(journal: Path) -> None:
    """The last record cut in the middle: a crash or a full disk during an append."""
    raw = journal.read_bytes()
    last = raw.rstrip(b"\n").rfind(b"\n") + 1
    journal.write_bytes(raw[: last + (len(raw) - last) // 2])


def rewritten(index: int, change: Callable[[dict], dict]) -> Callable[[Path], None]:
    """Line ``index`` replaced by another valid JSON line, ``change`` of its record: a bit flip that keeps the JSON
    valid (it made every command fail, ``AssertionError: Should not reach.``, and repair found no damaged line)."""

    def damage(journal: Path) -> None:
        ls = lines(journal)
        ls[index] = json.dumps(change(json.loads(ls[index]))).encode() + b"\n"
        journal.write_bytes(b"".join(ls))

    return damage


def flipped(index: int, old: bytes, new: bytes) -> Callable[[Path], None]:
    """Bytes ``old`` of line ``index`` changed to ``new`` in place, the record's JSON kept valid and compact as
    Optuna writes it: a bit flip (``"state":1`` to ``"state":5``)."""

    def damage(journal: Path) -> None:
        ls = lines(journal)
        assert old in ls[index], ls[index]
        ls[index] = ls[index].replace(old, new, 1)
        journal.write_bytes(b"".join(ls))

    return damage


def doubled(index: int) -> Callable[[Path], None]:
    """Line ``index`` written twice: a copied or replayed write. A repeated trial creation shifted every later
    record onto the next trial, and a finished trial showed another's parameters under its own label."""

    def damage(journal: Path) -> None:
        ls = lines(journal)
        journal.write_bytes(b"".join(ls[: index + 1] + ls[index:]))

    return damage


def trial_line(trial: int, op: int, key: str | None = None) -> Callable[[dict], bool]:
    return lambda r: (
        r.get("trial_id") == trial and r["op_code"] == op and (key is None or key in r.get("user_attr", {}))
    )


def completion_of(trial: int) -> Callable[[dict], bool]:
    return lambda r: r.get("trial_id") == trial and r["op_code"] == 6 and r["state"] == TrialState.COMPLETE.value


def creation_of(trial: int) -> Callable[[dict], bool]:
    """The record that created trial id ``trial`` (the enqueued starting points are created up front)."""
    seen = [-1]

    def test(r: dict) -> bool:
        seen[0] += r["op_code"] == 4
        return r["op_code"] == 4 and seen[0] == trial

    return test


# --------------------------------------------------------------------------------------------- (c) intact
def test_an_intact_journal_is_untouched_byte_for_byte(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    journal = copy(finished, tmp_path)
    check = check_journal(journal)
    assert check.torn_offset is None and check.records == len(lines(journal))
    assert finished_trials(journal).keys() == {0, 1}  # open_storage checks it again
    report = repair_journal(journal, echo=False)
    assert not report.dropped_lines
    assert journal.read_bytes() == finished[1]
    assert others(journal) == ["journal.log.lock"] or others(journal) == []


def test_every_spelling_of_one_journal_takes_one_lock(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    """A journal reached through a symbolic link locked ``<link>.lock`` while its writer locked ``<file>.lock``:
    a check through the link took a writer's append in progress for a torn record, cut it off, and the writer
    died ("cut short"). Both spellings now take the lock beside the file itself."""
    from search.journal import _locked

    journal = copy(finished, tmp_path)
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "elsewhere" / "journal.log"
    link.symlink_to(journal)
    storage = open_storage(str(link))
    assert storage._backend._lock._lock_file == f"{journal}.lock"  # type: ignore[attr-defined]
    with _locked(link):
        assert (tmp_path / "journal.log.lock").exists() and not (tmp_path / "elsewhere" / "journal.log.lock").exists()
    assert finished_trials(link).keys() == {0, 1}


# --------------------------------------------------------------------------------------------- (a) torn last record
@pytest.mark.slow
def test_a_torn_last_record_is_set_aside_and_the_study_resumes(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    journal = copy(finished, tmp_path)
    before = finished_trials(journal)
    torn_tail(journal)  # trial 1's COMPLETE record, cut in half
    damaged = journal.read_bytes()
    run = run_cli("study", str(finished[0]), "--storage", str(journal), "--trials", "2")
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "journal file" in line]
    assert len(warnings) == 1 and str(journal) in warnings[0] and "byte offset" in warnings[0], run.stderr
    backup = next(journal.parent.glob("journal.log.bak-*"))
    torn = next(journal.parent.glob("journal.log.torn-*"))
    assert backup.read_bytes() == damaged and damaged.endswith(torn.read_bytes())
    assert str(backup) in warnings[0]
    after = finished_trials(journal)
    assert len(after) == 2, after  # the study completed its total
    assert after[0] == before[0]  # every trial finished in the torn file is still there, unchanged


# --------------------------------------------------------------------------------------------- (b) damage in the middle
@pytest.mark.slow
def test_damage_in_the_middle_stops_every_command_until_repair(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    journal = copy(finished, tmp_path)
    before = finished_trials(journal)
    index = line_of(journal, trial_line(1, 8, "path"))  # a user attribute of trial 1: the record after is intact
    glued(index)(journal)
    damaged = journal.read_bytes()
    for command in ("study", "worker", "dashboard"):
        port = ["--port", "1"] if command == "dashboard" else []  # it must fail before serving anything
        run = run_cli(command, str(finished[0]), "--storage", str(journal), *port, timeout=120)
        assert run.returncode == 2, (command, run.stdout, run.stderr)
        assert run.stderr.count("\n") == 1, (command, run.stderr)
        assert f"journal file {journal}" in run.stderr and f"line {index + 1} " in run.stderr, run.stderr
        assert "make repair" in run.stderr and "Traceback" not in run.stderr
    assert journal.read_bytes() == damaged  # nothing was written

    run = run_cli("repair", str(finished[0]), "--storage", str(journal))
    assert run.returncode == 0, run.stderr
    assert "recovered 1 complete record" in run.stdout and "trial #1" in run.stdout, run.stdout
    backup = next(journal.parent.glob("journal.log.bak-*"))
    assert backup.read_bytes() == damaged
    assert finished_trials(journal) == before  # both finished trials survived intact

    run = run_cli("study", str(finished[0]), "--storage", str(journal), "--trials", "3")  # (the verdict on a repaired
    # store: the other repair tests resume with worker, which retrains nothing)
    assert run.returncode == 0, run.stderr
    after = finished_trials(journal)
    assert len(after) == 3 and all(after[n] == v for n, v in before.items())


@pytest.mark.parametrize("trial", [0, 1])
def test_a_lost_parameter_line_is_named_and_repair_fails_its_trial(
    finished: tuple[Path, bytes], tmp_path: Path, trial: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A whole `set trial param` line lost from the middle (no damaged line shows it): the finished trial lacked its
    dropout, and the study resumed, and its report read it, as a configuration it did not run (a probe,
    2026-12-06). Its recorded config still holds dropout: every command stops with one line naming the trial and
    the repair, which fails it; the study then runs another trial in its place."""
    journal = copy(finished, tmp_path)
    before = finished_trials(journal)
    ls = lines(journal)
    del ls[line_of(journal, trial_line(trial, 5))]
    journal.write_bytes(b"".join(ls))
    damaged = journal.read_bytes()
    for command in ("study", "report"):
        run = run_main(capsys, command, str(finished[0]), "--storage", str(journal))
        assert run.returncode == 2 and run.stderr.count("\n") == 1, (command, run.stderr)
        assert f"do not match the configuration they recorded (#{trial}: no parameter dropout" in run.stderr
        assert f"make repair STUDY={finished[0]} STORAGE={journal} fails them" in run.stderr, run.stderr
    assert journal.read_bytes() == damaged  # nothing was written

    run = run_main(capsys, "repair", str(finished[0]), "--storage", str(journal))
    assert run.returncode == 0 and f"trial #{trial}: its parameters do not match" in run.stdout, run.stdout
    assert next(journal.parent.glob("journal.log.bak-*")).read_bytes() == damaged
    after = finished_trials(journal)
    assert after == {n: v for n, v in before.items() if n != trial}  # the other one untouched
    study = optuna.load_study(study_name="jtiny", storage=open_storage(str(journal)))
    assert "its recorded configuration" in study.trials[trial].user_attrs["fail_reason"]

    run = run_main(capsys, "worker", str(finished[0]), "--storage", str(journal), "--trials", "2")
    assert run.returncode == 0, run.stderr
    assert len(finished_trials(journal)) == 2


def without_line(test: Callable[[dict], bool]) -> Callable[[Path], int]:
    """The first line whose record passes ``test`` lost whole (a block of the file lost, a bad copy): no damaged
    line shows it. Returns the trial that record named (one study in the file: its id is its number)."""

    def damage(journal: Path) -> int:
        ls = lines(journal)
        index = line_of(journal, test)
        trial = json.loads(ls[index])["trial_id"]
        del ls[index]
        journal.write_bytes(b"".join(ls))
        return trial

    return damage


def completion_appended(journal: Path) -> int:
    """A line of another study's journal appended: its record that completes trial id N lands on this study's
    WAITING trial of that id, which becomes COMPLETE with another study's value and none of its own records."""
    study = optuna.load_study(study_name="jtiny", storage=open_storage(str(journal)))
    waiting = next(t for t in study.trials if t.state == TrialState.WAITING)
    record = {"op_code": 6, "worker_id": "0a1b2c3d-other-study-1", "trial_id": waiting._trial_id, "state": 1,
              "values": [0.99], "datetime_complete": "2026-12-07T04:17:31.184726+00:00"}  # fmt: skip
    journal.write_bytes(journal.read_bytes() + json.dumps(record).encode() + b"\n")
    return waiting.number


LOST_CONFIG_CASES = [
    # (id, damage: returns the trial the repair fails, whether that trial was finished before the damage)
    ("config-line-of-trial-0", without_line(trial_line(0, 8, "config")), True),
    ("config-line-of-trial-1", without_line(trial_line(1, 8, "config")), True),
    ("another-journals-completion-appended", completion_appended, False),
]


@pytest.mark.parametrize(
    "damage,was_finished", [c[1:] for c in LOST_CONFIG_CASES], ids=[c[0] for c in LOST_CONFIG_CASES]
)
def test_a_finished_trial_without_its_config_record_is_failed_by_repair(
    finished: tuple[Path, bytes],
    tmp_path: Path,
    damage: Callable[[Path], int],
    was_finished: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A finished trial of a regtune study with no ``config`` record (its line lost from the middle of the file,
    or a foreign line that finished a waiting trial): every command called the study "not regtune's alone" and
    said to give it another name, and `make repair` said "no damaged line; nothing to repair" (exit 0), so four
    finished trials could only be abandoned (the faults8 probe, 2026-12-07). The commands now name the repair,
    which fails that trial (kept in the backup); every other finished trial stays as it was, and the study runs
    on to its total."""
    journal = copy(finished, tmp_path)
    before = finished_trials(journal)
    trial = damage(journal)
    damaged = journal.read_bytes()
    for command in ("study", "report"):
        run = run_main(capsys, command, str(finished[0]), "--storage", str(journal))
        assert run.returncode == 2 and run.stderr.count("\n") == 1, (command, run.stderr)
        assert f"(#{trial}) were run by another program" in run.stderr, run.stderr
        assert "a journal or SQLite file: make repair fails such trials" in run.stderr, run.stderr
    assert journal.read_bytes() == damaged  # nothing was written

    run = run_main(capsys, "repair", str(finished[0]), "--storage", str(journal))
    assert run.returncode == 0, run.stderr
    assert f"trial #{trial}: its configuration record (the user attribute config) is lost" in run.stdout, run.stdout
    assert next(journal.parent.glob("journal.log.bak-*")).read_bytes() == damaged
    assert finished_trials(journal) == {n: v for n, v in before.items() if n != trial}  # the others untouched
    study = optuna.load_study(study_name="jtiny", storage=open_storage(str(journal)))
    assert study.trials[trial].state == TrialState.FAIL
    assert "configuration record (config) was lost" in study.trials[trial].user_attrs["fail_reason"]
    assert (trial in before) == was_finished

    run = run_main(capsys, "worker", str(finished[0]), "--storage", str(journal), "--trials", "2")
    assert run.returncode == 0, run.stderr
    assert len(finished_trials(journal)) == 2


def test_a_study_direction_flipped_to_an_unknown_one_is_repaired_to_the_study_files(
    finished: tuple[Path, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """(the stores13 probe) ``"directions":[2]`` flipped by one bit to ``[6]``: every command was a traceback
    (``ValueError: 6 is not a valid StudyDirection``) while the record passed the check. It is a damaged line now, and
    the repair re-creates the study in the study file's direction, its finished trials as they were."""
    journal = copy(finished, tmp_path)
    before = finished_trials(journal)
    flipped(0, b'"directions":[2]', b'"directions":[6]')(journal)
    for command in ("report", "study"):
        run = run_main(capsys, command, str(finished[0]), "--storage", str(journal))
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        assert "is damaged at line 1 (byte offset 0)" in run.stderr and "make repair STUDY=" in run.stderr, run.stderr
    run = run_main(capsys, "repair", str(finished[0]), "--storage", str(journal))
    assert run.returncode == 0, run.stderr
    study = optuna.load_study(study_name="jtiny", storage=open_storage(str(journal)))
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert finished_trials(journal) == before


def test_two_runs_of_one_study_joined_are_refused_and_repair_fails_the_mixed_trial(
    finished: tuple[Path, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cat a/journal.log b/journal.log > journal.log`, two runs of one study file (two machines, two folders):
    Optuna skips the second run's study and its records for finished trials, but its records for trial ids the first
    run left waiting land on them, and the second run's sampled trial became the first run's enqueued baseline
    (its value and parameters under the label "baseline (searched regularizers off)"): the report was written as
    if nothing had happened (the faults8 probe). Every command now stops naming the trial and the value it was
    enqueued with; the repair fails it, and every finished trial of the first run stays as it was."""
    other = tmp_path / "other"
    other.mkdir()
    run = run_cli("worker", str(finished[0]), "--storage", str(other / "journal.log"), "--trials", "5")
    assert run.returncode == 0, run.stderr
    journal = copy(finished, tmp_path)
    before = finished_trials(journal)
    journal.write_bytes(finished[1] + (other / "journal.log").read_bytes())
    joined = journal.read_bytes()
    study = optuna.load_study(study_name="jtiny", storage=open_storage(str(journal)))
    mixed = [t.number for t in study.trials if t.state == TrialState.COMPLETE and t.number not in before
             and t.params != t.system_attrs.get("fixed_params")]  # fmt: skip
    assert mixed, [(t.number, t.state, t.params, t.system_attrs.get("fixed_params")) for t in study.trials]
    for command in ("study", "report"):
        run = run_main(capsys, command, str(finished[0]), "--storage", str(journal))
        assert run.returncode == 2 and run.stderr.count("\n") == 1, (command, run.stderr)
        assert f"#{mixed[0]}: dropout " in run.stderr and ", enqueued with " in run.stderr, run.stderr
        assert "another run's records joined to it" in run.stderr, run.stderr
    assert journal.read_bytes() == joined  # nothing was written

    run = run_main(capsys, "repair", str(finished[0]), "--storage", str(journal))
    assert run.returncode == 0, run.stderr
    assert all(f"trial #{n}: its parameters do not match" in run.stdout for n in mixed), run.stdout
    after = finished_trials(journal)
    assert {n: after[n] for n in before} == before and not set(mixed) & set(after)
    repaired = optuna.load_study(study_name="jtiny", storage=open_storage(str(journal)))
    assert all("enqueued with" in repaired.trials[n].user_attrs["fail_reason"] for n in mixed)


@pytest.mark.slow
def test_repair_refuses_a_database_storage(finished: tuple[Path, bytes]) -> None:
    run = run_cli("repair", str(finished[0]), "--storage", "postgresql://u:secret@127.0.0.1:5432/test")
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "secret" not in run.stderr, run.stderr
    assert "journal file" in run.stderr


NOT_A_JOURNAL = [
    # (id, what is at the path, words in the one line): a FIFO and a link to /dev/null were "no journal file"
    ("fifo", lambda p: os.mkfifo(p), "is a FIFO (named pipe), not a regular file: it holds no journal"),
    ("link-to-dev-null", lambda p: p.symlink_to("/dev/null"), "is a symbolic link to /dev/null, a character device"),
    ("directory", lambda p: p.mkdir(), "is a directory; give the journal file"),
    ("nothing", lambda p: None, "no journal file"),
    ("empty", lambda p: p.write_bytes(b""), "is empty (0 bytes): nothing to repair; if it held a study, its records"),
]


@pytest.mark.parametrize(("make", "words"), [c[1:] for c in NOT_A_JOURNAL], ids=[c[0] for c in NOT_A_JOURNAL])
def test_repair_of_a_path_that_holds_no_journal_says_what_it_is(
    tmp_path: Path, make: Callable[[Path], None], words: str
) -> None:
    study = write_study(tmp_path, "jtiny", STUDY)
    path = tmp_path / "journal.log"
    make(path)
    run = run_cli("repair", str(study), "--storage", str(path))
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert words in run.stderr and str(path) in run.stderr, run.stderr


# --------------------------------------------------------------------------------------------- repair, table-driven
CASES = [
    # (id, damage, finished trials expected intact, words in the report, trial 1 a placeholder)
    ("glued-attr", lambda j: glued(line_of(j, trial_line(1, 8, "path")))(j), {0, 1}, ["trial #1: lost"], False),
    ("glued-creation", lambda j: glued(line_of(j, creation_of(1)))(j), {0, 1}, ["re-created as a placeholder"], True),
    ("glued-running", lambda j: glued(line_of(j, trial_line(1, 6)))(j), {0, 1}, ["set trial state values"], False),
    ("zeroed-param", lambda j: zeroed(line_of(j, trial_line(0, 5)))(j), {1}, ["unreadable bytes"], False),
    ("glued-complete", lambda j: glued(line_of(j, completion_of(0)))(j), {1}, ["trial #0", "now RUNNING"], False),
    (
        "repeated-creation",
        lambda j: doubled(line_of(j, creation_of(1)))(j),
        {0, 1},
        ["1 of the dropped lines repeated an earlier trial-creation record", "no trial was affected"],
        False,
    ),
    (
        "unknown-operation",
        lambda j: rewritten(line_of(j, trial_line(1, 8, "path")), lambda r: {**r, "op_code": 99})(j),
        {0},
        ["trial #1: ran across damaged line", "now FAIL"],
        False,  # as a zeroed line: its records may be lost
    ),
    # (the stores13 probe) a bit flip in a trial's state or time that keeps the JSON valid: a traceback from every
    # command ("ValueError: 5 is not a valid TrialState", "KeyError: 'datetime_start'", "Invalid isoformat string")
    (
        "state-5",
        lambda j: flipped(line_of(j, completion_of(0)), b'"state":1', b'"state":5')(j),
        {1},
        ["trial #0", "now RUNNING"],
        False,
    ),
    (
        "state-running-without-start",
        lambda j: flipped(line_of(j, completion_of(0)), b'"state":1', b'"state":0')(j),
        {1},
        ["trial #0", "now RUNNING"],
        False,
    ),
    (
        "garbled-completion-time",
        lambda j: flipped(line_of(j, completion_of(0)), b'"datetime_complete":"2', b'"datetime_complete":"q')(j),
        {1},
        ["trial #0", "now RUNNING"],
        False,
    ),
    (
        "garbled-start-time",
        lambda j: flipped(line_of(j, trial_line(1, 6)), b'"datetime_start":"2', b'"datetime_start":"q')(j),
        {0, 1},
        ["set trial state values"],
        False,
    ),
    (  # (its placeholder took the garbled time, and the repaired journal was as damaged as before)
        "garbled-creation-time",
        lambda j: flipped(line_of(j, creation_of(1)), b'"datetime_start":null', b'"datetime_start":"q026-12-07"')(j),
        {0, 1},
        ["re-created as a placeholder"],
        True,
    ),
    (
        "garbage-distribution",
        lambda j: rewritten(line_of(j, trial_line(0, 5)), lambda r: {**r, "distribution": "garbage"})(j),
        {1},
        ["trial #0"],
        False,
    ),
]


@pytest.mark.parametrize("damage,intact,words,placeholder", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_repair_keeps_every_intact_finished_trial(
    finished: tuple[Path, bytes], tmp_path: Path, damage: Callable[[Path], None], intact: set[int],
    words: list[str], placeholder: bool, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    journal = copy(finished, tmp_path)
    before = finished_trials(journal)
    damage(journal)
    with pytest.raises(StorageError, match=r"is damaged at line \d+ \(byte offset \d+\).*make repair STUDY="):
        open_storage(str(journal))
    report = repair_journal(journal)
    out = capsys.readouterr().out
    assert all(w in out for w in words), out
    assert len(report.dropped_lines) == 1 and report.backup is not None and report.backup.exists()
    after = finished_trials(journal)
    assert {n: before[n] for n in intact} == {n: after[n] for n in intact}
    study = optuna.load_study(study_name="jtiny", storage=open_storage(str(journal)))
    assert (REPAIRED_ATTR in study.trials[1].system_attrs) == placeholder
    assert repair_journal(journal, echo=False).dropped_lines == []  # repaired for good


@pytest.mark.parametrize("where", ["repair", "torn last record"])
def test_an_interrupted_backup_copy_leaves_no_file_named_like_a_backup(
    finished: tuple[Path, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Ctrl-C during the backup copy of a repair (or of a torn last record set aside) left a partial
    ``journal.log.bak-<time>`` named like a whole one (the faults probe, 2026-12-06): the copy is made under a
    temporary name and renamed into place, so an interrupt leaves no backup, the journal as it was."""

    journal = copy(finished, tmp_path)
    if where == "repair":
        glued(line_of(journal, trial_line(1, 8, "path")))(journal)
    else:
        torn_tail(journal)
    damaged = journal.read_bytes()
    copies_cut_short(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        repair_journal(journal, echo=False) if where == "repair" else check_journal(journal)
    assert journal.read_bytes() == damaged
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["journal.log"]


def test_a_symlinked_journal_is_mended_at_its_target(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    """repair through a link replaced the link with the mended file and left the real journal damaged."""
    journal = copy(finished, tmp_path)
    before = finished_trials(journal)
    glued(line_of(journal, trial_line(1, 8, "path")))(journal)
    link = tmp_path / "elsewhere" / "journal.log"
    link.parent.mkdir()
    link.symlink_to(journal)
    report = repair_journal(link, echo=False)
    assert link.is_symlink() and link.resolve() == journal.resolve()
    assert report.backup is not None and report.backup.parent == journal.parent
    assert finished_trials(journal) == before and repair_journal(journal, echo=False).dropped_lines == []


def test_a_relative_journal_path_is_repaired_under_one_lock(
    finished: tuple[Path, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make repair` gives runs/<study>/journal.log, relative: taken for a link, its one lock file was taken twice
    (30 s of waiting, then "did not possess lock")."""
    journal = copy(finished, tmp_path)
    glued(line_of(journal, trial_line(1, 8, "path")))(journal)
    monkeypatch.chdir(journal.parent)
    start = time.monotonic()
    report = repair_journal(Path(journal.name), echo=False)
    assert len(report.dropped_lines) == 1 and time.monotonic() - start < 20


def whole_trials(journal: Path) -> dict[int, tuple]:
    study = optuna.load_study(study_name="jtiny", storage=open_storage(str(journal)))
    return {t.number: (t.state, t.values, t.params, t.intermediate_values) for t in study.get_trials()}


@pytest.mark.parametrize("where", [0.3, 0.5, 0.7, 0.9])
@pytest.mark.parametrize("size", [64, 4096])
def test_no_finished_trial_is_left_mixed_after_a_lost_block(
    finished: tuple[Path, bytes], tmp_path: Path, where: float, size: int
) -> None:
    """A block of zeros in the middle (a lost disk block) swallows whole records, newlines included. The
    repair used to keep a trial COMPLETE with its value but none of its parameters (their records were in the
    block): every trial still finished after the repair is now exactly the trial that finished before, and one
    that ran across the block is failed (or left RUNNING) and named."""
    journal = copy(finished, tmp_path)
    intact = whole_trials(journal)
    raw = bytearray(journal.read_bytes())
    start = int(len(raw) * where)
    raw[start : start + size] = b"\0" * min(size, len(raw) - start - 1)
    journal.write_bytes(bytes(raw))
    try:
        report = repair_journal(journal, echo=False)
    except StorageError as exc:  # refused: the file is left as it was
        assert "left as it was" in str(exc)
        return
    after = whole_trials(journal)
    for number, trial in after.items():
        if trial[0] in (TrialState.COMPLETE, TrialState.PRUNED):
            assert trial == intact[number], number  # never a finished trial with records missing
    named = "\n".join(report.lines())
    for number, trial in after.items():
        if intact[number][0] == TrialState.COMPLETE and trial[0] != TrialState.COMPLETE:
            assert f"#{number}:" in named, named  # a finished trial the repair took back is named


@pytest.mark.parametrize("damage", ["bytes in it", "zeros over it", "a 4 KiB block"])
def test_a_lost_study_creation_is_re_created_or_refused_never_emptied(
    finished: tuple[Path, bytes], tmp_path: Path, damage: str
) -> None:
    """Line 1 creates the study. Damaged, the repair dropped it, and with it every trial: it reported success, "0
    finished trials after it", and the next `make study` started over. Now the creation is rebuilt from what is left
    of it (its name survives a hit on its op code) or from the study file (zeros over it); a block that also took
    the trials' creation records is refused, the file left as it was."""
    journal = copy(finished, tmp_path)
    intact = whole_trials(journal)
    raw = bytearray(journal.read_bytes())
    if damage == "bytes in it":
        raw[5:9] = b"XXXX"  # {"op_XXXX":0,"worker_id":...,"study_name":"jtiny",...}: no op code, its name left
    else:
        size = raw.index(b"\n") if damage == "zeros over it" else 4096
        raw[:size] = b"\0" * size
    journal.write_bytes(bytes(raw))
    if damage != "bytes in it":
        with pytest.raises(StorageError, match="the record that created its study \\(line 1\\) is lost"):
            repair_journal(journal, echo=False)  # nothing names the study: not guessed
        assert journal.read_bytes() == bytes(raw)
    if damage == "a 4 KiB block":  # the study's and the first trials' creation records: later trials would shift
        with pytest.raises(StorageError, match="would leave 0 finished trial.* where 1 finish.* left as it was"):
            repair_journal(journal, echo=False, study=("jtiny", "maximize"))
        assert journal.read_bytes() == bytes(raw)
        return
    report = repair_journal(journal, echo=False, study=("jtiny", "maximize"))
    assert whole_trials(journal) == intact and report.finished_after == 2
    assert ("re-created from the study file" in "\n".join(report.lines())) == (damage == "zeros over it")
    study = optuna.load_study(study_name="jtiny", storage=open_storage(str(journal)))
    (tmp_path / "before").mkdir()
    whole = optuna.load_study(study_name="jtiny", storage=open_storage(str(copy(finished, tmp_path / "before"))))
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE and study.user_attrs == whole.user_attrs


def test_a_journal_repair_cannot_mend_is_told_so_at_once_not_sent_to_repair(
    finished: tuple[Path, bytes], tmp_path: Path
) -> None:
    """The first 4 KiB zeroed (the study's and the first trials' creation records): `make study` said to run
    `make repair`, and the repair then refused it and said to restore a backup (a probe, 2026-12-06). The study
    command now says what the repair would, and neither writes anything."""
    journal = copy(finished, tmp_path)
    raw = bytearray(journal.read_bytes())
    raw[:4096] = b"\0" * 4096
    journal.write_bytes(bytes(raw))
    study = run_cli("study", str(finished[0]), "--storage", str(journal), timeout=120)
    assert study.returncode == 2 and study.stderr.count("\n") == 1, study.stderr
    assert f"journal file {journal} is damaged at line 1 (byte offset 0)" in study.stderr, study.stderr
    assert "make repair cannot mend it" in study.stderr and "repair it (a backup is kept)" not in study.stderr
    repair = run_cli("repair", str(finished[0]), "--storage", str(journal))
    assert repair.returncode == 2 and "restore a backup copy" in repair.stderr, repair.stderr
    said = repair.stderr.strip().split(f"journal file {journal}: ", 1)[1]
    assert study.stderr.strip().endswith(said), (study.stderr, repair.stderr)
    assert journal.read_bytes() == bytes(raw) and others(journal) == []  # no backup, no trial copy left behind


def test_a_lost_trial_creation_keeps_later_trials_on_their_records(
    finished: tuple[Path, bytes], tmp_path: Path
) -> None:
    """Optuna numbers trials by their creation records: without a placeholder for trial 1's, trial 2 (a waiting
    starting point) would take trial 1's records and vanish."""
    journal = copy(finished, tmp_path)
    waiting = {
        t.number: t.user_attrs for t in optuna.load_study(study_name="jtiny", storage=open_storage(str(journal))).trials
    }
    glued(line_of(journal, creation_of(1)))(journal)
    repair_journal(journal, echo=False)
    trials = optuna.load_study(study_name="jtiny", storage=open_storage(str(journal))).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.WAITING]
    assert trials[2].user_attrs == waiting[2]


def test_a_journal_appended_to_itself_is_refused_and_repaired_to_its_trials(
    finished: tuple[Path, bytes], tmp_path: Path
) -> None:
    """`cat journal.log journal.log > journal.log`: Optuna skipped the repeated study and states but created every
    trial again, and the study silently gained WAITING copies of starting points that had already run."""
    journal = copy(finished, tmp_path)
    before = whole_trials(journal)
    journal.write_bytes(finished[1] * 2)
    with pytest.raises(StorageError, match=r"damaged at line \d+ .*repeats line \d+'s trial-creation record byte"):
        open_storage(str(journal))
    report = repair_journal(journal, echo=False)
    assert report.repeated == len(before) and len(report.dropped_lines) == len(before)
    assert whole_trials(journal) == before


@pytest.mark.parametrize("went_on_with_the_copy", [True, False], ids=["write-doubled", "copied-in-later"])
def test_a_repeated_sampled_creation_is_damage_only_if_the_worker_did_not_number_its_trial_by_it(
    tmp_path: Path, went_on_with_the_copy: bool
) -> None:
    """A write doubled as it was made: Optuna numbers the worker's trial by the second copy, and every later record
    names that number; dropping either copy would shift them all, so such a journal is left alone (the first copy
    is a trial no record names). A copy put in afterwards shifts every later record onto the next trial: damage,
    and repair drops it."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    made = tmp_path / "made.log"
    study = optuna.create_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(made))))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    intact = [(t.state, t.params, t.value) for t in study.trials]
    ls = [json.loads(raw) for raw in lines(made)]
    second = [i for i, r in enumerate(ls) if r["op_code"] == 4][1]  # trial 1's creation, a sampled (RUNNING) one
    assert ls[second].get("state") != TrialState.WAITING.value
    later = ls[second + 1 :]
    if went_on_with_the_copy:
        later = [dict(r, trial_id=r["trial_id"] + 1) if r.get("trial_id", -1) >= 1 else r for r in later]
    journal = tmp_path / "journal.log"
    journal.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in ls[: second + 1] + [ls[second]] + later))
    if went_on_with_the_copy:
        check_journal(journal)  # no error
        assert repair_journal(journal, echo=False).dropped_lines == []
        trials = optuna.load_study(study_name="s", storage=open_storage(str(journal))).trials
        assert [(t.state, t.params, t.value) for t in trials if t.number != 1] == intact
        return
    with pytest.raises(StorageError, match=r"repeats line \d+'s trial-creation record byte for byte"):
        check_journal(journal)
    assert repair_journal(journal, echo=False).repeated == 1
    trials = optuna.load_study(study_name="s", storage=open_storage(str(journal))).trials
    assert [(t.state, t.params, t.value) for t in trials] == intact


def test_the_lock_of_a_live_append_is_waited_for(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    """The check runs under Optuna's append lock: a partial last line while another worker holds it is that
    worker's append in progress, never damage."""
    import threading
    import time

    from optuna.storages.journal import JournalFileOpenLock

    journal = copy(finished, tmp_path)
    lock = JournalFileOpenLock(str(journal))
    lock.acquire()
    with open(journal, "ab") as f:
        f.write(b'{"op_code":8,"worker_id":"w","trial_id":1,')  # half of an append: the rest comes under the lock

    def finish() -> None:
        time.sleep(0.5)
        with open(journal, "ab") as f:
            f.write(b'"user_attr":{"note":1}}\n')
        lock.release()

    thread = threading.Thread(target=finish)
    thread.start()
    check = check_journal(journal)
    thread.join()
    assert check.torn_offset is None and not list(tmp_path.glob("journal.log.bak-*"))
    assert journal.read_bytes().startswith(finished[1])


LOCK_DIR = [
    # (id, the journal's bytes: the finished study's / empty / none, what meets the directory at journal.log.lock)
    ("check at open", "finished", check_journal),
    ("check of a new journal", None, check_journal),
    ("check of an empty journal", b"", check_journal),
    ("repair", "finished", lambda p: repair_journal(p, echo=False)),
    ("open", "finished", lambda p: open_storage(str(p))),
]


@pytest.mark.parametrize(("content", "action"), [c[1:] for c in LOCK_DIR], ids=[c[0] for c in LOCK_DIR])
def test_a_directory_at_the_lock_path_is_refused_at_once(
    finished: tuple[Path, bytes], tmp_path: Path, content: bytes | str | None, action: Callable[[Path], object]
) -> None:
    """A directory at journal.log.lock (no Optuna lock is ever one) made every command wait 30 s, then rename it
    aside as a stale lock (journal.log.lock<uuid>.rename left behind) and go on: now one line at once, naming it."""
    journal = tmp_path / "journal.log"
    if content is not None:
        journal.write_bytes(finished[1] if content == "finished" else content)
    (tmp_path / "journal.log.lock").mkdir()
    start = time.monotonic()
    with pytest.raises(
        StorageError, match=r"its lock path .*journal\.log\.lock is a directory.*move it out of the way"
    ):
        action(journal)
    assert time.monotonic() - start < 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.log", "journal.log.lock"][content is None :]
    if content is not None:
        assert journal.read_bytes() == (finished[1] if content == "finished" else content)


# --------------------------------------------------------------------------------------------- not a journal at all
FOREIGN = [
    # (id, the file's bytes, words in the one-line error)
    (
        "a-study-file",
        b"name: x\ndataset: JapaneseVowels\nsearch: {dropout: {low: 0, high: 0.5}}\n",
        "not an Optuna journal",
    ),
    ("one-line-no-newline", b"hello", r"none of its 1 line\(s\) is a journal record"),
    ("binary", bytes(range(256)) * 8, "not an Optuna journal"),
    ("a-sqlite-database", b"SQLite format 3\x00" + b"\x00" * 4080, "is a SQLite database, not a journal file"),
    # lost blocks: it said "give the study's journal (runs/<study name>/journal.log)", the very file given
    ("all-zeros", b"\x00" * 5000, r"holds only zero bytes where it begins .*restore a backup copy of it, or move it"),
]


@pytest.mark.parametrize("content,words", [c[1:] for c in FOREIGN], ids=[c[0] for c in FOREIGN])
def test_a_file_that_is_no_journal_is_refused_not_repaired(tmp_path: Path, content: bytes, words: str) -> None:
    """Before, a study file given as STORAGE was called damaged and `make repair` emptied it; a one-line file was
    cut to nothing as a torn record, then a study was written into it."""
    path = tmp_path / "mistaken"
    path.write_bytes(content)
    with pytest.raises(StorageError, match=words):
        check_journal(path)
    with pytest.raises(StorageError, match=words):
        repair_journal(path, echo=False)
    with pytest.raises(StorageError, match="nothing was changed"):
        open_storage(str(path))
    assert path.read_bytes() == content and [p.name for p in tmp_path.iterdir()] == ["mistaken"]


def test_a_journal_whose_only_record_was_cut_is_still_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    path.write_bytes(b'{"op_code":0,"worker_id":"w","study_na')  # the first append, cut short
    check = check_journal(path)
    assert check.torn_bytes > 0 and path.read_bytes() == b""  # set aside as a torn record, as before


@pytest.mark.slow
@pytest.mark.parametrize("command", ["report", "retry", "figures"])
def test_a_command_on_a_study_that_does_not_exist_says_so_in_one_line(tmp_path: Path, command: str) -> None:
    """`figures` raised a bare KeyError traceback here."""
    study = write_study(tmp_path, "nowhere")
    run = run_cli(command, str(study), "--storage", str(tmp_path / "journal.log"))
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "no study 'nowhere' in" in run.stderr + run.stdout and "Traceback" not in run.stderr, run.stderr
    # the hint names the same store: without STORAGE it would create the study under runs/
    assert f"run `make study STUDY={study} STORAGE={tmp_path / 'journal.log'}` first" in run.stderr, run.stderr
    assert not (tmp_path / "journal.log").exists()  # reading created no empty store


EMPTIED = [
    # (command, its exit code, words): an emptied journal was "it holds no study" (the faults9 probe)
    ("report", 2, "no study 'jtiny' in {j} (the journal file is empty, 0 bytes): run `make study"),
    ("retry", 2, "if it held the study, its records were lost (the file was emptied): restore a backup copy of it"),
    ("worker", 0, "(a new study: none named 'jtiny' was in this storage; {j} was empty, 0 bytes: if it held this"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("command", "code", "words"), EMPTIED, ids=[c[0] for c in EMPTIED])
def test_an_empty_journal_is_said_to_be_empty(tmp_path: Path, command: str, code: int, words: str) -> None:
    """A journal emptied under a study (truncated to 0 bytes) lost its records: the reading commands say it is empty
    and nothing more is written; a study started on it (as on a new, empty file) runs and says it was empty."""
    study, journal = write_study(tmp_path, "jtiny", STUDY), tmp_path / "journal.log"
    journal.write_bytes(b"")
    run = run_cli(command, str(study), "--storage", str(journal), *(["--trials", "1"] if command == "worker" else []))
    assert run.returncode == code and "Traceback" not in run.stderr, (run.stdout, run.stderr)
    assert words.format(j=journal) in run.stdout + run.stderr, (run.stdout, run.stderr)
    assert (journal.stat().st_size == 0) == (code == 2)  # a read wrote nothing; the worker ran its trial


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])  # in place, mid-line: what `truncate -s` does


def _emptied(path: Path) -> None:
    path.write_bytes(b"")


def _restored(old: bytes) -> Callable[[Path], None]:
    def restore(path: Path) -> None:  # `cp old.log journal.log` over a file that grew since: same inode, larger
        path.write_bytes(old + old)

    return restore


@pytest.mark.parametrize("change", ["cut", "emptied", "restored", "replaced"])
def test_a_journal_changed_under_a_running_process_stops_it_before_it_writes(tmp_path: Path, change: str) -> None:
    """Optuna reads a journal on from the offset it reached: cut short, emptied or restored from an old copy under
    a running worker, the file went unnoticed until it grew back past that offset; the worker wrote records for
    trials that no longer existed, trained one configuration again and again, and left a finished trial with a
    value and no parameters. Now the next read or write raises, and nothing more is written."""
    from search.storage import JournalChangedError

    path = tmp_path / "journal.log"
    storage = open_storage(str(path))
    study = optuna.create_study(study_name="s", storage=storage)
    old = path.read_bytes()
    for _ in range(3):
        study.tell(study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), 0.5)
    other = optuna.load_study(study_name="s", storage=open_storage(str(path)))  # another worker's appends: fine
    other.tell(other.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), 0.4)
    assert len(study.trials) == 4
    if change == "replaced":  # a new file moved into its place (mv, an editor's save), the same bytes and more
        data = path.read_bytes()
        (tmp_path / "new.log").write_bytes(data + data[-200:])
        (tmp_path / "new.log").replace(path)
    else:
        {"cut": _cut, "emptied": _emptied, "restored": _restored(old)}[change](path)
    after = path.read_bytes()
    with pytest.raises(JournalChangedError):
        study.tell(study.ask(), 0.1)
    assert path.read_bytes() == after  # nothing written after the change


@pytest.mark.parametrize(
    ("optuna_says", "we_say"),
    [
        (
            "It is taking longer than 10.0 seconds to acquire the lock file: /r/journal.log.lock Retrying...",
            "waiting for the journal's lock /r/journal.log.lock: another process holds it, or a killed one left it",
        ),
        (
            "The existing lock file has not been released for an extended period. Forcibly releasing the lock file.",
            "took over the journal's lock: nothing had changed it for 30 s",
        ),
        ("something else", "something else"),
    ],
    ids=["waiting", "taken over", "other"],
)
def test_optunas_journal_lock_waits_are_said_in_our_words(optuna_says: str, we_say: str) -> None:
    """After a killed process left the lock file, a resume printed Optuna's "It is taking longer than 10.0 seconds
    to acquire the lock file" three times and "Forcibly releasing", 30 s with no word of why."""
    import logging

    from search.cli import quiet_libraries

    quiet_libraries(training=False)
    logger = logging.getLogger("optuna.storages.journal._file")
    record = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, optuna_says, None, None)
    assert all(f.filter(record) for f in logger.filters)
    assert record.getMessage().startswith(we_say), record.getMessage()


def test_a_repaired_journal_keeps_its_permissions_and_owner(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    """The repair put a new file in the journal's place with the repairer's umask and owner: a group-writable
    journal (0660) became 0644, and another user's became the repairer's, so the study's own user was refused
    ("the journal file is not writable") at the next run."""
    journal = copy(finished, tmp_path)
    glued(line_of(journal, trial_line(1, 8, "path")))(journal)
    assert_access_kept(journal, lambda: repair_journal(journal, echo=False))
    assert repair_journal(journal, echo=False).dropped_lines == []


def test_ctrl_c_in_a_repair_says_what_became_of_the_file(
    finished: tuple[Path, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C during make repair said "any running trial was marked failed and re-queued; rerun to resume", of a
    command that runs no trial, and nothing of the file it was mending."""
    from search import cli

    journal = copy(finished, tmp_path)
    glued(line_of(journal, trial_line(1, 8, "path")))(journal)
    damaged = journal.read_bytes()

    def stopped(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("search.journal._rewrite", stopped)
    code = cli.main(["repair", str(finished[0]), "--storage", str(journal)])
    err = capsys.readouterr().err
    assert code == 130 and "as it was or wholly repaired" in err and "re-queued" not in err, err
    assert journal.read_bytes() == damaged


RESTART = (
    "Caught an error from sqlalchemy: (psycopg.OperationalError) consuming input failed: server closed the connection "
    "unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request.\n"
    "[SQL: SELECT trials.trial_id AS trials_trial_id, trials.number AS trials_number \nFROM trials \nWHERE "
    "trials.study_id = %(study_id_1)s::INTEGER ORDER BY trials.trial_id]\n[parameters: {'study_id_1': 4}]\n"
    "(Background on this error at: https://sqlalche.me/e/21/e3q8). Falling back to a slower alternative."
)


@pytest.mark.parametrize(
    ("optuna_says", "we_say"),
    [
        (RESTART, None),
        (
            "Caught an error from sqlalchemy: (psycopg.OperationalError) connection failed: connection to server at "
            '"127.0.0.1", port 5439 failed: FATAL:  the database system is shutting down. Falling back to a slower '
            "alternative.",
            None,
        ),
        (
            "Caught an error from sqlalchemy: (sqlite3.OperationalError) too many SQL variables\n[SQL: SELECT ...]. "
            "Falling back to a slower alternative.",
            "a read of the study's trials failed ((sqlite3.OperationalError) too many SQL variables); read again the "
            "slower way",
        ),
        ("something else", "something else"),
    ],
    ids=["server restarted", "server shutting down", "too many ids", "other"],
)
def test_optunas_fallback_warning_on_a_lost_connection_is_left_to_the_retry(
    optuna_says: str, we_say: str | None
) -> None:
    """A PostgreSQL restart mid-study put Optuna's "Caught an error from sqlalchemy ... Falling back to a slower
    alternative." in a worker's log: eight lines with the whole SQL statement, before regtune's own one line
    ("storage ... unreachable (...); retrying for up to 60 s"). A lost connection is left to that line; another
    cause is one line."""
    import logging

    from search.cli import quiet_libraries

    quiet_libraries(training=False)
    logger = logging.getLogger("optuna.storages._rdb.storage")
    record = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, optuna_says, None, None)
    shown = all(f.filter(record) for f in logger.filters)
    assert shown == (we_say is not None)
    if we_say is not None:
        assert record.getMessage() == we_say
        assert "\n" not in record.getMessage()


def test_a_repair_waits_for_the_live_workers_of_this_machine(finished: tuple[Path, bytes], tmp_path: Path) -> None:
    """The repair replaces the file: a worker still writing it then stopped ("the journal changed under this run
    ... Check it with make repair"), its running trials lost (faults4). Refused while one of this machine's runs a
    trial of the journal; done once that worker is gone."""
    import socket
    import subprocess

    from search.processes import pid_space, process_start
    from search.storage import HOST_ATTR, PID_ATTR, SPACE_ATTR, START_ATTR

    journal = copy(finished, tmp_path)
    worker = subprocess.Popen(["sleep", "60"])
    try:
        study = optuna.load_study(study_name="jtiny", storage=open_storage(str(journal)))
        trial = study.ask()  # claimed by the "worker": this machine's, alive
        for key, value in ((HOST_ATTR, socket.gethostname()), (PID_ATTR, worker.pid), (SPACE_ATTR, pid_space()),
                           (START_ATTR, process_start(worker.pid))):  # fmt: skip
            study._storage.set_trial_system_attr(trial._trial_id, key, value)
        glued(line_of(journal, trial_line(1, 8, "path")))(journal)
        damaged = journal.read_bytes()
        with pytest.raises(StorageError, match=rf"not repaired while trial #2 of 'jtiny' \(worker pid {worker.pid}\)"):
            repair_journal(journal, echo=False)
        assert journal.read_bytes() == damaged  # nothing written
        assert not list(journal.parent.glob("journal.log.bak-*"))
    finally:
        worker.kill()
        worker.wait()
    assert repair_journal(journal, echo=False).dropped_lines  # its worker gone: repaired


def test_a_whole_last_line_that_is_no_record_is_not_called_a_torn_write(
    finished: tuple[Path, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A complete JSON line with an op code this Optuna does not replay (another Optuna version's, another
    program's) is set aside like a torn record, but the warning called it "a write cut short by a crash or a full
    disk" (the faults5 probe); a torn record keeps those words."""
    journal = copy(finished, tmp_path)
    with open(journal, "ab") as f:
        f.write(b'{"op_code":99,"worker_id":"x-1","study_id":0}\n')
    check_journal(journal)
    said = capsys.readouterr().err
    assert "a last line that is no record this Optuna replays" in said and "op code 99" in said, said
    assert "cut short by a crash" not in said
    assert journal.read_bytes() == finished[1]
    with open(journal, "ab") as f:
        f.write(b'{"op_code":6,"worker_id":"x')
    check_journal(journal)
    said = capsys.readouterr().err
    assert "a partial last record" in said and "a write cut short by a crash or a full disk" in said, said


# (case, the bytes appended to a finished journal, what the warning calls them, the cause it names)
LAST_LINE_CASES = [
    ("torn record", b'{"op_code":6,"worker_id":"x', "a partial last record", "a write cut short by a crash"),
    ("garbage line", b"garbage\x00\xff\xfe not json at all\n", "a last line that is no record",
     "a complete line that is no JSON object"),
    ("text line", b"appended by hand\n", "a last line that is no record", "a complete line that is no JSON object"),
    ("JSON, no object", b"[1, 2]\n", "a last line that is no record", "a complete line that is no JSON object"),
    ("unknown op code", b'{"op_code":99}\n', "a last line that is no record this Optuna replays", "op code 99"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "tail", "what", "cause"), LAST_LINE_CASES, ids=[c[0] for c in LAST_LINE_CASES])
def test_a_last_line_is_named_for_what_it_is(
    finished: tuple[Path, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, tail: bytes,
    what: str, cause: str,
) -> None:  # fmt: skip
    """A whole garbage line, newline and all, was set aside as "a partial last record ... a write cut short by a
    crash or a full disk" (the faults probe): only a line without its newline is a torn write."""
    journal = copy(finished, tmp_path)
    with open(journal, "ab") as f:
        f.write(tail)
    check_journal(journal)
    said = capsys.readouterr().err
    assert f"set aside {what} (" in said and cause in said, (case, said)
    assert journal.read_bytes() == finished[1]


@pytest.mark.parametrize(
    "edit",
    [
        {"distribution": json.dumps({"name": "Nope", "attributes": {}})},  # a class Optuna does not know
        {"distribution": json.dumps({"name": "FloatDistribution", "attributes": {}})},  # its bounds lost
        {"distribution": json.dumps({"name": "CategoricalDistribution", "attributes": {"choices": [0, 1]}}),
         "param_value_internal": 7},  # choice 7 of 2
        {"distribution": json.dumps({"name": "CategoricalDistribution", "attributes": {"choices": [0, 1]}}),
         "param_value_internal": None},  # no choice
    ],
)  # fmt: skip
def test_a_parameter_record_its_distribution_cannot_read_is_a_damaged_line(
    finished: tuple[Path, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: dict
) -> None:
    """(the stores14 probe) A 'set trial param' record whose distribution Optuna cannot build, or whose value it
    cannot read back through it, passed the check: every command was a traceback (``ValueError: Unknown
    distribution class``, ``IndexError: tuple index out of range``, ``TypeError: int() argument ...``, exit 1).
    It is a damaged line now: one line naming the repair, exit 2, nothing written."""
    journal = copy(finished, tmp_path)
    index = line_of(journal, lambda r: r.get("op_code") == 5)
    ls = lines(journal)
    record = json.loads(ls[index])
    record.update(edit)
    ls[index] = json.dumps(record, separators=(",", ":")).encode() + b"\n"
    journal.write_bytes(b"".join(ls))
    damaged = journal.read_bytes()
    for command in ("report", "study"):
        run = run_main(capsys, command, str(finished[0]), "--storage", str(journal))
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        assert f"is damaged at line {index + 1} " in run.stderr and "make repair STUDY=" in run.stderr, run.stderr
    assert journal.read_bytes() == damaged
