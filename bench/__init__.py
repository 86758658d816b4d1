"""Benchmarks run by ``make bench`` (``python -m bench``); each module's ``main()`` prints and returns a table."""
