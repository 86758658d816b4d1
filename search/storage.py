"""Where a study lives: the embedded journal file (default), an RDB URL (PostgreSQL), or a gRPC proxy.

The embedded default is Optuna's journal file storage, ``runs/<study>/journal.log``: every change is one
appended log line under a file lock, so several local worker processes can share it safely; SQLite, by
contrast, serializes writers on one database lock and Optuna warns against it for parallel workers.

A shared study lives in PostgreSQL (``postgresql://user@host:port/db``; the password from the URL, ``PGPASSWORD``
or a ``~/.pgpass``), or behind Optuna's gRPC storage proxy (``grpc://host:port``) in front of one. Workers get:

- bounded connections (``pool_size`` + ``max_overflow`` per process; the proxy holds the only ones for all its
  clients), ``pool_pre_ping`` so a connection the server dropped is replaced, and a quick failure when the
  server is unreachable at start (one line naming host, port and database; the password masked);
- schema creation under a PostgreSQL advisory lock, so many workers starting at once on a fresh database do not
  race (Optuna #1092);
- :class:`RetryingStorage`: every storage call retried with backoff for up to :data:`RETRY_SECONDS` while the
  server restarts or the network drops; writes that may have committed before the connection died are
  reconciled (a retried "finish this trial" that finds it finished with the same state is a success), so no
  trial is lost or counted twice;
- Optuna's heartbeat (RDB): a running trial's heartbeat every :data:`HEARTBEAT_INTERVAL` s; one silent for
  :data:`GRACE_PERIOD` s is failed and re-queued (:func:`requeue`) with its parameters and intermediate values.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage
from optuna.trial import FrozenTrial, TrialState


def _env_number(name: str, default: float, integer: bool = True) -> Any:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise SystemExit(f"error: {name}={raw!r}: must be a {'whole' if integer else ''} number > 0") from None
    if value <= 0:
        raise SystemExit(f"error: {name}={raw!r}: must be > 0")
    return value


#: seconds between a running trial's heartbeats (Optuna wants a whole number)
HEARTBEAT_INTERVAL: int = _env_number("REGTUNE_HEARTBEAT_INTERVAL", 10)
#: a trial silent this long is stale: its worker died; it is failed and re-queued
GRACE_PERIOD: int = _env_number("REGTUNE_GRACE_PERIOD", 40)
#: how long a storage call is retried while the database (or proxy) is unreachable before the worker gives up
RETRY_SECONDS: float = _env_number("REGTUNE_STORAGE_RETRY_SECONDS", 60.0, integer=False)
MAX_RETRY = 3  # re-runs after crashes (dead worker, stale heartbeat, orphan) before a trial is given up
CRASHES_ATTR = "regtune:crashes"  # system attr: crashes of the trial's lineage so far (what MAX_RETRY limits)
INTERRUPTS_ATTR = "regtune:interrupts"  # system attr: deliberate stops (Ctrl-C, SIGTERM); never limited
GAVE_UP_ATTR = "gave_up"  # user attr of a trial failed for good: "crashed N times: <last reason>"
GAVE_UP_STUDY_ATTR = "regtune:gave_up"  # study user attr: numbers of the given-up trials not re-queued since
STORAGE_ENV = "REGTUNE_STORAGE"  # an alternative to STORAGE=... that keeps credentials off command lines
SCHEMA_LOCK = 727465  # the PostgreSQL advisory lock key under which the schema and new studies are created
POOL = {"pool_size": 2, "max_overflow": 2}  # connections per worker process: main thread + heartbeat, and slack

_log = logging.getLogger("regtune.storage")


class StorageError(RuntimeError):
    """The storage cannot be opened or was lost; the message names host, port and database, never the password."""


# --------------------------------------------------------------------------------------------- URLs
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/]*):(?P<password>.*)@(?P<rest>[^@]*)$")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:password|passwd|pass|sslpassword)=)[^&#]*")


def mask_url(url: str) -> str:
    """The URL with any password (in the user info or a ``password=`` query parameter) replaced by ``***``."""
    m = _USERINFO.match(url)
    if m:  # greedy up to the last '@': a password may hold unescaped '@', ':' or '/'
        url = f"{m['scheme']}{m['user']}:***@{m['rest']}"
    return _QUERY_SECRET.sub(r"\1***", url)


def _secrets(url: str) -> list[str]:
    out = []
    m = _USERINFO.match(url)
    if m and m["password"]:
        out += [m["password"], unquote(m["password"])]
    out += [v.split("=", 1)[1] for v in re.findall(r"(?i)(?:password|passwd|pass|sslpassword)=[^&#]+", url)]
    return sorted({s for s in out if s}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` with every secret of ``url`` (and any URL in it) masked."""
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return re.sub(r"[A-Za-z][A-Za-z0-9+.-]*://\S+", lambda m: mask_url(m.group(0)), text)


