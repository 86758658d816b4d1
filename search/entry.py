"""Where the command line starts, for ``python -m search`` and the ``regtune`` console command alike: SIGTERM and
SIGHUP while the libraries load (optuna, about a second) are one line and the shell's exit code, not a silent exit
(the faults9 probe: `kill` in the first 2.5 s of `python -m search study` ended it without a word; the ``regtune``
command started without these handlers: review9). The default handlers come back before the command runs, which
installs its own (:func:`search.cli.main`). Imports only the standard library and :mod:`search.interrupts` first."""

from __future__ import annotations

import signal
import sys

from search.interrupts import Interrupted, install, interrupted_while_starting


def run(prog: str = "python -m search") -> int:
    """The command line of ``sys.argv`` named ``prog``; its exit code."""
    early = (signal.SIGTERM, signal.SIGHUP)
    before = {sig: signal.getsignal(sig) for sig in early}
    install(early)  # (a SIGHUP that nohup ignores stays ignored)
    try:
        from search.cli import closed_pipe, main
    except (KeyboardInterrupt, Interrupted) as exc:  # Ctrl-C or a signal while optuna loads: no traceback
        return interrupted_while_starting(exc)
    for sig, handler in before.items():
        signal.signal(sig, handler)
    return closed_pipe(main, prog=prog)


def console() -> None:
    """The ``regtune`` console command (``[project.scripts]``)."""
    sys.exit(run(prog="regtune"))
