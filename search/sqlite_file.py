"""A SQLite study file's integrity: checked before Optuna opens it; ``make repair`` rebuilds a damaged one.

A SQLite file damaged by a disk error, a copy taken while a worker wrote, or a deleted ``-journal`` opens fine
(Optuna reads only its version table) and then fails in the middle of a study with a raw SQLAlchemy traceback.
:func:`check_sqlite` runs SQLite's ``PRAGMA quick_check`` first (after SQLite's own rollback of a hot journal that a
killed writer left, which is no damage), so a damaged file stops every command with one line naming the file and
the repair command, and nothing else is written to it.

:func:`repair_sqlite` (``make repair``) rebuilds the file from every row SQLite can still read (Python's ``sqlite3``
has no recovery API, and Debian's ``sqlite3 .recover`` fails on intact files too): the schema from
``sqlite_master``, then each table in one scan, or row by row where the scan hits a damaged page, since looking up
one rowid reads only its own B-tree path. It holds SQLite's exclusive lock on the file throughout (refused while a
worker writes to it), and the damaged file is copied to ``NAME.bak-<UTC time>`` first. :func:`_mend` then makes the
rows a consistent study: a lost trial row inside a study's numbering comes back as a failed placeholder (Optuna
numbers a new trial by counting rows: a gap would give two trials one number), rows of lost trials and studies are
dropped, and a finished trial whose value, or possibly a parameter, was on a lost page is marked failed (the reason
in ``fail_reason``), so that Optuna reads the study and the sampler never learns a value or configuration that is
gone. The rebuilt file must pass ``quick_check`` and read back through Optuna, study
by study, before it replaces the damaged one; the report counts the lost rows per table and names each failed trial.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from search.journal import backup_copy, keep_access
from search.storage import StorageError

LOCK_WAIT = 30.0  # seconds the check waits for another worker's write before letting Optuna open the file
PROBE_GAP = 10_000  # rowids read past the last one found when a table's highest rowid is unreadable
FAILED_BY_REPAIR = "sqlite repair: its value was on a damaged page of the study file"
LOST_PARAMS = "sqlite repair: some of its parameters may have been on a damaged page of the study file"
LOST_RECORD = "sqlite repair: its trial record was on a damaged page of the study file (a placeholder)"
LOST_CONFIG = "sqlite repair: its configuration record was on a damaged page of the study file"


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (relative to the current directory), or None (memory, other schemes)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def problem(path: Path) -> str | None:
    """SQLite's own words when the file at ``path`` is damaged, else None. A normal connection, so that SQLite rolls
    back the hot ``-journal`` a killed writer left (its own recovery, which Optuna's next open would do too; a
    read-only connection cannot, and would call a merely interrupted file damaged); nothing else is written."""
    try:
        conn = sqlite3.connect(str(path), timeout=LOCK_WAIT, isolation_level=None)
        try:
            conn.execute("BEGIN")  # the check's reads hold a shared lock: no writer commits (grows the file) meanwhile
            rows = conn.execute("PRAGMA quick_check").fetchall()
            short = _short(path)
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if _busy(exc):  # another worker's write: not damage (Optuna waits its turn)
            return None
        return str(exc)
    except sqlite3.Error as exc:
        return str(exc)
    found = [
        line.strip()
        for r in rows
        if r and r[0] != "ok"
        for line in str(r[0]).splitlines()
        if line.strip() and not line.startswith("*** in database")
    ]
    if found:
        return "; ".join(found[:3]) + (f" (+{len(found) - 3} more)" if len(found) > 3 else "")
    return short


def _short(path: Path) -> str | None:
    """Why a file that passed ``quick_check`` is still cut short, else None: fewer bytes than the pages its valid
    header counts. SQLite reads the missing end of a last page cut in the middle as zeros, so quick_check passed
    and a value stored there failed later ("not readable JSON ... restore a backup copy"), while repair said
    "nothing to repair" (found by a probe, 2026-12-05: a 42-page study cut by half a page). A file whose last page
    is only partly there is damage like one missing whole pages, and repair rebuilds it from its whole pages."""
    try:
        with open(path, "rb") as f:
            head = f.read(100)
        size_now = path.stat().st_size
    except OSError:
        return None
    if len(head) < 100 or head[24:28] != head[92:96]:  # the count is valid only with the two equal
        return None
    size = int.from_bytes(head[16:18], "big")
    size = 65536 if size == 1 else size
    counted = int.from_bytes(head[28:32], "big")
    if size < 512 or size & (size - 1) or size_now >= counted * size:
        return None
    return f"the file is cut short: {size_now} bytes where its header counts {counted} pages of {size}"


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite gave up waiting for another connection's lock (a worker writing), not a damaged file."""
    return "locked" in str(exc) or "busy" in str(exc)


