"""``python -m search``: the command line the Makefile calls."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import optuna

from models.errors import DataError
from search.fingerprint import StudyChangedError
from search.interrupts import Interrupted, interrupt_behind, interrupted_while_starting, stopped_by
from search.interrupts import install as install_interrupts
from search.interrupts import reset as reset_interrupts
from search.preflight import PreflightError, Prepared, check_storage_url, checked_storage, prepare, seeds_note
from search.processes import WORKER_INDEX_ENV, say, started_by_study
from search.recipes import points_note
from search.spec import StudyFileError, StudySpec, load_study
from search.storage import (
    RETRY_SECONDS,
    SQLITE_FULL,
    SQLITE_IOERR,
    STORAGE_ENV,
    RetryingStorage,
    StorageError,
    chain,
    default_url,
    file_kind,
    held_names,
    load_existing,
    mask_url,
    no_optuna_tables,
    open_storage,
    read_only_role,
    read_only_server,
    readable,
    resolve_url,
    schema_lock,
    scrub,
    storage_hint,
    store_file,
)

#: the commands that train (a study's trials, the verdict's refits): Lightning is imported before it is quieted
TRAINING_COMMANDS = ("study", "worker", "report")


#: the loggers Lightning's import sets to INFO (quieted here; search.api puts a notebook's levels back)
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric")


def quiet_libraries(training: bool = True) -> None:
    """Silence the libraries' notices a user need not see (Lightning's banners, Optuna's experimental warnings);
    shared by the benchmarks. Importing Lightning sets its loggers to INFO, so with ``training`` it is imported
    first (the commands that train nothing leave it unimported: they start without torch)."""
    if training:
        import pytorch_lightning  # noqa: F401 - see above: its import would undo the levels set below
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*is already reported.*")
    warnings.filterwarnings("ignore", message=".*Heartbeat of storage is supposed to be used with Study.optimize.*")
    journal_lock = logging.getLogger("optuna.storages.journal._file")
    if not any(isinstance(f, _LockWords) for f in journal_lock.filters):
        journal_lock.addFilter(_LockWords())
    rdb = logging.getLogger("optuna.storages._rdb.storage")
    if not any(isinstance(f, _FallbackWords) for f in rdb.filters):
        rdb.addFilter(_FallbackWords())


class _LockWords(logging.Filter):
    """Optuna's waits for a journal's lock file in regtune's words: after a killed process (one SIGKILL in about
    25 lands while it holds the lock) a resume printed "It is taking longer than 10.0 seconds to acquire the lock
    file ... Retrying" three times and "Forcibly releasing", 30 s with no word of why."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if text.startswith("It is taking longer than") and "lock file" in text:
            lock = text.split("lock file: ", 1)[-1].split(" Retrying", 1)[0]
            record.msg, record.args = (f"waiting for the journal's lock {lock}: another process holds it, or a "
                                       "killed one left it behind (taken over 30 s after its last change)"), None  # fmt: skip
        elif "forcibly releasing" in text.lower():
            record.msg, record.args = "took over the journal's lock: nothing had changed it for 30 s", None
        return True


#: a lost connection in a driver's words (psycopg / libpq): the storage's retry says it in one line of its own
_CONNECTION_LOST = re.compile(
    r"server closed the connection|connection failed|terminating connection|shutting down|consuming input failed|"
    r"can't reconnect|could not (?:receive|send) data|connection (?:is|was|already) closed|ssl syscall|"
    r"connection refused|timed out|no connection to the server|lost synchronization",
    re.IGNORECASE,
)


