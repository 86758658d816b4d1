"""Shared studies on the real local PostgreSQL: many worker processes, a SIGKILLed worker resumed from its
checkpoint, a database restart mid-study, Ctrl-C on one worker, bad URLs, the gRPC proxy, masked credentials.

Every PostgreSQL test creates its own database and drops it afterwards; they skip (with the reason) only when
the server is unreachable (``.ci/run`` starts it). Workers are real ``python -m search worker`` processes on tiny
studies written to ``tmp_path``; heartbeats are shortened through ``REGTUNE_HEARTBEAT_INTERVAL`` /
``REGTUNE_GRACE_PERIOD``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from search.storage import RetryingStorage, driver_url, mask_url, open_storage, scrub
from tests import helpers
from tests.helpers import checkpoint_dir, hold_schema_lock, load, logs, schema_lock_waiter, start_worker, wait_for

ROOT = Path(__file__).resolve().parents[1]
PG_HOST, PG_PORT = (
    os.environ.get("REGTUNE_TEST_PGHOST", "127.0.0.1"),
    int(os.environ.get("REGTUNE_TEST_PGPORT", "5432")),
)
PG_USER = os.environ.get("REGTUNE_TEST_PGUSER", "postgres")
SECRET = "hunter2-s3cr3t"  # trust auth ignores it; it must never appear in any output
FAST = {"REGTUNE_HEARTBEAT_INTERVAL": "1", "REGTUNE_GRACE_PERIOD": "4"}
TINY: dict[str, Any] = {
    "dataset": "synthetic:n=200,length=20",
    "architecture": {"cell": "gru", "hidden_size": 8},
    "budget": {"trials": 4, "max_epochs": 4},
    "sampler": "random",
    "pruner": "none",
    "cv_folds": 1,
    "recipes": False,
    "introspect": False,
    "search": {
        "dropout": {"low": 0.0, "high": 0.4},
        "kernel_l2": {"low": 1e-5, "high": 1e-2, "log": True, "off": True},
    },
    "fixed": {"lr": 0.01, "batch_size": 32},
}


# --------------------------------------------------------------------------------------------- helpers
def _admin(sql: str, dbname: str = "postgres") -> list[tuple]:
    """``sql`` on database ``dbname`` of the local server (its rows, if any)."""
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, connect_timeout=3)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


@pytest.fixture(scope="module")
def postgres() -> None:
    try:
        _admin("SELECT 1")
    except Exception as exc:
        pytest.skip(
            f"PostgreSQL unreachable at {PG_HOST}:{PG_PORT} as {PG_USER} ({str(exc).strip().splitlines()[0]}); "
            "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )


@pytest.fixture
def database(postgres: None) -> Iterator[str]:
    """A fresh, empty database (no Optuna schema yet): its URL, with a password the server ignores."""
    name = f"regtune_test_{uuid.uuid4().hex[:10]}"
    _admin(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://{PG_USER}:{SECRET}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        for _ in range(30):  # the server may still be restarting after the restart test
            try:
                _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                break
            except Exception:
                time.sleep(1)


def write_study(tmp_path: Path, name: str, **changes: Any) -> Path:
    return helpers.write_study(tmp_path, name, TINY, **changes)


def wait_all(procs: list[subprocess.Popen], tmp_path: Path, timeout: float = 240) -> list[int]:
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"workers did not finish in {timeout} s\n{logs(tmp_path)}")
    return [p.returncode for p in procs]


def trials_of(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return load(url, name).get_trials(deepcopy=False)
    except KeyError:  # the study does not exist yet
        return []


def assert_exact(url: str, name: str, total: int, tmp_path: Path) -> list[optuna.trial.FrozenTrial]:
    trials = trials_of(url, name)
    by_state = {s: [t for t in trials if t.state == s] for s in TrialState}
    finished = by_state[TrialState.COMPLETE] + by_state[TrialState.PRUNED]
    assert len(finished) == total, (
        f"{len(finished)} finished, want exactly {total}: {[(t.number, t.state.name) for t in trials]}\n{logs(tmp_path)}"
    )
    assert not by_state[TrialState.RUNNING], [t.number for t in by_state[TrialState.RUNNING]]
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    # re-runs of one trial share its parameters; distinct trials never do (continuous ranges: not by chance)
    keys = [tuple(sorted(t.params.items())) for t in finished]
    assert len(keys) == len(set(keys)), "\n".join(
        f"{t.number} {t.state.name} {t.params} {t.user_attrs.get('recipe')} {t.system_attrs}" for t in trials
    )
    assert all(t.value is not None for t in by_state[TrialState.COMPLETE])
    return trials


def connections(url: str) -> int:
    name = url.rsplit("/", 1)[1]
    return int(_admin(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'")[0][0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------- many workers
@pytest.mark.postgres
def test_workers_started_at_once_on_a_fresh_database_reach_exactly_the_total(tmp_path: Path, database: str) -> None:
    """Three workers start at the same moment on an empty database: the schema and the study (with its enqueued
    starting points) are created once, connections stay bounded, and the study ends with exactly TRIALS finished."""
    name, total, n = "many", 7, 3
    study = write_study(tmp_path, name, recipes=True, budget={"trials": total, "max_epochs": 3})
    # worker 0 gets the URL from the environment (REGTUNE_STORAGE), worker 1 on the command line, worker 2 a URL
    # without the password and the password in PGPASSWORD (libpq's variable; trust auth accepts any: what is checked
    # is that the URL form works and the password is printed nowhere)
    bare = database.replace(f":{SECRET}@", "@")
    urls = [None, database, bare]
    envs = [{"REGTUNE_STORAGE": database}, {}, {"PGPASSWORD": SECRET}]
    procs = [start_worker(tmp_path, f"w{i}", study, urls[i], total, env={**FAST, **envs[i]}) for i in range(n)]
    peak = 0
    while any(p.poll() is None for p in procs):
        peak = max(peak, connections(database))
        time.sleep(0.3)
    assert wait_all(procs, tmp_path) == [0] * n, logs(tmp_path)
    trials = assert_exact(database, name, total, tmp_path)
    # per worker: its pool (2 + 2 overflow) and, while it creates the study, the advisory-lock connection
    assert 1 <= peak <= n * 5, peak
    labels = [t.user_attrs["recipe"] for t in trials if "recipe" in t.user_attrs]
    assert labels and len(labels) == len(set(labels)), f"starting points enqueued more than once: {labels}"
    assert SECRET not in logs(tmp_path)
    assert mask_url(database) in logs(tmp_path)


# --------------------------------------------------------------------------------------------- faults
@pytest.mark.postgres
def test_sigkilled_worker_trial_is_rerun_by_another_worker_from_its_checkpoint(tmp_path: Path, database: str) -> None:
    name, artifacts = "killed", tmp_path / "artifacts"
    study = write_study(tmp_path, name, budget={"trials": 1, "max_epochs": 24})
    a = start_worker(tmp_path, "a", study, database, 1, env=FAST, artifacts=artifacts)
    ckpt = checkpoint_dir(artifacts, study) / "fold-0.ckpt"

    def midway() -> Any:
        ts = trials_of(database, name)
        return ts and ts[0].state == TrialState.RUNNING and len(ts[0].intermediate_values) >= 3 and ckpt.exists()

    wait_for(midway, 120, "trial 0 to run 3 epochs with a checkpoint", tmp_path, every=0.1)
    a.send_signal(signal.SIGKILL)
    a.wait(timeout=10)
    dead = trials_of(database, name)[0]
    assert dead.state == TrialState.RUNNING  # nobody told the storage
    # a grace period longer than b's start on an idle machine (5-6 s): b finds the trial's heartbeat still fresh,
    # and waits. On a loaded one b may start later and find it stale at once (the same re-run; the count below
    # allows it): 30 s, which b waited out almost whole on a fast machine, cost every run ~20 s
    # a worker on another machine: on this one, b would find a's pid dead and re-queue the trial at once
    load(database, name)._storage.set_trial_system_attr(dead._trial_id, "regtune:host", "another-machine")
    b = start_worker(tmp_path, "b", study, database, 1, env={**FAST, "REGTUNE_GRACE_PERIOD": "10"}, artifacts=artifacts)
    assert wait_all([b], tmp_path) == [0], logs(tmp_path)
    said = (tmp_path / "b.log").read_text()  # it said once that it waits for the dead trial's heartbeat to go stale
    # (or nothing: on a loaded machine b took 33-56 s to start, and found the heartbeat stale already)
    assert said.count("waiting for 1 running trial(s) to finish (0/1 finished)") <= 1, said

    trials = assert_exact(database, name, 1, tmp_path)
    first, rerun = trials[0], trials[-1]
    assert first.state == TrialState.FAIL and "heartbeat" in first.user_attrs["fail_reason"], first.user_attrs
    assert rerun.state == TrialState.COMPLETE
    assert rerun.system_attrs["failed_trial"] == 0
    assert rerun.system_attrs["regtune:pid"] == b.pid  # another worker ran it
    assert rerun.params == first.params
    resumed = rerun.user_attrs["resumed_from_epoch"]
    assert resumed >= 2, rerun.user_attrs  # not from scratch: from the dead run's last checkpointed epoch
    assert rerun.user_attrs["epochs_run"] == 24
    for step, value in dead.intermediate_values.items():  # the dead run's curve is kept, and continued identically
        assert rerun.intermediate_values[step] == pytest.approx(value)
    assert set(rerun.intermediate_values) == set(range(24))
    assert not checkpoint_dir(artifacts, study).exists()  # a finished trial deletes its checkpoints


@pytest.mark.postgres
def test_ctrl_c_on_one_worker_requeues_its_trial_and_the_others_finish(tmp_path: Path, database: str) -> None:
    name, total, artifacts = "ctrlc", 3, tmp_path / "artifacts"
    # no early stopping: the trial signalled after its 2nd epoch must still be running when the signal lands
    study = write_study(
        tmp_path, name, budget={"trials": total, "max_epochs": 24}, fixed={"lr": 0.01, "batch_size": 32, "patience": 0}
    )
    a = start_worker(tmp_path, "a", study, database, total, env=FAST, artifacts=artifacts)

    def a_running() -> Any:
        for t in trials_of(database, name):
            if (t.state == TrialState.RUNNING and t.system_attrs.get("regtune:pid") == a.pid
                    and len(t.intermediate_values) >= 2):  # fmt: skip
                return t
        return None

    # b starts once a trains: started together, a slow start of a (a loaded machine) let b finish all three
    interrupted = wait_for(a_running, 120, "worker a to train a trial", tmp_path, every=0.1)
    b = start_worker(tmp_path, "b", study, database, total, env=FAST, artifacts=artifacts)
    a.send_signal(signal.SIGINT)
    assert a.wait(timeout=60) == 130, logs(tmp_path)
    assert b.poll() is None, "worker b stopped with worker a"
    assert wait_all([b], tmp_path) == [0], logs(tmp_path)
    trials = assert_exact(database, name, total, tmp_path)
    stopped = next(t for t in trials if t.number == interrupted.number)
    assert stopped.state == TrialState.FAIL and "interrupted" in stopped.user_attrs["fail_reason"]
    rerun = next(t for t in trials if t.system_attrs.get("failed_trial") == interrupted.number)
    assert rerun.state == TrialState.COMPLETE and rerun.params == stopped.params
    assert rerun.user_attrs.get("resumed_from_epoch", 0) >= 1  # Ctrl-C keeps the checkpoints too


@pytest.mark.postgres
@pytest.mark.parametrize("array_size", [1, 2], ids=["lone trial", "trial array"])
def test_a_worker_suspended_past_the_grace_period_yields_its_trials_and_carries_on(
    tmp_path: Path, database: str, array_size: int
) -> None:
    """Ctrl-Z, a paused VM or a network stall longer than the grace period: another worker fails the trials of
    the silent one and re-queues them. The silent worker, once it runs again, wrote into its finished trials and
    died in three chained tracebacks (UpdateFinishedTrialError) without its verdict. It now says its trials were
    taken over, drops its runs of them and carries on; the study still finishes exactly its total."""
    name, total = f"paused{array_size}", array_size
    # no early stopping, and epochs enough (~40 ms each) that a trial seen at its 2nd epoch is still running when
    # SIGSTOP lands one poll (0.1 s) later: from then on worker a is frozen, however long b takes to start. Each
    # re-queued copy trains them all again (600 epochs took 26 s a copy, 55 s at load 5; 120 take 5 s)
    study = write_study(tmp_path, name, budget={"trials": total, "max_epochs": 120}, array_size=array_size,
                        fixed={"lr": 0.01, "batch_size": 32, "patience": 0})  # fmt: skip
    a = start_worker(tmp_path, "a", study, database, total, env=FAST)

    def a_training() -> Any:
        ts = [t for t in trials_of(database, name) if t.state == TrialState.RUNNING]
        return len(ts) == total and all(
            t.system_attrs.get("regtune:pid") == a.pid and len(t.intermediate_values) >= 2 for t in ts
        )

    wait_for(a_training, 120, "worker a to train its trials", tmp_path, every=0.1)
    a.send_signal(signal.SIGSTOP)
    silent = {t.number for t in trials_of(database, name) if t.state == TrialState.RUNNING}
    try:
        b = start_worker(tmp_path, "b", study, database, total, env=FAST)

        def failed() -> Any:
            ts = trials_of(database, name)
            return sum(t.state == TrialState.FAIL and "heartbeat" in t.user_attrs.get("fail_reason", "") for t in ts)

        wait_for(lambda: failed() == total, 120, "worker b to fail worker a's silent trials", tmp_path)
    finally:
        a.send_signal(signal.SIGCONT)
    # the re-queued copies train 120 epochs (patience 0); generous for a loaded machine
    assert wait_all([a, b], tmp_path, timeout=500) == [0, 0], logs(tmp_path)
    log = (tmp_path / "a.log").read_text()
    assert "Traceback" not in log and "UpdateFinishedTrialError" not in log, log
    assert "meanwhile by another worker" in log and "its re-queued copy counts" in log, log
    trials = assert_exact(database, name, total, tmp_path)
    assert len(silent) == total and all(t.state == TrialState.FAIL for t in trials if t.number in silent)
    # once running again, worker a may claim a re-queued copy b has not reached (a slow machine): a copy, run whole
    for t in trials:
        if t.system_attrs.get("regtune:pid") == a.pid and t.number not in silent:
            assert t.system_attrs.get("failed_trial") in silent, (t.number, t.state, t.system_attrs)


def _pg_cluster() -> tuple[str, str] | None:
    """(version, name) of the local cluster that serves PG_PORT, or None: it restarted the newest "main" whatever
    REGTUNE_TEST_PGPORT named, a server other work used (the faults3 probe)."""
    if not shutil.which("pg_ctlcluster") or not shutil.which("pg_lsclusters"):
        return None
    listed = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, timeout=30).stdout
    for line in listed.splitlines():
        version, name, port, *_ = line.split()
        if port == str(PG_PORT):
            return version, name
    return None


@pytest.mark.postgres
@pytest.mark.pg_restart  # restarts the server: `make test` runs it alone, after the others
def test_postgres_restart_mid_study_loses_and_double_counts_nothing(tmp_path: Path, database: str) -> None:
    cluster = _pg_cluster()
    if cluster is None or PG_HOST not in ("127.0.0.1", "localhost"):
        pytest.skip("needs the local PostgreSQL cluster and pg_ctlcluster to restart it")
    name, total = "restart", 12
    # trials of about 3 s each (TINY's take under one: CI once finished the whole study before the restart). Each
    # worker runs an array of up to 3 at once, so 12 are two rounds; the restart follows the first finished trial by
    # well under a second, with a whole round of trials still to tell, on a fast machine or a slow one
    study = write_study(tmp_path, name, dataset="synthetic:n=1000,length=40", budget={"trials": total, "max_epochs": 8})
    env = {"REGTUNE_HEARTBEAT_INTERVAL": "2", "REGTUNE_GRACE_PERIOD": "30"}
    procs = [start_worker(tmp_path, f"w{i}", study, database, total, env=env) for i in range(2)]
    wait_for(lambda: sum(t.state.is_finished() for t in trials_of(database, name)) >= 1, 120, "1 finished", tmp_path)
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, "restart"], check=True, timeout=120)
    # alive, or already done: on a slow restart the workers reconnect and may finish before pg_ctlcluster returns
    assert all(p.poll() in (None, 0) for p in procs), logs(tmp_path)
    assert wait_all(procs, tmp_path) == [0, 0], logs(tmp_path)
    trials = assert_exact(database, name, total, tmp_path)
    # no trial lost to the restart; a surplus trial (two workers asked for the last slot, the later one handed its
    # fresh trial back, closed as failed by design: search/worker.py) is not a loss
    lost = [
        t
        for t in trials
        if t.state == TrialState.FAIL and not t.user_attrs.get("fail_reason", "").startswith("surplus")
    ]
    assert not lost, [t.user_attrs for t in lost]
    # the restart fell mid-study: trials were told to the restarted server (whether a worker's call hit the restart
    # and was retried, or its pool reconnected unseen, depends on timing: the log's "retrying" is not asserted)
    started = _admin("SELECT pg_postmaster_start_time()")[0][0].astimezone().replace(tzinfo=None)  # Optuna: local time
    after = [t for t in trials if t.datetime_complete is not None and t.datetime_complete > started]
    assert after, f"every trial finished before the server restarted at {started}: the test tested nothing"
    assert SECRET not in logs(tmp_path)


# --------------------------------------------------------------------------------------------- bad URLs
@pytest.mark.postgres
def test_unreachable_or_wrong_storage_url_is_one_clear_line_with_the_password_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each command runs in this process (run_main): the test is about the one line a refusal prints, which needs
    no process of its own (four fresh interpreters cost 20 s of imports on a loaded machine)."""
    study = write_study(tmp_path, "bad")
    cases = {
        "port": (f"postgresql://{PG_USER}:{SECRET}@127.0.0.1:1/test", ["127.0.0.1", "port 1", "database test"]),
        "host": (f"postgresql://{PG_USER}:{SECRET}@no-such-host.invalid:5432/test", ["no-such-host.invalid", "5432"]),
        "database": (
            f"postgresql://{PG_USER}:{SECRET}@{PG_HOST}:{PG_PORT}/no_such_db_{uuid.uuid4().hex[:6]}",
            [PG_HOST, str(PG_PORT), "does not exist"],
        ),
        "proxy": ("grpc://127.0.0.1:1", ["gRPC", "127.0.0.1", "port 1"]),
    }
    for case, (url, expected) in cases.items():
        run = helpers.run_main(capsys, "worker", str(study), "--storage", url)
        out, err = run.stdout, run.stderr
        lines = err.strip().splitlines()
        assert run.returncode == 2, (case, run.returncode, err)
        assert len(lines) == 1 and lines[0].startswith("error: "), (case, err)
        assert "Traceback" not in err + out and SECRET not in err + out, (case, err)
        for word in expected:
            assert word in lines[0], (case, word, lines[0])
        if "@" in url:
            assert "database " in lines[0] and ":***@" in lines[0], (case, lines[0])


