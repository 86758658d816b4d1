"""Storage throughput: ask/tell of empty trials per second with 1, 2, 4 and 8 concurrent client processes,
straight to PostgreSQL and through Optuna's gRPC storage proxy (``python -m search proxy``).

Every client is a separate (forked) process that opens its own storage the way a worker does (:func:`search.storage.open_storage`:
Optuna's cache, the retrying wrapper, a bounded pool), loads one shared study, then, from a common start instant,
loops ``trial = study.ask(); study.tell(trial, 0.0)`` for a fixed time. A cell reports the finished trials per
second over all its clients (counted from the moment all of them are connected) and the mean ask+tell latency. The study keeps growing from cell to cell (as a real
study does); the cells run in order 1, 2, 4, 8 clients, direct then proxy.

Needs the local PostgreSQL (``postgresql://postgres@127.0.0.1:5432``, or ``REGTUNE_BENCH_PG``: a server URL whose
user may create databases); it works in a fresh database it drops at the end. Results go to
``runs/bench/storage_throughput.json``. The clients, the proxy and PostgreSQL share this machine's cores, so with
8 clients on 2 cores the numbers say how the storage degrades under contention, not how it scales.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import child_env, free_port, wait_port, write_result

OUT = Path("runs/bench/storage_throughput.json")
SERVER = os.environ.get("REGTUNE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CLIENTS = (1, 2, 4, 8)
STUDY = "storage-throughput"


def _client(url: str, seconds: float, ready: Any, go: Any, start: Any, results: Any) -> None:
    import optuna

    from search.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=STUDY, storage=open_storage(url), sampler=optuna.samplers.RandomSampler())
    study.tell(study.ask(), 0.0)  # connected and warm
    ready.put(os.getpid())
    go.wait()
    n, stop = 0, start.value + seconds
    time.sleep(max(0.0, start.value - time.time()))
    begin = time.perf_counter()
    while time.time() < stop:
        trial = study.ask()
        study.tell(trial, 0.0)
        n += 1
    results.put((n, time.perf_counter() - begin))


def _cell(url: str, clients: int, seconds: float) -> dict[str, Any]:
    # forked from this process (which has imported everything but never opened a connection or a channel): each
    # client opens its own storage, as a worker on another machine would, without paying the imports again
    ctx = mp.get_context("fork")
    ready, results, go, start = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
    procs = [ctx.Process(target=_client, args=(url, seconds, ready, go, start, results)) for _ in range(clients)]
    for p in procs:
        p.start()
    for _ in procs:  # every client imported, connected and warm before the clock starts
        ready.get(timeout=300)
    start.value = time.time() + 0.5
    go.set()
    out = [results.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    trials = sum(n for n, _ in out)
    elapsed = max(s for _, s in out)
    latency_ms = 1000 * sum(s for _, s in out) / max(trials, 1)
    return {"clients": clients, "trials": trials, "seconds": round(elapsed, 2),
            "trials_per_s": round(trials / elapsed, 1), "ask_tell_ms": round(latency_ms, 1)}  # fmt: skip


def _create(url: str) -> None:
    import optuna

    from search.storage import open_storage

    optuna.create_study(study_name=STUDY, storage=open_storage(url), direction="minimize")


def _admin(server: str, sql: str) -> None:
    import sqlalchemy

    from search.storage import driver_url

    engine = sqlalchemy.create_engine(driver_url(server), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(sql))
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m bench.storage_throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per cell")
    parser.add_argument("--clients", type=int, nargs="+", default=list(CLIENTS))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    import optuna

    from search.storage import mask_url

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = f"regtune_bench_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(SERVER)
    url = urlunsplit(parts._replace(path=f"/{db}"))
    try:
        _admin(SERVER, f"CREATE DATABASE {db}")
    except Exception as exc:
        print(f"storage_throughput: skipped, PostgreSQL unreachable at {mask_url(SERVER)}: {str(exc).splitlines()[0]}")
        return []
    port = free_port()
    proxy = None
    rows: list[dict[str, Any]] = []
    try:
        setup = mp.get_context("fork").Process(target=_create, args=(url,))  # no connection left in this process
        setup.start()
        setup.join()
        proxy = subprocess.Popen(
            [sys.executable, "-m", "search", "proxy", "--port", str(port), "--threads", "8"],
            env=child_env(REGTUNE_STORAGE=url), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        for mode, target in (("direct", url), ("proxy", f"grpc://127.0.0.1:{port}")):
            if mode == "proxy":
                wait_port(port, proxy)
            for clients in args.clients:
                row = {"mode": mode, **_cell(target, clients, args.seconds)}
                rows.append(row)
                print(f"  {mode:<7} {clients} client(s): {row['trials_per_s']:>7.1f} trials/s "
                      f"({row['ask_tell_ms']:.1f} ms per ask+tell)", flush=True)  # fmt: skip
    finally:
        if proxy is not None:
            proxy.send_signal(signal.SIGTERM)
            proxy.wait(timeout=30)
        _admin(SERVER, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")

    print(f"\nask+tell of empty trials per second, {args.seconds:.0f} s per cell, one shared study "
          f"({os.cpu_count()} cores shared by clients, proxy and PostgreSQL)")  # fmt: skip
    print(f"{'clients':>8}{'direct':>12}{'via proxy':>12}{'direct ms':>12}{'proxy ms':>12}")
    for clients in args.clients:
        d = next(r for r in rows if r["mode"] == "direct" and r["clients"] == clients)
        p = next(r for r in rows if r["mode"] == "proxy" and r["clients"] == clients)
        print(f"{clients:>8}{d['trials_per_s']:>12.1f}{p['trials_per_s']:>12.1f}"
              f"{d['ask_tell_ms']:>12.1f}{p['ask_tell_ms']:>12.1f}")  # fmt: skip
    meta = {
        "seconds_per_cell": args.seconds, "cpus": os.cpu_count(), "machine": platform.machine(),
        "python": platform.python_version(), "optuna": optuna.__version__, "server": mask_url(SERVER),
        "note": "clients, proxy and PostgreSQL share the machine's cores; timings on a shared machine are noisy",
    }  # fmt: skip
    write_result(args.out, {"meta": meta, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
