"""Workers with different heartbeat settings on one study: each judges a trial's heartbeat by the longer of its own
grace period and the one the trial's worker recorded.

Found by the faults7 probe on PostgreSQL: worker A ran with REGTUNE_HEARTBEAT_INTERVAL=20 (grace 80), worker B with
the grace period 6; B failed A's live, healthy trial as "no heartbeat for 6 s: its worker died", re-queued it (a
crash towards the trial's limit of 3), and A's own line said its heartbeat had "stopped for over 80 s".
Real stores (SQLite; PostgreSQL where it runs), real trials and heartbeats; a heartbeat's age is set in its row.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from search.storage import GRACE_ATTR, GRACE_PERIOD, open_storage
from search.worker import dead_trials
from tests.helpers import PG_HOST, PG_PORT, PG_USER, fresh_pg_database

# (the grace its worker recorded, or None: a trial claimed before it was recorded; the heartbeat's age in s;
#  dead by this worker's judgement (grace GRACE_PERIOD = 40), and the seconds its reason names)
CASES = [
    (200, 60, None),  # its worker beats every 50 s: a 60 s old beat is no death
    (200, 250, 200),  # older than its own grace: dead, and said by that grace
    (None, 60, GRACE_PERIOD),  # recorded by no worker: judged by this one's grace, as before
    (10, 30, None),  # a shorter recorded grace never judges more strictly than this worker's own
    (10, 60, GRACE_PERIOD),
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'study.db'}"
    else:
        for name in fresh_pg_database():
            yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def _age(url: str, trial_id: int, seconds: int) -> None:
    """Set trial ``trial_id``'s heartbeat ``seconds`` into the past, in the store's own clock."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split(":///", 1)[1]) as conn:
            conn.execute(f"UPDATE trial_heartbeats SET heartbeat = datetime(heartbeat, '-{seconds} seconds') "
                         "WHERE trial_id = ?", (trial_id,))  # fmt: skip
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"UPDATE trial_heartbeats SET heartbeat = heartbeat - interval '{seconds} seconds' "
                                     "WHERE trial_id = :t"), {"t": trial_id})  # fmt: skip
    engine.dispose()


def test_a_trial_is_judged_by_its_own_workers_grace_too(store: str) -> None:
    storage = open_storage(store)
    name = f"grace_{uuid.uuid4().hex[:8]}"
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    ids = []
    for recorded, age, _ in CASES:
        tid = study.ask()._trial_id
        storage.record_heartbeat(tid)
        if recorded is not None:
            storage.set_trial_system_attr(tid, GRACE_ATTR, recorded)
        _age(store, tid, age)
        ids.append(tid)
    dead = dead_trials(optuna.load_study(study_name=name, storage=storage))
    for tid, (recorded, age, said) in zip(ids, CASES, strict=True):
        case = f"recorded grace {recorded}, heartbeat {age} s old"
        if said is None:
            assert tid not in dead, (case, dead.get(tid))  # before: "no heartbeat for 40 s" for the first case
        else:
            assert dead.get(tid, "").startswith(f"no heartbeat for {said:g} s: its worker died"), (case, dead.get(tid))


def test_a_workers_own_beat_is_judged_by_its_recorded_grace_too(tmp_path: Path) -> None:
    """(review7) The other branch of :func:`search.worker.dead_trials`: storages without Optuna's heartbeat (the gRPC
    proxy) carry the worker's own beat (``regtune:beat``, its clock), which the grace recorded beside it must judge
    too; the test above reaches only Optuna's. A real journal file with the attributes a proxied worker writes."""
    import time

    from search.storage import BEAT_ATTR

    storage = open_storage(str(tmp_path / "journal.log"))
    study = optuna.create_study(study_name="beat", storage=storage, direction="maximize")
    ids = []
    for recorded, age, _ in CASES:
        tid = study.ask()._trial_id
        storage.set_trial_system_attr(tid, BEAT_ATTR, time.time() - age)
        if recorded is not None:
            storage.set_trial_system_attr(tid, GRACE_ATTR, recorded)
        ids.append(tid)
    dead = dead_trials(optuna.load_study(study_name="beat", storage=storage))
    for tid, (recorded, age, said) in zip(ids, CASES, strict=True):
        case = f"recorded grace {recorded}, beat {age} s old"
        if said is None:
            assert tid not in dead, (case, dead.get(tid))
        else:
            assert dead.get(tid, "").startswith(f"no heartbeat for {said:g} s: its worker died"), (case, dead.get(tid))
