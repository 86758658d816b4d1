"""``study --workers N`` whose study reached its total while one of its worker processes is stopped (SIGSTOP, Ctrl-Z,
a debugger) says why it still waits, naming the process, instead of waiting in silence.

Found by the faults7 probe on PostgreSQL: one of two workers was stopped, the other failed and re-queued its trial
and finished the study (3/3), and ``study`` printed nothing more for as long as the worker stayed stopped.
A real ``python -m search study --workers 2`` on a journal file; worker 0 is stopped as it starts, before it claims a
trial (a journal trial of a stopped worker is held until it runs again), so the other runs the whole study.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from search.cli import process_stopped
from tests.helpers import CLI_ENV, ROOT, write_study


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


@pytest.mark.slow
def test_study_says_which_stopped_worker_it_waits_for(tmp_path: Path) -> None:
    study = write_study(tmp_path, "stopped", budget={"trials": 3, "max_epochs": 3}, final_seeds=1, recipes=False)
    err = tmp_path / "err.log"
    with err.open("w") as stderr:
        parent = subprocess.Popen(
            [sys.executable, "-m", "search", "study", str(study), "--storage", str(tmp_path / "journal.log"),
             "--workers", "2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True,
            env={**os.environ, **CLI_ENV},
        )  # fmt: skip
    stopped = None
    try:
        deadline = time.monotonic() + 60
        while stopped is None and time.monotonic() < deadline:
            kids = _children(parent.pid)
            if kids:
                stopped = kids[0]
                os.kill(stopped, signal.SIGSTOP)
            time.sleep(0.02)
        assert stopped is not None and process_stopped(stopped)
        deadline = time.monotonic() + 240
        while "is stopped (SIGSTOP" not in err.read_text():
            assert parent.poll() is None, err.read_text()
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.5)
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
    out, _ = parent.communicate(timeout=240)
    log = err.read_text()
    assert parent.returncode == 0, log
    note = next(line for line in log.splitlines() if "is stopped (SIGSTOP" in line)
    assert note.startswith("3/3 trials finished, but worker ") and f"(pid {stopped})" in note, note
    assert f"kill -CONT {stopped}" in note and log.count("is stopped (SIGSTOP") == 1, log  # said once
    assert "test accuracy" in out  # the result, once the worker ran again and exited
    assert not process_stopped(os.getpid())


@pytest.mark.parametrize("pid, stopped", [(os.getpid(), False), (2**22 + 12345, False)], ids=["running", "no such"])
def test_process_stopped_reads_the_state_of_a_process(pid: int, stopped: bool) -> None:
    assert process_stopped(pid) is stopped


# (finished, running, the stopped worker holds a running trial, said): the study's total is 3
HELD = [
    (3, 0, False, "3/3 trials finished, but worker 0"),  # the others finished the study (PostgreSQL: re-queued it)
    # the journal file: no heartbeat, its trial stays running, and the total is never reached
    (2, 1, True, "2/3 trials finished, but worker 0 (pid {pid}) is stopped (SIGSTOP, Ctrl-Z or a debugger) holding"),
    (2, 1, False, None),  # another worker runs the last trial: nothing waits for this one yet
    (1, 1, True, None),  # trials are left to start: the others go on
]


@pytest.mark.parametrize(("finished", "running", "holds", "said"), HELD, ids=[str(c[:3]) for c in HELD])
def test_a_stopped_worker_holding_the_trial_the_others_wait_for_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], finished: int, running: int, holds: bool, said: str | None
) -> None:
    """(review7) On the journal file, the default store, a worker stopped in the middle of a trial holds it (no
    heartbeat: its pid is alive), so the study never reaches its total and the note, which waited for the total,
    never came: ``study --workers N`` waited in silence as before. A real stopped process and a real journal."""
    import optuna

    from search.cli import _tell_stopped
    from search.storage import PID_ATTR, open_storage

    proc = subprocess.Popen(["sleep", "60"])
    try:
        os.kill(proc.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while not process_stopped(proc.pid):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        study = optuna.create_study(study_name="held", storage=open_storage(str(tmp_path / "journal.log")))
        trial = study.ask()
        study._storage.set_trial_system_attr(trial._trial_id, PID_ATTR, proc.pid if holds else 1)
        now = {"finished": finished, "running": running}
        told = _tell_stopped([proc], now, 3, set(), study)
        told = _tell_stopped([proc], now, 3, told, study)  # said once
        notes = [line for line in capsys.readouterr().err.splitlines() if "is stopped (SIGSTOP" in line]
        if said is None:
            assert notes == [] and told == set(), notes
        else:
            assert len(notes) == 1 and notes[0].startswith(said.format(pid=proc.pid)), notes
            assert f"kill -CONT {proc.pid}" in notes[0] and told == {0}, notes
    finally:
        proc.kill()
        proc.wait()