def test_mask_url_and_scrub_hide_every_password_form() -> None:
    assert mask_url("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_url("postgresql://u:p@ss:w/rd@h/db") == "postgresql://u:***@h/db"  # unescaped '@', ':', '/'
    assert mask_url("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"
    assert mask_url("postgresql://h/db?user=u&password=pw&sslmode=require") == (
        "postgresql://h/db?user=u&password=***&sslmode=require"
    )
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_url("grpc://h:13000") == "grpc://h:13000"
    assert mask_url("runs/x/journal.log") == "runs/x/journal.log"
    url = "postgresql+psycopg2://u:p%40ss@h/db"
    text = f"could not connect to {url} with password p@ss and p%40ss"
    assert "p@ss" not in scrub(text, url) and "p%40ss" not in scrub(text, url)
    assert driver_url("postgresql://u@h/db").startswith("postgresql")
    assert driver_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.postgres
def test_a_notebooks_result_masks_the_database_password(database: str) -> None:
    """``run_study``'s ``Result.storage`` held the URL with its password: a notebook cell that showed the result
    saved the password in the notebook."""
    from models.data import synthetic_splits
    from search.api import run_study

    s = synthetic_splits(n=40, length=6)
    study = {**TINY, "name": "masked", "dataset": None, "budget": {"trials": 1, "max_epochs": 1}, "recipes": False}
    result = run_study({k: v for k, v in study.items() if v is not None}, (s.train.X, s.train.y, s.test.X, s.test.y),
                       storage=database, verdict=False, progress=False)  # fmt: skip
    assert SECRET not in repr(result) and result.storage == mask_url(database), result.storage


# --------------------------------------------------------------------------------------------- gRPC proxy
def start_proxy(tmp_path: Path, database: str, port: int, processes: int = 1) -> subprocess.Popen:
    proxy_log = open(tmp_path / "proxy.log", "w")
    proxy = subprocess.Popen(
        [sys.executable, "-m", "search", "proxy", "--storage", database, "--port", str(port), "--threads", "4",
         "--processes", str(processes)],
        cwd=ROOT, stdout=proxy_log, stderr=subprocess.STDOUT, env={**os.environ, **FAST, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    ready = lambda: (tmp_path / "proxy.log").read_text().count("gRPC storage proxy") == processes  # noqa: E731
    wait_for(ready, 60, "the proxy", tmp_path)
    return proxy


def proxy_children(tmp_path: Path) -> list[int]:
    """The pids ``proxy --processes N`` printed (none for one process)."""
    m = re.search(r"proxy processes on \S+ \(pids ([\d, ]+)\)", (tmp_path / "proxy.log").read_text())
    return [int(p) for p in m.group(1).split(", ")] if m else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.postgres
@pytest.mark.parametrize("processes", [1, 2], ids=["one process", "two processes on one port"])
def test_grpc_proxy_serves_workers_a_whole_study(tmp_path: Path, database: str, processes: int) -> None:
    name, total, port = "proxied", 4, free_port()
    study = write_study(tmp_path, name, budget={"trials": total, "max_epochs": 3})
    proxy = start_proxy(tmp_path, database, port, processes)
    children = proxy_children(tmp_path)
    assert len(children) == (processes if processes > 1 else 0)
    try:
        grpc_url = f"grpc://127.0.0.1:{port}"
        procs = [start_worker(tmp_path, f"w{i}", study, grpc_url, total, env=FAST) for i in range(2)]
        peak = 0
        while any(p.poll() is None for p in procs):
            peak = max(peak, connections(database))
            time.sleep(0.3)
        assert wait_all(procs, tmp_path) == [0, 0], logs(tmp_path)
        assert proxy.poll() is None, logs(tmp_path)
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(timeout=30)
    wait_for(lambda: not any(alive(pid) for pid in children), 30, "the proxy processes to stop", tmp_path)
    trials = assert_exact(database, name, total, tmp_path)
    # the workers hold no database connection: only the proxy does, at most one per request thread and process
    assert peak <= 4 * processes + 1, peak
    # behind the proxy there is no Optuna heartbeat: the workers write their own
    assert all("regtune:beat" in t.system_attrs for t in trials if t.state == TrialState.COMPLETE)
    text = logs(tmp_path)
    assert mask_url(database) in text and SECRET not in text


@pytest.mark.postgres
@pytest.mark.parametrize("processes", [1, 2], ids=["one process", "two processes on one port"])
def test_workers_creating_a_study_through_the_proxy_enqueue_each_starting_point_once(
    tmp_path: Path, database: str, processes: int
) -> None:
    """Six workers open a new study through the proxy at the same moment (threads, each its own gRPC client, as
    many machines would): each starting point (the baseline, every recipe) is enqueued once. Before, each worker
    read "not there" before any had written, and the baseline and recipes ran once per worker."""
    import threading

    from search.spec import load_study
    from search.storage import open_storage
    from search.worker import ensure_study

    name, port = "proxied-start", free_port()
    spec = load_study(write_study(tmp_path, name, recipes=True))
    proxy = start_proxy(tmp_path, database, port, processes)
    try:
        url = f"grpc://127.0.0.1:{port}"
        clients = [open_storage(url) for _ in range(6)]
        barrier, errors = threading.Barrier(len(clients)), []

        def create(storage: Any) -> None:
            barrier.wait()
            try:
                ensure_study(spec, storage)
            except Exception as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(timeout=30)
    trials = trials_of(database, name)
    labels = [t.user_attrs.get("recipe") for t in trials]
    assert len(labels) >= 3 and len(labels) == len(set(labels)), labels  # the baseline and two recipes at least
    assert all(t.state == TrialState.WAITING for t in trials)


@pytest.mark.postgres
def test_proxy_processes_never_outlive_their_parent(tmp_path: Path, database: str) -> None:
    """``proxy --processes 2`` killed with SIGKILL (no chance to stop its children): they exit on their own, and the
    port is free again."""
    port = free_port()
    proxy = start_proxy(tmp_path, database, port, 2)
    children = proxy_children(tmp_path)
    assert len(children) == 2 and all(alive(pid) for pid in children)
    proxy.kill()
    proxy.wait(timeout=30)
    wait_for(lambda: not any(alive(pid) for pid in children), 30, "the orphaned proxy processes to exit", tmp_path)


# --------------------------------------------------------------------------------------------- units
def _point(label: str | None = "baseline", state: TrialState = TrialState.WAITING, **system: Any) -> Any:
    values = {"dropout": 0.1, "norm": "none", "layers": 2, **system.pop("values", {})}
    return optuna.trial.create_trial(
        state=state, value=0.5 if state == TrialState.COMPLETE else None,
        user_attrs={} if label is None else {"recipe": label}, system_attrs={"fixed_params": values, **system},
    )  # fmt: skip


#: (id, the template, whether the proxy creates it once, an existing trial, whether that one is the same point)
POINTS = [
    ("the same point", _point(), True, _point(), True),
    ("another label", _point(), True, _point("mixup 0.2"), False),
    ("already run", _point(), True, _point(state=TrialState.COMPLETE), True),
    ("other values", _point(), True, _point(values={"dropout": 0.2}), False),
    ("a float's rounding", _point(), True, _point(values={"dropout": 0.1 + 1e-17}), True),
    ("one more value", _point(), True, _point(values={"lr": 0.01}), False),
    ("true is not 1", _point(values={"layers": True}), True, _point(values={"layers": 1}), False),
    ("a re-queued copy", _point(failed_trial=3), False, _point(), True),
    ("no label (a user's own enqueue)", _point(None), False, _point(None), False),
]


@pytest.mark.parametrize(("template", "once", "existing", "same"), [c[1:] for c in POINTS], ids=[c[0] for c in POINTS])
def test_which_enqueues_the_proxy_makes_once(template: Any, once: bool, existing: Any, same: bool) -> None:
    from search.enqueue_once import same_point, starting_point

    assert starting_point(template) is once
    if once:
        assert same_point(existing, template) is same


def test_worker_plan_round_robins_gpus_and_splits_cpu_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from search.cli import worker_plan

    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    plans = worker_plan(None, 1)
    assert [p["CUDA_VISIBLE_DEVICES"] for p in plans] == ["3", "5"]
    plans = worker_plan(None, 3)  # WORKERS_PER_GPU=3: six workers, three per GPU
    assert [p["CUDA_VISIBLE_DEVICES"] for p in plans] == ["3", "5", "3", "5", "3", "5"]
    assert [p["REGTUNE_WORKER_INDEX"] for p in plans] == [str(i) for i in range(6)]
    assert {p["OMP_NUM_THREADS"] for p in plans} == {"2"}  # 16 cores / 6 workers
    plans = worker_plan(5, 1)  # WORKERS=5 on two GPUs
    assert [p["CUDA_VISIBLE_DEVICES"] for p in plans] == ["3", "5", "3", "5", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # GPUs hidden: CPU workers share the cores
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    plans = worker_plan(2, 1)
    assert all("CUDA_VISIBLE_DEVICES" not in p for p in plans)
    assert [p["OMP_NUM_THREADS"] for p in plans] == ["1", "1"]
    assert worker_plan(None, 1) == [{"OMP_NUM_THREADS": "2", "REGTUNE_WORKER_INDEX": "0"}]
    # WORKERS=6 for 2 trials left: 6 processes of ~200 MB started, 4 of them with nothing to do
    assert worker_plan(6, 1, remaining=2) == [{"OMP_NUM_THREADS": "1", "REGTUNE_WORKER_INDEX": str(i)} for i in (0, 1)]
    assert len(worker_plan(6, 1, remaining=0)) == 6  # nothing left: the plan is not used


def test_dead_trial_found_by_the_workers_own_heartbeat_without_optuna_heartbeat() -> None:
    """Behind the gRPC proxy there is no Optuna heartbeat: a trial whose ``regtune:beat`` is older than the grace
    period is failed and re-queued; a fresh beat is left alone."""
    from search.storage import GRACE_PERIOD
    from search.worker import BEAT_ATTR, fail_dead_trials

    study = optuna.create_study()
    for age in (GRACE_PERIOD + 5, 1):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        study._storage.set_trial_system_attr(trial._trial_id, "regtune:pid", 1)
        study._storage.set_trial_system_attr(trial._trial_id, BEAT_ATTR, time.time() - age)
    assert fail_dead_trials(study) == [0]
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING]
    copy = study.get_trials()[2]
    assert copy.system_attrs["failed_trial"] == 0 and BEAT_ATTR not in copy.system_attrs
    assert copy.params == study.get_trials()[0].params


class Killed(BaseException):
    """A worker's death in the middle of a fit (:func:`kill_at`)."""


def kill_at(epoch: int) -> Any:
    """A callback that kills the fit at the start of its ``epoch``-th epoch, counted over folds (1-based)."""
    from pytorch_lightning.callbacks import Callback

    class KillAt(Callback):
        def __init__(self) -> None:
            self.seen = 0

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self.seen += 1
            if self.seen == epoch:
                raise Killed

    return KillAt()


def test_resumed_trial_continues_exactly_like_an_uninterrupted_one(tmp_path: Path) -> None:
    """A trial killed in its second fold and re-run from its checkpoints reports the same intermediate values and
    ends with the same score, to the last bit, as one that was never interrupted (generators and batch order are
    restored along with weights and optimizer)."""
    from search.checkpoints import CheckpointStore
    from search.objective import Objective
    from search.spec import load_study
    from search.storage import requeue

    spec = load_study(write_study(tmp_path, "exact", cv_folds=2, budget={"trials": 1, "max_epochs": 4},
                                  search={"dropout": {"low": 0.1, "high": 0.3}, "recurrent_dropout": {"low": 0.1, "high": 0.3}}))  # fmt: skip
    params = {"dropout": 0.2, "recurrent_dropout": 0.15}

    reference = optuna.create_study(study_name="exact", direction="maximize")
    reference.enqueue_trial(params)
    trial = reference.ask()
    reference.tell(trial, Objective(spec, accelerator="cpu")(trial))

    store = CheckpointStore(tmp_path / "artifacts")
    study = optuna.create_study(study_name="exact", direction="maximize")
    study.enqueue_trial(params)
    trial = study.ask()
    kill = kill_at(4 + 3)  # fold 1, third epoch
    with pytest.raises(Killed):
        Objective(spec, accelerator="cpu", checkpoints=store, extra_callbacks=lambda t: [kill])(trial)
    study.tell(trial, state=TrialState.FAIL)
    requeue(study, study.get_trials()[0])
    trial = study.ask()
    study.tell(trial, Objective(spec, accelerator="cpu", checkpoints=store)(trial))
    want, got = reference.get_trials()[0], study.get_trials()[1]
    assert got.user_attrs["resumed_from_epoch"] == 4 + 2
    assert got.intermediate_values == want.intermediate_values
    assert got.value == want.value
    assert got.user_attrs["epochs_run"] == want.user_attrs["epochs_run"] == 8
    assert not any((tmp_path / "artifacts").rglob("*.ckpt"))


def test_checkpoints_work_through_an_optuna_artifact_store(tmp_path: Path) -> None:
    """The store behind ``s3://`` is Optuna's artifact-store API; exercised here with its file-system store."""
    from optuna.artifacts import FileSystemArtifactStore

    from search.checkpoints import CheckpointStore

    (tmp_path / "store").mkdir()
    store = CheckpointStore(FileSystemArtifactStore(str(tmp_path / "store")))
    study = optuna.create_study(study_name="art")
    trial = study.ask()
    ckpts = store.trial(trial, "art")
    assert ckpts.start({"a": 1}).epochs == 0
    ckpts.fold_done(0, {"epoch": 3, "val_acc": 0.5, "val_loss": 1.0, "score": 0.4}, 4)
    study.tell(trial, state=TrialState.FAIL)
    from search.storage import requeue

    requeue(study, study.get_trials()[0])
    again = store.trial(study.ask(), "art")
    resume = again.start({"a": 1})
    assert resume.epochs == 4 and resume.folds[0]["score"] == 0.4 and resume.ckpt_path is None
    assert again.start({"a": 2}).epochs == 0  # another configuration: never resumed
    again.clear()
    assert not list((tmp_path / "store").iterdir())


def test_retrying_storage_is_a_complete_storage() -> None:
    store = RetryingStorage(optuna.storages.InMemoryStorage(), "memory")
    study = optuna.create_study(storage=store)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert len(study.trials) == 3 and store.retries == 0


def test_a_stored_value_that_is_not_json_is_one_line(tmp_path: Path) -> None:
    """A zeroed overflow page of a SQLite study (its quick_check and integrity_check both "ok") left an attribute's
    JSON unreadable: `make study` ended in a 43-line JSONDecodeError traceback."""
    import json

    from search.storage import StorageError

    class Damaged(optuna.storages.InMemoryStorage):
        def get_all_studies(self) -> list:
            raise json.JSONDecodeError("Invalid control character at", '{"a": "\x00"}', 7)

    with pytest.raises(StorageError, match=r"^storage sqlite:///s.db: a stored value is not readable JSON .*restore a "
                                           r"backup copy"):  # fmt: skip
        RetryingStorage(Damaged(), "sqlite:///s.db").get_all_studies()


def test_one_outage_is_one_retry_window_whichever_calls_meet_it(capsys: pytest.CaptureFixture[str]) -> None:
    """A call that gives up is followed by the worker's own calls (marking its trial): each had a 60 s window of its
    own, and a dropped database was given up after 121 s where the line said 60. The window is the outage's."""
    from search.storage import StorageError

    class Down(optuna.storages.InMemoryStorage):
        def get_all_studies(self) -> list:  # type: ignore[override]
            raise ConnectionError("server closed the connection")

    store = RetryingStorage(Down(), "memory", seconds=0.6)
    started = time.monotonic()
    with pytest.raises(StorageError, match=r"lost the storage memory .* for 1 s"):
        store.get_all_studies()
    first = time.monotonic() - started
    with pytest.raises(StorageError):  # the same outage: no new window
        store.get_all_studies()
    assert time.monotonic() - started < first + 0.3
    assert capsys.readouterr().err.count("retrying for up to") == 1
    store.inner = optuna.storages.InMemoryStorage()  # it answers again: a later outage gets a window of its own
    assert store.get_all_studies() == [] and store._down_since is None


@pytest.mark.parametrize(
    ("url", "then"),
    [
        (f"postgresql://u:{SECRET}@db.example:5439/regtune", "once the storage answers again"),
        ("grpc://10.0.0.5:13000", "once the proxy answers again (make proxy, and the database behind it)"),
    ],
    ids=["postgresql", "grpc proxy"],
)
def test_a_storage_lost_mid_run_says_what_became_of_the_trials_and_what_to_do(url: str, then: str) -> None:
    """A PostgreSQL server down past the retry window ended `make worker` with "error: lost the storage ... for 60 s:
    Connection refused", and nothing of the trial it was running nor of what to do (the faults3 probe)."""
    from search.storage import StorageError

    class Down(optuna.storages.InMemoryStorage):
        def get_all_studies(self) -> list:  # type: ignore[override]
            raise ConnectionError("Connection refused")

    store = RetryingStorage(Down(), url, seconds=0.1)
    with pytest.raises(StorageError) as caught:
        store.get_all_studies()
    line = str(caught.value)
    assert "\n" not in line and SECRET not in line, line
    assert line.startswith(f"lost the storage {mask_url(url)} ("), line
    assert "Connection refused; every finished trial is stored, and a trial left running is re-queued" in line, line
    assert line.endswith(f"rerun the same command {then}"), line


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        (None, ""),
        ("runs/tiny/journal.log", ""),  # the study's default journal: the Makefile opens it anyway
        ("runs/./tiny/journal.log", ""),
        ("/data/shared/journal.log", " STORAGE=/data/shared/journal.log"),
        ("/data/my runs/journal.log", " STORAGE='/data/my runs/journal.log'"),
        ("sqlite:///runs/tiny/study.db", " STORAGE=sqlite:///runs/tiny/study.db"),
        (
            "postgresql://postgres:secret@127.0.0.1:5432/test",
            " STORAGE='postgresql://postgres:***@127.0.0.1:5432/test'",
        ),
    ],
)
def test_printed_commands_name_any_storage_but_the_default_journal(url: str | None, hint: str) -> None:
    """A study on a journal outside runs/<study>/ printed `make dashboard STUDY=...` without STORAGE: the command
    opened runs/<study>/journal.log, another (empty) study."""
    from search.storage import storage_hint

    assert storage_hint(url, "tiny") == hint


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql, words",
    [
        ("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY); "
         "INSERT INTO alembic_version VALUES ('1f2e3d4c5b6a')", "an alembic_version table of its own migrations"),
        ("CREATE TABLE studies (id serial PRIMARY KEY, title text)", "a table 'studies' that is not Optuna's (columns: id, title)"),
    ],
    ids=["another application's migrations", "another application's studies table"],
)  # fmt: skip
def test_a_database_of_another_application_is_refused_before_anything_is_written(
    tmp_path: Path, database: str, sql: str, words: str
) -> None:
    """Optuna wrote its eleven tables beside another application's and then called its own schema incompatible
    (``pip install -U optuna``); a foreign ``studies`` table failed in a foreign-key error. Refused, untouched."""
    import psycopg2

    dbname = database.rsplit("/", 1)[1]
    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    try:
        study = write_study(tmp_path, "foreign")
        out = helpers.run_cli("study", str(study), "--storage", database)
        assert out.returncode == 2, out.stdout + out.stderr
        assert f"holds another application's tables: {words}" in out.stderr and "a database of its own" in out.stderr
        assert "Traceback" not in out.stderr and SECRET not in out.stderr + out.stdout
        with conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
            assert {r[0] for r in cur.fetchall()} <= {"alembic_version", "studies"}  # nothing of Optuna's added
    finally:
        conn.close()


@pytest.mark.postgres
def test_a_read_only_role_reports_from_a_copy_and_is_told_so_where_it_must_write(
    tmp_path: Path, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A role that may only read (an analyst's, a replica's): the report retrains its rows and saves them in the
    study; the write failed with "Check the storage (a damaged journal or SQLite file: make repair)", then, after
    minutes of retraining, with "refused a write". The report now reads a private copy of the study, as for a
    read-only journal file, and a command that must write (more trials) is told so in one line. (The commands run
    in this process, run_main: what they read, write and print is the test, not their processes.)"""
    import psycopg2

    study = write_study(tmp_path, "readonly", budget={"trials": 1, "max_epochs": 2}, final_seeds=1)
    assert helpers.run_main(capsys, "study", str(study), "--storage", database).returncode == 0
    dbname, role = database.rsplit("/", 1)[1], f"ro_{uuid.uuid4().hex[:8]}"
    _admin(f"CREATE ROLE {role} LOGIN")
    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        cur_study = tmp_path / "other.yaml"  # a changed study file: the cached verdict does not serve it
        cur_study.write_text(study.read_text().replace("final_seeds: 1", "final_seeds: 2"))
        ro_url = database.replace(f"{PG_USER}:{SECRET}@", f"{role}:{SECRET}@")
        out = helpers.run_main(capsys, "report", str(cur_study), "--storage", ro_url, "--out", str(tmp_path / "report"))
        assert out.returncode == 0, out.stdout + out.stderr
        assert "this role may only read: the report reads a copy, and the rows it retrains are not saved" in out.stderr
        assert (tmp_path / "report" / "readonly" / "index.html").is_file() and SECRET not in out.stderr + out.stdout
        stored = optuna.load_study(study_name="readonly", storage=database)
        assert all(v.get("seeds") != 2 for k, v in stored.user_attrs.items() if isinstance(v, dict))  # nothing saved
        more = helpers.run_main(capsys, "study", str(study), "--storage", ro_url, "--trials", "2")
        assert more.returncode == 2, more.stdout + more.stderr
        assert "refused a write" in more.stderr and "read-only" in more.stderr and "nothing was changed" in more.stderr
        assert "make repair" not in more.stderr and "Traceback" not in more.stderr and SECRET not in more.stderr
    finally:
        with conn.cursor() as cur:
            cur.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        conn.close()
        _admin(f"DROP ROLE IF EXISTS {role}")


TIMEOUTS = [
    # (id, the setting's SQL ({db}: the database)): "connection lost while opening it", then the driver's bare words
    ("database statement_timeout", "ALTER DATABASE {db} SET statement_timeout = '300ms'"),
    ("role statement_timeout in the database", "ALTER ROLE {user} IN DATABASE {db} SET statement_timeout = '300ms'"),
]


@contextlib.contextmanager
def _studies_locked(database: str) -> Iterator[None]:
    """Optuna's schema in ``database`` with its studies table locked by another connection until the block ends: the
    statements that read it wait, so a statement_timeout cancels them every time."""
    import psycopg2

    optuna.storages.RDBStorage(database)  # the schema, so that its studies table can be locked
    holder = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=database.rsplit("/", 1)[1])
    try:
        with holder.cursor() as cur:  # (a transaction: the lock is held until the rollback below)
            cur.execute("LOCK TABLE studies IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        holder.rollback()
        holder.close()


@pytest.mark.postgres
@pytest.mark.parametrize("setting", [c[1] for c in TIMEOUTS], ids=[c[0] for c in TIMEOUTS])
def test_a_statement_timeout_setting_is_named_with_its_database(tmp_path: Path, database: str, setting: str) -> None:
    """(the faults9 probe) A statement_timeout too short for Optuna's statements cancelled them: "connection lost
    while opening it", retried, then "cannot open storage ...: (psycopg.errors.QueryCanceled) canceling statement
    due to statement timeout", naming neither the setting nor what to do. The statements that read the studies
    table wait on a lock held here, so the timeout cancels them every time (a 1 ms timeout raced the statements:
    some finished, and a run once failed on another one)."""
    dbname = database.rsplit("/", 1)[1]
    try:
        with _studies_locked(database):
            _admin(setting.format(db=dbname, user=PG_USER))
            study = write_study(tmp_path, "timeout")
            out = helpers.run_cli(
                "study", str(study), "--storage", database, env={"REGTUNE_STORAGE_RETRY_SECONDS": "2"}
            )
            assert out.returncode == 2 and "Traceback" not in out.stderr, out.stdout + out.stderr
            note, line = out.stderr.strip().splitlines()[-2:]
            assert "connection lost" not in note and "a statement cancelled by the server's timeout setting" in note
            assert line.startswith(f"error: cannot open storage {database.replace(SECRET, '***')}"), line
            assert "the server's statement_timeout = 300ms" in line and f"set for database {dbname}" in line, line
            assert f"ALTER DATABASE {dbname} RESET statement_timeout" in line and SECRET not in out.stderr, line
    finally:
        _admin(f"ALTER DATABASE {dbname} RESET statement_timeout")
        _admin(f"ALTER ROLE {PG_USER} IN DATABASE {dbname} RESET statement_timeout")


#: (id, what the URL adds, the environment, the words): the URL's own setting was blamed on the database, whose
#: ALTER DATABASE ... RESET changed nothing (the stores13 probe)
OWN_TIMEOUTS = [
    (
        "url options",
        "?options=-c%20statement_timeout%3D300",
        {},
        "the storage URL's options (-c statement_timeout=300)",
    ),
    ("PGOPTIONS", "", {"PGOPTIONS": "-c statement_timeout=300"}, "$PGOPTIONS (-c statement_timeout=300)"),
]


@pytest.mark.postgres
@pytest.mark.parametrize(("add", "env", "words"), [c[1:] for c in OWN_TIMEOUTS], ids=[c[0] for c in OWN_TIMEOUTS])
def test_a_statement_timeout_the_url_sets_is_named_as_the_urls(
    tmp_path: Path, database: str, add: str, env: dict[str, str], words: str
) -> None:
    with _studies_locked(database):
        study = write_study(tmp_path, "own-timeout")
        env = {"REGTUNE_STORAGE_RETRY_SECONDS": "2", **env}
        out = helpers.run_cli("study", str(study), "--storage", database + add, env=env)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stdout + out.stderr
        line = out.stderr.strip().splitlines()[-1]
        assert f"the statement_timeout = 300ms that {words} set cancelled the statement: raise it there" in line, line
        assert "ALTER DATABASE" not in line and "the server's" not in line and SECRET not in out.stderr, line


@pytest.mark.postgres
def test_the_urls_own_options_reach_the_studys_connections(tmp_path: Path, database: str) -> None:
    """(the stores13 probe) ``?options=-c search_path=s`` was kept by the checks' connections and dropped by the
    study's own (SQLAlchemy's connect_args replace the URL's): the study was written to schema public, and ``report``
    with the same URL looked in s and said "no study"."""
    dbname = database.rsplit("/", 1)[1]
    _admin("CREATE SCHEMA regtune_s", dbname)
    url = database + "?options=-c%20search_path%3Dregtune_s"
    study = write_study(tmp_path, "in-schema", budget={"trials": 2, "max_epochs": 1})
    out = helpers.run_cli("study", str(study), "--storage", url)
    assert out.returncode == 0, out.stdout + out.stderr
    tables = "SELECT table_schema FROM information_schema.tables WHERE table_name = 'studies'"
    assert _admin(tables, dbname) == [("regtune_s",)]
    stored = optuna.load_study(study_name="in-schema", storage=url)
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in stored.trials) == 2


@pytest.mark.postgres
def test_a_statement_timeout_set_mid_run_is_named_not_called_a_lost_storage(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worker's new connections (after the pool recycles them) get a statement_timeout set meanwhile, and its
    statements wait on a lock past it: the retry said "unreachable", then "lost the storage ... for 60 s", of a
    server that answered every time (faults9)."""
    import psycopg2

    from search.storage import StorageError

    store = open_storage(database)
    optuna.create_study(study_name="t", storage=store)
    dbname = database.rsplit("/", 1)[1]
    _admin(f"ALTER DATABASE {dbname} SET statement_timeout = '200ms'")
    holder = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname)  # every read waits on it
    try:
        holder.cursor().execute("SET statement_timeout = 0; LOCK TABLE studies IN ACCESS EXCLUSIVE MODE")
        store._cache._backend.engine.dispose()  # (what the pool's recycling does after 300 s)
        store.seconds = 1.0
        with pytest.raises(StorageError) as caught:
            store.get_all_studies()
        line = str(caught.value)
        assert "\n" not in line and line.startswith(f"the storage {database.replace(SECRET, '***')}"), line
        assert "kept cancelling statements for" in line and "the server's statement_timeout" in line, line
        assert f"set for database {dbname}" in line and "lost" not in line.split(";")[0], line
        assert "cancelled a statement by its timeout setting" in capsys.readouterr().err
    finally:
        holder.close()
        _admin(f"ALTER DATABASE {dbname} RESET statement_timeout")


READ_ONLY_DATABASE = [
    # (id, a study first, words of the line): the line advised GRANT INSERT ..., which changes nothing here (faults9)
    ("new database", False, "cannot open storage"),
    ("a study's database", True, "refused a write: cannot execute INSERT in a read-only transaction; nothing was"),
]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("first", "words"), [c[1:] for c in READ_ONLY_DATABASE], ids=[c[0] for c in READ_ONLY_DATABASE]
)
def test_a_database_set_read_only_is_named_by_its_setting(
    tmp_path: Path, database: str, first: bool, words: str
) -> None:
    study = write_study(tmp_path, "rodb", budget={"trials": 1, "max_epochs": 2}, final_seeds=1)
    if first:
        assert helpers.run_cli("worker", str(study), "--storage", database).returncode == 0
    dbname = database.rsplit("/", 1)[1]
    _admin(f"ALTER DATABASE {dbname} SET default_transaction_read_only = on")
    try:
        out = helpers.run_cli("worker", str(study), "--storage", database, "--trials", "2")
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stdout + out.stderr
        line = out.stderr.strip().splitlines()[-1]
        assert words in line and f"default_transaction_read_only is on for database {dbname}" in line, line
        assert f"ALTER DATABASE {dbname} RESET default_transaction_read_only" in line and "GRANT" not in line, line
    finally:
        _admin(f"ALTER DATABASE {dbname} RESET default_transaction_read_only")


