"""The storage wrapper's cheaper reads are exact: RetryingStorage answers from memory only what never changes (a
study's id, name and directions; finished trials, through Optuna's cache) and reads everything else from the
database at the time of the call, with fewer and lighter queries than Optuna's cache (a COUNT by state, unfinished
trials alone, one attribute table, one refresh shared by concurrent reads).

Against the real local PostgreSQL (each test in its own database, dropped afterwards; skipped with the reason when
the server is unreachable): every read equals the uncached ``RDBStorage``'s while another worker's storage changes
the study; a read never misses what was committed before it was asked, even when it shares a refresh; pruning
decisions replayed through both storages are the same."""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from search.samplers import PRUNERS
from search.storage import open_storage
from search.worker import LIVE, _surplus, counts

ADMIN = (
    f"postgresql://{os.environ.get('REGTUNE_TEST_PGUSER', 'postgres')}@{os.environ.get('REGTUNE_TEST_PGHOST', '127.0.0.1')}"
    f":{os.environ.get('REGTUNE_TEST_PGPORT', '5432')}/postgres"
)
X = FloatDistribution(0.0, 1.0)


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def server() -> None:
    try:
        _admin("SELECT 1")
    except Exception as exc:
        pytest.skip(f"PostgreSQL unreachable at {ADMIN} ({str(exc).strip().splitlines()[0]})")


def _database(server: None) -> Iterator[str]:
    name = f"regtune_cache_{uuid.uuid4().hex[:10]}"
    _admin(f"CREATE DATABASE {name}")
    try:
        yield ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


database = pytest.fixture(_database)
other_database = pytest.fixture(_database)


# --------------------------------------------------------------------------------------------- fixed facts
@pytest.mark.parametrize("call", ["get_study_id_from_name", "get_study_directions", "get_study_name_from_id"])
def test_fixed_facts_cost_one_round_trip(tmp_path: Path, call: str) -> None:
    storage: Any = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    study = optuna.create_study(study_name="cache", storage=storage)
    key = "cache" if call == "get_study_id_from_name" else study._study_id
    storage._fixed.clear()
    calls = []
    inner = storage.inner
    real = getattr(inner, call)

    def counted(*a: Any) -> Any:
        calls.append(a)
        return real(*a)

    setattr(inner, call, counted)
    first = getattr(storage, call)(key)
    assert [getattr(storage, call)(key) for _ in range(5)] == [first] * 5
    assert len(calls) == 1


def test_a_deleted_and_recreated_study_is_looked_up_again(tmp_path: Path) -> None:
    storage: Any = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    old = optuna.create_study(study_name="again", storage=storage)
    assert storage.get_study_id_from_name("again") == old._study_id
    optuna.delete_study(study_name="again", storage=storage)
    optuna.create_study(study_name="other", storage=storage)  # the old id goes to another study
    new = optuna.create_study(study_name="again", storage=storage, direction="maximize")
    assert new._study_id != old._study_id
    assert storage.get_study_id_from_name("again") == new._study_id
    assert storage.get_study_directions(new._study_id) == [optuna.study.StudyDirection.MAXIMIZE]


# --------------------------------------------------------------------------------------------- reads = uncached
STATE_FILTERS = [
    None,
    (TrialState.WAITING,),
    (TrialState.RUNNING,),
    (TrialState.WAITING, TrialState.RUNNING),
    (TrialState.COMPLETE,),
    LIVE,
]


