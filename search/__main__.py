import signal
import sys

from search.interrupts import Interrupted, install, interrupted_while_starting  # (the standard library only)

# SIGTERM and SIGHUP while optuna (and the rest) load: one line and the shell's code, not a silent exit (the faults9
# probe: `kill` in the first 2.5 s of `python -m search study` ended it without a word); the default handlers come
# back before the command runs, which installs its own (search.cli.main)
_EARLY = (signal.SIGTERM, signal.SIGHUP)
_BEFORE = {sig: signal.getsignal(sig) for sig in _EARLY}
install(_EARLY)  # (a SIGHUP that nohup ignores stays ignored)
try:
    from search.cli import closed_pipe, main
except (KeyboardInterrupt, Interrupted) as exc:  # Ctrl-C or a signal while optuna loads: no traceback
    sys.exit(interrupted_while_starting(exc))
for _sig, _handler in _BEFORE.items():
    signal.signal(_sig, _handler)

sys.exit(closed_pipe(main))