@pytest.mark.postgres
def test_a_report_on_a_database_set_read_only_reads_a_copy(
    tmp_path: Path, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database with default_transaction_read_only on (or a replica) grants INSERT on paper, so the report did
    not see it could not write: it cross-validated the baseline, then failed at its first saved row. It now reads a
    private copy as it does for a read-only role, and says why, naming the setting."""
    study = write_study(tmp_path, "rorep", budget={"trials": 1, "max_epochs": 2}, final_seeds=1)
    assert helpers.run_main(capsys, "worker", str(study), "--storage", database).returncode == 0  # no verdict yet
    dbname = database.rsplit("/", 1)[1]
    _admin(f"ALTER DATABASE {dbname} SET default_transaction_read_only = on")
    try:
        out = helpers.run_main(capsys, "report", str(study), "--storage", database, "--out", str(tmp_path / "r"))
        assert out.returncode == 0, out.stdout + out.stderr
        assert "every transaction there is read-only: the report reads a copy" in out.stderr, out.stderr
        assert "RESET" not in out.stderr  # the report works: nothing to mend for it (review10)
        assert "the report reads a copy, and the rows it retrains are not saved" in out.stderr
        assert (tmp_path / "r" / "rorep" / "index.html").is_file() and SECRET not in out.stderr + out.stdout
    finally:
        _admin(f"ALTER DATABASE {dbname} RESET default_transaction_read_only")
    stored = optuna.load_study(study_name="rorep", storage=database)
    saved = [k for k in stored.user_attrs if k in ("regtune:final", "regtune:cv") or k.startswith("regtune:refit:")]
    assert not saved, saved  # the report saved nothing


REVOKED = [
    # (id, what the role may not do, words of the line): "The user or database is read-only (a read-only role, a
    # replica)" was said of a role that wrote the study's other tables (the faults9 probe)
    ("insert of trial attributes", "INSERT, UPDATE ON trial_user_attributes",
     "may not run its INSERT on table trial_user_attributes, which regtune needs"),
    ("update of trials", "UPDATE ON trials", "UPDATE on table trials, which regtune needs"),  # (or its row lock)
]  # fmt: skip


@pytest.mark.postgres
@pytest.mark.parametrize(("revoked", "words"), [c[1:] for c in REVOKED], ids=[c[0] for c in REVOKED])
def test_a_revoked_privilege_is_named_as_postgresql_said_it(
    tmp_path: Path, database: str, revoked: str, words: str
) -> None:
    study = write_study(tmp_path, "revoked", budget={"trials": 1, "max_epochs": 2}, final_seeds=1)
    assert helpers.run_cli("worker", str(study), "--storage", database).returncode == 0
    dbname, role = database.rsplit("/", 1)[1], f"rv_{uuid.uuid4().hex[:8]}"
    _admin(f"CREATE ROLE {role} LOGIN")
    try:
        _admin(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "
               f"{role}; REVOKE {revoked} FROM {role}", dbname)  # fmt: skip
        url = database.replace(f"{PG_USER}:{SECRET}@", f"{role}:{SECRET}@")
        out = helpers.run_cli("worker", str(study), "--storage", url, "--trials", "2")
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stdout + out.stderr
        line = out.stderr.strip().splitlines()[-1]
        assert line.startswith("error: the storage") and words in line and f"the user {role} may not run its" in line
        assert "read-only" not in line and SECRET not in out.stderr + out.stdout
        assert f"GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}" in line
    finally:
        _admin(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}; REVOKE ALL ON ALL SEQUENCES IN SCHEMA public "
               f"FROM {role}", dbname)  # fmt: skip
        _admin(f"DROP ROLE IF EXISTS {role}")


@pytest.mark.postgres
def test_a_connection_lost_while_waiting_for_the_schema_lock_is_replaced(
    database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker waiting for the schema lock (another worker creating the study) exited at once with "cannot open
    storage ... terminating connection due to administrator command" when its connection was dropped; every other
    storage call retries for up to 60 s. It now reconnects and waits on, and says once that it waits."""
    import search.storage as storage_module

    monkeypatch.setattr(storage_module, "LOCK_NOTE_SECONDS", 0.5)
    name = database.rsplit("/", 1)[1]
    holder = hold_schema_lock(name)
    thread, got = schema_lock_waiter(database)  # got: ["locked"], else what the worker exited with
    try:  # the waiter's connection, polled for: a fixed 1.5 s missed it on a loaded machine (4 of 14 runs)
        sql = f"SELECT pid FROM pg_stat_activity WHERE datname = '{name}' AND pid <> {holder.get_backend_pid()}"
        deadline = time.monotonic() + 30
        while not (waiting := _admin(sql)):
            assert time.monotonic() < deadline, "the waiting connection was not found"
            time.sleep(0.1)
        time.sleep(0.5)  # it polls the lock a few times
        assert _admin(f"SELECT pg_terminate_backend({waiting[0][0]})") == [(True,)]
        time.sleep(1.0)
    finally:  # else the waiter polled on past a failed assertion, and kept the test's process alive
        holder.cursor().execute(f"SELECT pg_advisory_unlock({storage_module.SCHEMA_LOCK})")
        thread.join(timeout=60)
        holder.close()
    assert got == ["locked"], got
    assert "note: waiting for the schema lock on" in capsys.readouterr().err


@pytest.mark.postgres
@pytest.mark.parametrize("closed", [0, 3], ids=["connection lost", "then refused for 3 s"])
def test_a_connection_lost_while_the_schema_is_read_is_retried(
    database: str, capsys: pytest.CaptureFixture[str], closed: int
) -> None:
    """A connection dropped while Optuna reads or creates the schema (after the schema lock: the server answered)
    made the worker exit at once with "cannot open storage ...: AdminShutdown", a schema half created behind it.
    Here the open blocks on a table another session locks, its connection is terminated, the lock released: the
    open retries and succeeds, and says once that it retries. ``closed``: the database then refuses connections
    for that long (a restart, a fail-over): the retry's refused connection ended the worker at once, right after
    "retrying for up to 60 s" (the faults10 probe)."""
    import threading

    import psycopg2

    from search.storage import open_storage

    open_storage(database)  # the schema exists: the next open reads its version tables
    name = database.rsplit("/", 1)[1]
    holder = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=name)
    holder.autocommit = False
    holder.cursor().execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
    got: list[str] = []

    def opener() -> None:
        try:
            open_storage(database)
            got.append("open")
        except Exception as exc:
            got.append(f"failed: {exc}")

    thread = threading.Thread(target=opener)
    thread.start()
    sql = (f"SELECT pid FROM pg_stat_activity WHERE datname = '{name}' AND wait_event_type = 'Lock' "
           f"AND pid <> {holder.get_backend_pid()}")  # fmt: skip
    deadline = time.monotonic() + 30
    while not (blocked := _admin(sql)):
        assert time.monotonic() < deadline, "the open never waited on the locked table"
        time.sleep(0.1)
    if closed:
        _admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
    try:
        assert _admin(f"SELECT pg_terminate_backend({blocked[0][0]})") == [(True,)]
        time.sleep(closed or 0.5)
    finally:
        if closed:
            _admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        holder.rollback()  # the lock goes
    thread.join(timeout=90)
    holder.close()
    assert got == ["open"], got
    assert "connection lost while opening it" in capsys.readouterr().err


