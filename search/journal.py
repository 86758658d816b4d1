"""The journal file's integrity: a torn last record is set aside when the file is opened; damage in the middle
stops every command with one line until ``make repair`` mends it.

Optuna's journal file (``runs/<study>/journal.log``) is one JSON record per line, appended under a lock file
(``journal.log.lock``, :class:`~optuna.storages.journal.JournalFileOpenLock`). A crash or a full disk in the middle
of an append leaves a partial last line. Optuna skips it when reading, but the next append is glued onto it and
from then on every reader fails with a raw ``JSONDecodeError``. So before Optuna opens the file,
:func:`check_journal` scans it under the same lock (an append in progress by another worker is never mistaken for
damage) and sets a partial last record aside: the whole file is copied to ``journal.log.bak-<UTC time>``, the
partial bytes to ``journal.log.torn-<UTC time>``, and the file is truncated to the end of its last complete record.

A damaged line followed by good ones (an old glued write, a disk error) is not guessed at: :class:`StorageError`
names the line and :func:`repair_journal` (``make repair``) mends it: every parseable record is kept (a complete
record glued behind a torn one included), damaged bytes are dropped, and a lost record that created a trial (or a
study) is replaced by a placeholder, because Optuna numbers trials by the order of their creation records: without
one, every later record would land on the wrong trial. The result is replayed with Optuna before it replaces the
file (after a backup), and no finished trial whose records survived may change.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import optuna
from optuna.distributions import BaseDistribution, json_to_distribution
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage
from optuna.storages.journal._file import get_lock_file
from optuna.storages.journal._storage import JournalOperation, JournalStorageReplayResult
from optuna.trial import FrozenTrial, TrialState

from search.storage import StorageError

_DIRECTION = {"minimize": 1, "maximize": 2}  # optuna.study.StudyDirection's values, as the journal writes them
REPAIR_WORKER = "regtune-repair"  # worker_id of the records the repair writes (placeholders, closing failures)
REPAIRED_ATTR = "regtune:repaired"  # system attr of a placeholder: why it exists
MAX_GUESSES = 8  # unidentifiable lost fragments tried both ways (a lost trial creation or not); more: dropped

_RECORD_START = re.compile(rb'\{"op_code":')
_OP = re.compile(rb'^\{"op_code":(\d+)')
_TRIAL_ID = re.compile(rb'"trial_id":(\d+)')
_WORKER = re.compile(rb'"worker_id":"([^"]+)')  # to its closing quote, or to the cut
_STUDY_ID = re.compile(rb'"study_id":(\d+)')
_STUDY_NAME = re.compile(rb'"study_name":("(?:[^"\\]|\\.)*")')
_DIRECTIONS = re.compile(rb'"directions":\[([0-9,]+)\]')
_DATETIME = re.compile(rb'"datetime_(?:start|complete)":"([^"]+)"')
_OP_NAMES = {op.value: op.name.lower().replace("_", " ") for op in JournalOperation}


def journal_path(url: str) -> Path | None:
    """The journal file of a storage URL (a plain path or ``file://``), or None for any other storage."""
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme not in ("", "file"):
        return None
    return Path(urlsplit(url).path if scheme else url)


def stamp(path: Path, kind: str) -> Path:
    """``<file name>.<kind>-<UTC time>`` beside ``path`` (a backup, a torn tail), numbered when taken already (two
    repairs in one second)."""
    base = f"{path.name}.{kind}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    out, n = path.with_name(base), 1
    while out.exists():
        out, n = path.with_name(f"{base}.{n}"), n + 1
    return out


def backup_copy(path: Path) -> Path:
    """A whole copy of ``path`` (its times and mode too) at :func:`stamp` ``(path, "bak")``: written under a hidden
    temporary name, flushed to disk and renamed into place, so an interrupt or a full disk mid-copy never leaves a
    partial file named like a whole backup (it did: ``shutil.copy2`` straight to the backup's name)."""
    out = stamp(path, "bak")
    tmp = out.with_name(f".{out.name}.partial")
    try:
        shutil.copy2(path, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def lock_dir_refused(path: Path) -> None:
    """Refuse, in one line, a directory at the journal's lock path (``<path>.lock`` beside the file a link points
    to). Optuna's lock is a file each append creates and deletes (a symbolic link with its other lock), never a
    directory, so no live worker holds one: every command waited 30 s for it, then renamed it aside as a stale lock
    (``journal.log.lock<uuid>.rename`` left behind) and went on (the faults9 probe)."""
    lock = f"{path.resolve()}.lock"
    if os.path.isdir(lock):
        raise StorageError(f"journal file {path}: its lock path {lock} is a directory, which no Optuna process makes "
                           "(its lock is a file each write creates and deletes), so no live worker holds it: move it "
                           f"out of the way (mv {shlex.quote(lock)} {shlex.quote(lock + '.aside')}), then rerun; "
                           "nothing was changed")  # fmt: skip


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold Optuna's own append lock of the journal (``<path>.lock``, beside the file a link points to: every
    spelling of one file takes one lock, :func:`search.storage.open_storage`); a directory there is refused
    (:func:`lock_dir_refused`)."""
    lock_dir_refused(path)
    with get_lock_file(JournalFileOpenLock(str(path.resolve()))):
        yield


def keep_access(original: Path, new: Path) -> None:
    """Give ``new`` (a repaired file about to replace ``original``) the original's permission bits, owner and group
    where this process may: the repair replaced a study's file with one of the repairer's umask and owner (a
    group-writable journal became another user's, 0644, and its owner's next run was refused as "not writable")."""
    st = original.stat()
    os.chmod(new, stat.S_IMODE(st.st_mode))
    for uid in (st.st_uid, -1):  # (only root may give a file away: else at least its group, where one belongs)
        with contextlib.suppress(OSError):
            os.chown(new, uid, st.st_gid)
            return


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _parse(line: bytes) -> dict[str, Any] | None:
    """The record on a complete line, or None when the line is damaged (no newline, not a JSON object)."""
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError, or bytes that are not UTF-8
        return None
    return record if isinstance(record, dict) and _well_formed(record) else None


#: the keys Optuna's journal reads from a record of each operation (optuna.storages.journal: JournalOperation
#: 0 create study .. 9 set trial system attr, 10 discard trials, which only Rust's storage writes and Optuna skips)
_KEYS: dict[int, tuple[str, ...]] = {
    0: ("study_name", "directions"), 1: ("study_id",), 2: ("study_id", "user_attr"), 3: ("study_id", "system_attr"),
    4: ("study_id", "datetime_start"), 5: ("trial_id", "param_name", "param_value_internal", "distribution"),
    6: ("trial_id", "state", "values"), 7: ("trial_id", "step", "intermediate_value"), 8: ("trial_id", "user_attr"),
    9: ("trial_id", "system_attr"), 10: (),
}  # fmt: skip


def _well_formed(record: dict[str, Any]) -> bool:
    """Whether Optuna can replay ``record``: a known operation with the keys it reads, its distributions JSON. A
    JSON line that is no such record (``{"op_code": 99}``; a bit flip that keeps the JSON valid) made every
    command fail (``AssertionError: Should not reach.``, ``KeyError: 'trial_id'``) while repair found "no damaged
    line": it is damaged, set aside like a torn one."""
    op = record.get("op_code")
    if isinstance(op, bool) or not isinstance(op, int) or op not in _KEYS or "worker_id" not in record:
        return False
    if any(key not in record for key in _KEYS[op]):
        return False
    if not _fields_readable(record, op):
        return False
    texts = {record["param_name"]: record["distribution"]} if op == 5 else record.get("distributions") or {}
    values = {record["param_name"]: record["param_value_internal"]} if op == 5 else record.get("params") or {}
    try:  # a parameter Optuna's distribution cannot read ("norm" 7 of 2 choices, null, an unknown class) was a
        # traceback (IndexError, TypeError, ValueError) from every command (the stores14 probe)
        if not all(isinstance(json.loads(t), dict) for t in texts.values()):
            return False
        distributions = {name: _distribution(t) for name, t in texts.items()}
        for name, value in values.items():
            distributions[name].to_external_repr(value)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        return False
    return True


@functools.lru_cache(maxsize=1024)
def _distribution(text: str) -> BaseDistribution:
    """Optuna's distribution of a record's JSON text, built once per text: a study's records repeat a few texts
    (one per searched name), and building each again made the check of 2,000 trials of 13 parameters 0.25 s slower."""
    return json_to_distribution(text)


_STATES = {s.value for s in TrialState}


def _known_direction(direction: object) -> bool:
    """Whether ``direction`` is one a study optimizes in (optuna.study.StudyDirection: 1 minimize, 2 maximize)."""
    return not isinstance(direction, bool) and direction in _DIRECTION.values()


def _is_time(text: object) -> bool:
    """Whether ``text`` (a record's field, or the bytes of a lost line's) is a time Optuna can read (ISO format)."""
    try:
        datetime.fromisoformat(text.decode() if isinstance(text, bytes) else text)  # type: ignore[arg-type]
    except (UnicodeDecodeError, TypeError, ValueError):  # (not a str: TypeError)
        return False
    return True


def _fields_readable(record: dict[str, Any], op: int) -> bool:
    """Whether Optuna can read a study record's directions and a trial record's state and times: a state it knows
    (``"state": 1`` flipped by one bit to 5 or 9 raised ``ValueError: 5 is not a valid TrialState``, to 0,
    RUNNING, ``KeyError: 'datetime_start'``), the time a running (finished) state needs, times in ISO format, and
    values as a list or null (the stores13 probe: each was a traceback from every command, while repair found no
    damaged line)."""
    if op == 0:  # ("directions":[2] flipped by one bit to [6]: "ValueError: 6 is not a valid StudyDirection")
        directions = record["directions"]
        return isinstance(directions, list) and bool(directions) and all(_known_direction(d) for d in directions)
    if op not in (4, 6):
        return True
    state = record.get("state", TrialState.RUNNING.value if op == 4 else None)
    if isinstance(state, bool) or state not in _STATES:
        return False
    if op == 6 and record["values"] is not None and not isinstance(record["values"], list):
        return False
    if op == 4:  # (the times Optuna reads: a creation's start where not null, its end where given)
        read = ["datetime_start"] * (record["datetime_start"] is not None) + ["datetime_complete"] * (
            "datetime_complete" in record
        )
    else:  # a state change: the start of a running trial, the end of a finished one
        read = ["datetime_start"] * (state == TrialState.RUNNING.value) + ["datetime_complete"] * (
            TrialState(state).is_finished()
        )
    return all(_is_time(record.get(key)) for key in read)  # (missing: None, not a time)


# --------------------------------------------------------------------------------------------- check at open
@dataclass
class JournalCheck:
    """What :func:`check_journal` found (and did)."""

    path: Path
    records: int = 0  # complete records in the file (after a partial last one was set aside)
    size: int = 0  # bytes of the file (after)
    torn_offset: int | None = None  # byte offset where a partial last record began; None: there was none
    torn_bytes: int = 0  # length of the partial last record set aside
    backup: Path | None = None  # copy of the whole file before it was truncated
    torn_file: Path | None = None  # the partial bytes
    seconds: float = 0.0  # time taken, lock included


@dataclass
class _Damage:
    line: int  # 1-based
    offset: int
    length: int
    repeats: int | None = None  # a complete trial-creation record repeating this line's byte for byte


@dataclass
class _Entry:
    """What the repeated-creation check needs of one complete record."""

    line: int
    op: int
    worker: str
    trial_id: int | None  # the trial a record names (None: a creation, or a study record)
    waiting: bool = False  # a creation record of a WAITING (enqueued) trial
    key: bytes = b""  # a creation record's digest


def _entry(line: int, record: dict[str, Any], raw: bytes) -> _Entry:
    op = record["op_code"]
    creation = op == JournalOperation.CREATE_TRIAL
    return _Entry(
        line, op, str(record.get("worker_id")), record.get("trial_id"),
        waiting=creation and record.get("state") == TrialState.WAITING.value,
        key=_digest(raw) if creation else b"",
    )  # fmt: skip


def _digest(raw: bytes) -> bytes:
    """A record's bytes, line end aside, as a short key (two creation records are equal when their keys are)."""
    return hashlib.blake2b(raw.rstrip(b"\r\n"), digest_size=16).digest()


def _stray_creations(entries: list[_Entry]) -> dict[int, int]:
    """{line: the line it repeats} for trial-creation records that repeat an earlier one byte for byte and are not
    part of the trials' numbering: a copied or replayed write (a line doubled, a journal appended to itself). Optuna
    numbers trials by these records, so such a repeat put every later record on the wrong trial (a finished trial
    showed another's parameters under its own label). Equal creation records are otherwise impossible in a
    regtune journal: a sampled trial's carries its start to the microsecond; an enqueued one its parameters, which
    no worker enqueues twice (``skip_if_exists``; a re-queued trial names the one it repeats). A sampled trial's
    repeat is kept when its creator's next record names the repeat's own number: the write itself was doubled, and
    the worker went on with the second copy's number."""
    firsts: dict[bytes, int] = {}
    out: dict[int, int] = {}
    number = -1
    for i, e in enumerate(entries):
        if e.op != JournalOperation.CREATE_TRIAL:
            continue
        number += 1
        if e.key not in firsts:
            firsts[e.key] = e.line
            continue
        if not e.waiting:
            after = (x.trial_id for x in entries[i + 1 :] if x.worker == e.worker and x.trial_id is not None)
            if next(after, None) == number:
                continue
        out[e.line] = firsts[e.key]
    return out


@dataclass
class _Scan:
    lines: int = 0
    size: int = 0
    damaged: list[_Damage] = field(default_factory=list)
    study_names: list[str] = field(default_factory=list)
    study_files: list[str] = field(default_factory=list)


def _scan(path: Path) -> _Scan:
    scan = _Scan()
    offset = 0
    creations: set[bytes] = set()
    repeated = False  # a trial-creation record seen twice: only then are the records read for _stray_creations
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            record = _parse(line)
            if record is None:
                scan.damaged.append(_Damage(number, offset, len(line)))
            elif record["op_code"] == JournalOperation.CREATE_TRIAL:
                key = _digest(line)
                repeated = repeated or key in creations
                creations.add(key)
            elif record["op_code"] == JournalOperation.CREATE_STUDY:
                scan.study_names.append(str(record.get("study_name")))
            elif record["op_code"] == JournalOperation.SET_STUDY_USER_ATTR and "regtune:study_file" in record.get(
                "user_attr", {}
            ):
                scan.study_files.append(str(record["user_attr"]["regtune:study_file"]))
            offset += len(line)
            scan.lines = number
    scan.size = offset
    if repeated:  # the rare case: every command's check stays a parse of each line
        entries, places = [], {}
        with open(path, "rb") as f:
            offset = 0
            for number, line in enumerate(f, start=1):
                if (record := _parse(line)) is not None:
                    entries.append(_entry(number, record, line))
                    places[number] = (offset, len(line))
                offset += len(line)
        strays = _stray_creations(entries)
        scan.damaged += [_Damage(n, *places[n], repeats=first) for n, first in strays.items()]
        scan.damaged.sort(key=lambda d: d.line)
    return scan


SQLITE_MAGIC = b"SQLite format 3\x00"


def foreign(path: Path, scan: _Scan | None = None) -> str | None:
    """Why the file at ``path`` is not a journal file at all (None: it may be one): a SQLite database given as a
    plain path, or (with its ``scan``) a file none of whose lines is a journal record that does not begin like one
    either (a journal whose one record was cut short still does). Checked before anything sets aside or repairs
    a part of it: before this, a study file given as STORAGE was "repaired" into an empty journal."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(SQLITE_MAGIC):
        return (
            f"{path} is a SQLite database, not a journal file: give it as STORAGE=sqlite:///{path.resolve()} "
            "(nothing was changed)"
        )
    if scan is not None and scan.lines == len(scan.damaged) and not head.startswith(b'{"op_code":'):
        if head and not head.strip(b"\0"):  # a journal whose blocks were lost (a crash, a bad copy): not a mix-up
            return (
                f"{path} holds only zero bytes where it begins ({scan.lines} line(s), none a journal record): its "
                "blocks were lost (a crash before they reached the disk, or a bad copy); restore a backup copy of it, "
                "or move it aside to start the study over (nothing was changed)"
            )
        return (
            f"{path} is not an Optuna journal file: none of its {scan.lines} line(s) is a journal record (it begins "
            f"{head[:24]!r}); give the study's journal (runs/<study name>/journal.log) or a database URL "
            "(nothing was changed)"
        )
    return None


def repair_command(path: Path, study_files: list[str]) -> str:
    study = shlex.quote(study_files[0]) if len(set(study_files)) == 1 else "<study file>"
    return f"make repair STUDY={study} STORAGE={shlex.quote(str(path))}"


def _unmendable(path: Path) -> str | None:
    """What ``make repair`` would answer about the damaged journal at ``path`` if it refuses to mend it (a lost
    block that took the first trials' creation records), or None: a dry run, under the lock the caller holds. A
    journal whose first 4 KiB were zeros was sent to repair, and repair sent the user to a backup copy. The study
    file gives repair the study's name where the record that created it is lost; a stand-in name does here (the
    repair's verdict does not depend on it)."""
    try:
        repair_journal(path, echo=False, study=(f"{REPAIR_WORKER}-check", "maximize"), dry_run=True)
    except StorageError as exc:
        return str(exc).removeprefix(f"journal file {os.path.realpath(path)}: ")
    except OSError:  # (a directory it cannot write its trial copy in): repair itself will say
        return None
    return None


def check_journal(path: str | Path) -> JournalCheck:
    """Check the journal file at ``path`` before Optuna opens it, under Optuna's append lock.

    A partial last record (no trailing newline, or not a JSON record) is set aside (see the module) with one
    warning line on stderr; an intact file is left untouched byte for byte. A damaged line followed by complete
    ones raises :class:`StorageError` naming the file, the line, its byte offset and the repair command.
    """
    path = Path(path)
    start = time.monotonic()
    out = JournalCheck(path)
    lock_dir_refused(path)  # (a new or empty journal's first append waited on it too)
    if not path.exists() or path.stat().st_size == 0:
        return out
    if (why := foreign(path)) is not None:
        raise StorageError(why)
    with _locked(path):
        scan = _scan(path)
        if (why := foreign(path, scan)) is not None:
            raise StorageError(why)
        out.records, out.size = scan.lines - len(scan.damaged), scan.size
        if not scan.damaged:
            out.seconds = time.monotonic() - start
            return out
        first = scan.damaged[0]
        if first.line != scan.lines or first.repeats is not None:  # damage with complete records after it
            after = scan.lines - first.line - (len(scan.damaged) - 1)
            what = (
                f"it repeats line {first.repeats}'s trial-creation record byte for byte (a copied or replayed "
                "write: Optuna numbers trials by these records, so every later record would land on the wrong trial)"
                if first.repeats is not None else "not a complete record"
            )  # fmt: skip
            where = (
                f"journal file {path} is damaged at line {first.line} (byte offset {first.offset}): {what}, and "
                f"{after} complete record(s) follow it ({len(scan.damaged)} damaged line(s) in all)"
            )
            if (why := _unmendable(path)) is not None:  # repair would only send the user back: say it now
                raise StorageError(f"{where}; make repair cannot mend it: {why}")
            raise StorageError(f"{where}; repair it (a backup is kept): {repair_command(path, scan.study_files)}")
        out.backup, out.torn_file = backup_copy(path), stamp(path, "torn")
        with open(path, "r+b") as f:
            f.seek(first.offset)
            tail = f.read()
            out.torn_file.write_bytes(tail)
            f.truncate(first.offset)
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(path)
        out.torn_offset, out.torn_bytes, out.size = first.offset, first.length, first.offset
    out.seconds = time.monotonic() - start
    what, cause = "a partial last record", "a write cut short by a crash or a full disk"
    if tail.endswith(b"\n"):  # a whole line, newline and all, that is no JSON: no torn write either (the faults probe)
        what = "a last line that is no record"
        cause = "a complete line that is no JSON object: written by another program, or changed by hand"
    with contextlib.suppress(ValueError):
        record = json.loads(tail) if tail.endswith(b"\n") else None
        if isinstance(record, dict):  # a whole line, newline and all: no torn write (faults5: "op_code": 99)
            what = "a last line that is no record this Optuna replays"
            cause = (f"a complete JSON line, op code {record.get('op_code')!r}: written by another program or "
                     "Optuna version, or changed by hand")  # fmt: skip
    print(
        f"warning: journal file {path}: set aside {what} ({first.length} bytes at byte offset "
        f"{first.offset}, line {first.line}: {cause}) into {out.torn_file}; "
        f"backup of the whole file: {out.backup}",
        file=sys.stderr, flush=True,
    )  # fmt: skip
    return out


# --------------------------------------------------------------------------------------------- repair
@dataclass
class _Lost:
    """Damaged bytes that hold no complete record."""

    line: int
    data: bytes
    op: int | None  # what the record was, when its start survived
    trial_id: int | None
    study_id: int | None
    worker: str | None = None  # the writer (uuid-thread; its start, when cut): it works one trial at a time

    def what(self) -> str:
        if self.op is not None and b"\0" in self.data:  # a block of zeros: more than the one record it starts
            return (f"{len(self.data)} bytes, zeroed in part (a lost disk block), from a partial "
                    f"'{_OP_NAMES.get(self.op, f'op {self.op}')}' record")  # fmt: skip
        return f"a partial '{_OP_NAMES.get(self.op, f'op {self.op}')}' record" if self.op is not None else (
            f"{len(self.data)} unreadable bytes"
        )  # fmt: skip


@dataclass
class _Item:
    """One element of the repaired journal, in order: a record (kept or recovered) or a lost fragment."""

    line: int
    record: dict[str, Any] | None = None
    raw: bytes = b""  # the record's bytes as found (kept lines stay byte-identical)
    recovered: bool = False  # cut out of a damaged line
    lost: _Lost | None = None


@dataclass
class RepairReport:
    """What :func:`repair_journal` did."""

    path: Path
    kept: int = 0  # records kept as they were
    recovered: int = 0  # complete records cut out of damaged lines
    dropped_lines: list[int] = field(default_factory=list)  # damaged line numbers
    dropped_bytes: int = 0
    placeholders: int = 0  # lost creation records replaced by a placeholder
    repeated: int = 0  # dropped lines that repeated an earlier trial-creation record byte for byte
    mismatched: int = 0  # finished trials failed: their parameters disagree with their config (a lost record)
    affected: dict[str, list[str]] = field(default_factory=dict)  # study name -> "#n: why"
    finished_before: int = 0  # finished trials Optuna could read before (the part ahead of the damage)
    finished_after: int = 0
    backup: Path | None = None
    seconds: float = 0.0

    def lines(self) -> list[str]:
        if not self.dropped_lines and not self.mismatched:
            return [f"journal file {self.path}: no damaged line ({self.kept} records); nothing to repair"]
        shown = ", ".join(map(str, self.dropped_lines[:10])) + (", ..." if len(self.dropped_lines) > 10 else "")
        out = [
            f"repaired journal file {self.path}: kept {self.kept} records, recovered {self.recovered} complete "
            f"record(s) from damaged lines, dropped {len(self.dropped_lines)} damaged line(s) (line {shown}; "
            f"{self.dropped_bytes} bytes), placeholders for {self.placeholders} lost creation record(s)"
            if self.dropped_lines
            else f"repaired journal file {self.path}: no damaged line ({self.kept} records)"
        ]
        if self.mismatched:
            out.append(
                f"  {self.mismatched} finished trial(s) did not match the configuration they recorded, or lost it (a "
                "parameter or configuration record was lost): failed, to be run again"
            )
        if self.repeated:
            out.append(
                f"  {self.repeated} of the dropped lines repeated an earlier trial-creation record byte for byte: "
                "the trials after them are back on their own records"
            )
        for study, notes in self.affected.items():
            out += [f"  study {study}: trial {note}" if study != "(unknown)" else f"  {note}" for note in notes]
        if not self.affected:
            out.append("  no trial was affected")
        out.append(
            f"  finished trials: {self.finished_before} readable before the repair (ahead of the damage), all "
            f"unchanged{' but those failed above' if self.mismatched else ''}; {self.finished_after} after it"
        )
        out.append(f"  backup of the damaged file: {self.backup}")
        return out


def _lost(line: int, data: bytes) -> _Lost:
    def num(pattern: re.Pattern[bytes]) -> int | None:
        m = pattern.search(data)
        return int(m.group(1)) if m else None

    m = _OP.match(data)
    w = _WORKER.search(data)
    op = int(m.group(1)) if m else None
    if op is None and _STUDY_NAME.search(data):  # only a study's creation record names it: its op code was hit
        op = JournalOperation.CREATE_STUDY
    return _Lost(line, data, op, num(_TRIAL_ID), num(_STUDY_ID), w and w.group(1).decode())


def _salvage(number: int, line: bytes) -> list[_Item]:
    """Complete records cut out of a damaged line (a record appended behind a torn one), and what is lost."""
    body = line.rstrip(b"\r\n")
    if not body.strip(b" \t"):  # an empty line: nothing was in it (a zeroed one held a record: lost below)
        return []
    starts = [m.start() for m in _RECORD_START.finditer(body)]
    items: list[_Item] = []
    head = body[: starts[0]] if starts else body
    if head.strip(b" \t"):
        items.append(_Item(number, lost=_lost(number, head)))
    for i, s in enumerate(starts):
        chunk = body[s : starts[i + 1] if i + 1 < len(starts) else len(body)]
        record = _parse(chunk + b"\n")
        if record is not None:
            items.append(_Item(number, record=record, raw=chunk, recovered=True))
        else:
            items.append(_Item(number, lost=_lost(number, chunk)))
    return items


def _read(path: Path) -> tuple[list[_Item], list[int], int, int, int]:
    """Every element of the file; the damaged line numbers (a stray repeated creation's among them: dropped, it
    holds nothing of its own, :func:`_stray_creations`); their bytes; the line number of the first; how many were
    stray repeated creations."""
    items: list[_Item] = []
    damaged: list[int] = []
    dropped = 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            record = _parse(line)
            if record is not None:
                items.append(_Item(number, record=record, raw=line.rstrip(b"\r\n")))
                continue
            damaged.append(number)
            dropped += len(line)
            items += _salvage(number, line)
    whole = [i for i in items if i.record is not None and not i.recovered]
    strays = _stray_creations([_entry(i.line, i.record, i.raw) for i in whole if i.record is not None])
    if strays:
        gone = [i for i in whole if i.line in strays]
        items = [i for i in items if i.recovered or i.line not in strays]
        damaged = sorted(damaged + list(strays))
        dropped += sum(len(i.raw) + 1 for i in gone)
    return items, damaged, dropped, damaged[0] if damaged else 0, len(strays)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _placeholder_trial(lost: _Lost, study_id: int, when: str | None) -> dict[str, Any]:
    return {
        "op_code": JournalOperation.CREATE_TRIAL, "worker_id": REPAIR_WORKER, "study_id": study_id,
        "datetime_start": when or _iso(datetime.now()),
        "system_attrs": {REPAIRED_ATTR: f"placeholder for the damaged creation record on line {lost.line}"},
    }  # fmt: skip


def _plan(
    items: list[_Item],
    guesses: dict[int, bool],
    home: tuple[str, int] | None = None,
    known: tuple[str, int] | None = None,
) -> tuple[list[dict[str, Any]], dict[int, _Lost]]:
    """The records of the repaired journal (placeholders included) and, by trial id, the placeholders' causes.

    ``guesses``: for an unidentifiable lost fragment (by its index in ``items``), whether it is taken to have
    created a trial. ``home``: (name, Optuna direction) of the study file the repair was run for, given only when no
    record that created a study survives, not even in part (:func:`repair_journal`): it is re-created first.
    ``known``: (name, direction) of the study file the repair is for, whose direction a lost creation record of
    that name takes where its own is unreadable."""
    records: list[dict[str, Any]] = []
    placeholders: dict[int, _Lost] = {}
    names: dict[str, int] = {}
    trials, last_study, when = 0, None, None
    if home is not None:
        records.append(_study_record(*home))
        names[home[0]] = 0
    for index, item in enumerate(items):
        if item.record is not None:
            r = item.record
            op = r["op_code"]
            if op == JournalOperation.CREATE_STUDY and r.get("study_name") not in names:
                names[r["study_name"]] = len(names)
            elif op == JournalOperation.CREATE_TRIAL and r.get("study_id") in names.values():
                trials, last_study = trials + 1, r["study_id"]
            when = r.get("datetime_start") or r.get("datetime_complete") or when
            records.append(r)
            continue
        lost = item.lost
        assert lost is not None
        if lost.op == JournalOperation.CREATE_STUDY:
            m, d = _STUDY_NAME.search(lost.data), _DIRECTIONS.search(lost.data)
            name = json.loads(m.group(1)) if m else f"regtune-repair-lost-study-line-{lost.line}"
            if name in names:  # a repeated creation of an existing study: it never made a new one
                continue
            names[name] = len(names)
            directions = [int(x) for x in d.group(1).split(b",")] if (m and d) else [1]
            if not all(_known_direction(x) for x in directions):  # ([6]: re-created as damaged as it was)
                directions = [known[1]] if known is not None and known[0] == name else [1]
            records.append({**_study_record(name, directions[0]), "directions": directions})
        elif lost.op == JournalOperation.CREATE_TRIAL or (lost.op is None and guesses.get(index, False)):
            study = lost.study_id if lost.study_id in names.values() else last_study
            if study is None:
                study = next(iter(names.values()), 0)
            dt = _DATETIME.search(lost.data)
            if dt is not None and not _is_time(dt.group(1)):  # a garbled time: the placeholder was as damaged
                dt = None
            placeholders[trials] = lost
            records.append(_placeholder_trial(lost, study, dt.group(1).decode() if dt else when))
            trials += 1
    return records, placeholders


def _creates_a_study(items: list[_Item]) -> bool:
    """Whether some record, whole or in part, created a study."""
    return any(
        (i.record is not None and i.record["op_code"] == JournalOperation.CREATE_STUDY)
        or (i.lost is not None and i.lost.op == JournalOperation.CREATE_STUDY)
        for i in items
    )


def _study_record(name: str, direction: int) -> dict[str, Any]:
    return {"op_code": JournalOperation.CREATE_STUDY, "worker_id": REPAIR_WORKER, "study_name": name,
            "directions": [direction]}  # fmt: skip


#: lost records that change what a finished trial means: its parameters, its reports to the pruner
_MEANINGFUL = (JournalOperation.SET_TRIAL_PARAM, JournalOperation.SET_TRIAL_INTERMEDIATE_VALUE)


def _failing(tid: int, why: str) -> list[dict[str, Any]]:
    """The records that fail trial ``tid`` with ``why`` as its ``fail_reason``, written by the repair now."""
    return [
        {"op_code": JournalOperation.SET_TRIAL_USER_ATTR, "worker_id": REPAIR_WORKER, "trial_id": tid,
         "user_attr": {"fail_reason": why}},
        {"op_code": JournalOperation.SET_TRIAL_STATE_VALUES, "worker_id": REPAIR_WORKER, "trial_id": tid,
         "state": TrialState.FAIL.value, "values": None, "datetime_complete": _iso(datetime.now())},
    ]  # fmt: skip


def _finishes(record: dict[str, Any], tid: int) -> bool:
    """Whether ``record`` is the one that finished trial ``tid`` (complete, pruned or failed)."""
    finished = (TrialState.COMPLETE.value, TrialState.PRUNED.value, TrialState.FAIL.value)
    return bool(
        record.get("trial_id") == tid
        and record["op_code"] == JournalOperation.SET_TRIAL_STATE_VALUES
        and record.get("state") in finished
    )


def _suspects(
    items: list[_Item],
    records: list[dict[str, Any]],
    placeholders: dict[int, _Lost],
    result: JournalStorageReplayResult,
) -> dict[int, tuple[int, str | None]]:
    """Trials that may have lost records on a damaged line: trial id -> (the line, what it was when finished:
    ``COMPLETE value 0.98``, or None when it is RUNNING now). A damaged line counts when it held bytes no record
    can be named from, or a named lost parameter / intermediate value of no known trial; the trials counted are
    those created before it and finished after it, or still RUNNING (their finishing record may have been on it).
    A lost record that names its trial is that trial's alone."""
    lines_of = {id(i.record): i.line for i in items if i.record is not None}
    replaced = {id(cause) for cause in placeholders.values()}
    damaged: set[int] = set()
    direct: dict[int, int] = {}
    for item in items:
        lost = item.lost
        if lost is None or id(lost) in replaced or not lost.data:
            continue
        if lost.op is None or b"\0" in lost.data:  # nothing to name it by, or zeros: a lost block, whatever
            damaged.add(lost.line)  # record it starts with
        elif lost.op in _MEANINGFUL:
            if lost.trial_id is not None:
                direct[lost.trial_id] = lost.line
            else:
                damaged.add(lost.line)
    # a placeholder's creation lost alone keeps the rest; in a lost block (zeros, or bytes taken for a creation)
    # its other records went too
    blocked = {tid: c.line for tid, c in placeholders.items() if c.op is None or b"\0" in c.data}
    if not damaged and not direct and not blocked:
        return {}
    created: dict[int, int] = {}
    finished: dict[int, int] = {}
    count, line = 0, 0
    for r in records:
        line = lines_of.get(id(r), line)
        if r["op_code"] == JournalOperation.CREATE_TRIAL:  # a trial asked for starts RUNNING; an enqueued one,
            created[count] = line  # created WAITING up front, starts at its RUNNING record (below)
            count += 1
        elif r.get("state") == TrialState.RUNNING.value and r["op_code"] == JournalOperation.SET_TRIAL_STATE_VALUES:
            created[r["trial_id"]] = line
        elif r.get("trial_id") is not None and _finishes(r, r["trial_id"]) and r["trial_id"] not in finished:
            finished[r["trial_id"]] = line
    out: dict[int, tuple[int, str | None]] = {}
    for tid, trial in result._trials.items():
        if trial.state not in (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED):
            continue
        if tid in placeholders:
            if tid not in blocked:
                continue
            hit: int | None = blocked[tid]
        else:
            across = [d for d in sorted(damaged) if created.get(tid, 0) < d < finished.get(tid, 1 << 62)]
            hit = direct.get(tid) or (across[0] if across else None)
        if hit is None:
            continue
        was = None
        if trial.state != TrialState.RUNNING:
            value = f" value {trial.value:.4g}" if trial.value is not None else ""
            was = f"{trial.state.name}{value}"
        out[tid] = (hit, was)
    return out


def _replay(records: list[dict[str, Any]]) -> tuple[JournalStorageReplayResult, int, int]:
    """Optuna's replay of ``records``; how many trial records it ignored (no such trial, or one already finished),
    and how many name no trial at all. A lost trial creation shifts every later trial record onto the wrong trial:
    many are then ignored, and the last trial's records name one that does not exist (never so in a sound file)."""
    result = JournalStorageReplayResult(REPAIR_WORKER + "-verify-")
    ignored = missing = 0
    for r in records:
        tid = r.get("trial_id")
        if tid is not None and r["op_code"] != JournalOperation.CREATE_TRIAL:
            trial = result._trials.get(tid)
            missing += trial is None
            ignored += trial is None or trial.state.is_finished()
        result.apply_logs([r])
    return result, ignored, missing


def _finished(result: JournalStorageReplayResult | dict[str, list[FrozenTrial]]) -> dict[tuple[str, int], tuple]:
    """Finished trials by (study name, number): what must not change."""
    if isinstance(result, JournalStorageReplayResult):
        studies = {s.study_name: result.get_all_trials(s._study_id, None) for s in result.get_all_studies()}
    else:
        studies = result
    return {
        (name, t.number): (t.state, t.values, t.params, t.user_attrs, t.system_attrs, t.intermediate_values)
        for name, trials in studies.items()
        for t in trials
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
    }


def live_workers(replayed: JournalStorageReplayResult) -> str:
    """The workers of this machine (host, boot and pid namespace) whose process still runs a trial the journal's
    records, ``replayed``, leave running (``trial #3 (worker pid 1234)``, joined), "" when none. Workers of other machines
    cannot be seen from here. A repair that replaced the file under a live worker (faults4, 2026-12-06) ended it
    with "the journal changed under this run ... Check it with make repair", its running trials lost."""
    from search.processes import alive, pid_space
    from search.storage import HOST_ATTR, PID_ATTR, SPACE_ATTR, START_ATTR

    host, space, found = socket.gethostname(), pid_space(), []
    for s in replayed.get_all_studies():
        for t in replayed.get_all_trials(s._study_id, (TrialState.RUNNING,)):
            a = t.system_attrs
            if a.get(HOST_ATTR) == host and PID_ATTR in a and a.get(SPACE_ATTR, space) == space:
                if int(a[PID_ATTR]) != os.getpid() and alive(int(a[PID_ATTR]), str(a.get(START_ATTR, ""))):
                    found.append(f"trial #{t.number} of {s.study_name!r} (worker pid {a[PID_ATTR]})")
    return ", ".join(found)


def _dumps(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def repair_journal(
    path: str | Path, echo: bool = True, study: tuple[str, str] | None = None, dry_run: bool = False
) -> RepairReport:
    """Mend a journal file damaged in the middle (see the module); print what was done when ``echo``. ``study``:
    (name, "maximize" or "minimize") of the study file the repair is for: the record that created the study is
    re-created from it when the damage took that record whole (without it, such a file is refused). ``dry_run``:
    everything but the backup and the replacement, under the caller's lock (:func:`check_journal` learns whether
    the repair it would send the user to refuses the file).

    The file is rewritten atomically (a temporary file renamed over it) after a backup
    (``journal.log.bak-<UTC time>``), under Optuna's append lock; it is left untouched when nothing is damaged,
    and when the repaired journal would not open or would change a finished trial that Optuna could read before.
    """
    given = Path(path)
    path = Path(os.path.realpath(given))  # a symlinked journal: its target is mended (the link was replaced)
    start = time.monotonic()
    report = RepairReport(path)
    if not path.exists():
        raise StorageError(f"journal file {given}: no such file")
    if path.stat().st_size == 0:  # "not an Optuna journal file: none of its 0 line(s) is a journal record"
        raise StorageError(f"journal file {given} is empty (0 bytes): nothing to repair; if it held a study, its "
                           "records were lost (the file was emptied): restore a backup copy of it")  # fmt: skip
    if (why := foreign(path)) is not None or (why := foreign(path, _scan(path))) is not None:
        raise StorageError(why)
    with contextlib.nullcontext() if dry_run else _locked(path):  # the one lock every spelling takes (_locked)
        items, damaged, dropped, first, report.repeated = _read(path)
        report.kept = sum(1 for i in items if i.record is not None and not i.recovered)
        if not damaged:
            records = [i.record for i in items if i.record is not None]
            replayed = _replay(records)[0]
            before = _finished(replayed)
            if failed := _fail_mismatched(records, report, replayed):
                _rewrite(path, items, records, replayed, report, before, failed, dry_run)  # (running trials: as then)
            report.seconds = time.monotonic() - start
            if echo:
                print("\n".join(report.lines()), flush=True)
            return report
        report.dropped_lines, report.dropped_bytes = damaged, dropped
        report.recovered = sum(1 for i in items if i.recovered)
        created = _creates_a_study(items)
        if not created and study is None:
            raise StorageError(f"journal file {path}: the record that created its study (line {first}) is lost and "
                               "nothing left names the study; repair it with its study file (make repair STUDY=...)")  # fmt: skip
        known = None if study is None else (study[0], _DIRECTION[study[1]])
        home = None if created else known

        # unidentifiable fragments: a lost trial creation or not, whichever leaves fewer trial records ignored
        guesses: dict[int, bool] = {}
        ambiguous: set[int] = set()  # ids of the fragments both readings fit equally
        unknown = [n for n, i in enumerate(items) if i.lost is not None and i.lost.op is None and i.lost.data]
        for index in unknown[:MAX_GUESSES]:
            scores = {}
            for guess in (False, True):
                scores[guess] = _replay(_plan(items, {**guesses, index: guess}, home, known)[0])[1]
            guesses[index] = scores[True] < scores[False]
            later = any(
                i.record is not None and i.record["op_code"] == JournalOperation.CREATE_TRIAL for i in items[index:]
            )
            if scores[True] == scores[False] and later:
                ambiguous.add(id(items[index].lost))
        records, placeholders = _plan(items, guesses, home, known)
        report.placeholders = len(placeholders)
        result = _replay(records)[0]

        # placeholders nothing finished: failed (their parameters and creation attributes are lost)
        for tid, gone in placeholders.items():
            if not result._trials[tid].state.is_finished():
                records += _failing(tid, f"journal repair: its creation record (line {gone.line}) was damaged")
        result = _replay(records)[0]

        # trials that ran across a damaged line which held records nobody can name (or a lost parameter or
        # report): what they wrote there may be gone, a finished one kept its value over a partial record
        # (a COMPLETE trial with no parameters, seen after a 4 KiB block of zeros): failed, not trusted
        suspects = _suspects(items, records, placeholders, result)
        for tid, (line, was) in suspects.items():
            if was is not None:
                records[:] = [r for r in records if not _finishes(r, tid)]
                records += _failing(
                    tid, f"journal repair: it ran across damaged line {line}, where its records may be lost"
                )
        plan = _replay(records)  # the records the file gets (replayed again only if a trial is failed below)
        failed = _fail_mismatched(records, report, plan[0])  # a whole record lost ahead of the damage or around it
        result, _, missing = _replay(records) if failed else plan

        # which trials lost something
        def note(tid: int | None, why: str) -> None:
            trial = result._trials.get(tid) if tid is not None else None
            if trial is None:
                report.affected.setdefault("(unknown)", []).append(f"trial id {tid}: {why}" if tid is not None else why)
                return
            study = result._studies.get(result._trial_id_to_study_id[trial._trial_id])
            name = study.study_name if study else "(deleted)"
            state = trial.state.name + (
                " (its worker is gone: the next run re-queues it)" if trial.state == TrialState.RUNNING else ""
            )
            report.affected.setdefault(name, []).append(f"#{trial.number}: {why}; now {state}")

        for tid, cause in placeholders.items():
            kind = (
                "its creation record" if cause.op is not None else f"{len(cause.data)} unreadable bytes (taken for it)"
            )
            note(
                tid, f"{kind} on line {cause.line} was damaged: re-created as a placeholder (creation attributes lost)"
            )
        for tid, (line, was) in suspects.items():
            kept = len(result._trials[tid].params)
            if was is not None:
                note(tid, f"ran across damaged line {line}, where its records may be lost ({kept} parameter(s) "
                     f"left); was {was}: failed, its result not trusted (the backup keeps it)")  # fmt: skip
            else:
                note(tid, f"ran across damaged line {line}, where its records may be lost (its finishing one too)")
        replaced = {id(cause) for cause in placeholders.values()}
        last_trial: dict[str, int] = {}  # worker -> the trial it wrote about last
        for item in items:
            lost = item.lost
            if item.record is not None and "trial_id" in item.record:
                last_trial[item.record["worker_id"]] = item.record["trial_id"]
            if lost is None or id(lost) in replaced:
                continue
            writers = [w for w in last_trial if lost.worker and len(lost.worker) >= 8 and w.startswith(lost.worker)]
            if lost.trial_id is None and len(writers) == 1 and (lost.op or 0) > JournalOperation.CREATE_TRIAL:
                note(last_trial[writers[0]], f"lost {lost.what()} on line {lost.line} (the trial its writer was on)")
                continue
            if lost.trial_id is not None:
                note(lost.trial_id, f"lost {lost.what()} on line {lost.line}")
            elif lost.op is not None and lost.op >= JournalOperation.CREATE_TRIAL:
                note(None, f"an unknown trial lost {lost.what()} on line {lost.line}")
            elif lost.op == JournalOperation.CREATE_STUDY:
                note(None, f"the creation record of a study on line {lost.line} was damaged: re-created")
            elif id(lost) in ambiguous:
                note(None, f"lost {lost.what()} on line {lost.line}: if they held the record that created a trial, "
                     "each trial created after it carries the records of the one created before it")  # fmt: skip
            else:
                note(None, f"lost {lost.what()} on line {lost.line}")
        if home is not None:
            report.affected.setdefault("(unknown)", []).append(
                f"the record that created study {home[0]} (line {first}) was lost whole: re-created from the study file"
            )
        if missing:  # a lost record that created a trial went unrecognized: later trials are shifted
            report.affected.setdefault("(unknown)", []).append(
                f"{missing} trial record(s) name a trial that does not exist: a lost record on or after line "
                f"{first} created a trial, so the trials created after it may carry another trial's records"
            )

        before = _finished(_replay([i.record for i in items if i.line < first and i.record is not None])[0])
        _rewrite(path, items, records, result, report, before, failed, dry_run)
    report.seconds = time.monotonic() - start
    if echo:
        print("\n".join(report.lines()), flush=True)
    return report


def _rewrite(
    path: Path, items: list[_Item], records: list[dict[str, Any]], replayed: JournalStorageReplayResult,
    report: RepairReport,
    before: dict[tuple[str, int], tuple], failed: set[tuple[str, int]], dry_run: bool = False,
) -> None:  # fmt: skip
    """Write ``records`` (kept lines byte for byte), replay them with Optuna and compare before replacing the file
    (after a backup): no finished trial of ``before`` may change but those the repair ``failed`` on purpose. Refused
    while a worker of this machine runs a trial of the journal (:func:`live_workers` of ``replayed``, the records
    as the repair replayed them: failing a finished trial changes no running one)."""
    if not dry_run and (live := live_workers(replayed)):
        raise StorageError(f"journal file {path}: not repaired while {live} runs on this machine: the repair replaces "
                           "the file, and that worker then stops with its running trials lost; stop it first (Ctrl-C "
                           "re-queues its trials), then repair")  # fmt: skip
    report.finished_before = len(before)
    tmp = path.with_name(path.name + ".repair-tmp")
    try:
        with open(tmp, "wb") as f:
            for source, record in _raw(items, records):
                f.write((source.raw if source is not None else _dumps(record)) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        storage = JournalStorage(JournalFileBackend(str(tmp), lock_obj=JournalFileOpenLock(str(tmp))))
        loaded = {
            s.study_name: optuna.load_study(study_name=s.study_name, storage=storage).get_trials(deepcopy=False)
            for s in storage.get_all_studies()
        }
        after = _finished(loaded)
        first_end: dict[int, int] = {}  # trial id -> the state its first finishing record sets (Optuna's rule)
        for r in records:
            if _finishes(r, r.get("trial_id", -1)):
                first_end.setdefault(r["trial_id"], r["state"])
        finishing = sum(state != TrialState.FAIL.value for state in first_end.values())
        if len(after) < finishing:  # finishing records kept that no trial holds: a lost creation shifted them
            raise StorageError(
                f"journal file {path}: the repair would leave {len(after)} finished trial(s) where {finishing} "
                "finish in the records it keeps (a lost record that created a trial moved the others' records "
                "onto trials that do not exist); the file is left as it was (restore a backup copy)"
            )
        changed = sorted(
            f"{name} #{n}" for (name, n), v in before.items() if after.get((name, n)) != v and (name, n) not in failed
        )
        if changed:
            raise StorageError(
                f"journal file {path}: the repair would change finished trial(s) {', '.join(changed)}; "
                "the file is left as it was"
            )
        report.finished_after = len(after)
        if dry_run:
            return
        report.backup = backup_copy(path)
        keep_access(path, tmp)
        os.replace(tmp, path)
        _fsync_dir(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        with contextlib.suppress(FileNotFoundError):
            Path(str(tmp) + ".lock").unlink()


#: user attributes only a regtune study holds (search.fingerprint): its finished trials each record ``config``
_REGTUNE_STUDY = frozenset({"regtune:definition", "regtune:study_file"})
#: a finished regtune trial without its ``config`` record (the whole line lost from the middle of the file):
#: what the repair's report says, and the ``fail_reason`` (after "journal repair: ")
LOST_CONFIG_NOTE = "its configuration record (the user attribute config) is lost"
LOST_CONFIG = "its configuration record (config) was lost from the journal, so what it ran cannot be told"


def _fail_mismatched(
    records: list[dict[str, Any]], report: RepairReport, result: JournalStorageReplayResult
) -> set[tuple[str, int]]:
    """Fail (in ``records``) each finished trial whose parameters disagree with the configuration it recorded
    (:mod:`search.config_check`: a whole ``set trial param`` line lost, which no damaged line shows), and each
    finished trial of a regtune study whose ``config`` record is lost whole (every command called the study "not
    regtune's alone" and told the user to rename it, while this repair said "nothing to repair": the faults8
    probe), so that the sampler never learns it and it runs again; name each in ``report``. ``result``:
    ``records`` replayed. Returns their (study, number)."""
    from search.config_check import FINISHED, mismatches

    out: set[tuple[str, int]] = set()
    for study in result.get_all_studies():
        trials = result.get_all_trials(study._study_id, None)
        odd = [
            (t, f"its parameters do not match the configuration it recorded ({why})",
             f"its parameters do not match its recorded configuration ({why})")
            for t, why in mismatches(trials, study.user_attrs)
        ]  # fmt: skip
        if _REGTUNE_STUDY & study.user_attrs.keys():  # its configuration record lost whole (a line from the middle)
            lost = [t for t in trials if t.state in FINISHED and "config" not in t.user_attrs]
            odd += [(t, LOST_CONFIG_NOTE, LOST_CONFIG) for t in lost]
        for trial, note, reason in sorted(odd, key=lambda o: o[0].number):
            tid = trial._trial_id
            records[:] = [r for r in records if not _finishes(r, tid)]
            records += _failing(tid, f"journal repair: {reason}")
            value = f" value {trial.value:.4g}" if trial.value is not None else ""
            report.affected.setdefault(study.study_name, []).append(
                f"#{trial.number}: {note}; was {trial.state.name}{value}: failed, to be run again (the backup keeps it)"
            )
            out.add((study.study_name, trial.number))
    report.mismatched += len(out)
    return out


def _raw(items: list[_Item], records: list[dict[str, Any]]) -> Iterator[tuple[_Item | None, dict[str, Any]]]:
    """Pair each record of the plan with the item it came from (its bytes kept as found), None for new ones."""
    by_id = {id(i.record): i for i in items if i.record is not None}
    for record in records:
        yield by_id.get(id(record)), record
