"""A worker waiting for PostgreSQL's schema lock names the session that holds it, and says so again while it waits.

Found by the faults7 probe: a ``make worker`` suspended (Ctrl-Z, a paused machine) in the moment it held the schema
lock (a session-level advisory lock, which no transaction timeout frees) kept every later worker of the database
waiting for ever, after one note that named nobody ("another process is creating the schema or a study there").
Real PostgreSQL; the holder is a real session holding the lock as a worker's does, under the name such a worker gives.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

import search.storage as storage_module
from tests.helpers import PG_HOST, PG_PORT, PG_USER, fresh_pg_database, hold_schema_lock, schema_lock_waiter


@pytest.fixture
def database() -> Iterator[str]:
    yield from fresh_pg_database()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "application_name, named",
    [("regtune gpu-7 pid 4242", "'regtune gpu-7 pid 4242'"), ("", "a session that gave no application_name")],
    ids=["a worker", "another program"],
)
def test_the_schema_lock_wait_names_its_holder_and_repeats(
    database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, application_name: str,
    named: str,
) -> None:  # fmt: skip
    monkeypatch.setattr(storage_module, "LOCK_NOTE_SECONDS", 0.5)
    monkeypatch.setattr(storage_module, "LOCK_REPEAT_SECONDS", 1.0)
    holder = hold_schema_lock(database, application_name)
    thread, got = schema_lock_waiter(f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}")
    try:
        time.sleep(3.0)
        assert got == []  # it waits
    finally:
        holder.cursor().execute(f"SELECT pg_advisory_unlock({storage_module.SCHEMA_LOCK})")
        thread.join(timeout=60)
    pid = holder.get_backend_pid()
    holder.close()
    assert got == ["locked"], got
    notes = [
        line for line in capsys.readouterr().err.splitlines() if line.startswith("note: waiting for the schema lock")
    ]
    assert len(notes) >= 2, notes  # said again while it lasts (it was said once)
    for note in notes:
        assert f"held by PostgreSQL pid {pid}, {named}, idle for " in note, note
        assert f"SELECT pg_terminate_backend({pid})" in note and "suspended (Ctrl-Z, a paused machine)" in note, note


@pytest.mark.postgres
def test_a_holder_waiting_behind_a_table_lock_is_not_called_suspended(
    database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """(the faults10 probe) a psql session held a table lock; the worker holding the schema lock waited behind it on
    another of its connections, and the next worker called that holder suspended and gave its pid to terminate.
    The note now names the session the others wait behind."""
    import threading

    import psycopg2

    monkeypatch.setattr(storage_module, "LOCK_NOTE_SECONDS", 0.5)
    monkeypatch.setattr(storage_module, "LOCK_REPEAT_SECONDS", 60.0)

    def session(name: str) -> object:
        return psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=database, application_name=name)

    holder = hold_schema_lock(database, "regtune gpu-7 pid 4242")
    psql = session("psql")
    psql.cursor().execute("CREATE TABLE t (x int)")  # type: ignore[attr-defined]
    psql.commit()  # type: ignore[attr-defined]
    psql.cursor().execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")  # type: ignore[attr-defined]
    blocked = session("regtune gpu-7 pid 4242")  # the holder's other connection, waiting on the table
    stuck = threading.Thread(target=lambda: blocked.cursor().execute("SELECT * FROM t"), daemon=True)  # type: ignore[attr-defined]
    stuck.start()
    thread, got = schema_lock_waiter(f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}")
    try:
        time.sleep(2.0)
    finally:
        psql.rollback()  # type: ignore[attr-defined]
        holder.cursor().execute(f"SELECT pg_advisory_unlock({storage_module.SCHEMA_LOCK})")
        thread.join(timeout=60)
        stuck.join(timeout=10)
    table_pid = psql.get_backend_pid()  # type: ignore[attr-defined]
    for s_ in (holder, psql, blocked):
        s_.close()  # type: ignore[attr-defined]
    assert got == ["locked"], got
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: waiting for the schema")]
    assert notes and f"a session here waits on a lock held by pid {table_pid}, 'psql'" in notes[0], notes
    assert f"pg_terminate_backend({table_pid})" in notes[0] and "suspended" not in notes[0], notes


def test_the_lock_session_is_named_by_its_host_and_pid() -> None:
    name = storage_module.lock_holder_name()
    assert name.startswith("regtune ") and name.endswith(f" pid {os.getpid()}") and len(name.encode()) <= 63


@pytest.mark.postgres
def test_a_failed_holder_query_leaves_the_wait_going(
    database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder's query failing on the server (a statement_timeout, a permission) left the waiting connection in a
    failed transaction, and the next pg_try_advisory_lock raised InFailedSqlTransaction, which is not transient: the
    worker exited with "cannot open storage" where it should only have missed the holder in its note (review7)."""
    import sqlalchemy

    def failing(conn: object) -> None:
        conn.execute(sqlalchemy.text("SELECT 1 / 0"))  # type: ignore[attr-defined]  # a real error on the server

    monkeypatch.setattr(storage_module, "LOCK_NOTE_SECONDS", 0.5)
    monkeypatch.setattr(storage_module, "LOCK_REPEAT_SECONDS", 1.0)
    monkeypatch.setattr(storage_module, "schema_lock_holder", failing)
    holder = hold_schema_lock(database)
    thread, got = schema_lock_waiter(f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}")
    try:
        time.sleep(2.5)
        assert got == []  # it waits, its notes without the holder
    finally:
        holder.cursor().execute(f"SELECT pg_advisory_unlock({storage_module.SCHEMA_LOCK})")
        thread.join(timeout=60)
    holder.close()
    assert got == ["locked"], got
    notes = [
        line for line in capsys.readouterr().err.splitlines() if line.startswith("note: waiting for the schema lock")
    ]
    assert len(notes) >= 2 and not any("held by" in note for note in notes), notes