@pytest.mark.postgres
def test_a_session_suspended_inside_a_transaction_is_ended_after_the_grace_period(database: str) -> None:
    """A worker stopped (SIGSTOP) between a write and its commit held that trial's row lock while it slept: the
    other worker's stale-trial check waited on it, and the study stood still (seen in CI). The server now ends a
    session idle in a transaction for longer than the grace period, which frees its locks."""
    import sqlalchemy

    from search.storage import GRACE_PERIOD, open_storage

    rdb = open_storage(database, plain=True)
    with rdb.engine.connect() as conn:  # type: ignore[attr-defined]
        shown = conn.execute(sqlalchemy.text("SHOW idle_in_transaction_session_timeout")).scalar()
    assert shown == f"{GRACE_PERIOD}s" or shown == f"{GRACE_PERIOD * 1000}ms", shown


def _sql(url: str, sql: str) -> list[tuple]:
    """``sql`` on the database of ``url`` (its rows, if any)."""
    return _admin(sql, url.rsplit("/", 1)[1])


@pytest.mark.postgres
def test_a_complete_trial_whose_parameter_rows_were_deleted_is_named_not_read(
    tmp_path: Path, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`DELETE FROM trial_params` of one complete trial: the study resumed with it, and the report picked it as the
    best with no parameter at all (a probe, 2026-12-06). Its recorded config still names every searched value:
    study and report stop with one line naming the trial and the UPDATE that fails it, and write nothing; after that
    UPDATE the study runs another trial in its place. (Every command runs in this process, run_main: the test is
    about what they read and write, not about processes; a fresh interpreter costs 4-5 s of imports each.)"""
    study = write_study(tmp_path, "lostparams", budget={"trials": 2, "max_epochs": 1})
    run = helpers.run_main(capsys, "worker", str(study), "--storage", database, "--trials", "2")
    assert run.returncode == 0, run.stderr
    ((tid,),) = _sql(database, "SELECT trial_id FROM trials WHERE number = 1")
    _sql(database, f"DELETE FROM trial_params WHERE trial_id = {tid}")
    rows = "SELECT (SELECT count(*) FROM trials), (SELECT count(*) FROM trial_user_attributes), " \
           "(SELECT count(*) FROM study_user_attributes)"  # fmt: skip
    before = _sql(database, rows)
    for command in ("study", "report"):
        run = helpers.run_main(capsys, command, str(study), "--storage", database)
        assert run.returncode == 2 and run.stderr.count("\n") == 1, (command, run.stderr)
        assert "do not match the configuration they recorded (#1: no parameter dropout" in run.stderr, run.stderr
        assert f"UPDATE trials SET state = 'FAIL' WHERE trial_id IN ({tid})" in run.stderr, run.stderr
    assert _sql(database, rows) == before  # nothing written

    _sql(database, f"UPDATE trials SET state = 'FAIL' WHERE trial_id IN ({tid})")
    run = helpers.run_main(capsys, "worker", str(study), "--storage", database, "--trials", "2")
    assert run.returncode == 0, run.stderr
    trials = assert_exact(database, "lostparams", 2, tmp_path)
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [1] and len(trials) == 3


class _PruneAll(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return True


@pytest.mark.filterwarnings("ignore:.*is already reported")  # the re-run's replayed steps: Optuna keeps the first
@pytest.mark.parametrize("arrays", [False, True], ids=["one trial", "trial arrays"])
def test_a_rerun_without_checkpoints_is_judged_on_its_own_epochs(tmp_path: Path, arrays: bool) -> None:
    """(the faults3 probe) A trial killed at its third epoch, re-queued with its two reported values and re-run
    without ARTIFACTS, trains from epoch 1; the pruner, asked at once, judged the dead run's last value and pruned
    the re-run after one epoch ("pruned at epoch 1 (step 0)" beside a value of step 1). It is asked again past the
    dead run's steps."""
    from search.objective import Objective
    from search.spec import load_study
    from search.storage import requeue

    spec = load_study(write_study(tmp_path, "replay", cv_folds=2, budget={"trials": 2, "max_epochs": 4},
                                  search={"dropout": {"low": 0.1, "high": 0.3}}))  # fmt: skip
    study = optuna.create_study(study_name="replay", direction="maximize", pruner=optuna.pruners.NopPruner())
    study.enqueue_trial({"dropout": 0.2})
    trial = study.ask()
    with pytest.raises(Killed):
        Objective(spec, accelerator="cpu", extra_callbacks=lambda t: [kill_at(3)])(trial)
    study.tell(trial, state=TrialState.FAIL)
    assert sorted(study.get_trials()[0].intermediate_values) == [0, 1]
    requeue(study, study.get_trials()[0])
    study.pruner = _PruneAll()
    if arrays:
        from search.arrays import _Run

        run = _Run(spec, study, Objective(spec, accelerator="cpu"), "cpu", None, None)
        run.run_batch(run.ask(1, 2))
    else:
        trial = study.ask()
        with pytest.raises(optuna.TrialPruned, match=r"pruned at epoch 3 \(step 2\)"):
            Objective(spec, accelerator="cpu")(trial)
        study.tell(trial, state=TrialState.PRUNED)
    rerun = study.get_trials()[1]
    assert rerun.state == TrialState.PRUNED and rerun.user_attrs["epochs_run"] == 3, rerun.user_attrs


@pytest.mark.parametrize(
    ("server_said", "hint"),
    [
        ("connection failed: FATAL:  sorry, too many clients already", True),
        # a role without SUPERUSER meets the reserved slots first (PostgreSQL 16 and later; before 16 the second)
        (
            "connection failed: FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute",
            True,
        ),
        ("FATAL:  remaining connection slots are reserved for non-replication superuser connections", True),
        ("connection failed: Connection refused\n\tIs the server running on that host?", False),
    ],
    ids=["no free connection", "reserved slots", "reserved slots before 16", "refused"],
)
def test_a_server_without_a_free_connection_is_told_what_to_do(server_said: str, hint: bool) -> None:
    """(the faults3 probe) A fourth worker against max_connections 6 waited on "connection lost while opening it"
    and, past the wait, would have ended on the server's words alone; the line names the remedies (the server's
    words as psycopg gave them there)."""
    from search.storage import FULL_SERVER_HINT, describe

    line = describe("postgresql://u:secret@db.example:5432/study", RuntimeError(server_said))
    assert line.startswith("cannot open storage postgresql://u:***@db.example:5432/study") and "secret" not in line
    assert (FULL_SERVER_HINT in line) == hint and "\n" not in line


def test_a_lost_connection_is_named_by_its_own_words_not_sqlalchemys_session_state() -> None:
    """(the faults3 probe) After a server restart a retry line said "unreachable (Can't reconnect until invalid
    transaction is rolled back ...)": SQLAlchemy's session state; the lost connection's words are behind it."""
    from sqlalchemy.exc import OperationalError, PendingRollbackError

    from search.storage import _first_line

    try:
        try:
            raise OperationalError("SELECT 1", {}, RuntimeError("server closed the connection unexpectedly"))
        except OperationalError:
            raise PendingRollbackError("Can't reconnect until invalid transaction is rolled back.")  # noqa: B904
    except PendingRollbackError as exc:
        line = _first_line(exc)
    assert "server closed the connection unexpectedly" in line and "rolled back" not in line
    assert _first_line(PendingRollbackError("Can't reconnect until invalid transaction is rolled back.")).startswith(
        "Can't reconnect"
    )  # nothing behind it: its own words


@pytest.mark.parametrize(
    ("case", "held", "noted"),
    [("a table locked by another session", "LOCK TABLE trials IN ACCESS EXCLUSIVE MODE", True),
     ("a slow statement, no lock", None, False)],
    ids=["locked", "slow"],
)  # fmt: skip
def test_a_statement_waiting_on_another_sessions_lock_says_who_holds_it(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], case: str,
    held: str | None, noted: bool
) -> None:  # fmt: skip
    """(the faults probe) With `LOCK TABLE trials` held in a psql, `make study`, `report` and `dashboard` printed
    nothing for minutes (the schema look waited), and a running worker stopped between trials without a line."""
    import threading

    import psycopg2
    import sqlalchemy

    from search import pg_locks

    monkeypatch.setattr(pg_locks, "NOTE_SECONDS", 1.0)
    open_storage(database)  # the schema
    dbname = database.rsplit("/", 1)[1]
    holder = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, connect_timeout=3)
    try:
        if held is not None:
            holder.cursor().execute(held)  # (psycopg2 opens a transaction: the lock is held until the rollback)
            threading.Timer(3.5, holder.rollback).start()
            open_storage(database)  # waits for the lock, then opens
        else:
            engine = sqlalchemy.create_engine(database, poolclass=sqlalchemy.pool.NullPool)
            with engine.connect() as c:
                c.execute(sqlalchemy.text("SELECT pg_sleep(3)"))
            engine.dispose()
    finally:
        time.sleep(0.2)
        holder.close()
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if line.startswith("note: waiting")]
    assert bool(said) == noted, (case, err)
    if noted:
        assert "for a lock held by pid " in said[0] and "LOCK TABLE trials IN ACCESS EXCLUSIVE MODE" in said[0], said
        assert f"database {dbname}" in said[0] and SECRET not in err
