"""A SQLite study file's integrity: checked before Optuna opens it; ``make repair`` rebuilds a damaged one.

A SQLite file damaged by a disk error, a copy taken while a worker wrote, or a deleted ``-journal`` opens fine
(Optuna reads only its version table) and then fails in the middle of a study with a raw SQLAlchemy traceback.
:func:`check_sqlite` runs SQLite's ``PRAGMA quick_check`` on a read-only connection first, so a damaged file stops
every command with one line naming the file and the repair command, and nothing is written to it.

:func:`repair_sqlite` (``make repair``) rebuilds the file from every row SQLite can still read (Python's ``sqlite3``
has no recovery API, and Debian's ``sqlite3 .recover`` fails on intact files too): the schema from
``sqlite_master``, then each table in one scan, or row by row where the scan hits a damaged page, since looking up
one rowid reads only its own B-tree path. The damaged file is copied to ``NAME.bak-<UTC time>`` first (with any
``-journal``/``-wal`` beside it). Rows whose trial or study was lost are dropped, and a finished trial whose value
was on a lost page is marked failed (the reason in ``fail_reason``), so that Optuna reads the study and the sampler
never learns a value that is gone. The rebuilt file must pass ``quick_check`` and read back through Optuna, study
by study, before it replaces the damaged one; the report counts the lost rows per table and names each failed trial.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from search.storage import StorageError

LOCK_WAIT = 30.0  # seconds the check waits for another worker's write before letting Optuna open the file
PROBE_GAP = 10_000  # rowids read past the last one found when a table's highest rowid is unreadable
FAILED_BY_REPAIR = "sqlite repair: its value was on a damaged page of the study file"


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (relative to the current directory), or None (memory, other schemes)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def problem(path: Path) -> str | None:
    """SQLite's own words when the file at ``path`` is damaged (read-only; nothing is written), else None."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=LOCK_WAIT)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):  # another worker's write: not damage (Optuna waits its turn)
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
    return "; ".join(found[:3]) + (f" (+{len(found) - 3} more)" if len(found) > 3 else "") if found else None


def check_sqlite(url: str, study_file: str | None = None) -> None:
    """Raise :class:`StorageError` (one line: file, SQLite's words, the repair command) when the SQLite file of
    ``url`` exists and is damaged. A missing or empty file is fine: Optuna creates it."""
    path = sqlite_path(url)
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return
    other = not_sqlite(path)
    if other is not None:
        raise StorageError(other)
    why = problem(path)
    if why is not None:
        raise StorageError(
            f"SQLite file {path} is damaged ({why}); nothing was written to it. Rebuild it from every readable row "
            f"(a backup is kept): make repair STUDY={study_file or '<study file>'} STORAGE={url}"
        )


def not_sqlite(path: Path) -> str | None:
    """Why the non-empty file at ``path`` is no SQLite database at all (nothing to check or repair), else None."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head == b"SQLite format 3\x00":
        return None
    hint = f"; it is a journal file: give it as STORAGE={path}" if head.startswith(b'{"op_code":') else ""
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
    seconds: float = 0.0

    def lines(self) -> list[str]:
        if self.damage is None:
            return [f"SQLite file {self.path}: quick_check ok; nothing to repair"]
        out = [f"repaired SQLite file {self.path} (was: {self.damage}) in {self.seconds:.1f} s"]
        for study, states in self.trials.items():
            counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(states.items()))
            out.append(f"  study {study}: {counts or 'no trials'}")
            if self.failed.get(study):
                shown = _ranges(self.failed[study])
                out.append(f"    marked failed (their values were lost): {shown}")
        for table, what in self.damaged.items():
            out.append(f"  table {table}: {what}")
        out.append(f"  backup of the damaged file: {self.backup}")
        return out


def _ranges(numbers: list[int]) -> str:
    """``#3, #7..#9``: trial numbers, consecutive runs folded."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(f"#{a}" if a == b else f"#{a}..#{b}" for a, b in runs)


def _stamp(path: Path) -> Path:
    base = f"{path.name}.bak-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    out, n = path.with_name(base), 1
    while out.exists():
        out, n = path.with_name(f"{base}.{n}"), n + 1
    return out