class _FallbackWords(logging.Filter):
    """Optuna's "Caught an error from sqlalchemy: ... Falling back to a slower alternative." (its guess: too many
    ids in one query), which a PostgreSQL restart or a dropped network set off: eight lines with the whole SQL
    statement in a worker's log, before regtune's own "unreachable; retrying" line (the faults3 probe, 2026-12-06).
    A lost connection is dropped (the retry says it); anything else is said in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if not text.startswith("Caught an error from sqlalchemy"):
            return True
        if _CONNECTION_LOST.search(text):
            return False
        first = (text.removeprefix("Caught an error from sqlalchemy:").strip().splitlines() or [""])[0]
        first = first.removesuffix("Falling back to a slower alternative.").strip().rstrip(".")
        record.msg, record.args = f"a read of the study's trials failed ({first}); read again the slower way", None
        return True


def worker_plan(workers: int | None, per_gpu: int, remaining: int | None = None) -> list[dict[str, str]]:
    """One environment per local worker: GPUs round-robin (``per_gpu`` each), CPU threads split evenly; at most
    ``remaining`` workers (the trials left to run: a worker more has nothing to do but load the data)."""
    import torch

    gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = (
        [g for g in gpus.split(",") if g.strip()]
        if gpus is not None
        else [str(i) for i in range(torch.cuda.device_count())]
    )
    n = workers or (len(ids) * per_gpu if ids else 1)
    if remaining is not None and remaining > 0:
        n = min(n, remaining)
    cores = os.cpu_count() or 1
    plans = []
    for i in range(n):
        env = {"OMP_NUM_THREADS": str(max(1, cores // n)), WORKER_INDEX_ENV: str(i)}
        if ids:
            env["CUDA_VISIBLE_DEVICES"] = ids[i % len(ids)]
        plans.append(env)
    return plans


def _sampler_index(join_only: bool) -> int:
    """Offsets the sampler's seed. A lone ``study`` run keeps the study's seed (reproducible); any worker that
    shares the study (``worker``, or one of WORKERS) gets one no other worker on any machine has: workers started
    with the same seed would propose the same parameters."""
    index = os.environ.get(WORKER_INDEX_ENV)
    if not join_only and index is None:
        return 0
    import secrets

    return int(index or 0) + 1000 * (1 + secrets.randbelow(1_000_000))


def cmd_study(args: argparse.Namespace, join_only: bool = False) -> int:
    args.stage = "checks"  # what an interrupt cut short (_interrupted)
    prepared = prepare(args.study, args.storage)  # study file, dataset, storage URL: all checked before the store
    spec = prepared.spec
    if not Path(args.study).is_file():  # each worker process reads the study file again: a pipe is read once
        n = len(worker_plan(args.workers, args.workers_per_gpu))  # (one: this process, in-process)
        if n > 1:
            raise PreflightError(f"{args.study}: is not a regular file (a pipe, such as <(...), is read once), and each "
                                 f"of the {n} worker processes reads the study file again; allowed: a study file "
                                 "saved on disk, or --workers/WORKERS=1")  # fmt: skip
    _data_notes(prepared)
    # the training stack (torch, Lightning: about 3 s) once the checks passed: a refused study file, dataset or
    # storage URL answers without it; before the storage opens, which makes a new journal file (a Ctrl-C during the
    # imports left an empty one, later said to have lost its records: review9)
    quiet_libraries(training=True)
    from search.progress import Progress
    from search.verdict import final_result
    from search.worker import TOTAL_ATTR, counts, ensure_study, run_worker, study_total, total_note

    url = resolve_url(args.storage, spec.name)
    file = store_file(url)
    emptied = file is not None and file.is_file() and file.stat().st_size == 0  # (a new one is made empty too)
    storage = open_storage(url)
    args.url = url
    args.stage = "opening"  # from here the study may be written: created, its starting points enqueued
    with schema_lock(url):  # many workers starting at once on a new study: one creates it and its starting points
        held = sorted(s.study_name for s in storage.get_all_studies())
        new = spec.name not in held
        study = ensure_study(spec, storage, total=args.trials, allow_change=args.allow_change, store=mask_url(url))
    args.stage = "trials"
    total = study_total(study, spec, args.trials)
    if (note := total_note(spec, total, args.trials)) is not None:
        print(note, file=sys.stderr, flush=True)
    if (note := points_note(spec, total, study.get_trials(deepcopy=False))) is not None:
        say(note)
    c = counts(study)
    over = f" (more than the total of {total} asked for: nothing to run)" if c["finished"] > total else ""
    if new:  # a mistyped STORAGE (or a worker pointed at another store) started a study of its own, unsaid
        over = f" (a new study: none named {spec.name!r} was in this storage"
        if held:  # a mistyped name beside the study meant (the faults probe): say what the storage holds
            over += f"; it holds {held_names(held)}"
        elif emptied:  # a journal emptied under a study started it afresh, unsaid (the faults9 probe)
            over += (f"; {file} was empty, 0 bytes: if it held this study, its records were lost: stop (Ctrl-C) "
                     "and restore a backup copy of it")  # fmt: skip
        over += ")"
    print(f"study {spec.name} ({spec.path}) in {mask_url(url)}: {c['finished']}/{total} trials finished{over}",
          flush=True)  # fmt: skip
    if new and spec.defaulted:  # as validate says it: the epochs, folds, batch size, front end a new study runs
        print(f"  chosen from the data: {chosen(spec, prepared.folds)}", flush=True)
    if new:
        from search.defaults import budget

        print(f"  budget: {budget(spec, prepared.folds, len(prepared.splits.train), total)}", flush=True)
        if (seeds := seeds_note(spec)) is not None:  # said once, as the study starts, and by validate
            say(seeds)
    from search.objective import older_swa_note

    if (swa := older_swa_note(study)) is not None:
        say(swa)
    left = total - c["finished"]
    plans = worker_plan(args.workers, args.workers_per_gpu, left)
    if left > 0 and args.workers and args.workers > len(plans):
        print(f"note: WORKERS={args.workers}, but {left} trial(s) remain: starting {len(plans)} worker(s)",
              file=sys.stderr, flush=True)  # fmt: skip
    cores = os.cpu_count() or 1
    if left > 0 and len(plans) > cores and "CUDA_VISIBLE_DEVICES" not in plans[0]:
        print(f"note: {len(plans)} workers share {cores} CPU core(s): each trial runs slower, the study no faster "
              f"than with {cores}", file=sys.stderr, flush=True)  # fmt: skip
    codes: list[int] = []  # exit codes of the local worker processes (WORKERS > 1)
    if c["finished"] < total:
        progress = Progress(total, c["finished"], spec.direction, spec.name)
        try:
            if len(plans) == 1 and args.in_process:
                index = _sampler_index(join_only)
                threads = plans[0]["OMP_NUM_THREADS"]
                if not os.environ.get("OMP_NUM_THREADS"):
                    import torch

                    torch.set_num_threads(int(threads))
                run_worker(
                    spec, storage, total, index, on_trial=progress.trial, on_epoch=progress.epoch,
                    artifacts=args.artifacts,
                )  # fmt: skip
            else:
                codes = _run_processes(args, url, total, plans, study, progress)
        finally:
            progress.close()
    if any(codes) and not _survived(codes, study, total):
        return 1
    raised = study.user_attrs.get(TOTAL_ATTR)  # another process raised the total meanwhile: it was worked to
    total = raised if isinstance(raised, int) and raised > total else total
    if join_only:
        now = counts(study)  # (running trials count toward the total: "reached" at 34 finished + 6 running)
        running = (f", {now['running']} running: in other workers, or left by one that died, which the next run "
                   "re-queues") if now.get("running") else ""  # fmt: skip
        print(f"study {spec.name}: total of {total} trials reached ({now['finished']} finished{running}); worker exits",
              flush=True)  # fmt: skip
        return 0
    return _report(study, spec, total, url, final_result, args.artifacts)


#: how long stopped workers get to re-queue their running trials (a storage call is retried for RETRY_SECONDS)
STOP_SECONDS = RETRY_SECONDS + 30


def _run_processes(args, url, total, plans, study, progress) -> list[int]:  # type: ignore[no-untyped-def]
    """Run one ``worker`` process per plan until all have exited; return their exit codes.

    The workers run in their own process group: a signal to this process (Ctrl-C from the terminal, SIGTERM
    from make, a scheduler or ``kill``, SIGHUP from a lost terminal) reaches each of them exactly once, passed on
    from here, so none is orphaned and none is interrupted again while it re-queues its running trial (a second
    signal would cut that short). Then :class:`Interrupted` (``signal N``) or KeyboardInterrupt is raised here.
    """
    from search.worker import counts

    procs: list[subprocess.Popen] = []
    main_thread = threading.current_thread() is threading.main_thread()
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.getsignal(sig) for sig in handled} if main_thread else {}
    group: dict = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
    seen: set[int] | None = None
    try:
        if main_thread:
            install_interrupts((signal.SIGTERM, signal.SIGHUP))  # (a SIGHUP that nohup ignores stays ignored)
        for env in plans:
            # the URL travels in the environment, not on the command line: `ps` would show its password
            cmd = [sys.executable, "-m", "search", "worker", str(args.study), "--trials", str(total),
                   "--workers", "1", "--in-process"] + (["--artifacts", args.artifacts] if args.artifacts else [])  # fmt: skip
            child = {**os.environ, **env, STORAGE_ENV: url, WORKER_PARENT_ENV: str(os.getpid())}
            procs.append(subprocess.Popen(cmd, env=child, stdout=subprocess.DEVNULL, **group))
        # the workers print nothing: their trials' lines come from here, as a lone worker's do (they were missing);
        # the trials are read only when the count of ended ones moved (a count is one query, the trials are not)
        seen = None if progress.tty else {t.number for t in study.get_trials(deepcopy=False, states=ENDED)}
        ended, told = -1, set[int]()
        while True:
            running = any(p.poll() is None for p in procs)
            if running:
                time.sleep(2)
            now = counts(study)
            if seen is not None and now["finished"] + now["fail"] != ended:
                ended = now["finished"] + now["fail"]
                _print_ended(study, seen, progress, now)
            try:
                best = study.best_value
            except ValueError:
                best = None
            progress.set(now, best)
            if not running:
                break
            told = _tell_stopped(procs, now, total, told, study)
    except BaseException as exc:  # a signal, or this process lost the storage: stop the workers, then go
        if main_thread:
            for sig in handled:  # one stop at a time
                signal.signal(sig, signal.SIG_IGN)
        stop = interrupt_behind(exc)  # a Ctrl-C that surfaced as another error is still a Ctrl-C
        ctrl_c = isinstance(exc, KeyboardInterrupt) or getattr(stop or exc, "signum", None) == signal.SIGINT
        _stop(procs, signal.SIGINT if ctrl_c else signal.SIGTERM)
        if seen is not None and (stop is not None or isinstance(exc, KeyboardInterrupt)):  # (not a lost storage)
            with contextlib.suppress(Exception):  # the trials that ended since the last look (up to 2 s)
                _print_ended(study, seen, progress, counts(study), stopped=True)
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return [int(p.returncode) for p in procs]


ENDED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def process_stopped(pid: int) -> bool:
    """Whether process ``pid`` is stopped (SIGSTOP, Ctrl-Z, a debugger): its state in ``/proc/<pid>/stat``."""
    from search.processes import proc_stat

    return proc_stat(pid)[:1] in (["T"], ["t"])


def _tell_stopped(
    procs: list[subprocess.Popen], now: dict[str, int], total: int, told: set[int], study: optuna.Study | None = None
) -> set[int]:
    """Say once for each worker process that is stopped why ``study`` still waits: once the study has its total,
    or once no trial is left to start and the stopped worker holds one of the running ones. A worker stopped with
    SIGSTOP while the others finished the study (its trial failed and re-queued by them) kept ``study --workers N``
    waiting, silent, with the result never printed (the faults7 probe); on the journal file (no heartbeat) the
    stopped worker's trial stays running until it runs again, so the total is never reached there."""
    from search.storage import PID_ATTR

    if now["finished"] + now.get("running", 0) < total:
        return told
    stopped = [(i, p) for i, p in enumerate(procs) if i not in told and p.poll() is None and process_stopped(p.pid)]
    held: dict[int, int] = {}  # worker pid -> the running trial it holds
    if stopped and now["finished"] < total and study is not None:
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            with contextlib.suppress(TypeError, ValueError):
                held[int(t.system_attrs.get(PID_ATTR, -1))] = t.number
    for i, p in stopped:
        if now["finished"] < total and p.pid not in held:
            continue  # the others still run the last trials, and none waits for this one
        told.add(i)
        holds = f" holding trial {held[p.pid]}," if p.pid in held else ""
        say(f"{now['finished']}/{total} trials finished, but worker {i} (pid {p.pid}) is stopped (SIGSTOP, Ctrl-Z "
            f"or a debugger){holds} and cannot exit: the result is printed once it has; let it run on (kill -CONT "
            f"{p.pid}), or end it (kill {p.pid}; kill -CONT {p.pid}: it re-queues its trial, if any, and exits)")  # fmt: skip
    return told


