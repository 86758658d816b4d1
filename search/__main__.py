import sys

try:
    from search.cli import closed_pipe, main
except KeyboardInterrupt:  # Ctrl-C while optuna loads: one line, the shell's code, no traceback
    print("\ninterrupted (Ctrl-C) while starting: nothing was stored", file=sys.stderr)
    sys.exit(130)

sys.exit(closed_pipe(main))
