"""Workers: run trials of a study until its *total* is reached, exactly, however many workers share it.

The total counts finished trials (complete + pruned). A worker asks for a trial only while finished +
running trials are below the total, and after asking it checks its trial's rank: if the trials numbered
before it that are finished, running or waiting to run first already make the total, another worker won the
race and the trial is handed back (an enqueued trial goes back to waiting; a fresh one is closed as failed with the reason
``surplus``). So N workers never overshoot, and a RUNNING trial always counts.

A trial whose worker dies is failed and re-queued with its parameters and intermediate values: on any storage,
a trial claimed on this machine (host, boot and pid namespace) by its worker's process id; elsewhere by a stale
heartbeat, Optuna's on RDB storages, the worker's own (a ``regtune:beat`` system attribute) behind the gRPC proxy
(the journal file's trials have none: a heartbeat every 10 s would be a line each, and its workers share one
machine, where the pid decides); on Ctrl-C / SIGTERM by the worker itself before it exits. A trial no worker ever claimed (its worker died between asking for it and
its first heartbeat) is failed and re-queued after :data:`ORPHAN_SECONDS`. With ``artifacts`` (a checkpoint
store, :mod:`search.checkpoints`) the re-run resumes the dead run's last finished epoch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.storages.journal import JournalStorage
from optuna.trial import FrozenTrial, TrialState

from search.checkpoints import CheckpointStore, open_checkpoints
from search.folds import folds_of
from search.interrupts import Held, Interrupted, held_signals, interrupt_behind, raise_held, signals_raise
from search.objective import Objective
from search.processes import alive, pid_space, process_start, say
from search.progress import SURPLUS, VALUE_IS_ATTR, metric_name, value_is
from search.recipes import duplicate_points, starting_points
from search.retries import give_up
from search.samplers import make_pruner, make_sampler
from search.spec import StudySpec
from search.storage import (  # the worker-process attributes live beside _RUN_ATTRS, which a re-queued copy drops
    BEAT_ATTR,
    GAVE_UP_ATTR,
    GRACE_ATTR,
    GRACE_PERIOD,
    HEARTBEAT_INTERVAL,
    HOST_ATTR,
    PID_ATTR,
    RETRY_SECONDS,
    SPACE_ATTR,
    START_ATTR,
    TZ_ATTR,
    StorageError,
    by_state,
    crashes,
    damaged,
    exhausted,
    foreign,
    foreign_message,
    heartbeat_ages,
    heartbeat_older,
    is_requeued,
    lost_starting_points,
    requeue,
    session_time_zone,
)
from search.trial_introspection import artifact_store

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
LIVE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
POLL_SECONDS = 2.0  # how often an idle worker looks again while the last trials run elsewhere
MAX_CONSECUTIVE_FAILURES = 5  # a worker whose objective keeps raising stops instead of burning the study
#: a RUNNING trial that no worker claimed (no pid attribute) for this long is failed and re-queued
ORPHAN_SECONDS = GRACE_PERIOD + RETRY_SECONDS + 60
#: how often a worker looks for dead trials (each look reads every running trial); and at its start
DEAD_CHECK_SECONDS = float(HEARTBEAT_INTERVAL)


class StudyError(RuntimeError):
    pass


def definition_changes(
    study: optuna.Study, spec: StudySpec, store: str, new: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """How the study file ``spec`` (its data's identity included) differs from the definition ``study`` recorded:
    ``(kind, line)`` pairs (:func:`search.fingerprint.changes`), [] when it matches; a study another program wrote
    under the same name raises :class:`~search.fingerprint.StudyChangedError`. Reads only."""
    from search import fingerprint as fp

    why = foreign(study, spec.direction)
    if why is not None:  # another program's study of the same name: never written into
        raise fp.StudyChangedError(foreign_message(spec.name, store, why, spec.path))
    if (broken := damaged(study, store, spec.path)) is not None:
        raise StorageError(f"study {spec.name!r} in {store}: {broken}")
    note = None
    if new is None:
        note = keep_defaults(study, spec)
        new = fp.definition(spec)
    attrs = study.user_attrs
    found: list[tuple[str, str]] = []
    has = study.direction.name.lower()
    if has != spec.direction:
        was = attrs.get("regtune:metric")
        if was == spec.metric:  # the store's direction was edited, not the metric ("metric: val_acc -> val_acc")
            found.append((fp.INCOMPATIBLE, f"direction: {has} in the store, where metric {spec.metric} is to "
                          f"{spec.direction} (the store was edited)"))  # fmt: skip
        else:
            found.append((fp.INCOMPATIBLE, f"metric: {was or f'(a metric to {has})'} -> {spec.metric}"))
    old = attrs.get(fp.DEFINITION_ATTR)
    if old is not None and attrs.get(fp.FINGERPRINT_ATTR) != fp.digest(new):
        # the direction's line is kept beside the edits (it was dropped: a widened search with --allow-change then
        # ran on a study that minimized val_acc, the stores12 probe), unless the metric's own change says it
        changed = fp.changes(old, new)
        found = changed + [f for f in found if not any(line.startswith("metric:") for _, line in changed)]
    elif "regtune:study_file" in attrs:  # created before definitions were recorded: check what it did record
        if attrs.get("regtune:dataset", spec.dataset) != spec.dataset:
            found.append((fp.INCOMPATIBLE, f"dataset: {attrs['regtune:dataset']} -> {spec.dataset}"))
    if note and not found:
        say(note)
    return found


def keep_defaults(study: optuna.Study, spec: StudySpec) -> str | None:
    """The defaults ``study`` was created with, put back into ``spec`` where today's rules choose others
    (:mod:`search.created_defaults`); the note to print (:func:`say`, once the study is not refused), or None.
    Reads only."""
    from search import fingerprint as fp
    from search.created_defaults import DEFAULTED_ATTR, HOMES_ATTR, keep_created_defaults, kept_note

    attrs = study.user_attrs
    names = attrs.get(DEFAULTED_ATTR)
    if attrs.get(fp.DEFINITION_ATTR) is not None or "regtune:study_file" in attrs:  # an existing study: its
        spec.homes = dict(attrs.get(HOMES_ATTR) or {})  # baseline's homes as its trial ran them (none recorded: {};
        # today's batch there lost a study searching batch_size its baseline trial: the review, 2026-12-06)
    kept = keep_created_defaults(spec, attrs.get(fp.DEFINITION_ATTR), names)
    return kept_note(spec.name, kept, legacy=names is None) if kept else None


def ensure_study(
    spec: StudySpec,
    storage: BaseStorage,
    total: int | None = None,
    allow_change: bool = False,
    store: str | None = None,
) -> optuna.Study:
    """Create the study (its definition recorded, then the starting points enqueued) or load it; record the
    total if given. An existing study is first checked against the study file (:mod:`search.fingerprint`):
    a changed definition raises :class:`~search.fingerprint.StudyChangedError` before anything is written;
    with ``allow_change`` a change that only widens the search is recorded and the study goes on."""
    from search import fingerprint as fp
    from search.created_defaults import DEFAULTED_ATTR, HOMES_ATTR, defaulted_names

    store = store or fp.store_name(storage)
    try:  # not create_study(load_if_exists=True) first: on a journal file it appends a line for an existing study
        storage.get_study_id_from_name(spec.name)
    except KeyError:
        optuna.create_study(study_name=spec.name, storage=storage, direction=spec.direction, load_if_exists=True)
    study = optuna.load_study(
        study_name=spec.name, storage=storage, sampler=make_sampler(spec), pruner=optuna.pruners.NopPruner()
    )
    note = keep_defaults(study, spec) if foreign(study) is None else None
    new = fp.definition(spec)
    found = definition_changes(study, spec, store, new)
    attrs = study.user_attrs
    old = attrs.get(fp.DEFINITION_ATTR)
    if any(kind == fp.INCOMPATIBLE for kind, _ in found) or (found and not allow_change):
        raise fp.changed_error(spec, store, found, attrs.get("regtune:study_file"))
    if (lost := lost_starting_points(study)) is not None:
        raise StorageError(f"study {spec.name!r} in {store}: {lost}")
    # every check passed: from here on the study is written
    if note:
        say(note)
    if old is None:
        study.set_user_attr(fp.DEFINITION_ATTR, new)
        study.set_user_attr(fp.FINGERPRINT_ATTR, fp.digest(new))
        study.set_user_attr(DEFAULTED_ATTR, defaulted_names(spec))
        study.set_user_attr(HOMES_ATTR, spec.homes)
        if "regtune:study_file" in attrs:
            print(f"note: study {spec.name!r} predates definition checks; recorded {spec.path} as its definition",
                  file=sys.stderr, flush=True)  # fmt: skip
    elif found or attrs.get(fp.FINGERPRINT_ATTR) != fp.digest(new):  # an allowed widening (or a mere re-wording)
        history = [*attrs.get(fp.HISTORY_ATTR, []), {"definition": old, "fingerprint": attrs.get(fp.FINGERPRINT_ATTR),
                   "replaced": datetime.now().isoformat(timespec="seconds")}]  # fmt: skip
        study.set_user_attr(fp.HISTORY_ATTR, history)
        study.set_user_attr(fp.DEFINITION_ATTR, new)
        study.set_user_attr(fp.FINGERPRINT_ATTR, fp.digest(new))
        study.set_user_attr(DEFAULTED_ATTR, defaulted_names(spec))  # (a legacy study's kept values count from now)
        # the study file's new points, the recipes if they were turned on, and the baseline and recipes whose values
        # the change moved (a widened lr range moves the baseline's lr to the default): the verdict's baseline row
        # is the enqueued baseline trial's configuration, and each recipe is compared with the baseline it is built on
        for label, params in moved_points(study, spec):  # (skip_if_exists: another process enqueued it just now)
            study.enqueue_trial(params, user_attrs={"recipe": label}, skip_if_exists=True)
        if found:
            print(f"note: study {spec.name!r} continues with the changed {spec.path} (--allow-change): "
                  + "; ".join(line for _, line in found), file=sys.stderr, flush=True)  # fmt: skip
    record_tie_break(study, spec)
    record_batch_norm_bias(study, spec)
    if study.metric_names is None:  # optuna-dashboard's name for the objective (else "Objective 0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([metric_name(spec.metric, _folds(spec))])
    if "regtune:study_file" not in attrs:  # written last: a study whose creation a crash cut short (a kill -9
        # between its records) enqueues the starting points it lacks on the next run; marked first, the baseline and
        # recipes not yet enqueued were lost for good, and the verdict said "recipes: false, or none was run"
        for label, params in starting_points(spec):
            study.enqueue_trial(params, user_attrs={"recipe": label}, skip_if_exists=True)
        for label, same in duplicate_points(spec):
            print(f"note: {label} runs the same values as {same!r}: enqueued once, as that trial",
                  file=sys.stderr, flush=True)  # fmt: skip
        study.set_user_attr("regtune:dataset", spec.dataset)
        study.set_user_attr("regtune:metric", spec.metric)
        study.set_user_attr("regtune:study_file", str(spec.path))
    if total is not None and attrs.get(TOTAL_ATTR) != total:
        recorded = attrs.get(TOTAL_ATTR)
        if isinstance(recorded, int) and total < recorded:  # a stale TRIALS on a joining worker lowered it unsaid
            print(f"note: the study's total lowered from {recorded} to {total} trials (--trials/TRIALS={total}); "
                  f"workers already running keep to {recorded}, and later runs without TRIALS to {total}",
                  file=sys.stderr, flush=True)  # fmt: skip
        study.set_user_attr(TOTAL_ATTR, total)
    if total is not None and attrs.get(BUDGET_ATTR) != spec.trials:
        study.set_user_attr(BUDGET_ATTR, spec.trials)  # what the file said then: a later edit of it wins
    return study


#: the study's record of how its trials break accuracy ties: the loss, and the first trial that used it
TIE_BREAK_ATTR = "regtune:tie_break"
#: the loss this version breaks ties with (models.calibration)
TIE_BREAK = "temperature-scaled validation loss"


def _finished_and_next(study: optuna.Study) -> tuple[list[FrozenTrial], int]:
    """The study's finished trials, and the number from which trials run under a rule recorded now (waiting trials
    run, and are scored, from now on): what a change of how trials run is recorded with."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    return done, max((t.number for t in done), default=-1) + 1