def check_sqlite(url: str) -> None:
    """Raise :class:`StorageError` (one line: file, SQLite's words, the repair command) when the SQLite file of
    ``url`` exists and is damaged. A missing or empty file is fine: Optuna creates it."""
    path = sqlite_path(url)
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return
    other = not_sqlite(path)
    if other is not None:
        raise StorageError(other)
    # SQLite rolls a hot -journal back into the file at the first open, and replays a -wal into it (a file its
    # WAL mode was set on, by a user or another tool: a restored copy beside a newer copy's WAL was damaged and the
    # WAL deleted, and the line said "nothing was written to it": the faults10 probe); both are copied first
    kept: list[tuple[Path, Path, Path]] = []  # (the journal or WAL, the file's copy, its copy)
    for side in (path.with_name(path.name + "-journal"), path.with_name(path.name + "-wal")):
        if side.is_file() and side.stat().st_size > 0:
            copies: list[Path] = []
            try:  # the journal first: a writer's at work is gone by the time a large file is copied
                copies.append(backup_copy(side))
                copies.append(backup_copy(path))
                kept.append((side, copies[1], copies[0]))
            except OSError:  # (the journal gone meanwhile: a writer's that committed) no pair: nothing left behind
                for copy in copies:
                    copy.unlink(missing_ok=True)
    why = problem(path)
    # a journal rolled back into the file is deleted; a WAL is read with the file whether or not it was moved into
    # it (and then deleted) yet: damage seen beside either is told with both copies
    used = [k for k in kept if not k[0].exists() or k[0].name.endswith("-wal")]
    if why is not None and used:
        side, file_copy, side_copy = used[0]
        wal = side.name.endswith("-wal")
        done, kind, suffix = ("replayed", "WAL", "-wal") if wal else ("rolled back", "journal", "-journal")
        raise StorageError(
            f"SQLite file {path} is damaged ({why}) after SQLite {done} the {side.name} left beside it: a killed "
            f"writer's leaves a whole file, so that {kind} belonged to another copy of the file (a file restored "
            f"from a backup, or copied, beside an old {suffix}). The file and that {kind} as "
            f"they were: {file_copy}, {side_copy}; if this file was restored from a copy, put the copy back without "
            f"the {suffix}{' (and -shm)' if wal else ''}, else rebuild it from every readable "
            f"row: make repair STUDY=<study file> STORAGE={url}"
        )
    for _, file_copy, side_copy in kept:  # cleanly (a killed writer's), or not hot after all (a writer at work)
        file_copy.unlink(missing_ok=True)
        side_copy.unlink(missing_ok=True)
    if why is not None:
        if (lost := table_list_lost(path)) is not None:  # make repair would rebuild nothing (the stores14 probe)
            raise StorageError(
                f"SQLite file {path} is damaged ({why}), its table list too ({lost}): nothing can be rebuilt from "
                "it, so make repair cannot help; restore a backup copy (nothing was written to it)"
            )
        raise StorageError(
            f"SQLite file {path} is damaged ({why}); nothing was written to it. Rebuild it from every readable row "
            f"(a backup is kept): make repair STUDY=<study file> STORAGE={url}"
        )
    tables = _tables(path)
    if tables and "studies" not in tables:  # Optuna's tables were written into it, beside the other program's
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise StorageError(
            f"SQLite file {path} is another program's database (tables: {shown}; no Optuna tables); nothing was "
            "written to it. Give regtune a file of its own: STORAGE=sqlite:///<new file>.db"
        )
    if (value := unknown_value(path, tables)) is not None:
        raise StorageError(f"SQLite file {path} holds a value Optuna cannot read, {value}; nothing was written to it")


#: the enum columns of Optuna's tables, their key column, and the values SQLAlchemy reads (optuna.storages._rdb.models)
_ENUMS = (
    ("trials", "state", "trial_id", ("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING")),
    ("study_directions", "direction", "study_id", ("NOT_SET", "MINIMIZE", "MAXIMIZE")),
    ("trial_values", "value_type", "trial_id", ("FINITE", "INF_POS", "INF_NEG")),
    ("trial_intermediate_values", "intermediate_value_type", "trial_id", ("FINITE", "INF_POS", "INF_NEG", "NAN")),
)


def unknown_value(path: Path, tables: list[str]) -> str | None:
    """The first value of an enum column of Optuna's tables that Optuna does not know, as one clause, or None. A
    damaged value on a page SQLite's check finds whole (``COMPLETE`` flipped to ``COMPLEVE``) made every command a
    traceback: ``LookupError: 'COMPLEVE' is not among the defined enum values`` (the stores13 probe)."""
    try:
        with contextlib.closing(sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)) as db:
            for table, column, key, allowed in _ENUMS:
                if table not in tables:
                    continue
                marks = ", ".join("?" * len(allowed))
                row = db.execute(
                    f"SELECT {key}, {column}, rowid FROM {table} WHERE {column} IS NULL OR {column} NOT IN ({marks}) "  # noqa: S608 - names from _ENUMS
                    "LIMIT 1",
                    allowed,
                ).fetchone()
                if row is not None:
                    return (f"{table}.{column} {row[1]!r} ({key} {row[0]}; allowed: {', '.join(allowed)}): a damaged "
                            f"value; restore a backup copy, or set it with sqlite3 {shlex.quote(str(path))} \"UPDATE "
                            f"{table} SET {column} = '...' WHERE rowid = {row[2]}\"")  # fmt: skip
    except sqlite3.Error:
        return None
    return None