def default_url(name: str, runs: str | Path = "runs") -> str:
    return str(Path(runs) / name / "journal.log")


def resolve_url(url: str | None, name: str) -> str:
    return url or os.environ.get(STORAGE_ENV) or default_url(name)


def _scheme(url: str) -> str:
    return urlsplit(url).scheme if "://" in url else ""


def where(url: str) -> str:
    """``host H, port P, database D``: what a user checks when a storage cannot be reached."""
    scheme = _scheme(url)
    if scheme in ("", "file"):
        return f"journal file {urlsplit(url).path if scheme else url}"
    if scheme.startswith("sqlite"):
        return f"SQLite file {url.split(':///', 1)[-1]}"
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or os.environ.get("PGHOST") or "local socket"
    if scheme == "grpc":
        return f"gRPC proxy at host {host}, port {port or 13000}"
    return (
        f"host {host}, port {port or os.environ.get('PGPORT') or 'default'}, database {parts.path.lstrip('/') or '?'}"
    )


# --------------------------------------------------------------------------------------------- re-queue
#: attributes of a failed run that its re-run must not inherit
_RUN_ATTRS = (
    "fail_reason", "traceback", "pruned_reason", "resumed_from_epoch", GAVE_UP_ATTR,
    "regtune:host", "regtune:pid", "regtune:pid_start", "regtune:beat",
)  # fmt: skip


def crashes(trial: FrozenTrial) -> int:
    """Crashes of ``trial``'s lineage before it (older lineages without the attribute: every earlier run)."""
    attrs = trial.system_attrs
    return int(attrs.get(CRASHES_ATTR, len(attrs.get("retry_history", [])) - attrs.get(INTERRUPTS_ATTR, 0)))


def exhausted(trial: FrozenTrial) -> bool:
    """Whether one more crash of ``trial`` (a RUNNING one, about to be failed) exceeds :data:`MAX_RETRY`."""
    return crashes(trial) + 1 > MAX_RETRY


def requeue(study: optuna.Study, trial: FrozenTrial, *, interrupted: bool = False, retry: bool = False) -> bool:
    """Re-queue a failed (dead, interrupted) trial as WAITING with its parameters and intermediate values;
    return False (nothing queued) when a crash exhausts :data:`MAX_RETRY`: the trial is given up.

    Like Optuna's ``RetryHeartbeatStaleTrialCallback`` (same ``failed_trial`` / ``retry_history`` system
    attributes), but the copy does not inherit the dead run's failure reason or worker identity. A deliberate
    stop (``interrupted``) counts in :data:`INTERRUPTS_ATTR`, never against the limit; ``retry`` (``python -m
    search retry``) re-queues a given-up trial with its crash count reset.
    """
    history = list(trial.system_attrs.get("retry_history", [])) + [trial.number]
    crashed = 0 if retry else crashes(trial) + (0 if interrupted else 1)
    if crashed > MAX_RETRY:
        return False
    system = {k: v for k, v in trial.system_attrs.items() if k not in _RUN_ATTRS}
    system.update(failed_trial=history[0], retry_history=history)
    system[CRASHES_ATTR] = crashed
    system[INTERRUPTS_ATTR] = int(trial.system_attrs.get(INTERRUPTS_ATTR, 0)) + int(interrupted)
    study.add_trial(
        optuna.create_trial(
            state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
            user_attrs={k: v for k, v in trial.user_attrs.items() if k not in _RUN_ATTRS},
            system_attrs=system, intermediate_values=trial.intermediate_values,
        )
    )  # fmt: skip
    return True


