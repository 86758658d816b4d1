"""Many workers on one PostgreSQL: N simulated regtune workers that ask, report every epoch and tell (no training),
straight to PostgreSQL and through Optuna's gRPC storage proxy (``python -m search proxy``), for N = 1 .. 256.

Each simulated worker is the real worker loop, :func:`search.worker.run_worker` (dead-trial check, counts, ask,
the rank check, the heartbeat and its ``regtune:host/pid/pid_start`` attributes, tell), on its own storage opened as a
worker opens it (:func:`search.storage.open_storage`: the retrying wrapper, Optuna's cache, a bounded pool of
``search.storage.POOL`` connections; behind the proxy a gRPC channel), with a simulated objective in place of
training: the study's search space is suggested (random sampler by default: TPE's CPU cost is the sampler's, not the
storage's), the attributes :class:`search.objective.Objective` sets are set (config, path, folds, then wall_time_s,
epochs_run and the four results, or pruned_reason), and every epoch ``trial.report`` + ``trial.should_prune`` run
against the real pruner (:func:`search.samplers.make_pruner`, Hyperband by default), after ``--sleep`` seconds of
"training" (0: flat out).

Workers are threads in ``--procs`` forked processes (round robin), so 256 of them fit on 2 cores; each thread still
owns its storage, so the connections held are what N worker processes would hold (directly: up to
``POOL["pool_size"]`` each; behind the proxy: none, the proxy holds ``--threads``). Threads of one process share its
GIL: with many workers per process and ``--sleep 0`` the clients' CPU, not the database, limits the rates.

A point runs its workers for ``--warmup`` s, then measures ``--seconds`` s: finished trials/s, reports/s, storage
calls/s (calls a worker makes into the storage API, some served by the client-side cache) with p50/p99 latency per
call type, PostgreSQL transactions/s of the database (``pg_stat_database``, from the server: the real round trips),
connections to the database (``pg_stat_activity``, sampled), errors and retries, and the load average. Every point
uses a fresh study, and afterwards checks that the trials and reports the workers counted are exactly what the
storage holds. Direct points whose connections would not fit the server (``max_connections`` less those in use and
``--headroom``) are skipped and say so: the server is shared, and "too many clients" would fail its other users.

Needs the local PostgreSQL (``REGTUNE_BENCH_PG``, default ``postgresql://postgres@127.0.0.1:5432/postgres``: a
server URL whose user may create databases); it works in a fresh database it drops at the end. Results go to
``runs/bench/storage_sim.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import platform
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import child_env, free_port, shipped, wait_port, write_result

OUT = Path("runs/bench/storage_sim.json")
SERVER = os.environ.get("REGTUNE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
WORKERS = (1, 4, 16, 64, 256)
STUDY_FILE = shipped("studies/smoke.yaml")  # its search space; epochs, sampler and pruner come from the options
TOTAL = 10**9  # the study's total: never reached, the window ends the run
#: calls answered locally by the client (no round trip): not counted as storage calls
LOCAL = frozenset({"get_heartbeat_interval", "get_heartbeat_stale_trial_callback"})
TARGET = {"workers": 64, "calls_per_s": 200.0, "p99_ms": 100.0}


class Stop(BaseException):
    """The measurement window is over: the simulated worker stops (at an epoch boundary or after a tell)."""


@dataclasses.dataclass
class Point:
    mode: str  # direct | proxy
    workers: int
    url: str  # what the workers open
    study: str
    epochs: int
    sleep: float
    sampler: str
    pruner: str


class Recorder:
    """What one simulated worker did: its storage calls (name, start, seconds), reports and finished trials."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float]] = []
        self.reports: list[float] = []
        self.finished: list[float] = []
        self.errors: list[str] = []

    def timed(self, name: str, method: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            start, t = time.time(), time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.calls.append((name, start, time.perf_counter() - t))  # list.append: atomic under the GIL

        return call


def instrument(storage: Any, rec: Recorder) -> None:
    """Time every storage call a worker makes (the heartbeat thread's included), at the retrying wrapper: what the
    worker asks, whatever answers it (the database, the proxy, or a cache of finished trials). The study's fixed
    facts (id, name, directions), answered from memory after the first, are not counted."""
    from optuna.storages import BaseStorage

    from search.storage import _FIXED

    names = [n for n in vars(BaseStorage) if not n.startswith("_") and callable(getattr(BaseStorage, n))]
    for name in [*names, "_get_stale_trial_ids", "count_trials"]:
        if name not in LOCAL and name not in _FIXED and callable(getattr(storage, name, None)):
            setattr(storage, name, rec.timed(name, getattr(storage, name)))
    inner = storage.inner  # the heartbeat thread writes below the wrapper (the next beat is its retry)
    if callable(getattr(inner, "record_heartbeat", None)):
        inner.record_heartbeat = rec.timed("record_heartbeat", inner.record_heartbeat)


class SimObjective:
    """Training replaced by ``sleep`` seconds per epoch; storage traffic as :class:`search.objective.Objective`'s."""

    checkpoints = None
    folds = 1  # one fit per trial (cv_folds: 1): the pruner judges it inside it, as a holdout's
    sequences = None  # no data: the pruner has no fold-end tolerance (a holdout's has none anyway)

    def __init__(self, spec: Any, sleep: float, stop_at: float, rec: Recorder, seed: int) -> None:
        self.spec, self.sleep, self.stop_at, self.rec = spec, sleep, stop_at, rec
        self.rng = random.Random(seed)

    @property
    def steps(self) -> int:
        return int(self.spec.max_epochs)

    def __call__(self, trial: Any) -> float:
        import optuna

        from search.space import suggest

        hp = {**self.spec.base_params(), **suggest(trial, self.spec)}
        trial.set_user_attr("config", hp)
        trial.set_user_attr("path", "simulated")
        trial.set_user_attr("folds", 1)
        start, quality, value, epochs = time.perf_counter(), self.rng.random(), 0.0, 0
        try:
            for epoch in range(self.steps):
                if time.time() >= self.stop_at:
                    raise Stop
                if self.sleep:
                    time.sleep(self.sleep)
                value = quality * (1 - 0.7 ** (epoch + 1))  # a learning curve; better trials stay better
                trial.report(value, epoch)
                self.rec.reports.append(time.time())
                epochs = epoch + 1
                if trial.should_prune():
                    trial.set_user_attr("pruned_reason", f"pruned at epoch {epoch} (step {epoch}) with {value:.4f}")
                    raise optuna.TrialPruned()
        finally:
            if epochs:
                trial.set_user_attr("wall_time_s", round(time.perf_counter() - start, 3))
                trial.set_user_attr("epochs_run", epochs)
        for key, v in (("val_acc", value), ("val_loss", 1 - value), ("best_epoch", epochs - 1)):
            trial.set_user_attr(key, float(v))
        trial.set_user_attr("fold_scores", [round(value, 6)])
        return value


def _worker(
    index: int, storage: Any, spec: Any, point: Point, window: tuple[float, float, float], rec: Recorder
) -> None:
    from search.worker import FINISHED, run_worker

    begin, _, stop_at = window
    time.sleep(max(0.0, begin - time.time()))

    def on_trial(frozen: Any, counts: dict[str, int]) -> None:
        if frozen.state in FINISHED:
            rec.finished.append(time.time())
        if time.time() >= stop_at:
            raise Stop

    objective = SimObjective(spec, point.sleep, stop_at, rec, seed=index)
    try:
        run_worker(spec, storage, TOTAL, worker_index=index, objective=objective, on_trial=on_trial)  # type: ignore[arg-type]
    except Stop:
        pass
    except BaseException as exc:  # noqa: BLE001 - a benchmark counts errors instead of dying
        rec.errors.append(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")


def _spec(point: Point) -> Any:
    from search.spec import load_study

    spec = load_study(STUDY_FILE)
    return dataclasses.replace(spec, name=point.study, max_epochs=point.epochs, sampler=point.sampler,
                               pruner=point.pruner, pruner_patience=0, cv_folds=1, introspect=False)  # fmt: skip


def _process(indices: list[int], point: Point, ready: Any, go: Any, times: Any, results: Any) -> None:
    import optuna

    from search.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")  # ask() outside optimize()
    spec = _spec(point)
    workers = []
    for i in indices:  # every worker's own storage, opened as a worker opens it
        rec = Recorder()
        storage = open_storage(point.url)
        instrument(storage, rec)
        workers.append((i, storage, rec))
    ready.put(len(indices))
    go.wait()
    window = (times[0], times[1], times[2])
    threads = [
        threading.Thread(target=_worker, args=(i, s, spec, point, window, r), daemon=True) for i, s, r in workers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, window[2] - time.time()) + 300)
    t0, t1 = window[1], window[2]
    calls: dict[str, list[float]] = {}
    out: dict[str, Any] = {"reports": 0, "reports_all": 0, "finished": 0, "finished_all": 0, "errors": [], "retries": 0,
                           "stuck": sum(t.is_alive() for t in threads)}  # fmt: skip
    for _, storage, rec in workers:
        for name, start, dur in list(rec.calls):
            if t0 <= start < t1:
                calls.setdefault(name, []).append(dur)
        out["reports"] += sum(t0 <= t < t1 for t in rec.reports)
        out["reports_all"] += len(rec.reports)
        out["finished"] += sum(t0 <= t < t1 for t in rec.finished)
        out["finished_all"] += len(rec.finished)
        out["errors"] += rec.errors
        out["retries"] += getattr(storage, "retries", 0)
    out["calls"] = calls
    results.put(out)


def _stored(url: str, study: str, results: Any) -> None:
    """What the storage holds: finished trials and intermediate values (reports) of the point's study."""
    import optuna

    from search.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    trials = optuna.load_study(study_name=study, storage=open_storage(url)).get_trials(deepcopy=False)
    finished = sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    results.put({"trials": len(trials), "finished": finished, "pruned": sum(t.state.name == "PRUNED" for t in trials),
                 "reports": sum(len(t.intermediate_values) for t in trials)})  # fmt: skip


def _create(url: str, study: str, direction: Any) -> None:
    import optuna

    from search.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    optuna.create_study(study_name=study, storage=open_storage(url), direction=direction)


class Monitor:
    """The server's view of the benchmark database: connections and committed/rolled back transactions."""

    def __init__(self, server: str, db: str) -> None:
        import psycopg

        from search.storage import driver_url

        self.db = db
        self.conn = psycopg.connect(driver_url(server).replace("postgresql+psycopg2", "postgresql"), autocommit=True)

    def _one(self, sql: str) -> Any:
        return self.conn.execute(sql, (self.db,)).fetchone()[0]  # type: ignore[index]

    def connections(self) -> int:
        return int(self._one("SELECT count(*) FROM pg_stat_activity WHERE datname = %s"))

    def transactions(self) -> int:
        self.conn.execute("SELECT pg_stat_clear_snapshot()")
        return int(self._one("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s"))

    def close(self) -> None:
        self.conn.close()


def _server_limits(server: str) -> tuple[int, int]:
    """``max_connections`` and the connections in use on the whole server."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        limit = int(conn.execute("SHOW max_connections").fetchone()[0])  # type: ignore[index]
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").fetchone()
        used = int(row[0]) if row else 0
    return limit, used


def _percentiles(values: list[float]) -> dict[str, float]:
    import numpy as np

    a = np.asarray(values) * 1000
    return {"n": len(values), "p50_ms": round(float(np.percentile(a, 50)), 2), "p99_ms": round(float(np.percentile(a, 99)), 2),
            "max_ms": round(float(a.max()), 1)}  # fmt: skip


def run_point(point: Point, server: str, db: str, procs: int, warmup: float, seconds: float) -> dict[str, Any]:
    """Run one point (fresh study, N workers in ``procs`` processes) and return its row."""
    from search.storage import driver_url

    ctx = mp.get_context("fork")  # this process holds no connection while it forks
    spec = _spec(point)
    setup = ctx.Process(target=_create, args=(_db_url(server, db), point.study, spec.direction))
    setup.start()
    setup.join()
    n_procs = min(point.workers, procs)
    ready, results, go, times = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Array("d", 3)
    groups = [list(range(p, point.workers, n_procs)) for p in range(n_procs)]
    children = [ctx.Process(target=_process, args=(g, point, ready, go, times, results)) for g in groups]
    opening = time.perf_counter()
    for c in children:
        c.start()
    for _ in children:
        ready.get(timeout=600)
    opened_s = time.perf_counter() - opening
    monitor = Monitor(driver_url(server), db)
    begin = time.time() + 0.5
    times[0], times[1], times[2] = begin, begin + warmup, begin + warmup + seconds
    load_before = os.getloadavg()
    go.set()
    samples: list[int] = []
    xact0 = None
    while time.time() < times[2]:
        now = time.time()
        if xact0 is None and now >= times[1]:
            xact0 = monitor.transactions()
        if now >= times[1]:
            samples.append(monitor.connections())
        time.sleep(0.5)
    xact1 = monitor.transactions()
    load = os.getloadavg()
    outs = [results.get(timeout=900) for _ in children]
    monitor.close()
    for c in children:
        c.join(timeout=60)
    check_q = ctx.Queue()
    check = ctx.Process(target=_stored, args=(_db_url(server, db), point.study, check_q))
    check.start()
    stored = check_q.get(timeout=600)
    check.join()

    calls: dict[str, list[float]] = {}
    for o in outs:
        for name, durs in o["calls"].items():
            calls.setdefault(name, []).extend(durs)
    every = [d for durs in calls.values() for d in durs]
    per_op = {name: _percentiles(durs) for name, durs in sorted(calls.items(), key=lambda kv: -len(kv[1]))}
    worst = max(per_op.items(), key=lambda kv: kv[1]["p99_ms"]) if per_op else ("-", {"p99_ms": 0.0})
    counted = {"finished": sum(o["finished_all"] for o in outs), "reports": sum(o["reports_all"] for o in outs)}
    errors = [e for o in outs for e in o["errors"]]
    return {
        "mode": point.mode, "workers": point.workers, "processes": n_procs, "epochs": point.epochs, "sleep_s": point.sleep,
        "seconds": seconds, "trials_per_s": round(sum(o["finished"] for o in outs) / seconds, 2),
        "reports_per_s": round(sum(o["reports"] for o in outs) / seconds, 1),
        "calls_per_s": round(len(every) / seconds, 1),
        "server_xact_per_s": round((xact1 - (xact0 or xact1)) / seconds, 1),
        "p50_ms": _percentiles(every)["p50_ms"] if every else None, "p99_ms": _percentiles(every)["p99_ms"] if every else None,
        "worst_op": worst[0], "worst_op_p99_ms": worst[1]["p99_ms"],
        "connections_max": max(samples, default=0), "connections_mean": round(sum(samples) / max(len(samples), 1), 1),
        "errors": len(errors), "error_samples": sorted(set(errors))[:5], "retries": sum(o["retries"] for o in outs),
        "stuck_workers": sum(o["stuck"] for o in outs), "open_s": round(opened_s, 1),
        "load_avg": [round(x, 2) for x in load], "load_avg_before": [round(x, 2) for x in load_before],
        "counted": counted, "stored": stored,
        "exact": counted["finished"] == stored["finished"] and counted["reports"] == stored["reports"],
        "per_op": per_op,
    }  # fmt: skip


def _db_url(server: str, db: str) -> str:
    return urlunsplit(urlsplit(server)._replace(path=f"/{db}"))


def _admin(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def simulate(
    workers: list[int], modes: list[str], *, epochs: int = 30, sleep: float = 0.0, seconds: float = 20.0,
    warmup: float = 3.0, procs: int = 4, threads: int = 8, sampler: str = "random", pruner: str = "hyperband",
    headroom: int = 20, server: str = SERVER, log: Any = print, proxy_processes: int = 1,
) -> dict[str, Any]:  # fmt: skip
    """Run every (mode, N) point in a fresh database on ``server``; return ``{"meta": ..., "rows": [...]}``."""
    import optuna

    from search.storage import POOL, driver_url, mask_url

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # the worker loop's imports (torch and Lightning, ~5 s on a loaded 2-core machine) before any point forks its
    # processes: imported by the worker threads they fell inside the window, which then counted start-up as
    # storage time (a point with --warmup 1 --seconds 3 measured 0 calls/s)
    import search.space  # noqa: F401
    import search.worker  # noqa: F401

    server = driver_url(server).replace("postgresql+psycopg2", "postgresql")
    db = f"regtune_sim_{uuid.uuid4().hex[:8]}"
    url = _db_url(server, db)
    limit, used = _server_limits(server)
    _admin(server, f"CREATE DATABASE {db}")
    port, proxy = free_port(), None
    rows: list[dict[str, Any]] = []
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    try:
        for mode in modes:
            if mode == "proxy":
                proxy = subprocess.Popen(
                    [sys.executable, "-m", "search", "proxy", "--storage", url, "--port", str(port), "--threads", str(threads),
                     "--processes", str(proxy_processes)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=child_env(),
                )  # fmt: skip
                wait_port(port, proxy)
                if proxy_processes > 1:
                    time.sleep(3.0)  # every process bound to the port before the workers connect
            for n in workers:
                point = Point(mode, n, url if mode == "direct" else f"grpc://127.0.0.1:{port}", f"sim-{mode}-{n}",
                              epochs, sleep, sampler, pruner)  # fmt: skip
                row: dict[str, Any]
                need = n * POOL["pool_size"] if mode == "direct" else threads * proxy_processes
                room = limit - used - headroom
                if need > room:
                    row = {"mode": mode, "workers": n, "skipped": f"needs up to {need} connections ({POOL['pool_size']} per "
                           f"worker); the server allows {limit}, {used} in use, {headroom} kept free"}  # fmt: skip
                    log(f"  {mode:<7}{n:>5} workers: skipped, {row['skipped']}")
                else:
                    row = run_point(point, server, db, procs, warmup, seconds)
                    log(f"  {mode:<7}{n:>5} workers: {row['trials_per_s']:>6.1f} trials/s {row['reports_per_s']:>7.1f} "
                        f"reports/s {row['calls_per_s']:>7.1f} calls/s p99 {row['p99_ms']} ms, "
                        f"{row['connections_max']} conns, {row['errors']} errors, load {row['load_avg'][0]}")  # fmt: skip
                rows.append(row)
            if proxy is not None:
                proxy.send_signal(signal.SIGTERM)
                proxy.wait(timeout=30)
                proxy = None
    finally:
        if proxy is not None:
            proxy.kill()
            proxy.wait(timeout=30)
        _admin(server, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    meta = {
        "epochs": epochs, "sleep_s": sleep, "seconds": seconds, "warmup_s": warmup, "procs": procs,
        "proxy_threads": threads, "proxy_processes": proxy_processes, "sampler": sampler, "pruner": pruner, "study_file": str(STUDY_FILE),
        "pool": POOL, "max_connections": limit, "connections_in_use_at_start": used, "cpus": os.cpu_count(),
        "machine": platform.machine(), "python": platform.python_version(), "optuna": optuna.__version__,
        "server": mask_url(server), "uptime_start": uptime,
        "uptime_end": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "note": "clients, proxy and PostgreSQL share the machine's cores with other work; see load_avg per row",
    }  # fmt: skip
    return {"meta": meta, "rows": rows}


def table(result: dict[str, Any]) -> str:
    m = result["meta"]
    lines = [
        f"simulated workers: {m['epochs']} epochs per trial, {m['sleep_s']} s per epoch, {m['seconds']:.0f} s per point, "
        f"{m['sampler']} sampler + {m['pruner']} pruner; {m['cpus']} cores, load at start: {m['uptime_start']}",
        f"{'mode':<7}{'N':>5}{'proc':>5}{'trials/s':>9}{'rep/s':>8}{'calls/s':>8}{'pg tx/s':>8}{'p50 ms':>8}"
        f"{'p99 ms':>8}{'worst op (p99 ms)':>36}{'conns':>6}{'err':>5}{'load1':>6}{'exact':>6}",
    ]  # fmt: skip
    for r in result["rows"]:
        if "skipped" in r:
            lines.append(f"{r['mode']:<7}{r['workers']:>5}  skipped: {r['skipped']}")
            continue
        worst = f"{r['worst_op']} ({r['worst_op_p99_ms']:.0f})"
        lines.append(
            f"{r['mode']:<7}{r['workers']:>5}{r['processes']:>5}{r['trials_per_s']:>9.1f}{r['reports_per_s']:>8.1f}"
            f"{r['calls_per_s']:>8.1f}{r['server_xact_per_s']:>8.1f}{r['p50_ms'] or 0:>8.1f}{r['p99_ms'] or 0:>8.1f}"
            f"{worst:>36}{r['connections_max']:>6}{r['errors']:>5}{r['load_avg'][0]:>6.1f}{'yes' if r['exact'] else 'NO':>6}"
        )  # fmt: skip
    for r in result["rows"]:
        if r.get("workers") == TARGET["workers"] and "skipped" not in r:
            ok = r["calls_per_s"] >= TARGET["calls_per_s"] and (r["p99_ms"] or 0) < TARGET["p99_ms"]
            lines.append(f"target at {TARGET['workers']} workers ({r['mode']}): >= {TARGET['calls_per_s']:.0f} calls/s with "
                         f"p99 < {TARGET['p99_ms']:.0f} ms: {'met' if ok else 'NOT met'} ({r['calls_per_s']} calls/s, "
                         f"p99 {r['p99_ms']} ms)")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.storage_sim", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=list(WORKERS), help="simulated workers per point")
    parser.add_argument("--modes", nargs="+", choices=("direct", "proxy"), default=["direct", "proxy"])
    parser.add_argument("--epochs", type=int, default=30, help="epochs per trial (what studies/*.yaml use)")
    parser.add_argument("--sleep", type=float, default=0.0, help="simulated training seconds per epoch (0: flat out)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per point")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds run before the measurement starts")
    parser.add_argument("--procs", type=int, default=4, help="processes the simulated workers are spread over")
    parser.add_argument(
        "--threads", type=int, default=8, help="the proxy's request threads (= its connections) per process"
    )
    parser.add_argument(
        "--proxy-processes", type=int, default=1, help="proxy processes sharing the port (SO_REUSEPORT)"
    )
    parser.add_argument("--sampler", default="random", choices=("random", "tpe"))
    parser.add_argument("--pruner", default="hyperband", choices=("hyperband", "median", "successive_halving", "none"))
    parser.add_argument("--headroom", type=int, default=20, help="server connections left free for others")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    try:
        _server_limits(SERVER)
    except Exception as exc:
        from search.storage import mask_url

        print(f"storage_sim: skipped, PostgreSQL unreachable at {mask_url(SERVER)}: {str(exc).strip().splitlines()[0]}")
        return {}
    result = simulate(
        args.workers, args.modes, epochs=args.epochs, sleep=args.sleep, seconds=args.seconds, warmup=args.warmup,
        procs=args.procs, threads=args.threads, sampler=args.sampler, pruner=args.pruner, headroom=args.headroom,
        proxy_processes=args.proxy_processes,
    )  # fmt: skip
    print()
    print(table(result))
    write_result(args.out, result)
    return result


if __name__ == "__main__":
    main()
