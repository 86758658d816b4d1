"""Interrupts never silently drop a trial, on the real journal file and the real PostgreSQL.

- Deliberate stops (SIGINT, SIGTERM) re-queue the running trial however often they come: they are counted in
  ``regtune:interrupts``, never against the crash limit; the trial resumes from its checkpoints and completes.
- Crashes (a dead worker pid, a stale heartbeat) count: the one past ``MAX_RETRY`` gives the trial up, marked on the
  trial (``gave_up``, a dashboard note) and the study (``regtune:gave_up``), listed in the summary with the command
  that runs it again, its checkpoints deleted; ``python -m search retry`` re-queues it and it completes.

The worker runs in this process (``run_worker``) with the real objective; the signals are real ``os.kill`` calls.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
import yaml
from optuna.trial import TrialState
from pytorch_lightning.callbacks import Callback

from search import cli
from search.checkpoints import CheckpointStore
from search.objective import Objective
from search.recipes import BASELINE
from search.retries import gave_up_trials, summary_lines
from search.spec import StudySpec, load_study
from search.storage import (
    CRASHES_ATTR,
    GAVE_UP_ATTR,
    GAVE_UP_STUDY_ATTR,
    GRACE_PERIOD,
    INTERRUPTS_ATTR,
    MAX_RETRY,
    open_storage,
    requeue,
)
from search.verdict import final_result
from search.worker import (
    BEAT_ATTR,
    HOST_ATTR,
    PID_ATTR,
    SPACE_ATTR,
    START_ATTR,
    Interrupted,
    _claim_retry,
    ensure_study,
    fail_dead_trials,
    pid_space,
    run_worker,
)
from tests.helpers import checkpoint_dir, open_postgres

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*is already reported:UserWarning", "ignore:Heartbeat of storage:UserWarning"
)
POSTGRES = os.environ.get("REGTUNE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
EPOCHS = 8
TINY: dict[str, Any] = {
    "dataset": "synthetic:n=120,length=12",
    "architecture": {"cell": "gru", "hidden_size": 8},
    "budget": {"trials": 1, "max_epochs": EPOCHS},
    "sampler": "random",
    "pruner": "none",
    "cv_folds": 1,
    "recipes": True,  # trial 0 is the enqueued no-regularization baseline: the trial that must never be dropped
    "introspect": False,
    "search": {"dropout": {"low": 0.0, "high": 0.4, "off": True}},
    "fixed": {"lr": 0.01, "batch_size": 32},
}


@pytest.fixture(params=["journal", pytest.param("postgres", marks=pytest.mark.postgres)])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[StudySpec, str]]:
    """A tiny study file with a unique name, and its storage URL (the journal file, or PostgreSQL: the study is
    deleted afterwards)."""
    name = f"interrupts_{uuid.uuid4().hex[:10]}"
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**TINY, "name": name}))
    url = str(tmp_path / "journal.log") if request.param == "journal" else POSTGRES
    if request.param == "postgres":
        open_postgres(url)
    yield load_study(path), url
    if request.param == "postgres":
        try:
            optuna.delete_study(study_name=name, storage=open_storage(url))
        except KeyError:
            pass


class SignalAt(Callback):
    """Sends this process ``signals`` (one per run of the trial) at the end of the run's second epoch: a real Ctrl-C
    (SIGINT) or SIGTERM, handled by the worker's signal handler."""

    def __init__(self, signals: list[signal.Signals]) -> None:
        self.signals, self.epochs = list(signals), 0

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.epochs = 0

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.epochs += 1
        if self.epochs == 2 and self.signals:
            os.kill(os.getpid(), self.signals.pop(0))
            time.sleep(5)  # the handler raises Interrupted at once


@pytest.mark.slow
def test_repeated_interrupts_requeue_the_trial_until_it_completes(where: tuple[StudySpec, str], tmp_path: Path) -> None:
    spec, url = where
    storage = open_storage(url)
    ensure_study(spec, storage, total=1)
    # what the handlers were before (a process started in the background by a non-interactive shell begins with
    # SIGINT ignored, not with Python's default handler)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    stops = [signal.SIGINT, signal.SIGTERM] * 3  # 6 stops: twice MAX_RETRY
    assert len(stops) > MAX_RETRY + 1
    sender = SignalAt(stops)
    objective = Objective(spec, accelerator="cpu", checkpoints=CheckpointStore(tmp_path / "artifacts"),
                          extra_callbacks=lambda trial: [sender])  # fmt: skip
    for _ in range(len(stops)):
        with pytest.raises(Interrupted):
            run_worker(spec, storage, 1, objective=objective)
    assert run_worker(spec, storage, 1, objective=objective) == 1
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # the worker's are gone

    trials = optuna.load_study(study_name=spec.name, storage=storage).get_trials()
    lineage = [t for t in trials if t.number == 0 or t.system_attrs.get("failed_trial") == 0]
    assert [t.state for t in lineage] == [TrialState.FAIL] * len(stops) + [TrialState.COMPLETE]
    assert all("interrupted" in t.user_attrs["fail_reason"] for t in lineage[:-1])
    done = lineage[-1]
    assert done.user_attrs["recipe"] == BASELINE and done.params == lineage[0].params
    assert done.system_attrs[INTERRUPTS_ATTR] == len(stops) and done.system_attrs[CRASHES_ATTR] == 0
    assert done.system_attrs["retry_history"] == [t.number for t in lineage[:-1]]
    # every run resumed the last one's checkpoint: one epoch and a bit each, not from scratch
    assert done.user_attrs["resumed_from_epoch"] >= len(stops)
    assert set(done.intermediate_values) == set(range(EPOCHS)) and done.user_attrs["epochs_run"] == EPOCHS
    assert not gave_up_trials(optuna.load_study(study_name=spec.name, storage=storage))
    assert not checkpoint_dir(tmp_path / "artifacts", spec).exists()


