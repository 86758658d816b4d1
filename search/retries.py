"""Trials given up after repeated crashes, and running them again (``python -m search retry``).

A deliberate stop (Ctrl-C, SIGTERM) re-queues its trial however often it happens (counted in the system attribute
``regtune:interrupts``). A crash (a dead worker, a stale heartbeat, a trial no worker ever claimed) counts against
:data:`search.storage.MAX_RETRY` (``regtune:crashes``); the crash after the last allowed re-run gives the trial up,
never silently:

- the failed trial's user attribute ``gave_up``: ``crashed N times: <last reason>`` (and a note on the trial in
  optuna-dashboard);
- the study's user attribute ``regtune:gave_up``: the numbers of the given-up trials not re-queued since;
- its lineage's checkpoints (``ARTIFACTS``) are deleted: nothing will resume them;
- the study summary (``make study``) and the report list it, with the command that runs it again (:func:`retry`).
"""

from __future__ import annotations

import shlex
import sys
from types import SimpleNamespace
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.checkpoints import CheckpointStore
from search.fingerprint import store_name
from search.storage import GAVE_UP_ATTR, GAVE_UP_STUDY_ATTR, is_requeued, requeue, storage_hint


def gave_up_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Failed trials given up after repeated crashes and not re-queued since (by :func:`retry`)."""
    trials = study.get_trials(deepcopy=False)
    requeued = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return [
        t for t in trials if t.state == TrialState.FAIL and GAVE_UP_ATTR in t.user_attrs and t.number not in requeued
    ]


def retry_hint(study_file: str, numbers: list[int], url: str | None = None, name: str = "") -> str:
    """The command that re-queues ``numbers``: ``make retry STUDY=... TRIAL=...`` (with ``STORAGE`` unless the
    study ``name``'s default journal)."""
    where = storage_hint(url, name)
    trial = str(numbers[0]) if len(numbers) == 1 else f'"{" ".join(map(str, numbers))}"'
    return f"make retry STUDY={shlex.quote(study_file)}{where} TRIAL={trial}"


def gave_up_rows(study: optuna.Study, study_file: str, url: str | None = None) -> list[dict[str, Any]]:
    """Per given-up trial: its number, recipe label (None if not a starting point), reason, and the retry command."""
    return [
        {"trial": t.number, "recipe": t.user_attrs.get("recipe"), "reason": t.user_attrs[GAVE_UP_ATTR],
         "retry": retry_hint(study_file, [t.number], url, study.study_name)}
        for t in gave_up_trials(study)
    ]  # fmt: skip


def summary_lines(study: optuna.Study, study_file: str, url: str | None = None) -> list[str]:
    """A heading, then one line per given-up trial: number, recipe label, reason, and how to run it again (empty:
    none); as ``make study`` prints them (:func:`search.report.render.gave_up_lines`)."""
    from search.report.render import gave_up_lines

    return gave_up_lines(gave_up_rows(study, study_file, url))


def _record(study: optuna.Study) -> list[int]:
    """Refresh the study's list of given-up trials (derived from the trials: concurrent workers cannot lose one)."""
    numbers = [t.number for t in gave_up_trials(study)]
    study.set_user_attr(GAVE_UP_STUDY_ATTR, numbers)
    return numbers


def _note(study: optuna.Study, trial: FrozenTrial, line: str) -> None:
    """Append ``line`` to the trial's optuna-dashboard note (kept in the study's system attributes, so a finished
    trial can have one, on the journal file and on PostgreSQL alike)."""
    try:
        from optuna_dashboard import get_note, save_note

        # save_note/get_note read only these three of a live optuna.Trial: no sampler hook runs for a finished trial
        target = SimpleNamespace(storage=study._storage, study=study, _trial_id=trial._trial_id)
        body = get_note(target)  # type: ignore[arg-type]
        save_note(target, f"{body}\n\n{line}" if body else line)  # type: ignore[arg-type]
    except Exception as exc:  # the user attribute carries the same text
        print(f"note: could not write the dashboard note of trial {trial.number}: {exc}", file=sys.stderr)


def give_up(
    study: optuna.Study, trial: FrozenTrial, checkpoints: CheckpointStore | None = None, study_file: str | None = None
) -> None:
    """Record that the failed ``trial`` (its ``gave_up`` user attribute set) will not be re-queued: study attribute,
    dashboard note, its lineage's checkpoints deleted, one line on stderr. ``study_file``: the worker's own (the
    one recorded at the study's creation is relative to where it was made, and may have been moved or renamed)."""
    _record(study)
    study_file = study_file or str(study.user_attrs.get("regtune:study_file", "<study file>"))
    hint = retry_hint(study_file, [trial.number], store_name(study._storage), study.study_name)
    _note(study, trial, f"**Given up**: {trial.user_attrs.get(GAVE_UP_ATTR)}. Run it again: `{hint}`")
    if checkpoints is not None:
        checkpoints.discard(trial, study.study_name)
    print(f"trial {trial.number} given up: {trial.user_attrs.get(GAVE_UP_ATTR)}; run it again: {hint}",
          file=sys.stderr, flush=True)  # fmt: skip


def retry(study: optuna.Study, numbers: list[int] | None = None) -> dict[int, int]:
    """Re-queue given-up trials (``numbers``, default all) as WAITING with their parameters and intermediate values
    and a crash count of 0; return {given-up trial number: the new trial's number}. Raise ``ValueError`` naming the
    given-up trials when a number is not one of them (before anything is written)."""
    gave = {t.number: t for t in gave_up_trials(study)}
    wanted = sorted(gave) if numbers is None else list(dict.fromkeys(numbers))
    if any(n not in gave for n in wanted):
        raise ValueError(_not_retryable(study, [n for n in wanted if n not in gave], sorted(gave)))
    out = {}
    for n in wanted:
        requeue(study, gave[n], retry=True)
        out[n] = next(
            t.number for t in reversed(study.get_trials(deepcopy=False))
            if t.system_attrs.get("retry_history", [None])[-1] == n
        )  # fmt: skip
        _note(study, gave[n], f"Re-queued as trial {out[n]} (crash count reset).")
    _record(study)
    return out


def total_needed(study: optuna.Study, copies: list[int]) -> int:
    """The total ``study`` needs for its re-queued ``copies`` (trial numbers) to run: its finished trials, its running
    ones (each finishes, or is re-queued and counts once as its copy) and the other re-queued trials waiting (a dead
    worker's, an interrupted one's: they take their places first or beside the copies), plus the copies. Recipes and
    starting points still waiting are not counted: a re-queued trial runs before them. ``retry`` compared the copies
    with the finished trials alone and said "run them" while a dead worker's trial still held the last place: the
    retried copy ran, and the dead worker's re-queued trial was left waiting (the ops6 probe)."""
    ahead = sum(
        t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        or (t.state == TrialState.WAITING and is_requeued(t))
        for t in study.get_trials(deepcopy=False)
        if t.number not in copies
    )
    return ahead + len(copies)


def _not_retryable(study: optuna.Study, bad: list[int], gave: list[int]) -> str:
    """Why :func:`retry` refuses ``bad``: numbers past the study's trials do not exist (their range named), the
    rest exist but were not given up; then the trials it would re-queue (``gave``)."""
    count = len(study.get_trials(deepcopy=False))  # trial numbers run 0..count-1
    missing, kept = [n for n in bad if n >= count], [n for n in bad if n < count]
    numbered = f"its trials are numbered 0-{count - 1}" if count else "it has no trial yet"
    parts, of = [], f" of study {study.study_name!r}"
    if missing:
        parts.append(f"trial(s) {', '.join(map(str, missing))}{of} do not exist ({numbered})")
    if kept:
        parts.append(f"trial(s) {', '.join(map(str, kept))}{'' if missing else of} not given up")
    return f"{'; '.join(parts)}; allowed: {', '.join(map(str, gave)) or 'none (no trial was given up)'}"