def record_tie_break(study: optuna.Study, spec: StudySpec) -> None:
    """Record which loss breaks accuracy ties from which trial on. A study whose trials ran before the tie-break
    became temperature-scaled (2026-12-04) resumes, but is told that its older trials' values broke ties with the
    raw loss: among trials tied on accuracy the newer ones rank higher (the difference is below one validation
    sequence's worth: no two different accuracies swap)."""
    if spec.metric != "val_acc" or TIE_BREAK_ATTR in study.user_attrs:
        return
    done, first = _finished_and_next(study)
    if done:
        say(f"note: study {spec.name!r}: its {len(done)} finished trial(s) broke accuracy ties with the raw "
            f"validation loss; trials from #{first} on break them with the {TIE_BREAK} (README, \"The search "
            "signal\"): among trials tied on accuracy the newer ones rank higher")  # fmt: skip
    study.set_user_attr(TIE_BREAK_ATTR, {"loss": TIE_BREAK, "from_trial": first})


#: the study's record of the first trial whose ``norm: batch`` network kept the RNN's biases (models.network)
BATCH_NORM_BIAS_ATTR = "regtune:batch_norm_bias"


def record_batch_norm_bias(study: optuna.Study, spec: StudySpec) -> None:
    """Record from which trial on ``norm: batch`` keeps the RNN's biases. Until 2026-12-06 batch norm built the
    RNN without them, and the norm, on the layer's output, cannot stand in for the gates' biases (review5). A study
    whose batch-norm trials ran before resumes, told which ones: the verdict and the report retrain every
    configuration with the biases (their cached runs of batch-norm configurations are not read again)."""
    if BATCH_NORM_BIAS_ATTR in study.user_attrs:
        return
    done, first = _finished_and_next(study)
    old = [t.number for t in done if (t.user_attrs.get("config") or {}).get("norm") == "batch"]
    if old:
        shown = ", ".join(f"#{n}" for n in old[:8]) + (f" and {len(old) - 8} more" if len(old) > 8 else "")
        say(f"note: study {spec.name!r}: its {len(old)} finished trial(s) with norm: batch ({shown}) ran without "
            f"the RNN's biases (regtune before 2026-12-06); trials from #{first} on keep them, and the verdict "
            "retrains every configuration with them (README, \"The hyperparameters\")")  # fmt: skip
    study.set_user_attr(BATCH_NORM_BIAS_ATTR, {"from_trial": first})