def _schema(path: Path) -> list[tuple[str, str, str]]:
    """The table list (type, name, SQL) of the SQLite file at ``path``, read-only, as :func:`_salvage` copies it;
    raises ``sqlite3.DatabaseError`` where it cannot be read."""
    with contextlib.closing(sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)) as db:
        return db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        ).fetchall()


def table_list_lost(path: Path) -> str | None:
    """Why ``make repair`` could rebuild nothing from the damaged SQLite file at ``path`` (its table list unreadable,
    from the whole pages of a file cut short too: :func:`_rebuild`), else None. A file cut to half its pages was sent
    to ``make repair``, which then said that nothing could be rebuilt (the stores14 probe)."""
    try:
        _schema(path)
        return None
    except sqlite3.DatabaseError as exc:
        why = str(exc)
    try:
        handle, name = tempfile.mkstemp(prefix=f"{path.name}.", suffix=".check", dir=path.parent)
        os.close(handle)
    except OSError:  # no right to write beside it: repair may still get further
        return None
    whole = Path(name)  # (a name of its own: a repair at work writes {name}.whole-pages)
    try:
        cut = _whole_pages(path, whole)
        if cut is not None:
            with contextlib.suppress(sqlite3.DatabaseError):
                _schema(whole)
                return None
            why += f"; the file was cut short: {cut[0]} of the {cut[1]} pages its header counts are there"
    except OSError:  # no room for the copy beside it: repair may still get further
        return None
    finally:
        whole.unlink(missing_ok=True)
    return why


