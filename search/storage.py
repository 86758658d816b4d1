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
- reads that do not grow with the number of workers, with the same answers ("cheaper exact reads" below): counts
  in one COUNT query, waiting/running trials read alone, full reads shared between a proxy's threads, and a running
  trial's system attributes kept by the process that runs it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import re
import shlex
import sys
import threading
import time
import warnings
from collections.abc import Callable, Container, Iterator
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
    """``$name`` as a number of seconds > 0; a bad one is one line and exit 2."""
    raw = os.environ.get(name)
    try:
        value = (int(raw) if integer else float(raw)) if raw else default
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        print(f"error: {name}={raw!r}: must be a {'whole number' if integer else 'number'} > 0 (seconds)",
              file=sys.stderr)  # fmt: skip
        raise SystemExit(2)
    return value


def _grace_period(interval: int) -> int:
    """``$REGTUNE_GRACE_PERIOD`` (:func:`_env_number`), refused unless above ``interval``, the heartbeats' (one line,
    exit 2): within one heartbeat every live trial looked dead between two of its heartbeats."""
    name, raw = "REGTUNE_GRACE_PERIOD", os.environ.get("REGTUNE_GRACE_PERIOD")
    value: int = _env_number(name, 40)
    if value <= interval:
        given = f"={raw!r}" if raw else f" (unset: its default {value:g})"
        print(f"error: {name}{given}: must be above REGTUNE_HEARTBEAT_INTERVAL={interval:g} (by default 4 "
              f"heartbeats): a trial silent this long is failed as dead, and a live one is silent for up to "
              f"{interval:g} s between heartbeats", file=sys.stderr)  # fmt: skip
        raise SystemExit(2)
    return value


#: seconds between a running trial's heartbeats (Optuna wants a whole number)
HEARTBEAT_INTERVAL: int = _env_number("REGTUNE_HEARTBEAT_INTERVAL", 10)
#: a trial silent this long is stale: its worker died; it is failed and re-queued
GRACE_PERIOD: int = _grace_period(HEARTBEAT_INTERVAL)
#: how long a storage call is retried while the database (or proxy) is unreachable before the worker gives up
RETRY_SECONDS: float = _env_number("REGTUNE_STORAGE_RETRY_SECONDS", 60.0, integer=False)
MAX_RETRY = 3  # re-runs after crashes (dead worker, stale heartbeat, orphan) before a trial is given up
CRASHES_ATTR = "regtune:crashes"  # system attr: crashes of the trial's lineage so far (what MAX_RETRY limits)
INTERRUPTS_ATTR = "regtune:interrupts"  # system attr: deliberate stops (Ctrl-C, SIGTERM); never limited
GAVE_UP_ATTR = "gave_up"  # user attr of a trial failed for good: "crashed N times: <last reason>"
GAVE_UP_STUDY_ATTR = "regtune:gave_up"  # study user attr: numbers of the given-up trials not re-queued since
#: system attrs of the worker process that runs a trial (search.worker.claim): a dead one is found by them
HOST_ATTR, PID_ATTR, START_ATTR = "regtune:host", "regtune:pid", "regtune:pid_start"
#: the boot and the pid namespace the pid lives in: one hostname can hold several (containers sharing the host's
#: network or UTS namespace, cloned machines on one shared SQLite file), where a live worker's pid reads as dead
SPACE_ATTR = "regtune:pid_space"
BEAT_ATTR = "regtune:beat"  # the worker's own heartbeat (time.time()) on storages without Optuna's
#: the grace period of the worker that runs a trial (its $REGTUNE_GRACE_PERIOD, above its heartbeat interval): the
#: others judge its heartbeat by the longer of it and their own
GRACE_ATTR = "regtune:grace"
#: the time zone of the PostgreSQL session that writes the trial's heartbeats (``SHOW TimeZone``): Optuna stores a
#: heartbeat without one, as that session's local time, and compares it with the reader's ``now()`` in the reader's
#: time zone; the others read its age in this one (a worker with PGTZ=Asia/Tokyo beside one with PGTZ=UTC failed
#: each of its live trials at once as "no heartbeat for 40 s", and never found the other's dead one: faults10)
TZ_ATTR = "regtune:beat_tz"
STORAGE_ENV = "REGTUNE_STORAGE"  # an alternative to STORAGE=... that keeps credentials off command lines
SCHEMA_LOCK = 727465  # the PostgreSQL advisory lock key under which the schema and new studies are created
POOL = {"pool_size": 2, "max_overflow": 2}  # connections per worker process: main thread + heartbeat, and slack


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


def storage_hint(url: str | None, name: str) -> str:
    """`` STORAGE=<url>`` for a printed ``make`` command (password masked, shell-quoted), or "" for study
    ``name``'s default journal, which the Makefile opens anyway: a hint without it for a journal elsewhere
    opened another (an empty) study."""
    if not url or is_default_journal(url, name):
        return ""
    return f" STORAGE={shlex.quote(mask_url(url))}"


def is_default_journal(url: str, name: str, runs: str | Path = "runs") -> bool:
    """Whether ``url`` is study ``name``'s default journal (:func:`default_url`), however the path is spelled."""
    from search.journal import journal_path  # here: journal imports this module

    path = journal_path(url)
    return path is not None and path.resolve() == Path(default_url(name, runs)).resolve()


def resolve_url(url: str | None, name: str) -> str:
    """The storage a command uses: ``url``, else $REGTUNE_STORAGE, else the study's default journal; a journal path
    starting with ``~`` is expanded (a quoted STORAGE='~/x.log' made a directory named ``~``)."""
    url = url or os.environ.get(STORAGE_ENV) or default_url(name)
    return os.path.expanduser(url) if url.startswith("~") else url


def _scheme(url: str) -> str:
    return urlsplit(url).scheme if "://" in url else ""


def where(url: str) -> str:
    """``host H, port P, database D``: what a user checks when a storage cannot be reached."""
    scheme = _scheme(url)
    if scheme in ("", "file"):
        return f"journal file {urlsplit(url).path if scheme else url}"
    if scheme.startswith("sqlite"):
        return f"SQLite file {url.split(':///', 1)[-1].split('?', 1)[0]}"  # (its ?timeout=5 is no part of its name)
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
#: attributes of a failed run that its re-run must not inherit, its worker process's among them (a namespace left
#: behind was read beside the next worker's pid, and that live pid tested in the dead run's namespace)
_RUN_ATTRS = (
    "fail_reason", "traceback", "pruned_reason", "resumed_from_epoch", GAVE_UP_ATTR,
    HOST_ATTR, PID_ATTR, START_ATTR, SPACE_ATTR, BEAT_ATTR, GRACE_ATTR, TZ_ATTR,
)  # fmt: skip


#: system attributes of the stopped run's own files, not copied to the re-queued trial: its artifacts (Optuna's
#: ``artifacts:<id>``) and the figures reserved for them (``search.trial_introspection.FIGURES_ATTR``). The copy of a
#: trial stopped by Ctrl-C listed the stopped fit's introspection.json and figures beside its own on the dashboard,
#: ten artifacts where five were its own, and pointed at the stopped fit's until it drew its own (the consist8 probe)
_RUN_PREFIXES = ("artifacts:", "regtune:figures")


def crashes(trial: FrozenTrial) -> int:
    """Crashes of ``trial``'s lineage before it (older lineages without the attribute: every earlier run)."""
    attrs = trial.system_attrs
    return int(attrs.get(CRASHES_ATTR, len(attrs.get("retry_history", [])) - attrs.get(INTERRUPTS_ATTR, 0)))


def exhausted(trial: FrozenTrial) -> bool:
    """Whether one more crash of ``trial`` (a RUNNING one, about to be failed) exceeds :data:`MAX_RETRY`."""
    return crashes(trial) + 1 > MAX_RETRY