def _print_ended(study, seen, progress, now, stopped: bool = False) -> None:  # type: ignore[no-untyped-def]
    """One progress line for each ended trial not in ``seen`` (then added to it); ``stopped``: not the trials the
    stop itself failed and re-queued (a crash in the same seconds is printed). After a Ctrl-C, the trials that
    ended since the last look (up to 2 s) were printed by no one: not by the stopped run, not by the resume."""
    for t in study.get_trials(deepcopy=False, states=ENDED):
        if t.number in seen:
            continue
        seen.add(t.number)
        if not (stopped and str(t.user_attrs.get("fail_reason", "")).startswith("interrupted")):
            progress.trial(t, now)


def _stop(procs: list[subprocess.Popen], sig: int) -> None:
    """Send ``sig`` to each running worker (it re-queues its trial and exits); wait up to :data:`STOP_SECONDS`,
    then kill what is left (its trial is re-queued by the next worker that finds it dead)."""
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(sig)
    deadline = time.monotonic() + STOP_SECONDS
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _survived(codes: list[int], study: optuna.Study, total: int) -> bool:
    """One line naming the workers that failed; whether the others still brought the study to its total."""
    from search.worker import counts

    def how(code: int) -> str:
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    failed = [f"worker {i}: {how(code)}" for i, code in enumerate(codes) if code]
    head = f"{len(failed)} of {len(codes)} workers failed ({', '.join(failed)})"
    finished = counts(study)["finished"]
    if finished >= total:
        print(f"{head}; the others finished the study", file=sys.stderr, flush=True)
        return True
    print(f"error: {head}; {finished}/{total} trials finished: rerun the same command to resume",
          file=sys.stderr, flush=True)  # fmt: skip
    return False


def _tie_line(name: str, tie: dict[str, Any]) -> str:
    """What `make study` says before it tells a tie at the top apart (:func:`search.verdict.choose`): how many trials
    tied, and how many of them it cross-validates (at most :data:`search.selection.TIE_FINALISTS`): it said "3 trials
    tied" of 6 tied at 1.0, the count of the finalists."""
    n, tied = len(tie.get("trials", [])), tie.get("tied", 0)
    which = "them" if tied <= n else f"the first {n} in the study's order"
    return (f"study {name}: {tied} trials tied at the top of the folds; cross-validating {which} on a fresh partition "
            "of the training split to tell them apart (outside the study) ...")  # fmt: skip


def _report(study, spec, total, url, final_result, artifacts=None) -> int:  # type: ignore[no-untyped-def]
    """Print the study's summary (:func:`search.report.render.print_summary`); 1 when nothing is complete.
    ``final_result`` computes the verdict, after the summary's first lines are out."""
    from search.report.data import study_data
    from search.report.render import print_summary
    from search.verdict import baseline_config, cached_run, choose, complete_trial, cv_run
    from search.verdict_note import note_verdict
    from search.worker import counts

    base = baseline_config(spec)
    try:
        if counts(study)["complete"]:  # the summary's choice is the verdict's: what it compares is run first
            if complete_trial(study, base) is None:  # the best is compared with the baseline's CV run
                if cached_run(study, spec, base) is None:
                    print(f"study {spec.name}: no complete baseline trial; cross-validating the baseline "
                          "configuration (unpruned, outside the study) ...", flush=True)  # fmt: skip
                cv_run(study, spec, base)
            pending = choose(study, spec)  # the baseline's run is cached: a tie and the confirmation are left
            if pending.tie_pending:
                print(_tie_line(spec.name, pending.tie or {}), flush=True)
            elif pending.unconfirmed:
                print(f"study {spec.name}: confirming the best trial against the baseline on a fresh partition of the "
                      "training split (two cross-validations outside the study) ...", flush=True)  # fmt: skip
            if pending.tie_pending or pending.unconfirmed:
                choose(study, spec, run=True)

        def verdict() -> dict:  # type: ignore[type-arg]
            finished = counts(study)["finished"]  # what the verdict judges (a joined worker may finish more meanwhile)
            res = final_result(study, spec)
            note_verdict(study, res, finished)  # the dashboard badges the top trial "Best Trial"
            return res

        return print_summary(study_data(study, spec, url, total, artifacts), verdict)
    except Interrupted as exc:  # no trial was running: the verdict (or the baseline's CV run for it) was
        exc.verdict = True
        raise
    except Exception as exc:
        stop = interrupt_behind(exc)  # a signal that surfaced as another error
        if stop is None:
            raise
        stop.verdict = True
        raise stop from exc


def cmd_retry(args: argparse.Namespace) -> int:
    """Re-queue trials given up after repeated crashes; they run first at the next ``make study`` / ``make worker``."""
    from search.retries import gave_up_trials, retry, total_needed
    from search.worker import counts, study_total

    spec = load_study(args.study)
    url = checked_storage(args.storage, spec.name, args.study, read_only=False)
    study = load_existing(url, spec.name, args.study)
    if not args.trial and not gave_up_trials(study):
        print(f"study {spec.name}: no trial was given up; nothing to re-queue")
        return 0
    try:
        new = retry(study, args.trial)
    except ValueError as exc:  # nothing was written
        print(f"error: --trial/TRIAL={' '.join(map(str, args.trial))}: {exc}", file=sys.stderr)
        return 2
    for old, copy in new.items():
        print(f"trial #{old} re-queued as trial #{copy} (waiting; crash count reset; runs before any new trial)")
    c, total = counts(study), study_total(study, spec, None)
    where, need = storage_hint(url, spec.name), total_needed(study, list(new.values()))
    if need > total:  # the total counts finished trials: a full study (or one whose last places are taken) needs more
        taken = need - len(new) - c["finished"]
        also = f" and {taken} running or re-queued that count toward it too" if taken else ""
        print(f"the study has {c['finished']}/{total} finished trials{also}: to run the re-queued one(s), raise the "
              f"total: make study STUDY={shlex.quote(args.study)}{where} TRIALS={need}")  # fmt: skip
    else:
        print(f"run them: make study STUDY={shlex.quote(args.study)}{where}")
    return 0