def _tables(path: Path) -> list[str]:
    """The tables of the SQLite database at ``path``, read-only ([] when it cannot say: the damage check speaks)."""
    try:
        with contextlib.closing(sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)) as db:
            return [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    except sqlite3.Error:
        return []


def not_sqlite(path: Path) -> str | None:
    """Why the non-empty file at ``path`` is no SQLite database at all (nothing to check or repair), else None."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head == b"SQLite format 3\x00":
        return None
    if head.startswith(b'{"op_code":'):
        hint = f"; it is a journal file: give it as STORAGE={path}"
    elif not head.strip(b"\0"):  # lost blocks (a crash before they reached the disk, a bad copy): not a mix-up
        hint = "; its header is zero bytes, lost: restore a backup copy of it, or move it aside to start over"
    else:
        hint = "; if it was this study's database, its header was overwritten: restore a backup copy of it"
    return f"{path} is not a SQLite database (it begins {head!r}){hint} (nothing was changed)"


@dataclass
class SqliteRepair:
    """What :func:`repair_sqlite` did."""

    path: Path
    damage: str | None = None  # quick_check's words before the repair (None: nothing to repair)
    backup: Path | None = None
    trials: dict[str, dict[str, int]] = field(default_factory=dict)  # study -> state -> count, after the repair
    failed: dict[str, list[int]] = field(default_factory=dict)  # study -> trial numbers marked failed
    damaged: dict[str, str] = field(default_factory=dict)  # table -> what of it was unreadable (rows lost)
    unreadable: dict[str, list[int]] = field(default_factory=dict)  # table -> rowids on damaged pages
    placeholders: dict[str, list[int]] = field(default_factory=dict)  # study -> lost trial rows put back as failed
    restored: dict[str, list[int]] = field(default_factory=dict)  # study -> lost trial rows rebuilt as finished
    revalued: dict[str, list[int]] = field(default_factory=dict)  # study -> lost value rows rebuilt from the attribute
    cut: tuple[int, int] | None = None  # a file cut short: (pages there, pages its header counts)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        if self.damage is None:
            return [f"SQLite file {self.path}: quick_check ok; nothing to repair"]
        out = [f"repaired SQLite file {self.path} (was: {self.damage}) in {self.seconds:.1f} s"]
        for study, states in self.trials.items():
            counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(states.items()))
            out.append(f"  study {study}: {counts or 'no trials'}")
            if self.restored.get(study):
                shown = _ranges(self.restored[study])
                out.append(f"    lost trial records rebuilt from their surviving values and attributes (finished or "
                           f"waiting as they were; start and end times lost): {shown}")  # fmt: skip
            if self.revalued.get(study):
                shown = _ranges(self.revalued[study])
                out.append(f"    lost values put back from the value each trial kept beside it (objective_value; "
                           f"still complete): {shown}")  # fmt: skip
            if self.placeholders.get(study):
                shown = _ranges(self.placeholders[study])
                out.append(f"    lost trial records put back as failed placeholders (numbers kept): {shown}")
            if self.failed.get(study):
                shown = _ranges(self.failed[study])
                out.append(f"    marked failed (their value or some parameters were lost): {shown}")
        if self.cut is not None:
            out.append(f"  the file was cut short: {self.cut[0]} of the {self.cut[1]} pages its header counts were "
                       "there (an interrupted copy, a full disk); read as a file of those pages")  # fmt: skip
        for table, what in self.damaged.items():
            out.append(f"  table {table}: {what}")
        out.append(f"  backup of the damaged file: {self.backup}")
        return out


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """``[(first, last), ...]``: the sorted numbers folded into runs of consecutive ones."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return [(a, b) for a, b in runs]


def _ranges(numbers: list[int]) -> str:
    """``#3, #7..#9``: trial numbers, consecutive runs folded."""
    return ", ".join(f"#{a}" if a == b else f"#{a}..#{b}" for a, b in _runs(numbers))


def _rows(conn: sqlite3.Connection, table: str) -> tuple[list[tuple[object, ...]], list[int], str | None]:
    """Every readable row of ``table`` (rowid first), the rowids that could not be read, and None or what was lost.
    The whole table in one scan when it reads; else row by row, each rowid's B-tree path alone, so rows on intact
    pages survive a damaged neighbour (up to the highest rowid, and never more than :data:`PROBE_GAP` rowids past
    the last one found)."""
    quoted = '"' + table.replace('"', '""') + '"'
    try:
        return conn.execute(f"SELECT rowid, * FROM {quoted}").fetchall(), [], None  # noqa: S608 - from sqlite_master
    except sqlite3.DatabaseError:
        pass
    try:
        top = conn.execute(f"SELECT max(rowid) FROM {quoted}").fetchone()[0]  # noqa: S608
    except sqlite3.DatabaseError:
        top = None
    rows, unreadable, rowid, last = [], [], 0, 0
    while rowid - last < PROBE_GAP and (top is None or rowid < top):
        rowid += 1
        try:
            row = conn.execute(f"SELECT rowid, * FROM {quoted} WHERE rowid = ?", (rowid,)).fetchone()  # noqa: S608
        except sqlite3.DatabaseError:
            unreadable.append(rowid)
            continue
        if row is not None:
            rows.append(row)
            last = rowid
    if top is None:  # its highest rowid unreadable: the table's root page (or the path to its end) is damaged
        return (
            rows,
            unreadable,
            (
                f"{len(rows)} rows kept; its root page is damaged, so rowids were probed one by one up to {rowid} "
                f"({PROBE_GAP} past the last row found; {len(unreadable)} probes failed)"
            ),
        )
    return (
        rows,
        unreadable,
        f"{len(rows)} rows kept; {len(unreadable)} rowids on damaged pages unreadable, up to rowid {top}",
    )


def _whole_pages(source: Path, copy: Path) -> tuple[int, int] | None:
    """When the SQLite file ``source`` is shorter than the page count its header holds (a copy interrupted, a disk
    filled while it grew), write to ``copy`` its whole pages with that count set to them, and return (pages there,
    pages counted); else None. SQLite trusts the header's count and then calls the table list itself malformed
    ("database disk image is malformed" for a file missing only its last page), though every page it needs is
    there: read from ``copy``, only the rows on the missing pages are lost."""
    with open(source, "rb") as f:
        head = f.read(100)
    if len(head) < 100:
        return None
    size = int.from_bytes(head[16:18], "big")
    size = 65536 if size == 1 else size
    counted = int.from_bytes(head[28:32], "big")
    if size < 512 or size & (size - 1):  # a power of two from 512 to 65536, or no SQLite header
        return None
    there = source.stat().st_size // size
    if not there or counted <= there or head[24:28] != head[92:96]:  # (the count is valid only with the two equal)
        return None
    shutil.copyfile(source, copy)
    with open(copy, "r+b") as out:
        out.truncate(there * size)
        out.seek(28)
        out.write(there.to_bytes(4, "big"))
    return there, counted


def _salvage(source: Path, target: Path, report: SqliteRepair) -> None:
    """Copy the schema and every readable row of ``source`` into the new file ``target``."""
    old = sqlite3.connect(source.absolute().as_uri() + "?mode=ro", uri=True)
    new = sqlite3.connect(target)
    try:
        try:
            schema = _schema(source)
        except sqlite3.DatabaseError as exc:
            cut = (
                "" if report.cut is None else f", and the file was cut short ({report.cut[0]} of {report.cut[1]} pages)"
            )
            raise StorageError(
                f"SQLite file {report.path}: its table list is damaged ({exc}){cut}; nothing can be rebuilt from it "
                "(the file was not changed; restore a copy)"
            ) from None
        tables = [(name, sql) for kind, name, sql in schema if kind == "table"]
        for _, sql in tables:
            new.execute(sql)
        for kind, _, sql in schema:
            if kind != "table":
                new.execute(sql)  # indices (unique ones included) before the rows: a duplicate row is dropped
        for name, _ in tables:
            rows, report.unreadable[name], damaged = _rows(old, name)
            if damaged:
                report.damaged[name] = damaged
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                quoted = '"' + name.replace('"', '""') + '"'
                columns = ", ".join(
                    ["rowid", *(f'"{d[0]}"' for d in old.execute(f"SELECT * FROM {quoted} LIMIT 0").description)]
                )
                new.executemany(f"INSERT OR IGNORE INTO {quoted} ({columns}) VALUES ({marks})", rows)  # noqa: S608
        new.commit()
    finally:
        old.close()
        new.close()


def _mend(target: Path, report: SqliteRepair) -> None:
    """Make the salvaged rows a consistent Optuna study file (plain SQL on Optuna's schema, in this order):
    trials of a lost study dropped; a lost trial row inside a study's numbering put back as a failed placeholder
    (Optuna numbers a new trial by counting the study's rows, so a gap would give two trials one number and hide
    one); rows of trials still lost dropped; a finished trial whose value, or possibly some parameter, sat on a
    damaged page failed (Optuna cannot read a complete trial without its value, and the sampler must not learn a
    configuration that is not the one that ran)."""
    conn = sqlite3.connect(target)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = {
            "studies",
            "trials",
            "trial_values",
            "trial_params",
            "trial_user_attributes",
            "version_info",
        } - tables
        if missing:
            raise StorageError(
                f"SQLite file {report.path}: the tables {sorted(missing)} are not recoverable; it is not an Optuna "
                "study file any more (the file was not changed)"
            )
        conn.execute("DELETE FROM trials WHERE study_id NOT IN (SELECT study_id FROM studies)")
        now = datetime.now().isoformat(sep=" ")
        for study, numbers in _placeholders(conn, report).items():
            for trial_id, number, study_id in numbers:
                conn.execute(
                    "INSERT INTO trials (trial_id, number, study_id, state, datetime_start, datetime_complete) "
                    "VALUES (?, ?, ?, 'FAIL', ?, ?)",
                    (trial_id, number, study_id, now, now),
                )
                conn.execute("DELETE FROM trial_values WHERE trial_id = ?", (trial_id,))  # a failed trial has none
                _fail_reason(conn, trial_id, LOST_RECORD)
                report.placeholders.setdefault(study, []).append(number)
        _restore_tail(conn, tables, report, now)
        for table in sorted(tables - {"trials", "studies"}):  # rows whose trial or study is gone: nothing reads them
            columns = _columns(conn, table)
            if "trial_id" in columns:
                conn.execute(f'DELETE FROM "{table}" WHERE trial_id NOT IN (SELECT trial_id FROM trials)')  # noqa: S608
            elif "study_id" in columns:
                conn.execute(f'DELETE FROM "{table}" WHERE study_id NOT IN (SELECT study_id FROM studies)')  # noqa: S608
        suspects = _near_lost_rows(conn, "trial_params", report.unreadable.get("trial_params", []))
        suspects |= _unparsable(conn, tables, report)
        complete = conn.execute(
            "SELECT t.trial_id, t.number, s.study_name, EXISTS (SELECT 1 FROM trial_values v WHERE v.trial_id = "
            "t.trial_id) FROM trials t JOIN studies s ON s.study_id = t.study_id WHERE t.state = 'COMPLETE'"
        ).fetchall()
        for trial_id, number, study, has_value in complete:
            if has_value and trial_id not in suspects:
                continue
            value = None if has_value else _value_of(conn, trial_id)
            if value is not None and trial_id not in suspects:  # its value row lost, its value kept beside it
                conn.execute("INSERT INTO trial_values (trial_id, objective, value, value_type) VALUES (?, 0, ?, "
                             "'FINITE')", (trial_id, value))  # fmt: skip
                report.revalued.setdefault(study, []).append(number)
                continue
            _fail(conn, report, (trial_id, number, study), FAILED_BY_REPAIR if not has_value else LOST_PARAMS)
        pruned = conn.execute(
            "SELECT t.trial_id, t.number, s.study_name FROM trials t JOIN studies s ON s.study_id = t.study_id "
            "WHERE t.state = 'PRUNED'"
        ).fetchall()
        for trial_id, number, study in pruned:  # a finished trial too: its lost parameter stopped every command
            if trial_id in suspects:
                _fail(conn, report, (trial_id, number, study), LOST_PARAMS)
        for trial in _without_config(conn, tables):
            _fail(conn, report, trial, LOST_CONFIG)
        conn.commit()
    finally:
        conn.close()


def _without_config(conn: sqlite3.Connection, tables: set[str]) -> list[tuple[int, int, str]]:
    """(trial_id, number, study) of each finished trial of a regtune study (one that records its definition or study
    file) without its ``config`` attribute: regtune records it before a trial trains, so it sat on a damaged page.
    The repair had kept such a trial finished, and the next `make study` called it "run by another program" and
    told the user to rename a study whose other trials were intact (the faults probe, 2026-12-05)."""
    if "study_user_attributes" not in tables:
        return []
    return conn.execute(
        "SELECT t.trial_id, t.number, s.study_name FROM trials t JOIN studies s ON s.study_id = t.study_id "
        "WHERE t.state IN ('COMPLETE', 'PRUNED') AND NOT EXISTS (SELECT 1 FROM trial_user_attributes a "
        "WHERE a.trial_id = t.trial_id AND a.key = 'config') AND EXISTS (SELECT 1 FROM study_user_attributes u "
        "WHERE u.study_id = t.study_id AND u.key IN ('regtune:definition', 'regtune:study_file'))"
    ).fetchall()


def _value_of(conn: sqlite3.Connection, trial_id: int) -> float | None:
    """A complete trial's objective value as regtune recorded it beside the value row (``objective_value``, a
    user attribute since 2026-12-05); None for a trial recorded before, or a value that is not a finite number."""
    row = conn.execute(
        "SELECT value_json FROM trial_user_attributes WHERE trial_id = ? AND key = 'objective_value'", (trial_id,)
    ).fetchone()
    try:
        value = json.loads(row[0]) if row else None
    except ValueError:
        return None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _restore_tail(conn: sqlite3.Connection, tables: set[str], report: SqliteRepair, now: str) -> None:
    """Trial rows lost after a study's last surviving one (the whole ``trials`` table, when its root page is
    damaged) whose values, parameters or attributes survive in the other tables: no gap in the numbering shows
    them, and they were dropped as orphans with every finished result. Each is put back, numbered after the
    study's last trial in trial-id order: finished as it was where its value and regtune's ``value_is``
    attribute (written just before a trial is told) survive, else as a failed placeholder. With more than one
    study in the file, whose trials they were cannot be told: refused, the file unchanged."""
    known = {r[0] for r in conn.execute("SELECT trial_id FROM trials")}
    referenced: set[int] = set()
    for table in sorted(tables - {"trials", "studies"}):
        if "trial_id" in _columns(conn, table):
            referenced |= {r[0] for r in conn.execute(f'SELECT DISTINCT trial_id FROM "{table}"')}  # noqa: S608
    lost = sorted(i for i in referenced - known if i is not None)
    if not lost:
        return
    studies = conn.execute("SELECT study_id, study_name FROM studies").fetchall()
    if len(studies) != 1 or any(i < max(known, default=0) for i in lost):
        raise StorageError(
            f"SQLite file {report.path}: {len(lost)} trial record(s) were lost while their values or parameters "
            f"survive, and which study's trials they were cannot be told ({len(studies)} studies in the file); the "
            "file was not changed (restore a copy)"
        )
    study_id, name = studies[0]
    top = conn.execute("SELECT max(number) FROM trials WHERE study_id = ?", (study_id,)).fetchone()[0]
    for k, trial_id in enumerate(lost):
        number = (-1 if top is None else top) + 1 + k
        row = conn.execute(
            "SELECT value_json FROM trial_user_attributes WHERE trial_id = ? AND key = 'value_is'", (trial_id,)
        ).fetchone()
        value_is = json.loads(row[0]) if row else ""
        valued = conn.execute("SELECT 1 FROM trial_values WHERE trial_id = ?", (trial_id,)).fetchone() is not None
        state = "COMPLETE" if "(complete)" in value_is else "PRUNED" if "pruned" in value_is else "FAIL"
        if not valued and state == "COMPLETE":
            state = "FAIL"
        if state == "FAIL" and not valued and _waiting(conn, trial_id):
            state = "WAITING"
        conn.execute(
            "INSERT INTO trials (trial_id, number, study_id, state, datetime_start, datetime_complete) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (trial_id, number, study_id, state, now, now),
        )
        if state == "FAIL":
            conn.execute("DELETE FROM trial_values WHERE trial_id = ?", (trial_id,))  # a failed trial has none
            _fail_reason(conn, trial_id, LOST_RECORD)
            report.placeholders.setdefault(name, []).append(number)
        else:
            report.restored.setdefault(name, []).append(number)


def _waiting(conn: sqlite3.Connection, trial_id: int) -> bool:
    """Whether a lost trial row was an enqueued trial that never ran: its ``fixed_params`` survive, and nothing a
    run writes (a parameter, a report, a value) does."""
    fixed = conn.execute(
        "SELECT 1 FROM trial_system_attributes WHERE trial_id = ? AND key = 'fixed_params'", (trial_id,)
    ).fetchone()
    ran = any(
        conn.execute(f"SELECT 1 FROM {table} WHERE trial_id = ? LIMIT 1", (trial_id,)).fetchone()  # noqa: S608
        for table in ("trial_params", "trial_intermediate_values", "trial_values")
    )
    return fixed is not None and not ran


def _fail(conn: sqlite3.Connection, report: SqliteRepair, trial: tuple[int, int, str], why: str) -> None:
    """Fail the finished ``trial`` (trial_id, number, study) for ``why``: no value (a failed trial has none), and
    the report names it."""
    trial_id, number, study = trial
    conn.execute("UPDATE trials SET state = 'FAIL' WHERE trial_id = ?", (trial_id,))
    conn.execute("DELETE FROM trial_values WHERE trial_id = ?", (trial_id,))
    _fail_reason(conn, trial_id, why)
    report.failed.setdefault(study, []).append(number)


def _fail_reason(conn: sqlite3.Connection, trial_id: int, why: str) -> None:
    conn.execute("DELETE FROM trial_user_attributes WHERE trial_id = ? AND key = 'fail_reason'", (trial_id,))
    conn.execute(
        "INSERT INTO trial_user_attributes (trial_id, key, value_json) VALUES (?, 'fail_reason', ?)",
        (trial_id, json.dumps(why)),
    )


def _placeholders(conn: sqlite3.Connection, report: SqliteRepair) -> dict[str, list[tuple[int, int, int]]]:
    """study name -> (trial_id, number, study_id) of each lost trial row inside the study's numbering. The ids of a
    gap between two numbers are the ids missing from the table between those two trials' ids, in order; a gap whose
    count of missing ids differs (another study's trials were lost in it too) cannot be told apart: refused."""
    rows = conn.execute(
        "SELECT t.trial_id, t.number, t.study_id, s.study_name FROM trials t JOIN studies s ON s.study_id = t.study_id "
        "ORDER BY t.trial_id"
    ).fetchall()
    ids = {r[0] for r in rows}
    by_study: dict[int, list[tuple[int, int, str]]] = {}
    for trial_id, number, study_id, name in rows:
        by_study.setdefault(study_id, []).append((number, trial_id, name))
    out: dict[str, list[tuple[int, int, int]]] = {}
    for study_id, trials in by_study.items():
        trials.sort()
        prev_number, prev_id = -1, None
        for number, trial_id, name in trials:
            gap = number - prev_number - 1
            if gap > 0:
                low = prev_id if prev_id is not None else max((i for i in ids if i < trial_id), default=0)
                free = [i for i in range(low + 1, trial_id) if i not in ids]
                if prev_id is None:
                    free = free[-gap:]  # before a study's first surviving trial: the ids just below it
                if len(free) != gap:
                    raise StorageError(
                        f"SQLite file {report.path}: study {name} lost trial records #{prev_number + 1}..#{number - 1} "
                        f"between trial ids {low} and {trial_id}, where {len(free)} ids are missing; which ids were "
                        "its trials cannot be told, so the file was not changed (restore a copy)"
                    )
                out.setdefault(name, []).extend((i, prev_number + 1 + k, study_id) for k, i in enumerate(free))
            prev_number, prev_id = number, trial_id
    return out


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table`` (a name read from ``sqlite_master``)."""
    return {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}


def _unparsable(conn: sqlite3.Connection, tables: set[str], report: SqliteRepair) -> set[int]:
    """Drop the rows whose JSON column (an attribute's ``value_json``, a parameter's ``distribution_json``) does not
    parse, and return the trials whose parameter rows went with them. Such rows are readable to SQLite but not to
    Optuna: a file mixed with pages of another copy of it (a stale ``-journal`` rolled into a restored file) was
    rebuilt row for row, and the rebuilt file then failed to read back ("Expecting value: line 1 column 1"; the
    faults5 probe), so nothing could be repaired."""
    lost: set[int] = set()
    for table in sorted(tables):
        columns = _columns(conn, table)
        column = next((c for c in ("value_json", "distribution_json") if c in columns), None)
        if column is None:
            continue
        trial = "trial_id" if "trial_id" in columns else "NULL"
        bad = []
        for rowid, text, trial_id in conn.execute(f'SELECT rowid, CAST("{column}" AS BLOB), {trial} FROM "{table}"'):  # noqa: S608
            try:
                json.loads(text)
            except (TypeError, ValueError):  # (a UnicodeDecodeError is a ValueError)
                bad.append((rowid, trial_id))
        if not bad:
            continue
        conn.executemany(f'DELETE FROM "{table}" WHERE rowid = ?', [(rowid,) for rowid, _ in bad])  # noqa: S608
        said = f"{len(bad)} rows dropped: their {column} is not JSON"
        report.damaged[table] = f"{report.damaged[table]}; {said}" if table in report.damaged else said
        if table == "trial_params":
            lost |= {trial_id for _, trial_id in bad}
    return lost


def _near_lost_rows(conn: sqlite3.Connection, table: str, unreadable: list[int]) -> set[int]:
    """The trial ids that rows on damaged pages of ``table`` may have belonged to: for each run of unreadable
    rowids, every trial id between those of the readable rows just before and just after it (rows are written in
    the order trials run)."""
    suspects: set[int] = set()
    if not unreadable:
        return suspects
    quoted = '"' + table.replace('"', '""') + '"'
    every = [r[0] for r in conn.execute("SELECT trial_id FROM trials")]
    lowest, highest = min(every, default=0), max(every, default=0)
    for first, last in _runs(unreadable):
        before = conn.execute(f"SELECT trial_id FROM {quoted} WHERE rowid < ? ORDER BY rowid DESC LIMIT 1", (first,))  # noqa: S608
        after = conn.execute(f"SELECT trial_id FROM {quoted} WHERE rowid > ? ORDER BY rowid LIMIT 1", (last,))  # noqa: S608
        a, b = before.fetchone(), after.fetchone()
        low, high = (a[0] if a else lowest), (b[0] if b else highest)
        suspects.update(t for t in every if min(low, high) <= t <= max(low, high))
    return suspects


def _read_back(target: Path, report: SqliteRepair) -> None:
    """Every study of the rebuilt file read through Optuna (what ``make study`` will do next)."""
    import optuna
    from sqlalchemy.engine import URL

    url = URL.create("sqlite", database=str(target.absolute())).render_as_string()
    storage = optuna.storages.RDBStorage(url, skip_table_creation=True)
    try:
        for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
            study = optuna.load_study(study_name=summary.study_name, storage=storage)
            states: dict[str, int] = {}
            for t in study.get_trials(deepcopy=False):
                states[t.state.name] = states.get(t.state.name, 0) + 1
            report.trials[summary.study_name] = states
    except Exception as exc:
        raise StorageError(
            f"SQLite file {report.path}: the rebuilt file does not read back through Optuna ({exc}); the file was "
            "not changed"
        ) from None
    finally:
        storage.engine.dispose()


def repair_sqlite(path: str | Path, echo: bool = True) -> SqliteRepair:
    """Rebuild a damaged SQLite study file from every readable row (see the module); print what was done when
    ``echo``. An intact file is left untouched; the damaged one is kept as ``NAME.bak-<UTC time>``."""
    path = Path(os.path.realpath(path))  # a symlinked file: its target is rebuilt (the link was replaced)
    start = time.monotonic()
    report = SqliteRepair(path)
    if not path.is_file():
        raise StorageError(f"SQLite file {path}: no such file")
    other = not_sqlite(path)
    if other is not None:
        raise StorageError(other)
    report.damage = problem(path)  # (rolls back a hot journal first: a killed writer's file is not damaged)
    if report.damage is not None:
        with _exclusive(path):
            _rebuild(path, report)
    report.seconds = time.monotonic() - start
    if echo:
        print("\n".join(report.lines()), flush=True)
    return report


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """SQLite's exclusive lock on the damaged file for the whole repair: a worker still writing to it would lose
    its writes to the replaced file. Refused when a worker holds it; taken where the damage allows."""
    guard = sqlite3.connect(str(path), timeout=LOCK_WAIT, isolation_level=None)
    try:
        try:
            guard.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise StorageError(
                    f"SQLite file {path} is in use (a worker is writing to it); stop every worker of the study, "
                    "then repair it"
                ) from None
        except sqlite3.DatabaseError:
            pass  # the damage keeps SQLite from locking it: the repair reads a copy anyway
        yield
    finally:
        guard.close()


def _rebuild(path: Path, report: SqliteRepair) -> None:
    """Back the damaged file up, salvage it into a new file, mend and check that, and put it in its place."""
    report.backup = backup_copy(path)
    target = path.with_name(f"{path.name}.repairing")
    target.unlink(missing_ok=True)
    whole = path.with_name(f"{path.name}.whole-pages")
    try:
        report.cut = _whole_pages(report.backup, whole)
        _salvage(whole if report.cut is not None else report.backup, target, report)
        _mend(target, report)
        after = problem(target)
        if after is not None:
            raise StorageError(
                f"SQLite file {path}: the rebuilt file is damaged too ({after}); the file was not changed"
            )
        _read_back(target, report)
        keep_access(path, target)
        os.replace(target, path)
    finally:
        target.unlink(missing_ok=True)
        whole.unlink(missing_ok=True)