def is_requeued(trial: FrozenTrial) -> bool:
    """Whether ``trial`` is a re-queued copy of a stopped or crashed trial (:func:`requeue`; Optuna's
    ``failed_trial`` system attribute, which its own retry callbacks set too)."""
    return "failed_trial" in trial.system_attrs


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
    system = {k: v for k, v in trial.system_attrs.items() if k not in _RUN_ATTRS and not k.startswith(_RUN_PREFIXES)}
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
def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception behind it (causes, contexts, a database driver's ``orig``), each once."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__, getattr(e, "orig", None)]


#: SQLite's words for a failure no retry mends (SQLAlchemy calls them OperationalError, as it does a lost
#: connection): a full disk, a value that is not UTF-8, a damaged file. They were retried for 60 s, then "lost the
#: storage" (the faults probe, 2026-12-05); a full disk now gets its own line at once, the rest the damage line
SQLITE_FULL = "database or disk is full"  # SQLITE_FULL: no OSError, so search.cli.full_disk reads it by these words
SQLITE_IOERR = "disk I/O error"  # SQLITE_IOERR: a failed read or write of the file itself, never a lost connection
SQLITE_PERMANENT = re.compile(
    rf"{SQLITE_FULL}|{SQLITE_IOERR}|could not decode|malformed|file is not a database|readonly database", re.IGNORECASE
)


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a lost connection, a restarting server, a deadlock or timeout (not one
    of SQLite's :data:`SQLITE_PERMANENT` failures)."""
    if any(SQLITE_PERMANENT.search(str(e)) for e in chain(exc)):
        return False
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


def _raised_in_distributions(exc: BaseException) -> bool:
    """Whether ``exc`` was raised inside optuna.distributions (reading a stored parameter or its distribution)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and Path(tb.tb_frame.f_code.co_filename) == Path(optuna.distributions.__file__)


def _first_line(exc: BaseException) -> str:
    cause: BaseException = exc
    while cause.__cause__ is not None and isinstance(cause, optuna.exceptions.StorageInternalError):
        cause = cause.__cause__
    status = _grpc_status(cause)
    if status is not None:
        return status
    if type(cause).__name__ == "PendingRollbackError":  # SQLAlchemy's session state after a lost connection ("Can't
        # reconnect until invalid transaction is rolled back"), not why the server was unreachable: the lost
        # connection's own words are behind it (the faults3 probe, after a restart)
        cause = next((e for e in chain(cause) if e is not cause and str(e).strip()), cause)
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


def lost_next(url: str) -> str:
    """What a user does after the storage at ``url`` was lost mid-run (the line said what was lost, and nothing of
    what to do or of the trials: the faults3 probe, 2026-12-06)."""
    answers = "the proxy answers again (make proxy, and the database behind it)" if _scheme(url) == "grpc" else (
        "the storage answers again"
    )  # fmt: skip
    return (f"every finished trial is stored, and a trial left running is re-queued by the next run: rerun the same "
            f"command once {answers}")  # fmt: skip


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
        #: when the storage stopped answering (None while it answers): one outage, one window, whichever calls
        #: meet it (a call that gives up is followed by the worker's own calls marking its trial: each had a window
        #: of its own, and a dropped database was given up after 121 s where the line said 60)
        self._down_since: float | None = None
        self._fixed: dict[tuple[str, Any], Any] = {}  # answers that never change for a study (see _FIXED)
        from optuna.storages._cached_storage import _CachedStorage

        #: Optuna's cache of finished trials over an RDB (direct PostgreSQL; the proxy's own storage), else None
        self._cache: Any = inner if isinstance(inner, _CachedStorage) else None
        self._refresh = _Refreshes()
        self._own: dict[int, _Own] = {}  # trials this process runs (see _create_new_trial)
        self._own_lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:  # anything not wrapped (remove_session, _backend, ...)
        if name == "inner":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.inner, name)
        if name in _NO_RETRY:
            return method(*args, **kwargs)
        return self._retry(name, method, *args, **kwargs)

    def _retry(self, name: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        delay, attempt = 0.5, 0
        while True:
            try:
                out = method(*args, **kwargs)
                self._down_since = None
                return out
            except UpdateFinishedTrialError:
                if attempt and name == "set_trial_state_values" and self._already(*args, **kwargs):
                    return True
                raise
            except json.JSONDecodeError as exc:  # a stored attribute's JSON damaged (an overflow page of a SQLite
                # file zeroed: its integrity check passes) came out of `make study` as a 43-line traceback
                raise StorageError(
                    f"storage {mask_url(self.url)}: a stored value is not readable JSON ({exc}): the file or database "
                    "is damaged where its integrity check cannot see; restore a backup copy"
                ) from None
            except AssertionError as exc:  # Optuna's reading of a trial row it cannot make sense of (a complete
                # trial's value set to NULL in PostgreSQL): a 40-line traceback from `make study` and `make report`
                raise StorageError(
                    f"storage {mask_url(self.url)}: a stored trial cannot be read ({_first_line(exc) or 'assertion'} "
                    f"in Optuna's {name}): the database was edited or damaged; restore a backup copy"
                ) from None
            except Exception as exc:
                bad = next((e for e in chain(exc) if "could not decode" in str(e).lower()), None)
                if bad is not None:  # one flipped byte: a stored value that is not UTF-8 (no retry reads it)
                    raise StorageError(
                        f"storage {mask_url(self.url)}: a stored value is not readable text "
                        f"({_first_line(bad)[:160]}): the file or database is damaged where its integrity check "
                        "cannot see; restore a backup copy"
                    ) from None
                if _raised_in_distributions(exc):  # a trial_params row Optuna cannot read back (param_value NULL
                    # or 7 of 2 choices, an unknown distribution class): a traceback from every command (stores14)
                    raise StorageError(
                        f"storage {mask_url(self.url)}: a stored trial parameter cannot be read ({type(exc).__name__}: "
                        f"{_first_line(exc)[:160]} in Optuna's {name}): the database was edited or damaged; restore "
                        "a backup copy"
                    ) from None
                if not transient(exc):
                    raise
                now = time.monotonic()
                first = self._down_since is None
                if self._down_since is None:
                    self._down_since = now
                waited = now - self._down_since
                locked = SQLITE_LOCKED in _first_line(exc)  # SQLite: another process holds a write transaction
                cancelled = PG_TIMEOUT.search(_first_line(exc)) is not None  # a timeout setting: no lost server
                if waited >= self.seconds:
                    place = f"the storage {mask_url(self.url)} ({where(self.url)})"
                    how = (f"{place} stayed locked by another process for {waited:.0f} s" if locked
                           else f"{place} kept cancelling statements for {waited:.0f} s" if cancelled
                           else f"lost {place} for {waited:.0f} s")  # fmt: skip
                    words = scrub(_first_line(exc), self.url)
                    raise StorageError(
                        f"{how}: {words}{timeout_hint(self.url, words)}; {lost_next(self.url)}"
                    ) from None  # fmt: skip
                if first:
                    state = (LOCKED if locked else "cancelled a statement by its timeout setting" if cancelled
                             else "unreachable")  # (a locked SQLite file was "unreachable")  # fmt: skip
                    print(
                        f"storage {mask_url(self.url)} {state} ({scrub(_first_line(exc), self.url)}); "
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


def _rdb_backend(storage: BaseStorage) -> Any:
    """The RDB storage behind ``storage`` (itself, or behind :class:`RetryingStorage` and Optuna's cache), or None."""
    inner = getattr(storage, "inner", storage)
    backend = getattr(inner, "_backend", inner)  # (a bare RDBStorage is its own backend)
    return backend if hasattr(backend, "scoped_session") else None


def _read_rdb(storage: BaseStorage, read: Callable[[Any], Any], default: Any) -> Any:
    """``read(session)`` on a session of the RDB storage behind ``storage`` (:func:`_rdb_backend`), the session
    closed after; ``default`` where there is none, or where the read fails."""
    backend = _rdb_backend(storage)
    if backend is None:
        return default
    session = backend.scoped_session()
    try:
        return read(session)
    except Exception:
        return default
    finally:
        session.close()


def session_time_zone(storage: BaseStorage) -> str | None:
    """This process's PostgreSQL session time zone (``SHOW TimeZone``: the server's, or the role's or database's,
    or ``PGTZ``), the one its heartbeats are written in (:data:`TZ_ATTR`); None on other storages (SQLite's
    ``CURRENT_TIMESTAMP`` is UTC in every process) or where it cannot be read."""
    import sqlalchemy

    def read(session: Any) -> str | None:
        if session.get_bind().dialect.name != "postgresql":
            return None
        return str(session.execute(sqlalchemy.text("SHOW TimeZone")).scalar())

    return _read_rdb(storage, read, None)  # type: ignore[no-any-return]


def heartbeat_ages(storage: BaseStorage, zones: dict[int, str]) -> dict[int, float]:
    """The age in seconds of Optuna's heartbeat of each trial id in ``zones`` (a PostgreSQL storage): the stored
    beat read as a time in the zone its writer's session had (:data:`TZ_ATTR`), against the database's ``now()``;
    one query for all. Trials without a beat are left out; so are all where it cannot be read (a zone name edited
    by hand that PostgreSQL does not know): those are judged as Optuna judges them."""
    import sqlalchemy

    if not zones:
        return {}
    rows = ", ".join(f"(:t{i}, :z{i})" for i in range(len(zones)))
    # the beat made an instant in its zone, then subtracted from now(): two wall-clock times subtracted in a zone
    # that moved its clocks between them are an hour off (a spring-forward read every beat from just before it as
    # 3,600 s old, and failed each live trial whose worker had not beaten since)
    query = sqlalchemy.text(
        "SELECT h.trial_id, EXTRACT(EPOCH FROM now() - (h.heartbeat AT TIME ZONE v.tz)) FROM trial_heartbeats h "
        f"JOIN (VALUES {rows}) AS v(trial_id, tz) ON h.trial_id = v.trial_id"
    )
    values: dict[str, Any] = {}
    for i, (tid, zone) in enumerate(zones.items()):
        values[f"t{i}"], values[f"z{i}"] = int(tid), str(zone)

    def read(session: Any) -> dict[int, float]:
        return {int(tid): float(age) for tid, age in session.execute(query, values) if age is not None}

    return _read_rdb(storage, read, {})  # type: ignore[no-any-return]


def heartbeat_older(storage: BaseStorage, trial_id: int, seconds: float) -> bool:
    """Whether Optuna's heartbeat of trial ``trial_id`` (an RDB storage's: ``storage`` itself, or the RDB behind
    :class:`RetryingStorage` and Optuna's cache) is older than ``seconds``, read as Optuna reads it (the database's
    ``now()`` against the stored beat, both in the sessions' time zone, as Optuna's ``_get_stale_trial_ids``
    compares them); True where it cannot be read (the trial is judged as Optuna judged it)."""
    import sqlalchemy
    from optuna.storages._rdb import models

    def read(session: Any) -> tuple[Any, Any]:
        now = session.execute(sqlalchemy.func.now()).scalar()
        return now, session.query(models.TrialHeartbeatModel.heartbeat).filter_by(trial_id=trial_id).scalar()

    now, beat = _read_rdb(storage, read, (None, None))
    if now is None or beat is None:
        return True
    return (now.replace(tzinfo=None) - beat.replace(tzinfo=None)).total_seconds() > seconds


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


# --------------------------------------------------------------------------------------------- cheaper exact reads
# Optuna's cache (``_CachedStorage``, over an RDB) keeps finished trials, which never change, and re-reads every
# unfinished trial in full on every ``get_all_trials``: with N workers each full read loads N running trials, and each
# worker reads several times per trial, so the reads grow as N². The wrapper answers the same questions with less:
# - ``count_trials``: trials by state (and below a number) in one COUNT query: the worker's exact totals;
# - a read of unfinished states only (WAITING, RUNNING) loads just those rows, with a WHERE on the state;
# - a trial's system or user attributes: one query on that table, not a load of the whole trial;
# - full reads from many threads of one process (the gRPC proxy serves all its workers from one storage) share one
#   refresh: a read waits for the next refresh that *starts* after it was asked, never one already under way, so it
#   sees everything committed before it was asked, as its own refresh would.
# - a trial this process runs: its system attributes (which the pruner reads every epoch) once, then its own writes.
# Every other answer is read from the database at the time of the call (or is a finished trial): exactly what the
# uncached storage answers (tests/test_storage_cache.py compares them, pruning decisions included).
_FINISHED_STATES = tuple(s for s in TrialState if s.is_finished())


class _Refreshes:
    """Per study: refreshes started, the last one finished, and whether one is under way (one at a time)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.started: dict[int, int] = {}
        self.done: dict[int, int] = {}
        self.running: set[int] = set()


def _finished_trial(self: RetryingStorage, trial_id: int) -> FrozenTrial | None:
    cache = self._cache
    if cache is None:
        return None
    with cache._lock:
        return cache._get_cached_trial(trial_id)  # type: ignore[no-any-return]


def _attrs_reader(name: str) -> Callable[..., Any]:
    field = name.removeprefix("get_trial_")  # system_attrs / user_attrs
    system = field == "system_attrs"

    def method(self: RetryingStorage, trial_id: int) -> dict[str, Any]:
        trial = _finished_trial(self, trial_id)
        if trial is not None:
            return dict(getattr(trial, field))
        if system:
            with self._own_lock:
                own = self._own.get(trial_id)
                if own is not None and own.attrs is not None:  # a trial this process runs: its own writes
                    return dict(own.attrs)
                writes = own.writes if own is not None else None
        rdb = _rdb_backend(self)
        if rdb is not None:  # one query on the attribute table (Optuna's cache would load the whole trial)
            attrs: dict[str, Any] = self._retry(name, getattr(rdb, name), trial_id)
        else:
            attrs = self._call(name, trial_id)
        if system and writes is not None:
            with self._own_lock:
                own = self._own.get(trial_id)
                if own is not None and own.writes == writes:  # no write of this process since the read began
                    own.attrs = dict(attrs)
        return attrs

    method.__name__ = method.__qualname__ = name
    method.__doc__ = getattr(BaseStorage, name).__doc__
    return method


# A RUNNING trial's system attributes are written by the process that runs it (its sampler, its pruner's rungs, the
# worker's host/pid claim); other workers only fail it (a user attribute and its state). So the pruner's read of
# them at every epoch (``should_prune`` -> ``completed_rung_*``) is answered, for a trial this process created or
# claimed, from one read plus this process's own writes: one round trip per epoch fewer, the same answer. Not kept:
# the worker's heartbeat attribute (``regtune:beat``, written past the wrapper, never read back by its own process).
class _Own:
    """A trial this process runs: its system attributes once read (None before), and writes since it was claimed."""

    __slots__ = ("attrs", "writes")

    def __init__(self) -> None:
        self.attrs: dict[str, Any] | None = None
        self.writes = 0


def _create_new_trial(self: RetryingStorage, study_id: int, template_trial: FrozenTrial | None = None) -> int:
    trial_id: int = self._call("create_new_trial", study_id, template_trial)
    if template_trial is None or template_trial.state == TrialState.RUNNING:
        with self._own_lock:
            self._own[trial_id] = _Own()
    return trial_id


def _set_trial_state_values(self: RetryingStorage, trial_id: int, state: TrialState, values: Any = None) -> bool:
    try:
        done: bool = self._call("set_trial_state_values", trial_id, state, values)
    except BaseException:
        with self._own_lock:
            self._own.pop(trial_id, None)  # finished by someone else, or unknown: read it again next time
        raise
    with self._own_lock:
        if state == TrialState.RUNNING and done:
            self._own[trial_id] = _Own()  # claimed (WAITING -> RUNNING)
        elif state != TrialState.RUNNING:
            self._own.pop(trial_id, None)
    return done


def _set_trial_system_attr(self: RetryingStorage, trial_id: int, key: str, value: Any) -> None:
    try:
        self._call("set_trial_system_attr", trial_id, key, value)
    except BaseException:
        with self._own_lock:
            self._own.pop(trial_id, None)
        raise
    with self._own_lock:
        own = self._own.get(trial_id)
        if own is not None:
            own.writes += 1
            if own.attrs is not None:
                own.attrs[key] = json.loads(json.dumps(value))  # as the database gives it back


def _get_all_trials(
    self: RetryingStorage, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
) -> list[FrozenTrial]:
    cache = self._cache
    if cache is None:
        return self._call("get_all_trials", study_id, deepcopy=deepcopy, states=states)  # type: ignore[no-any-return]
    if states is not None and not any(s in states for s in _FINISHED_STATES):
        trials = self._retry("get_all_trials", cache._backend.get_all_trials, study_id, deepcopy=False, states=states)
        _remember(cache, study_id, trials)
    else:
        _refresh(self, study_id)
        with cache._lock:  # as _CachedStorage.get_all_trials answers from its cache, in trial number order
            known = cache._studies[study_id].trials
            trials = sorted((t for t in known.values() if states is None or t.state in states), key=lambda t: t.number)
    return copy.deepcopy(trials) if deepcopy else trials


def _remember(cache: Any, study_id: int, trials: list[FrozenTrial]) -> None:
    """Put unfinished trials read past the cache into it (their ids are what ``set_trial_param`` looks up), marked
    unfinished so the cache re-reads them; a trial the cache already holds finished (a newer read) is kept."""
    from optuna.storages._cached_storage import _StudyInfo

    with cache._lock:
        info = cache._studies.setdefault(study_id, _StudyInfo())
        fresh = [t for t in trials if not (t.number in info.trials and info.trials[t.number].state.is_finished())]
        cache._add_trials_to_cache(study_id, fresh)
        info.unfinished_trial_ids.update(t._trial_id for t in fresh if not t.state.is_finished())


def _refresh(self: RetryingStorage, study_id: int) -> None:
    """Bring Optuna's cache of ``study_id`` up to date with a refresh that starts after this call did."""
    r = self._refresh
    with r.cond:
        need = r.started.get(study_id, 0) + 1  # one under way now started before this call: not good enough
        while r.done.get(study_id, 0) < need:
            if study_id not in r.running:
                r.running.add(study_id)
                mine = r.started[study_id] = r.started.get(study_id, 0) + 1
                break
            r.cond.wait()
        else:
            return
    ok = False
    try:
        self._retry("get_all_trials", self._cache._read_trials_from_remote_storage, study_id)
        ok = True
    finally:
        with r.cond:
            r.running.discard(study_id)
            if ok:
                r.done[study_id] = mine
            r.cond.notify_all()


def by_state(trials: list[FrozenTrial], below: int | None = None) -> dict[TrialState, int]:
    """``trials`` counted by state (only those numbered below ``below``, if given)."""
    out = dict.fromkeys(TrialState, 0)
    for t in trials:
        if below is None or t.number < below:
            out[t.state] += 1
    return out


def count_trials(self: RetryingStorage, study_id: int, below: int | None = None) -> dict[TrialState, int]:
    """The study's trials by state (only those numbered below ``below``, if given), read from the database now:
    one COUNT query on an RDB; elsewhere counted from ``get_all_trials``."""
    rdb = _rdb_backend(self)
    if rdb is None:
        return by_state(self.get_all_trials(study_id, deepcopy=False), below)
    return self._retry("count_trials", _count, rdb, study_id, below)  # type: ignore[no-any-return]


def _count(rdb: Any, study_id: int, below: int | None) -> dict[TrialState, int]:
    import sqlalchemy
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(rdb.scoped_session) as session:
        models.StudyModel.find_or_raise_by_id(study_id, session)  # KeyError, as get_all_trials
        query = session.query(models.TrialModel.state, sqlalchemy.func.count(models.TrialModel.trial_id)).filter(
            models.TrialModel.study_id == study_id
        )
        if below is not None:
            query = query.filter(models.TrialModel.number < below)
        rows = query.group_by(models.TrialModel.state).all()
    out = dict.fromkeys(TrialState, 0)
    out.update({TrialState(state) if not isinstance(state, TrialState) else state: int(n) for state, n in rows})
    return out


def shared_trial_numbers(self: RetryingStorage, study_id: int) -> dict[int, list[int]]:
    """Trial numbers that more than one of the study's trials holds, each with those trials' ids (read from the
    database: Optuna's cache keys trials by number, so of two trials sharing one it shows one, and the other
    vanished from every list); {} where there is no database below (a journal numbers trials as it replays them)."""
    rdb = _rdb_backend(self)
    return {} if rdb is None else self._retry("shared_trial_numbers", _shared, rdb, study_id)  # type: ignore[no-any-return]


def _shared(rdb: Any, study_id: int) -> dict[int, list[int]]:
    import sqlalchemy
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    trial = models.TrialModel
    with _create_scoped_session(rdb.scoped_session) as session:
        twice = (
            session.query(trial.number).filter(trial.study_id == study_id).group_by(trial.number)
            .having(sqlalchemy.func.count(trial.trial_id) > 1)
        )  # fmt: skip
        rows = session.query(trial.number, trial.trial_id).filter(trial.study_id == study_id, trial.number.in_(twice))
        out: dict[int, list[int]] = {}
        for number, trial_id in rows.order_by(trial.number, trial.trial_id).all():
            out.setdefault(int(number), []).append(int(trial_id))
    return out


def _getstate(self: RetryingStorage) -> dict[str, Any]:
    return {k: v for k, v in self.__dict__.items() if k not in ("_refresh", "_own", "_own_lock")}


def _setstate(self: RetryingStorage, state: dict[str, Any]) -> None:
    self.__dict__.update(state)
    self._refresh, self._own, self._own_lock = _Refreshes(), {}, threading.Lock()


RetryingStorage.get_trial_system_attrs = _attrs_reader("get_trial_system_attrs")  # type: ignore[method-assign]
RetryingStorage.get_trial_user_attrs = _attrs_reader("get_trial_user_attrs")  # type: ignore[method-assign]
RetryingStorage.get_all_trials = _get_all_trials  # type: ignore[method-assign, assignment]
RetryingStorage.create_new_trial = _create_new_trial  # type: ignore[method-assign, assignment]
RetryingStorage.set_trial_state_values = _set_trial_state_values  # type: ignore[method-assign, assignment]
RetryingStorage.set_trial_system_attr = _set_trial_system_attr  # type: ignore[method-assign, assignment]
RetryingStorage.count_trials = count_trials  # type: ignore[attr-defined]
RetryingStorage.shared_trial_numbers = shared_trial_numbers  # type: ignore[attr-defined]
RetryingStorage.__getstate__ = _getstate  # type: ignore[method-assign, assignment]
RetryingStorage.__setstate__ = _setstate  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------- opening
def store_file(url: str) -> Path | None:
    """The file of a journal or SQLite URL, else None (a database server, a proxy)."""
    from search.journal import journal_path  # here: both modules import this one
    from search.sqlite_file import sqlite_path

    return journal_path(url) or (sqlite_path(url) if _scheme(url).startswith("sqlite") else None)


def file_kind(path: Path) -> str:
    """What ``path``, which exists and is no regular file, is (through any link): ``a FIFO (named pipe)``,
    ``a character device``, ...; a link says where it points (``a symbolic link to /dev/null, a character device``).
    `make repair` called a FIFO, or a link to /dev/null, "no journal file" (the faults9 probe)."""
    import stat

    mode = path.stat().st_mode
    kinds = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]  # fmt: skip
    kind = next((words for test, words in kinds if test(mode)), "not a regular file")
    return f"a symbolic link to {os.path.realpath(path)}, {kind}" if path.is_symlink() else kind


def missing_file(url: str) -> Path | None:
    """The file of a journal or SQLite URL when it does not exist yet, else None."""
    path = store_file(url)
    return path if path is not None and not path.exists() else None


def writable(path: Path) -> bool:
    """Whether a store's file and its directory (Optuna's journal lock file, SQLite's journal) can be written."""
    return os.access(path, os.W_OK) and os.access(path.absolute().parent, os.W_OK | os.X_OK)


@contextlib.contextmanager
def readable(
    url: str,
    note: str = "the report reads a copy, and the rows it retrains are not saved (a writable store keeps "
    "them for the next report)",
    artifacts: bool = False,
    name: str | None = None,
) -> Iterator[str]:
    """``url`` itself, or, for a journal or SQLite file that cannot be written (a read-only disk, an archived or a
    colleague's study), the URL of a private copy, removed afterwards: a command that only reads a study (the
    report, the dashboard) works there, and whatever it would record (the verdict's retrained rows) is not kept;
    ``note`` says what that means for the command; ``artifacts``: the trial figures beside a journal
    (``artifacts/``) are copied with it. Errors name the original file. With the study's ``name``, a PostgreSQL
    role that may only read (:func:`read_only_role`), or a database whose every transaction is read-only
    (:func:`read_only_server`), gets study ``name`` copied into a private journal file."""
    import shutil
    import tempfile

    # an analyst's role; a replica or default_transaction_read_only, whose INSERT privilege reads as granted (the
    # report failed at its first cached row, after a cross-validation): the study copied into a journal
    why = None if name is None else ("this role may only read" if read_only_role(url) else
                                     "every transaction there is read-only" if read_only_server(url) else None)  # fmt: skip
    if why and name is not None:
        with tempfile.TemporaryDirectory(prefix="regtune-readonly-") as tmp:
            copy_path = Path(tmp) / "journal.log"
            try:
                optuna.copy_study(from_study_name=name, from_storage=open_storage(url),
                                  to_storage=open_storage(str(copy_path)))  # fmt: skip
            except KeyError:  # no such study: the command says so, naming the storage
                yield url
                return
            print(f"note: {mask_url(url)}: {why}: {note}", file=sys.stderr, flush=True)
            yield str(copy_path)
        return
    path = store_file(url)
    if path is None or not path.is_file() or writable(path):
        yield url
        return
    journal = _scheme(url) in ("", "file")
    with tempfile.TemporaryDirectory(prefix="regtune-readonly-") as tmp:
        copy_path = Path(tmp) / path.name
        if journal:  # up to its last complete record: one another machine is appending right now is not torn
            data = path.read_bytes()
            copy_path.write_bytes(data if data.endswith(b"\n") else data[: data.rfind(b"\n") + 1])
            if artifacts and (path.parent / "artifacts").is_dir():
                shutil.copytree(path.parent / "artifacts", Path(tmp) / "artifacts")
        else:
            shutil.copyfile(path, copy_path)
        print(f"note: {path} is read-only: {note}", file=sys.stderr, flush=True)
        try:
            yield str(copy_path) if journal else f"sqlite:///{copy_path}"
        except StorageError as exc:
            raise StorageError(str(exc).replace(str(copy_path), str(path))) from exc.__cause__


def read_only_role(url: str) -> bool:
    """Whether a PostgreSQL URL's role may read Optuna's tables but not write them (an analyst's role, a read
    replica): the report's retrained rows could not be saved, and it failed after minutes of retraining. False
    for any other storage, and when that cannot be told (no tables yet, no server: the command's own open says so)."""
    if not _scheme(url).startswith("postgresql"):
        return False
    query = "SELECT has_table_privilege('studies', 'SELECT'), has_table_privilege('study_user_attributes', 'INSERT')"
    try:
        reads, writes = _query_once(url, query)
    except Exception:
        return False
    return bool(reads) and not bool(writes)


@contextlib.contextmanager
def _one_connection(url: str) -> Iterator[Any]:
    """A connection of its own to the database at ``url``, closed after (on PostgreSQL waiting at most 10 s to
    connect); raises what connecting raises."""
    import sqlalchemy

    connect_args = {"connect_timeout": 10} if _scheme(url).startswith("postgresql") else {}
    engine = sqlalchemy.create_engine(driver_url(url), connect_args=connect_args, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _query_once(url: str, query: str) -> Any:
    """The one row ``query`` gives on the database at ``url``, over :func:`_one_connection`; raises what the
    connection or the query raise, and when there is no row."""
    import sqlalchemy

    with _one_connection(url) as conn:
        return conn.execute(sqlalchemy.text(query)).one()


def no_optuna_tables(url: str) -> bool:
    """Whether ``url`` is a PostgreSQL or MySQL database without Optuna's ``studies`` table (a database just made
    with ``createdb``, a mistyped database name that exists): it holds no study, and opening it would write Optuna's
    schema, so a command that only reads (report, figures, retry) wrote 13 tables into it before saying "no study"
    (the newuser8 probe). False for other storages and where it cannot be told (no server: the open says why)."""
    if not _scheme(url).startswith(("postgresql", "mysql")):
        return False
    import sqlalchemy

    try:
        with _one_connection(url) as conn:
            return "studies" not in sqlalchemy.inspect(conn).get_table_names()
    except Exception:
        return False


def held_names(names: list[str], most: int = 10) -> str:
    """``'a', 'b' and 3 more``: the studies a storage holds, said where a name was not among them."""
    return ", ".join(map(repr, names[:most])) + (f" and {len(names) - most} more" if len(names) > most else "")


def load_existing(url: str, name: str, study_file: str | Path) -> optuna.Study:
    """Study ``name`` of the storage at ``url`` for a command that only reads it; :class:`StorageError` when it is
    not there, or is not a regtune study (:func:`foreign`). A journal or SQLite file that does not exist is not
    created (reading writes no empty store)."""
    where = f"{mask_url(url)} (no such file)" if missing_file(url) is not None else None
    path = store_file(url)
    lost = ""  # what a store emptied under a study means
    if where is None and path is not None and path.is_file() and path.stat().st_size == 0:
        # an empty SQLite file holds no study: opening it wrote Optuna's schema into it (the faults probe); an
        # emptied journal was "it holds no study", with nothing to say that its records were lost (faults9)
        where = f"{mask_url(url)} (an empty file)" if _scheme(url).startswith("sqlite") else (
            f"{mask_url(url)} (the journal file is empty, 0 bytes)"
        )  # fmt: skip
        lost = "; if it held the study, its records were lost (the file was emptied): restore a backup copy of it"
    if where is None and no_optuna_tables(url):  # likewise a new database: the open wrote 13 tables into it
        where = f"{mask_url(url)} (a database without Optuna's tables: no study was ever created there)"
    if where is None:
        storage = open_storage(url)
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:  # a mistyped name (or a study file renamed): say what the store holds (the faults probe)
            held = sorted(s.study_name for s in storage.get_all_studies())
            where = f"{mask_url(url)} (it holds {held_names(held) if held else 'no study'})"
        else:
            why = foreign(study)
            if why is not None:
                raise StorageError(foreign_message(name, mask_url(url), why, study_file))
            if (broken := damaged(study, url, study_file)) is not None:
                raise StorageError(f"study {name!r} in {mask_url(url)}: {broken}")
            if (curves := lost_curves(study)) is not None:
                print(curves, file=sys.stderr, flush=True)
            return study
    given = "" if url == default_url(name) else f" STORAGE={shlex.quote(mask_url(url))}"  # the same store, not runs/
    raise StorageError(
        f"no study {name!r} in {where}: run `make study STUDY={shlex.quote(str(study_file))}{given}` first{lost}"
    )


def foreign(study: optuna.Study, direction: str | None = None) -> str | None:
    """Why ``study`` is not one regtune wrote alone (its trials, their parameters), or None. A regtune study records
    its definition (``regtune:definition``) before its first trial, and its study file (``regtune:study_file``) once
    its starting points are enqueued; a study without either but with trials was
    written by something else (a hand-written Optuna script, another tool) under the same name. A study with
    several objectives is never regtune's (its one direction could not even be read: a traceback), and a
    regtune study into which another program ran finished trials (no ``config`` recorded: regtune records it
    before a trial trains) would have had one of them picked as its best (``KeyError: 'config'`` then). An empty
    study is regtune's own creation cut short, unless it is set to another ``direction`` than the study file's
    metric (regtune creates it with that one): `optuna.create_study(direction="minimize")` under the same name was
    blamed on an edit of the study file ("undo the edit")."""
    if len(study.directions) > 1:
        return f"it has {len(study.directions)} objectives; a regtune study has one"
    trials = study.get_trials(deepcopy=False)
    if "regtune:study_file" in study.user_attrs or "regtune:definition" in study.user_attrs:
        finished = (TrialState.COMPLETE, TrialState.PRUNED)
        alien = [t for t in trials if t.state in finished and "config" not in t.user_attrs]
        if not alien:
            return None
        numbers = ", ".join(f"#{t.number}" for t in alien[:5]) + (", ..." if len(alien) > 5 else "")
        return (f"{len(alien)} of its finished trials ({numbers}) were run by another program, not regtune, or lost "
                "their configuration record to a damaged store (a journal or SQLite file: make repair fails such trials, "
                f"to be run again): {_params(alien)}")  # fmt: skip
    if not trials:  # empty: regtune's own creation cut short before its attributes, or nothing to mix up
        has = study.direction.name.lower()
        if direction is not None and has != direction:
            return f"it has no trials and no regtune records, and is set to {has} where the study file's metric is to {direction}"
        return None
    return f"it records no regtune study file; {len(trials)} trial(s), {_params(trials)}"


def damaged(study: optuna.Study, url: str | None = None, study_file: str | Path | None = None) -> str | None:
    """Why a regtune study's finished trials are not whole, or None: a complete trial without its value (a row
    deleted in PostgreSQL, a store edited by hand). `make study` counted such a trial as finished, and `make report`
    ended in a traceback from Optuna's history figure (the faults probe, 2026-12-05). Or a finished trial whose
    parameters disagree with the configuration it recorded (:mod:`search.config_check`: a journal line or a
    parameter row lost); ``url`` and ``study_file`` name the repair command where the store is a journal file."""
    from search.config_check import FINISHED, mismatches

    if (twice := shared_numbers(study)) is not None:
        return twice
    trials = study.get_trials(deepcopy=False, states=FINISHED)  # (read once: on PostgreSQL a round trip)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    lost = [t for t in complete if t.value is None]
    if not lost:
        odd = mismatches(trials, study.user_attrs)
        if not odd:
            return None
        shown = "; ".join(f"#{t.number}: {why}" for t, why in odd[:5]) + ("; ..." if len(odd) > 5 else "")
        ids = ", ".join(str(t._trial_id) for t, _ in odd)
        return (f"{len(odd)} of its finished trials do not match the configuration they recorded ({shown}): a "
                "parameter record was lost, the store edited or another run's records joined to it, and the sampler and the report would read a "
                f"configuration the trial did not run; {_mend_hint(url, study_file, ids)}")  # fmt: skip
    if len(lost) == len(complete) > 1:  # the faults probe: a renamed trial_values, re-created empty on opening
        return (f"none of its {len(complete)} complete trials has a value: the table of values was emptied or "
                "replaced (PostgreSQL or SQLite: a renamed or dropped trial_values is created again, empty, when "
                "the store is opened); restore it from a backup copy (or the renamed table): marking them failed "
                f"would discard all {len(complete)}")  # fmt: skip
    numbers = ", ".join(f"#{t.number}" for t in lost[:5]) + (", ..." if len(lost) > 5 else "")
    ids = ", ".join(str(t._trial_id) for t in lost)
    return (f"{len(lost)} of its complete trials ({numbers}) have no value: the store was edited or damaged; "
            "restore a backup copy, or mark them failed (PostgreSQL: UPDATE trials SET state = 'FAIL' WHERE "
            f"trial_id IN ({ids})) so that they run again")  # fmt: skip


def lost_starting_points(study: optuna.Study) -> str | None:
    """Why waiting trials cannot run as they were enqueued, or None: a starting point (the baseline, a recipe, a
    study file's point: user attribute ``recipe``) still WAITING without the parameters Optuna enqueued it with
    (system attribute ``fixed_params``) nor parameters of its own. Optuna then lets the sampler propose its
    parameters, and the trial ran a sampled configuration under the starting point's name, exit 0 and no word: the
    baseline the verdict and the selection rule compare against was then some sampled point (the stores12 probe: a
    dropped ``trial_system_attributes``, which the next open creates again, empty). A waiting trial that holds its
    parameters (a copy of a finished starting point added with ``study.add_trial``, as :func:`requeue` makes its
    copies) runs them, as Optuna runs a re-queued copy's: it was refused as "lost" (the review12 probe)."""
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    lost = [t for t in waiting if "recipe" in t.user_attrs and "fixed_params" not in t.system_attrs and not t.params]
    if not lost:
        return None
    shown = ", ".join(f"#{t.number} ({t.user_attrs['recipe']!r})" for t in lost[:3]) + (
        ", ..." if len(lost) > 3 else ""
    )
    return (f"{len(lost)} of its waiting starting points ({shown}) lost the parameters they were enqueued with (the "
            "store was edited or damaged: PostgreSQL and SQLite create a dropped trial_system_attributes again, "
            "empty, when the store is opened); run, each would train a sampled configuration under its name; "
            "restore the table, or the store, from a backup copy (no trial was run or changed)")  # fmt: skip


def lost_curves(study: optuna.Study) -> str | None:
    """A warning when none of a study's complete trials (two or more) kept a per-epoch value, else None: every
    regtune trial reports each epoch, so their table was emptied or dropped (a dropped trial_intermediate_values is
    created again, empty, by the next open), or a repair could not read it back. `make report` ran on in silence
    with every curve gone (the faults8 probe). A warning, not a refusal: the trials' values, configurations and
    fold curves (which the verdict's epochs come from) are whole, and after a repair there is nothing to restore."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2 or any(t.intermediate_values for t in complete):
        return None
    return (f"warning: study {study.study_name!r}: none of its {len(complete)} complete trials has its per-epoch "
            "values (their table was emptied or dropped: PostgreSQL and SQLite create it again, empty, when the store "
            "is opened; or a repair could not read it back); the dashboard's curves, the report's history and the "
            "pruner's comparisons with those trials are gone, their results and the verdict are not; restore the "
            "table from a backup copy if there is one")  # fmt: skip


def shared_numbers(study: optuna.Study) -> str | None:
    """Why trial numbers are not one per trial, or None. Optuna numbers a database store's trials by counting
    those before each (under a lock: no race), so two trials share a number only after an edit: a number set by
    hand, or a trial deleted (the next one then takes the last number in use). One of the two then vanished from
    every list Optuna gives (its cache keys trials by number): a finished trial lost to the summary, the report, the
    sampler and the dashboard (the faults probe, 2026-12-06). One query, on a database store only."""
    reader = getattr(study._storage, "shared_trial_numbers", None)
    twice: dict[int, list[int]] = reader(study._study_id) if reader is not None else {}
    if not twice:
        return None
    study_id = study._study_id
    shown = "; ".join(f"#{n}: trial ids {', '.join(map(str, i))}" for n, i in list(twice.items())[:5])
    return (f"{len(twice)} trial number(s) name more than one trial ({shown}{'; ...' if len(twice) > 5 else ''}): "
            "the store was edited (a number set by hand, or a trial deleted: the next one took a number in use); "
            "restore a backup copy, or number the trials again in the order they were made (UPDATE trials SET "
            "number = r.n FROM (SELECT trial_id, ROW_NUMBER() OVER (ORDER BY trial_id) - 1 AS n FROM trials WHERE "
            f"study_id = {study_id}) AS r WHERE trials.trial_id = r.trial_id; the notes of re-queued trials keep "
            "the numbers they had)")  # fmt: skip


def _mend_hint(url: str | None, study_file: str | Path | None, ids: str) -> str:
    """What to do about finished trials that do not match their configuration (``ids``: their storage ids): a
    journal file's repair fails them; elsewhere, by hand."""
    from search.journal import journal_path, repair_command

    path = journal_path(url) if url is not None and study_file is not None else None
    if path is not None:
        return f"{repair_command(path, [str(study_file)])} fails them, to be run again (a backup is kept)"
    return (f"restore a backup copy, or mark them failed (UPDATE trials SET state = 'FAIL' WHERE trial_id IN "
            f"({ids})) so that they run again")  # fmt: skip


def _params(trials: list[optuna.trial.FrozenTrial]) -> str:
    params = sorted({p for t in trials for p in t.params})
    return "parameters: " + (", ".join(params[:6]) + (", ..." if len(params) > 6 else "") if params else "none")


def foreign_message(name: str, store: str, why: str, study_file: str | Path) -> str:
    return (
        f"study {name!r} in {store} is not regtune's alone ({why}); it is left untouched rather than mixed "
        f"with regtune's trials. Give the study another name: in {study_file}, or use another STORAGE"
    )


class JournalChangedError(RuntimeError):
    """The journal file was cut short, emptied, replaced or written over under a process that reads it."""


class JournalRemovedError(JournalChangedError):
    """The journal file is gone from its path under a process that reads it (deleted, or its folder moved)."""


class GuardedJournalFileBackend(JournalFileBackend):
    """Optuna's journal file backend, which notices its file changing under it.

    Optuna reads a journal on from the byte offset it reached and never looks back: a file cut short, emptied or
    restored from an old copy (``cp``) while a worker ran went unnoticed until it grew back past that offset (on a
    large journal: never). The worker meanwhile read nothing, wrote records for trials that no longer existed,
    trained one configuration again and again, and left a finished trial with a value and no parameters. Before
    each read and each append this checks that the file is the same file (device and inode), no shorter than what
    was read, and still holds the last bytes read where they were; else :class:`JournalChangedError`, and
    nothing more is written."""

    TAIL = 64  # bytes before the read offset compared on each check

    def __init__(self, file_path: str, lock_obj: Any = None) -> None:
        super().__init__(file_path, lock_obj)
        st = os.stat(file_path)
        self._identity = (st.st_dev, st.st_ino)
        self._mark: tuple[int, bytes] = (0, b"")  # (offset read up to, the bytes just before it)

    def _check(self) -> None:
        end, tail = self._mark
        try:
            st = os.stat(self._file_path)
        except FileNotFoundError:
            raise JournalRemovedError(f"{self._file_path} was removed") from None
        if (st.st_dev, st.st_ino) != self._identity:
            raise JournalChangedError(f"{self._file_path} was replaced by another file")
        if st.st_size < end:
            raise JournalChangedError(f"{self._file_path} was cut short ({st.st_size} bytes; {end} were read)")
        if tail:
            with open(self._file_path, "rb") as f:
                f.seek(end - len(tail))
                if f.read(len(tail)) != tail:
                    raise JournalChangedError(f"{self._file_path} was written over (its bytes before {end} differ)")

    def read_logs(self, log_number_from: int) -> Any:
        self._check()
        yield from super().read_logs(log_number_from)
        end = max(self._log_number_offset.values())
        if end == self._mark[0]:  # nothing new was read: the bytes before ``end`` were just checked
            return
        with open(self._file_path, "rb") as f:
            f.seek(max(0, end - self.TAIL))
            self._mark = (end, f.read(end - max(0, end - self.TAIL)))

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self._check()
        super().append_logs(logs)


def open_storage(url: str, *, plain: bool = False, pool: dict[str, int] | None = None) -> BaseStorage:
    """Open (creating where needed) the storage at ``url``; raise :class:`StorageError` with a clear message.

    An RDB or gRPC storage comes wrapped in :class:`RetryingStorage` (and an RDB one in Optuna's cache, as
    ``optuna.load_study`` would do with a URL); ``plain=True`` returns the bare ``RDBStorage`` (what
    optuna-dashboard wants). ``pool`` overrides the connections per process (:data:`POOL`).
    """
    scheme = _scheme(url)
    if scheme in ("", "file"):
        path = Path(urlsplit(url).path if scheme else url)
        _journal_place(path)
        from search.journal import check_journal  # here: search.journal imports this module

        check_journal(path)  # a torn last record set aside; damage in the middle: StorageError (make repair)
        # the lock beside the file itself: a journal reached through a symbolic link and by its own path (two
        # spellings of one file) locked two lock files, and a check through the link cut a live append as torn
        lock = JournalFileOpenLock(str(path.resolve()))
        return JournalStorage(GuardedJournalFileBackend(str(path), lock_obj=lock))
    if scheme == "grpc":
        return _grpc(url)
    if scheme.startswith(("postgresql", "sqlite", "mysql")):
        rdb = _rdb(url, pool or POOL)
        if plain:
            return rdb
        from optuna.storages._cached_storage import _CachedStorage

        return RetryingStorage(_CachedStorage(rdb), url)  # type: ignore[abstract]  # methods made below
    raise StorageError(
        f"storage {mask_url(url)!r}: unknown scheme {scheme!r}{scheme_hint(scheme)}; allowed: a journal file path, "
        "postgresql://user@host:port/db, sqlite:///path.db, grpc://host:port"
    )


def broken_link(path: Path) -> str | None:
    """Why ``path``, a symbolic link or a path through one, cannot hold a journal: a loop of links, a link into a
    directory that does not exist (Optuna's open raised a bare ``OSError: Too many levels of symbolic links`` /
    ``FileNotFoundError``), or a folder of the path that is a link to a directory that does not exist (an unmounted
    share: "cannot make its directory lnk (File exists)"); None: there is no such link. A link to a file not made
    yet, in a directory that exists, is fine: the journal is created at its target."""
    for folder in path.parents:
        if folder.is_symlink() and (why := _link_fails(folder, folder.parent / os.readlink(folder), True)) is not None:
            return (
                f"is under {folder}, a symbolic link that {why}; point it at an existing directory, or remove it to "
                "have the folder made"
            )
    if not path.is_symlink() or path.exists():
        return None
    why = _link_fails(path, (path.parent / os.readlink(path)).parent)  # (an absolute link replaces the parent)
    if why is None:
        return None
    return f"is a symbolic link that {why}; point it at the study's journal file, or remove it to start a new one there"


def _link_fails(link: Path, home: Path, folder: bool = False) -> str | None:
    """How following the symbolic link ``link`` fails, with where it points: a loop of links, or ``home`` does not
    exist (the directory the link is, for a ``folder`` of the journal's path; else the one its file goes in). None:
    it does not fail."""
    try:
        os.stat(link)
    except FileNotFoundError:
        if home.is_dir():
            return None
        why = "points to a directory that does not exist"
        why = why if folder else f"points into a directory that does not exist ({home})"
    except OSError as exc:
        why = f"cannot be followed ({(exc.strerror or str(exc)).lower()})"
    else:  # made meanwhile
        return None
    return f"{why} (-> {os.readlink(link)})"


#: a database URL's scheme, with an optional SQLAlchemy driver (``postgresql+psycopg2``)
RDB_SCHEME = re.compile(r"^(postgresql|mysql|sqlite)(\+[A-Za-z0-9_]+)?$")


def scheme_hint(scheme: str) -> str:
    """A note for an unknown storage scheme that is a common misspelling of a known one: ``postgres``, or a known
    scheme in capitals (``SQLITE``: SQLAlchemy loads a dialect by its lower-case name)."""
    low = scheme.lower()
    if low in ("postgres", "postgres+psycopg2"):
        return " (PostgreSQL is spelled postgresql:// here, as SQLAlchemy wants)"
    if low != scheme and (low in ("grpc", "file") or RDB_SCHEME.match(low)):
        return f" (schemes are written in lower case here: {low}://)"
    return ""


def _journal_place(path: Path) -> None:
    """Make the journal's directory; refuse, in one line, a :func:`broken_link` or a directory that cannot be
    made (the commands check both before, :func:`search.preflight.check_storage_url`; this is for callers of
    :func:`open_storage` from Python)."""
    if (why := broken_link(path)) is not None:
        raise StorageError(f"journal file {path} {why} (nothing was created)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"journal file {path}: cannot make its directory {path.parent} ({exc.strerror or exc}); allowed: a path "
            "in a directory you can write"
        ) from None


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


def url_options(url: str) -> str:
    """The libpq ``options`` a PostgreSQL URL sets (``?options=-c search_path=s``; several joined), else
    ``$PGOPTIONS``, else ""."""
    from sqlalchemy.engine import make_url

    try:
        given = make_url(driver_url(url)).query.get("options")
    except Exception:
        return ""
    if given:
        return " ".join([given] if isinstance(given, str) else given)
    return os.environ.get("PGOPTIONS", "").strip()


def _rdb(url: str, pool: dict[str, int]) -> optuna.storages.RDBStorage:
    engine_kwargs: dict = {"pool_pre_ping": True}
    if _scheme(url).startswith("postgresql"):
        from search.pg_locks import watch

        watch()  # a statement waiting on another session's lock says so (search.pg_locks)
        # bounded connections per process (no "too many clients"), and a quick failure when unreachable
        # a worker suspended inside a transaction (Ctrl-Z, a paused VM) held its row locks for as long as it slept,
        # and every other worker's write to that trial waited on it, the stale-trial check among them: the server
        # ends such a session after the grace period (the suspended worker reconnects when it runs again)
        # the URL's own options (or $PGOPTIONS) after it: SQLAlchemy's connect_args replace the URL's, so ?options=-c
        # search_path=s was dropped here and kept by every other connection: the study was written to public, and
        # report looked in s and said "no study" (the stores13 probe)
        idle = " ".join(
            filter(None, [f"-c idle_in_transaction_session_timeout={GRACE_PERIOD * 1000}", url_options(url)])
        )
        engine_kwargs.update(
            pool, pool_recycle=300, pool_timeout=60, connect_args={"connect_timeout": 10, "options": idle}
        )
    if _scheme(url).startswith("sqlite"):
        from search.sqlite_file import check_sqlite  # here: search.sqlite_file imports this module

        try:
            check_sqlite(url)  # a damaged file: StorageError (make repair) before Optuna reads or writes it
        except OSError as exc:  # unreadable (permissions, a directory): one line, as Optuna's own error would be
            raise StorageError(describe(url, exc)) from None
    lost_since: float | None = None
    races = 0
    while True:
        try:
            with schema_lock(url) as locked, warnings.catch_warnings():
                foreign_schema(url, locked)
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat_interval
                return optuna.storages.RDBStorage(
                    driver_url(url), engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_INTERVAL, grace_period=GRACE_PERIOD,
                    heartbeat_stale_trial_callback=_requeue_stale,
                )  # fmt: skip
        except StorageError as exc:  # unreachable at the first connection (a wrong URL, no server): one line at once
            # once the server has answered, a connection refused on a retry is the same outage (a restart, a database
            # closed to connections a moment): it ended the worker right after "retrying for up to 60 s" (faults10)
            if lost_since is None or not getattr(exc, "transient", False):
                raise
            if time.monotonic() - lost_since > RETRY_SECONDS:
                raise StorageError(
                    f"{exc} (the server was lost for {RETRY_SECONDS:.0f} s while the study opened)"
                ) from None
            time.sleep(1.0)
        except Exception as exc:
            if creation_race(exc) and races < 5:  # another process stamped the new schema first: it is there now
                races += 1
                time.sleep(0.2 * races)
                continue
            # the server answered a moment ago (the schema lock is taken first): a connection lost while the
            # schema is read or created is retried, as every later storage call is (it exited at once, leaving a
            # schema half created for the next run to finish)
            now = time.monotonic()
            if not transient(exc) or (lost_since is not None and now - lost_since > RETRY_SECONDS):
                # (a schema Optuna refuses is no lost connection: a server lost for RETRY_SECONDS is not asked again)
                raise StorageError((None if transient(exc) else schema_refused(url)) or describe(url, exc)) from None
            if lost_since is None:
                lost_since = now
                first = scrub(_first_line(exc), url)
                what = ("no free connection" if TOO_MANY_CLIENTS.search(first) else LOCKED if SQLITE_LOCKED in first
                        else "a statement cancelled by the server's timeout setting while opening it"
                        if PG_TIMEOUT.search(first) else "connection lost while opening it")  # fmt: skip
                print(f"storage {mask_url(url)}: {what} ({first}); retrying for up to {RETRY_SECONDS:.0f} s",
                      file=sys.stderr, flush=True)  # fmt: skip
            time.sleep(1.0)


def creation_race(exc: BaseException) -> bool:
    """Whether ``exc`` is Optuna's schema creation losing a race: two processes opened one new store at once (two
    ``make worker`` on a new SQLite file, where no advisory lock serializes them), both found no schema revision,
    and the second one's stamp of ``alembic_version`` (or ``version_info``) hit the first one's row. It ended the
    second command with ``cannot open storage ...: UNIQUE constraint failed: alembic_version.version_num`` (the
    faults5 probe: 1 to 2 of 3 processes started together on a new file), or one's ``CREATE TABLE`` the other's table
    (retried already, but announced as "connection lost while opening it"); opened again, the schema is there."""
    return any(
        (type(e).__name__ == "IntegrityError" and re.search(r"alembic_version|version_info", str(e)) is not None)
        or (type(e).__name__ == "OperationalError" and re.search(r"(table|index) \S+ already exists", str(e)))
        for e in chain(exc)
    )


def foreign_schema(url: str, conn: Any = None) -> None:
    """Refuse a database that holds another application's schema where Optuna's goes: an ``alembic_version`` table
    without Optuna's ``version_info`` (another application's migrations), or a ``studies`` table without a
    ``study_id`` column. Optuna created its eleven tables beside the other application's and then called its
    schema "no longer compatible" with itself, advising ``pip install -U optuna``; a foreign ``studies`` table
    failed in a foreign-key error. Nothing is created here. ``conn``: a connection to the database already open
    (:func:`schema_lock`'s on PostgreSQL); else one is opened for the look."""
    import sqlalchemy
    from optuna.storages._rdb import models

    def look(c: Any) -> tuple[set[str], dict[str, set[str]], str | None]:
        inspector = sqlalchemy.inspect(c)
        names = set(inspector.get_table_names())
        ours = {t.name for t in models.BaseModel.metadata.sorted_tables} & names
        columns = {name: {col["name"] for col in inspector.get_columns(name)} for name in ours}
        revision = None
        if "alembic_version" in names:
            row = c.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).first()
            revision = row[0] if row is not None else None
        return names, columns, revision

    try:
        if conn is not None:
            tables, columns, revision = look(conn)
        else:
            engine = sqlalchemy.create_engine(driver_url(url), poolclass=sqlalchemy.pool.NullPool)
            try:
                with engine.connect() as own:
                    tables, columns, revision = look(own)
            finally:
                engine.dispose()
    except Exception as exc:  # unreachable, no permission to look: Optuna's own open says why
        if conn is not None and transient(exc):  # the schema lock's connection lost (the look now reads
            raise  # alembic_version, where an open waits on a lock): the open's retry takes a new lock and says so
        return
    studies = columns.get("studies")
    if "alembic_version" in tables and "version_info" not in tables:
        why = "an alembic_version table of its own migrations, and no Optuna schema"
    elif studies is not None and "study_id" not in studies:
        why = f"a table 'studies' that is not Optuna's (columns: {', '.join(sorted(studies))})"
    else:
        _columns_missing(url, columns, revision)
        return
    raise StorageError(f"{mask_url(url)} ({where(url)}) holds another application's tables: {why}. regtune (Optuna) "
                       "would write its own tables into that database; give it a database of its own (PostgreSQL: "
                       "createdb regtune, then STORAGE=postgresql://USER@HOST/regtune)")  # fmt: skip


def _columns_missing(url: str, columns: dict[str, set[str]], revision: str | None) -> None:
    """Refuse Optuna tables that lack columns this Optuna reads, where no older schema revision says why (no
    ``alembic_version`` row, or this Optuna's own: a revision record lost or emptied, a schema made or altered by
    hand). Optuna stamped such a database as its own, regtune created the study and enqueued its baseline, and the
    first read failed (``column trial_values.value_type does not exist ... make repair``): a half-made study in a
    store it could not use (the faults5 probe). An older revision is :func:`schema_refused`'s (upgrade it)."""
    from optuna.storages._rdb import models

    missing = {
        t.name: sorted(lacks)
        for t in models.BaseModel.metadata.sorted_tables
        if t.name in columns and (lacks := set(t.columns.keys()) - columns[t.name])
    }
    if not missing:
        return
    if revision is not None:
        try:
            head, _ = optuna_revisions()
        except Exception:
            return
        if revision != head:  # an older (or newer) revision: Optuna refuses it, schema_refused says how to upgrade
            return
    said = "; ".join(f"{table} lacks {', '.join(cols)}" for table, cols in missing.items())
    stamp = f"says revision {revision}" if revision is not None else "has no schema revision (alembic_version)"
    raise StorageError(
        f"cannot open storage {mask_url(url)} ({where(url)}): its Optuna tables are not the ones this regtune's "
        f"Optuna {optuna.__version__} reads ({said}), and the store {stamp}: an older schema whose revision record "
        "was lost, or tables made or altered by hand; nothing was written. Restore a backup copy, or give regtune "
        "a store of its own"
    )


def read_only_server(url: str) -> str | None:
    """Why a PostgreSQL database runs every transaction read-only, as its server tells it: a replica (hot standby),
    or ``default_transaction_read_only`` on for the database or role (then what resets it); None when it does
    not, or cannot be told. Such a write failure was blamed on the role, with GRANT INSERT ... as the remedy,
    which changes nothing (the faults9 probe)."""
    if not _scheme(url).startswith("postgresql"):
        return None
    try:
        setting, standby = _query_once(
            url, "SELECT current_setting('default_transaction_read_only'), pg_is_in_recovery()"
        )
    except Exception:
        return None
    db = urlsplit(url).path.lstrip("/") or "?"
    if standby:
        return "the server is a replica (hot standby: pg_is_in_recovery() is true): give the primary server's URL"
    if str(setting).lower() == "on":
        return (f"default_transaction_read_only is on for database {db} (or the role, or the server): reset it "
                f"(ALTER DATABASE {db} RESET default_transaction_read_only; ALTER ROLE <user> RESET "
                "default_transaction_read_only)")  # fmt: skip
    return None


@contextlib.contextmanager
def schema_lock(url: str) -> Iterator[Any]:
    """Hold a PostgreSQL advisory lock (a no-op elsewhere): creating the schema, or a study and its enqueued
    starting points, happens once however many workers start at the same moment. Yields the connection that holds
    it (None elsewhere)."""
    if not _scheme(url).startswith("postgresql"):
        yield None
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(  # named: a worker waiting for the lock says which process holds it
        driver_url(url), connect_args={"connect_timeout": 10, "application_name": lock_holder_name()},
        poolclass=sqlalchemy.pool.NullPool,
    )  # fmt: skip
    try:
        try:
            conn = engine.connect()  # a wrong URL, a server that is not there: one line now, as before
        except Exception as exc:
            refused = StorageError(describe(url, exc))
            # (_rdb retries it once the server has answered: an outage, not a wrong password or a dropped database)
            refused.transient = transient(exc) and not NOT_AN_OUTAGE.search(str(exc))  # type: ignore[attr-defined]
            raise refused from None
        conn = _take_lock(url, engine, conn)
        try:
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.execute(sqlalchemy.text(f"SELECT pg_advisory_unlock({SCHEMA_LOCK})"))
            with contextlib.suppress(Exception):
                conn.close()
    finally:
        engine.dispose()


#: a connection refused for what no wait mends (review10): retried as an outage, it waited 60 s, then blamed one
NOT_AN_OUTAGE = re.compile(r"password authentication failed|does not exist|no pg_hba\.conf entry|permission denied")
LOCK_NOTE_SECONDS = 10.0  # waiting longer than this for the schema lock prints one note
LOCK_REPEAT_SECONDS = 60.0  # and again this often while the wait lasts


def lock_holder_name() -> str:
    """The PostgreSQL ``application_name`` of a schema-lock session: ``regtune <host> pid <pid>`` (at most 63 bytes,
    the server's limit), so a worker that waits for the lock can name the process holding it."""
    import socket

    return f"regtune {socket.gethostname()[:32]} pid {os.getpid()}"


def schema_lock_holder(conn: Any) -> tuple[int, str] | None:
    """The server pid of the session holding the schema lock and what the server says of it (``pid 123, 'regtune
    host pid 45', idle for 80 s``); None when it cannot be told (the lock was just released)."""
    import sqlalchemy

    row = conn.execute(sqlalchemy.text(
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''), "
        "extract(epoch FROM now() - a.state_change) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :key AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
        {"key": SCHEMA_LOCK}).first()  # fmt: skip
    conn.commit()
    if row is None:
        return None
    pid, app, state, since = row
    who = repr(app) if app else "a session that gave no application_name"
    since = "" if since is None else f" for {float(since):.0f} s"
    return int(pid), f"pid {pid}, {who}, {state or 'state unknown'}{since}"


def lock_blocker(conn: Any) -> tuple[int, str] | None:
    """A session of this database that another one waits behind for a lock (not an advisory lock: the schema lock's
    own waiters poll, they do not wait), as ``(pid, "pid 123, 'app', last query: '...'")``; None when no session
    waits on a lock. A schema-lock holder that is itself waiting on a table lock (a psql session's LOCK TABLE) was
    called suspended, and its own pid given to terminate (the faults10 probe)."""
    import sqlalchemy

    row = conn.execute(sqlalchemy.text(
        "SELECT b.pid, coalesce(b.application_name, ''), left(coalesce(b.query, ''), 80) FROM pg_stat_activity w "
        "CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS blocking(pid) JOIN pg_stat_activity b ON "
        "b.pid = blocking.pid WHERE w.datname = current_database() AND w.wait_event_type = 'Lock' "
        "AND w.pid <> pg_backend_pid() ORDER BY b.backend_start LIMIT 1")).first()  # fmt: skip
    conn.commit()
    if row is None:
        return None
    pid, app, query = row
    who = repr(app) if app else "a session that gave no application_name"
    return int(pid), f"pid {pid}, {who}, last query: {query!r}"


def _take_lock(url: str, engine: Any, conn: Any) -> Any:
    """Take the schema lock on ``conn`` (polled: a wait says so once, after :data:`LOCK_NOTE_SECONDS`); a
    connection lost while waiting (a server restart, a dropped network) is replaced and the wait goes on for up to
    :data:`RETRY_SECONDS`, as every other storage call's (the worker exited at once with "cannot open storage").
    The connection that holds the lock."""
    import sqlalchemy

    start = time.monotonic()
    lost_since: float | None = None
    noted: float | None = None  # when the wait was last said
    while True:
        try:
            if conn is None:
                conn = engine.connect()
            got = conn.execute(sqlalchemy.text(f"SELECT pg_try_advisory_lock({SCHEMA_LOCK})")).scalar()
            conn.commit()
            lost_since = None
            if got:
                return conn
        except Exception as exc:
            if not transient(exc):
                raise StorageError(describe(url, exc)) from None
            lost_since = lost_since or time.monotonic()
            if time.monotonic() - lost_since > RETRY_SECONDS:
                raise StorageError(f"lost the storage {mask_url(url)} ({where(url)}) for {RETRY_SECONDS:g} s while "
                                   f"waiting for the schema lock: {scrub(_first_line(exc), url)}") from None  # fmt: skip
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            conn = None
        now = time.monotonic()
        if now - start > LOCK_NOTE_SECONDS and (noted is None or now - noted > LOCK_REPEAT_SECONDS):
            # said again while it lasts, naming the holder: a worker suspended (Ctrl-Z, a paused machine) while it
            # held the lock kept every other worker of the database waiting for ever behind one anonymous note
            noted = now  # (the faults7 probe)
            holder = None
            try:
                holder = schema_lock_holder(conn) if conn is not None else None
            except Exception:  # a note without its holder: the failed transaction must not end the wait (the
                with contextlib.suppress(Exception):  # next pg_try_advisory_lock raised InFailedSqlTransaction,
                    conn.rollback()  # not a transient error: review7)
            blocker = None
            if holder:
                try:
                    blocker = lock_blocker(conn)
                except Exception:
                    with contextlib.suppress(Exception):
                        conn.rollback()
            if holder and blocker:  # the holder may be waiting behind it: its pid was given to terminate (faults10)
                held = (f"; held by PostgreSQL {holder[1]}, and a session here waits on a lock held by {blocker[1]}: "
                        "the holder is likely waiting behind it (a regtune process holds the schema lock only while it "
                        f"creates or checks a study): end that transaction (SELECT pg_terminate_backend({blocker[0]})) "
                        f"before the holder's")  # fmt: skip
            else:
                held = (f"; held by PostgreSQL {holder[1]}: a regtune process holds it only while it creates or checks "
                        "a study, so one holding it this long is suspended (Ctrl-Z, a paused machine) or stuck: resume "
                        f"or stop it, or end its session (SELECT pg_terminate_backend({holder[0]}))" if holder else "")  # fmt: skip
            print(f"note: waiting for the schema lock on {mask_url(url)} ({where(url)}) for {now - start:.0f} s: "
                  f"another process is creating the schema or a study there{held}", file=sys.stderr, flush=True)  # fmt: skip
        time.sleep(0.25)


def optuna_revisions() -> tuple[str | None, set[str]]:
    """The installed Optuna's schema revision (its alembic head) and every revision it knows."""
    from alembic.script import ScriptDirectory
    from optuna.storages import _rdb

    script = ScriptDirectory(str(Path(_rdb.__file__).parent / "alembic"))
    return script.get_current_head(), {r.revision for r in script.walk_revisions()}


def schema_refused(url: str) -> str | None:
    """One line for a store whose Optuna schema revision (``alembic_version``) is not the one the installed Optuna
    uses, which Optuna refuses to open: the revision found, this Optuna's, and the remedy (an older one: a backup,
    then ``optuna storage upgrade`` with the URL filled in; an unknown, newer one: the regtune version that made
    it). Optuna's own line said the schema was "set up by" its own version (it reads ``version_info``, not the
    revision) and advised ``pip install -U optuna``, which leaves constraints.txt's pins. None: the revision is this
    Optuna's, or cannot be read (the caller's line stands)."""
    try:
        found = _query_once(url, "SELECT version_num FROM alembic_version")[0]  # (no row: raises, None returned)
        head, known = optuna_revisions()
    except Exception:
        return None
    if found is None or found == head:
        return None
    masked = mask_url(url)
    ours = f"{head}, the one this regtune's Optuna {optuna.__version__} uses"
    start = f"cannot open storage {masked} ({where(url)}): its Optuna schema is at revision {found}"
    if found in known:
        password = " (with the password in place of ***)" if masked != url else ""
        return (
            f"{start}, older than {ours}; back it up ({_backup_hint(url)}), then run: .venv/bin/optuna storage "
            f"upgrade --storage {shlex.quote(masked)}{password}"
        )
    return (
        f"{start}, which this regtune's Optuna does not know (a newer Optuna made it; not {ours}): open it with the "
        "regtune version (and its Optuna) that created it, or give this one a database of its own"
    )


def _backup_hint(url: str) -> str:
    """How to back up the store at ``url`` before its schema is upgraded."""
    scheme = _scheme(url)
    if scheme.startswith("sqlite"):
        from search.sqlite_file import sqlite_path  # here: search.sqlite_file imports this module

        path = sqlite_path(url)  # (without a ?query: "copy 'x.db?timeout=5' aside" named no file)
        return f"copy {shlex.quote(str(path))} aside" if path is not None else "a copy of the file"
    if not scheme.startswith("postgresql"):
        return "mysqldump" if scheme.startswith("mysql") else "a dump of the database"
    parts = urlsplit(url)
    db = parts.path.lstrip("/") or "DB"
    options = [f"-h {parts.hostname}"] if parts.hostname else []
    with contextlib.suppress(ValueError):
        options += [f"-p {parts.port}"] if parts.port else []
    options += [f"-U {shlex.quote(unquote(parts.username))}"] if parts.username else []
    return " ".join(["pg_dump -Fc", *options, f"-f {shlex.quote(db + '.dump')}", shlex.quote(db)])


#: PostgreSQL's words when every connection it allows is taken: nothing is lost, the server refuses one more.
#: "too many clients" once every slot is taken; a role without SUPERUSER meets the reserved slots first:
#: "remaining connection slots are reserved for roles with the SUPERUSER attribute" (16 and later; "... for
#: non-replication superuser connections" before), the review
TOO_MANY_CLIENTS = re.compile(r"too many clients|remaining connection slots are reserved", re.IGNORECASE)
#: what to do about it (the faults3 probe: a third worker waited 55 s on "connection lost while opening it")
FULL_SERVER_HINT = (
    "the server's max_connections are all taken: raise max_connections, start fewer workers, or serve them "
    'through `make proxy` (README, "How many connections")'
)


#: SQLite's words when another connection holds a write transaction on the file
SQLITE_LOCKED = "database is locked"
#: what that is, where it was called "unreachable", "connection lost" and "lost the storage" (the faults probe)
LOCKED = "locked by another process (a write transaction left open: another regtune, a sqlite3 shell, a backup tool)"


#: PostgreSQL's words when its statement_timeout (or lock_timeout) cancels a statement (psycopg's QueryCanceled, an
#: OperationalError to SQLAlchemy): it was "connection lost while opening it", then the bare words (faults9)
PG_TIMEOUT = re.compile(r"canceling statement due to (statement|lock) timeout", re.IGNORECASE)


def timeout_hint(url: str, first: str) -> str:
    """``; <what>`` for a statement the server cancelled by its statement_timeout or lock_timeout (``first``: the
    error's first line): the setting, its value where the server still tells it, the database and what to do; ""
    for any other error."""
    m = PG_TIMEOUT.search(first)
    if m is None:
        return ""
    setting = f"{m[1].lower()}_timeout"
    db = urlsplit(url).path.lstrip("/") or "?"
    try:
        value = f" = {_query_once(url, f'SHOW {setting}')[0]}"
    except Exception:
        value = ""
    options = url_options(url)
    if re.search(rf"(?:-c\s*|--){setting}\s*=", options):  # the URL set it: ALTER DATABASE ... RESET changed nothing
        source = "the storage URL's options" if options != os.environ.get("PGOPTIONS", "").strip() else "$PGOPTIONS"
        return (f"; the {setting}{value} that {source} ({options}) set cancelled the statement: raise it there, or "
                "drop it")  # fmt: skip
    return (f"; the server's {setting}{value} (set for database {db}, the role, or the server) cancelled the "
            f"statement: raise or reset it (ALTER DATABASE {db} RESET {setting}; ALTER ROLE <user> RESET {setting})")  # fmt: skip


def describe(url: str, exc: BaseException) -> str:
    """One line: which storage (password masked), where (host, port, database) and the server's first words (with
    :data:`FULL_SERVER_HINT` where it has no free connection, :func:`timeout_hint` where a timeout setting cancelled
    the statement)."""
    first = scrub(_first_line(exc), url)
    hint = (
        f"; {FULL_SERVER_HINT}" if TOO_MANY_CLIENTS.search(first) else f"; {LOCKED}" if SQLITE_LOCKED in first else ""
    ) or timeout_hint(url, first)
    if not hint and "read-only transaction" in first and (why := read_only_server(url)) is not None:
        hint = f"; {why}"  # (a new database, whose schema cannot be created)
    return f"cannot open storage {mask_url(url)} ({where(url)}): {first}{hint}"
