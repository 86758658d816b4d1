"""Where a study lives: the embedded journal file (default), an RDB URL (PostgreSQL), or a gRPC proxy.

The embedded default is Optuna's journal file storage, ``runs/<study>/journal.log``: every change is one
appended log line under a file lock, so several local worker processes can share it safely; SQLite, by
contrast, serializes writers on one database lock and Optuna warns against it for parallel workers.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

HEARTBEAT_INTERVAL = 10  # seconds between a running trial's heartbeats (RDB storages)
GRACE_PERIOD = 40  # a trial silent this long is stale: its worker died; it is failed and re-queued
MAX_RETRY = 3  # re-runs of one interrupted trial before it stays failed
STORAGE_ENV = "REGTUNE_STORAGE"  # an alternative to STORAGE=... that keeps credentials off command lines


class StorageError(RuntimeError):
    """The storage cannot be opened; the message names host, port and database, never the password."""


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)


def default_url(name: str, runs: str | Path = "runs") -> str:
    return str(Path(runs) / name / "journal.log")


def resolve_url(url: str | None, name: str) -> str:
    return url or os.environ.get(STORAGE_ENV) or default_url(name)


#: attributes of a failed run that its re-run must not inherit
_RUN_ATTRS = ("fail_reason", "traceback", "pruned_reason", "regtune:host", "regtune:pid", "regtune:pid_start")


def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Re-queue a failed (dead, interrupted) trial as WAITING with its parameters and intermediate values.

    Like Optuna's ``RetryHeartbeatStaleTrialCallback`` (same ``failed_trial`` / ``retry_history`` system
    attributes), but the copy does not inherit the dead run's failure reason or worker identity.
    """
    history = list(trial.system_attrs.get("retry_history", [])) + [trial.number]
    if len(history) > MAX_RETRY:
        return
    system = {k: v for k, v in trial.system_attrs.items() if k not in _RUN_ATTRS}
    system.update(failed_trial=history[0], retry_history=history)
    study.add_trial(
        optuna.create_trial(
            state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
            user_attrs={k: v for k, v in trial.user_attrs.items() if k not in _RUN_ATTRS},
            system_attrs=system, intermediate_values=trial.intermediate_values,
        )
    )  # fmt: skip


def open_storage(url: str) -> BaseStorage:
    """Open (creating where needed) the storage at ``url``; raise :class:`StorageError` with a clear message."""
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme in ("", "file"):
        path = Path(urlsplit(url).path if scheme else url)
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
    if scheme == "grpc":
        parts = urlsplit(url)
        from optuna.storages import GrpcStorageProxy

        try:
            proxy = GrpcStorageProxy(host=parts.hostname or "localhost", port=parts.port or 13000)
            proxy.wait_server_ready(timeout=10)
        except Exception as exc:
            raise StorageError(f"cannot reach the gRPC storage proxy at {parts.hostname}:{parts.port}: {exc}") from None
        return proxy
    if scheme.startswith(("postgresql", "sqlite", "mysql")):
        return _rdb(url)
    raise StorageError(
        f"storage {mask_url(url)!r}: unknown scheme {scheme!r}; allowed: a journal file path, "
        "postgresql://user@host:port/db, sqlite:///path.db, grpc://host:port"
    )


def _rdb(url: str) -> BaseStorage:
    parts = urlsplit(url)
    engine_kwargs: dict = {"pool_pre_ping": True}
    if parts.scheme.startswith("postgresql"):
        # bounded connections per worker (no "too many clients"), and a quick failure when unreachable
        engine_kwargs.update(pool_size=2, max_overflow=2, pool_recycle=300, connect_args={"connect_timeout": 10})
    try:
        return _schema_lock(url, lambda: optuna.storages.RDBStorage(
            url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_INTERVAL, grace_period=GRACE_PERIOD,
            heartbeat_stale_trial_callback=requeue,
        ))  # fmt: skip
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(_describe(url, exc)) from None


def _schema_lock(url: str, create):  # type: ignore[no-untyped-def]
    """Create the schema under a PostgreSQL advisory lock, so many workers starting at once do not race."""
    if not urlsplit(url).scheme.startswith("postgresql"):
        return create()
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 10}, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(727465)"))
            try:
                return create()
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(727465)"))
    except Exception as exc:
        raise StorageError(_describe(url, exc)) from None
    finally:
        engine.dispose()


def _describe(url: str, exc: Exception) -> str:
    parts = urlsplit(url)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if parts.password:
        first = first.replace(parts.password, "***")
    return (
        f"cannot open storage {mask_url(url)} (host {parts.hostname or 'local socket'}, port {parts.port or 'default'}, "
        f"database {parts.path.lstrip('/') or '?'}): {first}"
    )