def cmd_repair(args: argparse.Namespace) -> int:
    """Mend a journal file damaged in the middle (:func:`search.journal.repair_journal`) or rebuild a damaged SQLite
    file (:func:`search.sqlite_file.repair_sqlite`); a backup is kept."""
    from search.journal import journal_path, repair_journal

    spec = load_study(args.study)
    url = resolve_url(args.storage, spec.name)
    path = journal_path(url)
    if path is None:
        from search.sqlite_file import repair_sqlite, sqlite_path

        file = sqlite_path(url) if url.startswith("sqlite") else None
        if file is not None:
            repair_sqlite(file)
            return 0
        print(f"error: --storage/STORAGE={mask_url(url)}: repair mends a journal file (a path) or a SQLite file "
              "(sqlite:///path.db); a PostgreSQL or proxy storage is its server's to repair", file=sys.stderr)  # fmt: skip
        return 2
    if path.is_dir():
        print(f"error: --storage/STORAGE={path}: is a directory; give the journal file (DIR/journal.log)",
              file=sys.stderr)  # fmt: skip
        return 2
    if path.exists() and not path.is_file():  # a FIFO, a link to /dev/null: it was "no journal file"
        print(f"error: --storage/STORAGE={path}: is {file_kind(path)}, not a regular file: it holds no journal, so "
              "there is nothing to repair; give the journal file (DIR/journal.log)", file=sys.stderr)  # fmt: skip
        return 2
    if not path.is_file():
        print(f"error: no journal file {path}: nothing to repair", file=sys.stderr)
        return 2
    repair_journal(path, study=(spec.name, spec.direction))
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """optuna-dashboard on the study's storage; with ``--storage`` the study file is optional (a study run from
    Python has none). A journal or SQLite file that does not exist is refused: serving it would create it."""
    given = args.storage or os.environ.get(STORAGE_ENV)
    name = load_study(args.study).name if not given or Path(args.study).is_file() else None
    url = checked_storage(args.storage, str(name), args.study, read_only=True)  # ~ expanded, as everywhere
    path = store_file(url)
    if path is not None and not path.is_file():
        # the same store, as report's hint names it (without STORAGE the study went to runs/: the faults probe)
        there = "" if name is None or url == default_url(str(name)) else f" STORAGE={shlex.quote(mask_url(url))}"
        run = f"make study STUDY={shlex.quote(args.study)}{there}" if name else "run a study into it"
        raise StorageError(f"no study storage {mask_url(url)} (no such file): nothing to show; {run} first")
    if no_optuna_tables(url):  # a new or mistyped database: serving it wrote Optuna's 13 tables into it (review8)
        study = f"study {name!r}" if name else "study"
        raise StorageError(f"no {study} in {mask_url(url)} (a database without Optuna's tables: no study was ever "
                           "created there): nothing to show; run a study into it first")  # fmt: skip
    from optuna_dashboard import run_server

    from search.trial_introspection import DashboardFigures, artifact_store, draw_in_background

    check_port(args.host, args.port, "PORT")  # before anything is opened or said
    snapshot = "the dashboard shows a copy taken now: trials finished later appear when it is restarted"
    with readable(url, snapshot, artifacts=not args.artifacts) as read_url:
        storage = open_storage(read_url, plain=True)  # the bare RDBStorage: optuna-dashboard checks its schema version
        page = f"http://{args.host}:{args.port}"
        if name is not None:  # the study named: its own page, or a note that this storage does not hold it
            try:
                page += f"/dashboard/studies/{storage.get_study_id_from_name(name)}"
            except KeyError:
                shown = len(storage.get_all_studies())
                print(f"note: no study {name!r} in {mask_url(url)}: the dashboard lists the {shown} stud"
                      f"{'y' if shown == 1 else 'ies'} there", file=sys.stderr, flush=True)  # fmt: skip
                name = None
        figures = DashboardFigures(
            storage, args.artifacts, artifact_store(name or "dashboard", args.artifacts, storage)
        )
        figures.refresh()  # every study's figure directory there is here
        print(f"optuna-dashboard for {mask_url(url)} on {page} "
              f"(figures: {', '.join(str(p) for p in figures.stores)})", flush=True)  # fmt: skip
        draw_in_background(figures)  # trial figures are drawn here, where they are looked at
        run_server(storage, host=args.host, port=args.port, artifact_store=figures)
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    """Draw every reserved trial figure of a study now (``make dashboard`` draws them in the background)."""
    from search.trial_introspection import artifact_store, draw_pending

    name = load_study(args.study).name
    study = load_existing(checked_storage(args.storage, name, args.study, read_only=True), name, args.study)
    store = artifact_store(name, args.artifacts, study._storage)
    missing: list[int] = []
    n = draw_pending(study, store, missing=missing)
    drew = f"drew the figures of {n} trial(s) into" if n else "no trial had figures left to draw in"  # (run again)
    print(f"study {name}: {drew} {store._base_path}", flush=True)
    if missing:  # a wrong --artifacts directory said "drew the figures of 0 trial(s)" and exited 0
        shown = ", ".join(f"#{k}" for k in sorted(missing)[:10]) + (", ..." if len(missing) > 10 else "")
        print(f"error: {len(missing)} trial(s) ({shown}) have figures to draw, but their introspection histories are "
              f"not in {store._base_path}; give the directory their workers wrote to (--artifacts/ARTIFACTS)",
              file=sys.stderr, flush=True)  # fmt: skip
        return 2
    return 0


def cmd_proxy(args: argparse.Namespace) -> int:
    url = args.storage or os.environ.get(STORAGE_ENV)
    if not url or not url.startswith(("postgresql", "mysql", "sqlite")):
        raise StorageError("make proxy needs STORAGE=postgresql://... (the database the proxy serves)")
    check_storage_url(url, "--storage/STORAGE")  # a password's reserved character: one line, as for the others
    if not os.environ.get(PROXY_PARENT_ENV):  # the first process: its siblings share the port (SO_REUSEPORT)
        check_port(args.host, args.port, "PROXY_PORT")
    if args.processes > 1:
        return _proxy_processes(args, url)
    from concurrent.futures import ThreadPoolExecutor

    from optuna.storages import run_grpc_proxy_server

    parent = os.environ.get(PROXY_PARENT_ENV)
    if parent:  # one of --processes N: never outlive the process that started it (even one killed with SIGKILL)
        _when_orphaned(int(parent), lambda: os._exit(0))
    # the proxy holds the only database connections of all its workers: as many as its request threads
    storage = open_storage(url, pool={"pool_size": args.threads, "max_overflow": 0})
    if isinstance(storage, RetryingStorage):  # workers starting together on a new study: starting points once
        from search.enqueue_once import EnqueueOnce

        storage = EnqueueOnce(storage.inner, url)  # type: ignore[abstract]  # RetryingStorage makes its methods
    print(f"gRPC storage proxy for {mask_url(url)} on {args.host}:{args.port}", flush=True)
    run_grpc_proxy_server(storage, host=args.host, port=args.port, thread_pool=ThreadPoolExecutor(args.threads))
    return 0


def check_port(host: str, port: int, variable: str) -> None:
    """One line when ``host:port`` cannot be listened on (another server holds it, or the host is not this
    machine's): the dashboard printed "Listening on ..." and then a 39-line traceback, the proxy 31 lines."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free to the server
            probe.bind(address)
    except socket.gaierror as exc:  # the host, not the port: 256.1.1.1, a name no resolver knows
        raise PreflightError(f"cannot listen on {host}:{port}: host {host!r}: {exc.strerror or exc}; allowed: "
                             "HOST=127.0.0.1 (this machine only), 0.0.0.0 (every interface), or this machine's "
                             "name or address") from None  # fmt: skip
    except OSError as exc:
        why = "it is in use (another server listens there)" if exc.errno == errno.EADDRINUSE else (exc.strerror or exc)
        raise PreflightError(f"cannot listen on {host}:{port}: {why}; allowed: another {variable}=..., or stop "
                             "what holds it") from None  # fmt: skip


PROXY_PARENT_ENV = "REGTUNE_PROXY_PARENT"  # set for the processes of `proxy --processes N`: their parent's pid
WORKER_PARENT_ENV = "REGTUNE_WORKER_PARENT"  # set for the workers of `study --workers N`: their parent's pid


def _when_orphaned(parent: int, then: Callable[[], None]) -> None:
    """Call ``then`` (in a daemon thread) once this process's parent is no longer ``parent``: it died, even by
    SIGKILL, which it could not pass on (the workers of a killed ``study --workers 2`` went on training as
    orphans of PID 1, each holding its GPU, with no one to report to)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        then()

    threading.Thread(target=watch, daemon=True).start()