def moved_points(study: optuna.Study, spec: StudySpec) -> list[tuple[str, dict[str, Any]]]:
    """The starting points (baseline, recipes, the file's own) whose configuration no trial of ``study`` runs:
    compared by configuration, not by Optuna params (a dimension added with --allow-change gives every point a new
    param, and every point was enqueued again, an identical re-run of the baseline and each recipe)."""
    from search.recipes import baseline_point, same_values
    from search.selection import same_config
    from search.verdict import point_config, trial_config

    home = baseline_point(spec)  # a dimension a widening added: the old trials ran its default, the home value
    trials = study.get_trials(deepcopy=False)
    ran, enqueued = [], [t.system_attrs.get("fixed_params") for t in trials]
    for t in trials:
        config = t.user_attrs.get("config")
        if config is None:  # waiting (or claimed before it recorded one): the values it was enqueued with
            with contextlib.suppress(Exception):  # params this definition cannot read: compared by nothing
                config = trial_config(spec, {**home, **t.system_attrs.get("fixed_params", t.params)})
        if config is not None:
            ran.append(config)
    out = []
    for label, params in starting_points(spec):
        config = point_config(spec, params)
        if config is None:  # a point that leaves names to the sampler: by the values it was enqueued with
            if not any(same_values(e, params) for e in enqueued):
                out.append((label, params))
                enqueued.append(params)
        elif not any(same_config(c, config) for c in ran):
            out.append((label, params))
            ran.append(config)
    return out


def _folds(spec: StudySpec) -> int | None:
    try:
        return folds_of(spec)
    except ValueError:  # its dataset cannot be loaded here (a DataError): the name says "the folds"
        return None


#: the study file's ``budget.trials`` when a total was last given (TRIALS=, --trials, run_study(trials=))
BUDGET_ATTR = "regtune:trials_budget"


def study_total(study: optuna.Study, spec: StudySpec, trials: int | None) -> int:
    """The study's total of finished trials: ``trials`` when given; else the total last given (a worker on
    another machine, or a plain rerun, goes on to the total its study was started with), unless the study file's
    ``budget.trials`` changed since then: an edit of the file is the newer word (a study run with TRIALS=2 kept
    its total of 2 after its file's budget went from 3 to 4)."""
    if trials:
        return trials
    attrs = study.user_attrs
    recorded = attrs.get(TOTAL_ATTR)
    if recorded and attrs.get(BUDGET_ATTR, spec.trials) == spec.trials:
        return int(recorded)
    return spec.trials


