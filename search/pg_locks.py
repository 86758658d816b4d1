"""Say when a PostgreSQL statement of this process waits on another session's lock.

A session that holds a lock on Optuna's tables (``LOCK TABLE trials`` in a psql left open, a migration, a long
``VACUUM FULL``) stalled every command silently: ``make study`` printed nothing for minutes while its first look at
the schema waited, and a running worker stopped between trials without a line (the faults probe, 2026-12-06). The
journal file and SQLite stores say when they wait; PostgreSQL now does too.

Every statement a PostgreSQL engine of this process runs is timed (SQLAlchemy's cursor events on all engines: the
schema look, Optuna's storage, the heartbeat). A watcher thread looks every :data:`POLL_SECONDS`; a statement in
flight longer than :data:`NOTE_SECONDS` makes it ask the server, on a connection of its own, which sessions block
that statement's backend (``pg_blocking_pids``), and print one line naming them: pid, state, for how long, and their
last query. It says so again every :data:`REPEAT_SECONDS` while the wait lasts. Nothing waits less or fails sooner:
the statement goes on when the lock is released (a bounded ``lock_timeout`` would fail a trial's write instead).
A slow statement that waits on no lock is not noted.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Any

#: a statement in flight this long is asked about (the journal says it waits after 10 s too)
NOTE_SECONDS = 10.0
#: the watcher's period
POLL_SECONDS = 1.0
#: while the same statement still waits, it is said again this often
REPEAT_SECONDS = 60.0

_lock = threading.RLock()  # re-entrant: a signal handler's statement in the thread inside _before must not deadlock
_inflight: dict[int, dict[str, Any]] = {}  # thread id -> {start, pid (the backend), url, said (monotonic or None)}
_installed = False


def watch() -> None:
    """Time every PostgreSQL statement of this process and start the watcher thread; idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", _before)
    event.listen(Engine, "after_cursor_execute", _after)
    event.listen(Engine, "handle_error", _error)
    threading.Thread(target=_watch, name="regtune-pg-locks", daemon=True).start()


def _backend_pid(conn: Any) -> int | None:
    raw = getattr(conn.connection, "dbapi_connection", None)
    info = getattr(raw, "info", None)  # psycopg 3
    if info is not None and isinstance(getattr(info, "backend_pid", None), int):
        return int(info.backend_pid)
    with contextlib.suppress(Exception):  # psycopg2
        return int(raw.get_backend_pid())  # type: ignore[union-attr]
    return None


def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    if conn.dialect.name != "postgresql" or threading.current_thread().name == "regtune-pg-locks":
        return
    pid = _backend_pid(conn)
    if pid is not None:
        with _lock:
            _inflight[threading.get_ident()] = {"start": time.monotonic(), "pid": pid, "url": conn.engine.url,
                                                "said": None}  # fmt: skip


def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    with _lock:
        _inflight.pop(threading.get_ident(), None)


def _error(context: Any) -> None:
    with _lock:
        _inflight.pop(threading.get_ident(), None)


def _due(now: float) -> list[dict[str, Any]]:
    """The statements in flight past :data:`NOTE_SECONDS` not said within :data:`REPEAT_SECONDS`."""
    with _lock:
        waiting = [w for w in _inflight.values() if now - w["start"] > NOTE_SECONDS
                   and (w["said"] is None or now - w["said"] > REPEAT_SECONDS)]  # fmt: skip
        for w in waiting:
            w["said"] = now
        return [dict(w) for w in waiting]


def _watch() -> None:
    while True:
        time.sleep(POLL_SECONDS)
        now = time.monotonic()
        for w in sorted(_due(now), key=lambda w: w["start"]):  # the longest wait first; one line a round (the
            with contextlib.suppress(Exception):  # heartbeat's statement waits on the same lock as the main thread's)
                line = blocking_line(
                    w["url"], w["pid"], now - w["start"]
                )  # (a server gone: the storage's retry says so)
                if line:
                    print(line, file=sys.stderr, flush=True)
                    break


def blockers(url: Any, pid: int) -> list[tuple[int, str, float | None, str]]:
    """The sessions that block backend ``pid``'s statement: (pid, state, seconds in their transaction, last query)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as c:
            rows = c.execute(sqlalchemy.text(
                "SELECT a.pid, coalesce(a.state, ''), extract(epoch FROM now() - a.xact_start), "
                "coalesce(a.query, '') FROM pg_stat_activity a WHERE a.pid = ANY(pg_blocking_pids(:pid)) "
                "ORDER BY a.pid"), {"pid": pid}).all()  # fmt: skip
    finally:
        engine.dispose()
    return [(int(p), str(s), None if t is None else float(t), " ".join(str(q).split())) for p, s, t, q in rows]


def blocking_line(url: Any, pid: int, waited: float) -> str | None:
    """One line naming what blocks backend ``pid`` after ``waited`` seconds; None when no session blocks it."""
    found = blockers(url, pid)
    if not found:
        return None
    from search.storage import where

    shown = url.render_as_string(hide_password=True) if hasattr(url, "render_as_string") else str(url)
    holders = "; ".join(
        f"pid {p} ({state or 'state unknown'}{'' if t is None else f' for {t:.0f} s'}, last query: {q[:80]!r})"
        for p, state, t, q in found[:3]
    )
    return (f"note: waiting {waited:.0f} s on PostgreSQL ({where(shown)}) for a lock held by {holders}; "
            "regtune goes on when it is released: end that transaction (COMMIT or ROLLBACK there), or ask the "
            "database's owner to (SELECT pg_terminate_backend(pid) as a superuser)")  # fmt: skip
