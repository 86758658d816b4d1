"""Helpers the end-to-end tests share: a tiny study, the command line and workers in subprocesses, a study's trials."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from search.storage import StorageError, open_storage

ROOT = Path(__file__).resolve().parents[1]
#: the environment of a command-line run: plain progress lines (no bars), one thread
CLI_ENV = {"CI": "1", "OMP_NUM_THREADS": "1"}
#: a tiny study: synthetic data, 8 GRU units, 4 epochs, one holdout split, two searched regularizers
TINY: dict[str, Any] = {
    "name": "tiny",
    "dataset": "synthetic:n=160,length=16",
    "architecture": {"cell": "gru", "hidden_size": 8},
    "budget": {"trials": 4, "max_epochs": 4},
    "sampler": "random",
    "pruner": "none",
    "cv_folds": 1,
    "search": {
        "dropout": {"low": 0.0, "high": 0.3},
        "kernel_l2": {"low": 1e-5, "high": 1e-2, "log": True, "off": True},
    },
    "fixed": {"lr": 0.01, "batch_size": 32},
}


#: the local PostgreSQL server the tests that need one talk to (trust auth; .ci/run starts it)
PG_HOST = os.environ.get("REGTUNE_TEST_PGHOST", "127.0.0.1")
PG_PORT = int(os.environ.get("REGTUNE_TEST_PGPORT", "5432"))
PG_USER = os.environ.get("REGTUNE_TEST_PGUSER", "postgres")


def pg_admin(sql: str) -> None:
    """``sql`` on the server's ``postgres`` database, autocommitted (CREATE / DROP DATABASE)."""
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3)
    conn.autocommit = True
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


def fresh_pg_database() -> Iterator[str]:
    """For a fixture: the name of ``$REGTUNE_TEST_PGDATABASE`` (an existing database, left as it is), else of a
    fresh one, dropped afterwards; the test is skipped where the server cannot be reached."""
    given = os.environ.get("REGTUNE_TEST_PGDATABASE")
    name = given or f"regtune_test_{uuid.uuid4().hex[:10]}"
    try:
        if not given:
            pg_admin(f"CREATE DATABASE {name}")
    except Exception as exc:
        pytest.skip(f"PostgreSQL unreachable at {PG_HOST}:{PG_PORT} as {PG_USER} ({str(exc).strip().splitlines()[0]})")
    try:
        yield name
    finally:
        if not given:
            pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def hold_schema_lock(dbname: str, application_name: str = "") -> Any:
    """A psycopg2 session of database ``dbname`` holding regtune's schema lock (then idle, as a suspended worker's
    would be); release it with ``pg_advisory_unlock`` and close it."""
    import psycopg2

    from search.storage import SCHEMA_LOCK

    holder = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname,
                              application_name=application_name)  # fmt: skip
    holder.autocommit = True
    holder.cursor().execute(f"SELECT pg_advisory_lock({SCHEMA_LOCK})")
    return holder


def schema_lock_waiter(url: str) -> tuple[threading.Thread, list[object]]:
    """A started thread taking the schema lock of ``url`` as a worker does, and what it ends with: ``["locked"]``
    once it held the lock, else the exception it raised (what the worker would have exited with)."""
    from search.storage import schema_lock

    got: list[object] = []

    def waiter() -> None:
        try:
            with schema_lock(url):
                got.append("locked")
        except Exception as exc:
            got.append(exc)

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    return thread, got


def write_study(d: Path, name: str = "tiny", base: dict[str, Any] | None = None, **changes: Any) -> Path:
    """``base`` (default :data:`TINY`) named ``name`` with ``changes``, written to ``d/<name>.yaml``."""
    raw = {**(TINY if base is None else base), "name": name, **changes}
    path = d / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def long_tail_npz(path: Path, n: int, long: int, test: int) -> None:
    """A .npz of ``n`` random sequences of 30 steps, every fifth ``long`` steps (a short median, a long tail), two
    classes; its first ``test`` sequences are the test split."""
    import numpy as np

    rng = np.random.default_rng(0)
    lengths = np.where(np.arange(n) % 5 == 0, long, 30)
    X = rng.normal(size=(n, long, 1)).astype(np.float32)
    y = np.arange(n) % 2
    np.savez(path, X=X, y=y, lengths=lengths, X_test=X[:test], y_test=y[:test], lengths_test=lengths[:test])


# --------------------------------------------------------------------------------------------- journal damage
def glued(index: int) -> Callable[[Path], None]:
    """Line ``index`` torn, and the next record appended onto it: the file as regtune left it before this fix."""

    def damage(journal: Path) -> None:
        ls = journal.read_bytes().splitlines(keepends=True)
        ls[index] = ls[index][: len(ls[index]) // 2]
        journal.write_bytes(b"".join(ls))

    return damage


def zeroed(index: int) -> Callable[[Path], None]:
    """Line ``index`` overwritten with zeros (a file system that lost a block)."""

    def damage(journal: Path) -> None:
        ls = journal.read_bytes().splitlines(keepends=True)
        ls[index] = b"\0" * (len(ls[index]) - 1) + b"\n"
        journal.write_bytes(b"".join(ls))

    return damage


def run_cli(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m search ARGS`` from the repository root, as CI runs it; its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "search", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **CLI_ENV, **(env or {})},
    )  # fmt: skip


