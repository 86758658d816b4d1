"""Benchmarks run by ``make bench`` (``python -m bench``); each module's ``main()`` prints and returns a table."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: the checkout these modules belong to (its ``studies/`` hold the study files the benchmarks copy)
CHECKOUT = Path(__file__).resolve().parents[1]


def shipped(name: str) -> Path:
    """A file of this checkout, ``name`` relative to its root: as written when the working directory is the root
    (``make bench``: the paths in the results stay short), else the checkout's own, wherever the benchmark runs."""
    here = Path(name)
    return here if here.resolve() == CHECKOUT / name else CHECKOUT / name


def child_env(env: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """``env`` (default ``os.environ``) for a benchmark's child process, this checkout first on ``PYTHONPATH``: its
    ``python -m bench.x`` and ``search`` imports are this checkout's from any working directory (``bench`` is not
    installed, and the editable install may point at another checkout); ``extra`` set on top."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CHECKOUT), env.get("PYTHONPATH", "")) if p)
    return {**env, **extra}


def write_result(path: Path, payload: Any, **dump: Any) -> None:
    """Write a benchmark's results as JSON (``dump``: extra ``json.dumps`` arguments) and say where. Whole or not at
    all: written beside and renamed over ``path``, so a full disk, a Ctrl-C or a kill mid-write leaves the previous
    results as they were (``path.write_text`` truncated them first: a full disk left half a JSON file, and
    ``bench.quality --keep-rows``, which carries every earlier run's rows in that file, lost them all and then failed
    on the half file: the stores12 probe)."""
    from search.whole_file import write_whole

    path.parent.mkdir(parents=True, exist_ok=True)
    write_whole(path, json.dumps(payload, **{"indent": 2, **dump}) + "\n")
    print(f"wrote {path}")


def seeded_study(path: Path, journal: Path, trials: int) -> list[str]:
    """The command that runs the study file ``path`` to ``trials`` finished trials in one process with the study's
    own sampler seed, without the verdict (``search.api.run_study``). ``python -m search worker`` draws a random
    seed offset (so that workers never propose the same points): two runs of it search different trajectories,
    whose trial lengths differ with pruning, and a speed ratio between them then measures that difference too."""
    code = (
        "from search.api import run_study; "
        f"run_study({str(path)!r}, storage={str(journal)!r}, trials={trials}, verdict=False, progress=False)"
    )
    return [sys.executable, "-c", code]


def free_port() -> int:
    """A TCP port nobody listens on right now (for a gRPC proxy the benchmark starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until the gRPC proxy ``proc`` listens on ``port``; raise if it exits or does not within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the gRPC proxy exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the gRPC proxy did not listen on port {port} within {timeout} s")
