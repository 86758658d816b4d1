"""Benchmarks run by ``make bench`` (``python -m bench``); each module's ``main()`` prints and returns a table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_result(path: Path, payload: Any, **dump: Any) -> None:
    """Write a benchmark's results as JSON (``dump``: extra ``json.dumps`` arguments) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, **{"indent": 2, **dump}) + "\n")
    print(f"wrote {path}")