def _proxy_processes(args: argparse.Namespace, url: str) -> int:
    """``--processes N``: N proxy processes on one port (gRPC binds with SO_REUSEPORT, and the kernel spreads the
    workers' connections over them). One Python process serves requests on one core at a time (the GIL): measured
    here, a single proxy used 0.89 of a core at 64 workers while PostgreSQL used 0.12. Each process holds its own
    ``--threads`` database connections. The URL reaches them in the environment, not on their command line. If one
    exits, the others are stopped and its exit status is returned; Ctrl-C or SIGTERM stops them all."""
    cmd = [sys.executable, "-m", "search", "proxy", "--host", args.host, "--port", str(args.port),
           "--threads", str(args.threads), "--processes", "1"]  # fmt: skip
    env = {**os.environ, STORAGE_ENV: url, PROXY_PARENT_ENV: str(os.getpid())}
    procs = [subprocess.Popen(cmd, env=env) for _ in range(args.processes)]
    print(f"{args.processes} proxy processes on {args.host}:{args.port} (pids {', '.join(str(p.pid) for p in procs)})",
          flush=True)  # fmt: skip

    def stop() -> None:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            p.wait()

    def on_term(*_: object) -> None:
        stop()
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)
    try:
        while True:
            for p in procs:
                code = p.poll()
                if code is not None:
                    stop()
                    return code
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop()
        return 130


def cmd_validate(args: argparse.Namespace) -> int:
    """The checks of ``study`` (study file, dataset, storage URL) for each file: one line each; exit 2 if any fails."""
    failed = 0
    for path in args.studies:
        try:
            p = prepare(path)
        except (StudyFileError, DataError, PreflightError) as exc:
            print("error: " + " ".join(str(exc).splitlines()), file=sys.stderr, flush=True)
            failed += 1
            continue
        spec, tr, te = p.spec, p.splits.train, p.splits.test
        lengths = (min(int(tr.lengths.min()), int(te.lengths.min())), max(int(tr.lengths.max()), int(te.lengths.max())))
        print(
            f"{path}: ok ({spec.name}: {len(spec.search)} searched, {spec.trials} trials, {spec.sampler}/{spec.pruner}; "
            f"data {spec.dataset}: {len(tr)} train / {len(te)} test sequences, length {lengths[0]}..{lengths[1]}, "
            f"{tr.X.shape[2]} channel{'s' if tr.X.shape[2] != 1 else ''}, {len(p.splits.classes)} classes, {p.folds} fold{'s' if p.folds > 1 else ''}; "
            "not compared with the study's store, if it has one: make study does that)",
            flush=True,
        )
        if spec.defaulted:
            print(f"  chosen from the data: {chosen(spec, p.folds)}", flush=True)
        from search.defaults import budget

        print(f"  budget: {budget(spec, p.folds, len(tr), spec.trials)}", flush=True)
        _data_notes(p)
        for note in (points_note(spec, spec.trials), seeds_note(spec)):
            if note is not None:
                print(note, file=sys.stderr, flush=True)
    return 2 if failed else 0


def chosen(spec: StudySpec, folds: int) -> str:
    """What the data-dependent defaults chose for ``spec`` (``spec.defaulted``), one entry each: a searched range or
    choice list, a fixed value, the epoch budget and the folds (``validate`` showed none of them, so a user could not
    see before a run that a front end would be searched, or at which strides: the unseen-data probe)."""
    from models.config import defaults
    from search.spec import Choice

    out = []
    for name in spec.defaulted:
        if name in spec.search:
            dim = spec.search[name]
            if isinstance(dim, Choice):
                shown = "searched " + " / ".join(map(str, dim.choices))
            else:
                shown = f"searched {dim.low:g}..{dim.high:g}" + (" (log)" if dim.log else "")
        elif name == "max_epochs":
            shown = str(spec.max_epochs)
        elif name == "cv_folds":
            shown = str(folds) + _rarest_note(str(spec.defaulted[name]), folds)
        else:
            shown = str(spec.fixed.get(name, spec.architecture.get(name, defaults().get(name, "its default"))))
        if name == "patience" and int(spec.fixed.get("patience", 0)) >= spec.max_epochs:  # 125 vs a written 4, unsaid
            shown += f" (not below max_epochs {spec.max_epochs}: early stopping never ends a fold)"
        out.append(f"{name} {shown}")
    return "; ".join(out)


def _rarest_note(why: str, folds: int) -> str:
    """Why the folds are fewer than the training size gives, where the rarest class cut them (``spec.defaulted``'s
    record: "... the rarest class has N"): 35 classes of 4 sequences and one of 1 showed "cv_folds 1", a holdout
    instead of 5 folds, with nothing to say one class caused it (the unseen7 probe)."""
    rarest = re.search(r"the rarest class has (\d+)", why)
    if rarest is None:
        return ""
    n = int(rarest[1])
    cut = "one holdout" if folds == 1 else "no more folds than that"
    return f" (the rarest class has {n} training sequence{'s' if n != 1 else ''}: {cut})"


def _data_notes(prepared: Prepared) -> None:
    """Say (stderr) :func:`search.preflight.data_warnings`; a worker process of ``study --workers N`` leaves them to
    its parent (:func:`search.processes.say`: they were said N + 1 times)."""
    from search.preflight import data_warnings

    if started_by_study():  # say() would drop every line: nothing to compute (each worker hashed every sequence
        return  # and took the splits' moments for nothing: the review)
    for line in data_warnings(prepared):
        say(line)


def cmd_report(args: argparse.Namespace) -> int:
    from search.report.build import main as report_main

    return report_main(args)


