"""Ctrl-C, SIGTERM and SIGHUP as an exception the worker sees (apart from the worker: the command line installs
the handler without importing torch)."""

from __future__ import annotations

import signal
from typing import Any


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM. Not a KeyboardInterrupt: Lightning swallows those into ``sys.exit(1)`` and would
    leave the trial RUNNING; this one reaches the worker, which closes and re-queues the trial. ``signum`` is the
    signal that stopped it (the exit code is 128 + signum)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(f"signal {int(signum)}")
        self.signum = int(signum)


def raise_interrupted(signum: int, frame: Any) -> None:
    """A signal handler: Ctrl-C / SIGTERM / SIGHUP become :class:`Interrupted`."""
    raise Interrupted(signum)