TOTAL_ATTR = "regtune:trials"  # the study's total of finished trials, as last given (study_total)


def total_note(spec: StudySpec, total: int, trials: int | None) -> str | None:
    """A note when the ``total`` a run works to (:func:`study_total`) is a recorded one below the study file's
    ``budget.trials`` (a quick ``TRIALS=2`` (``trials=2``) look, then a plain run: it ran nothing and said nothing of
    the budget of 4); ``trials``: the total given to this run, if any."""
    if trials or total >= spec.trials:
        return None
    return (f"note: study {spec.name!r} works to its recorded total of {total} trials (given earlier as "
            f"TRIALS / trials={total}), below its budget.trials of {spec.trials}: TRIALS={spec.trials} "
            f"(trials={spec.trials}) runs the rest")  # fmt: skip


def raised_total(study: optuna.Study, total: int, at_start: Any) -> int:
    """``total``, or the study's recorded total when another process raised it above ``total`` since this worker
    started (``at_start``: the recorded total then): a ``make study TRIALS=7`` beside workers started for 4 recorded
    7, and the workers still stopped at 4 (on other machines, every one of them). A total this worker was given
    below what was already recorded stays its own. Read only when the worker would stop or wait: one storage read."""
    recorded = study.user_attrs.get(TOTAL_ATTR)
    return recorded if isinstance(recorded, int) and recorded != at_start and recorded > total else total


def _by_state(study: optuna.Study, below: int | None = None) -> dict[TrialState, int]:
    """The study's trials by state (numbered below ``below``, if given), read now: one COUNT query where the
    storage has one (:func:`search.storage.count_trials`), else counted from the trials."""
    count = getattr(study._storage, "count_trials", None)
    if count is not None:
        return count(study._study_id, below)  # type: ignore[no-any-return]
    return by_state(study.get_trials(deepcopy=False), below)


def counts(study: optuna.Study) -> dict[str, int]:
    out = {s.name.lower(): n for s, n in _by_state(study).items()}
    out["finished"] = out["complete"] + out["pruned"]
    return out


# --------------------------------------------------------------------------------------------- dead trials
def native_heartbeat(storage: BaseStorage) -> bool:
    return getattr(storage, "get_heartbeat_interval", lambda: None)() is not None


def dead_trials(study: optuna.Study, own: bool = False) -> dict[int, str]:
    """The RUNNING trials whose worker is gone, trial id -> why (:func:`fail_dead_trials` fails and re-queues them;
    ``report`` only names them: it called a SIGKILLed worker's trial "still running ... rerun it once they finish",
    which it never would: the faults probe)."""
    storage = study._storage
    native = native_heartbeat(storage)
    dead: dict[int, str] = {}  # trial id -> why
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if native:  # (of the trials this view holds running: a report's snapshot counted "2 running, 3 ... gone")
        ids = {t._trial_id: t for t in running}
        # a beat is stored in its writer's session time zone (PostgreSQL): read in the zone it recorded, not in
        # this session's, which Optuna's check below compares it with (a zone 9 hours ahead read every other
        # worker's live trial as 9 hours silent, and its own dead ones as beating for 9 hours more)
        zones = {tid: t.system_attrs[TZ_ATTR] for tid, t in ids.items() if isinstance(t.system_attrs.get(TZ_ATTR), str)}
        ages = heartbeat_ages(storage, zones)
        for tid in storage._get_stale_trial_ids(study._study_id):  # type: ignore[attr-defined]
            if tid in ids and tid not in ages:
                grace = grace_of(ids[tid])
                if grace > GRACE_PERIOD and not heartbeat_older(storage, tid, grace):
                    continue  # its worker beats less often than this one judges (another REGTUNE_HEARTBEAT_INTERVAL)
                dead[tid] = stale_reason(grace)
        for tid, age in ages.items():
            if age > (grace := grace_of(ids[tid])):
                dead[tid] = stale_reason(grace)
    host, now, space = socket.gethostname(), time.time(), pid_space()
    me = (host, os.getpid(), process_start(os.getpid()))
    for t in running:
        attrs = t.system_attrs
        if t._trial_id in dead:
            continue
        if own and (attrs.get(HOST_ATTR), attrs.get(PID_ATTR), attrs.get(START_ATTR)) == me:
            # ``own``: a worker starting in this process runs nothing yet, so a trial this process claimed is a
            # run that ended without finishing it (an exception that escaped a notebook's run_study); its pid
            # is alive, so it was waited for for ever
            dead[t._trial_id] = "its run in this process ended without finishing it (found on resume); re-queued"
            continue
        # by pid only where the pid is this machine's: the same host, boot and pid namespace, on any storage (a
        # SIGKILLed `make study` left its trial RUNNING for the heartbeat's 40 s, on PostgreSQL while the rerun
        # started new trials first, and the median pruner then pruned the copy of the study's best). A trial claimed
        # before the namespace was recorded: on the journal by pid as before, on RDB by its heartbeat
        seen_here = attrs[SPACE_ATTR] == space if SPACE_ATTR in attrs else not native
        if attrs.get(HOST_ATTR) == host and PID_ATTR in attrs and seen_here:
            if not alive(int(attrs[PID_ATTR]), str(attrs.get(START_ATTR, ""))):
                dead[t._trial_id] = "worker process died (found on resume)"
                continue
        if BEAT_ATTR in attrs and now - float(attrs[BEAT_ATTR]) > (grace := grace_of(t)):
            dead[t._trial_id] = stale_reason(grace)
        elif PID_ATTR not in attrs and t.datetime_start is not None:
            if (age := (datetime.now() - t.datetime_start).total_seconds()) > ORPHAN_SECONDS:  # its age, not the bound:
                # one found 2 hours on was said to be "running 160 s" (the stores12 probe)
                dead[t._trial_id] = f"running {_age_text(age)} with no worker: it died at once; re-queued"
    return dead