def _rows(conn: sqlite3.Connection, table: str) -> tuple[list[tuple[object, ...]], str | None]:
    """Every readable row of ``table`` (rowid first), and None or what could not be read. The whole table in one
    scan when it reads; else row by row, each rowid's B-tree path alone, so rows on intact pages survive a damaged
    neighbour (up to the highest rowid, or :data:`PROBE_GAP` rowids past the last one found when that is unreadable)."""
    quoted = '"' + table.replace('"', '""') + '"'
    try:
        return conn.execute(f"SELECT rowid, * FROM {quoted}").fetchall(), None  # noqa: S608 - a name from sqlite_master
    except sqlite3.DatabaseError:
        pass
    try:
        top = conn.execute(f"SELECT max(rowid) FROM {quoted}").fetchone()[0]  # noqa: S608
    except sqlite3.DatabaseError:
        top = None
    rows, unreadable, rowid, last = [], 0, 0, 0
    while (rowid < top) if top is not None else (rowid - last < PROBE_GAP):
        rowid += 1
        try:
            row = conn.execute(f"SELECT rowid, * FROM {quoted} WHERE rowid = ?", (rowid,)).fetchone()  # noqa: S608
        except sqlite3.DatabaseError:
            unreadable += 1
            continue
        if row is not None:
            rows.append(row)
            last = rowid
    end = f"up to rowid {top}" if top is not None else f"its highest rowid too (read up to {rowid})"
    return rows, f"{len(rows)} rows kept; {unreadable} rowids on damaged pages unreadable, {end}"


def _salvage(source: Path, target: Path, report: SqliteRepair) -> None:
    """Copy the schema and every readable row of ``source`` into the new file ``target``."""
    old = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    new = sqlite3.connect(target)
    try:
        try:
            schema = old.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StorageError(
                f"SQLite file {report.path}: its table list is damaged ({exc}); nothing can be rebuilt from it (the "
                "file was not changed; restore a copy)"
            ) from None
        tables = [(name, sql) for kind, name, sql in schema if kind == "table"]
        for _, sql in tables:
            new.execute(sql)
        for kind, _, sql in schema:
            if kind != "table":
                new.execute(sql)  # indices (unique ones included) before the rows: a duplicate row is dropped
        for name, _ in tables:
            rows, damaged = _rows(old, name)
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
    """Drop .recover's orphan table and fail each finished trial that lost its value (plain SQL on Optuna's schema)."""
    conn = sqlite3.connect(target)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = {"studies", "trials", "trial_values", "version_info"} - tables
        if missing:
            raise StorageError(
                f"SQLite file {report.path}: the tables {sorted(missing)} are not recoverable; it is not an Optuna "
                "study file any more (the file was not changed)"
            )
        for table in sorted(tables):  # rows whose trial (or study) was on a lost page: nothing can read them
            columns = {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}
            if table != "trials" and "trial_id" in columns:
                conn.execute(f'DELETE FROM "{table}" WHERE trial_id NOT IN (SELECT trial_id FROM trials)')  # noqa: S608
            elif table != "studies" and "study_id" in columns:
                conn.execute(f'DELETE FROM "{table}" WHERE study_id NOT IN (SELECT study_id FROM studies)')  # noqa: S608
        lost = conn.execute(
            "SELECT t.trial_id, t.number, s.study_name FROM trials t JOIN studies s ON s.study_id = t.study_id "
            "WHERE t.state = 'COMPLETE' AND NOT EXISTS (SELECT 1 FROM trial_values v WHERE v.trial_id = t.trial_id)"
        ).fetchall()
        for trial_id, number, study in lost:
            conn.execute("UPDATE trials SET state = 'FAIL' WHERE trial_id = ?", (trial_id,))
            conn.execute(
                "INSERT INTO trial_user_attributes (trial_id, key, value_json) VALUES (?, 'fail_reason', ?)",
                (trial_id, f'"{FAILED_BY_REPAIR}"'),
            )
            report.failed.setdefault(study, []).append(number)
        conn.commit()
    finally:
        conn.close()


def _read_back(target: Path, report: SqliteRepair) -> None:
    """Every study of the rebuilt file read through Optuna (what ``make study`` will do next)."""
    import optuna

    storage = optuna.storages.RDBStorage(f"sqlite:///{target}", skip_table_creation=True)
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
    path = Path(path)
    start = time.monotonic()
    report = SqliteRepair(path)
    if not path.is_file():
        raise StorageError(f"SQLite file {path}: no such file")
    other = not_sqlite(path)
    if other is not None:
        raise StorageError(other)
    report.damage = problem(path)
    if report.damage is not None:
        report.backup = _stamp(path)
        shutil.copy2(path, report.backup)
        sidecars = [path.with_name(path.name + end) for end in ("-journal", "-wal", "-shm")]
        for side in sidecars:  # they belong to the damaged file: kept beside its backup, never applied to the new one
            if side.exists():
                shutil.copy2(side, report.backup.with_name(report.backup.name + side.name[len(path.name) :]))
        target = path.with_name(f"{path.name}.repairing")
        target.unlink(missing_ok=True)
        try:
            _salvage(report.backup, target, report)
            _mend(target, report)
            after = problem(target)
            if after is not None:
                raise StorageError(
                    f"SQLite file {path}: the rebuilt file is damaged too ({after}); the file was not changed"
                )
            _read_back(target, report)
            for side in sidecars:
                side.unlink(missing_ok=True)
            os.replace(target, path)
        finally:
            target.unlink(missing_ok=True)
    report.seconds = time.monotonic() - start
    if echo:
        print("\n".join(report.lines()), flush=True)
    return report
