"""Processes of this machine by pid: whether one still runs (its start time tells a reused pid apart), its state,
and this process's pid namespace. Apart from :mod:`search.worker` (which imports the training stack) so that
``repair``, ``report`` and the command line ask it without importing torch."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

#: set in each worker process `study --workers N` starts (its index): the process the user started speaks for them
WORKER_INDEX_ENV = "REGTUNE_WORKER_INDEX"


def started_by_study() -> bool:
    """Whether this process is one of the worker processes ``study --workers N`` started (:data:`WORKER_INDEX_ENV`):
    its notes and interrupt lines are its parent's to say (they were said N + 1 times)."""
    return os.environ.get(WORKER_INDEX_ENV) is not None


def say(note: str) -> None:
    """A note on stderr, from the process the user started (the worker processes it starts stay quiet)."""
    if not started_by_study():
        print(note, file=sys.stderr, flush=True)


def proc_stat(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (its state first: field 3 of proc(5)); [] where
    there is none (no such process, not Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def process_start(pid: int) -> str:
    fields = proc_stat(pid)
    return fields[19] if len(fields) > 19 else ""


def alive(pid: int, start: str) -> bool:
    """Whether process ``pid`` runs (``start``: its start time as /proc records it; "": any process of the pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not start or process_start(pid) in ("", start)


def remove_if_dead(folder: Path, pid: str) -> None:
    """Remove ``folder``, which process ``pid`` (this machine's, as text from the folder's name) left, if that
    process is gone: what a SIGKILL left behind (a report's partial folder, a trial's temporary checkpoints)."""
    if pid.isdigit() and int(pid) != os.getpid() and not alive(int(pid), ""):
        shutil.rmtree(folder, ignore_errors=True)


def pid_space() -> str:
    """This process's boot and pid namespace (``<boot id>/<namespace inode>``): where its pid means this process."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    try:
        return f"{boot}/{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return f"{boot}/"
