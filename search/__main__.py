import signal
import sys

from search.interrupts import Interrupted, install  # the standard library only: in place before the libraries load

# SIGTERM and SIGHUP while optuna (and the rest) load: one line and the shell's code, not a silent exit (the faults9
# probe: `kill` in the first 2.5 s of `python -m search study` ended it without a word); the default handlers come
# back before the command runs, which installs its own (search.cli.main)
_EARLY = (signal.SIGTERM, signal.SIGHUP)
_BEFORE = {sig: signal.getsignal(sig) for sig in _EARLY}
install(_EARLY)  # (a SIGHUP that nohup ignores stays ignored)
try:
    from search.cli import closed_pipe, main
except (KeyboardInterrupt, Interrupted) as exc:  # Ctrl-C or a signal while optuna loads: no traceback
    signum = getattr(exc, "signum", int(signal.SIGINT))
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    print(f"\ninterrupted ({name}) while starting: nothing was stored", file=sys.stderr)
    sys.exit(128 + signum)
for _sig, _handler in _BEFORE.items():
    signal.signal(_sig, _handler)

sys.exit(closed_pipe(main))
