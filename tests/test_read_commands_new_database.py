"""A command that only reads a study (report, figures, retry, dashboard) writes nothing into a database that holds none.

Found by the newuser8 probe: `report`, `figures` and `retry` with `--storage postgresql://.../db` on a database
just made by `createdb` (or an existing one mistyped for another) said "no study 'smoke' in ... (it holds no study)"
and exited 2, after opening it had written Optuna's 13 tables into it: a failed read left a store behind. A 0-byte
SQLite file was already spared (tests/test_report.py). Real PostgreSQL, real command lines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from search.storage import StorageError, load_existing
from tests.helpers import PG_HOST, PG_PORT, PG_USER, fresh_pg_database, open_postgres, run_cli, write_study


@pytest.fixture
def database() -> Iterator[str]:
    if os.environ.get("REGTUNE_TEST_PGDATABASE"):
        pytest.skip("needs a database of its own, which REGTUNE_TEST_PGDATABASE does not give")
    yield from fresh_pg_database()


def tables(database: str) -> list[str]:
    """The tables of ``database``'s public schema."""
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=database)
    try:
        cur = conn.cursor()
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        return sorted(row[0] for row in cur.fetchall())
    finally:
        conn.close()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "held, said",
    [
        ([], "(a database without Optuna's tables: no study was ever created there)"),
        (["other"], "(it holds 'other')"),
    ],
    ids=["a new database", "a database holding another study"],
)
def test_load_existing_says_no_study_and_writes_no_schema(
    database: str, tmp_path: Path, held: list[str], said: str
) -> None:
    url = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"
    for name in held:
        optuna.create_study(study_name=name, storage=open_postgres(url))
    before = tables(database)
    with pytest.raises(StorageError) as raised:
        load_existing(url, "smoke", tmp_path / "smoke.yaml")
    assert str(raised.value).startswith(f"no study 'smoke' in {url} {said}"), str(raised.value)
    assert tables(database) == before, "reading wrote into the database"


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("command", ["report", "figures", "retry", "dashboard"])
def test_a_read_command_on_a_new_database_exits_2_and_leaves_it_empty(
    database: str, tmp_path: Path, command: str
) -> None:
    url = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"
    study = write_study(tmp_path, name="smoke")
    done = run_cli(command, str(study), "--storage", url, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "no study 'smoke' in " in done.stderr and "without Optuna's tables" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert tables(database) == [], f"{command} wrote Optuna's schema into a database it only read"
