"""A text file written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` beside it (a hidden temporary name), flushed to disk, then renamed over it: a full
    disk, a Ctrl-C or a kill mid-write leaves the previous file as it was and no temporary behind. ``write_text``
    truncates first: a full disk left half a JSON file of earlier benchmark results, and a half comparison page
    (the stores12 probe)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