def run_main(capsys: Any, *args: str) -> subprocess.CompletedProcess:
    """``python -m search ARGS`` in this process (:func:`search.cli.main`), its output read from ``capsys``, shaped as
    :func:`run_cli`'s result: the same code without the 4-5 s a fresh interpreter takes to import torch and
    Lightning, for tests that run many commands on one store (a refusal, a repair) and need no process of their own."""
    import logging
    import signal
    import warnings

    from search import cli

    capsys.readouterr()  # what the test printed before is not this command's
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    # what a process would print to its stderr that capsys does not see here (review9): Python's warnings, and the
    # log records of Optuna and Lightning (their handlers hold an earlier stderr): added to err, as a process's are
    said: list[str] = []
    record = logging.Handler(logging.WARNING)
    record.emit = lambda r: said.append(f"{r.levelname} {r.name}: {r.getMessage()}")  # type: ignore[method-assign]
    loggers = [logging.getLogger(n) for n in ("", "optuna", "pytorch_lightning", "lightning_fabric")]
    for logger in loggers:
        logger.addHandler(record)
    try:
        with warnings.catch_warnings(record=True) as caught:
            code = cli.main(list(args))
    finally:  # study and worker install their own: this test process's come back (pytest's Ctrl-C, xdist's stop)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        for logger in loggers:
            logger.removeHandler(record)
    out, err = capsys.readouterr()
    err += "".join(f"{line}\n" for line in [*(f"{w.category.__name__}: {w.message}" for w in caught), *said])
    return subprocess.CompletedProcess(["python", "-m", "search", *args], code, out, err)


def start_worker(
    tmp_path: Path, label: str, study: Path, storage: str | None, trials: int, env: dict[str, str] | None = None,
    artifacts: Path | None = None,
) -> subprocess.Popen:  # fmt: skip
    """``python -m search worker`` in a subprocess (plain progress lines, one thread), its output in
    ``tmp_path/<label>.log``."""
    cmd = [sys.executable, "-m", "search", "worker", str(study), "--trials", str(trials)]
    cmd += ["--storage", storage] if storage else []
    cmd += ["--artifacts", str(artifacts)] if artifacts else []
    log = open(tmp_path / f"{label}.log", "w")
    return subprocess.Popen(
        cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, **CLI_ENV, "PYTHONUNBUFFERED": "1", **(env or {})},
    )  # fmt: skip


def logs(tmp_path: Path) -> str:
    """Every worker log under ``tmp_path``, for a failing assertion's message."""
    return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in sorted(tmp_path.glob("*.log")))


def wait_for(condition: Callable[[], Any], timeout: float, what: str, tmp_path: Path, every: float = 0.2) -> Any:
    """Poll ``condition`` until it returns something true (returned), or fail with the workers' logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{logs(tmp_path)}")


def load(storage: str | Path, name: str) -> optuna.Study:
    """The study ``name`` in a storage URL or journal path."""
    return optuna.load_study(study_name=name, storage=open_storage(str(storage)))


def states(study: optuna.Study) -> dict[str, int]:
    """Trials by state name: ``{"COMPLETE": 3, "PRUNED": 1}``."""
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def start_dashboard(
    study: Path | str, storage: str, log: Path, cwd: Path = ROOT, *extra: str
) -> tuple[subprocess.Popen, int]:
    """``python -m search dashboard`` on a free port, its output in ``log``; returned once the port accepts
    connections (the process is the caller's to stop)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "search", "dashboard", str(study), "--storage", storage, "--port", str(port), *extra],
        cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise AssertionError(log.read_text())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"dashboard did not listen on {port}\n{log.read_text()}") from None
            time.sleep(0.3)


def checkpoint_dir(artifacts: Path, spec: Any, number: int = 0) -> Path:
    """Where trial ``number`` of the study ``spec`` (a StudySpec or its file) keeps its checkpoints under ARTIFACTS:
    ``checkpoints/<study>/<run scope>/trial-<n>``."""
    from search.fingerprint import run_scope
    from search.spec import load_study

    spec = load_study(spec) if isinstance(spec, (str, Path)) else spec
    return Path(artifacts) / "checkpoints" / spec.name / run_scope(spec) / f"trial-{number}"


def open_postgres(url: str) -> optuna.storages.BaseStorage:
    """The storage at PostgreSQL ``url``, or the test skipped when the server cannot be reached (.ci/run starts it;
    a developer's machine may have none). Only regtune's own "cannot open storage" skips: any other error, a bug
    in opening the storage, fails the test."""
    try:
        return open_storage(url)
    except StorageError as exc:
        pytest.skip(f"PostgreSQL unreachable at {url}: {str(exc).splitlines()[0]}")


def copies_cut_short(monkeypatch: Any) -> None:
    """Make ``shutil.copy2`` write the first 100 bytes of its copy, then raise KeyboardInterrupt: a Ctrl-C midway
    through a repair's backup copy."""
    import shutil

    def cut_short(src: str | Path, dst: str | Path) -> None:
        Path(dst).write_bytes(Path(src).read_bytes()[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "copy2", cut_short)


def assert_access_kept(path: Path, mend: Any) -> None:
    """``mend()`` (a repair that puts a new file in ``path``'s place) keeps a group-writable mode (0660) and the
    owner: another user's (nobody) where this runs as root, which may give a file away."""
    import os
    import stat

    path.chmod(0o660)
    owner = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(path, *owner)
    mend()
    st = path.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o660, *owner)