def _compare(mine: Any, plain: Any, sid: int) -> None:
    """Every read the workers make, through the wrapper and straight from the database, equal."""
    for states in STATE_FILTERS:
        assert mine.get_all_trials(sid, states=states) == plain.get_all_trials(sid, states=states), states
    every = plain.get_all_trials(sid)
    for t in every:
        assert mine.get_trial(t._trial_id) == t
        assert mine.get_trial_system_attrs(t._trial_id) == t.system_attrs, t.number
        assert mine.get_trial_user_attrs(t._trial_id) == t.user_attrs, t.number
    for below in (None, 0, 2, len(every) // 2, len(every) + 3):
        expected = {s: sum(t.state == s and (below is None or t.number < below) for t in every) for s in TrialState}
        assert mine.count_trials(sid, below) == expected, below


@pytest.mark.postgres
def test_every_read_equals_the_uncached_storage_while_another_worker_writes(database: str) -> None:
    mine: Any = open_storage(database)  # this worker: the wrapper over Optuna's cache
    other: Any = open_storage(database)  # another worker's process
    plain = open_storage(database, plain=True)  # the truth: RDBStorage, no cache
    study = optuna.create_study(study_name="reads", storage=mine, direction="maximize")
    sid = study._study_id
    theirs = optuna.load_study(study_name="reads", storage=other)
    done = [theirs.ask({"x": X}) for _ in range(3)]
    theirs.tell(done[0], 0.5)
    theirs.tell(done[1], state=TrialState.PRUNED)
    theirs.tell(done[2], state=TrialState.FAIL)
    running = [theirs.ask({"x": X}) for _ in range(3)]
    for step, t in enumerate(running):
        t.report(0.1 * step, 0)
        other.set_trial_system_attr(t._trial_id, "regtune:beat", 1.0)
    for value in (0.3, 0.6):
        study.enqueue_trial({"x": value})
    _compare(mine, plain, sid)  # the cache now holds the finished trials and has seen the unfinished ones

    # the other worker moves on: reports, attributes, a finish, a claimed waiting trial, a new trial
    running[0].report(0.7, 1)
    other.set_trial_system_attr(running[1]._trial_id, "regtune:beat", 2.0)
    other.set_trial_user_attr(running[1]._trial_id, "value_is", "mean")
    theirs.tell(running[2], 0.9)
    claimed = theirs.ask()  # the first enqueued trial: WAITING -> RUNNING
    assert claimed.suggest_float("x", 0.0, 1.0) == 0.3
    other.create_new_trial(sid)  # a fresh trial (ask would take the other waiting one)
    _compare(mine, plain, sid)

    # this worker claims the other waiting trial after an unfinished-only read, and runs it through the wrapper
    (waiting,) = mine.get_all_trials(sid, states=(TrialState.WAITING,))
    assert mine.set_trial_state_values(waiting._trial_id, TrialState.RUNNING)
    trial = optuna.Trial(study, waiting._trial_id)
    assert trial.suggest_float("x", 0.0, 1.0) == 0.6 and trial.suggest_float("y", 0.0, 1.0) is not None
    trial.report(0.4, 0)
    study.tell(trial, 0.4)
    _compare(mine, plain, sid)
    # the worker's own counts and rank check read the same
    reference = optuna.load_study(study_name="reads", storage=plain)
    assert counts(study) == counts(reference)
    assert counts(study)["complete"] == 3 and counts(study)["running"] == 4
    for t in reference.trials:  # (the check reads the trial's own attributes: is it enqueued, a copy, fresh?)
        fake: Any = type("T", (), {"number": t.number, "_trial_id": t._trial_id})
        assert [_surplus(study, fake, total) for total in range(8)] == [
            _surplus(reference, fake, total) for total in range(8)
        ]


# --------------------------------------------------------------------------------------------- shared refreshes
@pytest.mark.postgres
def test_a_read_never_misses_what_was_committed_before_it_was_asked(database: str) -> None:
    """Reads of one storage from many threads (the gRPC proxy) share a refresh, but only one that started after they
    were asked: a trial finished while a refresh is under way is seen by every read asked after it finished."""
    mine: Any = open_storage(database)
    other: Any = open_storage(database)
    study = optuna.create_study(study_name="shared", storage=mine)
    sid = study._study_id
    theirs = optuna.load_study(study_name="shared", storage=other)
    trial = theirs.ask({"x": X})
    mine.get_all_trials(sid)
    cache, real = mine._cache, mine._cache._read_trials_from_remote_storage
    first_read, release = threading.Event(), threading.Event()
    refreshes: list[int] = []

    def read(study_id: int) -> None:  # the first refresh is held after it read the database
        real(study_id)
        refreshes.append(study_id)
        if len(refreshes) == 1:
            first_read.set()
            assert release.wait(60)

    cache._read_trials_from_remote_storage = read
    results: dict[str, list[Any]] = {}

    def reader(name: str) -> None:
        results[name] = mine.get_all_trials(sid, deepcopy=False)

    early = threading.Thread(target=reader, args=("early",))
    early.start()
    assert first_read.wait(60)
    theirs.tell(trial, 1.0)  # committed after the first refresh read, before the late reads are asked
    late = [threading.Thread(target=reader, args=(f"late{i}",)) for i in range(3)]
    for t in late:
        t.start()
    deadline = time.monotonic() + 60
    while len(mine._refresh.cond._waiters) < 3 and time.monotonic() < deadline:  # all three wait for a refresh
        time.sleep(0.01)
    release.set()
    for t in [early, *late]:
        t.join(60)
    assert results["early"][0].state == TrialState.RUNNING  # its refresh read before the tell
    assert [results[f"late{i}"][0].state for i in range(3)] == [TrialState.COMPLETE] * 3
    assert refreshes == [sid, sid]  # the three late reads shared the one refresh that started after them


@pytest.mark.postgres
def test_concurrent_reads_see_every_trial_finished_before_they_were_asked(database: str) -> None:
    mine: Any = open_storage(database)
    other: Any = open_storage(database)
    study = optuna.create_study(study_name="race", storage=mine)
    sid = study._study_id
    theirs = optuna.load_study(study_name="race", storage=other)
    finished: list[int] = []  # trial numbers, appended once their tell has committed
    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def writer() -> None:
        for i in range(40):
            t = theirs.ask({"x": X})
            theirs.tell(t, float(i))
            finished.append(t.number)
        stop.set()

    def reader() -> None:
        while not stop.is_set():
            known = set(finished)
            seen = {t.number for t in mine.get_all_trials(sid, deepcopy=False) if t.state.is_finished()}
            count = mine.count_trials(sid)[TrialState.COMPLETE]
            if not known <= seen or count < len(known):
                problems.append(f"missed {sorted(known - seen)} (count {count} < {len(known)})")
            reads[0] += 1

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not problems, problems[:3]
    assert reads[0] > 6 and len(finished) == 40
    assert [t.number for t in mine.get_all_trials(sid) if t.state == TrialState.COMPLETE] == list(range(40))


# --------------------------------------------------------------------------------------------- pruning replay
def _replay(url: str, plain: bool, pruner_name: str, seed: int) -> list[tuple[int, int, bool]]:
    """A study's history replayed: 3 workers' storages, 4 trials running at once, reports round robin, a new trial
    whenever one ends; every (trial, step, should_prune) decision in order."""
    steps = 9
    open_one = (lambda: open_storage(url, plain=True)) if plain else (lambda: open_storage(url))
    storages = [open_one() for _ in range(3)]
    optuna.create_study(study_name="replay", storage=storages[0], direction="maximize")
    studies = [
        optuna.load_study(study_name="replay", storage=s, pruner=PRUNERS[pruner_name](steps, None)) for s in storages
    ]
    rng = random.Random(seed)
    quality = [rng.random() for _ in range(24)]
    decisions: list[tuple[int, int, bool]] = []
    started = 0
    live: list[tuple[optuna.Study, optuna.Trial, int]] = []  # (its worker's study, trial, next step)
    while started < len(quality) or live:
        while len(live) < 4 and started < len(quality):
            study = studies[started % 3]
            live.append((study, study.ask({"x": X}), 0))
            started += 1
        study, trial, step = live.pop(0)
        value = quality[trial.number] * (1 - 0.6 ** (step + 1))
        trial.report(value, step)
        pruned = trial.should_prune()
        decisions.append((trial.number, step, pruned))
        if pruned:
            study.tell(trial, state=TrialState.PRUNED)
        elif step + 1 == steps:
            study.tell(trial, value)
        else:
            live.append((study, trial, step + 1))
    return decisions


@pytest.mark.postgres
@pytest.mark.parametrize("pruner", ["hyperband", "successive_halving", "median"])
def test_pruning_decisions_equal_the_uncached_storage(database: str, other_database: str, pruner: str) -> None:
    mine = _replay(database, plain=False, pruner_name=pruner, seed=1)
    truth = _replay(other_database, plain=True, pruner_name=pruner, seed=1)
    assert mine == truth
    prunes = sum(p for _, _, p in truth)
    assert 0 < prunes < 24, prunes  # the replay prunes some trials and lets others finish


# --------------------------------------------------------------------------------------------- own running trials
@pytest.mark.postgres
def test_the_pruners_read_of_its_own_running_trial_costs_one_round_trip_per_trial(database: str) -> None:
    """A trial this process runs is read once; then its system attributes are its own writes (the rungs a pruner
    records), equal to the database's at every step. Another worker's running trial is read every time."""
    mine: Any = open_storage(database)
    other: Any = open_storage(database)
    plain = open_storage(database, plain=True)
    study = optuna.create_study(study_name="own", storage=mine)
    theirs = optuna.load_study(study_name="own", storage=other)
    reads: list[int] = []
    rdb = mine._cache._backend
    real = rdb.get_trial_system_attrs

    def counted(tid: int) -> dict[str, Any]:
        reads.append(tid)
        return real(tid)  # type: ignore[no-any-return]

    rdb.get_trial_system_attrs = counted
    own, foreign = study.ask({"x": X}), theirs.ask({"x": X})
    for step in range(4):
        mine.set_trial_system_attr(own._trial_id, f"completed_rung_{step}", 0.1 * step)
        other.set_trial_system_attr(foreign._trial_id, f"completed_rung_{step}", (step, "tuple"))
        for t in (own, foreign):
            assert mine.get_trial_system_attrs(t._trial_id) == plain.get_trial_system_attrs(t._trial_id)
    assert reads.count(own._trial_id) == 1 and reads.count(foreign._trial_id) == 4
    study.tell(own, 1.0)
    mine.get_all_trials(study._study_id)  # the finished trial is now in Optuna's cache
    assert mine.get_trial_system_attrs(own._trial_id) == plain.get_trial_system_attrs(own._trial_id)
    assert reads.count(own._trial_id) == 1 and own._trial_id not in mine._own
