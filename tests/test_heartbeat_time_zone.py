"""Workers whose PostgreSQL sessions have different time zones on one study (``PGTZ``, or a role's or database's
``timezone`` setting): a trial's heartbeat is read in the time zone of the session that wrote it.

Found by the faults10 probe: Optuna stores a heartbeat as a time without a zone, the writer's session's local time,
and its stale-trial check compares it with the reader's ``now()`` in the reader's zone. A worker with
``PGTZ=Asia/Tokyo`` beside one with ``PGTZ=UTC`` read each live trial of the other as 9 hours silent and failed it
at once ("no heartbeat for 40 s", over and over towards the crash limit: 3 of 3 of its trials dropped), while the
other read a dead Tokyo worker's trial as beating for 9 hours more and waited for it. Each trial's heartbeat now
records its session's zone (``regtune:beat_tz``) before its first beat, and the others read the beat's age in it. A real PostgreSQL study, real
trials claimed and heartbeats recorded; a heartbeat's age and zone are set in its row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import optuna
import pytest

from search.storage import GRACE_PERIOD, TZ_ATTR, open_storage
from search.worker import Heartbeat, claim, dead_trials
from tests.helpers import PG_HOST, PG_PORT, PG_USER, fresh_pg_database

pytestmark = pytest.mark.postgres

# (the zone the trial's worker wrote its beats in, or None: a worker that recorded none; the reader's session zone;
#  the beat's age in s; dead by the reader's judgement, grace GRACE_PERIOD = 40). "unclaimed": its first beat only
UNCLAIMED = "unclaimed"
DST_BEGAN = "a zone whose summer time began 5 s ago"
CASES = [
    ("UTC", "Asia/Tokyo", 5, False),  # before: read as 9 hours silent, failed as dead while its worker trained
    (f"{UNCLAIMED} UTC", "Asia/Tokyo", 5, False),  # between its first beat and its claim: the zone is known already
    ("UTC", "Asia/Tokyo", 60, True),
    ("Asia/Tokyo", "UTC", 60, True),  # before: read as 9 hours ahead, never dead: the study waited for it
    ("Asia/Tokyo", "UTC", 5, False),
    ("America/New_York", "Asia/Tokyo", 60, True),
    ("America/New_York", "Asia/Tokyo", 5, False),
    # a zone that moved its clocks an hour on 5 s ago (a spring-forward, DST_BEGAN): a beat from just before it was
    # read as 3,600 s older than it is, and its live trial failed; one 60 s old is still dead
    (DST_BEGAN, "UTC", 15, False),
    (DST_BEGAN, "UTC", 60, True),
    (DST_BEGAN, "Asia/Tokyo", 15, False),
    ("UTC", "UTC", 60, True),
    ("UTC", "UTC", 5, False),
    (None, "UTC", 60, True),  # recorded by no worker (an earlier version): judged as before, in the reader's zone
    (None, "UTC", 5, False),
]


@pytest.fixture
def database() -> Iterator[str]:
    for name in fresh_pg_database():
        yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def _set_beat(url: str, trial_id: int, zone: str, seconds: int) -> None:
    """Write trial ``trial_id``'s heartbeat as a session in ``zone`` would have, ``seconds`` ago: its wall-clock time
    then (not now's less ``seconds``, which differ where the zone moved its clocks meanwhile)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE trial_heartbeats SET heartbeat = (now() - make_interval(secs => :s)) "
                                     "AT TIME ZONE :z WHERE trial_id = :t"),
                     {"z": zone, "s": seconds, "t": trial_id})  # fmt: skip
    engine.dispose()


def _dst_began(seconds: int) -> str:
    """A POSIX time zone (UTC in winter, an hour ahead in summer) whose summer time began ``seconds`` ago, as
    PostgreSQL reads one: a day of the year counted from 0, the change at that time of day."""
    import datetime as dt

    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    day = start.timetuple().tm_yday - 1
    return f"XST0XDT,{day}/{start:%H:%M:%S},{(day + 100) % 365}"


@pytest.mark.parametrize("reader", sorted({r for _, r, _, _ in CASES}))
def test_a_heartbeat_is_read_in_its_writers_time_zone(
    database: str, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGTZ", reader)  # every connection of this process: the reader's session zone
    storage = open_storage(database)
    name = f"tz_{uuid.uuid4().hex[:8]}"
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    cases = [case for case in CASES if case[1] == reader]
    ids = []
    for written, _, age, _ in cases:
        tid = study.ask()._trial_id
        with Heartbeat(storage, tid):  # its first beat, as the worker that runs it writes it
            pass
        assert storage.get_trial(tid).system_attrs[TZ_ATTR] == reader  # this session's zone, recorded before it
        writer = written.removeprefix(f"{UNCLAIMED} ") if written else None
        writer = _dst_began(5) if writer == DST_BEGAN else writer
        if written is None or not written.startswith(UNCLAIMED):
            claim(storage, tid)
        # as a worker in that zone would have recorded it (None: not a zone name, as if not recorded)
        storage.set_trial_system_attr(tid, TZ_ATTR, writer)
        _set_beat(database, tid, writer or reader, age)
        ids.append(tid)
    dead = dead_trials(optuna.load_study(study_name=name, storage=storage))
    for tid, (written, _, age, is_dead) in zip(ids, cases, strict=True):
        case = f"beat written in {written}, read in {reader}, {age} s old"
        if is_dead:
            assert dead.get(tid, "").startswith(f"no heartbeat for {GRACE_PERIOD:g} s"), (case, dead.get(tid))
        else:
            assert tid not in dead, (case, dead.get(tid))
