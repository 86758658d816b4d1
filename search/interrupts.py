"""Ctrl-C, SIGTERM and SIGHUP as an exception the worker sees (apart from the worker: the command line installs
the handler without importing torch)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from search.processes import started_by_study


class Interrupted(BaseException):
    """Ctrl-C, SIGTERM or SIGHUP. Not a KeyboardInterrupt: Lightning swallows those into ``sys.exit(1)`` and would
    leave the trial RUNNING; this one reaches the worker, which closes and re-queues the trial. ``signum`` is the
    signal that stopped it (the exit code is 128 + signum)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(f"signal {int(signum)}")
        self.signum = int(signum)
        self.verdict = False  # True when it stopped the final retraining (no trial was running)


def stopped_by(exc: BaseException) -> tuple[int, str]:
    """The signal an :class:`Interrupted` (or a KeyboardInterrupt: Ctrl-C) carries, and its name as regtune's lines
    say it: ``(2, "Ctrl-C")``, ``(15, "SIGTERM")``, ``(1, "SIGHUP")``."""
    signum = getattr(exc, "signum", int(signal.SIGINT))
    return signum, "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def interrupted_while_starting(exc: BaseException) -> int:
    """A signal while the libraries load (before a command's own handlers, or its store, exist): one line and the
    shell's exit code for it (130, 143, 129)."""
    signum, name = stopped_by(exc)
    if not started_by_study():  # a worker of `study --workers N`: its parent says it (review9)
        print(f"\ninterrupted ({name}) while starting: nothing was stored", file=sys.stderr, flush=True)
    return 128 + signum


_pending: int | None = None  # the last signal raise_interrupted turned into Interrupted in this process


def raise_interrupted(signum: int, frame: Any) -> None:
    """A signal handler: Ctrl-C / SIGTERM / SIGHUP become :class:`Interrupted` (and the signal is remembered).
    SIGHUP is a terminal that went away (a closed window, a dropped ssh session): what is still written to it
    fails (EIO) in the middle of re-queueing the running trial, so stdout and stderr that were a terminal when the
    handlers were installed (:func:`install`; the hung-up terminal no longer reads as one) are pointed at
    /dev/null first (a log file they were redirected to keeps its lines)."""
    global _pending
    _pending = int(signum)
    if signum == signal.SIGHUP:
        _leave_terminal()
    raise Interrupted(signum)


_terminals: tuple[int, ...] = ()  # stdout / stderr when they were a terminal at install()


def install(signals: tuple[int, ...]) -> None:
    """Make ``signals`` raise :class:`Interrupted` (the main thread only). A SIGHUP that is ignored is left ignored:
    ``nohup make study &`` is meant to outlive the terminal."""

    global _terminals
    _terminals = tuple(fd for fd in (1, 2) if os.isatty(fd))
    for sig in signals:
        if sig == signal.SIGHUP and signal.getsignal(sig) is signal.SIG_IGN:
            continue
        signal.signal(sig, raise_interrupted)


class Held:
    """The signal :func:`held_signals` held (None: none came)."""

    signum: int | None = None


@contextlib.contextmanager
def held_signals() -> Iterator[Held]:
    """Within: a Ctrl-C / SIGTERM / SIGHUP that would raise :class:`Interrupted` is held instead (its number in the
    :class:`Held` yielded) and a second one raises at once (a storage that retries for minutes must not make Ctrl-C
    wait). For a step that must finish to be undone: Optuna's ``study.ask()`` stores the trial RUNNING before it
    returns it, and an interrupt between the two left a trial no worker knew of (re-queued 160 s later). A held
    signal is not lost to an error the step ends with (a storage lost for its 60 s of retries): it is raised in the
    error's place, as it would have been when it came (the stop was reported as the lost storage, exit 2, and a
    trial array's members asked before it were failed as crashes: the review12 probe). The main thread only;
    elsewhere nothing is held."""
    held = Held()
    if threading.current_thread() is not threading.main_thread():
        yield held
        return

    def hold(signum: int, frame: Any) -> None:
        global _pending
        if held.signum is not None:
            raise_interrupted(signum, frame)
        held.signum = _pending = int(signum)  # (an error meanwhile is the interrupt: interrupt_behind)

    sigs = [s for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) if signal.getsignal(s) is raise_interrupted]
    for sig in sigs:
        signal.signal(sig, hold)
    try:
        yield held
    except Exception:
        if held.signum is None:
            raise
        raise_held(held)  # (the error stays its context)
    finally:
        for sig in sigs:
            signal.signal(sig, raise_interrupted)


def raise_held(held: Held) -> None:
    """Raise the signal ``held`` holds, as :func:`raise_interrupted` would have when it came (nothing if none)."""
    if held.signum is not None:
        raise_interrupted(held.signum, None)


def _leave_terminal() -> None:

    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        for fd in _terminals:
            os.dup2(null, fd)
        os.close(null)


def reset() -> None:
    """Forget a handled signal (a worker starting in a process that was interrupted before: a notebook)."""
    global _pending
    _pending = None


def interrupt_behind(exc: BaseException) -> Interrupted | None:
    """The interrupt behind ``exc``, if a signal was handled since :func:`reset`, else None.

    A signal landing inside a database driver's call does not always surface as :class:`Interrupted`: the driver
    may turn it into its own error, or the call it cut short leaves the connection mid-protocol and the next call
    fails (seen with PostgreSQL: Ctrl-C during a commit became Optuna's ``StorageInternalError``, the trial was
    failed as a crash and the worker went on to finish the study). So once a signal was handled, any error is the
    interrupt: the trial is re-queued and the process stops as for Ctrl-C."""
    if isinstance(exc, Interrupted):
        return exc
    return Interrupted(_pending) if _pending is not None else None


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Within: SIGINT and SIGTERM raise :class:`Interrupted` (on the main thread; elsewhere nothing changes), the
    previous handlers back after, and a signal handled within forgotten. Lightning turns a KeyboardInterrupt in a
    fit into ``SystemExit(1)``: a notebook's Ctrl-C during the verdict's refits ended that way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reset()
    handlers = {sig: signal.signal(sig, raise_interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        reset()  # a handled signal belongs to this run: a later one in this process starts clean