def _crash(study: optuna.Study, storage: Any, store: CheckpointStore, dead_pid: int) -> int:
    """Start the next run of the trial (a re-queued copy first), leave checkpoints, and crash it: its worker's pid
    is gone (found by pid on the journal file) and its heartbeat stale (found by heartbeat on PostgreSQL)."""
    trial = _claim_retry(study) or study.ask()
    ckpts = store.trial(trial, study.study_name)
    ckpts.start({"config": 1})
    ckpts.fold_done(0, {"epoch": 1, "val_acc": 0.5, "val_loss": 1.0, "score": 0.5}, 2)
    ckpts.close()
    trial.report(0.5, step=trial.number)
    tid = trial._trial_id
    attrs = {
        HOST_ATTR: socket.gethostname(),
        PID_ATTR: dead_pid,
        START_ATTR: "1",
        BEAT_ATTR: time.time() - 2 * GRACE_PERIOD,
    }
    for key, value in attrs.items():
        storage.set_trial_system_attr(tid, key, value)
    assert fail_dead_trials(study, store) == [trial.number]
    return trial.number


@pytest.mark.slow
def test_a_trial_crashing_past_the_limit_is_reported_cleaned_up_and_retried(
    where: tuple[StudySpec, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, url = where
    storage = open_storage(url)
    study = ensure_study(spec, storage, total=1)
    store = CheckpointStore(tmp_path / "artifacts")
    lineage_dir = tmp_path / "artifacts" / "checkpoints" / spec.name / "trial-0"
    gone = subprocess.Popen(["true"])
    gone.wait()
    runs = []
    for _ in range(MAX_RETRY):  # crashes within the limit: re-queued, checkpoints kept for the re-run
        runs.append(_crash(study, storage, store, gone.pid))
        assert lineage_dir.is_dir() and not gave_up_trials(study)
    last = _crash(study, storage, store, gone.pid)  # one more: given up
    runs.append(last)

    trials = {t.number: t for t in study.get_trials()}
    assert trials[0].user_attrs["recipe"] == BASELINE and all(trials[n].state == TrialState.FAIL for n in runs)
    assert not [t for t in trials.values() if t.state == TrialState.WAITING and "failed_trial" in t.system_attrs]
    reason = trials[last].user_attrs[GAVE_UP_ATTR]
    crash = "worker process died" if "://" not in url else "no heartbeat"
    assert reason.startswith(f"crashed {MAX_RETRY + 1} times: {crash}"), reason
    assert "given up" in trials[last].user_attrs["fail_reason"]
    assert study.user_attrs[GAVE_UP_STUDY_ATTR] == [last]
    assert not lineage_dir.exists()  # its checkpoints are deleted
    from optuna_dashboard import get_note

    note = get_note(optuna.Trial(study, trials[last]._trial_id))
    assert "Given up" in note and f"TRIAL={last}" in note
    assert f"trial {last} given up" in capsys.readouterr().err

    # the study summary (`make study`) lists it: number, recipe, reason, how to run it again
    assert cli._report(study, spec, 1, url, final_result) == 1  # nothing complete yet
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith(f"  trial #{last}"))
    assert BASELINE in line and reason in line and f"make retry STUDY={spec.path}" in line and f"TRIAL={last}" in line
    assert summary_lines(study, str(spec.path), url)[1] == line

    # bad input: one line naming the allowed trials, exit 2, nothing written
    before = len(study.get_trials())
    assert cli.main(["retry", str(spec.path), "--storage", url, "--trial", "99"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "TRIAL=99" in err and f"allowed: {last}" in err, err
    assert len(study.get_trials()) == before

    # `python -m search retry` re-queues it (crash count reset); the next worker runs it to completion
    assert cli.main(["retry", str(spec.path), "--storage", url, "--trial", str(last)]) == 0
    out = capsys.readouterr().out
    assert f"trial #{last} re-queued as trial #{before}" in out and "make study" in out, out
    copy = study.get_trials()[before]
    assert copy.state == TrialState.WAITING and copy.system_attrs[CRASHES_ATTR] == 0
    assert copy.params == trials[0].params and GAVE_UP_ATTR not in copy.user_attrs
    assert study.user_attrs[GAVE_UP_STUDY_ATTR] == [] and not summary_lines(study, str(spec.path), url)
    assert cli.main(["retry", str(spec.path), "--storage", url]) == 0  # nothing left: says so
    assert "nothing to re-queue" in capsys.readouterr().out

    assert run_worker(spec, storage, 1, objective=Objective(spec, accelerator="cpu", checkpoints=store)) == 1
    done = optuna.load_study(study_name=spec.name, storage=storage).get_trials()
    assert [t.state for t in done].count(TrialState.COMPLETE) == 1  # the total stays exact
    assert done[before].state == TrialState.COMPLETE and done[before].user_attrs["recipe"] == BASELINE
    assert done[before].system_attrs["retry_history"] == runs


class SignalInsideADriverCall(Callback):
    """A real Ctrl-C landing inside a database driver's call, which surfaces as the driver's error: the worker's
    handler raises Interrupted there, and the "driver" turns it into Optuna's StorageInternalError (what a PostgreSQL
    commit cut short did in a full-suite run under load)."""

    def __init__(self) -> None:
        self.sent = False

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.sent:
            return
        self.sent = True
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises Interrupted at once
        except Interrupted as exc:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from exc


def test_an_interrupt_that_surfaces_as_a_storage_error_still_requeues_and_stops(
    where: tuple[StudySpec, str], tmp_path: Path
) -> None:
    spec, url = where
    storage = open_storage(url)
    ensure_study(spec, storage, total=1)
    objective = Objective(spec, accelerator="cpu", extra_callbacks=lambda trial: [SignalInsideADriverCall()])
    with pytest.raises(Interrupted) as stopped:
        run_worker(spec, storage, 1, objective=objective)  # before: trial 0 failed as a crash, the worker went on
    assert stopped.value.signum == signal.SIGINT
    assert isinstance(stopped.value.__cause__, optuna.exceptions.StorageInternalError)
    trials = optuna.load_study(study_name=spec.name, storage=storage).get_trials()
    assert trials[0].state == TrialState.FAIL and "interrupted" in trials[0].user_attrs["fail_reason"]
    copy = [t for t in trials if t.system_attrs.get("failed_trial") == 0]  # re-queued, not given up
    assert [t.state for t in copy] == [TrialState.WAITING]
    assert copy[0].system_attrs.get(INTERRUPTS_ATTR) == 1 and copy[0].system_attrs.get(CRASHES_ATTR, 0) == 0
    objective = Objective(spec, accelerator="cpu")
    assert run_worker(spec, storage, 1, objective=objective) == 1  # the next run starts clean and completes it


# a damaged checkpoint file (a disk error, a half-synced share, a bad copy) of an interrupted trial
DAMAGED = [
    # (id, file of the trial's checkpoint directory, how it is damaged, what the warning says)
    ("progress-not-json", "progress.json", lambda b: b[: len(b) // 2], "the trial starts from scratch"),
    ("progress-empty", "progress.json", lambda b: b"", "the trial starts from scratch"),
    ("progress-wrong-shape", "progress.json", lambda b: b'{"config": 1, "folds": 2}', None),
    ("checkpoint-cut", "fold-0.ckpt", lambda b: b[: len(b) // 3], "fold 0 starts from its first epoch"),
    ("checkpoint-garbage", "fold-0.ckpt", lambda b: b"\x00" * 64, "fold 0 starts from its first epoch"),
]


@pytest.mark.parametrize("file,damage,words", [c[1:] for c in DAMAGED], ids=[c[0] for c in DAMAGED])
def test_a_damaged_checkpoint_is_ignored_and_the_trial_completes(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], file: str, damage: Any, words: str | None
) -> None:
    name = f"damaged_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**TINY, "name": name}))
    spec, storage, artifacts = load_study(path), open_storage(str(tmp_path / "journal.log")), tmp_path / "artifacts"
    ensure_study(spec, storage, total=1)
    sender = SignalAt([signal.SIGINT])  # one stop, in the first run
    objective = Objective(spec, accelerator="cpu", checkpoints=CheckpointStore(artifacts),
                          extra_callbacks=lambda trial: [sender])  # fmt: skip
    with pytest.raises(Interrupted):
        run_worker(spec, storage, 1, objective=objective)
    target = checkpoint_dir(artifacts, spec) / file
    target.write_bytes(damage(target.read_bytes()))
    capfd.readouterr()

    assert run_worker(spec, storage, 1, objective=objective) == 1  # before: the re-run failed, again and again
    err = capfd.readouterr().err
    if words is not None:
        assert f"warning: checkpoint {artifacts}" in err and f"/trial-0/{file} is unreadable" in err, err
        assert words in err, err
    done = [
        t for t in optuna.load_study(study_name=name, storage=storage).get_trials() if t.state == TrialState.COMPLETE
    ]
    assert len(done) == 1 and done[0].system_attrs["failed_trial"] == 0
    assert set(done[0].intermediate_values) == set(range(EPOCHS)) and done[0].system_attrs.get(CRASHES_ATTR, 0) == 0


def test_a_damaged_array_member_checkpoint_is_ignored(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from search import array_checkpoints
    from search.checkpoints import TrialCheckpoints, _Directory

    config = {"hidden_size": 8}
    first = TrialCheckpoints(_Directory(tmp_path), "trial-0", rerun=False)
    first.start(config)
    array_checkpoints.save(first, 0, 2, 0.5, {"w": torch.ones(3)})
    again = TrialCheckpoints(_Directory(tmp_path), "trial-0", rerun=True)
    assert array_checkpoints.start(again, config).epoch == 2  # intact: resumed
    member = tmp_path / "trial-0" / f"fold-0.{array_checkpoints.SUFFIX}"
    member.write_bytes(member.read_bytes()[:40])
    capfd.readouterr()
    resume = array_checkpoints.start(TrialCheckpoints(_Directory(tmp_path), "trial-0", rerun=True), config)
    assert (resume.state, resume.epoch, resume.fold_best) == (None, None, None)  # the fold starts afresh
    assert f"fold-0.{array_checkpoints.SUFFIX} is unreadable" in capfd.readouterr().err


def _cli(*args: str) -> subprocess.Popen:  # type: ignore[type-arg]
    """``python -m search ARGS`` started in the background from the repository root, its output piped."""
    import sys

    from tests.helpers import CLI_ENV, ROOT

    return subprocess.Popen(
        [sys.executable, "-m", "search", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **CLI_ENV},
    )  # fmt: skip


def _cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) process ``pid`` has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
def test_ctrl_c_during_the_verdict_is_one_line_and_exit_130(tmp_path: Path) -> None:
    """Before, Lightning turned the KeyboardInterrupt in a verdict refit into a bare exit 1 with nothing said."""
    study = tmp_path / "verdict_ctrlc.yaml"
    study.write_text(yaml.safe_dump({
        **TINY, "name": "verdict_ctrlc", "dataset": "synthetic:n=1500,length=30", "recipes": False, "final_seeds": 20,
        "budget": {"trials": 1, "max_epochs": 3},
    }))  # fmt: skip
    journal = tmp_path / "journal.log"
    proc = _cli("study", str(study), "--storage", str(journal))
    deadline = time.monotonic() + 120
    while b"regtune:refit:" not in (journal.read_bytes() if journal.exists() else b"") and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)  # until the verdict's first refit is stored: 20 refits per row follow
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert (
        "interrupted (Ctrl-C) during the verdict's retraining: every finished trial and every finished refit" in err
    ), err
    assert "Traceback" not in err
    study = optuna.load_study(study_name="verdict_ctrlc", storage=open_storage(str(journal)))
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE]
    kept = sum(len(v) for k, v in study.user_attrs.items() if k.startswith("regtune:refit:"))  # stored as each ended
    assert 1 <= kept < 40, kept


@pytest.mark.slow
def test_ctrl_c_during_make_report_is_one_line_and_exit_130(tmp_path: Path) -> None:
    """`report` retrains the verdict when a study has none stored: a Ctrl-C there is one line and 130 as well."""
    from tests.helpers import run_cli

    study = tmp_path / "report_ctrlc.yaml"
    study.write_text(yaml.safe_dump({
        **TINY, "name": "report_ctrlc", "dataset": "synthetic:n=3000,length=30", "recipes": False, "final_seeds": 20,
        "budget": {"trials": 1, "max_epochs": 3},
    }))  # fmt: skip
    journal = str(tmp_path / "journal.log")
    assert run_cli("worker", str(study), "--storage", journal).returncode == 0  # a worker computes no verdict
    proc = _cli("report", str(study), "--storage", journal)
    # past the imports (about 3 CPU seconds), into the verdict's 20 refits per row (a minute and more here); by CPU
    # time, not wall time: 10 s of wall time were still "starting" on a machine loaded with two other studies
    deadline = time.monotonic() + 180
    while _cpu_seconds(proc.pid) < 10 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted (Ctrl-C): no report was written" in err and "Traceback" not in err, err


def test_a_handled_signal_does_not_outlive_its_run(where: tuple[StudySpec, str], tmp_path: Path) -> None:
    """After an interrupted run in this process (a notebook), an ordinary error of a later run is that error, not
    the old interrupt."""
    from search import interrupts

    spec, url = where
    storage = open_storage(url)
    ensure_study(spec, storage, total=1)
    sender = SignalAt([signal.SIGINT])
    with pytest.raises(Interrupted):
        run_worker(spec, storage, 1, objective=Objective(spec, accelerator="cpu", extra_callbacks=lambda t: [sender]))
    assert interrupts.interrupt_behind(RuntimeError("later")) is None


@pytest.mark.parametrize(
    "numbers, words",
    [
        ([99], "trial(s) 99 of study 'numbers' do not exist (its trials are numbered 0-3); allowed: 2"),
        ([1], "trial(s) 1 of study 'numbers' not given up; allowed: 2"),
        ([1, 99], "trial(s) 99 of study 'numbers' do not exist (its trials are numbered 0-3); trial(s) 1 not given up"),
    ],
    ids=["no such trial", "not given up", "both"],
)  # fmt: skip
def test_retry_of_a_trial_that_does_not_exist_says_so(numbers: list[int], words: str) -> None:
    """``retry --trial 99`` on a study of 7 trials said "trial(s) 99 ... not given up", as if it existed (the faults
    probe, 2026-12-06): a number past the study's trials is named as not existing, with their range."""
    from optuna.trial import create_trial

    from search.retries import retry

    study = optuna.create_study(study_name="numbers")
    for n in range(4):
        attrs = {GAVE_UP_ATTR: "crashed 4 times"} if n == 2 else {}
        study.add_trial(create_trial(state=TrialState.FAIL if n else TrialState.COMPLETE, value=None if n else 0.5,
                                     user_attrs=attrs))  # fmt: skip
    with pytest.raises(ValueError) as err:
        retry(study, numbers)
    assert words in str(err.value), str(err.value)
    assert len(study.get_trials()) == 4  # nothing written


def test_signals_raise_turns_ctrl_c_into_interrupted_and_restores_the_handler() -> None:
    """The API's verdict runs under it: Lightning turned a KeyboardInterrupt in a refit into SystemExit(1)."""
    import os
    import signal

    from search.interrupts import Interrupted, signals_raise

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(Interrupted), signals_raise():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)  # the handler runs here
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize(
    ("signals", "raised_within", "held_after"),
    [
        ((signal.SIGINT,), False, signal.SIGINT),  # one: held, raised by raise_held after
        ((signal.SIGTERM,), False, signal.SIGTERM),
        ((signal.SIGTERM, signal.SIGINT), True, signal.SIGTERM),  # a second: at once (a retrying store must not hold it)
    ],
)  # fmt: skip
def test_held_signals_hold_one_stop_and_raise_a_second_at_once(
    signals: tuple[int, ...], raised_within: bool, held_after: int
) -> None:
    """A stop while Optuna's ask() took a trial left it RUNNING with no worker: held_signals holds it until the worker
    has the trial and can give it back; the handlers are regtune's again after."""
    from search.interrupts import Interrupted, held_signals, raise_held, raise_interrupted, signals_raise

    raised = False
    with signals_raise():
        try:
            with held_signals() as held:
                for signum in signals:
                    os.kill(os.getpid(), signum)
                    time.sleep(0.05)  # the handler runs here
        except Interrupted as exc:
            raised = True
            assert exc.signum == signals[-1]
        assert (raised, held.signum) == (raised_within, held_after)
        assert all(signal.getsignal(s) is raise_interrupted for s in (signal.SIGINT, signal.SIGTERM))
        with pytest.raises(Interrupted) as after:
            raise_held(held)
        assert after.value.signum == held_after


#: (case, signals sent within, what the step then raises, what comes out: the signal's number, or the error's type)
HELD_THEN_ERROR = [
    ("a stop, then the store lost", (signal.SIGINT,), RuntimeError("lost the storage"), signal.SIGINT),
    ("a SIGTERM, then the store lost", (signal.SIGTERM,), RuntimeError("lost the storage"), signal.SIGTERM),
    ("no stop, the store lost", (), RuntimeError("lost the storage"), RuntimeError),
    ("no stop, a KeyboardInterrupt", (), KeyboardInterrupt(), KeyboardInterrupt),
]


@pytest.mark.parametrize(
    ("case", "signals", "error", "out"), HELD_THEN_ERROR, ids=[c[0] for c in HELD_THEN_ERROR]
)  # fmt: skip
def test_a_held_signal_is_not_lost_to_the_error_the_step_ends_with(
    case: str, signals: tuple[int, ...], error: BaseException, out: Any
) -> None:
    """The review12 probe: a Ctrl-C held while ask() waited on a lost store was dropped when the store's retries
    ran out: the command said the storage was lost (exit 2) where the user had stopped it (exit 130)."""
    from search.interrupts import Interrupted, held_signals, raise_interrupted, signals_raise

    with signals_raise():
        with pytest.raises(BaseException) as info, held_signals():
            for signum in signals:
                os.kill(os.getpid(), signum)
                time.sleep(0.05)  # the handler runs here
            raise error
        if isinstance(out, int):
            assert isinstance(info.value, Interrupted) and info.value.signum == out, repr(info.value)
            assert info.value.__context__ is error
        else:
            assert type(info.value) is out, repr(info.value)
        assert all(signal.getsignal(s) is raise_interrupted for s in (signal.SIGINT, signal.SIGTERM))


def test_held_signals_leave_a_handler_not_regtunes_alone() -> None:
    """Outside a worker (no :func:`signals_raise`), Ctrl-C keeps Python's own handler: nothing is held."""
    from search.interrupts import held_signals

    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # (a pytest-xdist worker ignores SIGINT)
    try:
        with pytest.raises(KeyboardInterrupt), held_signals() as held:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        assert held.signum is None and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_a_signal_as_the_command_returns_is_one_line_and_its_exit_code(
    signum: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C landing in ``closed_pipe`` itself (the command had returned, its handlers had stopped; or it had not
    reached them): a traceback ending in ``code = run(**kwargs)``, after make repair had said it was done (the
    faults probe, 2026-12-06). Now one line and the signal's exit code, as everywhere else."""
    from search.interrupts import Interrupted

    def finished_then_interrupted() -> int:
        print("repaired")
        raise KeyboardInterrupt if signum == signal.SIGINT else Interrupted(signum)

    assert cli.closed_pipe(finished_then_interrupted) == 128 + signum
    out, err = capsys.readouterr()
    name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
    assert out == "repaired\n" and err.strip().splitlines() == [cli.LATE_INTERRUPTED.format(name=name).strip()], err


def test_a_late_signal_in_a_worker_of_study_workers_is_left_to_its_parent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One Ctrl-C reaches every worker of ``study --workers N``: each said the late-interrupt line, N + 1 of them
    (the review); a worker's exit code says it, its parent's line says what became of the study."""
    monkeypatch.setenv("REGTUNE_WORKER_INDEX", "1")

    def interrupted() -> int:
        raise KeyboardInterrupt

    assert cli.closed_pipe(interrupted) == 130
    assert capsys.readouterr().err == ""


def test_ctrl_c_during_the_start_up_checks_stores_nothing(tmp_path: Path) -> None:
    """Ctrl-C while the dataset is read, before any store exists: one line saying nothing was stored, exit 130.
    The dataset is a FIFO, so the process waits in its checks, deterministically, until it is interrupted."""
    from tests.helpers import CLI_ENV, ROOT, write_study

    data = tmp_path / "data.npz"
    os.mkfifo(data)
    study = write_study(tmp_path, dataset=str(data))
    journal = tmp_path / "runs" / "journal.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "search", "study", str(study), "--storage", str(journal)], cwd=ROOT,
        env={**os.environ, **CLI_ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    writer = None
    try:
        deadline = time.monotonic() + 120
        while writer is None and time.monotonic() < deadline:  # the reader has opened the FIFO: it is in its checks
            try:
                writer = os.open(data, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.1)
        assert writer is not None, "the study never opened its dataset"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if writer is not None:
            os.close(writer)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert err.strip().splitlines() == ["interrupted (Ctrl-C) before the study started: nothing was stored"], err
    assert "Traceback" not in err and not journal.parent.exists()


def _catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler of its own for ``signum`` (SigCgt of /proc/<pid>/status)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


STARTING = [
    # (command, signal, exit code): a SIGTERM or SIGHUP while the libraries load ended the process without a word
    ("study", signal.SIGTERM, 143),
    ("study", signal.SIGHUP, 129),
    ("repair", signal.SIGTERM, 143),
]


@pytest.mark.parametrize(("command", "signum", "code"), STARTING, ids=[f"{c[0]}-{c[1].name}" for c in STARTING])
def test_a_signal_while_the_libraries_load_is_one_line(tmp_path: Path, command: str, signum: int, code: int) -> None:
    """(the faults9 probe) `kill` in the first 2.5 s of `python -m search study` (optuna, torch and Lightning being
    imported) exited 143 with nothing said. The signal is sent as soon as the process handles it, in its imports."""
    from tests.helpers import CLI_ENV, ROOT, write_study

    study, journal = write_study(tmp_path), tmp_path / "journal.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "search", command, str(study), "--storage", str(journal)], cwd=ROOT,
        env={**os.environ, **CLI_ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),  # under nohup (a CI run) SIGHUP is ignored
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not _catches(proc.pid, signum) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    name = signal.Signals(signum).name
    assert proc.returncode == code, (out, err)
    assert err.strip().splitlines() == [f"interrupted ({name}) while starting: nothing was stored"], err
    assert not journal.exists()


@pytest.mark.parametrize("backend", ["journal", "sqlite"])
@pytest.mark.parametrize("queued", [0, 2])
def test_an_interrupt_while_the_study_is_created_does_not_say_nothing_was_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], backend: str, queued: int
) -> None:
    """SIGTERM while a new study is created (its records written, ``queued`` of its starting points enqueued): the
    line said "before the study started: nothing was stored" while the store held the study and its waiting trials
    (the faults8 probe: a SIGTERM 0.1 s after the journal appeared left 4 of 5 points and that line). It now says
    the study may have been created in part and the next run completes it; exit 143, the store left as it was."""
    from tests.helpers import write_study

    study = write_study(tmp_path)
    url = str(tmp_path / "journal.log") if backend == "journal" else f"sqlite:///{tmp_path / 'study.db'}"
    real, calls = optuna.Study.enqueue_trial, [0]

    def enqueue(self: optuna.Study, *args: Any, **kwargs: Any) -> None:
        if calls[0] == queued:  # the signal lands as the next point is enqueued
            raise Interrupted(signal.SIGTERM)
        calls[0] += 1
        real(self, *args, **kwargs)

    monkeypatch.setattr(optuna.Study, "enqueue_trial", enqueue)
    assert cli.main(["study", str(study), "--storage", url]) == 143
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"interrupted (SIGTERM) while the study was opened or created: {cli.OPENING_INTERRUPTED}"
    ], err
    assert "nothing was stored" not in err
    stored = optuna.load_study(study_name="tiny", storage=open_storage(url)).get_trials(deepcopy=False)
    assert [t.state for t in stored] == [TrialState.WAITING] * queued  # what was written stays: no trial ran


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_rdb_trial_whose_process_died_here_is_found_at_once(
    tmp_path: Path, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SIGKILLed one-process `make study` left its trial RUNNING for the heartbeat's 40 s, through the next runs
    (a chaos probe, 2026-12-05); on PostgreSQL the rerun meanwhile ran new trials first, and the median pruner
    pruned the copy of the study's best (a parity probe): the verdict changed with the storage. Its dead pid, on
    this host, boot and pid namespace, says so at once. A live pid with a fresh heartbeat is left alone, and so is
    a dead pid recorded in another namespace."""
    name = f"rdb_dead_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**TINY, "name": name}))
    spec = load_study(path)
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}") if backend == "sqlite" else open_postgres(POSTGRES)
    study = ensure_study(spec, storage, total=2)
    try:
        gone = subprocess.Popen(["true"])
        gone.wait()
        dead, alive, elsewhere = study.ask(), study.ask(), study.ask()
        for trial, pid, space in ((dead, gone.pid, pid_space()), (alive, os.getpid(), pid_space()),
                                  (elsewhere, gone.pid, "another-boot/4026531836")):  # fmt: skip
            for key, value in (
                (HOST_ATTR, socket.gethostname()),
                (PID_ATTR, pid),
                (START_ATTR, ""),
                (SPACE_ATTR, space),
            ):
                storage.set_trial_system_attr(trial._trial_id, key, value)
            storage.record_heartbeat(trial._trial_id)  # fresh: Optuna's heartbeat alone would wait 40 s
        assert fail_dead_trials(study) == [dead.number]
        # said: the copy's first progress line was the first hint (the faults probe)
        assert capsys.readouterr().err == (f"trial {dead.number}: worker process died (found on resume); re-queued "
                                           "with its parameters, it runs before any new trial\n")  # fmt: skip
        trials = {t.number: t for t in study.get_trials()}
        assert trials[dead.number].user_attrs["fail_reason"] == "worker process died (found on resume)"
        assert trials[alive.number].state == TrialState.RUNNING
        # the same hostname, another machine or container (a pid this one cannot see): its heartbeat decides
        assert trials[elsewhere.number].state == TrialState.RUNNING
        # the re-queued copy keeps no trace of the dead process: a namespace kept beside the next worker's pid (it
        # writes them one by one) had let a worker here test that pid, find none, and fail the live copy
        (copy,) = [t for t in trials.values() if t.system_attrs.get("failed_trial") == dead.number]
        assert copy.state == TrialState.WAITING
        assert not {HOST_ATTR, PID_ATTR, START_ATTR, SPACE_ATTR} & set(copy.system_attrs), copy.system_attrs
    finally:
        if backend == "postgres":
            optuna.delete_study(study_name=name, storage=storage)


def test_temporary_checkpoint_folders_of_dead_processes_are_removed(tmp_path: Path) -> None:
    """A SIGKILLed worker left its regtune-ckpt-* folder (~50 KB: a fold checkpoint and the progress file) in /tmp
    for good, one a kill. The first trial checkpoints of a process remove those of this machine's dead processes;
    a live process's, and those of another pid namespace (a /tmp shared with a container), stay."""
    import hashlib
    import tempfile

    import search.checkpoints as checkpoints

    space = hashlib.sha1(pid_space().encode()).hexdigest()[:8]
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead, live = tmp_path / f"regtune-ckpt-{space}-{gone.pid}-x1", tmp_path / f"regtune-ckpt-{space}-{os.getppid()}-x2"
    other = tmp_path / f"regtune-ckpt-0123abcd-{gone.pid}-x3"
    for folder in (dead, live, other):
        folder.mkdir()
        (folder / "progress.json").write_text("{}")
    before = tempfile.tempdir
    tempfile.tempdir, checkpoints._swept[:] = str(tmp_path), []
    try:
        prefix = checkpoints._temp_prefix()
    finally:
        tempfile.tempdir = before
    assert prefix == f"regtune-ckpt-{space}-{os.getpid()}-"
    assert not dead.exists() and live.exists() and other.exists()


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("dashboard", "the dashboard stopped; the study is as it was"),
        ("proxy", "the proxy stopped; workers that reach their storage through it lose it until it runs again"),
        ("repair", "the file is replaced in one step after its backup"),
        ("figures", "rerun to finish"),
    ],
)
def test_ctrl_c_in_a_command_that_runs_no_trial_says_what_it_stopped(
    command: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C is how a dashboard or a proxy is stopped: "rerun to finish" (or, before, "any running trial was marked
    failed and re-queued") told the user something had been cut short (the review, 2026-12-06)."""
    import argparse

    assert cli._interrupted(argparse.Namespace(command=command), KeyboardInterrupt()) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"interrupted (Ctrl-C): {said}"), err


@pytest.mark.parametrize("backend", ["memory", "journal", "sqlite"])
def test_a_trial_failed_by_another_worker_before_it_is_claimed_is_dropped_not_a_traceback(
    tmp_path: Path, backend: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """A trial array's lone member (one the fused path cannot run) waits for its group to train before
    ``run_trial`` claims it. A worker suspended in that wait (SIGSTOP past the grace period) found the member failed
    and re-queued by another worker when it ran again, and died in ``claim`` with UpdateFinishedTrialError (the ops6
    probe: a traceback, exit 1). The run of it is dropped now, said as for the group's members; nothing is trained."""
    from search.worker import run_trial

    url = {"memory": None, "journal": str(tmp_path / "journal.log"), "sqlite": f"sqlite:///{tmp_path / 's.db'}"}
    storage = open_storage(url[backend]) if url[backend] else optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    trial = study.ask()
    study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", "no heartbeat for 40 s")
    study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)  # another worker did
    ran: list[int] = []
    frozen, error = run_trial(study, trial, lambda t: ran.append(t.number) or 1.0)
    assert (frozen.number, frozen.state, error, ran) == (trial.number, optuna.trial.TrialState.FAIL, None, [])
    err = capfd.readouterr().err
    assert "meanwhile by another worker" in err and "Traceback" not in err, err
    assert [t.state for t in study.get_trials(deepcopy=False)] == [optuna.trial.TrialState.FAIL]


@pytest.mark.parametrize(
    "others, need",
    [
        ([], 4),  # 3 finished + the copy
        (["running"], 5),  # a live worker's trial: it finishes (or is re-queued) and counts once
        (["requeued"], 5),  # a dead worker's trial, re-queued: it runs too
        (["recipe"], 4),  # an enqueued starting point runs after a re-queued trial: it waits
        (["running", "requeued", "recipe", "failed"], 6),
    ],
    ids=["finished only", "a running trial", "a re-queued trial", "a waiting recipe", "all"],
)  # fmt: skip
def test_retry_counts_the_trials_that_take_the_study_total_before_its_copy(others: list[str], need: int) -> None:
    """``retry`` said "run them: make study" on a study at 33/34 whose dead worker's trial still held the last
    place: the retried copy ran, the dead worker's re-queued trial was left waiting, and the summary called it a
    recipe that did not run (the ops6 probe). The total it asks for counts what runs ahead of or beside the copy."""
    from optuna.trial import create_trial

    from search.retries import retry, total_needed

    study = optuna.create_study(study_name="room", direction="maximize")
    for _ in range(3):
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.5))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={GAVE_UP_ATTR: "crashed 4 times"}))
    for kind in others:
        if kind == "running":
            study.ask()
        elif kind == "requeued":
            study.add_trial(create_trial(state=TrialState.WAITING, system_attrs={"failed_trial": 0}))
        elif kind == "recipe":
            study.enqueue_trial({"x": 1.0})
        else:
            study.add_trial(create_trial(state=TrialState.FAIL))
    copies = list(retry(study, [3]).values())
    assert total_needed(study, copies) == need


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_the_requeued_copy_does_not_list_the_stopped_runs_artifacts(kind: str, tmp_path: Path) -> None:
    """A trial stopped by Ctrl-C after its first fold had uploaded its introspection history and reserved its four
    figures; its re-queued copy inherited those ``artifacts:<id>`` attributes and ``regtune:figures``, and once it ran
    the dashboard listed ten artifacts on it, two introspection.json and two of each figure, half of them the stopped
    fit's (a bidirectional RNN study on ItalyPowerDemand, sqlite; the consist8 probe). The copy keeps its lineage,
    parameters and counters, not the stopped run's files (they stay on the failed trial's own page)."""
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact

    from search.trial_introspection import FIGURES_ATTR, reserve_figures

    url = str(tmp_path / "journal.log") if kind == "journal" else f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="stopped", storage=open_storage(url), direction="maximize")
    study.enqueue_trial({"dropout": 0.1})
    trial = study.ask({"dropout": optuna.distributions.FloatDistribution(0.0, 0.5)})
    (tmp_path / "store").mkdir()
    history = tmp_path / "introspection.json"
    history.write_text("{}")
    history_id = upload_artifact(artifact_store=FileSystemArtifactStore(str(tmp_path / "store")),
                                 file_path=str(history), study_or_trial=trial)  # fmt: skip
    reserve_figures(trial, history_id, ["weights", "gradients", "saturation", "hidden_norm"])
    study.tell(trial, state=TrialState.FAIL)
    stopped = study.trials[0]
    assert sum(k.startswith("artifacts:") for k in stopped.system_attrs) == 5 and FIGURES_ATTR in stopped.system_attrs
    assert requeue(study, stopped, interrupted=True)
    copy = study.trials[1]
    assert copy.state == TrialState.WAITING and copy.params == stopped.params
    assert not [k for k in copy.system_attrs if k.startswith("artifacts:") or k == FIGURES_ATTR], copy.system_attrs
    assert copy.system_attrs["failed_trial"] == 0 and copy.system_attrs["retry_history"] == [0]
    assert copy.system_attrs[INTERRUPTS_ATTR] == 1 and copy.system_attrs[CRASHES_ATTR] == 0
    assert sum(k.startswith("artifacts:") for k in study.trials[0].system_attrs) == 5  # the failed trial keeps its own