def _usable_cores() -> int:
    """The cores this process may use (nproc's count: affinity, where the platform has it; else all of them)."""
    affinity = getattr(os, "sched_getaffinity", None)  # Linux only: macOS failed every command building the parser
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def parser(prog: str = "python -m search") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="regtune: search the regularizers of an RNN classifier")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--storage", help="storage URL (default runs/<study>/journal.log, or $REGTUNE_STORAGE)")

    for name, help_ in (("study", "run or resume a study to its total, then report the result"),
                        ("worker", "join a study and work until its total is reached")):  # fmt: skip
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("study", help="study file, e.g. studies/lstm.yaml")
        common(sp)
        sp.add_argument("--trials", type=_whole, help="the study's total number of finished trials")
        sp.add_argument(
            "--workers",
            type=_whole,
            help="local worker processes (default: 1, or with GPUs one per GPU times --workers-per-gpu)",
        )
        sp.add_argument(
            "--workers-per-gpu",
            type=_whole,
            default=1,
            help="workers sharing each GPU when --workers is not given (default: 1)",
        )
        sp.add_argument("--artifacts", help="shared directory for trial checkpoints")
        sp.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
        sp.add_argument("--allow-change", action="store_true",
                        help="continue a study whose study file only widened its search space")  # fmt: skip
    sp = sub.add_parser("dashboard", help="serve optuna-dashboard")
    sp.add_argument(
        "study",
        nargs="?",
        default="studies/lstm.yaml",
        help="study file (default: studies/lstm.yaml; none needed with --storage)",
    )
    common(sp)
    sp.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1, this machine only)")
    sp.add_argument("--port", type=_whole, default=8080, help="port to serve on (default: 8080)")
    sp.add_argument("--artifacts", help="the ARTIFACTS directory the workers used (trial figures are under it)")
    sp = sub.add_parser("figures", help="draw the trial figures of a study now (the dashboard draws them as it serves)")
    sp.add_argument("study", help="study file, e.g. studies/lstm.yaml")
    common(sp)
    sp.add_argument("--artifacts", help="the ARTIFACTS directory the workers used")
    sp = sub.add_parser("proxy", help="serve Optuna's gRPC storage proxy in front of an RDB storage")
    sp.add_argument(
        "--storage", help="the database it serves: postgresql://, mysql:// or sqlite:/// (or $REGTUNE_STORAGE)"
    )
    sp.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1, this machine only)")
    sp.add_argument("--port", type=_whole, default=13000, help="port to serve on (default: 13000)")
    sp.add_argument("--threads", type=_whole, default=8, help="request threads (and database connections) per process")
    sp.add_argument(
        "--processes", type=_whole, default=_usable_cores(),
        help="proxy processes sharing the port (SO_REUSEPORT; default: the cores this process may use, as make "
        "proxy's nproc): one Python process serves on one core at a time; each holds --threads database connections",
    )  # fmt: skip
    sp = sub.add_parser("report", help="write the HTML report of one or more studies")
    sp.add_argument(
        "--out",
        help="write each report to OUT/<study>/ (and OUT/comparison/); default "
        "runs/<study>/report/, or runs/<study>/report-<storage>/ for a study outside its default journal",
    )
    sp.add_argument("studies", nargs="+", help="study file(s); several also get a comparison report")
    common(sp)
    sp = sub.add_parser("retry", help="re-queue trials given up after repeated crashes (crash count reset)")
    sp.add_argument("study", help="study file, e.g. studies/lstm.yaml")
    common(sp)
    sp.add_argument("--trial", type=_whole, nargs="+", help="given-up trial number(s) (default: all of them)")
    sp = sub.add_parser("repair", help="repair a damaged journal or SQLite file of a study (a backup is kept)")
    sp.add_argument("study", help="study file, e.g. studies/lstm.yaml")
    common(sp)
    sp = sub.add_parser("validate", help="check study files and exit")
    sp.add_argument("studies", nargs="+", help="study file(s), e.g. studies/*.yaml")
    return p


def _whole(text: str) -> int | str:
    """An integer option's value: the integer, or the text as given (``main`` names it in one line; argparse's
    own refusal printed its usage block and named the flag, not the make variable). ASCII digits only: ``int``
    read ``TRIALS=1_0`` as 10 and an Arabic-Indic three as 3 (the stores12 probe)."""
    if re.fullmatch(r"\s*[+-]?[0-9]+\s*", text, flags=re.ASCII) is None:
        return text
    return int(text)


#: the integer options: (attribute, the flag and its make variable, the smallest and largest allowed value)
NUMBERS = (
    ("trials", "--trials/TRIALS", 1, None),
    ("workers", "--workers/WORKERS", 1, None),
    ("workers_per_gpu", "--workers-per-gpu/WORKERS_PER_GPU", 1, None),
    ("port", "--port/PORT (PROXY_PORT for make proxy)", 1, 65535),
    ("threads", "--threads", 1, None),
    ("processes", "--processes/PROXY_PROCESSES", 1, None),
    ("trial", "--trial/TRIAL", 0, None),
)


def _bad_number(args: argparse.Namespace) -> str | None:
    """The one-line refusal of an integer option that is not one, or out of its range (None when all are fine)."""
    for name, flag, low, high in NUMBERS:
        given = getattr(args, name, None)
        for value in given if isinstance(given, list) else [given]:
            if value is None:
                continue
            if not isinstance(value, int) or value < low or (high is not None and value > high):
                allowed = f"an integer >= {low}" if high is None else f"an integer in {low}..{high}"
                return f"{flag}={value}: must be {allowed}"
    return None


def _bad_artifacts(args: argparse.Namespace) -> str | None:
    """The one-line refusal of an ARTIFACTS the trials cannot write (None when it is fine), before the store is
    touched: a file there was a NotADirectoryError traceback after the study was created, and a mistyped scheme
    (``s4://b``) a local directory ``s4:`` made without a word."""
    given = getattr(args, "artifacts", None)
    if args.command not in ("study", "worker") or not given:
        return None
    allowed = "allowed: a directory every worker can write, or s3://bucket/prefix"
    if "://" in given:
        scheme = given.split("://", 1)[0]
        return None if scheme == "s3" else f"--artifacts/ARTIFACTS={given}: unknown scheme {scheme!r}; {allowed}"
    path = Path(given)
    above = next((p for p in (path, *path.parents) if p.exists() or p.is_symlink()), Path("."))
    if not above.is_dir():
        what = "is not a directory" if above == path else f"is under {above}, which is not a directory"
        return f"--artifacts/ARTIFACTS={given}: {what}; {allowed}"
    if not os.access(above, os.W_OK | os.X_OK):
        return f"--artifacts/ARTIFACTS={given}: {above} is not writable; {allowed}"
    try:  # a folder of its own, made and removed where the path starts (/proc/x passes access() and fails here):
        os.rmdir(tempfile.mkdtemp(prefix=".regtune-check-", dir=above))  # making the path itself left it behind
    except OSError as exc:  # after a later refusal (review8), and another worker starting may be using it
        return f"--artifacts/ARTIFACTS={given}: cannot make a folder in {above}: {exc.strerror or exc}; {allowed}"
    return None


def _bad_host(args: argparse.Namespace) -> str | None:
    """The one-line refusal of an empty HOST: a server given '' listens on every interface."""
    if getattr(args, "host", None) is not None and not args.host.strip():
        return "--host/HOST is empty: allowed: 127.0.0.1 (this machine only), 0.0.0.0 (every interface), or a name"
    return None


def _expand_home(args: argparse.Namespace) -> None:
    """``~`` at the start of a path option, read as the shell does: a quoted ARTIFACTS='~/a' (or one a script
    passes) made a directory named ``~`` here (STORAGE's are expanded where the URL is resolved)."""
    for name in ("study", "studies", "artifacts", "out"):
        value = getattr(args, name, None)
        if isinstance(value, str) and value.startswith("~"):
            setattr(args, name, os.path.expanduser(value))
        elif isinstance(value, list):
            setattr(args, name, [os.path.expanduser(v) if v.startswith("~") else v for v in value])


