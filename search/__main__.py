import sys

from search.entry import run  # the standard library and search.interrupts only: see search.entry

sys.exit(run())