def _requeue_stale(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna's heartbeat callback (only ``study.optimize`` calls it; the workers fail stale trials themselves)."""
    requeue(study, trial)


# --------------------------------------------------------------------------------------------- retries
def transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a lost connection, a restarting server, a deadlock or timeout."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        name = type(e).__name__
        module = type(e).__module__ or ""
        if module.startswith(("sqlalchemy", "psycopg")) and name in ("OperationalError", "InterfaceError"):
            return True
        if getattr(e, "connection_invalidated", False):
            return True
        if module.startswith("grpc") and hasattr(e, "code"):
            import grpc

            with contextlib.suppress(Exception):
                return e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)  # type: ignore[attr-defined]
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        e = e.__cause__ or e.__context__
    return False


def _grpc_status(exc: BaseException) -> str | None:
    """``gRPC UNAVAILABLE: failed to connect to all addresses; ...`` for a ``grpc.RpcError`` in ``exc``'s chain
    (its str() is a multi-line dump whose first line, ``<_InactiveRpcError of RPC that terminated with:``, says
    nothing); None when there is none."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        code, details = getattr(e, "code", None), getattr(e, "details", None)
        if (type(e).__module__ or "").startswith("grpc") and callable(code) and callable(details):
            with contextlib.suppress(Exception):
                status = code()
                return f"gRPC {getattr(status, 'name', status)}: {' '.join(str(details() or 'no details').split())}"
        e = e.__cause__ or e.__context__
    return None


def _first_line(exc: BaseException) -> str:
    cause: BaseException = exc
    while cause.__cause__ is not None and isinstance(cause, optuna.exceptions.StorageInternalError):
        cause = cause.__cause__
    status = _grpc_status(cause)
    if status is not None:
        return status
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


#: calls not retried: the heartbeat thread just tries again at its next beat
_NO_RETRY = frozenset({"record_heartbeat", "get_heartbeat_interval", "get_heartbeat_stale_trial_callback"})


class RetryingStorage(BaseStorage, BaseHeartbeat):
    """A storage whose calls are retried with exponential backoff (0.5 s doubling to 8 s) for up to
    :data:`RETRY_SECONDS` while the connection is lost; then :class:`StorageError` (host, port, database).

    Retried writes are made idempotent: Optuna's RDB upserts attributes, parameters and intermediate values; a
    retried ``set_trial_state_values`` whose first attempt committed before the connection died finds the trial
    already in the requested state and counts as done (a trial finished by someone else raises as usual).
    """

    def __init__(self, inner: BaseStorage, url: str, seconds: float | None = None) -> None:
        self.inner, self.url = inner, url
        self.seconds = RETRY_SECONDS if seconds is None else seconds
        self.retries = 0  # retried calls in this process (for tests and benchmarks)
        self._fixed: dict[tuple[str, Any], Any] = {}  # answers that never change for a study (see _FIXED)

    def __getattr__(self, name: str) -> Any:  # anything not wrapped (remove_session, _backend, ...)
        if name == "inner":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.inner, name)
        if name in _NO_RETRY:
            return method(*args, **kwargs)
        start, delay, attempt = time.monotonic(), 0.5, 0
        while True:
            try:
                return method(*args, **kwargs)
            except UpdateFinishedTrialError:
                if attempt and name == "set_trial_state_values" and self._already(*args, **kwargs):
                    return True
                raise
            except Exception as exc:
                if not transient(exc):
                    raise
                waited = time.monotonic() - start
                if waited >= self.seconds:
                    raise StorageError(
                        f"lost the storage {mask_url(self.url)} ({where(self.url)}) for {waited:.0f} s: "
                        f"{scrub(_first_line(exc), self.url)}"
                    ) from None
                if attempt == 0:
                    print(
                        f"storage {mask_url(self.url)} unreachable ({scrub(_first_line(exc), self.url)}); "
                        f"retrying for up to {self.seconds:.0f} s",
                        file=sys.stderr, flush=True,
                    )  # fmt: skip
                attempt += 1
                self.retries += 1
                with contextlib.suppress(Exception):
                    self.inner.remove_session()
                time.sleep(min(delay, max(0.05, self.seconds - waited)))
                delay = min(delay * 2, 8.0)

    def _already(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        """Did an earlier attempt of ``set_trial_state_values(trial_id, state, values)`` commit?"""
        trial = self.inner.get_trial(trial_id)
        return trial.state == state and (values is None or list(trial.values or []) == list(values))

    # Heartbeat: native where the inner storage has it (RDB); otherwise none (the worker writes its own beat)
    def get_heartbeat_interval(self) -> int | None:
        getter = getattr(self.inner, "get_heartbeat_interval", None)
        return getter() if getter is not None else None

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        getter = getattr(self.inner, "get_heartbeat_stale_trial_callback", None)
        return getter() if getter is not None else None

    def record_heartbeat(self, trial_id: int) -> None:
        self.inner.record_heartbeat(trial_id)  # type: ignore[attr-defined]

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        return self._call("_get_stale_trial_ids", study_id)


def _delegate(name: str) -> Callable[..., Any]:
    def method(self: RetryingStorage, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = getattr(BaseStorage, name).__doc__
    return method


#: reads whose answer is fixed once a study exists (its id, name and directions): asked by Optuna on every report
#: and prune check (a pruner builds a study object each time), answered from memory after the first round trip.
#: A study deleted and re-created under the same name mid-run is not supported by a running worker anyway.
_FIXED = ("get_study_id_from_name", "get_study_name_from_id", "get_study_directions")


def _remembered(name: str) -> Callable[..., Any]:
    def method(self: RetryingStorage, key: Any) -> Any:
        if (name, key) not in self._fixed:
            self._fixed[(name, key)] = self._call(name, key)
        return self._fixed[(name, key)]

    method.__name__ = method.__qualname__ = name
    method.__doc__ = getattr(BaseStorage, name).__doc__
    return method


for _name in [n for n in vars(BaseStorage) if not n.startswith("_") and callable(getattr(BaseStorage, n))]:
    setattr(RetryingStorage, _name, _remembered(_name) if _name in _FIXED else _delegate(_name))


def _delete_study(self: RetryingStorage, study_id: int) -> None:
    self._fixed.clear()  # the name may be reused by a new study
    self._call("delete_study", study_id)


RetryingStorage.delete_study = _delete_study  # type: ignore[method-assign, assignment]
RetryingStorage.__abstractmethods__ = frozenset()


# --------------------------------------------------------------------------------------------- opening
def open_storage(url: str, *, plain: bool = False, pool: dict[str, int] | None = None) -> BaseStorage:
    """Open (creating where needed) the storage at ``url``; raise :class:`StorageError` with a clear message.

    An RDB or gRPC storage comes wrapped in :class:`RetryingStorage` (and an RDB one in Optuna's cache, as
    ``optuna.load_study`` would do with a URL); ``plain=True`` returns the bare ``RDBStorage`` (what
    optuna-dashboard wants). ``pool`` overrides the connections per process (:data:`POOL`).
    """
    scheme = _scheme(url)
    if scheme in ("", "file"):
        path = Path(urlsplit(url).path if scheme else url)
        path.parent.mkdir(parents=True, exist_ok=True)
        from search.journal import check_journal  # here: search.journal imports this module

        check_journal(path)  # a torn last record set aside; damage in the middle: StorageError (make repair)
        return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
    if scheme == "grpc":
        return _grpc(url)
    if scheme.startswith(("postgresql", "sqlite", "mysql")):
        rdb = _rdb(url, pool or POOL)
        if plain:
            return rdb
        from optuna.storages._cached_storage import _CachedStorage

        return RetryingStorage(_CachedStorage(rdb), url)  # type: ignore[abstract]  # methods made below
    raise StorageError(
        f"storage {mask_url(url)!r}: unknown scheme {scheme!r}; allowed: a journal file path, "
        "postgresql://user@host:port/db, sqlite:///path.db, grpc://host:port"
    )


def _grpc(url: str) -> BaseStorage:
    from optuna.storages import GrpcStorageProxy

    parts = urlsplit(url)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            proxy = GrpcStorageProxy(host=parts.hostname or "localhost", port=parts.port or 13000)
        proxy.wait_server_ready(timeout=10)
    except Exception as exc:
        raise StorageError(
            f"cannot reach the gRPC storage proxy {mask_url(url)} ({where(url)}): {scrub(_first_line(exc), url)}; "
            "is `make proxy` running there?"
        ) from None
    return RetryingStorage(proxy, url)  # type: ignore[abstract]


def driver_url(url: str) -> str:
    """``postgresql://`` with a driver that is installed. SQLAlchemy 2.1 reads a plain ``postgresql://`` as psycopg 3
    (``psycopg``), which regtune installs, so URLs copied from Optuna's docs work in ``optuna-dashboard`` and
    ``optuna.load_study`` too; where only psycopg2 is installed (an older environment) the URL names it. A URL that
    names its driver (``postgresql+psycopg2://``) is kept."""
    if _scheme(url) != "postgresql":
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2" + url[len("postgresql") :]
    return url


def _rdb(url: str, pool: dict[str, int]) -> optuna.storages.RDBStorage:
    engine_kwargs: dict = {"pool_pre_ping": True}
    if _scheme(url).startswith("postgresql"):
        # bounded connections per process (no "too many clients"), and a quick failure when unreachable
        engine_kwargs.update(pool, pool_recycle=300, pool_timeout=60, connect_args={"connect_timeout": 10})
    try:
        with schema_lock(url), warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat_interval
            return optuna.storages.RDBStorage(
                driver_url(url), engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_INTERVAL, grace_period=GRACE_PERIOD,
                heartbeat_stale_trial_callback=_requeue_stale,
            )  # fmt: skip
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(describe(url, exc)) from None


@contextlib.contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock (a no-op elsewhere): creating the schema, or a study and its enqueued
    starting points, happens once however many workers start at the same moment."""
    if not _scheme(url).startswith("postgresql"):
        yield
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(
        driver_url(url), connect_args={"connect_timeout": 10}, poolclass=sqlalchemy.pool.NullPool
    )
    try:
        try:
            conn = engine.connect()
            conn.execute(sqlalchemy.text(f"SELECT pg_advisory_lock({SCHEMA_LOCK})"))
        except Exception as exc:
            raise StorageError(describe(url, exc)) from None
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                conn.execute(sqlalchemy.text(f"SELECT pg_advisory_unlock({SCHEMA_LOCK})"))
            with contextlib.suppress(Exception):
                conn.close()
    finally:
        engine.dispose()


def describe(url: str, exc: BaseException) -> str:
    """One line: which storage (password masked), where (host, port, database) and the server's first words."""
    return f"cannot open storage {mask_url(url)} ({where(url)}): {scrub(_first_line(exc), url)}"