def main(argv: list[str] | None = None, prog: str = "python -m search") -> int:
    args = parser(prog).parse_args(argv)
    reset_interrupts()  # main() called again in one process (tests, a notebook): no signal of an earlier call
    if args.command in TRAINING_COMMANDS and threading.current_thread() is threading.main_thread():
        # a line and exit 130 / 143, not a silent death: Lightning turns a KeyboardInterrupt in the verdict's
        # refits into a bare exit 1, and a SIGTERM would end the process without a word
        # SIGHUP: a closed terminal or a dropped ssh session killed `make study` silently, its trials "crashed"
        # installed before Lightning's seconds of imports: a SIGTERM during them was a silent exit (faults9)
        install_interrupts((signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    try:
        quiet_libraries(training=args.command == "report")  # seconds of imports (study, worker: after the checks)
    except (KeyboardInterrupt, Interrupted) as exc:
        return interrupted_while_starting(exc)
    _expand_home(args)
    bad = _bad_host(args) or _bad_number(args) or _bad_artifacts(args)
    if bad:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    if args.command in ("study", "worker") and not args.in_process:
        args.in_process = (args.workers or 1) == 1
    parent = os.environ.pop(WORKER_PARENT_ENV, None)  # not passed on to anything this worker starts
    try:
        if parent and args.command == "worker" and args.in_process:  # stops as on SIGTERM: re-queues its trial,
            # exits; inside the try: a parent killed while this worker started signals it at once (two tracebacks)
            _when_orphaned(int(parent), lambda: os.kill(os.getpid(), signal.SIGTERM))
        if args.command == "study":
            return cmd_study(args)
        if args.command == "worker":
            return cmd_study(args, join_only=True)
        return {"dashboard": cmd_dashboard, "figures": cmd_figures, "proxy": cmd_proxy, "validate": cmd_validate, "report": cmd_report,
                "retry": cmd_retry, "repair": cmd_repair}[args.command](args)  # fmt: skip
    except StudyChangedError as exc:  # its lines: what changed, then how to go on
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (StudyFileError, StorageError, DataError, PreflightError) as exc:
        text = " ".join(str(exc).splitlines())  # one line, whatever a parser said
        files = [args.study] if isinstance(getattr(args, "study", None), str) else getattr(args, "studies", None) or []
        if len(files) == 1:  # the storage does not know the study file; the command line does
            text = text.replace("STUDY=<study file>", f"STUDY={shlex.quote(files[0])}")
        print("error: " + text, file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted) as exc:
        return _interrupted(args, exc)
    except Exception as exc:
        stop = interrupt_behind(exc)
        if stop is not None:  # a signal that surfaced as another error (a database call it cut short)
            return _interrupted(args, stop)
        full = full_disk(exc)
        if full is not None:  # before the storage check: Optuna wraps a full disk under SQLite in its own error
            print(f"error: {disk_failure(args, full)}", file=sys.stderr)
            return 2
        changed = journal_changed(args, exc)
        if changed is not None:
            print(f"error: {changed}", file=sys.stderr)
            return 2
        if isinstance(exc, optuna.exceptions.StorageInternalError):  # the store failed mid-way (a disk, a server)
            print(f"error: {storage_failure(args, exc)}", file=sys.stderr)
            return 2
        if type(exc).__name__ == "VerdictRunError":  # search.verdict: one of its own runs failed (not unimported)
            if os.environ.get("REGTUNE_TRACEBACK", "") not in ("", "0"):  # search.verdict.TRACEBACK_ENV
                traceback.print_exception(exc.__cause__ or exc, file=sys.stderr)
            print(f"error: the verdict: {' '.join(str(exc).splitlines())}", file=sys.stderr)
            return 1
        if type(exc).__name__ == "StudyError":  # the worker's stop after trials failed in a row (search.worker)
            print(f"error: {' '.join(str(exc).splitlines())}. The study stops here; every finished trial is "
                  "stored. Read the failed trials' fail_reason (make dashboard), fix the cause, then rerun to resume",
                  file=sys.stderr)  # fmt: skip
            return 1
        raise


#: errno values that mean "no room to write": a full disk or quota, a file-size limit, a read-only file system
_NO_ROOM = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS}
#: a write refused by permission (an immutable flag set, the mode changed, another user's file) mid-run: 87 lines of
#: PermissionError traceback before (a contention probe, 2026-12-05)
_NO_PERMISSION = {errno.EPERM, errno.EACCES}


def full_disk(exc: BaseException) -> OSError | None:
    """The OSError in ``exc``'s chain (its causes and contexts) that says there is no room to write, or no
    permission to, or None. SQLite's "database or disk is full" is no OSError (SQLITE_FULL): read as ENOSPC."""
    for e in chain(exc):
        if isinstance(e, OSError) and e.errno in _NO_ROOM | _NO_PERMISSION:
            return e
        if SQLITE_FULL in str(e):
            return OSError(errno.ENOSPC, f"{SQLITE_FULL} (SQLite)")
        if SQLITE_IOERR in str(e) and (limit := _file_size_limit()) is not None:
            # a write past `ulimit -f` is EFBIG to SQLite, which says only "disk I/O error": it was retried for
            # 60 s as a lost connection and ended "lost the storage ... once the storage answers again" (faults5)
            return OSError(
                errno.EFBIG, f"{SQLITE_IOERR} (SQLite), under a file-size limit of {limit} bytes (ulimit -f)"
            )
    return None


def _file_size_limit() -> int | None:
    """This process's file-size limit (``ulimit -f``) in bytes, or None when there is none."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def journal_changed(args: argparse.Namespace, exc: BaseException) -> str | None:
    """One line when a journal file stopped parsing under a running process (cut, or written over, by another
    program: Optuna reads it on from where it left off and meets a torn record), else None."""

    from search.storage import JournalChangedError, JournalRemovedError

    url = getattr(args, "url", None)  # set by the commands once their storage is open
    if url is None or "://" in url:
        return None
    if not any(isinstance(e, (json.JSONDecodeError, UnicodeDecodeError, JournalChangedError)) for e in chain(exc)):
        return None
    if any(isinstance(e, JournalRemovedError) for e in chain(exc)):  # make repair found "no journal file" there
        return (
            f"the journal {url} was removed under this run (deleted, or its folder moved or deleted): this process "
            "wrote nothing more, and the running trial is lost. Put the file back where it was (from where it was "
            "moved, or a backup copy), then rerun to resume; a rerun without it starts the study afresh"
        )
    study = shlex.quote(args.study) if isinstance(getattr(args, "study", None), str) else "<study file>"
    return (
        f"the journal {url} changed under this run (cut short or written over by another program): it no longer "
        "reads as the records this process wrote, and this process wrote nothing more; the running trial is lost, and "
        "so are the records the other program cut away. "
        f"Check it with make repair STUDY={study} STORAGE={shlex.quote(url)}, then rerun to resume"
    )


def disk_failure(args: argparse.Namespace, exc: OSError) -> str:
    """One line for a write that found no room: which file, the system's words, and what is safe."""
    where = exc.filename or getattr(args, "storage", None) or "the study's files"
    if getattr(args, "command", None) == "repair":  # no trial runs here: "a trial this cut short is re-queued" misled
        fix = (
            "Restore write access" if exc.errno in _NO_PERMISSION | {errno.EROFS} else "Free space (or lift the limit)"
        )
        return (
            f"cannot write {where}: {exc.strerror or exc} ({errno.errorcode.get(exc.errno or 0, exc.errno)}): the "
            "repair writes a backup copy and the mended file beside it (about twice the file's size) before it "
            f"replaces the file in one step, so the file is as it was. {fix}, then rerun the same command"
        )
    # only study and worker run trials: figures, report and retry were told of "a trial this cut short" (faults10)
    trials = getattr(args, "command", None) in ("study", "worker")
    cut = ", and a trial this cut short is re-queued when the study resumes" if trials else ""
    if exc.errno in _NO_PERMISSION:
        return (
            f"cannot write {where}: {exc.strerror or exc} ({errno.errorcode.get(exc.errno or 0, exc.errno)}): this "
            "process may no longer write there (an immutable flag, changed permissions, another user's file); every "
            f"trial that finished before is stored{cut}. Restore write access, then rerun the same command"
        )
    if exc.errno == errno.EROFS:  # no space to free: the file system refuses every write
        return (
            f"cannot write {where}: {exc.strerror or exc} (EROFS): no write can succeed there, whatever space is "
            "free; every trial that finished before is stored. Run the command where the study's files are writable "
            "(remount read-write, or copy the journal / SQLite file elsewhere and give --storage)"
        )
    return (
        f"cannot write {where}: {exc.strerror or exc} ({errno.errorcode.get(exc.errno or 0, exc.errno)}); every "
        f"trial that finished before is stored{cut}{' (a journal record cut short is set aside then)' if trials else ''}"
        ". Free space (or lift the limit), then rerun the same command"
    )


def storage_failure(args: argparse.Namespace, exc: BaseException) -> str:
    """One line for a storage that failed after it opened: which, the database's own words, and what is safe."""
    cause = exc.__cause__ or exc
    words = " ".join(str(getattr(cause, "orig", None) or cause).splitlines()[:1])
    url = getattr(args, "storage", None) or os.environ.get(STORAGE_ENV) or "the study's journal"
    denied = PG_DENIED.search(words)
    if denied and not read_only_role(getattr(args, "url", None) or url):  # one privilege missing, not a read-only
        # role: "The user or database is read-only", said of a role that wrote the study's other tables (faults9)
        statement = next((str(said) for e in chain(exc) if (said := getattr(e, "statement", None))), "")
        verb = statement.split(maxsplit=1)[0].upper() if statement.strip() else "write"
        if verb == "SELECT" and (lock := re.search(r"\bFOR (?:NO KEY )?(?:UPDATE|SHARE)\b", statement.upper())):
            verb = f"SELECT ... {lock[0]} (a row lock)"  # a claim of a trial: its privilege is not SELECT's
        user = urlsplit(url).username if "://" in url else None
        refused = "a read" if verb == "SELECT" else "a write"  # (a revoked SELECT was "refused a write": review9)
        stopped = (", and a trial this stopped is re-queued by the next run"
                   if getattr(args, "command", None) in ("study", "worker") else "")  # fmt: skip
        grant = (
            "SELECT, INSERT, UPDATE, DELETE ON ALL TABLES"
            if verb == "SELECT"
            else "INSERT, UPDATE, DELETE ON ALL TABLES"
        )
        return (f"the storage {mask_url(url)} refused {refused}: {scrub(words, url)}: the user "
                f"{user or '(the default one)'} may not run its {verb} on {denied[1]} {denied[2]}, which regtune "
                f"needs (a privilege revoked or never granted); every trial that finished before is stored{stopped}. "
                f"Grant it (GRANT {grant} IN SCHEMA public TO {user or 'USER'}, and USAGE ON ALL SEQUENCES for a "
                "sequence), then rerun")  # fmt: skip
    if READ_ONLY.search(words):  # a read-only role or a replica: nothing is damaged, and repair mends nothing
        report = getattr(args, "command", None) == "report"
        what = "the report saves its retrained rows in the study" if report else "a study writes"
        if "read-only transaction" in words and (why := read_only_server(getattr(args, "url", None) or url)):
            return (f"the storage {mask_url(url)} refused a write: {scrub(words, url)}; nothing was changed. Every "
                    f"transaction there is read-only, and {what}: {why}")  # fmt: skip
        return (f"the storage {mask_url(url)} refused a write: {scrub(words, url)}; nothing was changed. The user "
                f"or database is read-only (a read-only role, a replica), and {what}: use a user who may write "
                "to the study's database (PostgreSQL: GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "
                "...), or a copy of it that is writable")  # fmt: skip
    return (
        f"the storage {mask_url(url)} failed: {scrub(words, url)}; every trial that finished before is stored. "
        "Check the storage (a damaged journal or SQLite file: make repair), then rerun to resume"
    )


#: PostgreSQL's words for a privilege a role lacks on one table (or sequence): what, and which
PG_DENIED = re.compile(r"permission denied for (table|sequence|relation) (\S+)")
#: a database's words for a write it refuses (PostgreSQL, MySQL, SQLite)
READ_ONLY = re.compile(r"permission denied|read-only transaction|read only|readonly|InsufficientPrivilege|"
                       r"command denied", re.IGNORECASE)  # fmt: skip


#: what an interrupt left behind, per command that runs no trial
OTHER_INTERRUPTED = {
    "repair": "the file is replaced in one step after its backup, so it is as it was or wholly repaired; rerun the "
    "same command (once repaired it says there is nothing to repair)",
    "retry": "each trial is re-queued in one write or not at all; rerun make retry without TRIAL to re-queue every "
    "trial still given up",
    "dashboard": "the dashboard stopped; the study is as it was",
    "proxy": "the proxy stopped; workers that reach their storage through it lose it until it runs again (make proxy)",
}


#: an interrupt while the study is opened or created (search.worker.ensure_study): what it may have left
OPENING_INTERRUPTED = ("no trial ran; a study this run was creating may hold part of its starting points (the next "
                       "run enqueues those it lacks), one that existed is as it was; rerun to resume")  # fmt: skip


def _interrupted(args: argparse.Namespace, exc: BaseException) -> int:
    """One line (none from a worker of ``study --workers N``: its parent says it) and the shell's exit code for
    the signal: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    signum, name = stopped_by(exc)  # Interrupted carries its signal; KeyboardInterrupt is Ctrl-C
    if not (args.command == "worker" and started_by_study()):
        if getattr(args, "stage", None) == "checks":
            print(f"\ninterrupted ({name}) before the study started: nothing was stored", file=sys.stderr, flush=True)
        elif getattr(args, "stage", None) == "opening":  # "nothing was stored" said so of a study made, points queued
            print(f"\ninterrupted ({name}) while the study was opened or created: {OPENING_INTERRUPTED}",
                  file=sys.stderr, flush=True)  # fmt: skip
        elif args.command == "report":
            print(f"\ninterrupted ({name}): no report was written; every finished trial is stored; rerun to write it",
                  file=sys.stderr, flush=True)  # fmt: skip
        elif getattr(exc, "verdict", False):
            print(f"\ninterrupted ({name}) during the verdict's retraining: every finished trial and every finished "
                  "refit is stored; rerun to complete the verdict", file=sys.stderr, flush=True)  # fmt: skip
        elif args.command not in ("study", "worker"):  # no trial runs here: "marked failed and re-queued" misled
            print(f"\ninterrupted ({name}): {OTHER_INTERRUPTED.get(args.command, 'rerun to finish')}", file=sys.stderr,
                  flush=True)  # fmt: skip
        else:
            print(f"\ninterrupted ({name}): any running trial was marked failed and re-queued; rerun to resume",
                  file=sys.stderr, flush=True)  # fmt: skip
    return 128 + signum


def main_entry() -> None:
    """The ``regtune`` console command of an environment installed before :func:`search.entry.console` was (its
    script still names this): the same command."""
    from search.entry import console

    console()


#: a signal outside the command's own handlers: as it returned (its work done and said) or before it reached them
LATE_INTERRUPTED = "\ninterrupted ({name}) as the command began or ended: what it said it did is stored; rerun it if it printed no result"


def closed_pipe(run: Callable[..., int], **kwargs: Any) -> int:
    """``run(**kwargs)``, quiet when the reader of stdout goes away (``| head``): what was stored stays stored;
    a BrokenPipeError traceback ended the output instead. Exit 141, the shell's code for SIGPIPE. A signal that
    lands here, outside ``run``'s own handlers (just after it returned), is one line and the signal's exit code
    (130 for Ctrl-C), as inside: it was a traceback ending in ``code = run(**kwargs)``."""
    try:
        code = run(**kwargs)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit fails quietly
        return 141
    except (KeyboardInterrupt, Interrupted) as exc:
        signum, name = stopped_by(exc)  # KeyboardInterrupt is Ctrl-C
        if not started_by_study():  # a worker of study --workers N: its parent says it
            with contextlib.suppress(OSError):  # a terminal gone (SIGHUP): nothing to say it to
                print(LATE_INTERRUPTED.format(name=name), file=sys.stderr, flush=True)
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