def _age_text(seconds: float) -> str:
    """``160 s``, ``42 min``, ``2.0 h``: how long a trial has been running, in a fail reason."""
    if seconds < 600:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


#: how a trial failed for its silent heartbeat begins (:func:`stale_reason`; :func:`taken_over` reads it back)
STALE = "no heartbeat for "


def stale_reason(grace: float) -> str:
    """The ``fail_reason`` of a trial whose heartbeat was silent for longer than ``grace`` seconds."""
    return f"{STALE}{grace:g} s: its worker died or lost the storage; re-queued"


def grace_of(trial: FrozenTrial) -> float:
    """How long ``trial``'s heartbeat may be silent: the longer of this worker's grace period and the one its own
    worker recorded (:func:`claim`). A worker whose REGTUNE_HEARTBEAT_INTERVAL was 20 (grace 80) beside workers of
    the default grace of 40 had every live trial failed as dead by them, "no heartbeat for 40 s", again and again
    towards its crash limit, and its own line blamed a heartbeat stopped for over 80 s (the faults7 probe)."""
    try:
        theirs = float(trial.system_attrs.get(GRACE_ATTR, 0))
    except (TypeError, ValueError):
        theirs = 0.0
    return max(float(GRACE_PERIOD), theirs)


def fail_dead_trials(
    study: optuna.Study, checkpoints: CheckpointStore | None = None, own: bool = False, study_file: str | None = None
) -> list[int]:
    """Fail and re-queue RUNNING trials whose worker is gone: a stale heartbeat (Optuna's on RDB, the worker's
    own elsewhere), a dead pid on this host, boot and pid namespace (any storage: a trial claimed elsewhere, another
    machine or container, has another namespace recorded), or no worker at all.

    Each is a crash: the one after :data:`search.storage.MAX_RETRY` re-runs gives the trial up
    (:func:`search.retries.give_up`: marked, reported, its lineage's ``checkpoints`` deleted) instead of re-queuing."""
    storage = study._storage
    failed = []
    for tid, reason in dead_trials(study, own).items():
        try:  # the reason first: a finished trial's attributes can no longer change
            before = storage.get_trial(tid)
            if exhausted(before):
                why = reason.removesuffix("; re-queued")
                reason = f"{why}; given up after {crashes(before) + 1} crashes"
                storage.set_trial_user_attr(tid, GAVE_UP_ATTR, f"crashed {crashes(before) + 1} times: {why}")
            storage.set_trial_user_attr(tid, "fail_reason", reason)
            if not storage.set_trial_state_values(tid, TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:  # another worker failed it first (and re-queued it)
            continue
        frozen = storage.get_trial(tid)
        if requeue(study, frozen):  # said: the copy was the first hint ("trial 7 complete"; the faults probe)
            print(f"trial {frozen.number}: {reason.removesuffix('; re-queued')}; re-queued with its parameters, "
                  "it runs before any new trial", file=sys.stderr, flush=True)  # fmt: skip
        else:
            give_up(study, frozen, checkpoints, study_file)
        failed.append(frozen.number)
    return sorted(failed)


# --------------------------------------------------------------------------------------------- the loop
class Heartbeat:
    """Records a running trial's heartbeat from a thread: Optuna's on RDB storages, a ``regtune:beat`` system
    attribute behind the gRPC proxy; none on the journal file (its trials are checked by pid)."""

    def __init__(self, storage: BaseStorage, trial_id: int) -> None:
        self.storage, self.trial_id = storage, trial_id
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.started = False  # (entered once: start_beat enters it before its with statement does)
        self.native = native_heartbeat(storage)
        if self.native or not isinstance(storage, JournalStorage):
            self.thread = threading.Thread(target=self._run, daemon=True)

    def _beat(self) -> None:
        target: Any = getattr(self.storage, "inner", self.storage)  # not retried: the next beat is the retry
        try:
            if self.native:
                target.record_heartbeat(self.trial_id)
            else:
                target.set_trial_system_attr(self.trial_id, BEAT_ATTR, time.time())
        except Exception:  # the database may be restarting: try again next beat
            pass

    def _run(self) -> None:
        while not self.stop.wait(HEARTBEAT_INTERVAL):
            self._beat()

    def __enter__(self) -> Heartbeat:
        if self.started:
            return self
        # the time zone its beats are written in (PostgreSQL's session zone), before the first beat: the others read
        # every beat in it (dead_trials), the first one too, before the claim (TZ_ATTR)
        zone = session_time_zone(self.storage) if self.native else None
        if zone is not None:
            with contextlib.suppress(UpdateFinishedTrialError):  # (taken over meanwhile: the claim says so)
                self.storage.set_trial_system_attr(self.trial_id, TZ_ATTR, zone)
        if self.thread is not None:
            self._beat()  # before anything but its time zone is recorded on the trial: it is never without a heartbeat
            self.thread.start()
        self.started = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        if self.thread is not None and self.thread.ident is not None:  # (a stop may come before its start)
            self.thread.join(timeout=5)


def start_beat(study: optuna.Study, trial: optuna.Trial) -> Heartbeat:
    """The trial's :class:`Heartbeat`, started. A Ctrl-C / SIGTERM while it starts (its time zone, its first beat)
    fails and re-queues the trial, as one in its run, and propagates: it stayed RUNNING with no worker recorded
    (found by its stale beat after the grace period, or on the journal file after ORPHAN_SECONDS; the races11
    probe). Lone trials and trial arrays alike."""
    beat = Heartbeat(study._storage, trial._trial_id)
    try:
        return beat.__enter__()
    except (KeyboardInterrupt, Interrupted):
        beat.__exit__(None, None, None)
        with _shielded():
            interrupted(study, trial)
        raise


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """Ignore Ctrl-C / SIGTERM (main thread only) while an interrupted trial is failed and re-queued."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def run_worker(
    spec: StudySpec,
    storage: BaseStorage,
    total: int,
    worker_index: int = 0,
    accelerator: str = "auto",
    on_trial: Callable[[FrozenTrial, dict[str, int]], None] | None = None,
    on_epoch: Callable[[int, int], None] | None = None,
    objective: Objective | None = None,
    artifacts: str | None = None,
) -> int:
    """Run trials until the study has ``total`` finished trials; return how many this worker finished.

    ``artifacts``: a checkpoint store (a shared directory or ``s3://bucket/prefix``) that lets a re-run trial
    resume its dead run's last finished epoch."""
    with signals_raise():
        objective = objective or Objective(
            spec, accelerator=accelerator, on_epoch=on_epoch, checkpoints=open_checkpoints(artifacts),
            # no introspection, no figures: it left an empty runs/<study>/artifacts in the working directory
            figures=artifact_store(spec.name, artifacts, storage) if spec.introspect else None,
        )  # fmt: skip
        from search.arrays import array_plan, device_of, run_arrays, runs_on  # (search.arrays builds on this module)

        size, why = array_plan(spec, objective, total, accelerator)
        if size > 1:  # K trials at once in one fused model
            return run_arrays(
                spec, storage, total, size, worker_index, accelerator, on_trial, on_epoch, objective, why
            )  # fmt: skip
        # K = 1 and the threads, said as arrays say theirs: two runs reproduce each other only with the same ones
        print(f"study {spec.name}: trial arrays: none ({why}); each trial runs alone on "
              f"{runs_on(device_of(accelerator))}", file=sys.stderr, flush=True)  # fmt: skip
        return _loop(
            spec, storage, total, worker_index, on_trial, objective
        )  # (accelerator, on_epoch: the objective's)


#: a resumed worker's seed moves this far per trial the study already holds (more than any worker index)
RESUME_SEED_STRIDE = 100_003


def worker_seed(spec: StudySpec, worker_index: int, trials: int) -> int:
    """The sampler seed of worker ``worker_index`` opening a study that holds ``trials`` trials (complete,
    pruned, failed or running; not the enqueued ones): ``seed +
    worker_index`` for a new study (workers propose different trials; a fresh ``make study`` is reproducible),
    moved by :data:`RESUME_SEED_STRIDE` per trial held. A resumed worker reseeded as when it started replayed
    its random stream: ``sampler: random`` (and TPE's random start-up trials) proposed the trials it had already
    run (a 10-trial random study resumed to 16 re-ran trials 5-9 as 10-14, the same values and scores). Kept
    below 2**32, as numpy's seeds must be."""
    return (spec.seed + worker_index + RESUME_SEED_STRIDE * trials) % 2**32


def open_study(spec: StudySpec, storage: BaseStorage, worker_index: int, objective: Objective) -> optuna.Study:
    """The study as worker ``worker_index`` runs it: the study's sampler seeded by :func:`worker_seed` (workers,
    and a resumed worker, propose different trials), its pruner over the objective's folds. Lone trials and arrays
    alike."""
    study = optuna.load_study(
        study_name=spec.name, storage=storage, pruner=make_pruner(spec, objective.folds, objective.sequences)
    )
    # every trial but the enqueued ones: a trial a killed worker left RUNNING drew from the stream too (counted
    # only once found dead, the resumed worker replayed its parameters); a lone worker of a new study counts 0
    # (workers started together may see each other's first trials: they draw random offsets anyway)
    held = len(study.get_trials(deepcopy=False, states=(*LIVE, TrialState.FAIL)))
    study.sampler = make_sampler(spec, seed=worker_seed(spec, worker_index, held))
    return study


def _loop(
    spec: StudySpec,
    storage: BaseStorage,
    total: int,
    worker_index: int,
    on_trial: Callable[[FrozenTrial, dict[str, int]], None] | None,
    objective: Objective,
) -> int:
    study = open_study(spec, storage, worker_index, objective)
    at_start = study.user_attrs.get(TOTAL_ATTR)
    done, failures = 0, 0
    next_check, after_tell, first, told_wait = 0.0, None, True, False
    while True:
        if time.monotonic() >= next_check:  # dead trials are found GRACE_PERIOD s late anyway: look now and then
            if fail_dead_trials(study, getattr(objective, "checkpoints", None), own=first, study_file=str(spec.path)):
                after_tell = None
            next_check, first = time.monotonic() + DEAD_CHECK_SECONDS, False
        # the counts read after the last tell are as good as new ones: finished trials stay finished, and the
        # rank check after ask (_surplus) reads again before a trial runs
        c, after_tell = after_tell or counts(study), None
        if c["finished"] + c["running"] >= total:
            total = raised_total(study, total, at_start)
        if c["finished"] >= total:
            return done
        if c["finished"] + c["running"] >= total:
            told_wait = tell_wait(c, total, told_wait, study._storage)
            time.sleep(POLL_SECONDS)
            continue
        told_wait = False
        trial = take_trial(study, total, claim=c["waiting"] > 0)  # no waiting trial: none to claim
        if trial is None:
            time.sleep(POLL_SECONDS)
            continue
        frozen, error = run_trial(study, trial, objective)
        if frozen.state in FINISHED:
            done += 1
            failures = 0
        after_tell = counts(study)
        if on_trial is not None:  # before a stop below: the last failed trial gets its progress line too
            on_trial(frozen, after_tell)
        if error is not None:
            failures += 1
            if failures >= MAX_CONSECUTIVE_FAILURES:
                raise StudyError(
                    f"{failures} trials in a row failed; the last with: {frozen.user_attrs['fail_reason']}"
                ) from error


def tell_wait(c: dict[str, int], total: int, told: bool, storage: BaseStorage | None = None) -> bool:
    """Say once (stderr) that this worker waits for trials running elsewhere, with counts ``c``; return True (it is
    said). A rerun after a SIGKILL sat silent until the dead trial's heartbeat went stale. A worker of ``study
    --workers N`` stays quiet: its parent has its own line. On the journal file (its trials have no heartbeat:
    :class:`Heartbeat`) a dead worker's trial is re-queued when its process is gone, and a stopped one (Ctrl-Z,
    SIGSTOP) holds it until it runs again: the line promised a re-queue after 40 s that never came (faults4)."""
    if not told:
        when = (f"once its heartbeat is {GRACE_PERIOD} s old (or its worker's own grace period, if longer)"
                if not isinstance(storage, JournalStorage)
                else "as soon as its process is gone (a stopped one, Ctrl-Z, keeps it until it runs again)")  # fmt: skip
        say(
            f"waiting for {c['running']} running trial(s) to finish ({c['finished']}/{total} finished): one whose "
            f"worker died is re-queued {when}, and runs here"
        )
    return True


def claim(storage: BaseStorage, tid: int) -> None:
    """Record on a trial which worker process runs it (host, pid, the pid's start time, its boot and pid namespace):
    dead workers are found by it. The namespace first: between two writes, a pid must never be read beside another
    process's namespace (a re-queued copy had kept the dead run's, so a worker on the dead run's machine could test
    a live worker's pid there, find none, and fail the live trial)."""
    pid = os.getpid()
    for key, attr in ((SPACE_ATTR, pid_space()), (HOST_ATTR, socket.gethostname()), (PID_ATTR, pid),
                      (START_ATTR, process_start(pid)), (GRACE_ATTR, GRACE_PERIOD)):  # fmt: skip
        storage.set_trial_system_attr(tid, key, attr)


def run_trial(
    study: optuna.Study, trial: optuna.Trial, objective: Callable[[optuna.Trial], float]
) -> tuple[FrozenTrial, Exception | None]:
    """Run one claimed trial under its heartbeat and tell its outcome: ``(the finished trial, the exception it
    failed with or None)``. An interrupt fails and re-queues it, then propagates; a lost storage propagates (the
    trial stays RUNNING until its heartbeat goes stale)."""
    storage, tid = study._storage, trial._trial_id
    with start_beat(study, trial):
        try:
            claim(storage, tid)
        except UpdateFinishedTrialError:  # failed meanwhile by another worker: a trial array's lone member waits for
            gone = taken_over(study, trial)  # its group to train first, and the worker was suspended in between
            if gone is None:
                raise
            return gone, None
        except (KeyboardInterrupt, Interrupted):  # mid-claim: re-queued as in a run (its pid may be unrecorded)
            with _shielded():
                interrupted(study, trial)
            raise
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            _say_what_the_value_is(storage, tid, pruned=True)
            return _tell(study, trial, state=TrialState.PRUNED), None
        except StorageError:  # retried for RETRY_SECONDS already: the trial stays RUNNING; heartbeat re-queues it
            raise
        except (KeyboardInterrupt, Interrupted):  # a deliberate stop: re-queued, never against the crash limit
            with _shielded():  # a second Ctrl-C must not leave the trial RUNNING (a crash, once its pid is gone)
                interrupted(study, trial)
            raise
        except Exception as exc:
            stop = interrupt_behind(exc)
            if stop is not None:  # a signal that surfaced as another error (a driver call it cut short)
                with _shielded():
                    interrupted(study, trial)
                raise stop from exc
            gone = taken_over(study, trial)  # the objective's write to a trial another worker failed meanwhile
            if gone is not None:
                return gone, None
            storage.set_trial_user_attr(tid, "fail_reason", "".join(traceback.format_exception_only(exc)).strip())
            storage.set_trial_user_attr(tid, "traceback", traceback.format_exc()[-4000:])
            return _tell(study, trial, state=TrialState.FAIL), exc
        _say_what_the_value_is(storage, tid, pruned=False)
        return _tell(study, trial, value), None


def interrupted(
    study: optuna.Study, trial: optuna.Trial, why: str = "interrupted (Ctrl-C / SIGTERM); re-queued"
) -> None:
    """Fail an interrupted (Ctrl-C / SIGTERM) trial and re-queue it; call it under :func:`_shielded`."""
    storage, tid = study._storage, trial._trial_id
    storage.set_trial_user_attr(tid, "fail_reason", why)
    study.tell(trial, state=TrialState.FAIL)
    requeue(study, storage.get_trial(tid), interrupted=True)


def _say_what_the_value_is(storage: BaseStorage, tid: int, pruned: bool) -> None:
    """The ``value_is`` user attribute the dashboard shows: a complete trial's mean over its folds, or a pruned
    trial's running mean where it stopped (:func:`search.progress.value_is`). Skipped if the trial is closed."""
    with contextlib.suppress(UpdateFinishedTrialError, RuntimeError, ValueError):
        storage.set_trial_user_attr(tid, VALUE_IS_ATTR, value_is(storage.get_trial(tid), pruned))


def _tell(study: optuna.Study, trial: optuna.Trial, value: float | None = None, **kwargs: Any) -> FrozenTrial:
    """``study.tell``; if the trial was failed meanwhile by another worker (:func:`taken_over`), its result is
    dropped: the re-queued copy counts instead."""
    try:
        return study.tell(trial, value, **kwargs)
    except (ValueError, RuntimeError, UpdateFinishedTrialError):
        gone = taken_over(study, trial)
        if gone is None:
            raise
        return gone


def taken_over(study: optuna.Study, trial: optuna.Trial) -> FrozenTrial | None:
    """The trial, said on stderr, if another worker finished it meanwhile: this worker's heartbeat went stale (the
    process was suspended, Ctrl-Z or a paused VM, or the storage was away for longer than the grace period), so
    it was failed and re-queued, and whatever this run of it would still write is refused. None: it is ours."""
    frozen = study._storage.get_trial(trial._trial_id)
    if frozen.state == TrialState.RUNNING:
        return None
    # "no heartbeat for 80 s": the grace period the failing worker judged it by (the longer of its own and ours)
    said = str(frozen.user_attrs.get("fail_reason") or "").split(":")[0]
    why = said if said.startswith(STALE) else f"{STALE}over {GRACE_PERIOD} s"
    print(f"trial {trial.number} was {frozen.state.name} meanwhile by another worker ({why}: a "
          "suspended process or an unreachable storage): its re-queued copy counts, this run of it is dropped",
          file=sys.stderr, flush=True)  # fmt: skip
    return frozen


def _claim_retry(study: optuna.Study) -> optuna.Trial | None:
    """A re-queued (interrupted, dead) trial runs before any other waiting trial: its work is half done. One that
    another worker claimed and finished since it was read here is skipped, as ``study.ask`` skips it (it raised, and
    the worker exited with a traceback: one suspended between the read and the claim, the races11 probe)."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        if not is_requeued(t):
            continue
        with contextlib.suppress(UpdateFinishedTrialError):
            if study._storage.set_trial_state_values(t._trial_id, TrialState.RUNNING):
                return optuna.Trial(study, t._trial_id)
    return None


def _surplus(study: optuna.Study, trial: optuna.Trial, total: int) -> bool:
    """Whether the trials ahead of ``trial`` already make the total: those numbered below it that are finished or
    running, and those below it still WAITING, which a worker takes before any new trial. A re-queue lands in two
    writes (the dead trial failed, then its copy added): a worker that counted between them asked a fresh trial,
    numbered after the copy, and ran it beside the copy, one trial past the total (CI, 2026-12-07). A re-queued
    trial is claimed before the enqueued ones (:func:`_claim_retry`): only other re-queued copies wait ahead of it
    (counting the others would hand it back to be claimed again, for ever), and an enqueued trial counts the copies
    numbered after it that run or finished: one claimed while the enqueued trial waited did not count it (a worker
    that lost the copy to another asked and got the enqueued trial below it, and both ran: the races11 probe)."""
    below = _by_state(study, below=trial.number)
    ahead = sum(n for state, n in below.items() if state in LIVE)
    if ahead >= total:
        return True
    attrs = study._storage.get_trial_system_attrs(trial._trial_id)
    if "failed_trial" in attrs:  # is_requeued, of a live trial
        if ahead + below[TrialState.WAITING] < total:
            return False
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        return ahead + sum(t.number < trial.number and is_requeued(t) for t in waiting) >= total
    ahead += below[TrialState.WAITING]
    if ahead >= total or "fixed_params" not in attrs:  # a fresh trial was running before any copy after it was
        return ahead >= total  # added: each such copy counted it
    live = study.get_trials(deepcopy=False, states=LIVE)
    return ahead + sum(t.number > trial.number and is_requeued(t) for t in live) >= total


def take_trial(study: optuna.Study, total: int, claim: bool = True) -> optuna.Trial | None:
    """The next trial this worker runs: a re-queued copy claimed first (with ``claim``), else Optuna's ``ask``; None
    when the total is reached without it (:func:`_rank_check` handed it back). A stop while it is taken is held until
    the worker has it (:func:`~search.interrupts.held_signals`), then the rank check gives it back and raises it.
    Lone trials and trial arrays alike."""
    with held_signals() as held:
        trial = (_claim_retry(study) if claim else None) or study.ask()
    return None if _rank_check(study, trial, total, held) else trial


def _rank_check(study: optuna.Study, trial: optuna.Trial, total: int, held: Held | None = None) -> bool:
    """:func:`_surplus`, the trial handed back if so (True). A Ctrl-C / SIGTERM meanwhile (or one surfaced as a driver's
    error), or one ``held`` while the trial was taken (:func:`~search.interrupts.held_signals`), gives the trial back
    untrained (:data:`UNRUN`) and propagates: it stayed RUNNING with no worker recorded, and a rerun waited
    ORPHAN_SECONDS for it (the races11 probe; lone trials and trial arrays alike)."""
    try:
        if held is not None:
            raise_held(held)
        surplus = _surplus(study, trial, total)
        if surplus:
            _hand_back(study, trial)
    except BaseException as exc:
        if not isinstance(exc, KeyboardInterrupt) and interrupt_behind(exc) is None:
            raise
        with _shielded():
            _hand_back(study, trial, UNRUN)
        raise
    return surplus


#: why a fresh trial handed back by an interrupted worker failed (counted apart from failures, as a surplus one)
UNRUN = f"{SURPLUS}: its worker was interrupted (Ctrl-C / SIGTERM) before it ran"


def _hand_back(
    study: optuna.Study, trial: optuna.Trial, why: str = f"{SURPLUS}: the study's total was reached by other workers"
) -> None:
    """Give a surplus (or unrun) trial back: an enqueued or re-queued one waits again, a fresh one is failed (``why``).
    One that another worker failed meanwhile (and re-queued: this worker was suspended past the orphan check) is
    left as it is."""
    storage, tid = study._storage, trial._trial_id
    attrs = storage.get_trial_system_attrs(tid)
    with contextlib.suppress(UpdateFinishedTrialError):
        if "fixed_params" in attrs or "failed_trial" in attrs:  # an enqueued or re-queued trial: keep it
            storage.set_trial_state_values(tid, TrialState.WAITING)
        else:
            storage.set_trial_user_attr(tid, "fail_reason", why)
            storage.set_trial_state_values(tid, TrialState.FAIL)
